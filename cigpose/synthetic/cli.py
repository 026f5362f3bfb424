"""``cigpose-synth --out data/synthetic [--seed 0] [--num-train N] ...``: generate the synthetic
whole-body dataset, or do nothing when ``<out>/manifest.json`` records the same parameters."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cigpose.synthetic.generator import generate_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cigpose-synth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-train", type=int, default=3000)
    parser.add_argument("--num-val", type=int, default=300)
    parser.add_argument("--num-val-ood", type=int, default=300)
    parser.add_argument("--image-size", type=int, nargs=2, default=[192, 256], metavar=("W", "H"))
    parser.add_argument("--occlusion", type=float, default=0.5, help="occluder strength in [0, 1]")
    parser.add_argument("--clutter", type=float, default=0.5, help="limb-like clutter strength in [0, 1]")
    parser.add_argument("--spurious", type=float, default=1.0, help="P(context disc at an occluded wrist)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    for name in ("occlusion", "clutter", "spurious"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name} must be in [0, 1]")
    params = {"seed": args.seed, "num_train": args.num_train, "num_val": args.num_val,
              "num_val_ood": args.num_val_ood, "image_size": list(args.image_size), "occlusion": args.occlusion,
              "clutter": args.clutter, "spurious": args.spurious}
    manifest = args.out / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("params") == params:
        print(f"cigpose-synth: {args.out} is up to date ({manifest})")
        return 0
    start = time.perf_counter()
    result = generate_dataset(args.out, workers=args.workers, **{**params, "image_size": tuple(args.image_size)})
    print(json.dumps({**result["counts"], "seconds": round(time.perf_counter() - start, 1), "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
