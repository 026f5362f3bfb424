"""Training objective (paper §3.4, SPEC §5): SimCC KL loss on the counterfactual path plus
λ × consistency KL between the observational and the counterfactual predictions."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from cigpose.models.head import PoseOutput

StableSet = Literal["not_intervened", "lowest_score"]


def simcc_kl_loss(
    pred_x: torch.Tensor,
    pred_y: torch.Tensor,
    target_x: torch.Tensor,
    target_y: torch.Tensor,
    weights: torch.Tensor,
    beta: float = 10.0,
    label_beta: float = 10.0,
) -> torch.Tensor:
    """The reference ``KLDiscretLoss`` (label softmax on).

    For each axis and row r = (instance, keypoint): ``q = softmax(label_beta · target_r)``,
    ``p = log_softmax(beta · pred_r)``, ``ℓ_r = mean_bins q (log q − p)``; the loss is
    ``Σ_axes Σ_r w_r ℓ_r / K`` — summed over the batch, divided by the keypoint count only.

    Shapes: preds/targets ``(B, K, bins)``, weights ``(B, K)`` → scalar.
    """
    total = pred_x.new_zeros(())
    for pred, target in ((pred_x, target_x), (pred_y, target_y)):
        log_p = F.log_softmax(pred * beta, dim=-1)
        q = F.softmax(target * label_beta, dim=-1)
        row = F.kl_div(log_p, q, reduction="none").mean(dim=-1)  # (B, K)
        total = total + (row * weights).sum()
    return total / pred_x.shape[1]


def keypoint_mse_loss(heatmaps: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """MMPose's ``KeypointMSELoss(use_target_weight=True)``: mean over every (instance, keypoint,
    cell) of ``w · (pred − target)²``. Shapes: heatmaps/targets ``(B, K, H, W)``, weights
    ``(B, K)`` → scalar."""
    squared = (heatmaps.float() - targets) ** 2
    return (squared * weights[:, :, None, None]).mean()


class HeatmapLoss(nn.Module):
    """The pretraining objective: keypoint-weighted heatmap MSE, ``{"kpt", "total"}``."""

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = float(loss_weight)

    def forward(self, heatmaps: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> dict[str, torch.Tensor]:
        kpt = self.loss_weight * keypoint_mse_loss(heatmaps, targets, weights)
        return {"kpt": kpt, "total": kpt}


def simcc_kl_divergence(
    p_x: torch.Tensor, p_y: torch.Tensor, q_x: torch.Tensor, q_y: torch.Tensor
) -> torch.Tensor:
    """``Σ_axes KL(softmax(p) ‖ softmax(q))`` summed over bins, per row: ``(B, K)``."""
    total = p_x.new_zeros(p_x.shape[:2])
    for p, q in ((p_x, q_x), (p_y, q_y)):
        log_p = F.log_softmax(p, dim=-1)
        total = total + (log_p.exp() * (log_p - F.log_softmax(q, dim=-1))).sum(dim=-1)
    return total


def stable_set(
    output: PoseOutput, weights: torch.Tensor, rule: StableSet = "not_intervened", size: int = 13
) -> torch.Tensor:
    """``(B, K)`` bool mask S of keypoints the consistency loss compares.

    ``not_intervened`` (reference): labelled (w > 0) and not intervened. ``lowest_score`` (the
    paper's wording): the ``size`` labelled keypoints with the lowest confounder score.
    """
    labelled = weights > 0
    if rule == "not_intervened":
        return labelled & ~output.intervened
    masked = output.confounder_score.masked_fill(~labelled, float("inf"))
    index = masked.topk(min(size, masked.shape[1]), dim=1, largest=False).indices
    return (torch.zeros_like(output.confounder_score).scatter(1, index, 1.0) > 0) & labelled


def consistency_loss(output: PoseOutput, stable: torch.Tensor) -> torch.Tensor:
    """Mean over S of ``KL(softmax(P_obs) ‖ softmax(P_cf))`` (P_obs fixed); 0 when S is empty."""
    if output.obs_x is None or output.obs_y is None:
        raise ValueError(
            "consistency_loss needs the observational path: call the model with observational=True"
        )
    kl = simcc_kl_divergence(
        output.obs_x.detach(), output.obs_y.detach(), output.simcc_x, output.simcc_y
    )
    return (kl * stable).sum() / stable.sum().clamp(min=1)


class CIGPoseLoss(nn.Module):
    """Total = KL(P_cf, target) + λ · consistency [+ scorer KL when ``train_scorer``].

    Args:
        beta: temperature on the predicted logits (10).
        label_beta: temperature of the label softmax (10).
        consistency_weight: λ (0.1; Table 8 sweeps 0, 0.01, 0.1, 0.5).
        stable_set: ``not_intervened`` (reference) or ``lowest_score``.
        stable_size: size of the ``lowest_score`` set.
        scorer_weight: weight of the scorer heads' KL loss, used only when their logits carry
            gradient (``model.cim.train_scorer=true``).
    """

    def __init__(
        self,
        beta: float = 10.0,
        label_beta: float = 10.0,
        consistency_weight: float = 0.1,
        stable_set: StableSet = "not_intervened",
        stable_size: int = 13,
        scorer_weight: float = 1.0,
    ):
        super().__init__()
        if consistency_weight < 0:
            raise ValueError(f"loss.consistency_weight (λ) must be >= 0, got {consistency_weight}")
        if stable_set not in ("not_intervened", "lowest_score"):
            raise ValueError(
                f"loss.stable_set must be 'not_intervened' or 'lowest_score', got {stable_set!r}"
            )
        self.beta, self.label_beta = beta, label_beta
        self.consistency_weight = consistency_weight
        self.stable_set, self.stable_size = stable_set, stable_size
        self.scorer_weight = scorer_weight

    def forward(
        self,
        output: PoseOutput,
        target_x: torch.Tensor,
        target_y: torch.Tensor,
        weights: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Returns ``{"kpt", "cf", "total"}`` (+ ``"scorer"``); ``cf`` already includes λ."""
        losses = {
            "kpt": simcc_kl_loss(
                output.simcc_x,
                output.simcc_y,
                target_x,
                target_y,
                weights,
                self.beta,
                self.label_beta,
            )
        }
        losses["cf"] = losses["kpt"].new_zeros(())
        if output.obs_x is not None and self.consistency_weight > 0:
            stable = stable_set(output, weights, self.stable_set, self.stable_size)
            losses["cf"] = self.consistency_weight * consistency_loss(output, stable)
        total = losses["kpt"] + losses["cf"]
        if output.scorer_x is not None and output.scorer_x.requires_grad:
            losses["scorer"] = self.scorer_weight * simcc_kl_loss(
                output.scorer_x,
                output.scorer_y,
                target_x,
                target_y,
                weights,
                self.beta,
                self.label_beta,
            )
            total = total + losses["scorer"]
        losses["total"] = total
        return losses
