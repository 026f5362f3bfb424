"""One synthetic person: 133 COCO-WholeBody keypoints from a random articulated pose.

Coordinates are image pixels. "Left" is the person's left: a person facing the camera has it
on the image's right. Everything is vectorised templates + a few joint angles.
"""

from __future__ import annotations

import numpy as np

# iBUG-68 face template in a unit face box centred at the nose tip (x right, y down).
_JAW = np.stack([np.linspace(-0.5, 0.5, 17), 0.05 + 0.45 * np.sqrt(1 - np.linspace(-1, 1, 17) ** 2)], 1)
_BROW_R = np.stack([np.linspace(-0.4, -0.1, 5), [-0.30, -0.36, -0.38, -0.36, -0.32]], 1)
_BROW_L = np.stack([np.linspace(0.1, 0.4, 5), [-0.32, -0.36, -0.38, -0.36, -0.30]], 1)
_NOSE = np.concatenate([np.stack([np.zeros(4), np.linspace(-0.25, -0.02, 4)], 1),
                        np.stack([np.linspace(-0.1, 0.1, 5), [0.04, 0.06, 0.07, 0.06, 0.04]], 1)])


def _eye(cx: float) -> np.ndarray:
    t = np.array([np.pi, 0.75 * np.pi, 0.25 * np.pi, 0.0, -0.25 * np.pi, -0.75 * np.pi])
    return np.stack([cx + 0.1 * np.cos(t), -0.2 - 0.04 * np.sin(t)], 1)


def _mouth() -> np.ndarray:
    t_out = np.linspace(np.pi, -np.pi, 13)[:-1]
    outer = np.stack([0.2 * np.cos(t_out), 0.2 + 0.07 * np.sin(-t_out)], 1)
    t_in = np.linspace(np.pi, -np.pi, 9)[:-1]
    inner = np.stack([0.12 * np.cos(t_in), 0.2 + 0.03 * np.sin(-t_in)], 1)
    return np.concatenate([outer, inner])


FACE = np.concatenate([_JAW, _BROW_R, _BROW_L, _NOSE, _eye(-0.22), _eye(0.22), _mouth()])  # (68, 2)
assert FACE.shape == (68, 2)


def _rotate(v: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return v @ np.array([[c, s], [-s, c]])


def hand(wrist: np.ndarray, direction: float, size: float, side: float, rng: np.random.Generator) -> np.ndarray:
    """21 points: wrist root, then thumb, index, middle, ring, pinky (4 joints each, base → tip)."""
    spread = np.array([-0.9, -0.35, 0.0, 0.3, 0.6]) * side
    lengths = np.array([0.55, 0.8, 0.85, 0.8, 0.65]) * size
    curl = rng.uniform(0, 0.5)
    points = [wrist]
    for finger in range(5):
        angle = direction + spread[finger]
        base = wrist + 0.45 * size * np.array([np.cos(angle), np.sin(angle)])
        for joint in range(1, 5):
            a = angle + curl * joint * 0.3 * side
            points.append(base + (joint - 1) / 3 * lengths[finger] * np.array([np.cos(a), np.sin(a)]))
    return np.asarray(points)


def random_person(center_x: float, top: float, height: float, rng: np.random.Generator) -> np.ndarray:
    """``(133, 2)`` keypoints of an upright person of ``height`` pixels whose head top is at ``top``."""
    u = height / 8.0  # head-height units
    neck = np.array([center_x, top + 1.3 * u])
    shoulder_w = rng.uniform(0.85, 1.1) * u
    sh_l, sh_r = neck + [shoulder_w, 0.2 * u], neck + [-shoulder_w, 0.2 * u]
    hip_c = neck + [rng.uniform(-0.2, 0.2) * u, 2.9 * u]
    hip_l, hip_r = hip_c + [0.6 * u, 0], hip_c + [-0.6 * u, 0]

    def limb(start: np.ndarray, angle: float, length: float) -> np.ndarray:
        return start + length * np.array([np.sin(angle), np.cos(angle)])

    # angles from straight down; positive swings towards +x
    elb_l = limb(sh_l, rng.uniform(-0.3, 2.2), 1.4 * u)
    elb_r = limb(sh_r, -rng.uniform(-0.3, 2.2), 1.4 * u)
    wri_l = limb(elb_l, rng.uniform(-0.6, 2.6), 1.2 * u)
    wri_r = limb(elb_r, -rng.uniform(-0.6, 2.6), 1.2 * u)
    kne_l = limb(hip_l, rng.uniform(-0.15, 0.6), 1.9 * u)
    kne_r = limb(hip_r, -rng.uniform(-0.15, 0.6), 1.9 * u)
    ank_l = limb(kne_l, rng.uniform(-0.3, 0.3), 1.8 * u)
    ank_r = limb(kne_r, -rng.uniform(-0.3, 0.3), 1.8 * u)
    head_c = neck + [rng.uniform(-0.1, 0.1) * u, -0.75 * u]
    face_size = 1.25 * u
    face = head_c + _rotate(FACE, rng.uniform(-0.15, 0.15)) * face_size
    nose = face[30]
    eye_l, eye_r = face[42:48].mean(0), face[36:42].mean(0)
    ear_l, ear_r = head_c + [0.55 * u, -0.05 * u], head_c + [-0.55 * u, -0.05 * u]
    body = np.stack([nose, eye_l, eye_r, ear_l, ear_r, sh_l, sh_r, elb_l, elb_r, wri_l, wri_r,
                     hip_l, hip_r, kne_l, kne_r, ank_l, ank_r])
    foot_len = 0.55 * u
    feet = np.stack([ank_l + [0.25 * foot_len, 0.45 * u], ank_l + [0.75 * foot_len, 0.35 * u], ank_l + [-0.2 * u, 0.3 * u],
                     ank_r + [-0.25 * foot_len, 0.45 * u], ank_r + [-0.75 * foot_len, 0.35 * u], ank_r + [0.2 * u, 0.3 * u]])
    hand_size = 0.75 * u
    dir_l = np.arctan2(*(wri_l - elb_l)[::-1])
    dir_r = np.arctan2(*(wri_r - elb_r)[::-1])
    left = hand(wri_l, dir_l, hand_size, 1.0, rng)
    right = hand(wri_r, dir_r, hand_size, -1.0, rng)
    return np.concatenate([body, feet, face, left, right]).astype(np.float32)
