"""Print the per-part metrics of a synthetic-data run: ``val`` (training distribution) next to
``val_ood`` (spurious context decoupled from the pose). Reads ``<run>/metrics.json``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PARTS = ("whole_body", "body", "foot", "face", "hand", "lefthand", "righthand")


def table(metrics: dict) -> str:
    logged = metrics.get("logged", metrics)
    lines = ["| part | AP val | AP val_ood | AR val | AR val_ood |", "|---|---|---|---|---|"]
    for part in PARTS:
        cells = [logged.get(f"{split}/{part}/{stat}") for stat in ("AP", "AR") for split in ("val", "test")]
        lines.append(f"| {part} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run = Path(args[0] if args else "logs/synthetic_default")
    path = run / "metrics.json"
    if not path.is_file():
        print(f"no metrics.json in {run}: did the training run finish?", file=sys.stderr)
        return 2
    print(f"\nCIGPose on the synthetic whole-body data ({run}):\n")
    print(table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
