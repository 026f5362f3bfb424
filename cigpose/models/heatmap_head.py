"""Top-down heatmap head (SimpleBaseline / MMPose ``HeatmapHead``): the head of the backbone
pretraining step. Three stride-2 deconvolutions lift the stride-32 map to stride 4, a 1×1 conv
gives one heatmap per keypoint. Every location of the feature map is supervised, which is what
lets a random backbone learn where things are (a SimCC head from scratch does not)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class HeatmapHead(nn.Module):
    """Args:
    in_channels: backbone output channels C.
    num_keypoints: K.
    deconv_channels: width of each deconvolution; its length sets the upsampling (2× each).
        MMPose: (256, 256, 256).
    deconv_kernel: 4 (stride 2, padding 1: exact 2× upsampling).

    ``(B, C, H/32, W/32)`` → heatmaps ``(B, K, H/4, W/4)`` with three deconvolutions.
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        deconv_channels: Sequence[int] = (256, 256, 256),
        deconv_kernel: int = 4,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for cout in deconv_channels:
            layers += [
                nn.ConvTranspose2d(cin, cout, deconv_kernel, stride=2, padding=(deconv_kernel - 2) // 2, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            ]
            cin = cout
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(cin, num_keypoints, 1)
        self.stride_gain = 2 ** len(deconv_channels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MMPose's init: N(0, 0.001) weights, zero bias, BN at identity."""
        for m in self.modules():
            if isinstance(m, nn.ConvTranspose2d | nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.final(self.deconv(features))
