"""Training-time diagnostics: PCK on SimCC / heatmap outputs and the share of interventions per body part
(the paper's Table 7, live)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch


def simcc_pck_accuracy(
    pred_x: torch.Tensor,
    pred_y: torch.Tensor,
    target_x: torch.Tensor,
    target_y: torch.Tensor,
    weights: torch.Tensor,
    threshold: float = 0.05,
) -> torch.Tensor:
    """PCK of SimCC argmax locations against the target peaks, on labelled keypoints.

    Distances are per-axis normalised by the bin count (i.e. by the crop width / height), and a
    keypoint counts as correct within ``threshold`` of the crop size. Shapes: ``(B, K, bins)``,
    weights ``(B, K)`` → scalar (0 when nothing is labelled).
    """
    dx = (pred_x.argmax(-1) - target_x.argmax(-1)).float() / pred_x.shape[-1]
    dy = (pred_y.argmax(-1) - target_y.argmax(-1)).float() / pred_y.shape[-1]
    correct = (torch.sqrt(dx**2 + dy**2) <= threshold).float()
    labelled = (weights > 0).float()
    return (correct * labelled).sum() / labelled.sum().clamp(min=1)


def heatmap_pck_accuracy(
    heatmaps: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, threshold: float = 0.05
) -> torch.Tensor:
    """PCK of heatmap argmax cells against the target peaks, on labelled keypoints; distances
    per axis over the heatmap width / height (MMPose's ``pose_pck_accuracy`` on the crop size).
    Shapes: ``(B, K, H, W)``, weights ``(B, K)`` → scalar."""
    b, k, h, w = heatmaps.shape
    pred = heatmaps.reshape(b, k, -1).argmax(-1)
    true = targets.reshape(b, k, -1).argmax(-1)
    dx = ((pred % w) - (true % w)).float() / w
    dy = (torch.div(pred, w, rounding_mode="floor") - torch.div(true, w, rounding_mode="floor")).float() / h
    correct = (torch.sqrt(dx**2 + dy**2) <= threshold).float()
    labelled = (weights > 0).float()
    return (correct * labelled).sum() / labelled.sum().clamp(min=1)


class InterventionShare:
    """Share of intervened keypoints falling in each coarse body part.

    Args:
        parts: part name → keypoint indices (face, torso, arms, hands, legs, feet).
        num_keypoints: K.
    """

    def __init__(self, parts: Mapping[str, np.ndarray], num_keypoints: int):
        self.names = list(parts)
        onehot = torch.zeros(num_keypoints, len(self.names))
        for column, name in enumerate(self.names):
            onehot[torch.as_tensor(np.asarray(parts[name]), dtype=torch.long), column] = 1.0
        self.onehot = onehot

    def counts(self, selected: torch.Tensor) -> torch.Tensor:
        """``(B, K)`` bool → ``(P,)`` number of interventions per part."""
        return selected.float().sum(0) @ self.onehot.to(selected.device)

    def __call__(self, selected: torch.Tensor) -> dict[str, torch.Tensor]:
        counts = self.counts(selected)
        shares = counts / counts.sum().clamp(min=1)
        return {name: shares[i] for i, name in enumerate(self.names)}
