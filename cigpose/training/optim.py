"""Optimiser and learning-rate schedule of the reference configs (SPEC §5).

AdamW without weight decay on norms and biases; linear warm-up by iteration from
``warmup_ratio × lr``; then the reference's per-epoch segments (flat / cosine).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


def _matches(name: str, prefix: str) -> bool:
    """``backbone.stage1`` matches ``backbone.stage1`` and ``backbone.stage1.0.conv.weight``,
    not ``backbone.stage10``."""
    return name == prefix or name.startswith(prefix + ".")


def freeze_parameters(net: nn.Module, prefixes: Sequence[str]) -> list[str]:
    """Stop training the parameters under ``prefixes`` (``requires_grad=False``), e.g.
    ``[backbone.stem, backbone.stage1]`` (MMPose's ``frozen_stages``). Returns the frozen
    normalisation layers' names: the caller keeps them in eval mode so their running statistics
    stay the pretrained ones.

    Raises:
        ValueError: a prefix that names no parameter (a typo would otherwise train everything).
    """
    names = [name for name, _ in net.named_parameters()]
    for prefix in prefixes:
        if not any(_matches(name, prefix) for name in names):
            tops = sorted({name.split(".")[0] for name in names})
            raise ValueError(
                f"module.freeze: {prefix!r} names no parameter of {type(net).__name__} "
                f"(its parts: {', '.join(tops)}; e.g. backbone.stem, backbone.stage1)"
            )
    for name, param in net.named_parameters():
        if any(_matches(name, prefix) for prefix in prefixes):
            param.requires_grad_(False)
    return [
        name
        for name, module in net.named_modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
        and any(_matches(name, prefix) for prefix in prefixes)
    ]


def parameter_groups(
    net: nn.Module, weight_decay: float, lr_mult: Mapping[str, float] | None = None
) -> list[dict]:
    """AdamW groups: decayed weights, and norms + biases + 1-D scales without decay.

    ``lr_mult`` (MMPose's ``paramwise_cfg.custom_keys``): parameter-name prefix → lr multiplier,
    e.g. ``{backbone: 0.1}``; the longest matching prefix wins. Each group carries its
    ``lr_mult``; without ``lr_mult`` there are exactly the two groups above. Frozen parameters
    (``requires_grad=False``) are left out.
    """
    lr_mult = dict(lr_mult or {})
    groups: dict[tuple[bool, float], list[nn.Parameter]] = {}
    if not lr_mult:
        groups = {(True, 1.0): [], (False, 1.0): []}
    for module_name, module in net.named_modules():
        is_norm = isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm))
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            full = f"{module_name}.{name}" if module_name else name
            matching = [p for p in lr_mult if _matches(full, p)]
            mult = float(lr_mult[max(matching, key=len)]) if matching else 1.0
            decayed = not (is_norm or name == "bias")
            groups.setdefault((decayed, mult), []).append(param)
    return [
        {"params": params, "weight_decay": weight_decay if decayed else 0.0, "lr_mult": mult}
        for (decayed, mult), params in groups.items()
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
    net: nn.Module,
    lr: float,
    weight_decay: float = 0.05,
    betas: tuple[float, float] = (0.9, 0.999),
    lr_mult: Mapping[str, float] | None = None,
) -> torch.optim.AdamW:
    """AdamW over :func:`parameter_groups`; each group's lr is ``lr × lr_mult``."""
    groups = parameter_groups(net, weight_decay, lr_mult)
    for group in groups:
        group["lr"] = lr * group["lr_mult"]
    return torch.optim.AdamW(groups, lr=lr, betas=betas)
