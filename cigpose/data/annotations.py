"""COCO-format annotation files → instance arrays (COCO, COCO-WholeBody v1.0, CrowdPose, UBody).

Malformed files fail here, at start-up, naming the file and the field; unusable instances (bad
boxes, NaN, no labelled keypoint where one is needed) are dropped with a logged count per reason.
Fields are gathered per annotation and converted to arrays in one go (errors are located only
when that conversion fails).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("cigpose.data")

# COCO-WholeBody v1.0 stores the 133 keypoints in five arrays, four of them with a validity flag;
# an invalid part counts as unlabelled.
WHOLEBODY_PARTS = (
    ("keypoints", 17, None),
    ("foot_kpts", 6, "foot_valid"),
    ("face_kpts", 68, "face_valid"),
    ("lefthand_kpts", 21, "lefthand_valid"),
    ("righthand_kpts", 21, "righthand_valid"),
)


class AnnotationError(ValueError):
    """A malformed annotation or detection file."""


@dataclass
class Instances:
    """One row per person box. Shapes: N instances, K keypoints.

    Attributes:
        image_id: ``(N,)``. instance_id: ``(N,)`` unique in the split (annotation id, or the
            detection's index in the results file).
        bbox: ``(N, 4)`` xywh, clipped to the image. keypoints: ``(N, K, 3)`` x, y, visibility
            (zeros when unknown). bbox_score: ``(N,)`` (1 for GT boxes). area: ``(N,)``.
        files: image id → (path, width, height).
        crowd_index: image id → CrowdPose ``crowdIndex`` (images that have one).
    """

    image_id: np.ndarray
    instance_id: np.ndarray
    bbox: np.ndarray
    keypoints: np.ndarray
    bbox_score: np.ndarray
    area: np.ndarray
    files: dict[int, tuple[Path, int, int]]
    crowd_index: dict[int, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.image_id)

    def select(self, keep: np.ndarray) -> Instances:
        return Instances(
            self.image_id[keep],
            self.instance_id[keep],
            self.bbox[keep],
            self.keypoints[keep],
            self.bbox_score[keep],
            self.area[keep],
            self.files,
            self.crowd_index,
        )


def read_json(path: Path, what: str) -> object:
    if not path.is_file():
        raise FileNotFoundError(f"dataset not found at {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AnnotationError(f"{path}: not valid JSON ({what}): {err}") from None


def _field(obj: Any, key: str, path: Path, where: str) -> object:
    if not isinstance(obj, dict):
        raise AnnotationError(f"{path}: {where} is not a JSON object")
    if key not in obj:
        raise AnnotationError(f"{path}: {where} has no '{key}' field")
    return obj[key]


def _list_field(data: Any, key: str, path: Path) -> list:
    values = _field(data, key, path, "the file")
    if not isinstance(values, list):
        raise AnnotationError(f"{path}: field '{key}' must be a list")
    return values


def _numbers(values: list, width: int, key: str, path: Path, names: list[str]) -> np.ndarray:
    """``(N, width)`` float32 from N lists; on failure, an error naming the first bad entry."""
    try:
        array = np.asarray(values, dtype=np.float32)
        if array.shape == (len(values), width):
            return array
    except (TypeError, ValueError):
        pass
    for value, name in zip(values, names, strict=True):
        try:
            size = np.asarray(value, dtype=np.float32).size
        except (TypeError, ValueError):
            raise AnnotationError(f"{path}: {name} field '{key}' is not a list of numbers, got {value!r:.80}") from None
        if size != width:
            if key == "bbox":
                raise AnnotationError(f"{path}: {name} field 'bbox' must be [x, y, w, h], got {value!r:.80}")
            raise AnnotationError(f"{path}: {name} field '{key}' has {size} values, expected {width}")
    raise AnnotationError(f"{path}: field '{key}' could not be read as numbers")  # unreachable


def _keypoints(rows: list[dict], num_keypoints: int, path: Path, names: list[str]) -> np.ndarray:
    """``(N, K, 3)``: COCO-style ``keypoints``, or for K = 133 the five COCO-WholeBody arrays
    concatenated (a part flagged invalid or absent is all zeros)."""
    parts = WHOLEBODY_PARTS if num_keypoints == 133 else (("keypoints", num_keypoints, None),)
    arrays = []
    for key, count, valid in parts:
        zeros = [0.0] * (3 * count)
        if key == "keypoints":
            values = [_field(a, key, path, name) for a, name in zip(rows, names, strict=True)]
        else:
            values = [a.get(key) if a.get(valid, True) and a.get(key) is not None else zeros for a in rows]
        arrays.append(_numbers(values, 3 * count, key, path, names).reshape(-1, count, 3))
    return np.concatenate(arrays, axis=1)


def load_images(data: Any, path: Path, image_root: Path) -> tuple[dict[int, tuple[Path, int, int]], dict[int, float]]:
    """Image id → (file, width, height), and image id → ``crowdIndex`` where present."""
    files, crowd_index = {}, {}
    for img in _list_field(data, "images", path):
        image_id = int(_field(img, "id", path, "an image"))  # type: ignore[arg-type]
        where = f"image {image_id}"
        files[image_id] = (
            image_root / str(_field(img, "file_name", path, where)),
            int(_field(img, "width", path, where)),  # type: ignore[arg-type]
            int(_field(img, "height", path, where)),
        )  # type: ignore[arg-type]
        if "crowdIndex" in img:
            crowd_index[image_id] = float(img["crowdIndex"])
    return files, crowd_index


def clip_boxes(bbox: np.ndarray, widths: np.ndarray, heights: np.ndarray) -> np.ndarray:
    """xywh boxes ``(N, 4)`` clipped to their image (``(N,)`` sizes); boxes fully outside end
    with zero size."""
    x1 = np.clip(bbox[:, 0], 0, widths - 1)
    y1 = np.clip(bbox[:, 1], 0, heights - 1)
    x2 = np.clip(bbox[:, 0] + bbox[:, 2], 0, widths - 1)
    y2 = np.clip(bbox[:, 1] + bbox[:, 3], 0, heights - 1)
    return np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)


def _image_sizes(files: dict[int, tuple[Path, int, int]], image_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Width and height ``(N,)`` of each instance's image."""
    ids = np.fromiter(files, dtype=np.int64, count=len(files))
    sizes = np.array([(w, h) for _, w, h in files.values()], np.float32).reshape(-1, 2)
    order = np.argsort(ids)
    rows = order[np.searchsorted(ids, image_id, sorter=order)] if len(ids) else image_id
    return sizes[rows, 0], sizes[rows, 1]


def drop_bad(instances: Instances, source: str, need_keypoints: bool) -> Instances:
    """Remove instances with non-finite values, empty boxes (after clipping to the image) or
    (``need_keypoints``) no labelled keypoint; logs one count per reason."""
    reasons: Counter[str] = Counter()
    finite = np.isfinite(instances.bbox).all(1) & np.isfinite(instances.keypoints).all((1, 2))
    reasons["NaN/Inf in annotation"] = int((~finite).sum())
    inst = instances.select(finite)
    if len(inst):
        inst.bbox = clip_boxes(inst.bbox, *_image_sizes(inst.files, inst.image_id))
    sized = (inst.bbox[:, 2] > 0) & (inst.bbox[:, 3] > 0)
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


def load_gt_instances(
    ann_file: str | Path, image_root: str | Path, num_keypoints: int, need_keypoints: bool, sample_interval: int = 1
) -> Instances:
    """GT person boxes of a COCO-format file (crowd boxes excluded). ``sample_interval`` keeps
    the images whose id is a multiple of it (UBody: 10, as the reference's ``sample_interval``)."""
    path = Path(ann_file)
    data = read_json(path, "annotations")
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected a JSON object with 'images' and 'annotations'")
    files, crowd_index = load_images(data, path, Path(image_root))
    anns = _list_field(data, "annotations", path)
    listed = set(files)
    if sample_interval > 1:
        files = {i: f for i, f in files.items() if i % sample_interval == 0}
    image_ids = [int(_field(a, "image_id", path, "an annotation")) for a in anns]  # type: ignore
    unknown = sum(i not in listed for i in image_ids)
    if unknown:
        log.warning("%s: skipped %d annotation(s) of images not listed in 'images'", path, unknown)
    kept = [(a, i) for a, i in zip(anns, image_ids, strict=True) if i in files and not a.get("iscrowd", 0)]
    rows = [a for a, _ in kept]
    names = [f"annotation {a.get('id', i)}" for i, a in enumerate(rows)]
    bbox = _numbers([_field(a, "bbox", path, n) for a, n in zip(rows, names, strict=True)], 4, "bbox", path, names)
    inst = Instances(
        image_id=np.array([i for _, i in kept], np.int64).reshape(-1),
        instance_id=np.array([a.get("id", i) for i, a in enumerate(rows)], np.int64),
        bbox=bbox,
        keypoints=_keypoints(rows, num_keypoints, path, names),
        bbox_score=np.ones(len(rows), np.float32),
        area=np.array([a.get("area", 0.0) for a in rows], np.float32).reshape(-1),
        files=files,
        crowd_index=crowd_index,
    )
    return drop_bad(inst, str(path), need_keypoints)


def map_keypoints(inst: Instances, mapping: list[list[int]] | list[tuple[int, int]], num_keypoints: int) -> Instances:
    """Another dataset's keypoints onto this layout (MMPose's ``KeypointConverter``): ``mapping``
    holds ``(source index, target index)`` pairs; unmapped targets are unlabelled (v = 0).
    ``(N, K_src, 3)`` → ``(N, num_keypoints, 3)``."""
    pairs = np.asarray(mapping, dtype=np.int64).reshape(-1, 2)
    k_src = inst.keypoints.shape[1]
    if len(pairs) == 0 or pairs[:, 0].max() >= k_src or pairs[:, 1].max() >= num_keypoints or pairs.min() < 0:
        raise AnnotationError(
            f"keypoint_mapping {pairs.tolist()} does not fit {k_src} source and {num_keypoints} target keypoints"
        )
    mapped = np.zeros((len(inst), num_keypoints, 3), np.float32)
    mapped[:, pairs[:, 1]] = inst.keypoints[:, pairs[:, 0]]
    return dataclasses.replace(inst, keypoints=mapped)


def load_detections(
    det_file: str | Path, gt_file: str | Path, image_root: str | Path, num_keypoints: int, score_threshold: float = 0.0
) -> Instances:
    """Person detections (COCO results JSON: ``image_id``, ``bbox``, ``score``, optional
    ``category_id``) with score ≥ ``score_threshold`` on the images of ``gt_file``."""
    path = Path(det_file)
    dets = read_json(path, "detections")
    if not isinstance(dets, list):
        raise AnnotationError(f"{path}: a detection results file must be a JSON list")
    gt_path = Path(gt_file)
    files, crowd_index = load_images(read_json(gt_path, "annotations"), gt_path, Path(image_root))
    names = [f"detection {i}" for i in range(len(dets))]
    columns = {
        key: [_field(d, key, path, n) for d, n in zip(dets, names, strict=True)]
        for key in ("image_id", "bbox", "score")
    }
    bbox = _numbers(columns["bbox"], 4, "bbox", path, names)
    score = _numbers([[s] for s in columns["score"]], 1, "score", path, names)[:, 0]
    image_id = np.array(columns["image_id"], np.int64).reshape(-1)
    category = np.array([d.get("category_id", 1) for d in dets], np.int64).reshape(-1)
    keep = (category == 1) & (score >= score_threshold) & np.isin(image_id, list(files))
    n = int(keep.sum())
    inst = Instances(
        image_id=image_id[keep],
        instance_id=np.flatnonzero(keep).astype(np.int64),
        bbox=bbox[keep],
        keypoints=np.zeros((n, num_keypoints, 3), np.float32),
        bbox_score=score[keep],
        area=bbox[keep, 2] * bbox[keep, 3],
        files=files,
        crowd_index=crowd_index,
    )
    return drop_bad(inst, str(path), need_keypoints=False)
