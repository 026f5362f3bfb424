"""The embedded synthetic whole-body dataset: real files the standard tools read, exact GT."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from cigpose.data.metainfo import load_meta
from cigpose.evaluation.coco_eval import evaluate
from cigpose.synthetic.generator import generate_dataset
from cigpose.synthetic.person import random_person

FIELDS = ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate_dataset(out, seed=3, num_train=24, num_val=8, num_val_ood=8, workers=1)
    return out


def keypoints_of(ann: dict) -> np.ndarray:
    return np.concatenate([np.asarray(ann[f], float).reshape(-1, 3) for f in FIELDS])


def test_files_load_with_the_coco_api_and_are_consistent(dataset: Path) -> None:
    for split in ("train", "val", "val_ood"):
        coco = COCO(str(dataset / "annotations" / f"{split}.json"))
        assert len(coco.getImgIds()) == {"train": 24, "val": 8, "val_ood": 8}[split]
        for ann in coco.dataset["annotations"]:
            kp = keypoints_of(ann)
            assert kp.shape == (133, 3) and set(np.unique(kp[:, 2])) <= {0, 1, 2}
            assert ann["num_keypoints"] == int((kp[:17, 2] > 0).sum())
            assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3])
        dets = json.loads((dataset / "annotations" / f"{split}_detections.json").read_text())
        assert {d["image_id"] for d in dets} <= set(coco.getImgIds()) and all(0 < d["score"] <= 1 for d in dets)
        assert len(list((dataset / "images" / split).glob("*.jpg"))) == len(coco.getImgIds())


def test_ground_truth_as_prediction_scores_ap_one(dataset: Path) -> None:
    gt_file = dataset / "annotations" / "val.json"
    gt = json.loads(gt_file.read_text())
    results = [{"image_id": a["image_id"], "category_id": 1, "score": 1.0, **{f: a[f] for f in FIELDS}}
               for a in gt["annotations"]]
    metrics = evaluate(gt_file, results, "coco_wholebody")
    assert metrics["whole_body/AP"] == pytest.approx(1.0)
    assert metrics["body/AP"] == pytest.approx(1.0) and metrics["face/AP"] == pytest.approx(1.0)


def test_left_keypoints_are_on_the_persons_left_and_flip_pairs_match() -> None:
    meta = load_meta("coco_wholebody")
    for seed in range(20):
        kp = random_person(96, 10, 220, np.random.default_rng(seed))
        # facing the camera: the person's left is the image's right
        assert kp[5, 0] > kp[6, 0] and kp[11, 0] > kp[12, 0]
        assert kp[91:112, 0].mean() > kp[112:133, 0].mean() - 1e-3 or kp[9, 0] < kp[10, 0]
        assert kp[23 + 16, 0] > kp[23, 0]  # jaw runs from the person's right to left
        names = meta.keypoint_names
        assert all(names[meta.flip_indices[i]] == n.replace("left", "right") for i, n in enumerate(names)
                   if n.startswith("left"))


def test_keypoints_lie_on_drawn_structure(dataset: Path) -> None:
    gt = json.loads((dataset / "annotations" / "train.json").read_text())
    image_info = {i["id"]: i for i in gt["images"]}
    hits = total = 0
    for ann in gt["annotations"]:
        image = cv2.imread(str(dataset / "images" / "train" / image_info[ann["image_id"]]["file_name"]))
        kp = keypoints_of(ann)
        visible = kp[kp[:, 2] == 2][:, :2].round().astype(int)
        # a drawn keypoint differs from the smooth background around the person's box corner
        patch = image[np.clip(visible[:, 1], 0, image.shape[0] - 1), np.clip(visible[:, 0], 0, image.shape[1] - 1)]
        x0, y0 = int(ann["bbox"][0]), int(ann["bbox"][1])
        corner = image[max(y0 - 2, 0), max(x0 - 2, 0)].astype(int)
        hits += int((np.abs(patch.astype(int) - corner).sum(1) > 30).sum())
        total += len(visible)
    assert hits / total > 0.9


def test_same_seed_same_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        generate_dataset(tmp_path / name, seed=7, num_train=4, num_val=2, num_val_ood=2, workers=1)
    for split in ("train", "val", "val_ood"):
        a = (tmp_path / "a" / "annotations" / f"{split}.json").read_text()
        assert a == (tmp_path / "b" / "annotations" / f"{split}.json").read_text()


def test_cli_skips_when_up_to_date(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "cigpose.synthetic.cli", "--out", str(tmp_path), "--num-train", "2",
           "--num-val", "1", "--num-val-ood", "1", "--workers", "1"]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=120).returncode == 0
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "up to date" in again.stdout


def test_short_training_on_a_tiny_set_produces_metrics(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = subprocess.run([str(Path(sys.executable).with_name("cigpose-train")), "experiment=synthetic_default",
                             f"data.root={dataset}", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]",
                             "data.batch_size=8", "data.num_workers=0", "data.persistent_workers=false",
                             "trainer.max_epochs=4", "trainer.check_val_every_n_epoch=2", "trainer.precision=32-true",
                             f"hydra.run.dir={run}"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["whole_body/AP"] <= 1.0 and "val/whole_body/AP" in metrics["logged"]
    import csv

    rows = [r for r in csv.DictReader((run / "csv" / "version_0" / "metrics.csv").open()) if r.get("loss/kpt_epoch")]
    losses = [float(r["loss/kpt_epoch"]) for r in rows]
    assert losses[-1] < losses[0]
