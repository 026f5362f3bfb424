"""Instance rescoring and OKS-NMS of top-down predictions, as in RTMPose / MMPose evaluation.

Reference behaviour (MMPose ``CocoMetric`` with ``score_mode='bbox_keypoint'``,
``keypoint_score_thr=0.2``, ``nms_mode='oks_nms'``, ``nms_thr=0.9``):

1. Predictions of the same instance id are reduced to one (per image, sorted by id).
2. Instance score = box score × mean of the keypoint scores **strictly above** the threshold;
   when no keypoint passes, the mean is 0, so the score is 0.
3. Per image, greedy OKS-NMS in descending score order: a prediction is dropped when its OKS
   with an already kept one is **> nms_thr**. OKS between two predictions uses all keypoints
   (no visibility threshold) and the mean of their two areas; MMPose's top-down area is the
   product of the crop's box scale (the box padded ×1.25 and fixed to the input aspect ratio),
   or, without it, the keypoints' extent (max x − min x)·(max y − min y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCORE_MODES = ("bbox", "bbox_keypoint")
NMS_MODES = ("oks_nms", "none")


def instance_scores(
    bbox_scores: np.ndarray,
    keypoint_scores: np.ndarray,
    mode: str = "bbox_keypoint",
    keypoint_score_thr: float = 0.2,
) -> np.ndarray:
    """Person score of each instance.

    Args:
        bbox_scores: (N,) detector box scores.
        keypoint_scores: (N, K) keypoint confidences.
        mode: ``bbox`` (box score only) or ``bbox_keypoint`` (box × mean confident keypoint score).
        keypoint_score_thr: keypoints with a score ``> thr`` enter the mean.

    Returns:
        (N,) float64 scores.
    """
    bbox_scores = np.asarray(bbox_scores, dtype=np.float64).reshape(-1)
    if mode == "bbox":
        return bbox_scores
    if mode != "bbox_keypoint":
        raise ValueError(f"unknown score mode {mode!r}: expected one of {SCORE_MODES}")
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64)
    confident = keypoint_scores > keypoint_score_thr
    count = confident.sum(axis=1)
    total = np.where(confident, keypoint_scores, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return bbox_scores * mean


def keypoint_extent_areas(keypoints: np.ndarray) -> np.ndarray:
    """(N,) area of each instance's keypoint bounding box from (N, K, 2) keypoints."""
    extent = keypoints.max(axis=1) - keypoints.min(axis=1)  # (N, 2)
    return extent[:, 0] * extent[:, 1]


def pairwise_oks(keypoints: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """OKS between every two predictions of one image, as MMPose's ``oks_iou``.

    Args:
        keypoints: (M, K, 2) coordinates.
        areas: (M,) instance areas; a pair uses the mean of its two.
        sigmas: (K,) per-keypoint OKS sigmas.

    Returns:
        (M, M) float32 OKS (MMPose stores the overlaps as float32 before thresholding).
    """
    variances = (np.asarray(sigmas, dtype=np.float64) * 2) ** 2
    delta = keypoints[:, None, :, :] - keypoints[None, :, :, :]  # (M, M, K, 2)
    squared = (delta**2).sum(axis=-1)
    pair_area = (areas[:, None] + areas[None, :]) / 2 + np.spacing(1)
    exponent = squared / variances / pair_area[..., None] / 2
    return np.exp(-exponent).mean(axis=-1).astype(np.float32)


def oks_nms(
    keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, sigmas: np.ndarray, thr: float
) -> np.ndarray:
    """Greedy OKS-NMS of one image's predictions.

    Args:
        keypoints: (M, K, 2); scores: (M,); areas: (M,); sigmas: (K,).
        thr: a prediction whose OKS with a kept one is > thr is suppressed.

    Returns:
        Indices kept, highest score first (ties ordered like MMPose's ``argsort()[::-1]``).
    """
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    overlaps = pairwise_oks(keypoints, areas, sigmas) > thr  # (M, M)
    order = np.asarray(scores).argsort()[::-1]
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for index in order:  # sequential by definition: each kept prediction suppresses later ones
        if suppressed[index]:
            continue
        keep.append(index)
        suppressed |= overlaps[index]
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class Selection:
    """Predictions kept after de-duplication, rescoring and NMS.

    ``indices`` (S,) index the input arrays, grouped by image (ascending id) and in descending
    score order within an image; ``scores`` (S,) are their rescored instance scores.
    """

    indices: np.ndarray
    scores: np.ndarray


def rescore_and_nms(
    image_ids: np.ndarray,
    instance_ids: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    bbox_scores: np.ndarray,
    sigmas: np.ndarray,
    areas: np.ndarray | None = None,
    score_mode: str = "bbox_keypoint",
    keypoint_score_thr: float = 0.2,
    nms_mode: str = "oks_nms",
    nms_thr: float = 0.9,
) -> Selection:
    """De-duplicate by instance id, rescore and OKS-NMS per image (MMPose ``CocoMetric`` order).

    Args:
        image_ids: (N,) image id of each prediction.
        instance_ids: (N,) unique id of each person box; repeats (e.g. DistributedSampler
            padding) are dropped, keeping the first occurrence.
        keypoints: (N, K, 2) image coordinates; keypoint_scores: (N, K); bbox_scores: (N,).
        sigmas: (K,) OKS sigmas of the dataset.
        areas: (N,) areas for NMS (product of the crop box scale); None or NaN entries fall back
            to the keypoint extent area.
        score_mode, keypoint_score_thr: see ``instance_scores``.
        nms_mode: ``oks_nms`` or ``none``; nms_thr: OKS above which a prediction is suppressed.
    """
    if nms_mode not in NMS_MODES:
        raise ValueError(f"unknown NMS mode {nms_mode!r}: expected one of {NMS_MODES}")
    image_ids = np.asarray(image_ids).reshape(-1)
    instance_ids = np.asarray(instance_ids).reshape(-1)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    n = len(image_ids)
    if len(instance_ids) != n or keypoints.shape[0] != n:
        raise ValueError(
            f"rescore_and_nms: {n} image ids, {len(instance_ids)} instance ids and "
            f"{keypoints.shape[0]} keypoint rows must match"
        )
    if keypoints.shape[1] != len(sigmas):
        raise ValueError(f"{keypoints.shape[1]} keypoints per instance but {len(sigmas)} sigmas")
    fallback = keypoint_extent_areas(keypoints)
    if areas is None:
        areas = fallback
    else:
        areas = np.asarray(areas, dtype=np.float64).reshape(-1)
        areas = np.where(np.isnan(areas), fallback, areas)

    _, first = np.unique(instance_ids, return_index=True)
    unique = first[np.lexsort((instance_ids[first], image_ids[first]))]  # by image, then by id
    scores = instance_scores(bbox_scores, keypoint_scores, score_mode, keypoint_score_thr)

    bounds = np.flatnonzero(np.diff(image_ids[unique])) + 1
    kept: list[np.ndarray] = []
    for rows in np.split(unique, bounds):
        if len(rows) == 0:
            continue
        if nms_mode == "none":
            kept.append(rows)
            continue
        keep = oks_nms(keypoints[rows], scores[rows], areas[rows], sigmas, nms_thr)
        kept.append(rows[keep])
    indices = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
    return Selection(indices=indices, scores=scores[indices])
