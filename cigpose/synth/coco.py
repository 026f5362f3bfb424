"""COCO-WholeBody v1.0 records for rendered scenes: images, person annotations, the category, and
noisy person detections (a COCO results list)."""

from __future__ import annotations

import numpy as np

from cigpose.synth.keypoints import BODY, BODY_NAMES, COCO_SKELETON, FACE, FOOT, LEFT_HAND, RIGHT_HAND
from cigpose.synth.scene import ContextObject

# (array field, keypoint slice, validity flag, part box field)
WHOLEBODY_FIELDS = (
    ("keypoints", BODY, None, None),
    ("foot_kpts", FOOT, "foot_valid", None),
    ("face_kpts", FACE, "face_valid", "face_box"),
    ("lefthand_kpts", LEFT_HAND, "lefthand_valid", "lefthand_box"),
    ("righthand_kpts", RIGHT_HAND, "righthand_valid", "righthand_box"),
)


def categories() -> list[dict]:
    """The COCO-WholeBody person category (17 body keypoint names, 1-based body skeleton)."""
    return [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(BODY_NAMES),
            "skeleton": COCO_SKELETON,
        }
    ]


def image_record(image_id: int, file_name: str, image_size: tuple[int, int]) -> dict:
    return {"id": image_id, "file_name": file_name, "width": image_size[0], "height": image_size[1]}


def _flat(points: np.ndarray) -> list:
    """``(n, 3)`` x, y, v → flat list: x, y rounded to 0.01 px, v an int."""
    out = np.empty(points.shape, object)
    out[:, :2] = np.round(points[:, :2], 2).tolist()
    out[:, 2] = points[:, 2].astype(int).tolist()
    return out.ravel().tolist()


def _round(values: np.ndarray) -> list[float]:
    return np.round(np.asarray(values, dtype=np.float64), 2).tolist()


def part_box(points: np.ndarray, image_size: tuple[int, int]) -> list[float]:
    """xywh box of the labelled points ``(n, 3)`` with a 10 % margin, clipped to the image;
    zeros when none is labelled."""
    xy = points[points[:, 2] > 0, :2]
    if len(xy) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    lo, hi = xy.min(0), xy.max(0)
    pad = 0.1 * (hi - lo) + 1.0
    lo = np.maximum(lo - pad, 0.0)
    hi = np.minimum(hi + pad, np.asarray(image_size, float) - 1.0)
    return _round(np.r_[lo, hi - lo])


def person_annotation(
    keypoints: np.ndarray,
    box: np.ndarray,
    area: float,
    image_id: int,
    annotation_id: int,
    image_size: tuple[int, int],
    context: ContextObject | None = None,
) -> dict:
    """One COCO-WholeBody annotation from ``keypoints`` ``(133, 3)`` and an xywh ``box``.
    ``spurious_object`` (an extra field) records the context disc when the person has one."""
    ann: dict = {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": 1,
        "iscrowd": 0,
        "bbox": _round(box),
        "area": round(float(area), 2),
        "num_keypoints": int((keypoints[BODY, 2] > 0).sum()),
    }
    for field, part, valid, box_field in WHOLEBODY_FIELDS:
        points = keypoints[part]
        labelled = bool((points[:, 2] > 0).any())
        if valid is not None:
            ann[valid] = labelled
        ann[field] = _flat(points if labelled else np.zeros_like(points))
        if box_field is not None:
            ann[box_field] = part_box(points, image_size)
    if context is not None:
        ann["spurious_object"] = {
            "keypoint": context.keypoint,
            "xy": _round(context.center),
            "radius": round(context.radius, 2),
            "tied": context.tied,
        }
    return ann


def detection_records(
    rng: np.random.Generator,
    boxes: np.ndarray,
    image_id: int,
    image_size: tuple[int, int],
    false_positive_rate: float = 0.1,
) -> list[dict]:
    """Person detections for one image: each GT box ``(P, 4)`` xywh jittered (~4 % of its size)
    with a score in [0.6, 1), plus with probability ``false_positive_rate`` one random low-score
    box."""
    width, height = image_size
    records = []
    size = boxes[:, 2:]
    centre = boxes[:, :2] + size / 2 + rng.normal(0.0, 0.04, size.shape) * size
    new_size = size * np.exp(rng.normal(0.0, 0.05, size.shape))
    lo = np.clip(centre - new_size / 2, 0, [width - 1, height - 1])
    hi = np.clip(centre + new_size / 2, 0, [width - 1, height - 1])
    scores = rng.uniform(0.6, 1.0, len(boxes))
    if rng.random() < false_positive_rate:
        fp_size = rng.uniform(0.15, 0.5, 2) * [width, height]
        fp_lo = rng.uniform(0, 1, 2) * ([width, height] - fp_size)
        lo, hi = np.vstack([lo, fp_lo]), np.vstack([hi, fp_lo + fp_size])
        scores = np.r_[scores, rng.uniform(0.05, 0.45)]
    for box_lo, box_hi, score in zip(lo, hi, scores, strict=True):
        records.append(
            {
                "image_id": image_id,
                "category_id": 1,
                "bbox": _round(np.r_[box_lo, box_hi - box_lo]),
                "score": round(float(score), 4),
            }
        )
    return records
