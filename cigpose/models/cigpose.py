"""The CIGPose network: backbone (CSPNeXt or timm) + CIGPose head. RTMPose is the same with CIM/GNN
off. Constructing one reads no checkpoint: initialising from one is :mod:`cigpose.models.build`'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from cigpose.graphs import load_graph
from cigpose.models.backbones import build_backbone
from cigpose.models.cim import CIMConfig
from cigpose.models.gnn import GNNConfig
from cigpose.models.head import CIGPoseHead, PoseOutput


def _as(cls: type, value: Any) -> Any:
    return value if isinstance(value, cls) else cls(**dict(value or {}))


class CIGPose(nn.Module):
    """Top-down pose network on normalised RGB crops ``(B, 3, H, W)``.

    Args:
        size: CSPNeXt size ``t s m l x`` (also a label when ``backbone`` is a timm model).
        num_keypoints: K (133 COCO-WholeBody, 17 COCO, 14 CrowdPose).
        input_size: (h, w), each divisible by 32.
        graph: name of the keypoint graph (``coco_wholebody``, ``coco``, ``crowdpose``).
        dim, attention_dim: GAU D and s (256/128; 512/256 for l/x whole-body 384×288).
        split_ratio: SimCC bins per pixel.
        cim, gnn: ``CIMConfig`` / ``GNNConfig`` or mappings of their fields.
        classifier_bias: bias on the final SimCC classifiers.
        name: a label for reports (``cigpose-m``).
        backbone: ``cspnext`` or ``timm/<model name>`` (see :mod:`cigpose.models.backbones`).
    """

    def __init__(
        self,
        size: str = "m",
        num_keypoints: int = 133,
        input_size: Sequence[int] = (256, 192),
        graph: str = "coco_wholebody",
        dim: int = 256,
        attention_dim: int = 128,
        split_ratio: float = 2.0,
        cim: CIMConfig | Mapping[str, Any] | None = None,
        gnn: GNNConfig | Mapping[str, Any] | None = None,
        classifier_bias: bool = True,
        name: str | None = None,
        backbone: str = "cspnext",
    ):
        super().__init__()
        cim_cfg, gnn_cfg = _as(CIMConfig, cim), _as(GNNConfig, gnn)
        # Plain-data constructor arguments: stored in checkpoints so a model rebuilds itself.
        self.config: dict[str, Any] = {
            "size": size,
            "num_keypoints": num_keypoints,
            "input_size": [int(v) for v in input_size],
            "graph": graph,
            "dim": dim,
            "attention_dim": attention_dim,
            "split_ratio": float(split_ratio),
            "cim": dict(vars(cim_cfg)),
            "gnn": dict(vars(gnn_cfg)),
            "classifier_bias": classifier_bias,
            "name": name,
            "backbone": backbone,
        }
        self.name = name or f"cigpose-{size}"
        self.input_hw = (int(input_size[0]), int(input_size[1]))
        self.split_ratio = float(split_ratio)
        self.num_keypoints = num_keypoints
        self.backbone = build_backbone(backbone, size)
        self.head = CIGPoseHead(
            self.backbone.out_channels,
            num_keypoints,
            self.input_hw,
            load_graph(graph),
            dim,
            attention_dim,
            split_ratio,
            cim_cfg,
            gnn_cfg,
            classifier_bias,
            self.backbone.stride,
        )

    def forward(self, images: torch.Tensor, observational: bool = False) -> PoseOutput:
        """``(B, 3, H, W)`` → ``PoseOutput``; ``observational`` adds the no-intervention path."""
        return self.head(self.backbone(images), observational=observational)

