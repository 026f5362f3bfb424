"""CSPNeXt backbone (RTMDet/RTMPose, P5 arch), SPEC §2. Only the stride-32 output is used.

Module names follow MMDetection's so that MMPose checkpoints map onto it by prefix alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class CSPNeXtSize:
    """Depth and width multipliers of one named size."""

    deepen: float
    widen: float


SIZES: dict[str, CSPNeXtSize] = {
    "t": CSPNeXtSize(0.167, 0.375),
    "s": CSPNeXtSize(0.33, 0.5),
    "m": CSPNeXtSize(0.67, 0.75),
    "l": CSPNeXtSize(1.0, 1.0),
    "x": CSPNeXtSize(1.33, 1.25),
}

# P5 arch: (in, out, blocks, add_identity, use_spp) per stage, before the multipliers.
P5_STAGES = (
    (64, 128, 3, True, False),
    (128, 256, 6, True, False),
    (256, 512, 6, True, False),
    (512, 1024, 3, False, True),
)


class ConvBNAct(nn.Sequential):
    """conv (no bias) → BatchNorm (eps 1e-5, momentum 0.1) → SiLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.SiLU()


class DepthwiseSeparableConv(nn.Sequential):
    """depthwise k×k ConvBNAct → pointwise 1×1 ConvBNAct."""

    def __init__(self, cin: int, cout: int, kernel: int):
        super().__init__()
        self.depthwise_conv = ConvBNAct(cin, cin, kernel, groups=cin)
        self.pointwise_conv = ConvBNAct(cin, cout, 1)


class CSPNeXtBlock(nn.Module):
    """3×3 conv then depthwise-separable 5×5 conv, with an optional identity shortcut."""

    def __init__(self, channels: int, add_identity: bool):
        super().__init__()
        self.conv1 = ConvBNAct(channels, channels, 3)
        self.conv2 = DepthwiseSeparableConv(channels, channels, 5)
        self.add_identity = add_identity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class ChannelAttention(nn.Module):
    """Global average pool → 1×1 conv (with bias) → hard-sigmoid → rescale channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)
        self.act = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.act(self.fc(x.mean(dim=(2, 3), keepdim=True)))


class CSPLayer(nn.Module):
    """Cross-stage partial layer: main branch of blocks ∥ short 1×1 branch → attention → 1×1."""

    def __init__(self, cin: int, cout: int, num_blocks: int, add_identity: bool):
        super().__init__()
        mid = cout // 2
        self.main_conv = ConvBNAct(cin, mid, 1)
        self.short_conv = ConvBNAct(cin, mid, 1)
        self.final_conv = ConvBNAct(2 * mid, cout, 1)
        self.blocks = nn.Sequential(*[CSPNeXtBlock(mid, add_identity) for _ in range(num_blocks)])
        self.attention = ChannelAttention(2 * mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        merged = torch.cat([self.blocks(self.main_conv(x)), self.short_conv(x)], dim=1)
        return self.final_conv(self.attention(merged))


class SPPBottleneck(nn.Module):
    """1×1 to half width → [x, maxpool 5, 9, 13 (stride 1)] concatenated → 1×1 back."""

    def __init__(self, cin: int, cout: int, kernels: tuple[int, ...] = (5, 9, 13)):
        super().__init__()
        mid = cin // 2
        self.conv1 = ConvBNAct(cin, mid, 1)
        self.poolings = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)
        self.conv2 = ConvBNAct(mid * (len(kernels) + 1), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.poolings], dim=1))


class CSPNeXt(nn.Module):
    """CSPNeXt-P5 backbone returning the stride-32 feature map ``(B, C, H/32, W/32)``.

    Args:
        size: one of ``t s m l x`` (SPEC §2 table); ``C`` is 1024 × widen (384 … 1280).
    """

    def __init__(self, size: str = "m"):
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"unknown CSPNeXt size {size!r}; choose one of {', '.join(SIZES)}")
        mult = SIZES[size]

        def width(c: int) -> int:
            return int(c * mult.widen)

        self.stem = nn.Sequential(
            ConvBNAct(3, width(32), 3, stride=2),
            ConvBNAct(width(32), width(32), 3),
            ConvBNAct(width(32), width(64), 3),
        )
        for index, (cin, cout, blocks, add_identity, use_spp) in enumerate(P5_STAGES, start=1):
            layers: list[nn.Module] = [ConvBNAct(width(cin), width(cout), 3, stride=2)]
            if use_spp:
                layers.append(SPPBottleneck(width(cout), width(cout)))
            depth = max(round(blocks * mult.deepen), 1)
            layers.append(CSPLayer(width(cout), width(cout), depth, add_identity))
            self.add_module(f"stage{index}", nn.Sequential(*layers))
        self.out_channels = width(P5_STAGES[-1][1])
        self.stride = 32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.stage4(self.stage3(self.stage2(self.stage1(x))))
