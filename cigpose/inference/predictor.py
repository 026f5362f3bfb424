"""Top-down prediction on whole images: ``Predictor(ckpt).predict(image, boxes)``.

Person boxes come from the caller (a detector or a COCO results file); without boxes the whole
image is one person box. Crops are batched, the network runs with flip test, keypoints are
decoded back to image pixels. The confounder score and the intervened set of the CIM come along.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from cigpose.codec.simcc import decode_simcc
from cigpose.data.metainfo import DatasetMeta, load_meta
from cigpose.data.transforms import bbox_to_center_scale, crop_to_image, warp_matrix
from cigpose.inference.loading import load_model
from cigpose.preprocess import Normalize
from cigpose.training.module import predict_simcc


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
        h, w = self.net.input_size
        self.input_wh = (w, h)

    def crops(self, image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(N, h, w, 3)`` uint8 crops with their centers and scales ``(N, 2)``."""
        aspect = self.input_wh[0] / self.input_wh[1]
        out, centers, scales = [], [], []
        for box in boxes:
            center, scale = bbox_to_center_scale(box, aspect)
            out.append(cv2.warpAffine(image, warp_matrix(center, scale, 0.0, self.input_wh), self.input_wh,
                                      flags=cv2.INTER_LINEAR))
            centers.append(center)
            scales.append(scale)
        return np.stack(out), np.stack(centers), np.stack(scales)

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
        crops, centers, scales = self.crops(image, boxes.reshape(-1, 4))
        keypoints, scores, confounder, intervened = [], [], [], []
        for start in range(0, len(crops), self.batch_size):
            batch = torch.from_numpy(crops[start:start + self.batch_size]).permute(0, 3, 1, 2).to(self.device)
            x, y, out = predict_simcc(self.net, self.normalize(batch), self.flip)
            coords, conf = decode_simcc(x, y, self.net.split_ratio)
            c = torch.from_numpy(centers[start:start + self.batch_size]).to(self.device)
            s = torch.from_numpy(scales[start:start + self.batch_size]).to(self.device)
            keypoints.append(crop_to_image(coords, c, s, self.input_wh).cpu())
            scores.append(conf.cpu())
            confounder.append(out.score.cpu())
            intervened.append(out.selected.cpu())
        return Prediction(torch.cat(keypoints).numpy(), torch.cat(scores).numpy(), torch.cat(confounder).numpy(),
                          torch.cat(intervened).numpy(), boxes.reshape(-1, 4))
