"""Head front of RTMPose: ScaleNorm and the gated attention unit (RTMCC block), SPEC §2."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ScaleNorm(nn.Module):
    """``x / clamp(‖x‖₂ · dim^-½, min=eps) · g`` with one learned scalar ``g``."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class GAU(nn.Module):
    """Gated attention unit over the K keypoint tokens (self-attention, no rel-pos bias).

    ``y = ScaleNorm(x); u, v, base = split(SiLU(W_uv y)); q, k = base·γ + β;
    A = relu(q kᵀ / √s)²; out = W_o(u ⊙ A v); result = x ⊙ scale + out``.

    Args:
        dim: token width D (in = out).
        s: shared query/key width.
        expansion: e = expansion · D.
    Shapes: ``(B, K, D) → (B, K, D)``.
    """

    def __init__(self, dim: int = 256, s: int = 128, expansion: float = 2.0):
        super().__init__()
        self.e = int(dim * expansion)
        self.s = s
        self.norm = ScaleNorm(dim)
        self.uv = nn.Linear(dim, 2 * self.e + s, bias=False)
        self.gamma = nn.Parameter(torch.empty(2, s))
        self.beta = nn.Parameter(torch.zeros(2, s))
        self.out = nn.Linear(self.e, dim, bias=False)
        self.res_scale = nn.Parameter(torch.ones(dim))
        nn.init.normal_(self.gamma, std=0.02)
        nn.init.xavier_uniform_(self.uv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v, base = torch.split(F.silu(self.uv(self.norm(x))), [self.e, self.e, self.s], dim=-1)
        q = base * self.gamma[0] + self.beta[0]
        k = base * self.gamma[1] + self.beta[1]
        attention = F.relu(q @ k.transpose(1, 2) / math.sqrt(self.s)).square()
        return x * self.res_scale + self.out(u * (attention @ v))
