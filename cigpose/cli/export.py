"""``cigpose-export --ckpt PATH --output FILE.onnx``: an ONNX model RTMPose ONNX consumers run
unchanged (input ``input`` B×3×H×W with dynamic batch, outputs ``simcc_x`` / ``simcc_y``,
metadata ``cigpose_meta``)."""

from __future__ import annotations

import json
import sys

from cigpose.cli.args import ArgumentParser, command_doc
from cigpose.inference.export import export_onnx
from cigpose.models.build import load_model


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-export", description=command_doc(__doc__))
    parser.add_argument("--ckpt", required=True, help="a cigpose-train or cigpose-convert checkpoint")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--input-convention", choices=("rgb", "rtmlib"), default="rgb",
                        help="rgb: normalised RGB crops (default); rtmlib: rtmlib's BGR tensors")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (17)")
    parser.add_argument("--k-eval", type=int, default=None, help="keypoints the CIM intervenes on (checkpoint's)")
    args = parser.parse_args(argv)
    net = load_model(args.ckpt, k_eval=args.k_eval)
    path = export_onnx(net, args.output, args.input_convention, args.opset)
    print(json.dumps({"output": str(path), "input_convention": args.input_convention,
                      "input_size": list(net.input_hw), "num_keypoints": net.num_keypoints}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
