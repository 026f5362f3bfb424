"""``cigpose-convert SOURCE DESTINATION``: an MMPose-layout RTMPose / CIGPose checkpoint → a
cigpose checkpoint (``cigpose-net/1``), verified by loading it into the network it describes.

The key map is :mod:`cigpose.models.mmpose_keys`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cigpose.checkpoint import CheckpointError
from cigpose.cli.args import ArgumentParser, command_doc
from cigpose.models.mmpose_keys import convert_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-convert", description=command_doc(__doc__))
    parser.add_argument("source", help="MMPose checkpoint (.pth) of RTMPose or CIGPose")
    parser.add_argument("destination", help="cigpose checkpoint to write")
    parser.add_argument("--split-ratio", type=float, default=2.0, help="SimCC split ratio (2)")
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="write even with missing/unexpected keys (they are still reported)",
    )
    args = parser.parse_args(argv)
    try:
        report = convert_checkpoint(
            args.source, args.destination, args.split_ratio, strict=not args.allow_partial
        )
    except CheckpointError as err:
        print(f"cigpose-convert: {err}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                **report,
                "dropped": len(report["dropped"]),
                "destination": str(Path(args.destination)),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
