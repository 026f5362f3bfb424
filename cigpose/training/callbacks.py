"""Callbacks: prediction overlays every validation; saving and exiting on pre-emption signals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import lightning as L
import numpy as np
import torch

from cigpose.visualize import draw_pose, image_grid, keypoint_colours


class PredictionImages(L.Callback):
    """Skeleton overlays of the first ``num_images`` validation crops, each validation: saved as
    ``<run>/predictions/epoch_XXX.png`` and sent to W&B / TensorBoard when those loggers are on."""

    def __init__(self, num_images: int = 8):
        self.num_images = num_images

    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if batch_idx != 0 or trainer.sanity_checking or not trainer.is_global_zero or not outputs:
            return
        meta = trainer.datamodule.meta
        colours = keypoint_colours(meta.num_keypoints, meta.coarse_parts)
        crops = batch["image"][: self.num_images].permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
        keypoints = outputs["keypoints_crop"][: self.num_images].float().cpu().numpy()
        scores = outputs["scores"][: self.num_images].float().cpu().numpy()
        drawn = [
            draw_pose(c, k, s, meta.skeleton, colours)
            for c, k, s in zip(crops, keypoints, scores, strict=True)
        ]
        grid = image_grid(drawn)
        folder = Path(trainer.default_root_dir) / "predictions"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"epoch_{trainer.current_epoch:03d}.png"
        if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write prediction image {path}")
        for logger in trainer.loggers:
            name = type(logger).__name__
            if name == "WandbLogger":
                logger.log_image("val/predictions", [grid], step=trainer.global_step)
            elif name == "TensorBoardLogger":
                logger.experiment.add_image(
                    "val/predictions", torch.from_numpy(grid).permute(2, 0, 1), trainer.global_step
                )
