"""KeypointAPMetric: de-duplication, rescoring + NMS, results kept, DDP gather over gloo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cigpose.evaluation.coco_eval import evaluate
from cigpose.evaluation.metric import KeypointAPMetric
from cigpose.evaluation.rescore import rescore_and_nms
from cigpose.evaluation.results import build_results


def coco_predictions(gt_file: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """One noisy prediction per labelled COCO GT person, plus a near-duplicate of each."""
    annotations = [a for a in json.loads(gt_file.read_text())["annotations"]
                   if a["num_keypoints"] > 0]
    rng = np.random.default_rng(seed)
    gt = np.array([np.reshape(a["keypoints"], (17, 3))[:, :2] for a in annotations], float)
    scale = np.sqrt([a["area"] for a in annotations])[:, None, None]
    pred = gt + rng.normal(0, 0.03, gt.shape) * scale
    keypoints = np.concatenate([pred, pred + rng.normal(0, 0.001, gt.shape) * scale])
    n = len(keypoints)
    image_ids = np.tile([a["image_id"] for a in annotations], 2)
    return {
        "image_ids": torch.as_tensor(image_ids),
        "instance_ids": torch.arange(n),
        "keypoints": torch.as_tensor(keypoints, dtype=torch.float32),
        "keypoint_scores": torch.as_tensor(rng.uniform(0, 1, (n, 17)), dtype=torch.float32),
        "bbox_scores": torch.as_tensor(rng.uniform(0.5, 1, n), dtype=torch.float32),
    }


def take(batch: dict[str, torch.Tensor], rows) -> dict[str, torch.Tensor]:
    return {name: value[rows] for name, value in batch.items()}


def test_metric_dedups_rescores_and_matches_evaluate(coco_fixtures, tmp_path):
    gt_file = coco_fixtures / "test_coco.json"
    batch = coco_predictions(gt_file)
    n = len(batch["image_ids"])
    metric = KeypointAPMetric(gt_file, "coco")
    metric.update(**take(batch, slice(0, n // 2)))
    metric.update(**take(batch, slice(n // 2, n)))
    metric.update(**take(batch, [0, 1, n - 1]))  # DistributedSampler-style padding repeats
    metrics = metric.compute()

    arrays = {name: value.numpy() for name, value in batch.items()}
    selection = rescore_and_nms(**arrays, sigmas=metric.sigmas)
    kept = selection.indices
    assert n // 2 <= len(kept) < n  # near-duplicates suppressed, no padded repeat counted twice
    expected_results = build_results(arrays["image_ids"][kept], arrays["keypoints"][kept],
                                     arrays["keypoint_scores"][kept], selection.scores, "coco")
    assert metric.last_results == expected_results
    expected = evaluate(gt_file, expected_results, "coco")
    assert metrics == expected and all(isinstance(v, float) for v in metrics.values())
    toolkit = evaluate(gt_file, expected_results, "coco", backend="xtcocotools")
    assert metrics == pytest.approx(toolkit, abs=1e-6)  # whichever backend the metric used
    assert 0.1 < metrics["AP"] < 0.99

    # without NMS every distinct instance id is kept exactly once
    unsuppressed = KeypointAPMetric(gt_file, "coco", nms_mode="none")
    unsuppressed.update(**batch)
    unsuppressed.update(**take(batch, [0, 1, n - 1]))
    unsuppressed.compute()
    assert len(unsuppressed.last_results) == n

    # areas given (crop box-scale product) are used for NMS instead of the keypoint extent
    metric.reset()
    metric.update(**batch, areas=torch.full((n,), 1e-3))  # tiny areas: nothing overlaps
    metric.compute()
    assert len(metric.last_results) == n


def test_metric_without_predictions_scores_zero(coco_fixtures, tmp_path):
    metric = KeypointAPMetric(coco_fixtures / "test_coco.json", "coco")
    with pytest.warns(UserWarning):  # torchmetrics: compute before update
        metrics = metric.compute()
    assert metrics["AP"] == 0.0 and metric.last_results == []
    assert not list(tmp_path.iterdir())  # writes nothing unless asked


def test_metric_rejects_wrong_shapes(coco_fixtures):
    metric = KeypointAPMetric(coco_fixtures / "test_coco.json", "coco")
    with pytest.raises(ValueError, match=r"keypoints must be \(2, 17, 2\)"):
        metric.update(torch.zeros(2), torch.zeros(2), torch.zeros(2, 133, 2),
                      torch.zeros(2, 133), torch.zeros(2))


def _ddp_worker(rank: int, world_size: int, gt_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{out_dir}/rendezvous", rank=rank,
                            world_size=world_size)
    try:
        batch = coco_predictions(Path(gt_file))
        n = len(batch["image_ids"])
        shards = [list(range(0, n, 2)), list(range(1, n, 2))]
        if len(shards[1]) < len(shards[0]):
            shards[1].append(0)  # padding repeat, as DistributedSampler does
        metric = KeypointAPMetric(gt_file, "coco")
        metric.update(**take(batch, shards[rank]))
        metrics = metric.compute()
        payload = {"metrics": metrics, "num_results": len(metric.last_results)}
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(payload))
    finally:
        dist.destroy_process_group()


def test_metric_gathers_predictions_across_two_gloo_ranks(coco_fixtures, tmp_path):
    gt_file = coco_fixtures / "test_coco.json"
    mp.spawn(_ddp_worker, args=(2, str(gt_file), str(tmp_path)), nprocs=2, join=True)
    single = KeypointAPMetric(gt_file, "coco")
    single.update(**coco_predictions(gt_file))
    expected = single.compute()
    for rank in range(2):
        payload = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert payload["num_results"] == len(single.last_results)
        assert payload["metrics"] == pytest.approx(expected, abs=1e-12)
