"""``cigpose-score --gt GT.json --results RESULTS.json --dataset NAME``: score a keypoint results
file against COCO-format ground truth.

Prints one JSON object mapping metric names (see ``coco_eval.metric_names``) to values.
"""

from __future__ import annotations

import contextlib
import json
import sys

from cigpose.cli.args import ArgumentParser
from cigpose.evaluation.coco_eval import BACKEND_ENV, BACKENDS, DATASETS, evaluate


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="cigpose-score",
        description="OKS keypoint AP/AR of a COCO-style results file (the official toolkit's "
        "numbers).",
    )
    parser.add_argument("--gt", required=True, help="ground-truth annotation JSON")
    parser.add_argument("--results", required=True, help="keypoint results JSON (list)")
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument("--verbose", action="store_true", help="print the summaries too (stderr)")
    parser.add_argument(
        "--backend", choices=BACKENDS, default=None,
        help=f"numpy (vectorised, same numbers), xtcocotools (the toolkit), or auto: numpy after "
        f"a self-check against xtcocotools (default: ${BACKEND_ENV}, else auto)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # The toolkit's summaries (--verbose) go to stderr so stdout stays one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            metrics = evaluate(args.gt, args.results, args.dataset, verbose=args.verbose,
                               backend=args.backend)
    except (OSError, ValueError) as err:
        print(f"cigpose-score: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
