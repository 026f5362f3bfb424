"""CIGPose head (SPEC §2–4): keypoint tokens → GAU → CIM → hierarchical GNN → SimCC classifiers.

With CIM and GNN switched off this is exactly RTMPose's RTMCC head (the baseline of Table 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cigpose.graphs import KeypointGraph
from cigpose.models.cim import CausalInterventionModule, CIMConfig
from cigpose.models.gau import GAU, ScaleNorm
from cigpose.models.gnn import GNNConfig, HierarchicalGNN


@dataclass
class PoseOutput:
    """Everything one forward pass produces. Shapes for B instances, K keypoints.

    Attributes:
        simcc_x, simcc_y: main prediction ``(B, K, W·r)``, ``(B, K, H·r)`` — the counterfactual
            path when the CIM is on (the model's output in train and eval).
        obs_x, obs_y: observational path (no intervention, no gradient); None unless requested.
        scorer_x, scorer_y: the CIM scorer logits; None without CIM.
        intervened: ``(B, K)`` bool, the keypoints the CIM intervened on (all False without CIM).
        confounder_score: ``(B, K)`` the CIM's confounder score, 1 − mean SimCC peak (zeros
            without CIM). Not a keypoint confidence: those come from decoding ``simcc_x/y``.
    """

    simcc_x: torch.Tensor
    simcc_y: torch.Tensor
    intervened: torch.Tensor
    confounder_score: torch.Tensor
    obs_x: torch.Tensor | None = None
    obs_y: torch.Tensor | None = None
    scorer_x: torch.Tensor | None = None
    scorer_y: torch.Tensor | None = None


class KeypointTokens(nn.Module):
    """k×k conv to one map per keypoint → flatten → ScaleNorm → Linear(H'·W' → D) → GAU.

    Shapes: ``(B, C, H', W') → (B, K, D)``.
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        feature_size: tuple[int, int],
        dim: int = 256,
        attention_dim: int = 128,
        kernel: int = 7,
    ):
        super().__init__()
        flat = feature_size[0] * feature_size[1]
        self.keypoint_conv = nn.Conv2d(in_channels, num_keypoints, kernel, padding=kernel // 2)
        self.token_norm = ScaleNorm(flat)
        self.token_proj = nn.Linear(flat, dim, bias=False)
        self.gau = GAU(dim, attention_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        tokens = self.keypoint_conv(features).flatten(2)  # (B, K, H'·W')
        return self.gau(self.token_proj(self.token_norm(tokens)))


class CIGPoseHead(nn.Module):
    """Args:
    in_channels: backbone channels C.
    num_keypoints: K.
    input_hw: network input (h, w).
    graph: skeleton and semantic groups of the keypoint layout.
    dim, attention_dim: GAU token width D and shared q/k width s.
    split_ratio: SimCC bins per pixel r.
    cim, gnn: module configs; switched off = RTMPose.
    classifier_bias: bias on the final classifiers (CIGPose True, RTMPose False).
    stride: the backbone's output stride (CSPNeXt 32).
    """

    def __init__(
        self,
        in_channels: int,
        num_keypoints: int,
        input_hw: tuple[int, int],
        graph: KeypointGraph,
        dim: int = 256,
        attention_dim: int = 128,
        split_ratio: float = 2.0,
        cim: CIMConfig | None = None,
        gnn: GNNConfig | None = None,
        classifier_bias: bool = True,
        stride: int = 32,
    ):
        super().__init__()
        h, w = input_hw
        if h % stride or w % stride:
            raise ValueError(f"input size {h}x{w} must be divisible by {stride} (the backbone stride)")
        if graph.num_keypoints != num_keypoints:
            raise ValueError(
                f"graph {graph.name!r} has {graph.num_keypoints} keypoints, "
                f"model has {num_keypoints}"
            )
        cim = cim or CIMConfig()
        gnn = gnn or GNNConfig()
        bins = (int(w * split_ratio), int(h * split_ratio))
        self.tokens = KeypointTokens(
            in_channels, num_keypoints, (h // stride, w // stride), dim, attention_dim
        )
        self.cim = CausalInterventionModule(dim, num_keypoints, bins, cim) if cim.enabled else None
        self.gnn = HierarchicalGNN(dim, graph, gnn) if gnn.enabled else None
        width = self.gnn.width if self.gnn is not None else dim
        self.cls_x = nn.Linear(width, bins[0], bias=classifier_bias)
        self.cls_y = nn.Linear(width, bins[1], bias=classifier_bias)

    def predict(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GNN + classifiers: ``(B, K, D)`` → ``(B, K, W·r), (B, K, H·r)``."""
        h = self.gnn(embeddings) if self.gnn is not None else embeddings
        return self.cls_x(h), self.cls_y(h)

    def forward(self, features: torch.Tensor, observational: bool = False) -> PoseOutput:
        embeddings = self.tokens(features)
        b, k, _ = embeddings.shape
        if self.cim is None:
            simcc_x, simcc_y = self.predict(embeddings)
            none = torch.zeros(b, k, dtype=torch.bool, device=embeddings.device)
            return PoseOutput(simcc_x, simcc_y, none, none.float())
        counterfactual, intervened, score, (scorer_x, scorer_y) = self.cim(embeddings)
        simcc_x, simcc_y = self.predict(counterfactual)  # counterfactual path P_cf
        out = PoseOutput(simcc_x, simcc_y, intervened, score, scorer_x=scorer_x, scorer_y=scorer_y)
        if observational:  # P_obs, after P_cf and in the same mode (BN statistics as the reference)
            with torch.no_grad():
                out.obs_x, out.obs_y = self.predict(embeddings)
        return out
