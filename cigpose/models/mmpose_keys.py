"""MMPose ↔ cigpose weight names: RTMPose / CIGPose checkpoints in MMPose's layout converted to ours.

The key mapping is an explicit table (timm's ``checkpoint_filter_fn`` idea). The backbone keeps
MMDetection's names; head names are ours. The reference CIGPose head's three unused modules
(``head.mlp``, ``head.cls_x``, ``head.cls_y``) are dropped and reported as such. The command is
``cigpose-convert`` (:mod:`cigpose.cli.convert`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from cigpose.checkpoint import CheckpointError, safe_load, save_atomic
from cigpose.models.cigpose import CIGPose
from cigpose.models.cspnext import SIZES

# (MMPose pattern, our replacement) — applied in order, first match wins.
CIGPOSE_HEAD_RULES: list[tuple[str, str]] = [
    (r"^head\.final_layer\.", "head.tokens.keypoint_conv."),
    (r"^head\.mlp_pre_gau\.0\.g$", "head.tokens.token_norm.g"),
    (r"^head\.mlp_pre_gau\.1\.", "head.tokens.token_proj."),
    (r"^head\.gau\.ln\.g$", "head.tokens.gau.norm.g"),
    (r"^head\.gau\.o\.", "head.tokens.gau.out."),
    (r"^head\.gau\.res_scale\.scale$", "head.tokens.gau.res_scale"),
    (r"^head\.gau\.(uv\.weight|gamma|beta)$", r"head.tokens.gau.\1"),
    (r"^head\.initial_pred_x\.", "head.cim.scorer_x."),
    (r"^head\.initial_pred_y\.", "head.cim.scorer_y."),
    (r"^head\.cim\.canonical_features\.", "head.cim.canonical."),
    (r"^head\.gcn\.conv_input\.", "head.gnn.input_proj."),
    (r"^head\.gcn\.bn_input\.", "head.gnn.input_norm."),
    (r"^head\.gcn\.edgeconv_layers\.(\d+)\.conv\.", r"head.gnn.layers.\1.edge_conv.conv."),
    (r"^head\.gcn\.bn_layers\.(\d+)\.", r"head.gnn.layers.\1.norm."),
    (
        r"^head\.gcn\.attention_modules\.(\d+)\.conv_down_linear\.",
        r"head.gnn.layers.\1.attention.down.",
    ),
    (
        r"^head\.gcn\.attention_modules\.(\d+)\.bn_down\.",
        r"head.gnn.layers.\1.attention.down_norm.",
    ),
    (
        r"^head\.gcn\.attention_modules\.(\d+)\.edge_conv_groups\.conv\.",
        r"head.gnn.layers.\1.attention.group_conv.conv.",
    ),
    (
        r"^head\.gcn\.attention_modules\.(\d+)\.aggregate_linear\.",
        r"head.gnn.layers.\1.attention.up.",
    ),
    (r"^head\.cls_gx\.", "head.cls_x."),
    (r"^head\.cls_gy\.", "head.cls_y."),
    (r"^backbone\.", "backbone."),
]
CIGPOSE_UNUSED = (r"^head\.mlp\.", r"^head\.cls_x\.", r"^head\.cls_y\.")

# RTMPose's RTMCCHead: the token MLP is `head.mlp`, the classifiers `head.cls_x/y`.
RTMPOSE_HEAD_RULES: list[tuple[str, str]] = [
    (r"^head\.mlp\.0\.g$", "head.tokens.token_norm.g"),
    (r"^head\.mlp\.1\.", "head.tokens.token_proj."),
    (r"^head\.cls_x\.", "head.cls_x."),
    (r"^head\.cls_y\.", "head.cls_y."),
] + [
    rule
    for rule in CIGPOSE_HEAD_RULES
    if rule[0].startswith(("^head\\.final", "^head\\.gau", "^backbone"))
]

GRAPH_BY_KEYPOINTS = {133: "coco_wholebody", 17: "coco", 14: "crowdpose"}


def mmpose_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to convert: ``state_dict`` (EMA weights in the authors' releases), without any
    ``module.`` prefix; a bare state dict is accepted too."""
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, dict) or not any(
        k.startswith(("backbone.", "module.backbone.")) for k in state
    ):
        raise CheckpointError(
            "no MMPose weights found: expected a 'state_dict' with 'backbone.*' / 'head.*' keys"
        )
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def rename_keys(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """MMPose names → ours. Returns (renamed, dropped unused-module keys, unrecognised keys)."""
    is_cigpose = any(k.startswith("head.cls_gx.") for k in state)
    rules = CIGPOSE_HEAD_RULES if is_cigpose else RTMPOSE_HEAD_RULES
    renamed: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    unknown: list[str] = []
    for key, value in state.items():
        if is_cigpose and any(re.match(p, key) for p in CIGPOSE_UNUSED):
            dropped.append(key)
            continue
        for pattern, replacement in rules:
            if re.match(pattern, key):
                renamed[re.sub(pattern, replacement, key)] = value
                break
        else:
            unknown.append(key)
    return renamed, dropped, unknown


def infer_model_config(state: dict[str, torch.Tensor], split_ratio: float = 2.0) -> dict[str, Any]:
    """Read the architecture off the (renamed) weights: size, K, input size, D, s, CIM, GNN."""
    needed = [
        "backbone.stem.0.conv.weight",
        "head.tokens.keypoint_conv.weight",
        "head.tokens.token_proj.weight",
        "head.tokens.gau.uv.weight",
        "head.cls_x.weight",
        "head.cls_y.weight",
    ]
    absent = [k for k in needed if k not in state]
    if absent:
        raise CheckpointError(
            f"cannot tell the architecture: the checkpoint lacks {', '.join(absent)}"
        )
    stem = state["backbone.stem.0.conv.weight"].shape[0]
    size = next((n for n, m in SIZES.items() if int(32 * m.widen) == stem), None)
    if size is None:
        raise CheckpointError(f"backbone stem width {stem} matches no CSPNeXt size")
    num_keypoints, dim = (
        state["head.tokens.keypoint_conv.weight"].shape[0],
        state["head.tokens.token_proj.weight"].shape[0],
    )
    bins_x, bins_y = state["head.cls_x.weight"].shape[0], state["head.cls_y.weight"].shape[0]
    layers = {int(m.group(1)) for k in state if (m := re.match(r"head\.gnn\.layers\.(\d+)\.", k))}
    has_gnn = "head.gnn.input_proj.weight" in state
    return {
        "size": size,
        "num_keypoints": int(num_keypoints),
        "input_size": [int(round(bins_y / split_ratio)), int(round(bins_x / split_ratio))],
        "graph": GRAPH_BY_KEYPOINTS.get(int(num_keypoints), "coco_wholebody"),
        "dim": int(dim),
        "attention_dim": int(
            state["head.tokens.gau.uv.weight"].shape[0] - 4 * dim
        ),  # uv: 2e + s, e = 2D
        "split_ratio": split_ratio,
        "cim": {"enabled": "head.cim.canonical.weight" in state},
        "gnn": {
            "intra_part": any(".edge_conv." in k for k in state) or not has_gnn,
            "inter_part": any(".attention." in k for k in state) or not has_gnn,
            "num_layers": max(len(layers), 1),
        }
        if has_gnn
        else {"intra_part": False, "inter_part": False},
        "classifier_bias": "head.cls_x.bias" in state,
    }


def convert_checkpoint(
    source: str | Path,
    destination: str | Path | None = None,
    split_ratio: float = 2.0,
    strict: bool = True,
) -> dict[str, Any]:
    """Convert and verify by loading into a freshly built network.

    Returns a report ``{"model", "loaded", "dropped", "unexpected", "missing"}``; with ``strict``
    any missing or unexpected key raises ``CheckpointError`` (nothing is written).
    """
    state, dropped, unknown = rename_keys(mmpose_state_dict(safe_load(source)))
    config = infer_model_config(state, split_ratio)
    net = CIGPose(**config)
    own = net.state_dict()
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(unknown + [k for k in state if k not in own])
    shape_errors = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    report = {
        "model": config,
        "loaded": len(own) - len(missing),
        "dropped": dropped,
        "unexpected": unexpected,
        "missing": missing,
        "shape_mismatch": shape_errors,
    }
    if strict and (missing or unexpected or shape_errors):
        raise CheckpointError(f"{source}: conversion incomplete — {json.dumps(report, indent=1)}")
    net.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    if destination is not None:
        save_atomic(
            {
                "format": "cigpose-net/1",
                "model": config,
                "state_dict": net.state_dict(),
                "source": str(source),
            },
            destination,
        )
    return report
