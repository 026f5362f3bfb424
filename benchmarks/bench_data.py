"""Training data pipeline throughput (samples/s) in ONE process, i.e. per loader worker.

Stage-1 (and stage-2) augmentation of the real fixture images (``data=fixtures_wholebody``: 12
person instances on 4 COCO val images, 133 keypoints, 256×192 crops): decode → flip / half-body /
box transform → affine crop → HSV jitter → albumentations (Blur, MedianBlur, CoarseDropout) →
SimCC targets → tensors. OpenCV and torch are held to one thread, as in a DataLoader worker.
Also: the same with decoded images cached in memory (an option, not the default), and the time
per step, measured by running the steps one by one on the same samples.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections import defaultdict

import cv2
import hydra
import numpy as np
import torch

import cigpose.data.dataset as dataset_module
from benchmarks.common import machine, median_seconds, save
from cigpose.config import compose
from cigpose.data.dataset import TopDownDataset, read_image


def build_dataset() -> TopDownDataset:
    cfg = compose("train", ["data=fixtures_wholebody"])
    datamodule = hydra.utils.instantiate(cfg.data, _recursive_=False)
    datamodule.setup("fit")
    return datamodule.datasets["train"]


def samples_per_second(dataset: TopDownDataset, passes: int, repeats: int) -> float:
    """Median over ``repeats`` of ``passes`` sweeps over the dataset."""
    n = len(dataset)

    def sweep() -> None:
        for p in range(passes):
            dataset.set_epoch(p)
            for i in range(n):
                dataset[i]

    return passes * n / median_seconds(sweep, repeats=repeats)


def step_times(dataset: TopDownDataset, passes: int) -> dict[str, float]:
    """Seconds per sample of each pipeline step (stage 1), the steps run one by one."""
    geometric, photometric = dataset.stages[1]
    totals: dict[str, float] = defaultdict(float)
    count = 0
    for p in range(passes):
        for index in range(len(dataset)):
            rng = np.random.default_rng((0, p, index))
            start = time.perf_counter()
            image = read_image(dataset.image_path(index))
            totals["decode (read file + cv2.imdecode + BGR→RGB)"] += time.perf_counter() - start
            sample = dataset.initial_sample(index, image)
            steps = [(f"geometric: {type(s).__name__}", s) for s in geometric.steps]
            steps += [("affine crop (cv2.warpAffine)", dataset.crop)]
            steps += [(f"photometric: {type(s).__name__}", s) for s in photometric.steps]
            steps += [("SimCC encode", dataset.encoder)]
            for name, step in steps:
                start = time.perf_counter()
                sample = step(sample, rng)
                totals[name] += time.perf_counter() - start
            start = time.perf_counter()
            torch.from_numpy(np.ascontiguousarray(sample["image"].transpose(2, 0, 1)))
            torch.from_numpy(sample["target_x"]), torch.from_numpy(sample["target_y"])
            totals["to tensors"] += time.perf_counter() - start
            count += 1
    return {name: t / count for name, t in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passes", type=int, default=10, help="sweeps over the 12 fixture samples")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    dataset = build_dataset()

    rows = []

    def row(variant: str, per_second: float, share: str = "") -> None:
        rows.append(
            {
                "variant": variant,
                "samples_per_s": round(per_second, 1),
                "ms_per_sample": round(1000 / per_second, 2),
                "share_of_steps": share,
            }
        )

    dataset.set_stage(1)
    row("stage 1 (default)", samples_per_second(dataset, args.passes, args.repeats))
    dataset.set_stage(2)
    row("stage 2", samples_per_second(dataset, args.passes, args.repeats))
    dataset.set_stage(1)
    cached = functools.lru_cache(maxsize=None)(read_image)
    dataset_module.read_image = lambda path: cached(path).copy()
    try:
        row("stage 1, decoded images cached", samples_per_second(dataset, args.passes, args.repeats))
    finally:
        dataset_module.read_image = read_image

    steps = step_times(dataset, args.passes)
    total = sum(steps.values())
    for name, seconds in steps.items():
        row(f"step: {name}", 1 / seconds, f"{100 * seconds / total:.1f}%")

    notes = (
        f"one process, cv2/torch 1 thread; {len(dataset)} fixture instances x {args.passes} "
        f"passes, median of {args.repeats}; 133 keypoints, 256x192 crops, SimCC r=2"
    )
    path = save("data_pipeline", rows, notes)
    width = max(len(r["variant"]) for r in rows)
    for r in rows:
        print(
            f"{r['variant']:<{width}}  {r['samples_per_s']:>8} samples/s  "
            f"{r['ms_per_sample']:>7} ms  {r['share_of_steps']}"
        )
    info = machine()
    print()
    print("| benchmark | samples/s per worker (stage 1) | stage 2 | ms/sample | machine | command |")
    print("|---|---|---|---|---|---|")
    print(
        f"| data pipeline (decode → augment → SimCC target), 133 kpts, 256x192 "
        f"| {rows[0]['samples_per_s']} | {rows[1]['samples_per_s']} | {rows[0]['ms_per_sample']} "
        f"| {info['cpu']}, {info['cores']} cores, 1 thread, torch {info['torch']} | `make bench-data` |"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
