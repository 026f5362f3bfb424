"""`make train`'s closing report: the pose-following check on hand-built results files, and the
table naming the test split val_ood and the weights that were scored."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cigpose.cli.report_synthetic import main, match_people, pose_following


def people(n: int, seed: int = 0) -> dict:
    """``n`` annotated people, one per image, with 17 body keypoints spread inside their boxes."""
    rng = np.random.default_rng(seed)
    annotations = []
    for i in range(n):
        box = [rng.uniform(0, 50), rng.uniform(0, 50), rng.uniform(60, 100), rng.uniform(120, 200)]
        rel = rng.uniform(0.1, 0.9, size=(17, 2))
        xy = rel * box[2:] + box[:2]
        kp = np.concatenate([xy, np.full((17, 1), 2.0)], axis=1)
        annotations.append({"image_id": i, "bbox": box, "keypoints": kp.ravel().tolist()})
    return {"annotations": annotations}


def results_from(gt: dict, transform) -> list[dict]:
    out = []
    for ann in gt["annotations"]:
        kp = np.asarray(ann["keypoints"]).reshape(17, 3).copy()
        kp[:, :2] = transform(kp[:, :2], ann)
        out.append({"image_id": ann["image_id"], "keypoints": kp.ravel().tolist(), "score": 1.0})
    return out


def test_perfect_predictions_correlate_fully_and_beat_the_average_pose() -> None:
    gt = people(40)
    stats = pose_following(*match_people(gt, results_from(gt, lambda xy, a: xy)))
    assert stats["people"] == 40
    assert stats["median_correlation"] == pytest.approx(1.0)
    assert stats["mean_error"] == pytest.approx(0.0, abs=1e-6) and stats["mean_pose_error"] > 0.1


def test_the_average_pose_does_not_follow_the_people() -> None:
    gt = people(40)
    truth, _, _ = match_people(gt, results_from(gt, lambda xy, a: xy))
    mean_rel = truth.mean(0)  # the dataset's average pose, drawn in every box

    def average(xy: np.ndarray, ann: dict) -> np.ndarray:
        x, y, w, h = ann["bbox"]
        return mean_rel * [w, h] + [x, y] + np.random.default_rng(ann["image_id"]).normal(0, 0.5, (17, 2))

    stats = pose_following(*match_people(gt, results_from(gt, average)))
    assert abs(stats["median_correlation"]) < 0.4
    assert stats["mean_error"] == pytest.approx(stats["mean_pose_error"], rel=0.05)


def test_each_person_is_matched_to_the_nearest_result_in_its_image() -> None:
    gt = people(2)
    gt["annotations"][1]["image_id"] = 0  # two people in one image
    results = results_from(gt, lambda xy, a: xy)
    for r in results:
        r["image_id"] = 0
    truth, pred, labelled = match_people(gt, results[::-1])  # order must not matter
    np.testing.assert_allclose(pred, truth, atol=1e-5)
    assert labelled.all()


def test_report_prints_the_scored_weights_val_ood_and_the_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gt = people(10)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "val.json").write_text(json.dumps(results_from(gt, lambda xy, a: xy)))
    metrics = {"logged": {"val/body/AP": 0.61, "test/body/AP": 0.42},
               "evaluated": {"val": {"checkpoint": "final weights", "weights": "ema", "epochs": 10.0, "step": 1000},
                             "test": {"checkpoint": "final weights", "weights": "ema", "epochs": 10.0, "step": 1000}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert main([str(tmp_path), "--gt", str(tmp_path / "gt.json")]) == 0
    out = capsys.readouterr().out
    assert "| part | AP val | AP val_ood |" in out and "| body | 0.610 | 0.420 |" in out
    assert "after 10.0 epochs, step 1000" in out and "median correlation predicted vs true 1.000" in out
    assert "follows the people" in out
    assert main([str(tmp_path / "missing")]) == 2
