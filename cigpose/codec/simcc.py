"""SimCC codec (RTMPose): 1-D Gaussian targets per axis, argmax decoding, flip of logits.

``r`` = split ratio (bins per pixel). Targets follow MMPose's ``SimCCLabel`` with
``normalize=False``: the Gaussian centre is the keypoint rounded to a whole bin, peak 1.
"""

from __future__ import annotations

import numpy as np
import torch


class SimCCCodec:
    """Args:
    crop_wh: crop (w, h).
    sigma: Gaussian σ in bins (x, y): (4.9, 5.66) at 256×192, (6.0, 6.93) at 384×288.
    split_ratio: r.
    """

    def __init__(self, crop_wh: tuple[int, int], sigma: tuple[float, float], split_ratio: float = 2.0):
        self.crop_wh = (int(crop_wh[0]), int(crop_wh[1]))
        self.sigma = np.asarray(sigma, dtype=np.float32)
        self.split_ratio = float(split_ratio)
        self.bins = (int(self.crop_wh[0] * split_ratio), int(self.crop_wh[1] * split_ratio))

    def encode(self, keypoints: np.ndarray, keypoint_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(N, K, 2)`` crop pixels, ``(N, K)`` weights → targets ``(N, K, W·r)``, ``(N, K, H·r)``
        and weights ``(N, K)``, zero where the ±3σ window lies wholly outside the bins."""
        mu = np.round(np.nan_to_num(keypoints, nan=-1e6) * self.split_ratio)  # (N, K, 2)
        radius = 3 * self.sigma
        w_bins, h_bins = self.bins
        inside = ((mu - radius < [w_bins, h_bins]) & (mu + radius + 1 > 0)).all(-1)
        weights = np.where(inside, keypoint_weights, 0.0).astype(np.float32)
        x = np.arange(w_bins, dtype=np.float32)
        y = np.arange(h_bins, dtype=np.float32)
        target_x = np.exp(-((x - mu[..., 0:1]) ** 2) / (2 * self.sigma[0] ** 2)).astype(np.float32)
        target_y = np.exp(-((y - mu[..., 1:2]) ** 2) / (2 * self.sigma[1] ** 2)).astype(np.float32)
        target_x *= weights[..., None] > 0
        target_y *= weights[..., None] > 0
        return target_x, target_y, weights

    target_keys = ("target_x", "target_y")

    def targets(self, keypoints: np.ndarray, keypoint_weights: np.ndarray) -> dict[str, np.ndarray]:
        """One instance: ``(K, 2)``, ``(K,)`` → ``target_x (K, W·r)``, ``target_y (K, H·r)``, weights."""
        tx, ty, weights = self.encode(keypoints[None], keypoint_weights[None])
        return {"target_x": tx[0], "target_y": ty[0], "keypoint_weights": weights[0]}

    def empty_targets(self, num_keypoints: int) -> dict[str, torch.Tensor]:
        k = num_keypoints
        return {"target_x": torch.zeros(k, self.bins[0]), "target_y": torch.zeros(k, self.bins[1])}


def decode_simcc(simcc_x: torch.Tensor, simcc_y: torch.Tensor, split_ratio: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax per axis / r → crop-pixel coords ``(B, K, 2)``; score ``(B, K)`` = min of the two
    raw-logit maxima. Like MMPose, a keypoint whose score is ≤ 0 gets coordinates −1."""
    max_x, arg_x = simcc_x.max(dim=-1)
    max_y, arg_y = simcc_y.max(dim=-1)
    scores = torch.minimum(max_x, max_y)
    coords = torch.stack([arg_x, arg_y], dim=-1).to(simcc_x.dtype) / split_ratio
    coords = torch.where((scores > 0).unsqueeze(-1), coords, torch.full_like(coords, -1.0))
    return coords, scores


def flip_simcc(
    simcc_x: torch.Tensor, simcc_y: torch.Tensor, flip_indices: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of a mirrored image back to the original frame: x bins reversed, keypoints swapped
    with their mirror partners; y only swapped."""
    return simcc_x.flip(-1)[:, flip_indices], simcc_y[:, flip_indices]
