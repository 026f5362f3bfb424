"""Optimiser and learning-rate schedule of the reference configs (SPEC §5).

AdamW without weight decay on norms and biases; linear warm-up by iteration from
``warmup_ratio × lr``; then the reference's per-epoch segments (flat / cosine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


def parameter_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW groups: decayed weights, and norms + biases + 1-D scales without decay."""
    decay, no_decay = [], []
    for module in net.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_norm = isinstance(
                module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
            )
            (no_decay if is_norm or name == "bias" else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


@dataclass
class Segment:
    """lr factor over epochs [begin, end): ``flat`` at ``start``, or ``cosine`` from ``start`` to
    ``end_factor`` (factors are of the base lr)."""

    begin: int
    end: int
    kind: str = "flat"
    start: float = 1.0
    end_factor: float = 1.0


@dataclass
class Schedule:
    """Warm-up by iteration, then epoch segments (the last one extends to the end of training).

    Attributes:
        warmup_iters: linear warm-up length (1000).
        warmup_ratio: lr factor at iteration 0 (1e-5).
        segments: the reference's epoch segments.
    """

    warmup_iters: int = 1000
    warmup_ratio: float = 1e-5
    segments: Sequence[Segment] = field(default_factory=list)

    def factor(self, iteration: int, epoch: float) -> float:
        """lr multiplier at a (global iteration, fractional epoch)."""
        value = 1.0
        for seg in self.segments:
            if epoch >= seg.begin:
                if seg.kind == "cosine":
                    t = min(max((epoch - seg.begin) / max(seg.end - seg.begin, 1e-9), 0.0), 1.0)
                    value = (
                        seg.end_factor
                        + (seg.start - seg.end_factor) * (1 + math.cos(math.pi * t)) / 2
                    )
                else:
                    value = seg.start
        if iteration < self.warmup_iters:
            value *= self.warmup_ratio + (1 - self.warmup_ratio) * iteration / self.warmup_iters
        return value


def build_schedule(name: str, max_epochs: int, warmup_iters: int = 1000) -> Schedule:
    """The reference schedules, scaled to ``max_epochs``.

    ``wholebody`` (420 epochs): flat to 135, cosine 135→270 down to 0.05, flat 270→330, cosine
    330→420 down to 0.001. ``body`` (COCO/CrowdPose): cosine over the second half down to 0.05.
    ``constant``: warm-up then flat (smoke runs).
    """

    def at(e: float) -> int:
        return int(round(e * max_epochs))

    if name == "wholebody":
        segments = [
            Segment(0, at(135 / 420)),
            Segment(at(135 / 420), at(270 / 420), "cosine", 1.0, 0.05),
            Segment(at(270 / 420), at(330 / 420), "flat", 0.05),
            Segment(at(330 / 420), max_epochs, "cosine", 0.05, 0.001),
        ]
    elif name == "body":
        segments = [
            Segment(0, max_epochs // 2),
            Segment(max_epochs // 2, max_epochs, "cosine", 1.0, 0.05),
        ]
    elif name == "constant":
        segments = []
    else:
        raise ValueError(f"optim.schedule must be wholebody, body or constant, got {name!r}")
    return Schedule(warmup_iters, 1e-5, segments)


def scaled_lr(base_lr: float, total_batch: int, reference_batch: int) -> float:
    """Linear scaling rule: ``base_lr × total_batch / reference_batch``."""
    return base_lr * total_batch / reference_batch


def build_optimizer(
    net: nn.Module, lr: float, weight_decay: float = 0.05, betas: tuple[float, float] = (0.9, 0.999)
) -> torch.optim.AdamW:
    return torch.optim.AdamW(parameter_groups(net, weight_decay), lr=lr, betas=betas)
