"""``cigpose-info [OVERRIDES...]``: one JSON line describing the network a config builds.

Takes the same Hydra overrides as ``cigpose-train`` (``experiment=cigpose-m_coco-wholebody_256x192``,
``model.backbone=timm/resnet18``) and prints ``{"name", "num_keypoints", "input_size": [h, w],
"params", "gflops"}``; ``gflops`` counts one multiply-add as one operation (MMPose's convention,
the paper's "GFLOPs"), on an eval forward of batch 1."""

from __future__ import annotations

import json
import sys

from cigpose.cli.args import ArgumentParser, command_doc
from cigpose.config import compose
from cigpose.models.build import build_model
from cigpose.models.complexity import model_info


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-info", description=command_doc(__doc__))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for cigpose-train")
    args = parser.parse_args(argv)
    cfg = compose("train", args.overrides)
    net = build_model(cfg.model)
    print(json.dumps(model_info(net, str(cfg.get("name", net.name)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
