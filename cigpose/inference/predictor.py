"""Top-down prediction on whole images: ``Predictor(ckpt).predict(image, boxes)``.

Person boxes come from the caller (a detector or a COCO results file); without boxes the whole
image is one person box. Crops are batched, the network runs with flip test, keypoints are
decoded back to image pixels. The confounder score and the intervened set of the CIM come along.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cigpose.data.metainfo import DatasetMeta, load_meta
from cigpose.models.build import load_model
from cigpose.preprocess import Normalize
from cigpose.topdown.decode import crop_wh, decode_to_image
from cigpose.topdown.geometry import crop_boxes


@dataclass
class Prediction:
    """For N person boxes and K keypoints: ``keypoints`` (N, K, 2) image pixels, ``scores`` (N, K),
    ``confounder_score`` (N, K), ``intervened`` (N, K) bool, ``boxes`` (N, 4) xywh."""

    keypoints: np.ndarray
    scores: np.ndarray
    confounder_score: np.ndarray
    intervened: np.ndarray
    boxes: np.ndarray


class Predictor:
    """Args:
    ckpt: a ``cigpose-train`` or ``cigpose-convert`` checkpoint (EMA weights used).
    device: ``cpu``, ``cuda``, ``cuda:1`` …
    flip_test: average with the mirrored crop (SPEC §1).
    batch_size: crops per forward pass.
    """

    def __init__(self, ckpt: str | Path, device: str = "cpu", flip_test: bool = True, batch_size: int = 32):
        self.device = torch.device(device)
        self.net = load_model(ckpt).to(self.device)
        self.meta: DatasetMeta = load_meta(self.net.config["graph"])
        self.normalize = Normalize().to(self.device)
        self.flip = torch.as_tensor(self.meta.flip_indices, device=self.device) if flip_test else None
        self.batch_size = batch_size

    @torch.no_grad()
    def predict(self, image: np.ndarray, boxes: np.ndarray | None = None) -> Prediction:
        """``image`` (H, W, 3) uint8 RGB; ``boxes`` (N, 4) xywh person boxes (None: whole image)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
        height, width = image.shape[:2]
        boxes = np.array([[0, 0, width, height]], np.float32) if boxes is None else np.asarray(boxes, np.float32)
        k = self.net.num_keypoints
        if len(boxes) == 0:
            empty = np.zeros((0, k))
            return Prediction(np.zeros((0, k, 2)), empty, empty, empty.astype(bool), boxes.reshape(0, 4))
        crops, centers, scales = crop_boxes(image, boxes.reshape(-1, 4), crop_wh(self.net))
        keypoints, scores, confounder, intervened = [], [], [], []
        for start in range(0, len(crops), self.batch_size):
            batch = torch.from_numpy(crops[start:start + self.batch_size]).permute(0, 3, 1, 2).to(self.device)
            c = torch.from_numpy(centers[start:start + self.batch_size]).to(self.device)
            s = torch.from_numpy(scales[start:start + self.batch_size]).to(self.device)
            image_kp, conf, out = decode_to_image(self.net, self.normalize(batch), c, s, self.flip)
            keypoints.append(image_kp.cpu())
            scores.append(conf.cpu())
            confounder.append(out.confounder_score.cpu())
            intervened.append(out.intervened.cpu())
        return Prediction(torch.cat(keypoints).numpy(), torch.cat(scores).numpy(), torch.cat(confounder).numpy(),
                          torch.cat(intervened).numpy(), boxes.reshape(-1, 4))
