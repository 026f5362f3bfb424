"""Vectorised numpy keypoint AP/AR that reproduces xtcocotools' ``COCOeval`` (the fast backend).

The same rules as the toolkit's keypoint iouTypes, computed on arrays instead of per-image
Python loops (``coco_eval`` chooses between this and xtcocotools):

- A ground-truth person is ignored if it is a crowd region or has no labelled keypoint in the
  evaluated part (CrowdPose: ``num_keypoints == 0`` from the file). Its OKS scale is its
  ``area`` (``use_area=True``) or 0.53 × box area; the same value decides its area range.
- A detection with no keypoint score > 0 in the part is dropped. Its score is the part score
  (``foot_score`` ...) where the results carry one, else ``score``; its area (``loadRes``: the
  ``bbox`` w × h if the first result has one, else the extent of its ``keypoints`` field, the
  body keypoints) only decides its area range.
- OKS: the mean over the person's labelled keypoints of exp(-d² / (2 s² (2σ)²)), or, for a
  person without labelled keypoints, over all keypoints with d measured to the box doubled
  around its bbox. It is computed once per same-image (detection, person) pair and part
  (``all_pairs``, ``oks_terms``); the whole body's terms are the sums of the five parts'.
- Per image and category the 20 best detections (stable sort by score) are greedily matched to
  the best still free person (non-ignored persons first, ties to the later one in file order,
  crowd regions can take several), at OKS thresholds 0.50:0.05:0.95 and per area range.
- Precision/recall are accumulated over all images exactly as ``COCOeval.accumulate`` does and
  summarised into the toolkit's 10 keypoint stats (CrowdPose: its 9, with AP easy/medium/hard
  over images with ``crowdIndex`` < 0.2, < 0.8, >= 0.8, rounded to 4 decimals like the toolkit).

Numbers agree with the toolkit to about 1e-15 (only the order of float sums differs); the tests
check 1e-6 on every metric.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter, methodcaller

import numpy as np

try:  # the conversion loop, compiled at install (optional: a Python loop gives the same arrays)
    from cigpose.evaluation import _stack
except ImportError:  # pragma: no cover - depends on the installation
    _stack = None

# The toolkit's keypoint parameters (xtcocotools ``Params.setKpParams``), built the same way.
IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
RECALL_THRESHOLDS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETECTIONS = 20
AREA_RANGES = np.array([[0**2, 1e5**2], [32**2, 96**2], [96**2, 1e5**2]])  # all, medium, large
CROWD_SPLIT = (0.2, 0.8)  # crowdIndex thresholds of AP easy / medium / hard
_PAIR_CHUNK = 1 << 16  # (pair, keypoint) elements per OKS chunk: cache-sized temporaries
_STACK_CHUNK = 2048  # entries converted at a time (a few MB of float64)
_CACHE_LOCK = threading.Lock()  # the per-part selections cached on GroundTruth / Detections


class UnreadableEntries(ValueError):
    """A results list or annotation file entry that cannot be read as keypoints (names it)."""


@dataclass(frozen=True)
class Part:
    """One evaluated part: keypoints ``start:stop`` of the full layout, scored by ``score_key``.

    ``crowd_ignore`` uses the file's ``num_keypoints`` for the ignore rule (CrowdPose).
    """

    start: int
    stop: int
    score_key: str = "score"
    crowd_ignore: bool = False


@dataclass
class GroundTruth:
    """A COCO-format ground truth as arrays (A annotations, I images, C categories, K keypoints).

    ``image``/``category`` index ``image_ids``/``category_ids`` (-1: not evaluated by the
    toolkit, i.e. an image or category that the file does not list).
    """

    image_ids: np.ndarray  # (I,) sorted image ids (the toolkit's params.imgIds)
    category_ids: np.ndarray  # (C,) sorted category ids
    crowd_index: np.ndarray  # (I,) each image's crowdIndex (NaN where absent)
    image: np.ndarray  # (A,) int
    category: np.ndarray  # (A,) int
    x: np.ndarray  # (A, K) keypoint x
    y: np.ndarray  # (A, K) keypoint y
    labelled: np.ndarray  # (A, K) bool: visibility > 0
    boxes: np.ndarray  # (A, 4) x, y, w, h
    area: np.ndarray  # (A,) annotation area (NaN where absent)
    iscrowd: np.ndarray  # (A,) bool
    num_keypoints: np.ndarray  # (A,) the file's num_keypoints (0 where absent)
    # (part, use_area) -> its _PartGT: a part's persons are selected once per ground truth
    parts: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Detections:
    """A results list as arrays (N detections)."""

    image: np.ndarray  # (N,) index into GroundTruth.image_ids
    category: np.ndarray  # (N,) index into GroundTruth.category_ids, -1 if not a GT category
    x: np.ndarray  # (N, K) keypoint x
    y: np.ndarray  # (N, K) keypoint y
    positive: np.ndarray  # (N, K) bool: keypoint score > 0
    area: np.ndarray  # (N,) the toolkit's loadRes area (see _box_areas)
    scores: dict[str, np.ndarray]  # score key -> (N,); part keys absent fall back to "score"
    # score key -> evaluated rows sorted by unit, then best first (shared by the parts)
    orders: dict = field(default_factory=dict, repr=False, compare=False)


def _index_of(values: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(N,) position of each value in the sorted ``table``, -1 where absent."""
    if len(table) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    pos = np.clip(np.searchsorted(table, values), 0, len(table) - 1)
    return np.where(table[pos] == values, pos, -1)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block (restored after). Converting a large
    results list allocates a few small iterator objects per chunk, and each collection they
    trigger walks every dict and list of that results list: 2.6 s instead of 1.5 s on 200,000
    whole-body results. The block creates no reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _empty_stack(count: int, fields: Sequence[tuple[str, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, K) x, y and bool arrays for ``count`` entries of ``fields`` (name, keypoint count)."""
    total = sum(size for _, size in fields)
    return np.empty((count, total)), np.empty((count, total)), np.empty((count, total), bool)


def _fill_stack(entries: Sequence[dict], fields: Sequence[tuple[str, int]], x: np.ndarray,
                y: np.ndarray, positive: np.ndarray) -> None:
    """Fill (N, K) ``x``, ``y`` and third value > 0 from each entry's flat ``[x, y, v] * k``
    lists ``fields`` (their keypoints side by side, in ``fields`` order); ``UnreadableEntries``
    (a ValueError) naming the first entry with a missing field, a list of the wrong length or
    a value that is not a number.

    The compiled loop (``_stack.c``) reads the floats in place, ~8x faster than Python can
    (the conversion is most of a large evaluation, and it holds the GIL); without it, a Python
    loop gives the same arrays: entry by entry, all fields at once (the floats of one entry lie
    together in memory, so this streams where field by field strides: 2x), ``struct`` packing
    each entry's values (1.5x faster than ``np.fromiter``), ``_STACK_CHUNK`` entries at a time
    into a cache-sized buffer.
    """
    try:
        if _stack is not None and isinstance(entries, list):
            _stack.fill_stack(entries, tuple(name for name, _ in fields),
                              tuple(count for _, count in fields), x, y, positive)
        else:
            _fill_stack_python(entries, fields, x, y, positive)
    except (struct.error, TypeError, KeyError, ValueError) as err:
        raise UnreadableEntries(_first_unreadable(entries, fields)) from err


def _fill_stack_python(entries: Sequence[dict], fields: Sequence[tuple[str, int]],
                       x: np.ndarray, y: np.ndarray, positive: np.ndarray) -> None:
    """``_fill_stack`` without the compiled loop."""
    names = [name for name, _ in fields]
    row = struct.Struct(f"{x.shape[1] * 3}d")
    lists = itemgetter(*names)
    together = len(names) > 1  # itemgetter of one name gives the list itself
    with _gc_paused():
        for lo in range(0, len(entries), _STACK_CHUNK):
            chunk = entries[lo : lo + _STACK_CHUNK]
            buffer = bytearray(len(chunk) * row.size)
            _pack_rows(row.pack_into, buffer, row.size, map(lists, chunk), together)
            triples, rows = np.frombuffer(buffer).reshape(len(chunk), -1, 3), slice(lo, lo + len(chunk))
            x[rows], y[rows] = triples[..., 0], triples[..., 1]
            np.greater(triples[..., 2], 0, out=positive[rows])


def _pack_rows(pack: Callable, buffer: bytearray, step: int, values: Iterator, together: bool) -> None:
    """``pack`` each entry's values (a list, or with ``together`` a tuple of lists) into
    consecutive ``step``-byte rows of ``buffer``."""
    offset = 0
    if together:
        joined = itertools.chain.from_iterable
        for lists in values:
            pack(buffer, offset, *joined(lists))
            offset += step
    else:
        for flat in values:
            pack(buffer, offset, *flat)
            offset += step


def _first_unreadable(entries: Sequence[dict], fields: Sequence[tuple[str, int]]) -> str:
    """What is wrong with the first entry whose ``fields`` cannot be read."""
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            return f"entry {index} is not an object"
        for name, count in fields:
            values = entry.get(name)
            if not isinstance(values, (list, tuple)) or len(values) != 3 * count:
                return (f"entry {index}: field {name!r} must be a list of {3 * count} numbers "
                        f"([x, y, score] * {count})")
            for value in values:
                try:
                    struct.pack("d", value)
                except (struct.error, TypeError):
                    return f"entry {index}: field {name!r} holds a non-number, {value!r}"
    return f"keypoint fields {[name for name, _ in fields]} unreadable"


def ground_truth_arrays(dataset: dict, fields: Sequence[tuple[str, int]]) -> GroundTruth:
    """Arrays of a loaded COCO-format annotation dict whose keypoints are ``fields``."""
    images = dataset.get("images", [])
    image_ids = np.array(sorted({image["id"] for image in images}), dtype=np.int64)
    crowd_by_id = {image["id"]: image.get("crowdIndex", np.nan) for image in images}
    category_ids = np.array(sorted({c["id"] for c in dataset.get("categories", [])}), np.int64)
    annotations = dataset.get("annotations", [])
    boxes = np.array([a["bbox"] for a in annotations], dtype=np.float64).reshape(-1, 4)
    x, y, labelled = _empty_stack(len(annotations), fields)
    _fill_stack(annotations, fields, x, y, labelled)
    return GroundTruth(
        image_ids=image_ids,
        category_ids=category_ids,
        crowd_index=np.array([crowd_by_id[i] for i in image_ids.tolist()], dtype=np.float64),
        image=_index_of(np.array([a["image_id"] for a in annotations], np.int64), image_ids),
        category=_index_of(np.array([a["category_id"] for a in annotations], np.int64),
                           category_ids),
        x=x,
        y=y,
        labelled=labelled,
        boxes=boxes,
        area=np.array([a.get("area", np.nan) for a in annotations], dtype=np.float64),
        iscrowd=np.array([bool(a.get("iscrowd", 0)) for a in annotations], dtype=bool),
        num_keypoints=np.array([a.get("num_keypoints", 0) for a in annotations], np.int64),
    )


def detection_arrays(
    results: Sequence[dict],
    fields: Sequence[tuple[str, int]],
    ground_truth: GroundTruth,
    score_keys: Sequence[str] = (),
) -> Detections:
    """Arrays of a results list, checked by converting it: ``UnreadableEntries`` (a ValueError)
    on a missing field, a keypoint list of the wrong length, a value that is not a number, or
    an image id that is not in the ground truth.

    ``score_keys``: part score fields to read where an entry has them (else its ``score``).
    """
    count = len(results)
    scores = {"score": _scores(results, "score")}
    for key in set(score_keys) - {"score"}:
        part_scores = _scores(results, key, scores["score"])
        if part_scores is not None:
            scores[key] = part_scores
    image_ids = np.fromiter(map(itemgetter("image_id"), results), np.int64, count)
    category_ids = np.fromiter(map(methodcaller("get", "category_id", 1), results), np.int64,
                               count)
    x, y, positive = _empty_stack(count, fields)
    _fill_stack(results, fields, x, y, positive)
    area = _box_areas(results)
    if area is None:  # no bbox: the extent of the first field's keypoints
        xs, ys = x[:, : fields[0][1]].copy(), y[:, : fields[0][1]].copy()  # compact: 4x faster
        area = (xs.max(axis=1) - xs.min(axis=1)) * (ys.max(axis=1) - ys.min(axis=1))
    image = _index_of(image_ids, ground_truth.image_ids)
    if (image < 0).any():
        unknown = np.unique(image_ids[image < 0])
        raise UnreadableEntries(f"{len(unknown)} image id(s) are not in the ground truth, "
                                f"e.g. {unknown[:5].tolist()}")
    return Detections(
        image=image,
        category=_index_of(category_ids, ground_truth.category_ids),
        x=x,
        y=y,
        positive=positive,
        area=area,
        scores=scores,
    )


def _scores(results: Sequence[dict], key: str, fallback: np.ndarray | None = None) -> np.ndarray | None:
    """(N,) each entry's number ``key``; with ``fallback`` (N,), its value where an entry lacks
    ``key``, and None if no entry has it (without: KeyError)."""
    values = np.empty(len(results))
    if _stack is not None and isinstance(results, list):
        present = _stack.fill_number(results, key, values, fallback)
    elif fallback is None:
        values[:] = np.fromiter(map(itemgetter(key), results), np.float64, len(results))
        present = len(results)
    else:
        present = sum(map(methodcaller("__contains__", key), results))
        if present:
            values[:] = np.fromiter(map(dict.get, results, itertools.repeat(key), fallback.tolist()),
                                    np.float64, len(results))
    return values if present or fallback is None else None


def _box_areas(results: Sequence[dict]) -> np.ndarray | None:
    """(N,) the toolkit's ``loadRes`` area if the first entry has a non-empty ``bbox``: each
    ``bbox``'s w × h; else None (the area is the extent of the first field's keypoints)."""
    if len(results) == 0:
        return np.zeros(0)
    if results[0].get("bbox", []) != []:
        boxes = np.array([entry["bbox"] for entry in results], dtype=np.float64).reshape(-1, 4)
        return boxes[:, 2] * boxes[:, 3]
    return None


@dataclass
class _PartGT:
    """Evaluated ground truth of one part (G persons, k keypoints), grouped by unit.

    A unit is one (category, image) pair: ``category * num_images + image``.
    """

    unit: np.ndarray  # (G,) ascending (stable: file order kept within a unit)
    x: np.ndarray  # (G, k)
    y: np.ndarray  # (G, k)
    labelled: np.ndarray  # (G, k) bool
    any_labelled: np.ndarray  # (G,) bool
    boxes: np.ndarray  # (G, 4)
    scale: np.ndarray  # (G,) OKS area
    ignore: np.ndarray  # (A, G) ignored per area range (crowd, unlabelled, or outside range)
    crowd: np.ndarray  # (G,) bool


@dataclass
class _PartDT:
    """Kept detections of one part (D): per unit, best first, at most MAX_DETECTIONS."""

    unit: np.ndarray  # (D,) ascending
    rank: np.ndarray  # (D,) position within its unit
    row: np.ndarray  # (D,) row in ``Detections``
    score: np.ndarray  # (D,)
    outside: np.ndarray  # (A, D) bool: area outside each area range


def _part_ground_truth(gt: GroundTruth, part: Part, use_area: bool) -> _PartGT:
    """The evaluated persons of ``part`` (cached on ``gt``; see ``_select_part``)."""
    key = (part.start, part.stop, part.crowd_ignore, use_area)
    with _CACHE_LOCK:  # the threads of one evaluation ask for the same parts at once
        if key not in gt.parts:
            gt.parts[key] = _select_part(gt, part, use_area)
        return gt.parts[key]


def _select_part(gt: GroundTruth, part: Part, use_area: bool) -> _PartGT:
    """Select and order the evaluated persons and their ignore flags for ``part``."""
    order, unit = person_order(gt)
    span = slice(part.start, part.stop)
    if np.array_equal(order, np.arange(len(gt.image))):  # the file is in evaluation order: views
        order = slice(None)
    labelled = gt.labelled[order, span]
    boxes = gt.boxes[order]
    if part.crowd_ignore:
        unlabelled = gt.num_keypoints[order] == 0
    else:
        unlabelled = ~labelled.any(axis=1)
    if use_area:
        scale = range_area = gt.area[order]
        if np.isnan(scale).any():
            raise ValueError("OKS with use_area needs 'area' on every ground-truth annotation")
    else:
        scale = boxes[:, 3] * boxes[:, 2] * 0.53
        range_area = boxes[:, 2] * boxes[:, 3] * 0.53
    crowd = gt.iscrowd[order]
    outside = (range_area < AREA_RANGES[:, :1]) | (range_area > AREA_RANGES[:, 1:])
    return _PartGT(unit=unit, x=gt.x[order, span], y=gt.y[order, span], labelled=labelled,
                   any_labelled=labelled.any(axis=1), boxes=boxes, scale=scale,
                   ignore=outside | (crowd | unlabelled)[None], crowd=crowd)


def _part_detections(dt: Detections, num_images: int, part: Part) -> _PartDT:
    """Drop detections without a positive keypoint score; keep each unit's 20 best."""
    score_key = part.score_key if part.score_key in dt.scores else "score"
    score = dt.scores[score_key]
    with _CACHE_LOCK:  # parts sharing a score share the sort, computed once
        if score_key not in dt.orders:
            keep = np.flatnonzero((dt.category >= 0) & (dt.image >= 0))
            unit = dt.category[keep] * num_images + dt.image[keep]
            dt.orders[score_key] = keep[np.lexsort((-score[keep], unit))]  # by unit, best first, ties in order
        order = dt.orders[score_key]
    order = order[dt.positive[order, part.start : part.stop].any(axis=1)]  # order kept
    unit = dt.category[order] * num_images + dt.image[order]
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    top = rank < MAX_DETECTIONS
    order, unit, rank = order[top], unit[top], rank[top]
    area = dt.area[order]
    return _PartDT(unit=unit, rank=rank, row=order, score=score[order],
                   outside=(area < AREA_RANGES[:, :1]) | (area > AREA_RANGES[:, 1:]))


@dataclass
class Pairs:
    """Every (detection, person) pair of the same unit, P in all.

    A detection row's pairs are contiguous, in the evaluated persons' order (``_PartGT``).
    """

    row: np.ndarray  # (P,) detection row
    person: np.ndarray  # (P,) evaluated person (index into the _PartGT arrays)
    offset: np.ndarray  # (N,) index of each detection row's first pair


@dataclass
class OksTerms:
    """Per pair, the parts of one part's OKS: the sum of exp(-e) over the person's labelled
    keypoints and their count, and the sum over all ``size`` keypoints of exp(-e) measured
    to the doubled box (only for persons with no labelled keypoint in the part, else 0)."""

    labelled_sum: np.ndarray  # (P,)
    count: np.ndarray  # (P,) int
    box_sum: np.ndarray  # (P,)
    size: int

    def oks(self) -> np.ndarray:
        """(P,) the toolkit's OKS: mean over labelled keypoints, else over all to the box."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.labelled_sum / self.count,
                            self.box_sum / self.size)

    def __add__(self, other: OksTerms) -> OksTerms:
        """Terms of the union of two disjoint keypoint sets (e.g. whole body = its parts)."""
        return OksTerms(self.labelled_sum + other.labelled_sum, self.count + other.count,
                        self.box_sum + other.box_sum, self.size + other.size)


def person_order(gt: GroundTruth) -> tuple[np.ndarray, np.ndarray]:
    """Evaluated persons (those of listed images and categories) ordered by unit, stable.

    Returns (G,) annotation index and (G,) unit."""
    keep = (gt.image >= 0) & (gt.category >= 0)
    unit = gt.category * len(gt.image_ids) + gt.image
    order = np.flatnonzero(keep)[np.argsort(unit[keep], kind="stable")]
    return order, unit[order]


def _unit_pairs(gt_unit: np.ndarray, dt_unit: np.ndarray,
                num_units: int) -> tuple[np.ndarray, np.ndarray]:
    """For detections of ascending ``dt_unit`` (D,) and persons of ascending ``gt_unit`` (G,):
    (P,) detection and (P,) person index of every same-unit pair, per detection in person
    order."""
    gt_start, gt_count = _unit_ranges(gt_unit, num_units)
    per_dt = gt_count[dt_unit]
    dt_index = np.repeat(np.arange(len(dt_unit)), per_dt)
    first = np.repeat(np.cumsum(per_dt) - per_dt, per_dt)
    return dt_index, np.repeat(gt_start[dt_unit], per_dt) + np.arange(len(dt_index)) - first


def all_pairs(gt: GroundTruth, dt: Detections) -> Pairs:
    """Every same-unit (detection, person) pair, whatever part is evaluated on it."""
    num_images = len(gt.image_ids)
    _, gt_unit = person_order(gt)
    rows = np.flatnonzero((dt.category >= 0) & (dt.image >= 0))
    dt_unit = dt.category[rows] * num_images + dt.image[rows]
    rows = rows[np.argsort(dt_unit, kind="stable")]
    dt_unit = dt.category[rows] * num_images + dt.image[rows]
    dt_index, person = _unit_pairs(gt_unit, dt_unit, num_images * len(gt.category_ids))
    offset = np.zeros(len(dt.image), dtype=np.int64)
    offset[rows] = np.searchsorted(dt_index, np.arange(len(rows)))
    return Pairs(row=rows[dt_index], person=person, offset=offset)


def oks_terms(gt: GroundTruth, dt: Detections, pairs: Pairs, parts: Sequence[Part],
              sigmas: np.ndarray, use_area: bool, span: slice = slice(None),
              out: list[OksTerms] | None = None) -> list[OksTerms]:
    """``OksTerms`` of every pair for each of ``parts`` in one pass over chunks of pairs.

    ``parts`` lie side by side (each starts where the one before stops; one part is fine);
    ``sigmas``: (K,) of the full keypoint layout. With ``span`` only those pairs are computed,
    into ``out`` (from ``empty_terms``), so that threads can share the work.
    """
    first, last = parts[0].start, parts[-1].stop
    if any(a.stop != b.start for a, b in itertools.pairwise(parts)):
        raise ValueError(f"OKS parts must lie side by side, got {[(p.start, p.stop) for p in parts]}")
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if len(sigmas) < last:
        raise ValueError(f"keypoints up to {last} but {len(sigmas)} sigmas")
    persons = _part_ground_truth(gt, Part(first, last, crowd_ignore=parts[0].crowd_ignore),
                                 use_area)
    unlabelled = [~_part_ground_truth(gt, part, use_area).any_labelled for part in parts]
    starts = np.array([part.start - first for part in parts])
    variances = (sigmas[first:last] * 2) ** 2
    out = empty_terms(parts, len(pairs.row)) if out is None else out
    lo, hi, _ = span.indices(len(pairs.row))
    step = max(1, _PAIR_CHUNK // (last - first))
    for begin in range(lo, hi, step):
        chunk = slice(begin, min(begin + step, hi))
        rows, person = pairs.row[chunk], pairs.person[chunk]
        xd, yd = dt.x[rows, first:last], dt.y[rows, first:last]
        scale = (persons.scale[person] + np.spacing(1))[:, None]
        for part, lacking, terms in zip(parts, unlabelled, out, strict=True):
            boxed = np.flatnonzero(lacking[person])
            if len(boxed):  # the toolkit measures to the region around the box instead
                columns = slice(part.start - first, part.stop - first)
                terms.box_sum[chunk][boxed] = _box_terms(
                    xd[boxed, columns], yd[boxed, columns], persons.boxes[person[boxed]],
                    variances[columns], scale[boxed])
        sums, counts = _labelled_terms(xd, yd, persons, person, variances, scale, starts)
        for index, terms in enumerate(out):
            terms.labelled_sum[chunk], terms.count[chunk] = sums[:, index], counts[:, index]
    return out


def empty_terms(parts: Sequence[Part], count: int) -> list[OksTerms]:
    """Uninitialised ``OksTerms`` of ``count`` pairs for each of ``parts`` (``oks_terms``' out)."""
    return [OksTerms(np.empty(count), np.empty(count, np.int64), np.zeros(count),
                     part.stop - part.start) for part in parts]


def _box_terms(xd: np.ndarray, yd: np.ndarray, boxes: np.ndarray, variances: np.ndarray,
               scale: np.ndarray) -> np.ndarray:
    """(P,) sum over all keypoints of exp(-e), with d measured to the region (x0, y0)-(x1, y1)
    around each person's (P, 4) box (the toolkit's rule for persons without labelled keypoints)."""
    x0, x1 = (boxes[:, 0] - boxes[:, 2])[:, None], (boxes[:, 0] + boxes[:, 2] * 2)[:, None]
    y0, y1 = (boxes[:, 1] - boxes[:, 3])[:, None], (boxes[:, 1] + boxes[:, 3] * 2)[:, None]
    dx = np.maximum(0, x0 - xd) + np.maximum(0, xd - x1)
    dy = np.maximum(0, y0 - yd) + np.maximum(0, yd - y1)
    e = (dx**2 + dy**2) / variances / scale / 2
    return np.exp(-e).sum(axis=1)


def _labelled_terms(xd: np.ndarray, yd: np.ndarray, gt: _PartGT, person: np.ndarray,
                    variances: np.ndarray, scale: np.ndarray,
                    starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, n) sums of exp(-e) over each person's labelled keypoints and (P, n) their counts,
    for the n column groups beginning at ``starts``; detection keypoints ``xd``, ``yd`` (P, k)
    are overwritten. The toolkit's float operations, element by element."""
    dx = np.subtract(xd, gt.x[person], out=xd)
    dy = np.subtract(yd, gt.y[person], out=yd)
    np.multiply(dx, dx, out=dx)
    np.multiply(dy, dy, out=dy)
    dx += dy
    dx /= variances
    dx /= scale
    dx /= 2
    np.negative(dx, out=dx)
    np.exp(dx, out=dx)
    counted = gt.labelled[person]
    np.copyto(dx, 0.0, where=~counted)
    return (np.add.reduceat(dx, starts, axis=1),
            np.add.reduceat(counted, starts, axis=1, dtype=np.int64))


def _unit_ranges(sorted_units: np.ndarray, num_units: int) -> tuple[np.ndarray, np.ndarray]:
    """(U,) start and count of each unit in an ascending unit array."""
    start = np.searchsorted(sorted_units, np.arange(num_units), side="left")
    stop = np.searchsorted(sorted_units, np.arange(num_units), side="right")
    return start, stop - start


# The greedy matching tracks the A x T (area range, OKS threshold) slots of a unit as the bits of
# one integer, bit a * T + t: 30 slots, one uint32 per unit instead of 30 bools.
_SLOTS = len(AREA_RANGES) * len(IOU_THRESHOLDS)
_ALL_SLOTS = np.uint32((1 << _SLOTS) - 1)
_AREA_SLOTS = np.array([((1 << len(IOU_THRESHOLDS)) - 1) << (len(IOU_THRESHOLDS) * a)
                        for a in range(len(AREA_RANGES))], dtype=np.uint32)  # (A,)
# _PASSED[c]: the slots of the c lowest thresholds in every area range (an OKS passing c of them)
_PASSED = np.array([sum(((1 << c) - 1) << (len(IOU_THRESHOLDS) * a) for a in range(len(AREA_RANGES)))
                    for c in range(len(IOU_THRESHOLDS) + 1)], dtype=np.uint32)


def _greedy(table: np.ndarray, ignore: np.ndarray, crowd: np.ndarray, valid: np.ndarray,
            counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The toolkit's greedy matching for U units padded to G persons and D detections.

    Args:
        table: (G, D, U) OKS of each unit's d-th best detection with its g-th person (-inf: pad).
        ignore: (G, U, A, 1) bool, person ignored in area range a; crowd: (G, U) bool.
        valid: (G, U) bool, real person; counts: (U,) detections per unit.

    Returns (D, U, A, T) bool: matched, and matched to an ignored person. A detection takes
    the free person of highest OKS >= threshold (ties: the later person), preferring non-ignored
    persons; crowd persons stay free. All A x T slots at once, as bits (``_SLOTS``): per
    detection, the persons are visited from the highest OKS down (ties: the later first) and
    each takes the slots it is eligible for that no person before it took, in its tier.
    """
    num_g, depth, num_u = table.shape
    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)
    units = np.arange(num_u)
    ignored_slots = np.bitwise_or.reduce(np.where(ignore[..., 0], _AREA_SLOTS, np.uint32(0)), axis=-1)
    free = np.where(valid, _ALL_SLOTS, np.uint32(0))  # (G, U)
    matched = np.zeros((depth, num_u), np.uint32)
    matched_ignored = np.zeros_like(matched)
    won = np.zeros((2, num_g, num_u), np.uint32)  # slots each person took, per tier
    for d in range(depth):
        value = table[:, d]  # (G, U)
        order = num_g - 1 - np.argsort(-value[::-1], axis=0, kind="stable")  # OKS down, later first
        present = np.where(d < counts, _ALL_SLOTS, np.uint32(0))
        taken = np.zeros((2, num_u), np.uint32)  # regular, ignored tier
        won.fill(0)
        for g in order:  # (U,) each unit's person of this rank
            oks = value[g, units]
            eligible = free[g, units] & _PASSED[(oks[:, None] >= thresholds).sum(axis=1)] & present
            ignored = ignored_slots[g, units]
            won[0, g, units] = eligible & ~ignored & ~taken[0]
            won[1, g, units] = eligible & ignored & ~taken[1]
            taken |= won[:, g, units]
        fallback = taken[1] & ~taken[0]  # slots only an ignored person took
        free &= ~np.where(crowd, np.uint32(0), won[0] | (won[1] & fallback))
        matched[d], matched_ignored[d] = taken[0] | taken[1], fallback
    return _unpack_slots(matched), _unpack_slots(matched_ignored)


def _unpack_slots(slots: np.ndarray) -> np.ndarray:
    """(..., A, T) bool of (...) slot bits."""
    bits = (slots[..., None] >> np.arange(_SLOTS, dtype=np.uint32)) & np.uint32(1)
    return bits.astype(bool).reshape(*slots.shape, len(AREA_RANGES), len(IOU_THRESHOLDS))


def _match(gt: _PartGT, dt: _PartDT, pairs: Pairs, pair_oks: np.ndarray,
           num_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching of every unit at every area range and OKS threshold.

    ``pair_oks``: (P,) OKS of every pair in ``pairs``. Returns (A, T, D) bool: matched, and
    matched to an ignored person.
    """
    num_dt = len(dt.unit)
    matched = np.zeros((len(AREA_RANGES), len(IOU_THRESHOLDS), num_dt), dtype=bool)
    matched_ignored = np.zeros_like(matched)
    if num_dt == 0 or len(gt.unit) == 0:
        return matched, matched_ignored
    dt_index, gt_index = _unit_pairs(gt.unit, dt.unit, num_units)
    gt_start, gt_count = _unit_ranges(gt.unit, num_units)
    oks = pair_oks[pairs.offset[dt.row[dt_index]] + gt_index - gt_start[dt.unit[dt_index]]]
    dt_start, dt_count = _unit_ranges(dt.unit, num_units)
    busy = np.flatnonzero((gt_count > 0) & (dt_count > 0))
    pair_unit = dt.unit[dt_index]
    # Units with similar person counts share one padded problem.
    size_class = np.ceil(np.log2(gt_count[busy])).astype(int)
    for size in np.unique(size_class):
        units = busy[size_class == size]
        width, depth = int(gt_count[units].max()), int(dt_count[units].max())
        local = np.full(num_units, -1)
        local[units] = np.arange(len(units))
        pairs = np.flatnonzero(local[pair_unit] >= 0)
        u = local[pair_unit[pairs]]
        table = np.full((width, depth, len(units)), -np.inf)
        table[gt_index[pairs] - gt_start[units][u], dt.rank[dt_index[pairs]], u] = oks[pairs]
        slots = np.arange(width)[:, None]
        valid = slots < gt_count[units][None]  # (G, U)
        person = np.minimum(gt_start[units][None] + slots, len(gt.unit) - 1)
        ignore = np.moveaxis(gt.ignore[:, person], 0, -1)[..., None] & valid[..., None, None]
        hit, hit_ignored = _greedy(table, ignore, gt.crowd[person] & valid, valid,
                                   dt_count[units])
        d, unit_pos = np.nonzero(np.arange(depth)[:, None] < dt_count[units][None])
        index = dt_start[units][unit_pos] + d
        matched[:, :, index] = np.moveaxis(hit[d, unit_pos], 0, -1)
        matched_ignored[:, :, index] = np.moveaxis(hit_ignored[d, unit_pos], 0, -1)
    return matched, matched_ignored


def _precision_recall(
    matched: np.ndarray, dt_ignore: np.ndarray, regular_gt: int
) -> tuple[np.ndarray, np.ndarray]:
    """The toolkit's (T, R) precision and (T,) recall of one category and area range.

    ``matched``/``dt_ignore``: (T, D) in descending score order (stable); ``regular_gt``: the
    number of non-ignored persons (> 0).
    """
    precision = np.zeros((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)))
    count = matched.shape[1]
    if count == 0:
        return precision, np.zeros(len(IOU_THRESHOLDS))
    # integer counts (exact as float64); cast first: a cumsum that casts bools is 3x slower
    tp_sum = (matched & ~dt_ignore).astype(np.int64)
    fp_sum = (~(matched | dt_ignore)).astype(np.int64)
    np.cumsum(tp_sum, axis=1, out=tp_sum)
    np.cumsum(fp_sum, axis=1, out=fp_sum)
    # precision tp / (fp + tp + eps), the toolkit's operations, without (T, D) temporaries
    precision_curve = np.add(fp_sum, tp_sum, out=fp_sum).astype(np.float64)
    precision_curve += np.spacing(1)
    np.divide(tp_sum, precision_curve, out=precision_curve)
    # recall tp / n_gt reaches recall threshold r at the first count k with k / n_gt >= r
    needed = np.searchsorted(np.arange(regular_gt + 1) / regular_gt, RECALL_THRESHOLDS, side="left")
    for t in range(len(IOU_THRESHOLDS)):
        inds = np.searchsorted(tp_sum[t], needed, side="left")
        inside = inds < count
        precision[t, inside] = _suffix_max_at(precision_curve[t], inds[inside])
    return precision, tp_sum[:, -1] / regular_gt


def _suffix_max_at(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``max(values[i:])`` for each ``i`` of the ascending ``positions`` (the toolkit's
    right-to-left running maximum of precision, read only where recall thresholds fall): one
    forward pass of segment maxima instead of a reversed running maximum over all of ``values``."""
    if len(positions) == 0:
        return np.zeros(0)
    starts = np.unique(positions)
    segment_max = np.maximum.reduceat(values, starts)
    suffix = np.maximum.accumulate(segment_max[::-1])[::-1]
    return suffix[np.searchsorted(starts, positions)]


@dataclass
class Matched:
    """Everything ``accumulate`` needs of one evaluated part."""

    gt: _PartGT
    dt: _PartDT
    matched: np.ndarray  # (A, T, D)
    dt_ignore: np.ndarray  # (A, T, D)
    num_images: int
    num_categories: int


def match_part(gt: GroundTruth, dt: Detections, part: Part, sigmas: np.ndarray,
               use_area: bool, pairs: Pairs | None = None,
               terms: OksTerms | None = None) -> Matched:
    """Per-image evaluation of one part (the toolkit's ``evaluate``).

    ``sigmas``: (K,) of the full keypoint layout. ``pairs`` (``all_pairs``) and their
    ``terms`` (``oks_terms``) are computed if not given.
    """
    num_images, num_categories = len(gt.image_ids), len(gt.category_ids)
    pairs = all_pairs(gt, dt) if pairs is None else pairs
    terms = oks_terms(gt, dt, pairs, [part], sigmas, use_area)[0] if terms is None else terms
    part_gt = _part_ground_truth(gt, part, use_area)
    part_dt = _part_detections(dt, num_images, part)
    matched, matched_ignored = _match(part_gt, part_dt, pairs, terms.oks(),
                                      num_images * num_categories)
    dt_ignore = matched_ignored | (~matched & part_dt.outside[:, None, :])
    return Matched(part_gt, part_dt, matched, dt_ignore, num_images, num_categories)


def accumulate(result: Matched, images: np.ndarray | None = None):
    """The toolkit's (T, R, C, A, 1) precision and (T, C, A, 1) recall (-1: no regular person).

    ``images``: (I,) bool, the images to accumulate over (default all), or (I,) int, how many
    times each image counts (a bootstrap resample: an image drawn twice counts as two copies).
    """
    num_thr, num_rec, num_areas = len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(AREA_RANGES)
    shape = (num_thr, num_rec, result.num_categories, num_areas, 1)
    precision, recall = -np.ones(shape), -np.ones((num_thr, result.num_categories, num_areas, 1))
    copies = np.ones(result.num_images, np.int64) if images is None else images.astype(np.int64)
    gt_copies = copies[result.gt.unit % result.num_images]
    dt_copies = copies[result.dt.unit % result.num_images]
    for c in range(result.num_categories):
        gt_sel = (gt_copies > 0) & (result.gt.unit // result.num_images == c)
        dt_sel = np.flatnonzero((dt_copies > 0) & (result.dt.unit // result.num_images == c))
        # evaluation order: images ascending, best first within each; then a stable score sort
        dt_sel = dt_sel[np.argsort(-result.dt.score[dt_sel], kind="mergesort")]
        dt_sel = np.repeat(dt_sel, dt_copies[dt_sel])
        for a in range(num_areas):
            regular = int(gt_copies[gt_sel & ~result.gt.ignore[a]].sum())
            if regular == 0:
                continue
            p, r = _precision_recall(result.matched[a][:, dt_sel], result.dt_ignore[a][:, dt_sel],
                                     regular)
            precision[:, :, c, a, 0], recall[:, c, a, 0] = p, r
    return precision, recall


def _mean_valid(values: np.ndarray) -> float:
    """Mean over entries > -1, or -1 if none (the toolkit's ``_summarize``)."""
    valid = values[values > -1]
    return -1.0 if len(valid) == 0 else float(np.mean(valid))


def _summary(precision: np.ndarray, recall: np.ndarray, ap: bool, area: int = 0,
             iou: float | None = None) -> float:
    values = precision[:, :, :, area, 0] if ap else recall[:, :, area, 0]
    if iou is not None:
        values = values[np.where(iou == IOU_THRESHOLDS)[0]]
    return _mean_valid(values)


def keypoint_stats(result: Matched) -> np.ndarray:
    """(10,) AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM, ARL."""
    precision, recall = accumulate(result)
    return np.array([
        _summary(precision, recall, ap, area, iou)
        for ap in (True, False)
        for area, iou in ((0, None), (0, 0.5), (0, 0.75), (1, None), (2, None))
    ])


def crowdpose_stats(result: Matched, crowd_index: np.ndarray) -> np.ndarray:
    """(9,) AP, AP50, AP75, AR, AR50, AR75, AP easy, AP medium, AP hard.

    ``crowd_index``: (I,) per image; the three AP are the toolkit's: the mean of the area-"all"
    precision array including its -1 entries, rounded to 4 decimals.
    """
    precision, recall = accumulate(result)
    stats = [_summary(precision, recall, ap, 0, iou)
             for ap in (True, False) for iou in (None, 0.5, 0.75)]
    first, second = CROWD_SPLIT
    easy = crowd_index < first
    medium = ~easy & (crowd_index < second)
    for images in (easy, medium, ~easy & ~medium):
        subset_precision, _ = accumulate(result, images)
        stats.append(round(np.mean(subset_precision[:, :, :, 0, :]), 4))
    return np.array(stats, dtype=np.float64)
