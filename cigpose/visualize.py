"""Draw keypoints and skeletons (OpenCV) — for prediction overlays and augmentation grids."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

# One colour per coarse part (RGB), shared by every drawing.
PART_COLOURS = {
    "face": (255, 170, 60),
    "torso": (80, 200, 255),
    "arms": (90, 230, 90),
    "hands": (250, 90, 200),
    "legs": (60, 120, 255),
    "feet": (240, 240, 80),
}


def keypoint_colours(num_keypoints: int, parts: dict[str, np.ndarray] | None) -> np.ndarray:
    """``(K, 3)`` uint8 colour per keypoint from its coarse part (grey if none)."""
    colours = np.full((num_keypoints, 3), 200, np.uint8)
    for name, indices in (parts or {}).items():
        colours[np.asarray(indices, int)] = PART_COLOURS.get(name, (200, 200, 200))
    return colours


def draw_pose(
    image: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray | None = None,
    skeleton: np.ndarray | None = None,
    colours: np.ndarray | None = None,
    threshold: float = 0.3,
    radius: int = 2,
) -> np.ndarray:
    """Overlay one pose on an RGB ``(H, W, 3)`` uint8 image (a copy is returned).

    Args:
        keypoints: ``(K, 2)`` pixel coordinates.
        scores: ``(K,)`` confidences or visibilities; keypoints at or below ``threshold`` are skipped
            and the rest are drawn more opaque the more confident they are.
        skeleton: ``(L, 2)`` links. colours: ``(K, 3)``.
    """
    out = image.copy()
    k = len(keypoints)
    scores = np.ones(k) if scores is None else np.asarray(scores, float)
    colours = keypoint_colours(k, None) if colours is None else colours
    shown = (scores > threshold) & np.isfinite(keypoints).all(1)
    points = np.round(np.nan_to_num(keypoints)).astype(int)
    for a, b in np.asarray(skeleton if skeleton is not None else np.zeros((0, 2)), int):
        if shown[a] and shown[b]:
            cv2.line(
                out,
                tuple(points[a]),
                tuple(points[b]),
                tuple(int(c) for c in colours[a]),
                1,
                cv2.LINE_AA,
            )
    for i in np.flatnonzero(shown):
        cv2.circle(
            out, tuple(points[i]), radius, tuple(int(c) for c in colours[i]), -1, cv2.LINE_AA
        )
    return out


def image_grid(
    images: Sequence[np.ndarray], columns: int | None = None, pad: int = 2
) -> np.ndarray:
    """Tile equally sized RGB images into one ``(rows·H, cols·W, 3)`` image."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    h, w = images[0].shape[:2]
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, columns)
        grid[
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + c * (w + pad) : pad + c * (w + pad) + w,
        ] = img
    return grid
