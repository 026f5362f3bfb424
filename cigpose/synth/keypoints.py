"""The generator's own COCO-WholeBody v1.0 keypoint table (133), its drawn parts, and which drawn
part may show each keypoint.

Kept independent of ``cigpose.data.metainfo`` so the tests can cross-check the two tables.
"""

from __future__ import annotations

import numpy as np

BODY_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
FOOT_NAMES = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)  # fmt: skip
HAND_JOINTS = ("root",) + tuple(
    f"{finger}{j}"
    for finger in ("thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger")
    for j in range(1, 5)
)
KEYPOINT_NAMES: tuple[str, ...] = (
    BODY_NAMES
    + FOOT_NAMES
    + tuple(f"face-{i}" for i in range(68))
    + tuple(f"left_hand_{j}" for j in HAND_JOINTS)
    + tuple(f"right_hand_{j}" for j in HAND_JOINTS)
)
NUM_KEYPOINTS = 133

# Index slices of the five COCO-WholeBody annotation arrays.
BODY = slice(0, 17)
FOOT = slice(17, 23)
FACE = slice(23, 91)
LEFT_HAND = slice(91, 112)
RIGHT_HAND = slice(112, 133)

# 1-based COCO body skeleton, as in the COCO(-WholeBody) category.
COCO_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
    [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
]  # fmt: skip

# iBUG-68 mirror partners (face landmark index → partner), from the contour layout in face.py.
_FACE_MIRROR = np.array(
    list(range(16, -1, -1))  # jaw 0..16
    + list(range(26, 16, -1))  # brows 17..26
    + [27, 28, 29, 30, 35, 34, 33, 32, 31]  # nose bridge, nostrils
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]  # eyes
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55]  # outer lips
    + [64, 63, 62, 61, 60, 67, 66, 65]  # inner lips
)


def flip_indices() -> np.ndarray:
    """``(133,)`` index of each keypoint's left/right mirror partner."""
    body = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])
    foot = np.array([3, 4, 5, 0, 1, 2]) + 17
    hands = np.r_[np.arange(112, 133), np.arange(91, 112)]
    return np.concatenate([body, foot, _FACE_MIRROR + 23, hands])


# Drawn parts. A pixel's label in a rendered scene is 0 (background / clutter), OCCLUDER_LABEL,
# CONTEXT_LABEL, or person_label(person, part).
PARTS = (
    "torso", "neck", "head", "face_lines",
    "left_upper_arm", "left_forearm", "right_upper_arm", "right_forearm",
    "left_thigh", "left_shin", "right_thigh", "right_shin",
    "left_foot", "right_foot", "left_hand", "right_hand",
)  # fmt: skip
PART = {name: i for i, name in enumerate(PARTS)}
OCCLUDER_LABEL = 1
CONTEXT_LABEL = 2
_PERSON_BASE = 16


def person_label(person: int, part: int) -> int:
    """Label-map value of ``part`` of person ``person`` (0-based)."""
    return _PERSON_BASE + 16 * person + part


def split_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label values (any shape) → (person index or -1, part index or -1), same shape."""
    is_person = labels >= _PERSON_BASE
    person = np.where(is_person, (labels - _PERSON_BASE) // 16, -1)
    part = np.where(is_person, (labels - _PERSON_BASE) % 16, -1)
    return person, part


def _accepting_parts() -> np.ndarray:
    """``(133, 16)`` bool: which parts, when on top at a keypoint, make it visible. Joints
    between two drawn parts (shoulder, elbow, wrist, hip, knee, ankle) accept both."""
    table = np.zeros((NUM_KEYPOINTS, len(PARTS)), bool)

    def allow(indices, *parts: str) -> None:
        for part in parts:
            table[indices, PART[part]] = True

    allow([0, 1, 2, 3, 4], "head", "face_lines")
    allow(np.arange(23, 91), "head", "face_lines")
    for side, sign in (("left", 0), ("right", 1)):
        allow(5 + sign, "torso", f"{side}_upper_arm")
        allow(7 + sign, f"{side}_upper_arm", f"{side}_forearm")
        allow(9 + sign, f"{side}_forearm", f"{side}_hand")
        allow(11 + sign, "torso", f"{side}_thigh")
        allow(13 + sign, f"{side}_thigh", f"{side}_shin")
        allow(15 + sign, f"{side}_shin", f"{side}_foot")
        allow(np.arange(17, 20) + 3 * sign, f"{side}_foot")
        hand = np.arange(91, 112) + 21 * sign
        allow(hand, f"{side}_hand")
        allow(hand[0], f"{side}_forearm")
    return table


ACCEPTING_PARTS = _accepting_parts()
