"""Causal Intervention Module (paper §3.2, SPEC §3).

A scorer (two linear SimCC heads on the detached embeddings) rates how uncertain each keypoint
is; the most confounded keypoints get their contextual embedding replaced by a learned
canonical embedding of their keypoint type — the intervention do(F_k := C_k).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Strategy = Literal["topk", "threshold"]


@dataclass
class CIMConfig:
    """What a user tunes. Defaults are the reference (whole-body) behaviour.

    Attributes:
        enabled: build the module at all (False = the RTMPose baseline / Table 4 "CIM off").
        strategy: ``topk`` (k per instance) or ``threshold`` (every score > τ).
        k_train: keypoints intervened per instance in training (whole-body 13, COCO/CrowdPose 1).
        k_eval: keypoints intervened per instance at evaluation (1); 0 disables.
        threshold: τ of the ``threshold`` strategy.
        train_scorer: False = the reference quirk (scorer heads stay at their random init, no
            loss); True = add a KL loss on the scorer heads (the paper's reading of Eq. 2).
    """

    enabled: bool = True
    strategy: Strategy = "topk"
    k_train: int = 13
    k_eval: int = 1
    threshold: float = 0.5
    train_scorer: bool = False

    def validate(self, num_keypoints: int) -> None:
        """Fail at start-up, naming the config key, on values out of range."""
        if self.strategy not in ("topk", "threshold"):
            raise ValueError(
                f"model.cim.strategy must be 'topk' or 'threshold', got {self.strategy!r}"
            )
        for key in ("k_train", "k_eval"):
            k = getattr(self, key)
            if not 0 <= k <= num_keypoints:
                raise ValueError(
                    f"model.cim.{key}={k} is outside [0, {num_keypoints}] (K keypoints)"
                )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"model.cim.threshold={self.threshold} is outside [0, 1]")


@torch.no_grad()
def confounder_score(simcc_x: torch.Tensor, simcc_y: torch.Tensor) -> torch.Tensor:
    """``1 − (max softmax(x) + max softmax(y)) / 2`` per keypoint; high = uncertain.

    Shapes: ``(B, K, Wr), (B, K, Hr) → (B, K)``. Never carries gradient.
    """
    peak_x = simcc_x.softmax(dim=-1).amax(dim=-1)
    peak_y = simcc_y.softmax(dim=-1).amax(dim=-1)
    return 1.0 - (peak_x + peak_y) / 2.0


def select_topk(score: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask ``(B, K)`` of the k highest scores of each instance (k = 0: none)."""
    if k <= 0:
        return torch.zeros_like(score, dtype=torch.bool)
    index = score.topk(min(k, score.shape[-1]), dim=-1).indices
    return torch.zeros_like(score).scatter(-1, index, 1.0) > 0


def select_threshold(score: torch.Tensor, threshold: float) -> torch.Tensor:
    """Boolean mask ``(B, K)`` of the scores strictly above τ."""
    return score > threshold


class CausalInterventionModule(nn.Module):
    """Scorer heads + canonical embedding table + the intervention.

    Args:
        dim: embedding width D.
        num_keypoints: K (rows of the canonical table).
        simcc_bins: (W·r, H·r) bins of the scorer heads.
        config: strategy and k / τ.
    """

    def __init__(
        self, dim: int, num_keypoints: int, simcc_bins: tuple[int, int], config: CIMConfig
    ):
        super().__init__()
        config.validate(num_keypoints)
        self.config = config
        self.scorer_x = nn.Linear(dim, simcc_bins[0])
        self.scorer_y = nn.Linear(dim, simcc_bins[1])
        self.canonical = nn.Embedding(num_keypoints, dim)
        nn.init.normal_(self.canonical.weight, std=0.01)
        # Reference behaviour: the scorer never receives a loss. requires_grad=False keeps it out
        # of DDP's unused-parameter check while it still counts as a parameter.
        self.scorer_x.requires_grad_(config.train_scorer)
        self.scorer_y.requires_grad_(config.train_scorer)

    def score(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scorer logits on the detached embeddings ``(B, K, D)`` → ``(B, K, Wr), (B, K, Hr)``."""
        detached = embeddings.detach()
        return self.scorer_x(detached), self.scorer_y(detached)

    def select(self, score: torch.Tensor) -> torch.Tensor:
        """Which keypoints to intervene on, ``(B, K)`` bool, for the current train/eval mode."""
        if self.config.strategy == "threshold":
            return select_threshold(score, self.config.threshold)
        return select_topk(score, self.config.k_train if self.training else self.config.k_eval)

    def intervene(self, embeddings: torch.Tensor, intervened: torch.Tensor) -> torch.Tensor:
        """do(F_k := C_k) on the intervened rows; only those canonical rows receive gradient."""
        return torch.where(intervened.unsqueeze(-1), self.canonical.weight.unsqueeze(0), embeddings)

    def forward(
        self, embeddings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, K, D)`` → (counterfactual embeddings ``(B, K, D)``, intervened ``(B, K)`` bool,
        confounder score ``(B, K)``, scorer logits as a pair)."""
        logits = self.score(embeddings)
        score = confounder_score(*logits)
        intervened = self.select(score)
        return self.intervene(embeddings, intervened), intervened, score, logits
