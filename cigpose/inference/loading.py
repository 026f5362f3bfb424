"""Rebuild a network from any cigpose checkpoint (the architecture travels inside it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cigpose.checkpoint import CheckpointError, safe_load
from cigpose.models import CIGPose
from cigpose.training.weights import load_network


def model_config(path: str | Path) -> dict[str, Any]:
    """The network's constructor arguments stored in a checkpoint."""
    checkpoint = safe_load(path)
    config = checkpoint.get("model")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: no model description inside; is it a cigpose checkpoint?")
    return config


def load_model(path: str | Path, k_eval: int | None = None) -> CIGPose:
    """The network in eval mode with its EMA weights (when the checkpoint has them)."""
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
