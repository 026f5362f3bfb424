"""Callbacks: prediction overlays every validation; a progress line for logs on disk."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

from cigpose.data.annotations import load_gt_instances
from cigpose.visualize import draw_pose, image_grid, keypoint_colours


class PredictionImages(L.Callback):
    """Overlays of the first ``num_images`` evaluation crops of each validation and test: the
    ground truth (left) beside the prediction (right), enlarged ``zoom`` times, saved as
    ``<run>/predictions/<split>_epoch_XXX.png`` (``split``: ``val`` or the test split's name,
    e.g. ``val_ood``) and sent to W&B / TensorBoard when those loggers are on.

    Evaluation crops come from person detections, so the ground truth drawn is that of the
    annotated person nearest the crop's centre (none drawn when the image has no annotation)."""

    def __init__(self, num_images: int = 8, zoom: int = 3):
        self.num_images = num_images
        self.zoom = max(int(zoom), 1)
        self._truth: dict[str, dict[int, np.ndarray]] = {}

    def on_validation_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.sanity_checking:
            self._draw(trainer, "val", outputs, batch, batch_idx)

    def on_test_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._draw(trainer, "test", outputs, batch, batch_idx)

    def _ground_truth(self, datamodule: Any, split: str) -> dict[int, np.ndarray]:
        """image id → ``(P, K, 3)`` annotated keypoints of the split's annotation file."""
        if split not in self._truth:
            people: dict[int, np.ndarray] = {}
            cfg = datamodule.split_cfg.get(split) or {}
            if cfg.get("ann_file") and Path(cfg["ann_file"]).is_file():
                gt = load_gt_instances(cfg["ann_file"], cfg["image_root"], datamodule.meta.num_keypoints, False)
                for image_id in np.unique(gt.image_id):
                    people[int(image_id)] = gt.keypoints[gt.image_id == image_id]
            self._truth[split] = people
        return self._truth[split]

    def _draw(self, trainer: L.Trainer, split: str, outputs: Any, batch: Any, batch_idx: int) -> None:
        if batch_idx != 0 or not trainer.is_global_zero or not outputs:
            return
        dm = trainer.datamodule
        meta = dm.meta
        colours = keypoint_colours(meta.num_keypoints, meta.coarse_parts)
        n = min(self.num_images, len(batch["image"]))
        crops = batch["image"][:n].permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
        keypoints = outputs["keypoints_crop"][:n].float().cpu().numpy()
        scores = outputs["scores"][:n].float().cpu().numpy()
        truth = self._ground_truth(dm, split)
        h, w = crops.shape[1:3]
        z = self.zoom
        panels = []
        for i in range(n):
            big = cv2.resize(crops[i], (w * z, h * z), interpolation=cv2.INTER_LINEAR)
            gt = _nearest_person(truth.get(int(batch["image_id"][i]), np.zeros((0, meta.num_keypoints, 3))),
                                 batch["center"][i].numpy(), batch["scale"][i].numpy(), (w, h))
            left = big if gt is None else draw_pose(big, gt[:, :2] * z, gt[:, 2], meta.skeleton, colours, 0, 3)
            right = draw_pose(big, keypoints[i] * z, scores[i], meta.skeleton, colours, radius=3)
            panels.append(np.concatenate([_label(left, "truth"), _label(right, "prediction")], axis=1))
        grid = image_grid(panels, columns=2, pad=6)
        name = "val" if split == "val" else getattr(dm, "test_name", "test")
        folder = Path(trainer.default_root_dir) / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}_epoch_{trainer.current_epoch:03d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write prediction image {path}")
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(f"{name}/predictions", [grid], step=trainer.global_step)
            elif isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    f"{name}/predictions", torch.from_numpy(grid).permute(2, 0, 1), trainer.global_step
                )


def _nearest_person(people: np.ndarray, center: np.ndarray, scale: np.ndarray, size: tuple[int, int]
                    ) -> np.ndarray | None:
    """The annotated person ``(K, 3)`` (crop pixels, visibility) whose labelled keypoints' mean lies
    nearest the crop centre; None when there is none."""
    best, best_d = None, np.inf
    for person in people:
        labelled = person[:, 2] > 0
        if not labelled.any():
            continue
        d = np.linalg.norm(person[labelled, :2].mean(0) - center)
        if d < best_d:
            best, best_d = person, d
    if best is None:
        return None
    crop = (best[:, :2] - center + scale / 2) * np.asarray(size, np.float32) / scale
    return np.concatenate([crop, best[:, 2:3]], axis=1)


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class ProgressLog(L.Callback):
    """A progress line every ``every_n_steps`` optimiser steps — step / total, loss, steps/s, ETA —
    through the ``cigpose.training`` logger, for runs whose output is not a terminal (a log file,
    SLURM, ``make train > log``), where the progress bar prints nothing useful. ``always``: also
    on a terminal."""

    def __init__(self, every_n_steps: int = 20, always: bool = False):
        self.every_n_steps = max(int(every_n_steps), 1)
        self.enabled = always or not sys.stdout.isatty()
        self._start: tuple[float, int] | None = None

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._start = (time.perf_counter(), trainer.global_step)

    def on_train_batch_end(
        self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if not self.enabled or not trainer.is_global_zero or self._start is None or step % self.every_n_steps:
            return
        started, first = self._start
        elapsed = time.perf_counter() - started
        rate = (step - first) / max(elapsed, 1e-9)
        total = int(trainer.estimated_stepping_batches)
        eta = (total - step) / rate if rate > 0 else float("nan")
        loss = trainer.callback_metrics.get("loss/total")
        logging.getLogger("cigpose.training").info(
            "step %d/%d  epoch %d  loss %s  %.2f steps/s  elapsed %s  ETA %s",
            step, total, trainer.current_epoch, "–" if loss is None else f"{float(loss):.4f}", rate,
            _clock(elapsed), _clock(eta),
        )


def _clock(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"
