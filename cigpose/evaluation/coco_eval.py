"""OKS keypoint AP/AR with the official toolkit (xtcocotools), for COCO-WholeBody, COCO, CrowdPose.

Exactly the reference evaluation (MMPose ``CocoMetric`` / ``CocoWholeBodyMetric``, which wrap
xtcocotools' ``COCOeval``):

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

Values are those of ``COCOeval.stats``; like the toolkit, a metric with no ground truth in its
area range is -1.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np
from xtcocotools.coco import COCO
from xtcocotools.cocoeval import COCOeval

from cigpose.evaluation.results import WHOLEBODY_FIELDS, check_results, read_results

KEYPOINT_STATS = ("AP", "AP50", "AP75", "APM", "APL", "AR", "AR50", "AR75", "ARM", "ARL")
CROWDPOSE_STATS = ("AP", "AP50", "AP75", "AR", "AR50", "AR75", "AP_easy", "AP_medium", "AP_hard")
WHOLEBODY_PARTS = ("whole_body", "body", "foot", "face", "lefthand", "righthand", "hand")
DATASETS = ("coco_wholebody", "coco", "crowdpose")

# part name -> xtcocotools iouType, in the order the reference evaluates them.
_WHOLEBODY_IOU_TYPES = {
    "body": "keypoints_body",
    "foot": "keypoints_foot",
    "face": "keypoints_face",
    "lefthand": "keypoints_lefthand",
    "righthand": "keypoints_righthand",
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


def _check_ground_truth(ground_truth: COCO, dataset: str, source: str) -> None:
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
) -> dict[str, float]:
    """Keypoint AP/AR of ``results`` against ``gt_file`` with the official toolkit.

    Args:
        gt_file: COCO-format annotation file, or a ``COCO`` object from ``load_ground_truth``
            (to load a large file once for many evaluations).
        results: results list (see ``cigpose.evaluation.results``) or a path to its JSON file.
            The caller's list is not modified.
        dataset: ``coco_wholebody``, ``coco`` or ``crowdpose``.
        sigmas: (K,) OKS sigmas; default: the dataset's metainfo sigmas.
        verbose: let the toolkit print its summaries.

    Returns:
        ``metric_names(dataset)`` -> value (Python floats). Empty results score 0.

    Raises:
        FileNotFoundError / ValueError naming the file (or entry) that is missing or malformed.
    """
    names = metric_names(dataset)
    if isinstance(gt_file, COCO):
        ground_truth, gt_source = gt_file, "ground truth"
    else:
        ground_truth, gt_source = load_ground_truth(gt_file, verbose), str(gt_file)
    _check_ground_truth(ground_truth, dataset, gt_source)
    if isinstance(results, (str, Path)):
        results, source = read_results(results, dataset), str(results)
    else:
        source = "results"
        check_results(results, dataset, source)
    unknown = {entry["image_id"] for entry in results} - set(ground_truth.getImgIds())
    if unknown:
        raise ValueError(
            f"{source}: {len(unknown)} image id(s) are not in the ground truth {gt_source}, "
            f"e.g. {sorted(unknown)[:5]}"
        )
    sigmas = dataset_sigmas(dataset) if sigmas is None else np.asarray(sigmas, dtype=np.float64)

    # The toolkit adds 'id', 'area', 'bbox', part scores to each dict: give it shallow copies.
    with _quiet(verbose):
        detections = ground_truth.loadRes([dict(entry) for entry in results])
        if dataset == "coco":
            stats = _run(COCOeval(ground_truth, detections, "keypoints", sigmas, use_area=True))
            return dict(zip(names, stats.tolist(), strict=True))
        if dataset == "crowdpose":
            evaluator = _CrowdPoseEval(ground_truth, detections, "keypoints_crowd", sigmas, False)
            return dict(zip(names, _run(evaluator).tolist(), strict=True))
        return _evaluate_wholebody(ground_truth, detections, sigmas)


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
