"""Backbone pretraining parts: UDP heatmap codec (encode → decode within 0.1 px, flip), the
heatmap head's shapes, the keypoint MSE on hand-computed values, AIC → COCO keypoint mapping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cigpose.codec.udp_heatmap import UDPHeatmapCodec, flip_heatmaps, heatmap_argmax, heatmap_size_for
from cigpose.data.annotations import AnnotationError, Instances, map_keypoints
from cigpose.data.metainfo import load_meta
from cigpose.losses import HeatmapLoss, keypoint_mse_loss
from cigpose.models.heatmap import HeatmapPose
from cigpose.training.metrics import heatmap_pck_accuracy

INPUT_WH = (192, 256)


def codec(sigma: float = 2.0) -> UDPHeatmapCodec:
    return UDPHeatmapCodec(INPUT_WH, heatmap_size_for(INPUT_WH, 4), sigma)


def test_udp_scale_maps_first_and_last_pixel_to_first_and_last_cell() -> None:
    c = codec()
    assert c.heatmap_size == (48, 64)
    np.testing.assert_allclose(c.scale, [47 / 191, 63 / 255])


@pytest.mark.parametrize("sigma", [1.5, 2.0, 3.0])
def test_encode_decode_round_trip_within_a_tenth_of_a_pixel(sigma: float) -> None:
    c = codec(sigma)
    rng = np.random.default_rng(0)
    # at least 3σ + 1 cells from the border, where the map is not cut and its blurred log is
    # locally quadratic (nearer the border the cut Gaussian biases MMPose's decoder alike)
    margin = (3 * sigma + 1) / c.scale
    kp = rng.uniform(margin, np.array(INPUT_WH) - 1 - margin, size=(16, 133, 2)).astype(np.float32)
    heatmaps, weights = c.encode(kp, np.ones((16, 133), np.float32))
    assert heatmaps.shape == (16, 133, 64, 48) and (weights == 1).all()
    coords, scores = c.decode(torch.from_numpy(heatmaps))
    err = np.abs(coords.numpy() - kp)
    assert err.max() < 0.1, err.max()
    # the argmax alone (no DARK step) is off by up to half a cell ≈ 2 px: the refinement matters
    cells, _ = heatmap_argmax(torch.from_numpy(heatmaps))
    assert np.abs(cells.numpy() / c.scale - kp).max() > 1.5
    assert scores.min() > 0.6


def test_target_is_an_unrounded_gaussian_with_peak_one_at_the_keypoint() -> None:
    c = codec(2.0)
    cell = np.array([10.0, 20.0], np.float32)  # exactly on a cell
    kp = cell / c.scale
    heatmaps, _ = c.encode(kp[None, None], np.ones((1, 1), np.float32))
    h = heatmaps[0, 0]
    assert h[20, 10] == pytest.approx(1.0, abs=1e-5)
    assert h[20, 12] == pytest.approx(np.exp(-4 / 8), rel=1e-4)  # two cells: exp(-d²/2σ²)
    assert h[20, 17] == 0.0  # beyond 3σ: cut, as MMPose's window


def test_keypoint_outside_the_window_gets_weight_zero_and_an_empty_map() -> None:
    c = codec(2.0)
    kp = np.array([[[-40.0, 100.0], [100.0, 100.0]]], np.float32)
    heatmaps, weights = c.encode(kp, np.ones((1, 2), np.float32))
    assert weights.tolist() == [[0.0, 1.0]]
    assert heatmaps[0, 0].max() == 0.0 and heatmaps[0, 1].max() == pytest.approx(1.0, abs=0.05)


def test_non_positive_maximum_decodes_to_minus_one() -> None:
    c = codec()
    coords, scores = c.decode(-torch.ones(1, 2, 64, 48))
    assert (coords == -1).all() and (scores <= 0).all()


def test_flip_of_heatmaps_equals_encoding_the_mirrored_keypoints() -> None:
    meta = load_meta("coco_wholebody")
    c = codec()
    rng = np.random.default_rng(1)
    kp = rng.uniform([10, 10], [180, 240], size=(2, 133, 2)).astype(np.float32)
    heatmaps, _ = c.encode(kp, np.ones((2, 133), np.float32))
    # mirror the crop: x → w − 1 − x, and each keypoint takes its partner's place
    mirrored = kp[:, meta.flip_indices].copy()
    mirrored[..., 0] = INPUT_WH[0] - 1 - mirrored[..., 0]
    mirrored_maps, _ = c.encode(mirrored, np.ones((2, 133), np.float32))
    back = flip_heatmaps(torch.from_numpy(mirrored_maps), torch.as_tensor(meta.flip_indices))
    np.testing.assert_allclose(back.numpy(), heatmaps, atol=1e-5)  # exact under UDP: no shift


def test_keypoint_mse_on_hand_computed_values() -> None:
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    pred[0, 0, 0, 0] = 1.0  # squared error 1 in one cell of keypoint 0
    pred[0, 1] = 0.5  # 0.25 in all four cells of keypoint 1
    weights = torch.tensor([[1.0, 2.0]])
    # (1·1 + 2·4·0.25) / 8 cells = 3 / 8
    assert keypoint_mse_loss(pred, target, weights).item() == pytest.approx(3 / 8)
    assert keypoint_mse_loss(pred, target, torch.tensor([[0.0, 0.0]])).item() == 0.0
    losses = HeatmapLoss(loss_weight=2.0)(pred, target, weights)
    assert losses["total"].item() == pytest.approx(6 / 8) and losses["kpt"] is losses["total"]


def test_heatmap_pck_counts_only_labelled_keypoints() -> None:
    target = torch.zeros(1, 2, 16, 16)
    target[0, 0, 4, 4] = target[0, 1, 8, 8] = 1.0
    pred = torch.zeros(1, 2, 16, 16)
    pred[0, 0, 4, 4] = 1.0  # right
    pred[0, 1, 0, 15] = 1.0  # wrong
    assert heatmap_pck_accuracy(pred, target, torch.tensor([[1.0, 1.0]])).item() == 0.5
    assert heatmap_pck_accuracy(pred, target, torch.tensor([[1.0, 0.0]])).item() == 1.0


def test_heatmap_network_outputs_stride_four_maps_and_shares_backbone_keys_with_cigpose() -> None:
    from cigpose.models import CIGPose

    net = HeatmapPose("t", num_keypoints=133, input_size=(128, 96), deconv_channels=(32, 32, 32))
    out = net(torch.randn(2, 3, 128, 96))
    assert out.shape == (2, 133, 32, 24) and net.heatmap_size == (24, 32)
    cig = CIGPose("t", num_keypoints=133, input_size=(128, 96))
    ours = {k: v.shape for k, v in net.state_dict().items() if k.startswith("backbone.")}
    theirs = {k: v.shape for k, v in cig.state_dict().items() if k.startswith("backbone.")}
    assert ours == theirs and len(ours) > 100


def test_aic_keypoints_map_onto_coco() -> None:
    aic = np.zeros((1, 14, 3), np.float32)
    aic[0, :, 0] = np.arange(14)  # x = AIC index
    aic[0, :, 2] = 2
    inst = Instances(np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros((1, 4), np.float32), aic,
                     np.ones(1, np.float32), np.ones(1, np.float32), {})
    mapping = [[0, 6], [1, 8], [2, 10], [3, 5], [4, 7], [5, 9], [6, 12], [7, 14], [8, 16], [9, 11], [10, 13], [11, 15]]
    coco = map_keypoints(inst, mapping, 17).keypoints
    assert coco.shape == (1, 17, 3)
    assert coco[0, 6, 0] == 0 and coco[0, 16, 0] == 8 and coco[0, 5, 0] == 3  # r-shoulder, r-ankle, l-shoulder
    assert (coco[0, :5, 2] == 0).all()  # COCO's face points: unlabelled
    with pytest.raises(AnnotationError, match="does not fit"):
        map_keypoints(inst, [[14, 0]], 17)


def test_heatmap_network_memorises_a_batch() -> None:
    """The pretraining objective can be optimised: 60 Adam steps on two fixed crops cut the
    weighted MSE to under 40 % and put the argmax on the right cell for most keypoints."""
    torch.manual_seed(0)
    net = HeatmapPose("t", num_keypoints=17, input_size=(64, 64), deconv_channels=(32, 32, 32))
    c = UDPHeatmapCodec((64, 64), net.heatmap_size, sigma=1.5)
    rng = np.random.default_rng(0)
    kp = rng.uniform(8, 56, size=(2, 17, 2)).astype(np.float32)
    targets, weights = (torch.from_numpy(a) for a in c.encode(kp, np.ones((2, 17), np.float32)))
    images = torch.randn(2, 3, 64, 64)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = keypoint_mse_loss(net(images), targets, weights)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.4 * losses[0], (losses[0], losses[-1])
    assert heatmap_pck_accuracy(net(images).detach(), targets, weights, threshold=0.1).item() > 0.5


def test_aic_and_coco_fixtures_train_together_as_coco_heatmaps(coco_fixtures: Path) -> None:
    """The AIC+COCO pretraining data on the real fixtures: AIC's 14 keypoints arrive on COCO's 17,
    every item carries UDP heatmaps at stride 4."""
    from cigpose.data.datamodule import PoseDataModule

    aic = coco_fixtures.parent / "aic"
    if not (aic / "test_aic.json").is_file():
        pytest.skip("AI Challenger fixtures not found")
    mapping = [[0, 6], [1, 8], [2, 10], [3, 5], [4, 7], [5, 9], [6, 12], [7, 14], [8, 16], [9, 11], [10, 13], [11, 15]]
    dm = PoseDataModule(
        name="aic_coco", meta="coco", num_keypoints=17, input_size=[256, 192], sigma=[4.9, 5.66], codec="udp_heatmap",
        train={"sources": [
            {"ann_file": str(coco_fixtures / "test_coco.json"), "image_root": str(coco_fixtures), "repeat": 3},
            {"ann_file": str(aic / "test_aic.json"), "image_root": str(aic), "num_keypoints": 14,
             "keypoint_mapping": mapping},
        ]},
        batch_size=2, num_workers=0,
    )
    dm.setup("fit")
    coco_part, *_, aic_part = dm.datasets["train"].datasets
    assert len(dm.datasets["train"].datasets) == 4 and len(dm._train_parts()) == 2  # COCO x3 + AIC
    raw = json.loads((aic / "test_aic.json").read_text())["annotations"][0]
    src = np.asarray(raw["keypoints"], np.float32).reshape(14, 3)
    mapped = aic_part.instances.keypoints[0]
    np.testing.assert_array_equal(mapped[6], src[0])  # AIC right shoulder → COCO right shoulder
    np.testing.assert_array_equal(mapped[15], src[11])  # AIC left ankle → COCO left ankle
    assert (mapped[:5] == 0).all()  # nose, eyes, ears: not in AIC
    item = aic_part[0]
    assert item["heatmaps"].shape == (17, 64, 48) and "target_x" not in item
    assert item["heatmaps"].amax(dim=(1, 2))[item["keypoint_weights"] > 0].min() > 0.5
