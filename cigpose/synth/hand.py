"""21-joint hands (COCO-WholeBody order: root, then thumb, index, middle, ring, pinky, base to tip).

Hand frame: ``a`` along the hand (0 at the wrist, ~1 at the middle fingertip), ``b`` across it
toward the thumb; one unit is the hand length. Palms face the camera, so a hand's thumb side is
fixed by its chirality; ``hand_frame`` builds the image-space axes from the forearm direction.
"""

from __future__ import annotations

import numpy as np

# Base joints (a, b) of thumb (carpometacarpal) and the four fingers (knuckles).
BASES = np.array([[0.08, 0.13], [0.42, 0.15], [0.45, 0.05], [0.43, -0.05], [0.39, -0.14]])
SEGMENTS = np.array([
    [0.17, 0.14, 0.12],  # thumb
    [0.21, 0.13, 0.10],  # index
    [0.23, 0.15, 0.11],  # middle
    [0.22, 0.14, 0.10],  # ring
    [0.17, 0.11, 0.09],  # pinky
])  # fmt: skip
FAN = np.array([0.0, 0.14, 0.02, -0.10, -0.24])  # finger angle toward the thumb side, x spread
FLEX = np.array([[0.6, 1.4, 2.0]] + [[1.3, 2.8, 3.8]] * 4)  # cumulative joint flexion at curl 1
THUMB_BEND = np.array([0.0, -0.15, -0.3])  # the thumb turns back toward the fingers
FINGER_RADIUS = np.array([0.05, 0.045, 0.045, 0.043, 0.038])  # drawn half-width per finger

# Palm outline (a, b), from the wrist's pinky side round to its thumb side.
PALM = np.array([
    [0.02, -0.11], [0.39, -0.19], [0.44, -0.05], [0.46, 0.05], [0.43, 0.19], [0.14, 0.19],
    [0.02, 0.10],
])  # fmt: skip


def hand_frame(direction: np.ndarray, side_sign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axes ``u`` (along the hand) and ``t`` (toward the thumb), each ``(S, 2)``, from hand
    directions ``(S, 2)`` and the sides' signs ``(S,)`` (+1 left, -1 right): with the arm
    hanging down, the thumb points away from the body (the person's left is the image right)."""
    u = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    t = side_sign[:, None] * np.stack([u[:, 1], -u[:, 0]], 1)
    return u, t


def hand_joints_ab(spread: float, curl: np.ndarray, thumb_angle: float) -> np.ndarray:
    """``(21, 2)`` joints in the hand frame. ``curl`` ``(5,)`` in [0, 1] per digit (thumb first)
    shortens the projected segments as the finger folds toward the camera."""
    angle = FAN * spread
    angle[0] = thumb_angle
    seg_angle = np.repeat(angle[:, None], 3, axis=1)
    seg_angle[0] += THUMB_BEND
    projected = SEGMENTS * np.cos(FLEX * curl[:, None])  # (5, 3)
    steps = projected[..., None] * np.stack([np.cos(seg_angle), np.sin(seg_angle)], -1)  # (5, 3, 2)
    chain = BASES[:, None, :] + np.concatenate([np.zeros((5, 1, 2)), np.cumsum(steps, 1)], 1)  # (5, 4, 2)
    return np.concatenate([np.zeros((1, 2)), chain.reshape(20, 2)])


def to_image(points_ab: np.ndarray, wrist: np.ndarray, u: np.ndarray, t: np.ndarray, length: float) -> np.ndarray:
    """Hand-frame points ``(..., N, 2)`` → image ``(..., N, 2)`` for wrists/axes ``(..., 2)``."""
    a, b = points_ab[..., 0:1], points_ab[..., 1:2]
    return wrist[..., None, :] + length * (a * u[..., None, :] + b * t[..., None, :])
