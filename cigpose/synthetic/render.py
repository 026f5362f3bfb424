"""Draw a synthetic person (OpenCV) so that each keypoint lies on a visible drawn structure."""

from __future__ import annotations

import cv2
import numpy as np

from cigpose.graphs import load_graph

SKIN = (224, 182, 150)
LIMBS = [(5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12), (5, 11), (6, 12)]
FACE_LINES = [list(range(0, 17)), list(range(17, 22)), list(range(22, 27)), list(range(27, 31)), list(range(31, 36)),
              list(range(36, 42)) + [36], list(range(42, 48)) + [42], list(range(48, 60)) + [48],
              list(range(60, 68)) + [60]]


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def background(size: tuple[int, int], rng: np.random.Generator, clutter: float) -> np.ndarray:
    """Gradient + noise + shapes; ``clutter`` ∈ [0, 1] adds limb-like strokes."""
    w, h = size
    top, bottom = rng.integers(40, 220, 3), rng.integers(40, 220, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    image = (top * (1 - t) + bottom * t).repeat(w, 1).astype(np.float32)
    image += rng.normal(0, 6, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 6)):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(image, _pt(rng.uniform(0, [w, h])), int(rng.integers(5, 30)), colour, -1)
    for _ in range(int(round(clutter * 6))):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        a, b = rng.uniform(0, [w, h]), rng.uniform(0, [w, h])
        cv2.line(image, _pt(a), _pt(a + (b - a) * 0.3), colour, int(rng.integers(4, 10)), cv2.LINE_AA)
    return image


def draw_person(image: np.ndarray, kp: np.ndarray, rng: np.random.Generator) -> None:
    """Paint a person in place: clothes (torso, limbs), head, face contours, hands, feet."""
    u = np.linalg.norm(kp[5] - kp[6]) / 2.0
    shirt = tuple(int(c) for c in rng.integers(20, 235, 3))
    trousers = tuple(int(c) for c in rng.integers(20, 235, 3))
    torso = np.array([kp[5], kp[6], kp[12], kp[11]], np.int32)
    cv2.fillConvexPoly(image, torso, shirt, cv2.LINE_AA)
    for i, (a, b) in enumerate(LIMBS[:8]):
        colour = shirt if i < 4 else trousers
        cv2.line(image, _pt(kp[a]), _pt(kp[b]), colour, max(2, int(0.45 * u)), cv2.LINE_AA)
    for j in (7, 8, 9, 10, 13, 14, 15, 16):  # joints: darker dots
        cv2.circle(image, _pt(kp[j]), max(2, int(0.18 * u)), (30, 30, 30), -1, cv2.LINE_AA)
    face = kp[23:91]
    centre = face.mean(0)
    radii = (face.max(0) - face.min(0)) * [0.62, 0.62]
    cv2.ellipse(image, _pt(centre), (int(radii[0]), int(radii[1])), 0, 0, 360, SKIN, -1, cv2.LINE_AA)
    for line in FACE_LINES:
        cv2.polylines(image, [face[line].round().astype(np.int32)], False, (60, 30, 20), 1, cv2.LINE_AA)
    for ear in (3, 4):
        cv2.circle(image, _pt(kp[ear]), max(2, int(0.12 * u)), (200, 150, 120), -1, cv2.LINE_AA)
    for hand in (kp[91:112], kp[112:133]):
        cv2.circle(image, _pt(hand[0]), max(2, int(0.12 * u)), SKIN, -1, cv2.LINE_AA)
        for f in range(5):
            chain = np.concatenate([hand[:1], hand[1 + 4 * f: 5 + 4 * f]])
            cv2.polylines(image, [chain.round().astype(np.int32)], False, (205, 150, 120), 2, cv2.LINE_AA)
            cv2.circle(image, _pt(hand[4 + 4 * f]), 2, (120, 40, 40), -1, cv2.LINE_AA)
    for foot in (kp[17:20], kp[20:23]):
        cv2.fillConvexPoly(image, foot.round().astype(np.int32), (40, 40, 40), cv2.LINE_AA)


def occlude(image: np.ndarray, kp: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Draw occluders over random body regions; returns ``(K,)`` bool: keypoints now hidden."""
    hidden = np.zeros(len(kp), bool)
    for _ in range(rng.binomial(2, strength)):
        anchor = kp[rng.integers(0, 17)]
        half = rng.uniform(8, 22, 2)
        lo, hi = anchor - half + rng.uniform(-6, 6, 2), anchor + half + rng.uniform(-6, 6, 2)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.rectangle(image, _pt(lo), _pt(hi), colour, -1)
        hidden |= ((kp >= lo) & (kp <= hi)).all(1)
    return hidden


SKELETON = load_graph("coco_wholebody").links
