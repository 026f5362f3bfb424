"""COCO-format annotation files → instance arrays (COCO, COCO-WholeBody v1.0, CrowdPose, UBody).

Malformed files fail here, at start-up, naming the file and the field; unusable instances (bad
boxes, NaN, no labelled keypoint where one is needed) are dropped with a logged count.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("cigpose.data")

# COCO-WholeBody v1.0 stores the 133 keypoints in five arrays, four of them with a validity flag.
WHOLEBODY_PARTS = (("keypoints", 17, None), ("foot_kpts", 6, "foot_valid"), ("face_kpts", 68, "face_valid"),
                   ("lefthand_kpts", 21, "lefthand_valid"), ("righthand_kpts", 21, "righthand_valid"))


class AnnotationError(ValueError):
    """A malformed annotation or detection file."""


@dataclass
class Instances:
    """One row per person box. Shapes: N instances, K keypoints.

    Attributes:
        image_id: ``(N,)``. instance_id: ``(N,)`` unique in the split (annotation or detection index).
        bbox: ``(N, 4)`` xywh. keypoints: ``(N, K, 3)`` x, y, visibility (zeros when unknown).
        bbox_score: ``(N,)`` (1 for GT boxes). area: ``(N,)``.
        files: image id → (path, width, height).
    """

    image_id: np.ndarray
    instance_id: np.ndarray
    bbox: np.ndarray
    keypoints: np.ndarray
    bbox_score: np.ndarray
    area: np.ndarray
    files: dict[int, tuple[Path, int, int]]

    def __len__(self) -> int:
        return len(self.image_id)

    def select(self, keep: np.ndarray) -> Instances:
        return Instances(self.image_id[keep], self.instance_id[keep], self.bbox[keep], self.keypoints[keep],
                         self.bbox_score[keep], self.area[keep], self.files)


def read_json(path: Path, what: str) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"dataset not found at {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: not valid JSON ({what}): {err}") from None


def _field(obj: dict, key: str, path: Path, where: str) -> object:
    if key not in obj:
        raise AnnotationError(f"{path}: {where} has no '{key}' field")
    return obj[key]


def _box(obj: dict, path: Path, where: str) -> list[float]:
    """``[x, y, w, h]`` of one annotation or detection, or an error naming the file and field."""
    box = _field(obj, "bbox", path, where)
    try:
        values = [float(v) for v in box]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        values = []
    if len(values) != 4:
        raise AnnotationError(f"{path}: {where} field 'bbox' must be [x, y, w, h], got {box!r}")
    return values


def _keypoints(ann: dict, num_keypoints: int, path: Path) -> np.ndarray:
    """``(K, 3)`` from one annotation (whole-body parts concatenated, invalid parts zeroed)."""
    if num_keypoints == 133:
        rows = []
        for key, count, valid in WHOLEBODY_PARTS:
            values = ann.get(key)
            if values is None or (valid is not None and not ann.get(valid, True)):
                rows.append(np.zeros((count, 3), np.float32))
                continue
            arr = np.asarray(values, dtype=np.float32)
            if arr.size != count * 3:
                raise AnnotationError(f"{path}: annotation {ann.get('id')} field '{key}' has {arr.size} "
                                      f"values, expected {count * 3}")
            rows.append(arr.reshape(count, 3))
        return np.concatenate(rows)
    arr = np.asarray(_field(ann, "keypoints", path, f"annotation {ann.get('id')}"), dtype=np.float32)
    if arr.size != num_keypoints * 3:
        raise AnnotationError(f"{path}: annotation {ann.get('id')} field 'keypoints' has {arr.size} values, "
                              f"expected {num_keypoints * 3}")
    return arr.reshape(num_keypoints, 3)


def load_images(data: dict, path: Path, image_root: Path) -> dict[int, tuple[Path, int, int]]:
    images = _field(data, "images", path, "the file")
    if not isinstance(images, list):
        raise AnnotationError(f"{path}: field 'images' must be a list")
    files = {}
    for img in images:
        where = f"image {img.get('id')}"
        files[int(_field(img, "id", path, "an image"))] = (
            image_root / str(_field(img, "file_name", path, where)),
            int(_field(img, "width", path, where)), int(_field(img, "height", path, where)))
    return files


def clip_boxes(bbox: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """xywh boxes clipped to their image; boxes fully outside end with zero size."""
    x1 = np.clip(bbox[:, 0], 0, widths - 1)
    y1 = np.clip(bbox[:, 1], 0, heights - 1)
    x2 = np.clip(bbox[:, 0] + bbox[:, 2], 0, widths - 1)
    y2 = np.clip(bbox[:, 1] + bbox[:, 3], 0, heights - 1)
    return np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)


def drop_bad(instances: Instances, source: str, need_keypoints: bool) -> Instances:
    """Remove instances with non-finite values, empty boxes or (``need_keypoints``) no labelled
    keypoint; logs one count per reason."""
    reasons: Counter[str] = Counter()
    finite = np.isfinite(instances.bbox).all(1) & np.isfinite(instances.keypoints).all((1, 2))
    reasons["NaN/Inf in annotation"] = int((~finite).sum())
    inst = instances.select(finite)
    widths = np.array([inst.files[i][1] for i in inst.image_id], np.float32).reshape(-1)
    heights = np.array([inst.files[i][2] for i in inst.image_id], np.float32).reshape(-1)
    inst.bbox = clip_boxes(inst.bbox, widths, heights) if len(inst) else inst.bbox
    sized = (inst.bbox[:, 2] > 1) & (inst.bbox[:, 3] > 1)
    reasons["box of zero/negative size or outside the image"] = int((~sized).sum())
    inst = inst.select(sized)
    if need_keypoints:
        labelled = (inst.keypoints[..., 2] > 0).any(1)
        reasons["no labelled keypoint"] = int((~labelled).sum())
        inst = inst.select(labelled)
    for reason, count in reasons.items():
        if count:
            log.warning("%s: skipped %d instance(s): %s", source, count, reason)
    return inst


def load_gt_instances(ann_file: str | Path, image_root: str | Path, num_keypoints: int,
                      need_keypoints: bool, frame_stride: int = 1) -> Instances:
    """GT person boxes of a COCO-format file (crowd boxes excluded). ``frame_stride`` keeps every
    n-th image (UBody's protocol: every 10th frame)."""
    path = Path(ann_file)
    data = read_json(path, "annotations")
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a JSON object with 'images' and 'annotations'")
    files = load_images(data, path, Path(image_root))
    if frame_stride > 1:
        keep_ids = set(sorted(files)[::frame_stride])
        files = {k: v for k, v in files.items() if k in keep_ids}
    anns = _field(data, "annotations", path, "the file")
    if not isinstance(anns, list):
        raise AnnotationError(f"{path}: field 'annotations' must be a list")
    rows = [a for a in anns if not a.get("iscrowd", 0) and int(_field(a, "image_id", path, "an annotation")) in files]
    k = num_keypoints
    inst = Instances(
        image_id=np.array([int(a["image_id"]) for a in rows], np.int64),
        instance_id=np.array([int(a.get("id", i)) for i, a in enumerate(rows)], np.int64),
        bbox=np.array([_box(a, path, f"annotation {a.get('id')}") for a in rows], np.float32).reshape(-1, 4),
        keypoints=np.stack([_keypoints(a, k, path) for a in rows]) if rows else np.zeros((0, k, 3), np.float32),
        bbox_score=np.ones(len(rows), np.float32),
        area=np.array([a.get("area", 0.0) for a in rows], np.float32),
        files=files,
    )
    return drop_bad(inst, str(path), need_keypoints)


def load_detections(det_file: str | Path, gt_file: str | Path, image_root: str | Path, num_keypoints: int,
                    score_threshold: float = 0.0) -> Instances:
    """Person detections (COCO results JSON) on the images of ``gt_file``."""
    path = Path(det_file)
    dets = read_json(path, "detections")
    if not isinstance(dets, list):
        raise AnnotationError(f"{path}: a detection results file must be a JSON list")
    gt_path = Path(gt_file)
    files = load_images(read_json(gt_path, "annotations"), gt_path, Path(image_root))  # type: ignore[arg-type]
    rows, boxes = [], []
    for index, d in enumerate(dets):
        for key in ("image_id", "bbox", "score"):
            _field(d, key, path, f"detection {index}")
        box = _box(d, path, f"detection {index}")
        if int(d.get("category_id", 1)) == 1 and float(d["score"]) >= score_threshold and int(d["image_id"]) in files:
            rows.append(d)
            boxes.append(box)
    n = len(rows)
    bbox = np.array(boxes, np.float32).reshape(-1, 4)
    inst = Instances(
        image_id=np.array([int(d["image_id"]) for d in rows], np.int64),
        instance_id=np.arange(n, dtype=np.int64),
        bbox=bbox,
        keypoints=np.zeros((n, num_keypoints, 3), np.float32),
        bbox_score=np.array([d["score"] for d in rows], np.float32),
        area=bbox[:, 2] * bbox[:, 3],
        files=files,
    )
    return drop_bad(inst, str(path), need_keypoints=False)
