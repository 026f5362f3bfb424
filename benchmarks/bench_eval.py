"""Time ``evaluate`` for COCO-WholeBody on a large synthetic results file.

Synthesises a whole-body ground truth (``--images`` images × ``--people`` persons) and a results
file with ``--per-image`` predictions per image (noisy copies of the people plus false
positives) in a temp dir, then times ``evaluate`` calls (GT load + six toolkit passes; median of ``--repeats``) and
saves ``benchmarks/results/evaluation.json``.

    .venv/bin/python -m benchmarks.bench_eval            # 5,000 images, 50,000 results
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import median_seconds, save
from cigpose.evaluation.coco_eval import evaluate
from cigpose.evaluation.results import WHOLEBODY_FIELDS, build_results, write_results

NUM_KEYPOINTS = 133


def synth_ground_truth(rng: np.random.Generator, images: int, people: int):
    """COCO-WholeBody GT dict and the people's (P, 133, 2) keypoints, (P,) image ids, boxes."""
    count = images * people
    image_ids = np.repeat(np.arange(1, images + 1), people)
    boxes = np.column_stack([rng.uniform(0, 400, count), rng.uniform(0, 300, count),
                             rng.uniform(40, 240, count), rng.uniform(80, 320, count)])
    relative = rng.uniform(0, 1, (count, NUM_KEYPOINTS, 2))
    keypoints = boxes[:, None, :2] + relative * boxes[:, None, 2:]
    visible = np.where(rng.random((count, NUM_KEYPOINTS)) < 0.6, 2, 0)
    triples = np.concatenate([keypoints, visible[..., None]], axis=-1)
    annotations, start = [], 0
    columns = {}
    for field, n in WHOLEBODY_FIELDS:
        columns[field] = triples[:, start:start + n].reshape(count, -1).tolist()
        start += n
    for i in range(count):
        annotations.append({
            "id": i + 1, "image_id": int(image_ids[i]), "category_id": 1, "iscrowd": 0,
            "bbox": boxes[i].tolist(), "area": float(boxes[i, 2] * boxes[i, 3] * 0.6),
            "num_keypoints": int((visible[i, :17] > 0).sum()),
            **{field: values[i] for field, values in columns.items()},
        })
    gt = {
        "images": [{"id": i, "width": 640, "height": 480} for i in range(1, images + 1)],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    return gt, keypoints, image_ids, boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--per-image", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    gt, keypoints, image_ids, boxes = synth_ground_truth(rng, args.images, args.people)

    copies = args.per_image // args.people  # noisy copies of each person (incl. false positives)
    scale = np.sqrt(boxes[:, 2] * boxes[:, 3])[:, None, None]
    noise = rng.uniform(0.002, 0.08, (len(keypoints), copies, 1, 1))
    pred = keypoints[:, None] + rng.normal(0, 1, (len(keypoints), copies, NUM_KEYPOINTS, 2)) \
        * noise * scale[:, None]
    pred = pred.reshape(-1, NUM_KEYPOINTS, 2)
    n = len(pred)
    results = build_results(np.repeat(image_ids, copies), pred,
                            rng.uniform(0, 1, (n, NUM_KEYPOINTS)), rng.uniform(0, 1, n),
                            "coco_wholebody")

    with tempfile.TemporaryDirectory() as tmp:
        gt_file = Path(tmp) / "gt.json"
        gt_file.write_text(json.dumps(gt))
        res_file = write_results(results, Path(tmp) / "results.json")
        write_seconds = time.perf_counter()
        write_results(results, Path(tmp) / "again.json")
        write_seconds = time.perf_counter() - write_seconds
        metrics: dict[str, float] = {}

        def run() -> None:
            metrics.update(evaluate(gt_file, res_file, "coco_wholebody"))

        seconds = median_seconds(run, args.repeats, warmup=0)

    rows = [{"benchmark": "evaluate coco_wholebody (load GT + results, 6 OKS passes)", "images": args.images,
             "gt_persons": len(keypoints), "results": n, "whole_body_AP": round(metrics["whole_body/AP"], 3),
             "seconds": round(seconds, 1), "results_per_s": round(n / seconds)},
            {"benchmark": "write_results (JSON)", "images": args.images, "gt_persons": len(keypoints),
             "results": n, "whole_body_AP": "", "seconds": round(write_seconds, 1),
             "results_per_s": round(n / write_seconds)}]
    notes = (f"xtcocotools, synthetic COCO-WholeBody GT ({args.people} people per image) and {args.per_image} "
             f"results per image (noisy copies + false positives); median of {args.repeats} runs")
    path = save("evaluation", rows, notes)
    for row in rows:
        print(row)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
