"""A network on normalised crops → keypoints: flip test, decoding, and back to image pixels.

The one implementation the LightningModule (validation / test), the :class:`Predictor` and the
analyses share. Flip test (SPEC §1): the whole network — CIM included — runs on the mirrored crop
too, and the mirrored prediction is flipped back and averaged (SimCC logits / heatmaps). Decoding
runs in fp32: under bf16 autocast a bin index / r would round (bf16 holds 8 bits).
"""

from __future__ import annotations

import torch
from torch import nn

from cigpose.codec.simcc import decode_simcc, flip_simcc
from cigpose.codec.udp_heatmap import UDPHeatmapCodec, flip_heatmaps
from cigpose.models.head import PoseOutput
from cigpose.topdown.geometry import crop_to_image


def predict_simcc(net: nn.Module, images: torch.Tensor, flip_indices: torch.Tensor | None
                  ) -> tuple[torch.Tensor, torch.Tensor, PoseOutput]:
    """SimCC logits ``(B, K, W·r)``, ``(B, K, H·r)``, averaged with the mirrored crops' when
    ``flip_indices`` ``(K,)`` is given, and the unmirrored pass's full output."""
    out = net(images)
    if flip_indices is None:
        return out.simcc_x, out.simcc_y, out
    mirrored = net(images.flip(-1))
    fx, fy = flip_simcc(mirrored.simcc_x, mirrored.simcc_y, flip_indices)
    return (out.simcc_x + fx) / 2, (out.simcc_y + fy) / 2, out


def decode_crops(net: nn.Module, images: torch.Tensor, flip_indices: torch.Tensor | None
                 ) -> tuple[torch.Tensor, torch.Tensor, PoseOutput]:
    """A SimCC network on ``(B, 3, H, W)`` → crop-pixel keypoints ``(B, K, 2)``, scores ``(B, K)``
    and the unmirrored output (confounder score, intervened set)."""
    simcc_x, simcc_y, out = predict_simcc(net, images, flip_indices)
    coords, scores = decode_simcc(simcc_x.float(), simcc_y.float(), net.split_ratio)
    return coords, scores, out


def decode_heatmap_crops(net: nn.Module, images: torch.Tensor, decoder: UDPHeatmapCodec,
                         flip_indices: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """A heatmap network on ``(B, 3, H, W)`` → crop-pixel keypoints ``(B, K, 2)``, scores ``(B, K)``."""
    heatmaps = net(images).float()
    if flip_indices is not None:
        heatmaps = (heatmaps + flip_heatmaps(net(images.flip(-1)).float(), flip_indices)) / 2
    return decoder.decode(heatmaps)


def crop_wh(net: nn.Module) -> tuple[int, int]:
    """A network's input as ``(w, h)``."""
    h, w = net.input_hw
    return w, h


def decode_to_image(net: nn.Module, images: torch.Tensor, center: torch.Tensor, scale: torch.Tensor,
                    flip_indices: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, PoseOutput]:
    """:func:`decode_crops`, with keypoints ``(B, K, 2)`` in the pixels of the images the crops
    ``center`` / ``scale`` ``(B, 2)`` were cut from."""
    coords, scores, out = decode_crops(net, images, flip_indices)
    return crop_to_image(coords, center, scale, crop_wh(net)), scores, out
