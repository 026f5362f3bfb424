"""``cigpose-info [OVERRIDES...]``: one JSON line describing the network a config builds.

Takes the same overrides as ``cigpose-train`` (e.g. ``experiment=cigpose-m_coco-wholebody_256x192``)
and prints ``{"name", "num_keypoints", "input_size": [h, w], "params", "gflops"}``. ``gflops``
counts one multiply-add as one operation (MMPose's convention, the paper's "GFLOPs"), measured
with ``torch.utils.flop_counter`` on an eval forward of batch 1 and halved.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cigpose.config import compose


def count_parameters(net: nn.Module) -> int:
    """All parameters, trainable or not (the CIM scorer counts although it gets no gradient)."""
    return sum(p.numel() for p in net.parameters())


@torch.no_grad()
def count_gmacs(net: nn.Module, input_size: tuple[int, int]) -> float:
    """Giga multiply-adds of one eval forward on a ``(1, 3, h, w)`` input."""
    was_training = net.training
    net.eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, *input_size))
    net.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


def model_info(cfg: DictConfig) -> dict[str, Any]:
    net = hydra.utils.instantiate(cfg.model, _convert_="all")
    return {
        "name": str(cfg.get("name", net.name)),
        "num_keypoints": net.num_keypoints,
        "input_size": list(net.input_size),
        "params": count_parameters(net),
        "gflops": round(count_gmacs(net, net.input_size), 4),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    print(json.dumps(model_info(compose("train", args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
