"""Hierarchical GNN (paper §3.3, SPEC §4): intra-part EdgeConv over the skeleton, then inter-part
attention over semantic groups.

Graphs are fixed buffers (edge index tensors, a group-membership matrix), so ``forward`` has no
Python loops over keypoints, groups or batch items and traces to ONNX / compiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cigpose.graphs import KeypointGraph


@dataclass
class GNNConfig:
    """Attributes:
    intra_part: EdgeConv over the anatomical skeleton (Table 4 "intra-part").
    inter_part: attention over semantic groups (Table 4 "inter-part").
    num_layers: L (1; CrowdPose 2).
    """

    intra_part: bool = True
    inter_part: bool = True
    num_layers: int = 1

    @property
    def enabled(self) -> bool:
        return self.intra_part or self.inter_part


def batch_norm_tokens(norm: nn.BatchNorm1d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm1d over channels of tokens ``(B, N, C)`` (statistics over B·N)."""
    return norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class EdgeConv(nn.Module):
    """Edge convolution on a fixed directed graph.

    For each edge i→j: ``m_ij = SiLU(BN(W · [h_i, h_j − h_i]))`` (1×1 conv, no bias; BN statistics
    over all B·E edges); node i receives ``Σ_j m_ij`` (0 when it has no edge).

    Args:
        channels: input width C; the message width is C as well.
        edges: ``(2, E)`` long tensor of (centre i, neighbour j).
        num_nodes: N.
    Shapes: ``(B, N, C) → (B, N, C)``.
    """

    def __init__(self, channels: int, edges: torch.Tensor, num_nodes: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.SiLU()
        )
        self.num_nodes = num_nodes
        self.register_buffer("centre", edges[0].clone(), persistent=False)
        self.register_buffer("neighbour", edges[1].clone(), persistent=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h_i = h[:, self.centre]  # (B, E, C)
        h_j = h[:, self.neighbour]
        edge = torch.cat([h_i, h_j - h_i], dim=-1).transpose(1, 2).unsqueeze(-1)  # (B, 2C, E, 1)
        # Scatter in (B, C, E) and transpose only the result: transposing the BN output first hands
        # torch 2.14's CPU batch_norm backward a channels-last-strided grad with a trailing size-1
        # dim, for which it returns wrong input gradients (tests/test_speed_options.py).
        message = self.conv(edge).squeeze(-1)  # (B, C, E)
        index = self.centre.view(1, 1, -1).expand_as(message)
        out = message.new_zeros(h.shape[0], message.shape[1], self.num_nodes).scatter_add(2, index, message)
        return out.transpose(1, 2)  # (B, N, C)


class InterPartAttention(nn.Module):
    """Channel weights from semantic groups (SPEC §4).

    ``z = SiLU(BN(Linear(G → G/4)(h)))``; group feature = mean of z over the group's members;
    EdgeConv over the fully connected group graph; ``Linear(G/4 → G)`` + sigmoid = group weights;
    a keypoint's weight is the mean over the groups containing it (1 if none); output = h ⊙ weight.

    Shapes: ``(B, K, G) → (B, K, G)``.
    """

    def __init__(self, channels: int, graph: KeypointGraph):
        super().__init__()
        reduced = channels // 4
        self.down = nn.Linear(channels, reduced)
        self.down_norm = nn.BatchNorm1d(reduced)
        self.group_conv = EdgeConv(reduced, graph.group_edges(), len(graph.groups))
        self.up = nn.Linear(reduced, channels)
        membership = graph.membership()  # (Gr, K)
        groups_per_keypoint = membership.sum(0)  # (K,)
        self.register_buffer(
            "group_mean", membership / membership.sum(1, keepdim=True), persistent=False
        )
        self.register_buffer(
            "keypoint_mean",
            (membership / groups_per_keypoint.clamp(min=1)).T.contiguous(),
            persistent=False,
        )  # (K, Gr)
        self.register_buffer(
            "ungrouped", (groups_per_keypoint == 0).float().unsqueeze(-1), persistent=False
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        z = nn.functional.silu(batch_norm_tokens(self.down_norm, self.down(h)))
        groups = self.group_mean @ z  # (B, Gr, G/4)
        group_weight = torch.sigmoid(self.up(self.group_conv(groups)))  # (B, Gr, G)
        weight = self.keypoint_mean @ group_weight + self.ungrouped  # (B, K, G)
        return h * weight


class GNNLayer(nn.Module):
    """``r = h; h = EdgeConv(h) → BN → inter-part attention; SiLU(h + r)``."""

    def __init__(self, channels: int, graph: KeypointGraph, config: GNNConfig):
        super().__init__()
        self.edge_conv = (
            EdgeConv(channels, graph.directed_edges(), graph.num_keypoints)
            if config.intra_part
            else None
        )
        self.norm = nn.BatchNorm1d(channels) if config.intra_part else None
        self.attention = InterPartAttention(channels, graph) if config.inter_part else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out = h
        if self.edge_conv is not None and self.norm is not None:
            out = batch_norm_tokens(self.norm, self.edge_conv(out))
        if self.attention is not None:
            out = self.attention(out)
        return nn.functional.silu(out + h)


class HierarchicalGNN(nn.Module):
    """Input projection ``Linear(D → G) → BN → SiLU`` then L GNN layers.

    Shapes: ``(B, K, D) → (B, K, G)``.
    """

    def __init__(self, dim: int, graph: KeypointGraph, config: GNNConfig, width: int | None = None):
        super().__init__()
        if config.num_layers < 1:
            raise ValueError(f"model.gnn.num_layers must be >= 1, got {config.num_layers}")
        self.width = width or dim
        self.input_proj = nn.Linear(dim, self.width)
        self.input_norm = nn.BatchNorm1d(self.width)
        self.layers = nn.ModuleList(
            GNNLayer(self.width, graph, config) for _ in range(config.num_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.silu(batch_norm_tokens(self.input_norm, self.input_proj(x)))
        for layer in self.layers:  # fixed depth L, not data-dependent
            h = layer(h)
        return h
