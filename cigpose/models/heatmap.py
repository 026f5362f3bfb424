"""``HeatmapPose``: CSPNeXt + heatmap head, the network of the backbone pretraining step.

Its backbone keys (``backbone.*``) are those of :class:`~cigpose.models.cigpose.CIGPose`, so
``model.init_from=<pretraining checkpoint>`` starts CIGPose / RTMPose from it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cigpose.models.backbones import build_backbone
from cigpose.models.heatmap_head import HeatmapHead


class HeatmapPose(nn.Module):
    """Top-down heatmap network on normalised RGB crops ``(B, 3, H, W)`` → ``(B, K, H/4, W/4)``.

    Args:
        size: CSPNeXt size ``t s m l x``.
        num_keypoints: K.
        input_size: (h, w), each divisible by 32.
        deconv_channels: the head's deconvolution widths (MMPose: 256, 256, 256).
        name: a label for reports.
        backbone: ``cspnext`` or ``timm/<model name>``.
    """

    def __init__(
        self,
        size: str = "m",
        num_keypoints: int = 17,
        input_size: Sequence[int] = (256, 192),
        deconv_channels: Sequence[int] = (256, 256, 256),
        name: str | None = None,
        backbone: str = "cspnext",
    ):
        super().__init__()
        self.config: dict[str, Any] = {
            "arch": "heatmap",
            "size": size,
            "num_keypoints": int(num_keypoints),
            "input_size": [int(v) for v in input_size],
            "deconv_channels": [int(c) for c in deconv_channels],
            "name": name,
            "backbone": backbone,
        }
        self.name = name or f"cspnext-{size}-heatmap"
        self.input_hw = (int(input_size[0]), int(input_size[1]))
        self.num_keypoints = int(num_keypoints)
        self.backbone = build_backbone(backbone, size)
        self.head = HeatmapHead(self.backbone.out_channels, self.num_keypoints, tuple(deconv_channels))
        self.stride = self.backbone.stride // self.head.stride_gain
        self.heatmap_size = (self.input_hw[1] // self.stride, self.input_hw[0] // self.stride)  # (w, h)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images))
