"""Write the synthetic whole-body dataset: JPEG images, COCO-WholeBody annotation files and person
detection files for the splits ``train``, ``val`` (same distribution) and ``val_ood`` (the
spurious context object no longer follows the pose), plus a ``manifest.json`` of the parameters.

Layout under ``out_dir``::

    images/<split>/<image_id:012d>.jpg     (as conf/data/synthetic.yaml expects)
    annotations/<split>.json              COCO-WholeBody v1.0
    annotations/<split>_detections.json   COCO results (image_id, category_id, bbox, score)
    manifest.json

Every image is drawn from its own seed (``seed``, stream, image index), so the output does not
depend on the number of workers. ``val`` and ``val_ood`` share a stream: image i of both shows
the same people, occluders and clutter; only where the context discs sit differs.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from cigpose.synth.coco import categories, detection_records, image_record, person_annotation
from cigpose.synth.scene import SceneParams, render_scene

log = logging.getLogger("cigpose.synth")

GENERATOR_VERSION = 1  # bump when the drawing changes, so stale data is regenerated
SPLITS = ("train", "val", "val_ood")
_STREAM = {"train": 0, "val": 1, "val_ood": 1}
_ID_BASE = {"train": 1_000_000, "val": 2_000_000, "val_ood": 3_000_000}


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines the dataset's bytes (stored in ``manifest.json``).

    num_*: people per split. multi_person: probability that an image holds two people.
    occlusion, clutter, spurious, context_rate, face_scale, hand_scale: see ``SceneParams``.
    """

    seed: int = 0
    num_train: int = 2400
    num_val: int = 300
    num_val_ood: int = 300
    image_size: tuple[int, int] = (256, 256)
    occlusion: float = 0.5
    clutter: float = 0.5
    spurious: float = 1.0
    context_rate: float = 0.5
    face_scale: float = 1.5
    hand_scale: float = 1.5
    multi_person: float = 0.3
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        for name in ("num_train", "num_val", "num_val_ood"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.multi_person <= 1.0:
            raise ValueError(f"multi_person must be in [0, 1], got {self.multi_person}")
        self.scene()  # validates the scene parameters

    def scene(self) -> SceneParams:
        return SceneParams(
            image_size=tuple(self.image_size),
            occlusion=self.occlusion,
            clutter=self.clutter,
            spurious=self.spurious,
            context_rate=self.context_rate,
            face_scale=self.face_scale,
            hand_scale=self.hand_scale,
        )

    def people(self, split: str) -> int:
        return {"train": self.num_train, "val": self.num_val, "val_ood": self.num_val_ood}[split]

    def manifest(self) -> dict:
        return {"generator_version": GENERATOR_VERSION, "params": {**asdict(self), "image_size": list(self.image_size)}}


def people_per_image(config: SynthConfig, split: str) -> np.ndarray:
    """``(num_images,)`` people in each image (1 or 2), summing to the split's people count."""
    total = config.people(split)
    rng = np.random.default_rng([config.seed, _STREAM[split], 0])
    counts = np.where(rng.random(total) < config.multi_person, 2, 1)
    ends = np.cumsum(counts)
    num_images = int(np.searchsorted(ends, total)) + 1 if total else 0
    counts = counts[:num_images].copy()
    if num_images:
        counts[-1] -= ends[num_images - 1] - total
    return counts


def _render_image(task: tuple[SynthConfig, str, int, int, str]) -> tuple[list[dict], list[dict]]:
    """Draw image ``index`` of ``split``, write it, return its annotations (ids filled in later)
    and detections."""
    config, split, index, num_people, path = task
    stream, image_id = _STREAM[split], _ID_BASE[split] + index
    scene = render_scene(
        np.random.default_rng([config.seed, stream, 1, index]),
        config.scene(),
        num_people,
        tie_context=split != "val_ood",
    )
    if not cv2.imwrite(path, scene.image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]):
        raise OSError(f"could not write image {path}")
    contexts = {c.person: c for c in scene.contexts}
    anns = [
        person_annotation(
            scene.keypoints[p], scene.boxes[p], scene.areas[p], image_id, 0, config.image_size, contexts.get(p)
        )
        for p in range(num_people)
    ]
    dets = detection_records(
        np.random.default_rng([config.seed, stream, 2, index]), scene.boxes, image_id, config.image_size
    )
    return anns, dets


def _worker_init() -> None:
    cv2.setNumThreads(1)


def split_paths(out_dir: Path, split: str) -> dict[str, Path]:
    """Where a split's images, annotation file and detection file live."""
    return {
        "images": out_dir / "images" / split,
        "annotations": out_dir / "annotations" / f"{split}.json",
        "detections": out_dir / "annotations" / f"{split}_detections.json",
    }


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    tmp.replace(path)


def _summary(out_dir: Path, counts: dict[str, dict[str, int]], reused: bool) -> dict:
    return {
        "root": str(out_dir),
        "manifest": str(out_dir / "manifest.json"),
        "reused": reused,
        "splits": {
            split: {**{k: str(v) for k, v in split_paths(out_dir, split).items()}, **counts[split]} for split in counts
        },
    }


def existing_dataset(out_dir: str | Path, config: SynthConfig) -> dict | None:
    """The summary of a complete dataset at ``out_dir`` made with ``config``, else None."""
    out = Path(out_dir)
    try:
        manifest = json.loads((out / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if {k: manifest.get(k) for k in ("generator_version", "params")} != config.manifest():
        return None
    counts = manifest.get("counts", {})
    for split in SPLITS:
        paths = split_paths(out, split)
        if not (paths["annotations"].is_file() and paths["detections"].is_file()):
            return None
        if split not in counts or sum(1 for _ in paths["images"].glob("*.jpg")) != counts[split]["num_images"]:
            return None
    return _summary(out, counts, reused=True)


def generate_dataset(
    out_dir: str | Path,
    *,
    seed: int = 0,
    num_train: int = 2400,
    num_val: int = 300,
    num_val_ood: int = 300,
    image_size: tuple[int, int] = (256, 256),
    occlusion: float = 0.5,
    clutter: float = 0.5,
    spurious: float = 1.0,
    context_rate: float = 0.5,
    face_scale: float = 1.5,
    hand_scale: float = 1.5,
    multi_person: float = 0.3,
    workers: int = 2,
    reuse: bool = False,
) -> dict:
    """Generate (or with ``reuse``, keep a matching existing) dataset under ``out_dir``.

    Returns ``{"root", "manifest", "reused", "seconds", "splits": {split: {"images",
    "annotations", "detections", "num_images", "num_people"}}}`` (paths as strings).
    """
    config = SynthConfig(
        seed=seed, num_train=num_train, num_val=num_val, num_val_ood=num_val_ood, image_size=tuple(image_size),
        occlusion=occlusion, clutter=clutter, spurious=spurious, context_rate=context_rate,
        face_scale=face_scale, hand_scale=hand_scale, multi_person=multi_person,
    )  # fmt: skip
    out = Path(out_dir)
    start = time.perf_counter()
    if reuse and (found := existing_dataset(out, config)) is not None:
        return {**found, "seconds": time.perf_counter() - start}

    (out / "manifest.json").unlink(missing_ok=True)  # incomplete until the manifest is rewritten
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    plans = {split: people_per_image(config, split) for split in SPLITS}
    tasks = []
    for split in SPLITS:
        images = split_paths(out, split)["images"]
        if images.exists():
            shutil.rmtree(images)
        images.mkdir(parents=True)
        for index, num_people in enumerate(plans[split]):
            path = images / f"{_ID_BASE[split] + index:012d}.jpg"
            tasks.append((config, split, index, int(num_people), str(path)))

    if workers > 1 and len(tasks) > 1:
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
            results = pool.map(_render_image, tasks, chunksize=max(1, min(32, len(tasks) // (4 * workers))))
    else:
        results = [_render_image(task) for task in tasks]

    counts = {}
    done = 0
    for split in SPLITS:
        num_images = len(plans[split])
        split_results, done = results[done : done + num_images], done + num_images
        annotations, detections = [], []
        for anns, dets in split_results:
            for ann in anns:
                ann["id"] = _ID_BASE[split] + len(annotations)
                annotations.append(ann)
            detections.extend(dets)
        images = [
            image_record(_ID_BASE[split] + i, f"{_ID_BASE[split] + i:012d}.jpg", config.image_size)
            for i in range(num_images)
        ]
        paths = split_paths(out, split)
        _write_json(paths["annotations"], {
            "info": {"description": f"cigpose synthetic whole-body ({split})", "version": "1.0"},
            "licenses": [],
            "categories": categories(),
            "images": images,
            "annotations": annotations,
        })  # fmt: skip
        _write_json(paths["detections"], detections)
        counts[split] = {"num_images": num_images, "num_people": len(annotations)}
    _write_json(out / "manifest.json", {**config.manifest(), "counts": counts})
    seconds = time.perf_counter() - start
    log.info("synthetic dataset written to %s in %.1f s: %s", out, seconds, counts)
    return {**_summary(out, counts, reused=False), "seconds": seconds}
