"""ONNX export in the layout RTMPose consumers read: input ``input`` (B×3×H×W, dynamic batch),
outputs ``simcc_x`` (B×K×W·r) and ``simcc_y`` (B×K×H·r), metadata ``cigpose_meta``.

Two input conventions:
* ``rgb`` — RGB crops normalised with the ImageNet mean/std (our own and the cigpose-onnx
  wrapper's convention); the graph is the network as is.
* ``rtmlib`` — rtmlib feeds BGR crops normalised with the RGB-ordered constants and never
  swaps channels. The graph starts with the exact correction: with x the fed tensor,
  ``rgb_norm[c] = (x[2−c]·std[2−c] + mean[2−c] − mean[c]) / std[c]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import onnx
import torch
from torch import nn

from cigpose.models import CIGPose
from cigpose.preprocess import MEAN, STD

Convention = Literal["rgb", "rtmlib"]


class RtmlibInput(nn.Module):
    """Per-channel affine + channel swap turning rtmlib's tensor into our normalised RGB."""

    def __init__(self):
        super().__init__()
        mean, std = torch.tensor(MEAN), torch.tensor(STD)
        swapped_mean, swapped_std = mean.flip(0), std.flip(0)
        self.register_buffer("scale", (swapped_std / std).view(1, 3, 1, 1))
        self.register_buffer("shift", ((swapped_mean - mean) / std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1) * self.scale + self.shift


class ExportGraph(nn.Module):
    """``input → (simcc_x, simcc_y)`` for one input convention."""

    def __init__(self, net: CIGPose, convention: Convention = "rgb"):
        super().__init__()
        if convention not in ("rgb", "rtmlib"):
            raise ValueError(f"input_convention must be 'rgb' or 'rtmlib', got {convention!r}")
        self.net = net
        self.prepare = RtmlibInput() if convention == "rtmlib" else nn.Identity()
        self.train(net.training)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(self.prepare(x))
        return out.simcc_x, out.simcc_y


def export_onnx(net: CIGPose, output: str | Path, convention: Convention = "rgb", opset: int = 17) -> Path:
    """Write ``output`` (eval mode, dynamic batch) with its ``cigpose_meta`` metadata."""
    output = Path(output)
    net = net.eval()
    graph = ExportGraph(net, convention).eval()
    h, w = net.input_hw
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        torch.onnx.export(graph, (torch.zeros(1, 3, h, w),), str(output), opset_version=opset,
                          input_names=["input"], output_names=["simcc_x", "simcc_y"],
                          dynamic_axes={"input": {0: "batch"}, "simcc_x": {0: "batch"},
                                        "simcc_y": {0: "batch"}}, dynamo=False)
    except OSError as err:
        raise OSError(f"cannot write ONNX model {output}: {err}") from err
    model = onnx.load(str(output))
    meta = {"input_w": w, "input_h": h, "split_ratio": net.split_ratio, "input_convention": convention,
            "num_keypoints": net.num_keypoints, "name": net.name,
            "mean": list(MEAN), "std": list(STD)}
    entry = model.metadata_props.add()
    entry.key, entry.value = "cigpose_meta", json.dumps(meta)
    onnx.save(model, str(output))
    return output
