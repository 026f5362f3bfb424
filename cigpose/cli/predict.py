"""``cigpose-predict --ckpt PATH --input IMG|DIR|VIDEO``: top-down prediction on files.

Writes ``results.json`` (COCO results; COCO-WholeBody layout for 133 keypoints), one overlay per
image (``<name>.png``) or ``<name>_pose.mp4`` for a video, and with ``--save-confounder``
``confounder.json`` (per person: the CIM's confounder score per keypoint and the intervened
keypoints). Without ``--boxes`` the whole image (every video frame) is one person box."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cigpose.cli.args import ArgumentParser, command_doc
from cigpose.inference.batch import predict_files
from cigpose.inference.predictor import Predictor


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-predict", description=command_doc(__doc__))
    parser.add_argument("--ckpt", required=True, help="a cigpose-train or cigpose-convert checkpoint")
    parser.add_argument("--input", required=True, type=Path, help="an image, a folder of images or a video")
    parser.add_argument("--boxes", default=None,
                        help="COCO detection results (person boxes, matched by the number in the file name)")
    parser.add_argument("--output", default=Path("predictions"), type=Path, help="output folder (predictions)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 ... (cpu)")
    parser.add_argument("--box-score-thr", type=float, default=0.3, help="keep detections above this score (0.3)")
    parser.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=True,
                        help="average with the mirrored crop (on)")
    parser.add_argument("--save-confounder", action="store_true", help="also write confounder.json")
    args = parser.parse_args(argv)
    predictor = Predictor(args.ckpt, device=args.device, flip_test=args.flip_test)
    print(json.dumps(predict_files(predictor, args.input, args.output, args.boxes, args.box_score_thr,
                                   args.save_confounder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
