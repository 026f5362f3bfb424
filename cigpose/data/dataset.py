"""Top-down dataset: one person box → one augmented, encoded crop (SimCC or heatmap targets).

Batch contract (one item; the default collate stacks them, adding a leading batch dim B):

=====================  =========================  =============================================
key                    item shape, dtype          meaning
=====================  =========================  =============================================
``image``              (3, H, W) uint8            RGB crop, NOT normalised (the model side
                                                  normalises on device: mean 123.675, 116.28,
                                                  103.53; std 58.395, 57.12, 57.375)
``target_x``           (K, W·r) float32           SimCC Gaussian, peak 1; zeros where weight 0
``target_y``           (K, H·r) float32
``heatmaps``           (K, H/4, W/4) float32      instead of target_x/y with the UDP heatmap
                                                  codec (backbone pretraining); peak 1
``keypoint_weights``   (K,) float32               1 = labelled and inside the crop
``keypoints``          (K, 2) float32             GT in crop pixels
``keypoints_visible``  (K,) float32               1 = labelled (before the in-crop test)
``image_id``           int → int64                COCO image id
``instance_id``        int → int64                unique and stable per box of the split (GT:
                                                  annotation id; detections: index in the
                                                  results file); de-duplicates DDP padding
``center``, ``scale``  (2,) float32               crop box in image pixels (w, h of ``scale``);
                                                  evaluation crops are unrotated, so
                                                  ``transforms.crop_to_image`` maps back
``bbox_score``         float → float64            detector score (1 for GT boxes)
``area``               float → float64            annotation area (detections: box w·h)
``valid``              bool                       False: unreadable image — an evaluation
                                                  placeholder (black crop) to leave out
``resampled``          int → int64                training: unreadable samples replaced
``stage``              int → int64                augmentation stage that produced the item
=====================  =========================  =============================================
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from cigpose.data.annotations import Instances
from cigpose.data.transforms import AffineCrop, Compose, EncodeTargets
from cigpose.topdown.geometry import bbox_to_center_scale

log = logging.getLogger("cigpose.data")
# training stops when this process has met this many unreadable images and not one readable image
MAX_UNREADABLE_BEFORE_ANY_READABLE = 1024


class UnreadableImage(OSError):
    """An image file that is missing, truncated or not an image."""


def read_image(path: Path) -> np.ndarray:
    """RGB ``(H, W, 3)`` uint8; grayscale and 4-channel images become 3-channel RGB."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise UnreadableImage(f"{path}: {err.strerror or err}") from None
    if path.suffix.lower() in (".jpg", ".jpeg") and (data.size < 4 or data[-2:].tobytes() != b"\xff\xd9"):
        # libjpeg decodes a truncated file into a grey-padded image without failing
        if data.size < 4 or b"\xff\xd9" not in data[-1024:].tobytes():
            raise UnreadableImage(f"{path}: truncated JPEG (no end-of-image marker)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)  # BGR, 3 channels whatever the file holds
    if image is None:
        raise UnreadableImage(f"{path}: not a decodable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class TopDownDataset(Dataset):
    """Args:
    instances: person boxes and keypoints of the split.
    crop_wh: crop (w, h).
    encoder: target encoding (its codec: SimCC or UDP heatmap).
    stages: augmentation stage → (geometric steps before the crop, photometric steps after it);
        empty for evaluation.
    train: training mode: an unreadable image is replaced by another sample, drawn among the
        instances whose image this process has not found unreadable (so thousands of broken files
        among a few good ones still train); ``resampled`` counts the replacements. When every
        image is unreadable (or the first ``MAX_UNREADABLE_BEFORE_ANY_READABLE`` all are), a
        ``RuntimeError`` says so instead of looping.
    seed: base seed; each item's generator derives from (seed, epoch, index).

    The stage and the epoch live in shared memory, so worker processes (persistent ones too) see
    ``set_stage`` / ``set_epoch`` at their next item without rebuilding the loader.
    """

    def __init__(
        self,
        instances: Instances,
        crop_wh: tuple[int, int],
        encoder: EncodeTargets,
        stages: dict[int, tuple[Compose, Compose]] | None = None,
        train: bool = False,
        seed: int = 0,
    ):
        if len(instances) == 0:
            raise ValueError("the dataset has no usable instance (every box was dropped; see the log)")
        self.instances = instances
        self.crop_wh = crop_wh
        self.aspect = crop_wh[0] / crop_wh[1]
        self.stages = stages or {}
        self.crop = AffineCrop(crop_wh)
        self.encoder = encoder
        self.train = train
        self.seed = seed
        self._stage = mp.Value("i", min(self.stages) if self.stages else 0, lock=False)
        self._epoch = mp.Value("i", 0, lock=False)
        self.unreadable = 0  # images found unreadable by this process
        self.readable = 0  # samples made by this process
        self._bad = np.zeros(len(instances), bool)  # instances whose image this process found unreadable

    def __len__(self) -> int:
        return len(self.instances)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.value = int(epoch)

    def set_stage(self, stage: int) -> None:
        if stage not in self.stages:
            raise ValueError(f"no augmentation stage {stage}; have {sorted(self.stages)}")
        self._stage.value = int(stage)

    @property
    def stage(self) -> int:
        return int(self._stage.value)

    def image_path(self, index: int) -> Path:
        return self.instances.files[int(self.instances.image_id[index])][0]

    def initial_sample(self, index: int, image: np.ndarray) -> dict:
        """The untransformed sample of instance ``index``: its box as center/scale, keypoints in
        image pixels, weight 1 for labelled keypoints."""
        kp = self.instances.keypoints[index]
        center, scale = bbox_to_center_scale(self.instances.bbox[index], self.aspect)
        return {
            "image": image,
            "keypoints": kp[:, :2].copy(),
            "keypoint_weights": (kp[:, 2] > 0).astype(np.float32),
            "center": center,
            "scale": scale,
            "rotation": 0.0,
        }

    def _sample(self, index: int, rng: np.random.Generator) -> dict:
        inst = self.instances
        sample = self.initial_sample(index, read_image(self.image_path(index)))
        geometric, photometric = self.stages.get(self.stage, (None, None))
        if geometric is not None:
            sample = geometric(sample, rng)
        sample = self.crop(sample)
        if photometric is not None:
            sample = photometric(sample, rng)
        visible = sample["keypoint_weights"].copy()
        sample = self.encoder(sample)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(sample["image"].transpose(2, 0, 1))),
            **{key: torch.from_numpy(sample[key]) for key in self.encoder.codec.target_keys},
            "keypoint_weights": torch.from_numpy(sample["keypoint_weights"]),
            "keypoints": torch.from_numpy(sample["keypoints"]),
            "keypoints_visible": torch.from_numpy(visible),
            "image_id": int(inst.image_id[index]),
            "instance_id": int(inst.instance_id[index]),
            "center": torch.from_numpy(np.asarray(sample["center"], np.float32)),
            "scale": torch.from_numpy(np.asarray(sample["scale"], np.float32)),
            "bbox_score": float(inst.bbox_score[index]),
            "area": float(inst.area[index]),
            "valid": True,
            "resampled": 0,
            "stage": self.stage,
        }

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng((self.seed, int(self._epoch.value), index))
        current, attempt = index, 0
        while True:
            if not self._bad[current]:
                try:
                    item = self._sample(current, rng)
                    self.readable += 1
                    item["resampled"] = attempt
                    return item
                except UnreadableImage as err:
                    self.unreadable += 1
                    if not self.train:
                        log.warning(
                            "evaluation: unreadable image kept as an invalid sample (%d so far in this process): %s",
                            self.unreadable,
                            err,
                        )
                        return self._placeholder(index)
                    self._bad |= self.instances.image_id == self.instances.image_id[current]
                    log.warning(
                        "training: skipped unreadable image, drawing another sample (%d so far in this process): %s",
                        self.unreadable,
                        err,
                    )
            else:  # known unreadable in this process: not read again, still skipped and counted
                log.warning("training: skipped unreadable image (known), drawing another sample: %s",
                            self.image_path(current))
            attempt += 1
            candidates = np.flatnonzero(~self._bad)
            if len(candidates) == 0 or (self.readable == 0 and self.unreadable >= MAX_UNREADABLE_BEFORE_ANY_READABLE):
                raise RuntimeError(
                    f"{attempt} consecutive samples had unreadable images and no readable one was found "
                    f"({self.unreadable} unreadable, {len(candidates)} of {len(self)} instances left untried in "
                    f"this process; last: instance {current}, {self.image_path(current)}); is the image folder right?"
                )
            current = int(candidates[rng.integers(len(candidates))])

    def _placeholder(self, index: int) -> dict:
        """An all-black crop flagged ``valid=False`` so evaluation counts it and moves on."""
        w, h = self.crop_wh
        inst = self.instances
        k = inst.keypoints.shape[1]
        center, scale = bbox_to_center_scale(inst.bbox[index], self.aspect)
        return {
            "image": torch.zeros(3, h, w, dtype=torch.uint8),
            **self.encoder.codec.empty_targets(k),
            "keypoint_weights": torch.zeros(k),
            "keypoints": torch.zeros(k, 2),
            "keypoints_visible": torch.zeros(k),
            "image_id": int(inst.image_id[index]),
            "instance_id": int(inst.instance_id[index]),
            "center": torch.from_numpy(center),
            "scale": torch.from_numpy(scale),
            "bbox_score": float(inst.bbox_score[index]),
            "area": float(inst.area[index]),
            "valid": False,
            "resampled": 0,
            "stage": self.stage,
        }
