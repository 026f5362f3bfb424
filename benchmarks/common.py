"""Shared helpers for `make bench`: machine description, repeated timing, result files."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, str]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return {"cpu": cpu, "cores": str(os.cpu_count()), "gpu": gpu, "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": str(torch.get_num_threads())}


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                   sync: Callable[[], None] | None = None) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync:
            sync()
        start = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_average() -> str:
    """The machine's 1/5/15-minute load averages (the CI machine is shared: read timings with it)."""
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def save(name: str, rows: list[dict], notes: str = "", merge_on: str | None = None) -> Path:
    """``benchmarks/results/<name>.json`` with the machine, the command, the load and the rows.

    ``merge_on`` (e.g. ``"model"``): keep the existing file's rows whose value of that column this
    run did not measure (benchmark one size at a time); every contributing run is listed.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    argv = getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv]  # keeps `-m module`
    command = " ".join([Path(argv[0]).name, *argv[1:]])
    run = {"command": command, "date": time.strftime("%Y-%m-%d"), "load_avg_1_5_15min": load_average()}
    runs = [run]
    if merge_on and path.exists():
        old = json.loads(path.read_text())
        measured = {r.get(merge_on) for r in rows}
        kept = [r for r in old["rows"] if r.get(merge_on) not in measured]
        if kept:
            rows = kept + rows
            old_runs = old.get("runs") or [{"command": old["command"], "date": old["date"]}]
            runs = [r for r in old_runs if r["command"] != command] + runs
    payload = {"name": name, "machine": machine(), "command": command, "runs": runs, "rows": rows,
               "notes": notes, "date": run["date"]}
    path.write_text(json.dumps(payload, indent=2))
    return path


def git_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
