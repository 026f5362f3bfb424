"""End-to-end smoke training on the real COCO-WholeBody fixtures (``experiment=smoke_fixtures``):
the ``cigpose-train`` console script as a subprocess, then every output it must leave behind."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from cigpose.evaluation import evaluate
from tests.helpers import csv_rows, experiment_run, train_in_process


@pytest.fixture(scope="module")
def smoke_run(coco_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return experiment_run("smoke_fixtures", tmp_path_factory)


def test_smoke_run_loss_falls(smoke_run: Path) -> None:
    epoch_loss = {int(r["epoch"]): float(r["loss/kpt_epoch"]) for r in csv_rows(smoke_run)
                  if r.get("loss/kpt_epoch")}
    assert sorted(epoch_loss) == list(range(20))
    first = np.mean([epoch_loss[e] for e in range(3)])
    last = np.mean([epoch_loss[e] for e in range(17, 20)])
    assert last < 0.8 * first, (first, last)


def test_smoke_run_validated_with_wholebody_metrics(smoke_run: Path) -> None:
    rows = csv_rows(smoke_run)
    val = [r for r in rows if r.get("val/whole_body/AP")]
    assert [int(r["epoch"]) for r in val] == [9, 19]  # check_val_every_n_epoch=10
    for row in val:
        for part in ("whole_body", "body", "foot", "face", "hand"):
            assert 0.0 <= float(row[f"val/{part}/AP"]) <= 1.0
    logged = json.loads((smoke_run / "metrics.json").read_text())["logged"]
    assert float(val[-1]["val/whole_body/AP"]) == pytest.approx(logged["val/whole_body/AP"], abs=1e-6)


def test_smoke_run_metrics_json_uses_cigpose_score_names(smoke_run: Path, coco_fixtures: Path) -> None:
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    for key in ("whole_body/AP", "body/AP", "foot/AP", "face/AP", "hand/AP", "whole_body/AR"):
        assert isinstance(metrics[key], float) and -1.0 <= metrics[key] <= 1.0, key
        assert metrics["logged"][f"test/{key}"] == metrics[key]
    assert metrics["name"] == "smoke_fixtures"
    assert "experiment=smoke_fixtures" in metrics["overrides"]
    assert "val/whole_body/AP" in metrics["logged"] and "loss/kpt_epoch" in metrics["logged"]
    # the test metrics are those of the results file it wrote, scored again from the files
    rescored = evaluate(coco_fixtures / "test_coco_wholebody.json", smoke_run / "results" / "test.json",
                        "coco_wholebody")
    for key, value in rescored.items():
        assert metrics[key] == pytest.approx(value, abs=1e-6), key


def test_smoke_run_writes_checkpoints_results_config_and_images(
    smoke_run: Path, coco_fixtures: Path
) -> None:
    assert (smoke_run / "checkpoints" / "last.ckpt").is_file()
    assert len(list((smoke_run / "checkpoints").glob("best_epoch*.ckpt"))) == 1
    results = json.loads((smoke_run / "results" / "test.json").read_text())
    detections = json.loads((coco_fixtures / "test_coco_det_AP_H_56.json").read_text())
    image_ids = {d["image_id"] for d in detections}
    assert results and {r["image_id"] for r in results} <= image_ids
    parts = {"keypoints": 17, "foot_kpts": 6, "face_kpts": 68, "lefthand_kpts": 21,
             "righthand_kpts": 21}  # COCO-WholeBody results format: x, y, score per keypoint
    for r in results:
        assert r["category_id"] == 1 and isinstance(r["score"], float)
        assert set(r) == {"image_id", "category_id", "score", *parts}
        for field, count in parts.items():
            assert len(r[field]) == 3 * count, field
            assert np.isfinite(np.asarray(r[field], dtype=float)).all()
    config = yaml.safe_load((smoke_run / ".hydra" / "config.yaml").read_text())
    assert config["name"] == "smoke_fixtures" and config["model"]["size"] == "t"
    assert config["data"]["input_size"] == [128, 96] and config["trainer"]["max_epochs"] == 20
    pngs = sorted(p.name for p in (smoke_run / "predictions").glob("*.png"))
    assert pngs == ["test_epoch_020.png", "val_epoch_009.png", "val_epoch_019.png"]  # test: after the 20th epoch
    image = cv2.imread(str(smoke_run / "predictions" / "val_epoch_019.png"))
    # 4 crops of 128x96, each as truth | prediction enlarged 3x, two panels a row
    assert image is not None and image.shape[0] >= 2 * 3 * 128 and image.shape[1] >= 4 * 3 * 96
    assert image.std() > 0


def test_smoke_run_lr_warms_up_linearly_then_stays_flat(smoke_run: Path) -> None:
    # smoke: lr 4e-3 at reference batch 8 with batch 8 -> 4e-3; warm-up 5 iterations from 1e-5.
    lrs = {int(r["step"]): float(r["lr-AdamW/pg1"]) for r in csv_rows(smoke_run)
           if r.get("lr-AdamW/pg1")}
    for step, lr in lrs.items():
        factor = 1e-5 + (1 - 1e-5) * step / 5 if step < 5 else 1.0
        assert lr == pytest.approx(4e-3 * factor, rel=1e-6), step


def test_debug_overfit_drives_the_loss_down(coco_fixtures: Path, tmp_path: Path) -> None:
    """``debug=overfit``: one batch, no augmentation, 40 epochs — the KL loss must fall to less than
    half its first value (a wiring bug — targets, flip, loss masks — leaves it flat)."""
    train_in_process("experiment=smoke_fixtures", "debug=overfit", "test=false", output_dir=tmp_path)
    losses = [float(r["loss/kpt_step"]) for r in csv_rows(tmp_path) if r.get("loss/kpt_step")]
    assert len(losses) == 40
    assert min(losses[-5:]) < 0.5 * losses[0], (losses[0], losses[-5:])
