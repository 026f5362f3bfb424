"""OKS keypoint AP/AR for COCO-WholeBody, COCO, CrowdPose: the official toolkit's numbers, fast.

The reference is xtcocotools' ``COCOeval`` as MMPose's ``CocoMetric`` / ``CocoWholeBodyMetric``
call it:

- COCO: iouType ``keypoints``, area from the annotation (``use_area=True``).
- COCO-WholeBody: one ``COCOeval`` per part with that part's slice of the 133 sigmas and
  ``use_area=True`` — iouTypes ``keypoints_body``, ``keypoints_foot``, ``keypoints_face``,
  ``keypoints_lefthand``, ``keypoints_righthand`` and ``keypoints_wholebody`` (all 133).
  ``hand/*`` is the mean of the ``lefthand/*`` and ``righthand/*`` values, which is how the
  "Hand" column of the COCO-WholeBody paper (and the RTMPose / DWPose tables that copy its
  protocol) is computed: the dataset author states "we simply calculate their mean"
  (https://github.com/jin-s13/COCO-WholeBody/issues/38); the official toolkit itself only
  evaluates the two hands separately.
- CrowdPose: iouType ``keypoints_crowd`` with ``use_area=False`` (OKS scale = 0.53 × box area),
  at most 20 detections, AP_easy/medium/hard over images with ``crowdIndex`` < 0.2, < 0.8, ≥ 0.8.

Two backends give these numbers (``backend=`` or the ``CIGPOSE_EVAL_BACKEND`` variable):
``numpy`` (``cigpose.evaluation.oks_eval``, vectorised, with a compiled conversion loop: 48× /
58× faster on 50k / 200k whole-body results on 2 cores, BENCHMARKS.md) and ``xtcocotools`` (the
toolkit itself).
``auto`` (default) uses numpy after a once-per-process self-check against xtcocotools on a
small built-in case, and falls back to xtcocotools (with a warning) if that check or a numpy
evaluation fails. The backend used is logged once.

Values are those of ``COCOeval.stats``; like the toolkit, a metric with no ground truth in its
area range is -1.
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import logging
import os
import warnings
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from cigpose.evaluation import oks_eval
from cigpose.evaluation.oks_eval import UnreadableEntries
from cigpose.evaluation.results import (
    WHOLEBODY_FIELDS,
    check_results,
    read_results,
    result_fields,
)

KEYPOINT_STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
CROWDPOSE_STATS = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")
WHOLEBODY_PARTS = ("whole_body", "body", "foot", "face", "lefthand", "righthand", "hand")
DATASETS = ("coco_wholebody", "coco", "crowdpose")
BACKENDS = ("auto", "numpy", "xtcocotools")
BACKEND_ENV = "CIGPOSE_EVAL_BACKEND"
THREADS_ENV = "CIGPOSE_EVAL_THREADS"

_log = logging.getLogger(__name__)

# part name -> xtcocotools iouType, in the order the reference evaluates them.
_WHOLEBODY_IOU_TYPES = {
    "body": "keypoints_body",
    "foot": "keypoints_foot",
    "face": "keypoints_face",
    "lefthand": "keypoints_lefthand",
    "righthand": "keypoints_righthand",
}
# part name -> score field xtcocotools reads for it (falling back to "score" where absent).
_WHOLEBODY_SCORE_KEYS = {
    "body": "score",
    "foot": "foot_score",
    "face": "face_score",
    "lefthand": "lefthand_score",
    "righthand": "righthand_score",
    "whole_body": "wholebody_score",
}


def metric_names(dataset: str) -> list[str]:
    """The keys ``evaluate`` returns for ``dataset``."""
    if dataset == "coco_wholebody":
        return [f"{part}/{stat}" for part in WHOLEBODY_PARTS for stat in KEYPOINT_STATS]
    if dataset == "coco":
        return list(KEYPOINT_STATS)
    if dataset == "crowdpose":
        return list(CROWDPOSE_STATS)
    raise ValueError(f"unknown dataset {dataset!r}: expected one of {DATASETS}")


def dataset_sigmas(dataset: str) -> np.ndarray:
    """(K,) OKS sigmas of ``dataset`` from the project's dataset metainfo."""
    from cigpose.data.metainfo import load_meta

    return np.asarray(load_meta(dataset).sigmas, dtype=np.float64)


@contextlib.contextmanager
def _quiet(verbose: bool):
    """Silence xtcocotools' prints and warnings unless ``verbose``."""
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def load_ground_truth(gt_file: str | Path, verbose: bool = False) -> COCO:
    """Load a COCO-format annotation file once (reusable across ``evaluate`` calls)."""
    path = Path(gt_file)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth annotation file not found: {path}")
    with _quiet(verbose):
        try:
            return COCO(str(path))
        except (ValueError, UnicodeDecodeError, AssertionError) as err:
            raise ValueError(f"cannot read ground-truth annotation file {path}: {err}") from err


class _CrowdPoseEval(COCOeval):
    """xtcocotools' CrowdPose evaluation, splitting images by the loaded GT's ``crowdIndex``.

    The toolkit re-reads the annotation file from disk for the easy/medium/hard split; this
    takes the same field from the already loaded images (same thresholds, same semantics).
    """

    def split(self, gt_file, first=0.01, second=0.85):
        easy, medium, hard = [], [], []
        for image in self.cocoGt.dataset["images"]:
            index = image["crowdIndex"]
            (easy if index < first else medium if index < second else hard).append(image["id"])
        return easy, medium, hard


def _run(evaluator: COCOeval) -> np.ndarray:
    evaluator.params.useSegm = None
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return np.asarray(evaluator.stats, dtype=np.float64)


_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # COCO -> datasets it passed


def _check_ground_truth(ground_truth: COCO, dataset: str, source: str) -> None:
    """ValueError naming ``source`` unless ``ground_truth`` has what ``dataset`` needs (checked
    once per loaded ``COCO`` object: validation reuses one)."""
    if dataset in _CHECKED.get(ground_truth, ()):
        return
    _check_fields(ground_truth, dataset, source)
    _CHECKED.setdefault(ground_truth, set()).add(dataset)


def _check_fields(ground_truth: COCO, dataset: str, source: str) -> None:
    images = ground_truth.dataset.get("images", [])
    if dataset == "crowdpose":
        missing = [image["id"] for image in images if "crowdIndex" not in image]
        if missing:
            raise ValueError(
                f"{source}: CrowdPose evaluation needs 'crowdIndex' on every image; "
                f"{len(missing)} image(s) lack it, e.g. id {missing[0]}"
            )
    if dataset == "coco_wholebody":
        annotations = ground_truth.dataset.get("annotations", [])
        lacking = [a["id"] for a in annotations if any(f not in a for f, _ in WHOLEBODY_FIELDS)]
        if lacking:
            raise ValueError(
                f"{source}: not a COCO-WholeBody annotation file; annotation {lacking[0]} lacks "
                f"the part keypoint fields {[f for f, _ in WHOLEBODY_FIELDS]}"
            )


def evaluate(
    gt_file: str | Path | COCO,
    results: list[dict] | str | Path,
    dataset: str,
    sigmas: np.ndarray | None = None,
    verbose: bool = False,
    backend: str | None = None,
) -> dict[str, float]:
    """Keypoint AP/AR of ``results`` against ``gt_file``, equal to the official toolkit's.

    Args:
        gt_file: COCO-format annotation file, or a ``COCO`` object from ``load_ground_truth``
            (to load a large file once for many evaluations; its arrays are then cached too).
        results: results list (see ``cigpose.evaluation.results``) or a path to its JSON file.
            The caller's list is not modified.
        dataset: ``coco_wholebody``, ``coco`` or ``crowdpose``.
        sigmas: (K,) OKS sigmas; default: the dataset's metainfo sigmas.
        verbose: print the summaries (the toolkit's, or one line per part with numpy).
        backend: ``auto``, ``numpy`` or ``xtcocotools`` (see the module docstring); default:
            the ``CIGPOSE_EVAL_BACKEND`` environment variable, else ``auto``.

    Returns:
        ``metric_names(dataset)`` -> value (Python floats). Empty results score 0.

    Raises:
        FileNotFoundError / ValueError naming the file (or entry) that is missing or malformed.
    """
    names = metric_names(dataset)
    requested = _resolve_backend(backend)
    ground_truth, gt_source = _loaded_ground_truth(gt_file, dataset, verbose)
    if isinstance(results, (str, Path)):
        results, source = read_results(results, dataset), str(results)
    else:
        source = "results"
    sigmas = dataset_sigmas(dataset) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    chosen = requested
    if requested == "auto":
        chosen = "numpy" if numpy_backend_verified(dataset) else "xtcocotools"
    if chosen == "numpy":
        arrays = None
        try:  # converting the results checks them: only a failure needs the entry-wise check
            arrays = _ground_truth_arrays(ground_truth, dataset)
            stats = evaluate_numpy(arrays, results, dataset, sigmas)
        except UnreadableEntries as err:  # malformed input: no backend would score it
            _check_results(results, ground_truth, dataset, source, gt_source)  # its own message
            raise ValueError(f"{gt_source if arrays is None else source}: {err}") from err
        except Exception as err:  # noqa: BLE001 - any failure: the toolkit still answers
            _check_results(results, ground_truth, dataset, source, gt_source)  # the input's fault?
            if requested == "numpy":
                raise
            _log.warning("numpy keypoint evaluation failed (%s: %s); using xtcocotools",
                         type(err).__name__, err)
        else:
            if verbose:
                _print_summary(stats)
            return stats
    _check_results(results, ground_truth, dataset, source, gt_source)
    stats = _evaluate_xtcocotools(ground_truth, results, dataset, sigmas, verbose)
    return dict(zip(names, stats, strict=True))


def _loaded_ground_truth(gt_file: str | Path | COCO, dataset: str,
                         verbose: bool) -> tuple[COCO, str]:
    """The loaded, checked ground truth and the name to give it in errors."""
    if isinstance(gt_file, COCO):
        ground_truth, gt_source = gt_file, "ground truth"
    else:
        ground_truth, gt_source = load_ground_truth(gt_file, verbose), str(gt_file)
    _check_ground_truth(ground_truth, dataset, gt_source)
    return ground_truth, gt_source


def _check_results(results: object, ground_truth: COCO, dataset: str, source: str,
                   gt_source: str) -> None:
    """ValueError naming ``source`` and the entry unless ``results`` is a valid results list
    of ``dataset`` whose image ids are all in ``ground_truth``."""
    check_results(results, dataset, source)
    unknown = {entry["image_id"] for entry in results} - set(ground_truth.getImgIds())
    if unknown:
        raise ValueError(
            f"{source}: {len(unknown)} image id(s) are not in the ground truth {gt_source}, "
            f"e.g. {sorted(unknown)[:5]}"
        )


def _resolve_backend(backend: str | None) -> str:
    """``backend``, else ``$CIGPOSE_EVAL_BACKEND``, else ``auto``; ValueError if unknown."""
    chosen = backend or os.environ.get(BACKEND_ENV) or "auto"
    if chosen not in BACKENDS:
        raise ValueError(f"unknown evaluation backend {chosen!r}: expected one of {BACKENDS}")
    return chosen


def _evaluate_xtcocotools(
    ground_truth: COCO, results: list[dict], dataset: str, sigmas: np.ndarray, verbose: bool
) -> list[float]:
    """Metric values in ``metric_names(dataset)`` order, from xtcocotools' ``COCOeval``."""
    # The toolkit adds 'id', 'area', 'bbox', part scores to each dict: give it shallow copies.
    with _quiet(verbose):
        detections = ground_truth.loadRes([dict(entry) for entry in results])
        if dataset == "coco":
            evaluator = COCOeval(ground_truth, detections, "keypoints", sigmas, use_area=True)
            return _run(evaluator).tolist()
        if dataset == "crowdpose":
            evaluator = _CrowdPoseEval(ground_truth, detections, "keypoints_crowd", sigmas, False)
            return _run(evaluator).tolist()
        stats = _evaluate_wholebody(ground_truth, detections, sigmas)
    return [stats[name] for name in metric_names(dataset)]


def _evaluate_wholebody(ground_truth: COCO, detections: COCO, sigmas: np.ndarray) -> dict:
    bounds = np.cumsum([0] + [count for _, count in WHOLEBODY_FIELDS])
    if len(sigmas) != bounds[-1]:
        raise ValueError(f"COCO-WholeBody needs {bounds[-1]} sigmas, got {len(sigmas)}")
    stats: dict[str, np.ndarray] = {}
    for (part, iou_type), start, stop in zip(
        _WHOLEBODY_IOU_TYPES.items(), bounds[:-1], bounds[1:], strict=True
    ):
        evaluator = COCOeval(ground_truth, detections, iou_type, sigmas[start:stop], use_area=True)
        stats[part] = _run(evaluator)
    stats["whole_body"] = _run(
        COCOeval(ground_truth, detections, "keypoints_wholebody", sigmas, use_area=True)
    )
    stats["hand"] = (stats["lefthand"] + stats["righthand"]) / 2
    return {
        f"{part}/{stat}": float(value)
        for part in WHOLEBODY_PARTS
        for stat, value in zip(KEYPOINT_STATS, stats[part], strict=True)
    }


# ------------------------------------------------------------------------------ numpy backend
_GT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _ground_truth_arrays(ground_truth: COCO, dataset: str) -> oks_eval.GroundTruth:
    """``ground_truth`` as arrays, cached per ``COCO`` object (validation reuses one)."""
    per_dataset = _GT_CACHE.setdefault(ground_truth, {})
    if dataset not in per_dataset:
        fields = list(result_fields(dataset).items())
        per_dataset[dataset] = oks_eval.ground_truth_arrays(ground_truth.dataset, fields)
    return per_dataset[dataset]


def _wholebody_parts() -> dict[str, oks_eval.Part]:
    """Part name -> keypoint range and score field, in the reference's evaluation order."""
    bounds = np.cumsum([0] + [count for _, count in WHOLEBODY_FIELDS]).tolist()
    parts = {
        part: oks_eval.Part(start, stop, _WHOLEBODY_SCORE_KEYS[part])
        for part, start, stop in zip(_WHOLEBODY_IOU_TYPES, bounds[:-1], bounds[1:], strict=True)
    }
    parts["whole_body"] = oks_eval.Part(0, bounds[-1], _WHOLEBODY_SCORE_KEYS["whole_body"])
    return parts


def wholebody_ground_truth(annotations: dict) -> oks_eval.GroundTruth:
    """A loaded COCO-WholeBody annotation dict as the numpy backend's arrays."""
    return oks_eval.ground_truth_arrays(annotations, list(result_fields("coco_wholebody").items()))


def eval_threads() -> int:
    """Worker threads of the whole-body evaluation (``match_wholebody``): ``$CIGPOSE_EVAL_THREADS``,
    else one per core up to the six parts; 1: everything in order on the calling thread."""
    value = os.environ.get(THREADS_ENV)
    if value is not None:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
        return int(value)
    return max(1, min(len(_WHOLEBODY_SCORE_KEYS), os.cpu_count() or 1))


class _Inline(Executor):
    """An executor that runs each call when it is submitted (the one-thread case)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - handed to the caller by .result()
            future.set_exception(err)
        return future


@dataclass
class WholebodyMatch:
    """The numpy backend's six COCO-WholeBody passes over one results list (``match_wholebody``)."""

    detections: oks_eval.Detections
    pairs: oks_eval.Pairs  # every same-image (detection, person) pair
    terms: dict[str, oks_eval.OksTerms]  # part -> OKS terms of every pair
    parts: dict[str, Any]  # part -> finish(its Matched), in evaluation order


def match_wholebody(
    ground_truth: oks_eval.GroundTruth, results: list[dict], sigmas: np.ndarray,
    threads: int = 1, finish: Callable[[oks_eval.Matched], Any] | None = None,
) -> WholebodyMatch:
    """The six COCO-WholeBody passes (body, foot, face, lefthand, righthand, whole_body) of the
    numpy backend on a results list (``UnreadableEntries`` if it cannot be read).

    The results are converted once (all fields), one pair list serves all six parts, the five
    parts' OKS terms come from one pass over the pairs (the whole body's are their sums), then
    each part is matched and ``finish``-ed (e.g. ``oks_eval.keypoint_stats``; default: keep the
    ``Matched``). With ``threads`` > 1 the terms are split over the threads by pairs and the
    six parts run as tasks on them (the array work mostly releases the GIL). The results do
    not depend on ``threads``.
    """
    parts = _wholebody_parts()
    names = [name for name in parts if name != "whole_body"]  # side by side, in field order
    finish = finish or (lambda matched: matched)
    detections = oks_eval.detection_arrays(results, list(result_fields("coco_wholebody").items()),
                                           ground_truth, list(_WHOLEBODY_SCORE_KEYS.values()))
    pairs = oks_eval.all_pairs(ground_truth, detections)
    side_by_side = [parts[name] for name in names]
    terms_list = oks_eval.empty_terms(side_by_side, len(pairs.row))
    bounds = np.linspace(0, len(pairs.row), threads + 1).astype(int).tolist()

    def fill_terms(lo: int, hi: int) -> None:
        oks_eval.oks_terms(ground_truth, detections, pairs, side_by_side, sigmas, use_area=True,
                           span=slice(lo, hi), out=terms_list)

    def part_result(name: str) -> Any:
        return finish(oks_eval.match_part(ground_truth, detections, parts[name], sigmas,
                                          use_area=True, pairs=pairs, terms=terms[name]))

    with ThreadPoolExecutor(threads) if threads > 1 else _Inline() as pool:
        for future in [pool.submit(fill_terms, lo, hi) for lo, hi in itertools.pairwise(bounds)]:
            future.result()
        terms = dict(zip(names, terms_list, strict=True))
        terms["whole_body"] = sum(terms_list[1:], start=terms_list[0])
        # the largest passes first, so that no thread is left alone with one at the end
        order = sorted(parts, key=lambda name: -(parts[name].stop - parts[name].start))
        futures = {name: pool.submit(part_result, name) for name in order}
        done = {name: futures[name].result() for name in parts}
    return WholebodyMatch(detections, pairs, terms, done)


def evaluate_numpy(
    ground_truth: oks_eval.GroundTruth, results: list[dict], dataset: str, sigmas: np.ndarray
) -> dict[str, float]:
    """``metric_names(dataset)`` -> value with the vectorised backend.

    Args:
        ground_truth: arrays of the annotation file (``oks_eval.ground_truth_arrays``).
        results: results list, checked by converting it (``UnreadableEntries``, a ValueError,
            on a missing field, a wrong length, a non-number or an image not in the ground truth).
        dataset: ``coco_wholebody``, ``coco`` or ``crowdpose``.
        sigmas: (K,) OKS sigmas of the dataset's full keypoint layout.
    """
    fields = list(result_fields(dataset).items())
    num_keypoints = sum(count for _, count in fields)
    if len(sigmas) != num_keypoints:
        raise ValueError(f"{dataset} needs {num_keypoints} sigmas, got {len(sigmas)}")
    if dataset == "coco_wholebody":
        stats = match_wholebody(ground_truth, results, sigmas, eval_threads(),
                                oks_eval.keypoint_stats).parts
        stats["hand"] = (stats["lefthand"] + stats["righthand"]) / 2
        return {
            f"{part}/{stat}": float(value)
            for part in WHOLEBODY_PARTS
            for stat, value in zip(KEYPOINT_STATS, stats[part], strict=True)
        }
    detections = oks_eval.detection_arrays(results, fields, ground_truth)
    if dataset == "coco":
        matched = oks_eval.match_part(ground_truth, detections, oks_eval.Part(0, num_keypoints),
                                      sigmas, use_area=True)
        return dict(zip(KEYPOINT_STATS, oks_eval.keypoint_stats(matched).tolist(), strict=True))
    part = oks_eval.Part(0, num_keypoints, crowd_ignore=True)  # crowdpose
    matched = oks_eval.match_part(ground_truth, detections, part, sigmas, use_area=False)
    stats = oks_eval.crowdpose_stats(matched, ground_truth.crowd_index)
    return dict(zip(CROWDPOSE_STATS, stats.tolist(), strict=True))


def _print_summary(metrics: dict[str, float]) -> None:
    """One line per metric, like the toolkit's summary (verbose numpy evaluations)."""
    for name, value in metrics.items():
        print(f" {name:<22} = {value:0.3f}")


# ------------------------------------------------------------------------------ self-check
def self_check_case(
    seed: int = 0,
    fields: tuple[tuple[str, int], ...] = (("keypoints", 14),),
    part_scores: bool = False,
) -> tuple[dict, list[dict]]:
    """A small ground truth and results list that exercise every rule of the toolkit.

    6 images (crowdIndex easy/medium/hard; one without people) with persons whose keypoints
    are split over ``fields`` (name, count), including crowd regions, persons without labelled
    keypoints and annotation id 0; detections with tied scores, all-zero keypoint scores, 25 on
    one image, and near and far copies of the persons; with ``part_scores`` every other
    detection also carries the whole-body part scores (``foot_score`` ...).
    """
    rng = np.random.default_rng(seed)
    total = sum(count for _, count in fields)
    bounds = np.cumsum([0] + [count for _, count in fields]).tolist()

    def split(triples: np.ndarray) -> dict[str, list[float]]:
        return {name: triples[start:stop].reshape(-1).tolist()
                for (name, _), start, stop in zip(fields, bounds[:-1], bounds[1:], strict=True)}

    images, annotations, results = [], [], []
    for image_id, crowd_index in enumerate([0.1, 0.5, 0.9, 0.5, 0.1, 0.9], start=1):
        images.append({"id": image_id, "width": 640, "height": 480, "crowdIndex": crowd_index})
        for person in range(0 if image_id == 5 else int(rng.integers(1, 5))):
            x, y = rng.uniform(0, 300, 2)
            w, h = rng.uniform(20, 250, 2)
            points = np.column_stack([x + rng.uniform(0, w, total), y + rng.uniform(0, h, total)])
            visible = np.where(rng.random(total) < rng.choice([0.0, 0.6, 1.0]), 2, 0)
            annotations.append({
                "id": len(annotations), "image_id": image_id, "category_id": 1,
                "iscrowd": int(rng.random() < 0.15), "bbox": [x, y, w, h],
                "area": float(w * h * 0.6), "num_keypoints": int((visible[:17] > 0).sum()),
                **split(np.column_stack([points, visible])),
            })
            for _ in range(25 if (image_id, person) == (2, 0) else int(rng.integers(1, 8))):
                noise = rng.normal(0, rng.uniform(0.5, 30), (total, 2))
                kpt_scores = rng.uniform(0, 1, total) * (rng.random() > 0.1)
                results.append({"image_id": image_id, "category_id": 1,
                                **split(np.column_stack([points + noise, kpt_scores])),
                                "score": float(rng.choice([0.3, 0.6, 0.9]))})
    for entry in results[::2] if part_scores else []:
        entry.update({key: float(rng.choice([0.2, 0.5, 0.8]))
                      for key in _WHOLEBODY_SCORE_KEYS.values() if key != "score"})
    ground_truth = {"images": images, "annotations": annotations,
                    "categories": [{"id": 1, "name": "person"}]}
    return ground_truth, results


def _in_memory_coco(dataset: dict) -> COCO:
    with _quiet(False):
        return COCO("<in memory>", ann_data=dataset)


@functools.cache
def numpy_backend_verified(dataset: str) -> bool:
    """Whether the numpy backend equals xtcocotools (1e-6) on ``self_check_case`` in
    ``dataset``'s layout; run once per process and dataset, logging the backend chosen."""
    try:
        fields = tuple(result_fields(dataset).items())
        ground_truth, results = self_check_case(0, fields, dataset == "coco_wholebody")
        sigmas = np.linspace(0.025, 0.107, sum(count for _, count in fields))  # any will do
        arrays = oks_eval.ground_truth_arrays(ground_truth, fields)
        ours = evaluate_numpy(arrays, results, dataset, sigmas)
        reference = _evaluate_xtcocotools(_in_memory_coco(ground_truth), results, dataset,
                                          sigmas, verbose=False)
        gap = float(np.max(np.abs(np.subtract(list(ours.values()), reference))))
    except Exception as err:  # noqa: BLE001 - any failure means: use the toolkit
        _log.warning("%s keypoint evaluation: numpy self-check raised %s: %s; using xtcocotools",
                     dataset, type(err).__name__, err)
        return False
    if not gap <= 1e-6:
        _log.warning("%s keypoint evaluation: numpy backend differs from xtcocotools by %.3g on "
                     "the self-check; using xtcocotools", dataset, gap)
        return False
    _log.info("%s keypoint evaluation backend: numpy (self-check against xtcocotools: max "
              "difference %.1e)", dataset, gap)
    return True
