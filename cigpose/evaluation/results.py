"""COCO keypoint results files: build them from arrays, write them, read them back checked.

A results file is a JSON list with one object per predicted person, in the layout the official
toolkits (pycocotools / xtcocotools) read:

- COCO and CrowdPose: ``{"image_id", "category_id": 1, "keypoints": [x, y, s] * K, "score"}``.
- COCO-WholeBody: the 133 keypoints split over five fields (see ``WHOLEBODY_FIELDS``):
  ``keypoints`` (17 body), ``foot_kpts`` (6), ``face_kpts`` (68), ``lefthand_kpts`` (21),
  ``righthand_kpts`` (21), each a flat ``[x, y, s] * n`` list, plus ``category_id`` and ``score``.
"""

from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path

import numpy as np

# (field, number of keypoints) in COCO-WholeBody keypoint order: body 0-16, foot 17-22,
# face 23-90, left hand 91-111, right hand 112-132. Fixed by the dataset's file format.
WHOLEBODY_FIELDS: tuple[tuple[str, int], ...] = (
    ("keypoints", 17),
    ("foot_kpts", 6),
    ("face_kpts", 68),
    ("lefthand_kpts", 21),
    ("righthand_kpts", 21),
)

# Keypoint fields each dataset's results must carry: {field: number of keypoints}.
RESULT_FIELDS: dict[str, dict[str, int]] = {
    "coco_wholebody": dict(WHOLEBODY_FIELDS),
    "coco": {"keypoints": 17},
    "crowdpose": {"keypoints": 14},
}

PERSON_CATEGORY_ID = 1


def result_fields(dataset: str) -> dict[str, int]:
    """Keypoint fields (name -> keypoint count) of ``dataset``'s results; ValueError if unknown."""
    if dataset not in RESULT_FIELDS:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {sorted(RESULT_FIELDS)}")
    return RESULT_FIELDS[dataset]


def build_results(
    image_ids: np.ndarray,
    keypoints: np.ndarray,
    keypoint_scores: np.ndarray,
    scores: np.ndarray,
    dataset: str,
) -> list[dict]:
    """COCO results list from arrays.

    Args:
        image_ids: (N,) image id of each instance.
        keypoints: (N, K, 2) keypoint coordinates in image pixels.
        keypoint_scores: (N, K) per-keypoint confidence (written as the third value of each triple).
        scores: (N,) instance score.
        dataset: ``coco_wholebody``, ``coco`` or ``crowdpose``.

    Returns:
        N dicts in the dataset's results layout (plain Python numbers, JSON-ready).
    """
    fields = result_fields(dataset)
    num_keypoints = sum(fields.values())
    keypoints = np.asarray(keypoints, dtype=np.float64)
    keypoint_scores = np.asarray(keypoint_scores, dtype=np.float64)
    image_ids = np.asarray(image_ids).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(image_ids)
    if keypoints.shape != (n, num_keypoints, 2):
        raise ValueError(
            f"{dataset} keypoints must have shape ({n}, {num_keypoints}, 2), got {keypoints.shape}"
        )
    if keypoint_scores.shape != (n, num_keypoints) or scores.shape != (n,):
        raise ValueError(
            f"{dataset} keypoint_scores must be ({n}, {num_keypoints}) and scores ({n},), got "
            f"{keypoint_scores.shape} and {scores.shape}"
        )
    triples = np.concatenate([keypoints, keypoint_scores[..., None]], axis=-1)  # (N, K, 3)
    columns: dict[str, list] = {}
    start = 0
    for field, count in fields.items():
        columns[field] = triples[:, start : start + count].reshape(n, -1).tolist()
        start += count
    ids = image_ids.astype(np.int64).tolist()
    instance_scores = scores.tolist()
    return [
        {
            "image_id": ids[i],
            "category_id": PERSON_CATEGORY_ID,
            **{field: values[i] for field, values in columns.items()},
            "score": instance_scores[i],
        }
        for i in range(n)
    ]


def write_results(results: list[dict], path: str | Path) -> Path:
    """Write ``results`` as JSON to ``path`` (parents created); OSError naming it on failure."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(results)  # one C-encoder call: json.dump streams in pure Python
        path.write_text(text)
    except OSError as err:
        raise OSError(f"cannot write keypoint results file {path}: {err}") from err
    return path


def read_results(path: str | Path, dataset: str | None = None) -> list[dict]:
    """Load a results file; with ``dataset`` also check each entry's fields.

    Raises:
        FileNotFoundError: the file does not exist (message names it).
        ValueError: not valid JSON, not a list of objects, or an entry misses a field or has a
            keypoint list of the wrong length (message names the file and entry index).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"keypoint results file not found: {path}")
    try:
        with path.open() as handle:
            results = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"keypoint results file {path} is not valid JSON: {err}") from err
    if dataset is not None:
        check_results(results, dataset, source=str(path))
    elif not isinstance(results, list):
        raise ValueError(f"keypoint results file {path} must hold a JSON list of objects")
    return results


def check_results(results: object, dataset: str, source: str = "results") -> None:
    """ValueError naming ``source`` and the entry index unless ``results`` is a valid list."""
    fields = result_fields(dataset)
    if not isinstance(results, list):
        raise ValueError(f"{source}: expected a JSON list of result objects, got {type(results)}")
    required = ("image_id", "score", *fields)
    if _all_valid(results, required, fields):
        return
    for index, entry in enumerate(results):
        if not isinstance(entry, dict):
            raise ValueError(f"{source}: entry {index} is not an object")
        missing = [key for key in required if key not in entry]
        if missing:
            raise ValueError(f"{source}: entry {index} misses field(s) {missing} for {dataset}")
        for field, count in fields.items():
            values = entry[field]
            if not isinstance(values, list) or len(values) != 3 * count:
                size = len(values) if isinstance(values, list) else type(values).__name__
                raise ValueError(
                    f"{source}: entry {index} field {field!r} must be a list of {3 * count} "
                    f"numbers ([x, y, score] * {count}), got {size}"
                )


def _all_valid(results: list, required: tuple[str, ...], fields: dict[str, int]) -> bool:
    """Whether every entry is valid, checked column by column (no per-entry Python code).

    False only means "look entry by entry" (which finds and names the first bad one).
    """
    if not all(type(entry) is dict for entry in results):
        return False
    try:
        columns = {key: list(map(itemgetter(key), results)) for key in required}
    except KeyError:
        return False
    return all(
        set(map(type, columns[field])) <= {list} and set(map(len, columns[field])) <= {3 * count}
        for field, count in fields.items()
    )
