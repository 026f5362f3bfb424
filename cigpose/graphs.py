"""Keypoint graphs of the hierarchical GNN: skeleton links and semantic groups, as fixed tensors.

The graphs ship as package data (``cigpose/metadata/graphs/<name>.yaml``). Everything the GNN needs
is precomputed here once, so its ``forward`` is pure tensor algebra (no loops, ONNX-traceable).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
import yaml

GRAPH_DIR = Path(__file__).resolve().parent / "metadata" / "graphs"


@dataclass(frozen=True)
class KeypointGraph:
    """Skeleton links and semantic groups of one keypoint layout.

    Attributes:
        name: graph name (the dataset layout it belongs to).
        num_keypoints: K.
        links: undirected skeleton links ``(L, 2)``, each used in both directions by EdgeConv.
        group_names: one name per semantic group.
        groups: member keypoint indices of each group (groups may overlap).
    """

    name: str
    num_keypoints: int
    links: tuple[tuple[int, int], ...]
    group_names: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]

    def directed_edges(self) -> torch.Tensor:
        """``(2, 2L)`` long tensor of (centre i, neighbour j) pairs: every link both ways."""
        if not self.links:
            return torch.zeros(2, 0, dtype=torch.long)
        links = torch.tensor(self.links, dtype=torch.long)
        return torch.cat([links.T, links.T.flip(0)], dim=1)

    def membership(self) -> torch.Tensor:
        """``(G, K)`` float 0/1 matrix: row g marks the keypoints of group g."""
        matrix = torch.zeros(len(self.groups), self.num_keypoints)
        for row, members in enumerate(self.groups):
            matrix[row, list(members)] = 1.0
        return matrix

    def group_edges(self) -> torch.Tensor:
        """``(2, G(G-1))`` long tensor: the fully connected group graph without self loops."""
        g = len(self.groups)
        src, dst = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
        keep = src != dst
        return torch.stack([src[keep], dst[keep]])


def _parse_indices(text: str | int) -> tuple[int, ...]:
    """``"0..4 9 12"`` → ``(0, 1, 2, 3, 4, 9, 12)``."""
    out: list[int] = []
    for token in str(text).split():
        if ".." in token:
            lo, hi = token.split("..")
            out.extend(range(int(lo), int(hi) + 1))
        else:
            out.append(int(token))
    return tuple(out)


def available_graphs() -> list[str]:
    return sorted(p.stem for p in GRAPH_DIR.glob("*.yaml"))


@cache
def load_graph(name: str) -> KeypointGraph:
    """Read ``metadata/graphs/<name>.yaml``; raises ``ValueError`` naming the known graphs."""
    path = GRAPH_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown keypoint graph {name!r}; known: {', '.join(available_graphs())}")
    raw = yaml.safe_load(path.read_text())
    k = int(raw["num_keypoints"])
    links = tuple(tuple(int(v) for v in link.split("-")) for link in str(raw["edges"]).split())
    groups = {str(n): _parse_indices(v) for n, v in raw["groups"].items()}
    for where, indices in [("edges", [i for link in links for i in link])] + list(groups.items()):
        bad = [i for i in indices if not 0 <= i < k]
        if bad:
            raise ValueError(f"{path}: {where} has keypoint indices outside [0, {k}): {bad}")
    return KeypointGraph(name, k, links, tuple(groups), tuple(groups.values()))  # type: ignore[arg-type]
