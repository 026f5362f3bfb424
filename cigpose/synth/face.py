"""A 68-landmark iBUG/300-W face template whose contours the renderer draws through the landmarks.

Template units: face width 1 (jaw half-width 0.5), x to the image right of a face looking at the
camera (so the person's right side has x < 0), y down, origin near the nose tip. Landmarks 0-16
run along the jaw from the image left (the person's right) to the image right.
"""

from __future__ import annotations

import numpy as np

# Index groups (0-based iBUG-68) the renderer draws as lines or filled polygons.
JAW = np.arange(0, 17)
RIGHT_BROW = np.arange(17, 22)  # the person's right brow (image left), outer to inner
LEFT_BROW = np.arange(22, 27)
NOSE_BRIDGE = np.arange(27, 31)
NOSTRILS = np.arange(31, 36)
RIGHT_EYE = np.arange(36, 42)  # the person's right eye (image left), closed contour
LEFT_EYE = np.arange(42, 48)
OUTER_LIPS = np.arange(48, 60)
INNER_LIPS = np.arange(60, 68)

# Ears (template points for body keypoints left_ear, right_ear) and the forehead arc that closes
# the face outline over the top (from jaw point 16 to jaw point 0).
EAR_POINTS = np.array([[0.55, -0.12], [-0.55, -0.12]])
_FOREHEAD_ANGLES = np.linspace(0.0, -np.pi, 11)[1:-1]
FOREHEAD = np.stack([0.5 * np.cos(_FOREHEAD_ANGLES), -0.1 + 0.42 * np.sin(_FOREHEAD_ANGLES)], 1)
EAR_AXES = np.array([0.08, 0.12])
HAIR_CENTER = np.array([0.0, -0.2])
HAIR_AXES = np.array([0.58, 0.47])

# How far each landmark stands out of the face cylinder (the nose protrudes), for yaw.
_PROTRUSION = np.zeros(68)
_PROTRUSION[27:31] = [0.06, 0.1, 0.14, 0.18]
_PROTRUSION[31:36] = [0.08, 0.1, 0.12, 0.1, 0.08]
_PROTRUSION[48:68] = 0.04


def face_template(eye_open: float, mouth_open: float, smile: float, brow_raise: float) -> np.ndarray:
    """``(68, 2)`` landmarks of a frontal face in template units.

    Args:
        eye_open: eyelid half-opening, ~0.02 (squint) to 0.06.
        mouth_open: gap between the lips, 0 to ~0.08.
        smile: upward shift of the mouth corners, 0 to ~0.04.
        brow_raise: upward shift of the brows, 0 to ~0.05.
    """
    angles = np.linspace(np.pi, 0.0, 17)  # through pi/2 = chin
    jaw = np.stack([0.5 * np.cos(angles), -0.1 + 0.65 * np.sin(angles)], 1)

    t = np.linspace(0.0, 1.0, 5)
    brow_r = np.stack([-0.40 + 0.30 * t, -0.31 - brow_raise - 0.05 * np.sin(np.pi * (0.15 + 0.7 * t))], 1)
    brow_l = brow_r[::-1] * [-1.0, 1.0]

    bridge = np.stack([np.zeros(4), np.linspace(-0.22, 0.05, 4)], 1)
    nostrils = np.array([[-0.10, 0.10], [-0.05, 0.12], [0.0, 0.13], [0.05, 0.12], [0.10, 0.10]])

    h = eye_open
    eye_r = np.array([[-0.33, 0.0], [-0.26, -h], [-0.18, -h], [-0.11, 0.0], [-0.18, h], [-0.26, h]]) + [0.0, -0.17]
    eye_l = eye_r[[3, 2, 1, 0, 5, 4]] * [-1.0, 1.0]

    o, s = mouth_open, smile
    outer = np.array([
        [-0.17, 0.30 - s], [-0.11, 0.26], [-0.04, 0.245], [0.0, 0.255], [0.04, 0.245], [0.11, 0.26],
        [0.17, 0.30 - s], [0.11, 0.35 + o], [0.05, 0.37 + o], [0.0, 0.375 + o], [-0.05, 0.37 + o],
        [-0.11, 0.35 + o],
    ])  # fmt: skip
    inner = np.array([
        [-0.13, 0.30 - s], [-0.05, 0.285], [0.0, 0.29], [0.05, 0.285], [0.13, 0.30 - s],
        [0.05, 0.31 + o], [0.0, 0.315 + o], [-0.05, 0.31 + o],
    ])  # fmt: skip
    return np.concatenate([jaw, brow_r, brow_l, bridge, nostrils, eye_r, eye_l, outer, inner])


def yaw_project(points: np.ndarray, yaw: float, protrusion: np.ndarray | float = 0.0) -> np.ndarray:
    """Turn template points ``(N, 2)`` about the vertical axis by ``yaw`` (radians, > 0 turns the
    face toward the image right): points sit on a cylinder of radius 0.5 plus ``protrusion``."""
    depth = np.sqrt(np.clip(0.25 - points[:, 0] ** 2, 0.0, None)) + protrusion
    x = points[:, 0] * np.cos(yaw) + depth * np.sin(yaw)
    return np.stack([x, points[:, 1]], 1)


def face_points(
    eye_open: float, mouth_open: float, smile: float, brow_raise: float, yaw: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Template-unit landmarks ``(68, 2)``, ears ``(2, 2)`` (left, right) and the face outline
    polygon ``(26, 2)`` (jaw then forehead arc), turned by ``yaw``."""
    landmarks = yaw_project(face_template(eye_open, mouth_open, smile, brow_raise), yaw, _PROTRUSION)
    ears = yaw_project(EAR_POINTS, yaw, -0.05)
    outline = np.concatenate([landmarks[JAW], yaw_project(FOREHEAD, yaw)])
    return landmarks, ears, outline
