"""A multirun's results, one record per job folder (``cigpose-sweep-table`` prints them).

Each job dir holds Hydra's ``.hydra/overrides.yaml`` and, once it ended, ``metrics.json``
(written by ``cigpose-train``); columns are the overrides that vary across jobs, the job's state
(``finished``, ``finished (resumed)``, ``preempted``, or ``stopped: <last log line>`` for a job
that failed or was killed — rerun the sweep's command to complete it), then the metrics.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

DEFAULT_METRICS = ("whole_body/AP", "body/AP", "foot/AP", "face/AP", "hand/AP", "AP", "AP50", "AR")


def collect(run_dir: Path, unfinished: bool = False) -> list[dict]:
    """One record per job folder: ``{"job", "overrides", "metrics", "state"}``; only the jobs
    that have a ``metrics.json`` unless ``unfinished`` (their ``metrics`` is then empty)."""
    rows = []
    jobs = {p.parent for p in run_dir.glob("*/metrics.json")}
    if unfinished:
        jobs |= {p.parent.parent for p in run_dir.glob("*/.hydra/overrides.yaml")}
    for job in sorted(jobs, key=lambda p: (len(p.name), p.name)):
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        pairs = dict(o.split("=", 1) for o in overrides if "=" in o)
        metrics = json.loads((job / "metrics.json").read_text()) if (job / "metrics.json").is_file() else {}
        rows.append({"job": job.name, "overrides": pairs, "metrics": metrics, "state": job_state(job, metrics)})
    return rows


def job_state(job: Path, metrics: dict) -> str:
    """What became of a job: ``finished`` (``(resumed)`` when its fit continued a checkpoint),
    ``preempted``, or ``stopped: `` and the last error (else last) line of its log."""
    if metrics:
        state = metrics.get("status", "finished")
        return f"{state} (resumed)" if metrics.get("resumed_from") else state
    lines = [line.strip() for log in sorted(job.glob("*.log")) for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    last = (errors or lines or ["no log"])[-1]
    return "stopped: " + last.replace("|", "/")[-160:]


def markdown_table(rows: list[dict], metrics: list[str] | None = None) -> str:
    if not rows:
        raise ValueError("no job found (no */metrics.json, no */.hydra/overrides.yaml)")
    keys = sorted({k for r in rows for k in r["overrides"]})
    varying = [k for k in keys if len({r["overrides"].get(k) for r in rows}) > 1] or keys
    present = [m for m in (metrics or DEFAULT_METRICS) if any(m in r["metrics"] for r in rows)]
    states = ["state"] if any("state" in r for r in rows) else []
    header = ["job", *varying, *states, *present]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        values = [r["job"], *(r["overrides"].get(k, "") for k in varying), *(r.get("state", "") for _ in states)]
        values += [
            f"{r['metrics'][m]:.4f}" if isinstance(r["metrics"].get(m), (int, float)) else ""
            for m in present
        ]
        lines.append("| " + " | ".join(str(v) for v in values) + " |")
    return "\n".join(lines)
