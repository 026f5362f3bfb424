"""Synthetic COCO-WholeBody datasets: images, annotations, detections; deterministic per seed.

Splits: ``train`` and ``val`` share one distribution, in which a distinctive disc (the
*spurious context*) is drawn at an occluded wrist whenever one is occluded; in ``val_ood`` the
disc is drawn at a random place — the context no longer tells where the wrist is.
"""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from cigpose.data.metainfo import load_meta
from cigpose.synthetic.person import random_person
from cigpose.synthetic.render import SKELETON, background, draw_person, occlude

PARTS = (("keypoints", 0, 17), ("foot_kpts", 17, 23), ("face_kpts", 23, 91), ("lefthand_kpts", 91, 112),
         ("righthand_kpts", 112, 133))
BOXES = (("face_box", 23, 91), ("lefthand_box", 91, 112), ("righthand_box", 112, 133))


def _box(points: np.ndarray, pad: float = 0.0) -> list[float]:
    lo, hi = points.min(0) - pad, points.max(0) + pad
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def render_image(args: tuple) -> tuple[list[dict], list[dict]]:
    """One image: draws it to disk, returns (annotations, detections) with provisional ids."""
    index, split, seed, size, path, occlusion, clutter, spurious = args
    rng = np.random.default_rng((seed, {"train": 0, "val": 1, "val_ood": 2}[split], index))
    w, h = size
    image = background(size, rng, clutter)
    people = 1 if rng.random() < 0.8 else 2
    anns, dets = [], []
    for p in range(people):
        height = rng.uniform(0.72, 0.9) * h
        cx = w / 2 if people == 1 else w * (0.3 + 0.4 * p)
        kp = random_person(cx + rng.uniform(-0.08, 0.08) * w, rng.uniform(0.02, 0.08) * h, height, rng)
        draw_person(image, kp, rng)
        hidden = occlude(image, kp, occlusion, rng)
        hidden_wrists = [j for j in (9, 10) if hidden[j]]
        if hidden_wrists and rng.random() < spurious:
            where = kp[hidden_wrists[0]] if split != "val_ood" else rng.uniform(0, [w, h])
            cv2.circle(image, (int(where[0]), int(where[1])), 7, (255, 40, 200), -1, cv2.LINE_AA)
        inside = (kp >= 0).all(1) & (kp[:, 0] < w) & (kp[:, 1] < h)
        vis = np.where(inside, np.where(hidden, 1, 2), 0)
        xyv = np.concatenate([np.where(inside[:, None], kp, 0), vis[:, None]], 1).round(2)
        labelled = kp[inside]
        bbox = _box(labelled, pad=4.0)
        ann = {"bbox": bbox, "area": bbox[2] * bbox[3], "iscrowd": 0, "category_id": 1,
               "num_keypoints": int((vis[:17] > 0).sum())}
        for name, a, b in PARTS:
            ann[name] = xyv[a:b].reshape(-1).tolist()
        for name, a, b in BOXES:
            ann[name] = _box(kp[a:b], 2.0)
        ann.update(face_valid=True, lefthand_valid=True, righthand_valid=True, foot_valid=True)
        anns.append(ann)
        jitter = rng.normal(0, 0.04, 4) * [bbox[2], bbox[3], bbox[2], bbox[3]]
        dets.append({"bbox": [float(v) for v in np.asarray(bbox) + jitter], "score": float(rng.uniform(0.8, 1.0)),
                     "category_id": 1})
    if rng.random() < 0.3:  # a low-score false positive
        dets.append({"bbox": [float(v) for v in rng.uniform([0, 0, 20, 40], [w / 2, h / 2, w / 2, h / 2])],
                     "score": float(rng.uniform(0.05, 0.3)), "category_id": 1})
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return anns, dets


def write_split(out: Path, split: str, count: int, seed: int, size: tuple[int, int], occlusion: float,
                clutter: float, spurious: float, workers: int) -> dict:
    image_dir = out / "images" / split
    image_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(i, split, seed, size, image_dir / f"{i:06d}.jpg", occlusion, clutter, spurious) for i in range(count)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            rendered = list(pool.map(render_image, jobs, chunksize=32))
    else:
        rendered = [render_image(j) for j in jobs]
    meta = load_meta("coco_wholebody")
    images, annotations, detections = [], [], []
    for i, (anns, dets) in enumerate(rendered):
        image_id = i + 1
        images.append({"id": image_id, "file_name": f"{i:06d}.jpg", "width": size[0], "height": size[1]})
        for ann in anns:
            annotations.append({**ann, "id": len(annotations) + 1, "image_id": image_id})
        detections += [{**d, "image_id": image_id} for d in dets]
    gt = {"info": {"description": f"cigpose synthetic whole-body, split {split}, seed {seed}"},
          "images": images, "annotations": annotations,
          "categories": [{"id": 1, "name": "person", "supercategory": "person",
                          "keypoints": list(meta.keypoint_names), "skeleton": [list(l) for l in SKELETON]}]}
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    (out / "annotations" / f"{split}.json").write_text(json.dumps(gt))
    (out / "annotations" / f"{split}_detections.json").write_text(json.dumps(detections))
    return {"images": len(images), "people": len(annotations)}


def generate_dataset(out_dir: str | Path, *, seed: int = 0, num_train: int = 3000, num_val: int = 300,
                     num_val_ood: int = 300, image_size: tuple[int, int] = (192, 256), occlusion: float = 0.5,
                     clutter: float = 0.5, spurious: float = 1.0, workers: int = 2) -> dict:
    """Write ``images/<split>/``, ``annotations/<split>.json`` and ``<split>_detections.json``
    for ``train``, ``val`` and ``val_ood``; returns the counts and parameters."""
    out = Path(out_dir)
    params = {"seed": seed, "num_train": num_train, "num_val": num_val, "num_val_ood": num_val_ood,
              "image_size": list(image_size), "occlusion": occlusion, "clutter": clutter, "spurious": spurious}
    counts = {split: write_split(out, split, n, seed, tuple(image_size), occlusion, clutter, spurious, workers)
              for split, n in (("train", num_train), ("val", num_val), ("val_ood", num_val_ood))}
    manifest = {"params": params, "counts": counts}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
