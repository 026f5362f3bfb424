"""``cigpose-sweep-table RUN_DIR``: a Markdown table of a multirun, one row per job.

Columns: the overrides that vary across jobs, the job's state (``finished``, ``finished
(resumed)``, ``preempted``, or ``stopped: <last log line>`` for a job that failed or was killed —
rerun the sweep's command to complete it), then the metrics."""

from __future__ import annotations

import sys
from pathlib import Path

from cigpose.cli.args import ArgumentParser, command_doc
from cigpose.training.sweep_results import collect, markdown_table


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-sweep-table", description=command_doc(__doc__))
    parser.add_argument("run_dir", type=Path, help="a multirun directory (holds 0/, 1/, ...)")
    parser.add_argument("--metrics", nargs="*", help="metric names to show (default: the main APs)")
    args = parser.parse_args(argv)
    try:
        print(markdown_table(collect(args.run_dir, unfinished=True), args.metrics))
    except ValueError as err:
        print(f"cigpose-sweep-table: {args.run_dir}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
