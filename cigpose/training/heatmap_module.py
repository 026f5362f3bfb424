"""Backbone pretraining (step 1 of the official chain): the Lightning path of a heatmap network.

Everything but the targets, the loss and the decoding is :class:`PoseLitModule`'s — optimiser,
EMA, fault handling, flip test, the evaluator, ``metrics.json`` and the results files — so a
pretraining run is scored, swept and logged exactly like a CIGPose run."""

from __future__ import annotations

from typing import Any

import torch

from cigpose.codec.udp_heatmap import UDPHeatmapCodec
from cigpose.losses import HeatmapLoss
from cigpose.models.heatmap import HeatmapPose
from cigpose.topdown.decode import crop_wh, decode_heatmap_crops
from cigpose.training.metrics import heatmap_pck_accuracy
from cigpose.training.module import PoseLitModule


class HeatmapLitModule(PoseLitModule):
    """:class:`PoseLitModule` for a :class:`HeatmapPose`: UDP heatmap targets (``heatmaps`` in the
    batch, from ``data.codec=udp_heatmap``), keypoint-weighted MSE, DARK-UDP decoding.

    Args: as :class:`PoseLitModule`; ``heatmap_sigma`` / ``blur_kernel`` configure the decoder
    (the datamodule's encoder uses the same σ)."""

    def __init__(self, net: HeatmapPose, loss: HeatmapLoss | None = None, blur_kernel: int = 11, **kwargs: Any):
        super().__init__(net, loss=loss or HeatmapLoss(), **kwargs)
        self.decoder = UDPHeatmapCodec(crop_wh(net), net.heatmap_size, blur_kernel=blur_kernel)

    def compute_losses(
        self, images: torch.Tensor, batch: dict[str, torch.Tensor]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, None]:
        if "heatmaps" not in batch:
            raise KeyError("the batch has no 'heatmaps': train heatmap models with data.codec=udp_heatmap")
        heatmaps = self.net(images)
        losses = self.loss(heatmaps, batch["heatmaps"], batch["keypoint_weights"])
        acc = heatmap_pck_accuracy(heatmaps.detach(), batch["heatmaps"], batch["keypoint_weights"])
        return losses, acc, None

    def predict_crops(
        self, images: torch.Tensor, flip_indices: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return decode_heatmap_crops(self.evaluation_net(), images, self.decoder, flip_indices)
