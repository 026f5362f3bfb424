"""Top-down transforms (SPEC §5) as small steps on one instance's sample dict.

A sample holds ``image`` (H, W, 3) uint8 RGB, ``keypoints`` (K, 2) float32 image pixels,
``keypoint_weights`` (K,) float32 (1 = labelled, 0 = not), ``center`` (2,), ``scale`` (2,) (box w, h
after padding) and ``rotation`` (degrees). After ``AffineCrop`` the image is the network crop and
keypoints are in crop pixels. Every keypoint operation is vectorised over K.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from cigpose.codec.simcc import SimCCCodec
from cigpose.codec.udp_heatmap import UDPHeatmapCodec
from cigpose.topdown.geometry import apply_affine, warp_crop, warp_matrix

Sample = dict[str, Any]


class RandomFlip:
    """Mirror the image horizontally with probability ``p``; keypoints swap with their partners."""

    def __init__(self, flip_indices: Sequence[int], p: float = 0.5):
        self.flip_indices = np.asarray(flip_indices)
        self.p = p

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        width = sample["image"].shape[1]
        sample["image"] = cv2.flip(sample["image"], 1)
        kp = sample["keypoints"][self.flip_indices].copy()
        kp[:, 0] = width - 1 - kp[:, 0]
        sample["keypoints"] = kp
        sample["keypoint_weights"] = sample["keypoint_weights"][self.flip_indices]
        sample["center"] = np.array([width - 1 - sample["center"][0], sample["center"][1]], np.float32)
        return sample


class HalfBody:
    """With probability ``p``, re-centre the box on the labelled upper- or lower-body keypoints
    (MMPose's ``RandomHalfBody``): needs ``min_total`` labelled keypoints; the upper body is
    preferred with ``upper_prob`` when both halves have enough; the new box is centred on the mean
    of the chosen keypoints, their extent ×``padding``, widened to ``aspect_ratio``."""

    def __init__(
        self,
        upper: Sequence[int],
        lower: Sequence[int],
        aspect_ratio: float,
        p: float = 0.3,
        min_total: int = 9,
        min_upper: int = 2,
        min_lower: int = 3,
        padding: float = 1.5,
        upper_prob: float = 0.7,
    ):
        self.upper, self.lower = np.asarray(upper, np.int64), np.asarray(lower, np.int64)
        self.aspect_ratio, self.p, self.padding = aspect_ratio, p, padding
        self.min_total, self.min_upper, self.min_lower = min_total, min_upper, min_lower
        self.upper_prob = upper_prob

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        labelled = sample["keypoint_weights"] > 0
        if labelled.sum() < self.min_total or rng.random() >= self.p:
            return sample
        up = self.upper[labelled[self.upper]]
        low = self.lower[labelled[self.lower]]
        enough_up, enough_low = len(up) >= self.min_upper, len(low) >= self.min_lower
        prefer_upper = rng.random() < self.upper_prob
        if not (enough_up or enough_low):
            return sample
        chosen = up if enough_up and (prefer_upper or not enough_low) else low
        points = sample["keypoints"][chosen]
        w, h = (points.max(0) - points.min(0)) * self.padding
        if w > h * self.aspect_ratio:
            h = w / self.aspect_ratio
        else:
            w = h * self.aspect_ratio
        sample["center"] = points.mean(0).astype(np.float32)
        sample["scale"] = np.array([w, h], dtype=np.float32)
        return sample


def truncated_normal(rng: np.random.Generator, size: int) -> np.ndarray:
    """``(size,)`` standard-normal draws restricted to [-1, 1] (redrawn, not clipped, as SciPy's
    ``truncnorm`` in MMPose's ``RandomBBoxTransform``)."""
    out = rng.normal(size=size)
    outside = np.abs(out) > 1
    while outside.any():
        out[outside] = rng.normal(size=int(outside.sum()))
        outside = np.abs(out) > 1
    return out


class RandomBoxTransform:
    """Random shift (prob ``shift_prob``, ±``shift`` of the box size), scale (×[lo, hi], always)
    and rotation (±``rotate`` degrees, prob ``rotate_prob``); each factor a normal truncated to
    [-1, 1] mapped onto its range, as MMPose's ``RandomBBoxTransform``."""

    def __init__(
        self,
        shift: float = 0.16,
        shift_prob: float = 0.3,
        scale: Sequence[float] = (0.6, 1.4),
        rotate: float = 80.0,
        rotate_prob: float = 0.6,
    ):
        self.shift, self.shift_prob = shift, shift_prob
        self.scale_range = tuple(scale)
        self.rotate, self.rotate_prob = rotate, rotate_prob

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        offset, factor, angle = np.split(truncated_normal(rng, 4), [2, 3])
        scale = sample["scale"]
        if self.shift > 0 and rng.random() < self.shift_prob:
            sample["center"] = (sample["center"] + offset * self.shift * scale).astype(np.float32)
        lo, hi = self.scale_range
        sample["scale"] = (scale * (factor[0] * (hi - lo) / 2 + (hi + lo) / 2)).astype(np.float32)
        if rng.random() < self.rotate_prob:
            sample["rotation"] = float(angle[0] * self.rotate)
        return sample


class AffineCrop:
    """Warp the image to the input size (OpenCV, bilinear) and move keypoints with it; keypoints
    falling outside the crop keep their place but get weight 0 (at encoding)."""

    def __init__(self, crop_wh: tuple[int, int]):
        self.crop_wh = (int(crop_wh[0]), int(crop_wh[1]))

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        matrix = warp_matrix(sample["center"], sample["scale"], sample.get("rotation", 0.0), self.crop_wh)
        sample["image"] = warp_crop(sample["image"], matrix, self.crop_wh)
        sample["keypoints"] = apply_affine(sample["keypoints"], matrix)
        return sample


class HSVJitter:
    """YOLOX-style HSV augmentation: random gains on a random subset of H, S, V."""

    def __init__(self, hue: int = 5, saturation: int = 30, value: int = 30):
        self.deltas = np.array([hue, saturation, value], dtype=np.float32)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        gains = rng.uniform(-1, 1, 3) * self.deltas * rng.integers(0, 2, 3)
        if not gains.any():
            return sample
        hue, sat, val = cv2.split(cv2.cvtColor(sample["image"], cv2.COLOR_RGB2HSV))
        x = np.arange(256, dtype=np.int16)  # per-channel lookup tables: 3x faster than int16 maths
        luts = [
            ((x + int(gains[0])) % 180).astype(np.uint8),
            np.clip(x + int(gains[1]), 0, 255).astype(np.uint8),
            np.clip(x + int(gains[2]), 0, 255).astype(np.uint8),
        ]
        hsv = cv2.merge([cv2.LUT(c, lut) for c, lut in zip((hue, sat, val), luts, strict=True)])
        sample["image"] = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        return sample


class PhotometricAlbumentations:
    """Blur (p 0.1), MedianBlur (p 0.1), CoarseDropout (one hole of 0.2–0.4 of each side, p
    ``dropout_p``) from albumentations. Seeded per sample through the sample's generator."""

    def __init__(self, blur_p: float = 0.1, median_blur_p: float = 0.1, dropout_p: float = 1.0):
        self.dropout_p = dropout_p
        self.pipeline = A.Compose(
            [
                A.Blur(p=blur_p),
                A.MedianBlur(p=median_blur_p),
                A.CoarseDropout(
                    num_holes_range=(1, 1), hole_height_range=(0.2, 0.4), hole_width_range=(0.2, 0.4), p=dropout_p
                ),
            ]
        )

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        self.pipeline.set_random_seed(int(rng.integers(0, 2**31 - 1)))
        sample["image"] = self.pipeline(image=sample["image"])["image"]
        return sample


class EncodeTargets:
    """The codec's training targets (SimCC vectors or UDP heatmaps); a keypoint outside the crop
    gets weight 0."""

    def __init__(self, codec: SimCCCodec | UDPHeatmapCodec):
        self.codec = codec

    def __call__(self, sample: Sample, rng: np.random.Generator | None = None) -> Sample:
        w, h = self.codec.crop_wh
        kp = sample["keypoints"]
        inside = (kp[:, 0] >= 0) & (kp[:, 0] <= w - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= h - 1)
        weights = np.where(inside, sample["keypoint_weights"], 0.0).astype(np.float32)
        sample.update(self.codec.targets(kp, weights))
        return sample


class Compose:
    """Apply steps in order with one random generator."""

    def __init__(self, steps: Sequence[Any]):
        self.steps = list(steps)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for step in self.steps:
            sample = step(sample, rng)
        return sample
