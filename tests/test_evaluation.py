"""Evaluation matches the official toolkit: results files, rescoring + OKS-NMS, AP/AR, CLI.

Every AP/AR case runs with both backends (the vectorised numpy one and xtcocotools) against
xtcocotools called directly, to 1e-6.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from cigpose.evaluation import coco_eval
from cigpose.evaluation.coco_eval import evaluate, metric_names
from cigpose.evaluation.rescore import instance_scores, oks_nms, rescore_and_nms
from cigpose.evaluation.results import (
    WHOLEBODY_FIELDS,
    build_results,
    read_results,
    write_results,
)
from tests.helpers import script

# Official sigmas, typed from the COCO-WholeBody evaluation script (myeval_wholebody.py) and the
# CrowdPose / COCO toolkits: the reference side of every comparison below, and a cross-check of
# the project's metainfo (which `evaluate` uses by default).
BODY = [.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107, .087,
        .087, .089, .089]
FOOT = [.068, .066, .066, .092, .094, .094]
FACE = [.042, .043, .044, .043, .040, .035, .031, .025, .020, .023, .029, .032, .037, .038, .043,
        .041, .045, .013, .012, .011, .011, .012, .012, .011, .011, .013, .015, .009, .007, .007,
        .007, .012, .009, .008, .016, .010, .017, .011, .009, .011, .009, .007, .013, .008, .011,
        .012, .010, .034, .008, .008, .009, .008, .008, .007, .010, .008, .009, .009, .009, .007,
        .007, .008, .011, .008, .008, .008, .010, .008]
HAND = [.029, .022, .035, .037, .047, .026, .025, .024, .035, .018, .024, .022, .026, .017, .021,
        .021, .032, .020, .019, .022, .031]
WHOLEBODY_SIGMAS = np.array(BODY + FOOT + FACE + HAND + HAND)
COCO_SIGMAS = np.array(BODY)
CROWDPOSE_SIGMAS = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89,
                             .79, .79]) / 10
REFERENCE_PARTS = [  # (our part name, xtcocotools iouType, keypoint slice) in MMPose's order
    ("body", "keypoints_body", slice(0, 17)),
    ("foot", "keypoints_foot", slice(17, 23)),
    ("face", "keypoints_face", slice(23, 91)),
    ("lefthand", "keypoints_lefthand", slice(91, 112)),
    ("righthand", "keypoints_righthand", slice(112, 133)),
    ("whole_body", "keypoints_wholebody", slice(0, 133)),
]
STATS = ["AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL"]
BACKENDS = ["numpy", "xtcocotools"]


# ------------------------------------------------------ reference: the toolkit, called directly
def _toolkit_stats(gt_file, res_file, iou_type, sigmas, use_area) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = COCO(str(gt_file))
        evaluator = COCOeval(gt, gt.loadRes(str(res_file)), iou_type, sigmas, use_area=use_area)
        evaluator.params.useSegm = None
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return np.asarray(evaluator.stats)


def reference_wholebody(gt_file: Path, res_file: Path) -> dict[str, float]:
    """MMPose's CocoWholeBodyMetric evaluation, plus hand = mean of the two hands."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = COCO(str(gt_file))
        detections = gt.loadRes(str(res_file))
        stats = {}
        for part, iou_type, part_slice in REFERENCE_PARTS:
            evaluator = COCOeval(gt, detections, iou_type, WHOLEBODY_SIGMAS[part_slice], True)
            evaluator.params.useSegm = None
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
            stats[part] = np.asarray(evaluator.stats)
    stats["hand"] = (stats["lefthand"] + stats["righthand"]) / 2
    return {
        f"{part}/{name}": float(value)
        for part in stats
        for name, value in zip(STATS, stats[part], strict=True)
    }


def assert_same_metrics(ours: dict, reference: dict) -> None:
    assert set(ours) == set(reference)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=1e-6), name


# ---------------------------------------------------------------- fixtures built from real GT
def gt_arrays(gt_file: Path, fields: list[tuple[str, int]]):
    """GT instances with labelled keypoints as arrays: image ids (N,), keypoints (N, K, 2),
    visibility (N, K), boxes (N, 4), annotation ids (N,)."""
    annotations = json.loads(gt_file.read_text())["annotations"]
    triples = np.array(
        [np.concatenate([np.reshape(a[f], (n, 3)) for f, n in fields]) for a in annotations]
    )  # (A, K, 3)
    labelled = (triples[..., 2] > 0).any(axis=1)
    pick = np.flatnonzero(labelled)
    return (
        np.array([annotations[i]["image_id"] for i in pick]),
        triples[pick, :, :2],
        triples[pick, :, 2],
        np.array([annotations[i]["bbox"] for i in pick], dtype=float),
        np.array([annotations[i]["id"] for i in pick]),
    )


def crowdpose_gt(coco_file: Path, out: Path) -> Path:
    """A CrowdPose-format GT from the COCO fixture: 12 limb joints + synthetic head top and neck."""
    data = json.loads(coco_file.read_text())
    crowd_index = {785: 0.1, 40083: 0.5, 196141: 0.9, 197388: 0.5}  # easy / medium / hard
    for image in data["images"]:
        image["crowdIndex"] = crowd_index[image["id"]]
    for ann in data["annotations"]:
        coco = np.reshape(ann["keypoints"], (17, 3)).astype(float)
        limbs = coco[5:17]
        head = coco[0] - [0.0, 20.0, 0.0] if coco[0, 2] > 0 else np.zeros(3)
        both = coco[5, 2] > 0 and coco[6, 2] > 0
        neck = np.r_[(coco[5, :2] + coco[6, :2]) / 2, 2.0] if both else np.zeros(3)
        crowd = np.vstack([limbs, head, neck])
        crowd[crowd[:, 2] > 0, 2] = 2
        ann["keypoints"] = crowd.reshape(-1).tolist()
        ann["num_keypoints"] = int((crowd[:, 2] > 0).sum())
        del ann["area"], ann["segmentation"]
    data["categories"][0]["keypoints"] = [f"joint_{i}" for i in range(14)]
    out.write_text(json.dumps(data))
    return out


def noisy_predictions(keypoints, boxes, image_ids, ids, seed=0):
    """Detection-like predictions from GT: jitter, 25% dropped, near-duplicates for NMS."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(ids)) > 0.25
    keep[0] = True
    k = keypoints[keep]
    scale = np.sqrt(boxes[keep, 2] * boxes[keep, 3])[:, None, None]
    quality = rng.uniform(0.002, 0.03, (len(k), 1, 1))  # per-instance noise level
    pred = k + rng.normal(0, 1, k.shape) * quality * scale
    dup = pred + rng.normal(0, 0.001, pred.shape) * scale  # near-duplicate: suppressed by NMS
    far = pred + rng.normal(0, 0.30, pred.shape) * scale  # poor duplicate: survives NMS
    keypoints = np.concatenate([pred, dup, far])
    n = len(pred)
    scores = rng.uniform(0.0, 1.0, keypoints.shape[:2])
    bbox_scores = rng.uniform(0.3, 1.0, 3 * n)
    areas = np.tile(boxes[keep, 2] * boxes[keep, 3] * 1.25**2, 3)
    return (np.tile(image_ids[keep], 3), np.arange(3 * n), keypoints, scores, bbox_scores, areas)


# ---------------------------------------------------------------- metainfo cross-check
def test_metainfo_sigmas_and_parts_are_the_official_ones():
    from cigpose.data.metainfo import load_meta

    for dataset, official in [("coco_wholebody", WHOLEBODY_SIGMAS), ("coco", COCO_SIGMAS),
                              ("crowdpose", CROWDPOSE_SIGMAS)]:
        np.testing.assert_allclose(load_meta(dataset).sigmas, official, err_msg=dataset)
    parts = load_meta("coco_wholebody").parts
    for (part, _, part_slice), in_file in zip(REFERENCE_PARTS, WHOLEBODY_FIELDS, strict=False):
        expected = np.arange(133)[part_slice]
        np.testing.assert_array_equal(parts[part], expected, err_msg=part)
        assert in_file[1] == len(expected)


# ---------------------------------------------------------------- rescoring + NMS
def test_instance_scores_follow_mmpose_rule():
    keypoint_scores = np.array([[0.9, 0.5, 0.2, 0.1], [0.2, 0.1, 0.0, 0.2], [0.3, 0.3, 0.3, 0.3]])
    scores = instance_scores(np.array([0.8, 0.9, 0.5]), keypoint_scores, "bbox_keypoint", 0.2)
    # strict '>' threshold; no confident keypoint -> mean 0 -> score 0
    np.testing.assert_allclose(scores, [0.8 * 0.7, 0.0, 0.5 * 0.3])
    np.testing.assert_allclose(instance_scores(np.array([0.4]), keypoint_scores[:1], "bbox"), 0.4)


def _loop_oks_nms(keypoints, scores, areas, sigmas, thr):
    """Literal greedy OKS-NMS (one pair at a time) to check the vectorised version."""
    variances = (sigmas * 2) ** 2
    order = list(np.argsort(scores)[::-1])
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        rest = []
        for j in order:
            d2 = ((keypoints[i] - keypoints[j]) ** 2).sum(-1)
            oks = np.exp(-d2 / variances / ((areas[i] + areas[j]) / 2 + np.spacing(1)) / 2).mean()
            if np.float32(oks) <= thr:
                rest.append(j)
        order = rest
    return keep


def test_oks_nms_matches_greedy_loop():
    rng = np.random.default_rng(3)
    base = rng.uniform(0, 200, (6, 17, 2))
    keypoints = np.concatenate([base, base + rng.normal(0, 0.5, base.shape), base + 40])
    scores = rng.uniform(size=len(keypoints))
    areas = np.full(len(keypoints), 150.0**2)
    keep = oks_nms(keypoints, scores, areas, COCO_SIGMAS, 0.9)
    assert list(keep) == _loop_oks_nms(keypoints, scores, areas, COCO_SIGMAS, 0.9)
    assert 6 <= len(keep) < 18  # near-copies suppressed, shifted copies kept
    assert np.all(np.diff(scores[keep]) <= 0)


def test_rescore_and_nms_dedups_by_instance_id_and_groups_by_image():
    rng = np.random.default_rng(0)
    keypoints = rng.uniform(0, 100, (5, 17, 2))
    keypoints[4] = keypoints[0] + 0.01  # same image, near-copy of instance 0
    image_ids = np.array([7, 3, 7, 3, 7])
    instance_ids = np.array([10, 11, 12, 11, 13])  # 11 repeated (sampler padding)
    kpt_scores = np.full((5, 17), 0.5)
    bbox = np.array([0.9, 0.8, 0.7, 0.8, 0.6])
    selection = rescore_and_nms(image_ids, instance_ids, keypoints, kpt_scores, bbox, COCO_SIGMAS)
    assert list(selection.indices) == [1, 0, 2]  # image 3 first; 13 suppressed by 10; 11 once
    np.testing.assert_allclose(selection.scores, [0.4, 0.45, 0.35])


# ---------------------------------------------------------------- results files
def test_wholebody_results_layout_and_roundtrip(tmp_path):
    keypoints = np.arange(2 * 133 * 2, dtype=float).reshape(2, 133, 2)
    results = build_results(np.array([5, 6]), keypoints, np.full((2, 133), 0.5),
                            np.array([0.9, 0.1]), "coco_wholebody")
    assert [len(results[0][f]) for f, _ in WHOLEBODY_FIELDS] == [51, 18, 204, 63, 63]
    assert results[1]["foot_kpts"][:3] == [keypoints[1, 17, 0], keypoints[1, 17, 1], 0.5]
    assert results[0]["righthand_kpts"][-3:] == [keypoints[0, 132, 0], keypoints[0, 132, 1], 0.5]
    assert (results[1]["image_id"], results[1]["category_id"], results[1]["score"]) == (6, 1, 0.1)
    path = write_results(results, tmp_path / "sub" / "res.json")
    assert read_results(path, "coco_wholebody") == results


def test_write_failure_names_the_path(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OSError, match="not_a_dir"):
        write_results([], blocker / "res.json")


# ---------------------------------------------------------------- scoring vs the toolkit
@pytest.mark.parametrize("backend", BACKENDS)
def test_wholebody_gt_as_prediction_matches_toolkit(coco_fixtures, tmp_path, backend):
    gt_file = coco_fixtures / "test_coco_wholebody.json"
    image_ids, keypoints, _, _, _ = gt_arrays(gt_file, list(WHOLEBODY_FIELDS))
    n = len(image_ids)
    results = build_results(image_ids, keypoints, np.ones((n, 133)), np.ones(n), "coco_wholebody")
    res_file = write_results(results, tmp_path / "gt_as_pred.json")
    ours = evaluate(gt_file, res_file, "coco_wholebody", backend=backend)
    assert list(ours) == metric_names("coco_wholebody")
    assert ours["whole_body/AP"] == 1.0 and ours["body/AP"] == 1.0
    assert ours["lefthand/AP"] < 1.0  # instances without a labelled hand still predict one
    assert_same_metrics(ours, reference_wholebody(gt_file, res_file))
    assert evaluate(gt_file, results, "coco_wholebody", WHOLEBODY_SIGMAS, backend=backend) == ours
    assert "area" not in results[0]  # the caller's list is not modified


@pytest.mark.parametrize("backend", BACKENDS)
def test_wholebody_noisy_rescored_predictions_match_toolkit(coco_fixtures, tmp_path, backend):
    gt_file = coco_fixtures / "test_coco_wholebody.json"
    image_ids, keypoints, _, boxes, ids = gt_arrays(gt_file, list(WHOLEBODY_FIELDS))
    img, inst, kpts, kpt_scores, bbox_scores, areas = noisy_predictions(
        keypoints, boxes, image_ids, ids
    )
    selection = rescore_and_nms(img, inst, kpts, kpt_scores, bbox_scores, WHOLEBODY_SIGMAS, areas)
    n_kept = len(selection.indices)
    assert len(kpts) // 3 * 2 <= n_kept < len(kpts)  # the near-duplicates are suppressed
    kept = selection.indices
    results = build_results(img[kept], kpts[kept], kpt_scores[kept], selection.scores,
                            "coco_wholebody")
    res_file = write_results(results, tmp_path / "noisy.json")
    ours = evaluate(gt_file, res_file, "coco_wholebody", backend=backend)
    assert 0.05 < ours["whole_body/AP"] < 0.95
    assert_same_metrics(ours, reference_wholebody(gt_file, res_file))


@pytest.mark.parametrize("backend", BACKENDS)
def test_coco_gt_as_prediction_and_noisy_match_toolkit(coco_fixtures, tmp_path, backend):
    gt_file = coco_fixtures / "test_coco.json"
    image_ids, keypoints, visible, boxes, ids = gt_arrays(gt_file, [("keypoints", 17)])
    n = len(image_ids)
    perfect = build_results(image_ids, keypoints, (visible > 0) * 1.0, np.ones(n), "coco")
    perfect_file = write_results(perfect, tmp_path / "perfect.json")
    ours = evaluate(gt_file, perfect_file, "coco", backend=backend)
    assert list(ours) == STATS and ours["AP"] == 1.0 and ours["AR"] == 1.0
    reference = _toolkit_stats(gt_file, perfect_file, "keypoints", COCO_SIGMAS, True)
    assert_same_metrics(ours, dict(zip(STATS, reference.tolist(), strict=True)))

    img, inst, kpts, kpt_scores, bbox_scores, areas = noisy_predictions(
        keypoints, boxes, image_ids, ids, seed=1
    )
    selection = rescore_and_nms(img, inst, kpts, kpt_scores, bbox_scores, COCO_SIGMAS, areas)
    kept = selection.indices
    noisy = build_results(img[kept], kpts[kept], kpt_scores[kept], selection.scores, "coco")
    noisy_file = write_results(noisy, tmp_path / "noisy.json")
    ours = evaluate(gt_file, noisy_file, "coco", backend=backend)
    reference = _toolkit_stats(gt_file, noisy_file, "keypoints", COCO_SIGMAS, True)
    assert 0.05 < ours["AP"] < 0.95
    assert_same_metrics(ours, dict(zip(STATS, reference.tolist(), strict=True)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_crowdpose_gt_as_prediction(coco_fixtures, tmp_path, backend):
    gt_file = crowdpose_gt(coco_fixtures / "test_coco.json", tmp_path / "crowdpose.json")
    image_ids, keypoints, _, _, _ = gt_arrays(gt_file, [("keypoints", 14)])
    n = len(image_ids)
    results = build_results(image_ids, keypoints, np.ones((n, 14)), np.ones(n), "crowdpose")
    ours = evaluate(gt_file, results, "crowdpose", backend=backend)
    assert list(ours) == ["AP", "AP50", "AP75", "AR", "AR50", "AR75",
                          "AP_easy", "AP_medium", "AP_hard"]
    assert all(value == pytest.approx(1.0) for value in ours.values()), ours
    # a prediction moved away scores below 1, equal to the toolkit's own CrowdPose evaluation
    shifted = keypoints.copy()
    shifted[0] += 15.0
    worse = build_results(image_ids, shifted, np.ones((n, 14)), np.ones(n), "crowdpose")
    res_file = write_results(worse, tmp_path / "worse.json")
    ours = evaluate(gt_file, res_file, "crowdpose", backend=backend)
    reference = _toolkit_stats(gt_file, res_file, "keypoints_crowd", CROWDPOSE_SIGMAS, False)
    assert ours["AP"] < 1.0 and ours["AP_easy"] < 1.0 and ours["AP_hard"] == 1.0
    assert_same_metrics(ours, dict(zip(metric_names("crowdpose"), reference.tolist(), strict=True)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_results_score_zero(coco_fixtures, backend):
    metrics = evaluate(coco_fixtures / "test_coco.json", [], "coco", backend=backend)
    assert metrics["AP"] == 0.0 and metrics["AR"] == 0.0
    wholebody = evaluate(coco_fixtures / "test_coco_wholebody.json", [], "coco_wholebody",
                         backend=backend)
    assert wholebody["whole_body/AP"] == 0.0 and len(wholebody) == 70


# ------------------------------------------- numpy backend vs the toolkit on every special rule
def _write_case(tmp_path: Path, seed: int, fields, empty_images=()) -> tuple[Path, list[dict]]:
    """``self_check_case`` written to a GT file, less the people on ``empty_images``."""
    ground_truth, results = coco_eval.self_check_case(seed, tuple(fields))
    ground_truth["annotations"] = [a for a in ground_truth["annotations"]
                                   if a["image_id"] not in empty_images]
    results = [entry for entry in results if entry["image_id"] not in empty_images]
    gt_file = tmp_path / f"gt_{seed}.json"
    gt_file.write_text(json.dumps(ground_truth))
    return gt_file, results


@pytest.mark.parametrize("seed", range(3))
def test_numpy_backend_matches_toolkit_on_special_cases(tmp_path, seed):
    """Crowd regions, unlabelled persons, annotation id 0, tied scores, all-zero keypoint
    scores, > 20 detections per image, an image without people, an empty crowdIndex class."""
    gt_file, results = _write_case(tmp_path, seed, [("keypoints", 17)])
    if seed == 2:  # results with boxes: the toolkit takes the detection area from them
        rng = np.random.default_rng(seed)
        for entry in results:
            entry["bbox"] = [10.0, 10.0, *rng.uniform(10, 200, 2).tolist()]
    res_file = write_results(results, tmp_path / "res.json")
    reference = _toolkit_stats(gt_file, res_file, "keypoints", COCO_SIGMAS, True)
    assert_same_metrics(evaluate(gt_file, results, "coco", backend="numpy"),
                        dict(zip(STATS, reference.tolist(), strict=True)))

    # seeds 1, 2: nobody on the 'easy' images 1 and 5, so AP_easy is the toolkit's -1
    gt_file, results = _write_case(tmp_path, seed, [("keypoints", 14)], (1, 5) if seed else ())
    res_file = write_results(results, tmp_path / "res.json")
    reference = _toolkit_stats(gt_file, res_file, "keypoints_crowd", CROWDPOSE_SIGMAS, False)
    ours = evaluate(gt_file, results, "crowdpose", backend="numpy")
    assert_same_metrics(ours, dict(zip(metric_names("crowdpose"), reference.tolist(), strict=True)))
    assert (ours["AP_easy"] == -1.0) == (seed > 0)


@pytest.fixture(params=["compiled", "python"])
def conversion(request, monkeypatch) -> str:
    """The numpy backend reading results with its compiled loop (``_stack.c``), or with the
    Python loop it falls back to where that extension was not built."""
    if request.param == "python":
        monkeypatch.setattr(coco_eval.oks_eval, "_stack", None)
    return request.param


def test_the_compiled_conversion_is_built():
    """``make install`` compiles cigpose/evaluation/_stack.c (the evaluation speed relies on it)."""
    assert coco_eval.oks_eval._stack is not None


def test_compiled_and_python_conversion_read_the_same_arrays(monkeypatch):
    """Floats, ints, bools, numpy scalars, tuples, part scores on some entries only: the same
    arrays from both loops; the same error for what neither can read."""
    oks_eval = coco_eval.oks_eval
    ground_truth, results = coco_eval.self_check_case(3, WHOLEBODY_FIELDS, part_scores=True)
    results[0]["keypoints"] = [int(v) for v in results[0]["keypoints"]]
    results[1]["foot_kpts"] = tuple(np.float32(v) for v in results[1]["foot_kpts"])
    results[2]["face_kpts"][2::3] = [True, False] * 34
    results[3]["score"] = 1
    gt = oks_eval.ground_truth_arrays(ground_truth, list(WHOLEBODY_FIELDS))
    score_keys = ["score", "foot_score", "face_score", "lefthand_score", "wholebody_score"]
    compiled = oks_eval.detection_arrays(results, list(WHOLEBODY_FIELDS), gt, score_keys)
    bad = [dict(entry) for entry in results]
    bad[4] = {**bad[4], "lefthand_kpts": [0.0] * 62 + [None]}
    with pytest.raises(ValueError) as compiled_error:
        oks_eval.detection_arrays(bad, list(WHOLEBODY_FIELDS), gt, score_keys)
    monkeypatch.setattr(oks_eval, "_stack", None)
    python = oks_eval.detection_arrays(results, list(WHOLEBODY_FIELDS), gt, score_keys)
    for name in ("image", "category", "x", "y", "positive", "area"):
        np.testing.assert_array_equal(getattr(python, name), getattr(compiled, name), err_msg=name)
    assert python.scores.keys() == compiled.scores.keys() == {"score", "foot_score", "face_score",
                                                              "lefthand_score", "wholebody_score"}
    for key, values in compiled.scores.items():
        np.testing.assert_array_equal(python.scores[key], values, err_msg=key)
    assert compiled.scores["foot_score"][1] == compiled.scores["score"][1]  # absent: its score
    assert compiled.positive[2, 23:91:2].all() and not compiled.positive[2, 24:91:2].any()
    with pytest.raises(ValueError) as python_error:
        oks_eval.detection_arrays(bad, list(WHOLEBODY_FIELDS), gt, score_keys)
    assert str(python_error.value) == str(compiled_error.value) == (
        "entry 4: field 'lefthand_kpts' holds a non-number, None")


@pytest.mark.parametrize("seed", range(2))
def test_numpy_backend_matches_toolkit_on_wholebody_special_cases(tmp_path, seed, conversion):
    """As above for the six whole-body passes, with part scores on half of the detections."""
    ground_truth, results = coco_eval.self_check_case(seed, WHOLEBODY_FIELDS, part_scores=True)
    assert "foot_score" in results[0] and "foot_score" not in results[1]
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(ground_truth))
    res_file = write_results(results, tmp_path / "res.json")
    ours = evaluate(gt_file, results, "coco_wholebody", backend="numpy")
    assert_same_metrics(ours, reference_wholebody(gt_file, res_file))


@pytest.mark.parametrize("threads", ["1", "2", "6"])
def test_wholebody_parts_on_threads_give_the_same_numbers(tmp_path, monkeypatch, threads):
    """The six passes on 1, 2 or 6 threads ($CIGPOSE_EVAL_THREADS): bit-identical metrics."""
    ground_truth, results = coco_eval.self_check_case(1, WHOLEBODY_FIELDS, part_scores=True)
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(ground_truth))
    monkeypatch.setenv(coco_eval.THREADS_ENV, "1")
    serial = evaluate(gt_file, results, "coco_wholebody", backend="numpy")
    monkeypatch.setenv(coco_eval.THREADS_ENV, threads)
    assert coco_eval.eval_threads() == int(threads)
    assert evaluate(gt_file, results, "coco_wholebody", backend="numpy") == serial
    monkeypatch.setenv(coco_eval.THREADS_ENV, "0")
    with pytest.raises(ValueError, match="CIGPOSE_EVAL_THREADS"):
        evaluate(gt_file, results, "coco_wholebody", backend="numpy")


def _noisy_coco_results(gt_file: Path) -> list[dict]:
    image_ids, keypoints, _, boxes, ids = gt_arrays(gt_file, [("keypoints", 17)])
    img, inst, kpts, kpt_scores, bbox_scores, areas = noisy_predictions(
        keypoints, boxes, image_ids, ids, seed=2
    )
    return build_results(img, kpts, kpt_scores, bbox_scores, "coco")


@pytest.fixture
def fresh_self_check():
    """Forget the cached self-check verdict before and after the test."""
    coco_eval.numpy_backend_verified.cache_clear()
    yield
    coco_eval.numpy_backend_verified.cache_clear()


@pytest.mark.parametrize("dataset", ["coco_wholebody", "coco", "crowdpose"])
def test_self_check_passes_and_catches_a_wrong_backend(fresh_self_check, monkeypatch, caplog,
                                                       dataset):
    with caplog.at_level(logging.INFO, logger="cigpose.evaluation.coco_eval"):
        assert coco_eval.numpy_backend_verified(dataset)
    assert f"{dataset} keypoint evaluation backend: numpy" in caplog.text
    coco_eval.numpy_backend_verified.cache_clear()
    accumulate = coco_eval.oks_eval.accumulate
    monkeypatch.setattr(coco_eval.oks_eval, "accumulate",
                        lambda *args: tuple(0.9 * value for value in accumulate(*args)))
    with caplog.at_level(logging.WARNING, logger="cigpose.evaluation.coco_eval"):
        assert not coco_eval.numpy_backend_verified(dataset)
    assert "using xtcocotools" in caplog.text


def test_auto_falls_back_to_xtcocotools_without_the_numpy_backend(
    coco_fixtures, tmp_path, fresh_self_check, monkeypatch, caplog
):
    gt_file = coco_fixtures / "test_coco.json"
    results = _noisy_coco_results(gt_file)
    res_file = write_results(results, tmp_path / "res.json")
    reference = _toolkit_stats(gt_file, res_file, "keypoints", COCO_SIGMAS, True)
    expected = dict(zip(STATS, reference.tolist(), strict=True))
    assert_same_metrics(evaluate(gt_file, results, "coco", backend="numpy"), expected)
    monkeypatch.setattr(coco_eval, "oks_eval", None)  # the fast backend is unavailable
    with caplog.at_level(logging.WARNING, logger="cigpose.evaluation.coco_eval"):
        fallback = evaluate(gt_file, results, "coco")
    assert "using xtcocotools" in caplog.text
    assert fallback == evaluate(gt_file, results, "coco", backend="xtcocotools")
    assert_same_metrics(fallback, expected)


def test_auto_falls_back_when_a_numpy_evaluation_fails(coco_fixtures, monkeypatch, caplog):
    gt_file = coco_fixtures / "test_coco.json"
    results = _noisy_coco_results(gt_file)
    toolkit = evaluate(gt_file, results, "coco", backend="xtcocotools")

    def broken(*args):
        raise RuntimeError("numpy backend exploded")

    monkeypatch.setattr(coco_eval, "numpy_backend_verified", lambda dataset: True)
    monkeypatch.setattr(coco_eval, "evaluate_numpy", broken)
    with caplog.at_level(logging.WARNING, logger="cigpose.evaluation.coco_eval"):
        assert evaluate(gt_file, results, "coco") == toolkit
    assert "numpy backend exploded" in caplog.text
    with pytest.raises(RuntimeError, match="exploded"):  # asked for explicitly: no fallback
        evaluate(gt_file, results, "coco", backend="numpy")


def test_backend_from_the_environment(coco_fixtures, monkeypatch):
    gt_file = coco_fixtures / "test_coco.json"
    results = _noisy_coco_results(gt_file)
    toolkit = evaluate(gt_file, results, "coco", backend="xtcocotools")
    monkeypatch.setattr(coco_eval, "evaluate_numpy", None)  # would fail if it were called
    monkeypatch.setenv(coco_eval.BACKEND_ENV, "xtcocotools")
    assert evaluate(gt_file, results, "coco") == toolkit
    monkeypatch.setenv(coco_eval.BACKEND_ENV, "fortran")
    with pytest.raises(ValueError, match="fortran"):
        evaluate(gt_file, results, "coco")


def test_bad_results_files_raise_naming_the_file(coco_fixtures, tmp_path):
    gt_file = coco_fixtures / "test_coco.json"
    with pytest.raises(FileNotFoundError, match="missing.json"):
        evaluate(gt_file, tmp_path / "missing.json", "coco")
    broken = tmp_path / "broken.json"
    broken.write_text('[{"image_id": 785, ')
    with pytest.raises(ValueError, match="broken.json"):
        evaluate(gt_file, broken, "coco")
    short = tmp_path / "short.json"
    short.write_text(json.dumps([{"image_id": 785, "score": 1.0, "keypoints": [0.0] * 50}]))
    with pytest.raises(ValueError, match=r"short.json: entry 0 field 'keypoints'"):
        evaluate(gt_file, short, "coco")
    with pytest.raises(ValueError, match="misses field"):
        evaluate(coco_fixtures / "test_coco_wholebody.json", short, "coco_wholebody")
    stranger = [{"image_id": 1, "category_id": 1, "score": 1.0, "keypoints": [0.0] * 51}]
    with pytest.raises(ValueError, match=r"not in the ground truth"):
        evaluate(gt_file, stranger, "coco")
    with pytest.raises(ValueError, match="crowdIndex"):
        evaluate(gt_file, [], "crowdpose")
    with pytest.raises(ValueError, match="broken.json"):
        evaluate(broken, [], "coco")  # malformed ground truth is named too


@pytest.mark.parametrize("backend", ["numpy", "auto"])
def test_malformed_results_lists_raise_naming_the_entry(coco_fixtures, backend, conversion):
    """The numpy backend checks a results list by converting it; what it cannot read is an
    error that names the entry (never a fallback, never a silent skip)."""
    gt_file = coco_fixtures / "test_coco_wholebody.json"
    image_ids, keypoints, _, _, _ = gt_arrays(gt_file, list(WHOLEBODY_FIELDS))
    n = len(image_ids)
    good = build_results(image_ids, keypoints, np.ones((n, 133)), np.ones(n), "coco_wholebody")
    assert evaluate(gt_file, good, "coco_wholebody", backend=backend)["whole_body/AP"] == 1.0

    def broken(index: int, **changes) -> list[dict]:
        results = [dict(entry) for entry in good]
        results[index].update(changes)
        return results

    cases = [
        (broken(2, face_kpts=[0.0] * 203), r"results: entry 2 field 'face_kpts' must be a list of 204"),
        (broken(1, foot_kpts=[0.0] * 17 + ["1.5"]), r"results: entry 1: field 'foot_kpts' holds a non-number, '1.5'"),
        (broken(3, lefthand_kpts=None), r"results: entry 3 field 'lefthand_kpts' must be a list"),
        (broken(0, image_id=123456), r"results: 1 image id\(s\) are not in the ground truth"),
        ([dict(entry) for entry in good] + [[1, 2]], rf"results: entry {n} is not an object"),
    ]
    for results, message in cases:
        with pytest.raises(ValueError, match=message):
            evaluate(gt_file, results, "coco_wholebody", backend=backend)
    del cases[0][0][2]["score"]
    with pytest.raises(ValueError, match=r"results: entry 2 misses field\(s\) \['score'\]"):
        evaluate(gt_file, cases[0][0], "coco_wholebody", backend=backend)


def _score_command() -> list[str]:
    return script("cigpose-score")


def test_score_cli_prints_one_json_object(coco_fixtures, tmp_path):
    gt_file = coco_fixtures / "test_coco.json"
    image_ids, keypoints, visible, _, _ = gt_arrays(gt_file, [("keypoints", 17)])
    results = build_results(image_ids, keypoints, visible * 1.0, np.ones(len(image_ids)), "coco")
    res_file = write_results(results, tmp_path / "res.json")
    command = [*_score_command(), "--gt", str(gt_file), "--results", str(res_file)]
    done = subprocess.run([*command, "--dataset", "coco"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert list(metrics) == STATS and metrics["AP"] == 1.0
    toolkit = subprocess.run([*command, "--dataset", "coco", "--backend", "xtcocotools"],
                             capture_output=True, text=True)  # the default above: numpy
    assert toolkit.returncode == 0, toolkit.stderr
    assert json.loads(toolkit.stdout) == pytest.approx(metrics, abs=1e-6)
    missing = [*_score_command(), "--gt", str(gt_file), "--results", str(tmp_path / "nope.json")]
    failed = subprocess.run([*missing, "--dataset", "coco"], capture_output=True, text=True)
    assert failed.returncode == 1 and "nope.json" in failed.stderr and failed.stdout == ""
