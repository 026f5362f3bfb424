"""``cigpose-export ckpt=PATH output=FILE.onnx [input_convention=rgb|rtmlib] [opset=17]
[k_eval=N]``: write an ONNX model RTMPose ONNX consumers run unchanged."""

from __future__ import annotations

import json
import sys

from cigpose.inference.export import export_onnx
from cigpose.inference.loading import load_model


def parse_overrides(argv: list[str], allowed: dict[str, object]) -> dict[str, object]:
    """``key=value`` arguments (Hydra style) checked against ``allowed`` defaults (None = required)."""
    values = dict(allowed)
    for arg in argv:
        if "=" not in arg:
            raise SystemExit(f"expected key=value, got {arg!r}; keys: {', '.join(allowed)}")
        key, value = arg.split("=", 1)
        if key not in allowed:
            raise SystemExit(f"unknown key {key!r}; keys: {', '.join(allowed)}")
        values[key] = value
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise SystemExit(f"missing required {', '.join(f'{k}=...' for k in missing)}")
    return values


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    opts = parse_overrides(args, {"ckpt": None, "output": None, "input_convention": "rgb", "opset": "17",
                                  "k_eval": ""})
    net = load_model(str(opts["ckpt"]), k_eval=int(opts["k_eval"]) if opts["k_eval"] else None)
    path = export_onnx(net, str(opts["output"]), str(opts["input_convention"]), int(opts["opset"]))  # type: ignore[arg-type]
    print(json.dumps({"output": str(path), "input_convention": opts["input_convention"],
                      "input_size": list(net.input_size), "num_keypoints": net.num_keypoints}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
