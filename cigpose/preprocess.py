"""Input normalisation of every RTMPose-family model (SPEC §1)."""

from __future__ import annotations

import torch
from torch import nn

MEAN = (123.675, 116.28, 103.53)  # RGB
STD = (58.395, 57.12, 57.375)


class Normalize(nn.Module):
    """uint8 RGB ``(B, 3, H, W)`` → float ``(x − mean) / std``, on the device."""

    def __init__(self, channels_last: bool = False):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self.channels_last = channels_last

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
