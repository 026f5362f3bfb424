"""UDP heatmap codec: the target of the official backbone pretraining (step 1 of the chain).

Unbiased data processing (Huang et al., CVPR 2020): the crop and the heatmap are related by
``(heatmap − 1) / (input − 1)`` per axis, so pixel 0 maps to cell 0 and the last pixel to the last
cell, and mirroring a crop mirrors its heatmap exactly (no one-cell shift). Targets are Gaussians
centred on the *unrounded* keypoint; decoding takes the argmax and refines it with a second-order
Taylor step on the log of the blurred heatmap (DARK), which removes the quantisation error of the
argmax.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


class UDPHeatmapCodec:
    """Args:
    crop_wh: crop (w, h).
    heatmap_size: heatmap (w, h); the network predicts it at stride 4.
    sigma: Gaussian σ in heatmap cells (2 at 64×48, as MMPose's UDP configs).
    blur_kernel: odd size of the Gaussian blur before the DARK refinement (11 at σ 2).
    """

    target_keys = ("heatmaps",)

    def __init__(
        self,
        crop_wh: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float = 2.0,
        blur_kernel: int = 11,
    ):
        self.crop_wh = (int(crop_wh[0]), int(crop_wh[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.blur_kernel = int(blur_kernel)
        # crop pixels → heatmap cells, per axis (x, y)
        self.scale = np.array(
            [(h - 1) / (i - 1) for h, i in zip(self.heatmap_size, self.crop_wh, strict=True)], np.float32
        )

    def encode(self, keypoints: np.ndarray, keypoint_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, K, 2)`` crop pixels, ``(N, K)`` weights → heatmaps ``(N, K, Hh, Wh)`` (peak 1 at the
        exact keypoint) and weights ``(N, K)``: zero where the ±3σ window lies wholly outside."""
        w, h = self.heatmap_size
        mu = np.nan_to_num(keypoints, nan=-1e6).astype(np.float32) * self.scale  # (N, K, 2)
        radius = 3 * self.sigma
        inside = ((mu - radius <= [w - 1, h - 1]) & (mu + radius >= 0)).all(-1)
        weights = np.where(inside, keypoint_weights, 0.0).astype(np.float32)
        dx = np.arange(w, dtype=np.float32) - mu[..., 0:1]  # (N, K, W)
        dy = np.arange(h, dtype=np.float32) - mu[..., 1:2]  # (N, K, H)
        gx = np.where(np.abs(dx) <= radius, np.exp(-(dx**2) / (2 * self.sigma**2)), 0.0)
        gy = np.where(np.abs(dy) <= radius, np.exp(-(dy**2) / (2 * self.sigma**2)), 0.0)
        heatmaps = (gy[..., :, None] * gx[..., None, :]).astype(np.float32)
        heatmaps *= (weights > 0)[..., None, None]
        return heatmaps, weights

    def targets(self, keypoints: np.ndarray, keypoint_weights: np.ndarray) -> dict[str, np.ndarray]:
        """One instance: ``(K, 2)``, ``(K,)`` → ``{"heatmaps": (K, Hh, Wh), "keypoint_weights": (K,)}``."""
        heatmaps, weights = self.encode(keypoints[None], keypoint_weights[None])
        return {"heatmaps": heatmaps[0], "keypoint_weights": weights[0]}

    def empty_targets(self, num_keypoints: int) -> dict[str, torch.Tensor]:
        w, h = self.heatmap_size
        return {"heatmaps": torch.zeros(num_keypoints, h, w)}

    def decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, K, Hh, Wh)`` → crop-pixel coords ``(B, K, 2)`` and scores ``(B, K)`` (the heatmap
        maximum). A keypoint whose maximum is ≤ 0 gets coordinates −1, as in MMPose."""
        heatmaps = heatmaps.float()
        coords, scores = heatmap_argmax(heatmaps)
        coords = refine_dark_udp(coords, heatmaps, self.blur_kernel)
        coords = coords / torch.as_tensor(self.scale, device=coords.device)
        coords = torch.where((scores > 0).unsqueeze(-1), coords, torch.full_like(coords, -1.0))
        return coords, scores


def heatmap_argmax(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, K, H, W)`` → integer cell ``(B, K, 2)`` (x, y) of the maximum, and the maximum ``(B, K)``."""
    b, k, h, w = heatmaps.shape
    scores, index = heatmaps.reshape(b, k, h * w).max(dim=-1)
    coords = torch.stack([index % w, torch.div(index, w, rounding_mode="floor")], dim=-1)
    return coords.to(heatmaps.dtype), scores


def gaussian_blur(heatmaps: torch.Tensor, kernel: int) -> torch.Tensor:
    """Per-map Gaussian blur (σ as OpenCV derives it from the kernel size), rescaled so each map
    keeps its maximum — the DARK modulation step. ``(B, K, H, W)`` → same."""
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    r = kernel // 2
    t = torch.arange(-r, r + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    b, k, h, w = heatmaps.shape
    x = heatmaps.reshape(b * k, 1, h, w)
    peak = x.amax(dim=(-2, -1), keepdim=True)
    x = F.conv2d(F.pad(x, (r, r, 0, 0)), g.view(1, 1, 1, -1))  # zero border, as cv2's constant pad
    x = F.conv2d(F.pad(x, (0, 0, r, r)), g.view(1, 1, -1, 1))
    x = x * peak / x.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return x.reshape(b, k, h, w)


def refine_dark_udp(coords: torch.Tensor, heatmaps: torch.Tensor, blur_kernel: int = 11) -> torch.Tensor:
    """Sub-cell refinement of integer maxima ``(B, K, 2)`` by one Newton step on the log heatmap:
    ``x − H⁻¹ ∇`` with central differences at the maximum (borders replicated)."""
    log_map = gaussian_blur(heatmaps, blur_kernel).clamp(1e-3, 50.0).log()
    b, k, h, w = log_map.shape
    padded = F.pad(log_map.reshape(b * k, 1, h, w), (1, 1, 1, 1), mode="replicate").reshape(b, k, h + 2, w + 2)
    x = coords[..., 0].long() + 1
    y = coords[..., 1].long() + 1

    def at(dy: int, dx: int) -> torch.Tensor:
        index = ((y + dy) * (w + 2) + (x + dx)).unsqueeze(-1)
        return padded.reshape(b, k, -1).gather(-1, index).squeeze(-1)

    centre = at(0, 0)
    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    hxx = at(0, 1) - 2 * centre + at(0, -1)
    hyy = at(1, 0) - 2 * centre + at(-1, 0)
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    eps = float(np.finfo(np.float32).eps)
    hxx, hyy = hxx + eps, hyy + eps
    det = hxx * hyy - hxy * hxy
    safe = det.abs() > 1e-12
    det = torch.where(safe, det, torch.ones_like(det))
    step_x = torch.where(safe, (hyy * gx - hxy * gy) / det, torch.zeros_like(det))
    step_y = torch.where(safe, (hxx * gy - hxy * gx) / det, torch.zeros_like(det))
    # a Newton step longer than a cell means the log map is not locally quadratic: keep the argmax
    ok = (step_x.abs() <= 1) & (step_y.abs() <= 1)
    step = torch.stack([step_x, step_y], dim=-1) * ok.unsqueeze(-1)
    return coords - step


def flip_heatmaps(heatmaps: torch.Tensor, flip_indices: torch.Tensor) -> torch.Tensor:
    """Heatmaps of a mirrored crop back to the original frame: columns reversed (exact under UDP),
    keypoints swapped with their mirror partners. ``(B, K, H, W)`` → same."""
    return heatmaps.flip(-1)[:, flip_indices]


def heatmap_size_for(crop_wh: tuple[int, int], stride: int = 4) -> tuple[int, int]:
    """Heatmap (w, h) of a crop (w, h) at ``stride``."""
    return (math.ceil(crop_wh[0] / stride), math.ceil(crop_wh[1] / stride))
