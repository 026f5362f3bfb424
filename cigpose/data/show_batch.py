"""One augmented training batch drawn as a PNG grid (``cigpose-show-batch``): crops as the network
sees them, keypoints with target weight > 0, skeleton coloured by coarse part."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import hydra
import numpy as np
from omegaconf import DictConfig

from cigpose.data.datamodule import PoseDataModule
from cigpose.data.metainfo import DatasetMeta
from cigpose.visualize import draw_pose, image_grid, keypoint_colours

log = logging.getLogger("cigpose.data")


def draw_batch(batch: dict, meta: DatasetMeta, num_images: int) -> np.ndarray:
    """RGB grid of the first ``num_images`` crops of a training batch: ``image`` ``(B, 3, H, W)``
    uint8, ``keypoints`` ``(B, K, 2)`` crop pixels, ``keypoint_weights`` ``(B, K)``."""
    images = batch["image"][:num_images].permute(0, 2, 3, 1).numpy()
    keypoints = batch["keypoints"][:num_images].numpy()
    weights = batch["keypoint_weights"][:num_images].numpy()
    colours = keypoint_colours(meta.num_keypoints, meta.coarse_parts)
    drawn = [
        draw_pose(
            np.ascontiguousarray(img),
            kp,
            scores=w,
            skeleton=meta.skeleton,
            colours=colours,
            threshold=0.0,
        )
        for img, kp, w in zip(images, keypoints, weights, strict=True)
    ]
    return image_grid(drawn)


def show_batch(cfg: DictConfig) -> Path:
    """Build the datamodule of ``cfg.data`` at augmentation ``cfg.stage``, draw one training batch
    of ``cfg.num_images`` crops and write it to ``cfg.output``."""
    datamodule: PoseDataModule = hydra.utils.instantiate(cfg.data, batch_size=int(cfg.num_images), _recursive_=False)
    datamodule.setup("fit")
    datamodule.set_stage(int(cfg.stage))
    batch = next(iter(datamodule.train_dataloader()))
    grid = draw_batch(batch, datamodule.meta, int(cfg.num_images))
    output = Path(cfg.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(output), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {output}")
    stages = sorted(set(batch["stage"].tolist()))
    log.info(
        "wrote %d crops (stage %s) to %s",
        min(len(batch["image"]), int(cfg.num_images)),
        ",".join(map(str, stages)),
        output,
    )
    print(output)
    return output
