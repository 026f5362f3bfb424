"""Backbones the pose networks are built on: CSPNeXt (the paper's) or any timm model.

Every backbone maps ``(B, 3, H, W)`` to one feature map ``(B, C, H/s, W/s)`` and says ``C``
(``out_channels``) and ``s`` (``stride``); the keypoint tokens are formed from that map alike.

Names (``model.backbone``): ``cspnext`` (size from ``model.size``) or ``timm/<model name>`` — the
last stage of ``timm.create_model(name, features_only=True)``, randomly initialised here; pretrained
timm weights are loaded by :func:`cigpose.models.build.build_model` (``model.pretrained=true``).
"""

from __future__ import annotations

import torch
from torch import nn

from cigpose.models.cspnext import CSPNeXt

TIMM_PREFIX = "timm/"


class TimmBackbone(nn.Module):
    """The last feature stage of a timm model (random weights).

    Args:
        name: a ``timm.list_models()`` name, e.g. ``resnet18``, ``convnext_atto``.
    """

    def __init__(self, name: str):
        super().__init__()
        import timm  # a declared dependency; imported here so CSPNeXt-only use does not pay for it

        self.name = name
        self.model = timm.create_model(name, pretrained=False, features_only=True, out_indices=(-1,))
        self.out_channels = int(self.model.feature_info.channels()[-1])
        self.stride = int(self.model.feature_info.reduction()[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` → ``(B, C, H/stride, W/stride)``."""
        return self.model(x)[-1]


def build_backbone(name: str = "cspnext", size: str = "m") -> nn.Module:
    """``cspnext`` → ``CSPNeXt(size)``; ``timm/<model>`` → :class:`TimmBackbone`."""
    if name == "cspnext":
        return CSPNeXt(size)
    if name.startswith(TIMM_PREFIX) and len(name) > len(TIMM_PREFIX):
        return TimmBackbone(name[len(TIMM_PREFIX):])
    raise ValueError(f"model.backbone={name!r}: expected 'cspnext' or 'timm/<model name>' (e.g. timm/resnet18)")
