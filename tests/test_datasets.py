"""Real fixtures load; bad images, boxes and annotations are skipped (training), kept as invalid
placeholders (evaluation) or rejected with a clear error — never a crash mid-epoch."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from torch.utils.data import DataLoader

from cigpose.codec.simcc import SimCCCodec
from cigpose.data.annotations import load_detections, load_gt_instances
from cigpose.data.dataset import TopDownDataset, UnreadableImage, read_image
from cigpose.data.transforms import Compose, EncodeTargets

INPUT_WH = (192, 256)
PHOTO = "000000000785.jpg"  # 640×425


def test_real_wholebody_fixtures_load(coco_fixtures: Path) -> None:
    ann = coco_fixtures / "test_coco_wholebody.json"
    raw = json.loads(ann.read_text())["annotations"]
    labelled = [a for a in raw if not a.get("iscrowd") and any(v > 0 for v in a["keypoints"][2::3])]
    assert len(raw) == 14 and len(labelled) == 12
    train = load_gt_instances(ann, coco_fixtures, 133, need_keypoints=True)
    assert len(train) == 12
    assert train.keypoints.shape == (12, 133, 3) and train.bbox.shape == (12, 4)
    assert set(train.files) == {785, 40083, 196141, 197388}
    assert all(path.is_file() for path, _, _ in train.files.values())
    assert ((train.keypoints[..., 2] > 0).sum(1) > 0).all()
    assert len(load_gt_instances(ann, coco_fixtures, 133, need_keypoints=False)) == 14
    # image 785: body, feet, face, right hand labelled (112); left hand not (lefthand_valid false)
    first = train.keypoints[list(train.image_id).index(785)]
    assert (first[:17, 2] > 0).sum() == 17 and (first[:, 2] > 0).sum() == 112
    assert (first[91:112, 2] > 0).sum() == 0 and (first[112:, 2] > 0).sum() == 21
    np.testing.assert_allclose(train.bbox[list(train.image_id).index(785)], [280.79, 44.73, 218.7, 346.68], atol=1e-3)


def test_real_detections_and_coco_fixtures_load(coco_fixtures: Path) -> None:
    dets = load_detections(
        coco_fixtures / "test_coco_det_AP_H_56.json",
        coco_fixtures / "test_coco_wholebody.json",
        coco_fixtures,
        133,
    )
    assert len(dets) == 118
    assert dets.keypoints.shape == (118, 133, 3) and (dets.keypoints == 0).all()
    assert (dets.bbox_score > 0).all() and (dets.bbox_score <= 1).all()
    assert set(np.unique(dets.image_id)) == {785, 40083, 196141, 197388}
    above = load_detections(
        coco_fixtures / "test_coco_det_AP_H_56.json",
        coco_fixtures / "test_coco_wholebody.json",
        coco_fixtures,
        133,
        score_threshold=0.5,
    )
    assert 0 < len(above) < 118 and (above.bbox_score >= 0.5).all()
    coco = load_gt_instances(coco_fixtures / "test_coco.json", coco_fixtures, 17, need_keypoints=True)
    assert len(coco) == 12 and coco.keypoints.shape == (12, 17, 3)


# ----------------------------------------------------------------------------- images
def test_read_image_formats(tmp_path: Path, coco_fixtures: Path) -> None:
    rgb = read_image(coco_fixtures / PHOTO)
    assert rgb.shape == (425, 640, 3) and rgb.dtype == np.uint8
    bgr = cv2.imread(str(coco_fixtures / PHOTO))
    np.testing.assert_array_equal(rgb, bgr[..., ::-1])  # RGB order

    gray = np.tile(np.arange(64, dtype=np.uint8)[None] * 4, (48, 1))
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    loaded = read_image(tmp_path / "gray.png")
    assert loaded.shape == (48, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(loaded[..., c], gray)
    cv2.imwrite(str(tmp_path / "gray.jpg"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert read_image(tmp_path / "gray.jpg").shape == (425, 640, 3)

    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 200, 100, 50, 128  # R, G, B, alpha
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    loaded = read_image(tmp_path / "rgba.png")
    assert loaded.shape == (20, 30, 3)
    np.testing.assert_array_equal(loaded[0, 0], [200, 100, 50])


def test_read_image_rejects_missing_truncated_and_garbage(tmp_path: Path, coco_fixtures: Path) -> None:
    with pytest.raises(UnreadableImage, match="missing.jpg"):
        read_image(tmp_path / "missing.jpg")
    data = (coco_fixtures / PHOTO).read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage, match="truncated JPEG"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "text.png").write_bytes(b"not an image at all")
    with pytest.raises(UnreadableImage, match="not a decodable image"):
        read_image(tmp_path / "text.png")


# ------------------------------------------------------------------ a dataset of bad input
def _annotation(ann_id: int, image_id: int, bbox: list[float], keypoints: list[float] | None = None) -> dict:
    kp = keypoints if keypoints is not None else [320.0, 200.0, 2.0] * 17
    return {
        "id": ann_id,
        "image_id": image_id,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "iscrowd": 0,
        "category_id": 1,
        "keypoints": kp,
        "num_keypoints": 17,
    }


@pytest.fixture
def bad_split(tmp_path: Path, coco_fixtures: Path) -> Path:
    """A COCO-format split in ``tmp_path`` mixing good and broken images, boxes and annotations."""
    shutil.copy(coco_fixtures / PHOTO, tmp_path / "good.jpg")
    data = (coco_fixtures / PHOTO).read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 3])
    bgr = cv2.imread(str(coco_fixtures / PHOTO))
    cv2.imwrite(str(tmp_path / "gray.jpg"), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA))
    files = ["good.jpg", "missing.jpg", "truncated.jpg", "gray.jpg", "rgba.png"]
    images = [{"id": i + 1, "file_name": f, "width": 640, "height": 425} for i, f in enumerate(files)]
    box = [200.0, 50.0, 240.0, 340.0]
    anns = [_annotation(i + 1, i + 1, box) for i in range(len(files))]  # one usable person per image
    anns += [
        _annotation(10, 1, [100.0, 100.0, 0.0, 50.0]),  # zero width
        _annotation(11, 1, [100.0, 100.0, -20.0, 50.0]),  # negative width
        _annotation(12, 1, [900.0, 600.0, 50.0, 50.0]),  # outside the image
        _annotation(13, 1, box, [0.0, 0.0, 0.0] * 17),  # no labelled keypoint
        _annotation(14, 1, [float("nan"), 10.0, 50.0, 50.0]),  # NaN box
        _annotation(15, 1, box, [float("nan"), 1.0, 2.0] + [320.0, 200.0, 2.0] * 16),  # NaN keypoint
    ]
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]})
    )  # NaN → `NaN` literal
    return path


def _dataset(instances, train: bool) -> TopDownDataset:
    codec = SimCCCodec(INPUT_WH, (4.9, 5.66), 2.0)
    stages = {1: (Compose([]), Compose([]))} if train else None
    return TopDownDataset(instances, INPUT_WH, EncodeTargets(codec), stages, train=train)


def test_training_skips_bad_input_with_counts(bad_split: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cigpose.data")
    instances = load_gt_instances(bad_split, bad_split.parent, 17, need_keypoints=True)
    messages = [r.getMessage() for r in caplog.records if r.name == "cigpose.data"]
    assert any("skipped 3 instance(s): box of zero/negative size or outside the image" in m for m in messages)
    assert any("skipped 2 instance(s): NaN/Inf in annotation" in m for m in messages)
    assert any("skipped 1 instance(s): no labelled keypoint" in m for m in messages)
    assert sorted(instances.instance_id.tolist()) == [1, 2, 3, 4, 5]

    caplog.clear()
    dataset = _dataset(instances, train=True)
    batches = list(DataLoader(dataset, batch_size=5, shuffle=False, num_workers=0))
    assert len(batches) == 1
    batch = batches[0]
    assert batch["valid"].all() and batch["image"].shape == (5, 3, 256, 192)
    # items 1 and 2 (missing, truncated) were replaced by readable samples
    assert batch["resampled"].tolist()[1] >= 1 and batch["resampled"].tolist()[2] >= 1
    assert batch["resampled"].tolist()[0] == 0 and batch["resampled"].tolist()[3:] == [0, 0]
    assert set(batch["instance_id"].tolist()) <= {1, 4, 5}  # only readable images made crops
    skipped = [r.getMessage() for r in caplog.records if "unreadable image" in r.getMessage()]
    assert sum("missing.jpg" in m for m in skipped) >= 1 and sum("truncated.jpg" in m for m in skipped) >= 1
    assert sum("missing.jpg" in m or "truncated.jpg" in m for m in skipped) == int(batch["resampled"].sum())


def test_evaluation_keeps_invalid_placeholders(bad_split: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cigpose.data")
    instances = load_gt_instances(bad_split, bad_split.parent, 17, need_keypoints=False)
    assert sorted(instances.instance_id.tolist()) == [1, 2, 3, 4, 5, 13]  # unlabelled box kept
    dataset = _dataset(instances, train=False)
    batch = next(iter(DataLoader(dataset, batch_size=len(dataset), shuffle=False)))
    by_id = dict(zip(batch["instance_id"].tolist(), batch["valid"].tolist(), strict=True))
    assert by_id == {1: True, 2: False, 3: False, 4: True, 5: True, 13: True}
    invalid = ~batch["valid"]
    assert (batch["image"][invalid] == 0).all() and (batch["keypoint_weights"][invalid] == 0).all()
    assert (batch["resampled"] == 0).all()
    assert (batch["image"][batch["valid"]].float().mean((1, 2, 3)) > 10).all()  # real pixels
    messages = [r.getMessage() for r in caplog.records]
    assert any("missing.jpg" in m for m in messages) and any("truncated.jpg" in m for m in messages)


def test_every_image_unreadable_raises_clear_error(bad_split: Path) -> None:
    for name in ("good.jpg", "gray.jpg", "rgba.png"):
        (bad_split.parent / name).unlink()
    dataset = _dataset(load_gt_instances(bad_split, bad_split.parent, 17, need_keypoints=True), train=True)
    with pytest.raises(RuntimeError, match="consecutive samples had unreadable images"):
        next(iter(DataLoader(dataset, batch_size=2)))


def test_no_usable_instance_raises(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
                "annotations": [_annotation(1, 1, [0.0, 0.0, 0.0, 0.0])],
            }
        )
    )
    with pytest.raises(ValueError, match="no usable instance"):
        _dataset(load_gt_instances(path, tmp_path, 17, need_keypoints=True), train=True)


# ------------------------------------------------------------------ UBody, CrowdPose, detections
def test_sample_interval_keeps_images_whose_id_is_a_multiple(coco_fixtures: Path) -> None:
    ann = coco_fixtures / "test_coco_wholebody.json"
    every_third = load_gt_instances(ann, coco_fixtures, 133, need_keypoints=True, sample_interval=3)
    assert set(every_third.files) == {40083, 197388}  # ids divisible by 3
    assert sorted(np.unique(every_third.image_id).tolist()) == [40083, 197388]
    assert len(every_third) == 7  # 2 + 5 labelled people on those images
    fifth = load_gt_instances(ann, coco_fixtures, 133, need_keypoints=True, sample_interval=5)
    assert fifth.image_id.tolist() == [785]


def test_crowdpose_keeps_crowd_index_per_image(tmp_path: Path, coco_fixtures: Path) -> None:
    shutil.copy(coco_fixtures / PHOTO, tmp_path / "a.jpg")
    images = [
        {"id": 7, "file_name": "a.jpg", "width": 640, "height": 425, "crowdIndex": 0.35},
        {"id": 8, "file_name": "a.jpg", "width": 640, "height": 425, "crowdIndex": 0.9},
    ]
    kp = [320.0, 200.0, 1.0] * 14
    anns = [_annotation(1, 7, [200.0, 50.0, 240.0, 340.0], kp), _annotation(2, 8, [10.0, 10.0, 100.0, 100.0], kp)]
    path = tmp_path / "crowdpose.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    inst = load_gt_instances(path, tmp_path, 14, need_keypoints=True)
    assert inst.keypoints.shape == (2, 14, 3)
    assert inst.crowd_index == {7: 0.35, 8: 0.9}
    assert inst.select(np.array([False, True])).crowd_index == {7: 0.35, 8: 0.9}
    with pytest.raises(ValueError, match="field 'keypoints' has 42 values, expected 51"):
        load_gt_instances(path, tmp_path, 17, need_keypoints=True)


def test_detection_ids_are_positions_in_the_results_file(coco_fixtures: Path) -> None:
    det_file = coco_fixtures / "test_coco_det_AP_H_56.json"
    raw = json.loads(det_file.read_text())
    above = load_detections(
        det_file, coco_fixtures / "test_coco_wholebody.json", coco_fixtures, 133, score_threshold=0.5
    )
    expected = [i for i, d in enumerate(raw) if d["score"] >= 0.5]
    assert above.instance_id.tolist() == expected
    np.testing.assert_allclose(above.bbox_score, [raw[i]["score"] for i in expected], rtol=1e-6)
    areas = [raw[i]["bbox"][2] * raw[i]["bbox"][3] for i in expected]
    np.testing.assert_allclose(above.area, areas, rtol=1e-5)  # the detector's box, before clipping
    widths = np.array([above.files[i][1] for i in above.image_id.tolist()])
    assert (above.bbox[:, 0] + above.bbox[:, 2] <= widths - 1 + 1e-3).all()  # clipped to the image


def test_missing_fields_and_unlisted_images(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    images = [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 425}]
    ann = _annotation(5, 1, [10.0, 10.0, 100.0, 100.0])
    del ann["keypoints"]
    path = tmp_path / "no_kpts.json"
    path.write_text(json.dumps({"images": images, "annotations": [ann]}))
    with pytest.raises(ValueError, match=r"no_kpts\.json: annotation 5 has no 'keypoints' field"):
        load_gt_instances(path, tmp_path, 17, need_keypoints=True)
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": []}))
    with pytest.raises(ValueError, match=r"no_kpts\.json: image 1 has no 'width' field"):
        load_gt_instances(path, tmp_path, 17, need_keypoints=True)
    caplog.set_level(logging.WARNING, logger="cigpose.data")
    orphan = _annotation(6, 99, [10.0, 10.0, 100.0, 100.0])
    path.write_text(
        json.dumps({"images": images, "annotations": [_annotation(5, 1, [10.0, 10.0, 100.0, 100.0]), orphan]})
    )
    inst = load_gt_instances(path, tmp_path, 17, need_keypoints=True)
    assert inst.instance_id.tolist() == [5]
    assert any("skipped 1 annotation(s) of images not listed" in r.getMessage() for r in caplog.records)
