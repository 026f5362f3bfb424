"""Top-down transforms: flip, box → center/scale, warp round trip, crop consistency, augmentation
ranges."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cigpose.data.dataset import read_image
from cigpose.data.metainfo import load_meta
from cigpose.data.transforms import (
    AffineCrop,
    HalfBody,
    HSVJitter,
    PhotometricAlbumentations,
    RandomBoxTransform,
    RandomFlip,
    truncated_normal,
)
from cigpose.topdown.geometry import apply_affine, bbox_to_center_scale, crop_to_image, warp_matrix

INPUT_WH = (192, 256)


def _sample(image: np.ndarray, k: int = 133, seed: int = 0) -> dict:
    h, w = image.shape[:2]
    rng = np.random.default_rng(seed)
    kp = rng.uniform([0, 0], [w - 1, h - 1], size=(k, 2)).astype(np.float32)
    weights = (rng.random(k) > 0.3).astype(np.float32)
    return {
        "image": image,
        "keypoints": kp,
        "keypoint_weights": weights,
        "center": np.array([w * 0.4, h * 0.6], np.float32),
        "scale": np.array([150, 200], np.float32),
        "rotation": 0.0,
    }


@pytest.fixture(scope="module")
def photo(coco_fixtures: Path) -> np.ndarray:
    return read_image(coco_fixtures / "000000000785.jpg")


def test_flip_twice_is_identity(photo: np.ndarray) -> None:
    flip = RandomFlip(load_meta("coco_wholebody").flip_indices, p=1.0)
    rng = np.random.default_rng(0)
    original = _sample(photo.copy())
    once = flip({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in original.items()}, rng)
    assert not np.array_equal(once["image"], original["image"])
    twice = flip({k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in once.items()}, rng)
    for key in ("image", "keypoint_weights", "center"):
        np.testing.assert_array_equal(twice[key], original[key])
    np.testing.assert_allclose(twice["keypoints"], original["keypoints"], atol=1e-4)


def test_flipped_left_hand_lands_on_right_hand(photo: np.ndarray) -> None:
    meta = load_meta("coco_wholebody")
    left_root, right_root = (
        meta.keypoint_names.index("left_hand_root"),
        meta.keypoint_names.index("right_hand_root"),
    )
    sample = _sample(photo.copy())
    sample["keypoints"][left_root] = [100.0, 200.0]
    sample["keypoints"][right_root] = [400.0, 50.0]
    sample["keypoint_weights"][left_root], sample["keypoint_weights"][right_root] = 1.0, 0.0
    width = photo.shape[1]
    out = RandomFlip(meta.flip_indices, p=1.0)(sample, np.random.default_rng(0))
    np.testing.assert_allclose(out["keypoints"][right_root], [width - 1 - 100.0, 200.0])
    np.testing.assert_allclose(out["keypoints"][left_root], [width - 1 - 400.0, 50.0])
    assert out["keypoint_weights"][right_root] == 1.0 and out["keypoint_weights"][left_root] == 0.0


def test_flip_moves_image_and_keypoint_together() -> None:
    image = np.zeros((40, 60, 3), np.uint8)
    image[7, 11] = 255
    sample = {
        "image": image,
        "keypoints": np.array([[11.0, 7.0]], np.float32),
        "keypoint_weights": np.ones(1, np.float32),
        "center": np.array([30, 20], np.float32),
    }
    out = RandomFlip([0], p=1.0)(sample, np.random.default_rng(0))
    y, x = np.unravel_index(out["image"][..., 0].argmax(), (40, 60))
    np.testing.assert_array_equal(out["keypoints"][0], [x, y])
    assert RandomFlip([0], p=0.0)(dict(sample), np.random.default_rng(0))["image"] is sample["image"]


def test_bbox_to_center_scale_pads_and_fixes_aspect() -> None:
    center, scale = bbox_to_center_scale(np.array([10, 20, 30, 40]), aspect_ratio=0.75)
    np.testing.assert_allclose(center, [25, 40])
    np.testing.assert_allclose(scale, [37.5, 50.0])  # 40·1.25 = 50 high, 0.75 · 50 wide
    center, scale = bbox_to_center_scale(np.array([0, 0, 100, 20]), aspect_ratio=0.75)
    np.testing.assert_allclose(center, [50, 10])
    np.testing.assert_allclose(scale, [125.0, 125.0 / 0.75])  # wide box: height grows


def test_warp_matrix_round_trip_with_crop_to_image() -> None:
    rng = np.random.default_rng(1)
    n, k = 16, 133
    centers = rng.uniform(50, 600, size=(n, 2))
    heights = rng.uniform(20, 500, size=n)
    scales = np.stack([heights * INPUT_WH[0] / INPUT_WH[1], heights], axis=1)
    points = rng.uniform(-100, 700, size=(n, k, 2))
    crops = np.stack(
        [
            points[i] @ warp_matrix(centers[i], scales[i], 0.0, INPUT_WH)[:, :2].T
            + warp_matrix(centers[i], scales[i], 0.0, INPUT_WH)[:, 2]
            for i in range(n)
        ]
    )
    back = crop_to_image(torch.from_numpy(crops), torch.from_numpy(centers), torch.from_numpy(scales), INPUT_WH)
    np.testing.assert_allclose(back.numpy(), points, atol=1e-4, rtol=0)
    # the box centre goes to the crop centre, the box corners to the crop corners
    m = warp_matrix(np.array([300.0, 200.0]), np.array([96.0, 128.0]), 0.0, INPUT_WH)
    corners = np.array([[300 - 48, 200 - 64], [300, 200], [300 + 48, 200 + 64]], np.float32)
    np.testing.assert_allclose(apply_affine(corners, m), [[0, 0], [96, 128], [192, 256]], atol=1e-3)


def test_warp_matrix_rotation_by_90_degrees() -> None:
    center, scale = np.array([300.0, 200.0]), np.array([96.0, 128.0])  # 2 crop px per image px
    m = warp_matrix(center, scale, 90.0, INPUT_WH)
    points = center + np.array([[10.0, 0.0], [0.0, -10.0], [0.0, 0.0]])  # right of, above, at centre
    moved = apply_affine(points, m)
    # +90° turns the content counter-clockwise on screen: right → up, up → left
    np.testing.assert_allclose(moved, [[96, 128 - 20], [96 - 20, 128], [96, 128]], atol=1e-4)
    np.testing.assert_allclose(np.linalg.det(m[:, :2]), 4.0)  # no mirroring, scale 2


@pytest.mark.parametrize("rotation", [0.0, 35.0, -80.0])
def test_affine_crop_moves_image_and_keypoints_together(rotation: float) -> None:
    image = np.zeros((300, 400, 3), np.uint8)
    kp = np.array([[170.0, 120.0], [230.0, 180.0]], np.float32)
    for x, y in kp.astype(int):
        cv2.circle(image, (int(x), int(y)), 2, (255, 255, 255), -1)
    sample = {
        "image": image,
        "keypoints": kp.copy(),
        "keypoint_weights": np.ones(2, np.float32),
        "center": np.array([200.0, 150.0], np.float32),
        "scale": np.array([150.0, 200.0], np.float32),
        "rotation": rotation,
    }
    out = AffineCrop(INPUT_WH)(sample)
    assert out["image"].shape == (256, 192, 3) and out["image"].dtype == np.uint8
    for x, y in out["keypoints"]:
        patch = out["image"][int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2, 0]
        assert patch.max() == 255, (x, y, rotation)


def test_random_box_transform_ranges() -> None:
    step = RandomBoxTransform(shift=0.0, shift_prob=1.0, scale=(0.75, 1.25), rotate=60, rotate_prob=1.0)
    rng = np.random.default_rng(0)
    factors, rotations = [], []
    for _ in range(200):
        sample = {
            "center": np.array([100.0, 50.0], np.float32),
            "scale": np.array([30.0, 40.0], np.float32),
            "rotation": 0.0,
        }
        out = step(sample, rng)
        np.testing.assert_array_equal(out["center"], [100.0, 50.0])  # shift 0 (stage 2)
        factors.append(out["scale"][1] / 40.0)
        np.testing.assert_allclose(out["scale"][0] / 30.0, factors[-1], rtol=1e-6)  # aspect kept
        rotations.append(out["rotation"])
    assert 0.75 - 1e-6 <= min(factors) < 0.8 and 1.2 < max(factors) <= 1.25 + 1e-6
    assert -60 <= min(rotations) < -50 and 50 < max(rotations) <= 60
    shifted = RandomBoxTransform(shift=0.16, shift_prob=1.0)
    moves = np.array(
        [
            shifted(
                {
                    "center": np.zeros(2, np.float32),
                    "scale": np.array([100.0, 100.0], np.float32),
                    "rotation": 0.0,
                },
                rng,
            )["center"]
            for _ in range(200)
        ]
    )
    assert np.abs(moves).max() <= 16 + 1e-4 and np.abs(moves).max() > 10


def test_half_body_recentres_on_upper_or_lower_keypoints() -> None:
    k = 17
    kp = np.stack([np.full(k, 100.0), np.linspace(0, 160, k)], axis=1).astype(np.float32)
    upper, lower = np.arange(11), np.arange(11, 17)
    step = HalfBody(upper, lower, aspect_ratio=0.75, p=1.0, upper_prob=1.0)
    sample = {
        "keypoints": kp,
        "keypoint_weights": np.ones(k, np.float32),
        "center": np.array([100.0, 80.0], np.float32),
        "scale": np.array([150.0, 200.0], np.float32),
    }
    out = step(dict(sample), np.random.default_rng(0))
    np.testing.assert_allclose(out["center"], [100.0, 50.0])  # middle of keypoints 0..10 (y 0..100)
    np.testing.assert_allclose(out["scale"], [150.0 * 0.75, 150.0])  # 100 · 1.5 high
    few = dict(sample, keypoint_weights=np.r_[np.ones(5), np.zeros(12)].astype(np.float32))
    assert step(few, np.random.default_rng(0))["center"][1] == 80.0  # < 9 labelled: unchanged


def test_photometric_steps_are_seeded_and_keep_format(photo: np.ndarray) -> None:
    crop = cv2.resize(photo, INPUT_WH)
    hsv = HSVJitter()
    outs = [hsv({"image": crop.copy()}, np.random.default_rng(s))["image"] for s in range(6)]
    assert all(o.shape == crop.shape and o.dtype == np.uint8 for o in outs)
    assert any(not np.array_equal(o, crop) for o in outs)
    dropout = PhotometricAlbumentations(blur_p=0.0, median_blur_p=0.0, dropout_p=1.0)
    a = dropout({"image": crop.copy()}, np.random.default_rng(3))["image"]
    b = dropout({"image": crop.copy()}, np.random.default_rng(3))["image"]
    np.testing.assert_array_equal(a, b)  # same generator → same hole
    hole = (a != crop).any(-1)
    ys, xs = np.nonzero(hole)
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert 0.2 * 256 - 1 <= height <= 0.4 * 256 + 1 and 0.2 * 192 - 1 <= width <= 0.4 * 192 + 1
    off = PhotometricAlbumentations(blur_p=0.0, median_blur_p=0.0, dropout_p=0.0)
    np.testing.assert_array_equal(off({"image": crop.copy()}, np.random.default_rng(3))["image"], crop)


def test_box_factors_are_truncated_not_clipped_normals() -> None:
    rng = np.random.default_rng(0)
    draws = truncated_normal(rng, 20000)
    assert np.abs(draws).max() < 1.0  # redrawn: no mass piled on the bounds
    # std of N(0, 1) truncated to [-1, 1] is 0.5396 (clipping instead would give 0.718)
    assert abs(draws.std() - 0.5396) < 0.01 and abs(draws.mean()) < 0.02
    step = RandomBoxTransform(shift=0.0, scale=(0.5, 1.5), rotate=90, rotate_prob=1.0)
    factors = np.array(
        [
            step({"center": np.zeros(2), "scale": np.ones(2, np.float32), "rotation": 0.0}, rng)["scale"][0]
            for _ in range(500)
        ]
    )
    assert ((factors > 0.5) & (factors < 1.5)).all() and abs(factors.std() - 0.5396 * 0.5) < 0.03


def test_half_body_centres_on_the_keypoint_mean_and_ignores_face_and_hands() -> None:
    meta = load_meta("coco_wholebody")
    k = meta.num_keypoints
    kp = np.zeros((k, 2), np.float32)
    kp[:11] = [[100.0, 10.0]] * 8 + [[100.0, 40.0]] * 3  # upper body: mean y 18.18, extent 30
    kp[11:23] = [[100.0, 200.0]] * 12
    kp[91:] = [[400.0, 400.0]]  # hands far away: not part of the half-body box
    sample = {
        "keypoints": kp,
        "keypoint_weights": np.ones(k, np.float32),
        "center": np.array([100.0, 100.0], np.float32),
        "scale": np.array([150.0, 200.0], np.float32),
    }
    step = HalfBody(meta.upper_body, meta.lower_body, aspect_ratio=0.75, p=1.0, upper_prob=1.0)
    out = step(sample, np.random.default_rng(0))
    np.testing.assert_allclose(out["center"], [100.0, (8 * 10 + 3 * 40) / 11], rtol=1e-6)
    np.testing.assert_allclose(out["scale"], [45.0 * 0.75, 45.0])  # 30 · 1.5 high
