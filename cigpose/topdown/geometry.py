"""Crop geometry: a person box → the (centre, scale) of its network crop → the affine warp into
the crop, and crop pixels back to image pixels. Sizes are ``crop_wh`` = (w, h)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch


def bbox_to_center_scale(bbox: np.ndarray, aspect_ratio: float, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    """Box ``(4,)`` xywh → center ``(2,)`` and scale ``(2,)`` (w, h) padded and widened/heightened
    to ``aspect_ratio`` = w / h of the network input."""
    x, y, w, h = (float(v) for v in bbox)
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    w, h = w * padding, h * padding
    if w > h * aspect_ratio:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w, h], dtype=np.float32)


def warp_matrix(center: np.ndarray, scale: np.ndarray, rotation: float, crop_wh: tuple[int, int]) -> np.ndarray:
    """``(2, 3)`` affine taking image pixels to crop pixels: rotate by −rotation about ``center``,
    scale ``scale[0]`` onto the crop width, centre in the crop."""
    s = crop_wh[0] / float(scale[0])
    theta = math.radians(rotation)
    cos, sin = math.cos(theta) * s, math.sin(theta) * s
    linear = np.array([[cos, sin], [-sin, cos]], dtype=np.float64)  # s · R(−θ)
    offset = np.array([crop_wh[0] * 0.5, crop_wh[1] * 0.5]) - linear @ np.asarray(center, float)
    return np.concatenate([linear, offset[:, None]], axis=1)


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(..., 2)`` points through a ``(2, 3)`` affine."""
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def warp_crop(image: np.ndarray, matrix: np.ndarray, crop_wh: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3)`` image → ``(h, w, 3)`` crop through ``matrix`` (OpenCV, bilinear)."""
    return cv2.warpAffine(image, matrix, (int(crop_wh[0]), int(crop_wh[1])), flags=cv2.INTER_LINEAR)


def crop_boxes(image: np.ndarray, boxes: np.ndarray, crop_wh: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person boxes ``(N, 4)`` xywh → unrotated crops ``(N, h, w, 3)`` with centers and scales ``(N, 2)``."""
    aspect = crop_wh[0] / crop_wh[1]
    crops, centers, scales = [], [], []
    for box in boxes:
        center, scale = bbox_to_center_scale(box, aspect)
        crops.append(warp_crop(image, warp_matrix(center, scale, 0.0, crop_wh), crop_wh))
        centers.append(center)
        scales.append(scale)
    return np.stack(crops), np.stack(centers), np.stack(scales)


def crop_to_image(
    keypoints: torch.Tensor, center: torch.Tensor, scale: torch.Tensor, crop_wh: tuple[int, int]
) -> torch.Tensor:
    """Crop pixels ``(N, K, 2)`` of unrotated crops back to the image: ``kp / (w, h) · scale +
    center − scale / 2``; ``center`` / ``scale`` ``(N, 2)``."""
    size = torch.tensor(crop_wh, dtype=keypoints.dtype, device=keypoints.device)
    scale = scale.to(keypoints.dtype).unsqueeze(1)
    return keypoints / size * scale + center.to(keypoints.dtype).unsqueeze(1) - scale * 0.5
