"""``cigpose-analyze ANALYSIS --ckpt PATH [--output DIR] [OVERRIDES...]``: the paper's analyses of
a checkpoint.

ANALYSIS: ``intervention-frequency`` (Table 7), ``score-vs-occlusion`` (Fig. 3), ``enrichment``
(Table 5), ``embedding-umap`` (Fig. 4, needs the optional ``umap-learn``). The network runs in
eval mode with flip test on the validation split of the configured data (Hydra overrides such as
``experiment=...``; GT boxes, so every prediction has its ground truth). Each writes a Markdown
table (and a PNG where there is a figure) into ``--output``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cigpose.analysis.run import ANALYSES, run_analysis
from cigpose.cli.args import ArgumentParser, command_doc


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-analyze", description=command_doc(__doc__))
    parser.add_argument("analysis", choices=ANALYSES, help="which table / figure")
    parser.add_argument("--ckpt", required=True, help="a CIGPose / RTMPose checkpoint")
    parser.add_argument("--output", type=Path, default=Path("analysis"), help="output folder (analysis)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides selecting the data, as for cigpose-train")
    args = parser.parse_intermixed_args(argv)  # options may sit between the overrides
    print(json.dumps(run_analysis(args.analysis, args.ckpt, args.output, args.overrides), default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
