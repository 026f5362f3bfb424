"""EMA of weights and buffers with MMEngine's ExpMomentumEMA warm-up (SPEC §5).

At update t: ``m_t = (1 − m)·exp(−(1 + t)/gamma) + m`` and ``ema ← (1 − m_t)·ema + m_t·θ``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


class ExpMomentumEMA(nn.Module):
    """Holds a frozen copy of ``net``; ``update(net)`` after every optimiser step.

    Args:
        net: the trained network (its structure is copied).
        momentum: m, the asymptotic weight of the new value (2e-4).
        gamma: warm-up time constant in updates (2000).
    """

    def __init__(self, net: nn.Module, momentum: float = 2e-4, gamma: float = 2000.0):
        super().__init__()
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self.momentum = momentum
        self.gamma = gamma
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def current_momentum(self) -> float:
        t = int(self.steps)
        return (1 - self.momentum) * math.exp(-(1 + t) / self.gamma) + self.momentum

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        m = 1.0 if int(self.steps) == 0 else self.current_momentum()  # MMEngine copies at step 0
        source = dict(net.state_dict())
        for name, value in self.module.state_dict().items():
            new = source[name].detach()
            if value.dtype.is_floating_point:
                value.mul_(1 - m).add_(new.to(value.dtype), alpha=m)
            else:  # num_batches_tracked
                value.copy_(new)
        self.steps += 1

    def forward(self, *args, **kwargs):  # noqa: ANN002, ANN003
        return self.module(*args, **kwargs)
