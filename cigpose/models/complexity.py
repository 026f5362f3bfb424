"""Parameter and multiply-add counts of a network (``cigpose-info``; the paper's "GFLOPs" are
GMACs: one multiply-add counts as one operation, MMPose's convention)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(net: nn.Module) -> int:
    """All parameters, trainable or not (the CIM scorer counts although it gets no gradient)."""
    return sum(p.numel() for p in net.parameters())


@torch.no_grad()
def count_gmacs(net: nn.Module, input_hw: tuple[int, int]) -> float:
    """Giga multiply-adds of one eval forward on a ``(1, 3, h, w)`` input."""
    was_training = net.training
    net.eval()
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(1, 3, *input_hw))
    net.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


def model_info(net: nn.Module, name: str | None = None) -> dict[str, Any]:
    """``{"name", "num_keypoints", "input_size": [h, w], "params", "gflops"}`` of ``net`` (GMACs of
    an eval forward of batch 1, measured with ``torch.utils.flop_counter``)."""
    return {
        "name": name or net.name,
        "num_keypoints": net.num_keypoints,
        "input_size": list(net.input_hw),
        "params": count_parameters(net),
        "gflops": round(count_gmacs(net, net.input_hw), 4),
    }
