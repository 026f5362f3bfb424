"""``cigpose-sweep-table RUN_DIR``: a Markdown table of a multirun, one row per job.

Each job dir holds ``metrics.json`` (written by ``cigpose-train``) and Hydra's
``.hydra/overrides.yaml``; columns are the overrides that vary across jobs, then the metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

DEFAULT_METRICS = ("whole_body/AP", "body/AP", "foot/AP", "face/AP", "hand/AP", "AP", "AP50", "AR")


def collect(run_dir: Path) -> list[dict]:
    """One record per job folder that has a ``metrics.json``: ``{"job", "overrides", "metrics"}``."""
    rows = []
    for metrics_file in sorted(
        run_dir.glob("*/metrics.json"), key=lambda p: (len(p.parent.name), p.parent.name)
    ):
        job = metrics_file.parent
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        pairs = dict(o.split("=", 1) for o in overrides if "=" in o)
        rows.append(
            {"job": job.name, "overrides": pairs, "metrics": json.loads(metrics_file.read_text())}
        )
    return rows


def markdown_table(rows: list[dict], metrics: list[str] | None = None) -> str:
    if not rows:
        raise ValueError("no job with a metrics.json found")
    keys = sorted({k for r in rows for k in r["overrides"]})
    varying = [k for k in keys if len({r["overrides"].get(k) for r in rows}) > 1] or keys
    present = [m for m in (metrics or DEFAULT_METRICS) if any(m in r["metrics"] for r in rows)]
    header = ["job", *varying, *present]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        values = [r["job"], *(r["overrides"].get(k, "") for k in varying)]
        values += [
            f"{r['metrics'][m]:.4f}" if isinstance(r["metrics"].get(m), (int, float)) else ""
            for m in present
        ]
        lines.append("| " + " | ".join(str(v) for v in values) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cigpose-sweep-table", description=__doc__.splitlines()[0]
    )
    parser.add_argument("run_dir", type=Path, help="a multirun directory (holds 0/, 1/, ...)")
    parser.add_argument("--metrics", nargs="*", help="metric names to show (default: the main APs)")
    args = parser.parse_args(argv)
    try:
        print(markdown_table(collect(args.run_dir), args.metrics))
    except ValueError as err:
        print(f"cigpose-sweep-table: {args.run_dir}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
