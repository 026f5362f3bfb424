"""Build networks from config, then optionally initialise them from weights (timm's builder
pattern: the class constructs, the builder loads).

``model`` config group → :func:`build_model`: the ``_target_`` class (``CIGPose`` /
``HeatmapPose``) gets every key but the builder's own:

* ``init_from`` / ``init_parts``: a checkpoint (MMPose RTMPose/CIGPose or ours) and the parts of
  the network it initialises (``backbone``, ``head.tokens``) — fine-tuning, the chain's step 2.
* ``pretrained``: a ``timm/<name>`` backbone starts from timm's pretrained weights (downloaded by
  timm when the machine can reach them; never in tests).

A checkpoint carries its network's constructor arguments (``checkpoint["model"]``):
:func:`load_model` rebuilds the network from them alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf
from torch import nn

from cigpose.checkpoint import CheckpointError, safe_load
from cigpose.models.backbones import TIMM_PREFIX, TimmBackbone
from cigpose.models.cigpose import CIGPose
from cigpose.models.weights import init_from_checkpoint, load_network

BUILDER_KEYS = ("init_from", "init_parts", "pretrained")


def build_model(config: Mapping[str, Any] | DictConfig) -> nn.Module:
    """The network a ``model`` config describes, initialised as it asks (see the module doc)."""
    if isinstance(config, DictConfig):
        config = OmegaConf.to_container(config, resolve=True)  # type: ignore[assignment]
    config = dict(config)
    init_from, parts = config.pop("init_from", None), config.pop("init_parts", None) or ("backbone",)
    pretrained = bool(config.pop("pretrained", False))
    net = hydra.utils.instantiate(config, _convert_="all")
    if pretrained:
        load_timm_pretrained(net)
    if init_from:
        net.init_report = init_from_checkpoint(net, init_from, tuple(parts))
    return net


def load_timm_pretrained(net: nn.Module) -> None:
    """Copy timm's pretrained weights into ``net.backbone`` (a ``timm/<name>`` backbone only)."""
    backbone = getattr(net, "backbone", None)
    if not isinstance(backbone, TimmBackbone):
        raise ValueError(f"model.pretrained=true needs a {TIMM_PREFIX}<name> backbone; CSPNeXt starts from "
                         "model.init_from=<checkpoint> instead")
    import timm

    source = timm.create_model(backbone.name, pretrained=True, features_only=True, out_indices=(-1,))
    backbone.model.load_state_dict(source.state_dict())


def model_config(path: str | Path) -> dict[str, Any]:
    """The network's constructor arguments stored in a checkpoint."""
    config = safe_load(path).get("model")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: no model description inside; is it a cigpose checkpoint?")
    return config


def load_model(path: str | Path, k_eval: int | None = None) -> CIGPose:
    """The CIGPose / RTMPose network of a checkpoint in eval mode, with its EMA weights when kept."""
    config = model_config(path)
    if config.get("arch") == "heatmap":
        raise CheckpointError(
            f"{path} is a heatmap (backbone pretraining) checkpoint: prediction, export and the "
            "analyses take CIGPose / RTMPose checkpoints. Evaluate it with cigpose-eval, or start "
            "a SimCC model from its backbone (model.init_from=... init_parts=[backbone])"
        )
    if k_eval is not None:
        config = {**config, "cim": {**config.get("cim", {}), "k_eval": k_eval}}
    net = CIGPose(**config)
    load_network(net, path, prefer_ema=True)
    return net.eval()
