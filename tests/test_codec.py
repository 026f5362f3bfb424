"""SimCC codec: encode → decode round trip, out-of-crop weights, score ≤ 0, flip of logits."""

from __future__ import annotations

import numpy as np
import torch

from cigpose.codec.simcc import SimCCCodec, decode_simcc, flip_simcc
from cigpose.data.metainfo import load_meta
from cigpose.data.transforms import EncodeTargets

INPUT_WH = (192, 256)
SIGMA = (4.9, 5.66)


def test_encode_decode_within_one_bin() -> None:
    codec = SimCCCodec(INPUT_WH, SIGMA, split_ratio=2.0)
    assert codec.bins == (384, 512)
    rng = np.random.default_rng(0)
    kp = rng.uniform([0, 0], [INPUT_WH[0] - 1, INPUT_WH[1] - 1], size=(64, 133, 2)).astype(
        np.float32
    )
    tx, ty, w = codec.encode(kp, np.ones((64, 133), np.float32))
    assert tx.shape == (64, 133, 384) and ty.shape == (64, 133, 512)
    assert tx.dtype == np.float32 and (w == 1).all()
    np.testing.assert_allclose(tx.max(-1), 1.0)  # peak 1 on the rounded bin
    coords, scores = decode_simcc(torch.from_numpy(tx), torch.from_numpy(ty), codec.split_ratio)
    err = (coords.numpy() - kp).reshape(-1, 2)
    bin_px = 1.0 / codec.split_ratio
    assert np.abs(err[:, 0]).max() <= bin_px and np.abs(err[:, 1]).max() <= bin_px
    assert np.abs(err).max() <= 0.5 * bin_px + 1e-4  # rounded to the nearest bin
    np.testing.assert_allclose(scores.numpy(), 1.0)


def test_gaussian_width_in_bins() -> None:
    codec = SimCCCodec(INPUT_WH, SIGMA, split_ratio=2.0)
    tx, ty, _ = codec.encode(np.array([[[50.0, 100.0]]], np.float32), np.ones((1, 1), np.float32))
    # one sigma away from the centre bin (100 / 200) the target is exp(-1/2)
    assert tx[0, 0, 100] == 1.0 and ty[0, 0, 200] == 1.0
    np.testing.assert_allclose(tx[0, 0, 105], np.exp(-25 / (2 * 4.9**2)), rtol=1e-5)
    np.testing.assert_allclose(ty[0, 0, 210], np.exp(-100 / (2 * 5.66**2)), rtol=1e-5)


def test_weight_zero_when_keypoint_leaves_the_crop() -> None:
    codec = SimCCCodec(INPUT_WH, SIGMA, split_ratio=2.0)
    w, h = INPUT_WH
    kp = np.array(
        [[10, 10], [-3, 50], [50, h + 2], [w - 1, h - 1], [w + 0.5, 5], [-100, -100], [np.nan, 3]],
        np.float32,
    )
    sample = {"keypoints": kp, "keypoint_weights": np.ones(len(kp), np.float32)}
    out = EncodeTargets(codec)(sample)
    np.testing.assert_array_equal(out["keypoint_weights"], [1, 0, 0, 1, 0, 0, 0])
    assert (out["target_x"][out["keypoint_weights"] == 0] == 0).all()
    assert (out["target_y"][out["keypoint_weights"] == 0] == 0).all()
    assert np.isfinite(out["target_x"]).all() and np.isfinite(out["target_y"]).all()
    # the codec alone drops keypoints whose ±3σ window misses every bin; unlabelled stay 0
    tx, _, weights = codec.encode(kp[None], np.array([[1, 1, 1, 0, 1, 1, 1]], np.float32))
    np.testing.assert_array_equal(weights[0], [1, 1, 1, 0, 1, 0, 0])
    assert (tx[0, 3] == 0).all()


def test_decode_gives_minus_one_where_score_not_positive() -> None:
    simcc_x = torch.full((2, 3, 384), -1.0)
    simcc_y = torch.full((2, 3, 512), -1.0)
    simcc_x[0, 0, 100], simcc_y[0, 0, 50] = 2.0, 3.0  # score 2 → (50, 25)
    simcc_x[0, 1, 10], simcc_y[0, 1, 20] = 4.0, 0.0  # score 0 → −1
    simcc_x[1, 2, 7], simcc_y[1, 2, 9] = 0.5, 0.25  # score 0.25 → (3.5, 4.5)
    coords, scores = decode_simcc(simcc_x, simcc_y, 2.0)
    assert coords.shape == (2, 3, 2) and scores.shape == (2, 3)
    np.testing.assert_allclose(coords[0, 0].numpy(), [50.0, 25.0])
    np.testing.assert_allclose(coords[1, 2].numpy(), [3.5, 4.5])
    assert scores[0, 0] == 2.0 and scores[0, 1] == 0.0 and scores[1, 2] == 0.25
    np.testing.assert_array_equal(coords[0, 1].numpy(), [-1.0, -1.0])
    np.testing.assert_array_equal(coords[1, :2].numpy(), -np.ones((2, 2)))


def test_flip_simcc_twice_is_identity_and_swaps_partners() -> None:
    flip = torch.from_numpy(load_meta("coco_wholebody").flip_indices)
    gen = torch.Generator().manual_seed(0)
    simcc_x, simcc_y = (
        torch.randn(2, 133, 384, generator=gen),
        torch.randn(2, 133, 512, generator=gen),
    )
    fx, fy = flip_simcc(simcc_x, simcc_y, flip)
    assert not torch.equal(fx, simcc_x)
    torch.testing.assert_close(fx[:, 112], simcc_x[:, 91].flip(-1))  # left hand root → right
    torch.testing.assert_close(fy[:, 112], simcc_y[:, 91])
    xx, yy = flip_simcc(fx, fy, flip)
    assert torch.equal(xx, simcc_x) and torch.equal(yy, simcc_y)
