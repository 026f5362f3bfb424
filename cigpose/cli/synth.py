"""``cigpose-synth``: generate the synthetic whole-body dataset (skipped when ``--out`` already
holds one made with the same parameters; ``--force`` regenerates)."""

from __future__ import annotations

import argparse
import logging
import sys

from cigpose.cli.args import ArgumentParser
from cigpose.synth.generate import SynthConfig, generate_dataset

_DEFAULTS = SynthConfig()


def _unit(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="cigpose-synth",
        description="Draw synthetic people with all 133 COCO-WholeBody keypoints and controllable "
        "confounders; write train / val / val_ood images, annotations and detections.",
    )
    parser.add_argument("--out", required=True, help="output folder, e.g. data/synthetic")
    parser.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    parser.add_argument("--num-train", type=int, default=_DEFAULTS.num_train, help="people in train")
    parser.add_argument("--num-val", type=int, default=_DEFAULTS.num_val, help="people in val")
    parser.add_argument("--num-val-ood", type=int, default=_DEFAULTS.num_val_ood, help="people in val_ood")
    parser.add_argument("--image-size", type=int, nargs=2, metavar=("W", "H"), default=list(_DEFAULTS.image_size))
    parser.add_argument("--occlusion", type=_unit, default=_DEFAULTS.occlusion, help="occluder strength")
    parser.add_argument("--clutter", type=_unit, default=_DEFAULTS.clutter, help="limb-like clutter strength")
    parser.add_argument(
        "--spurious", type=_unit, default=_DEFAULTS.spurious,
        help="probability that the context disc sits on the hidden wrist in train/val",
    )  # fmt: skip
    parser.add_argument(
        "--context-rate", type=_unit, default=_DEFAULTS.context_rate,
        help="probability that a person's wrist and hand are hidden and a context disc drawn",
    )  # fmt: skip
    parser.add_argument("--face-scale", type=float, default=_DEFAULTS.face_scale, help="head size factor")
    parser.add_argument("--hand-scale", type=float, default=_DEFAULTS.hand_scale, help="hand size factor")
    parser.add_argument("--multi-person", type=_unit, default=_DEFAULTS.multi_person, help="P(two people)")
    parser.add_argument("--workers", type=int, default=2, help="processes (output does not depend on it)")
    parser.add_argument("--force", action="store_true", help="regenerate even if the output matches")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = generate_dataset(
            args.out, seed=args.seed, num_train=args.num_train, num_val=args.num_val, num_val_ood=args.num_val_ood,
            image_size=tuple(args.image_size), occlusion=args.occlusion, clutter=args.clutter,
            spurious=args.spurious, context_rate=args.context_rate, face_scale=args.face_scale,
            hand_scale=args.hand_scale, multi_person=args.multi_person, workers=args.workers, reuse=not args.force,
        )  # fmt: skip
    except ValueError as err:
        print(f"cigpose-synth: {err}", file=sys.stderr)
        return 2
    verb = "up to date, kept" if summary["reused"] else f"written in {summary['seconds']:.1f} s"
    print(f"synthetic dataset {verb}: {summary['root']}")
    for split, info in summary["splits"].items():
        print(f"  {split:8s} {info['num_images']:5d} images {info['num_people']:5d} people  {info['annotations']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
