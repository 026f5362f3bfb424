"""Load network weights from our Lightning checkpoints or from converted MMPose checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from cigpose.checkpoint import CheckpointError, safe_load


def network_state(path: str | Path, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """The network's state dict from either checkpoint kind.

    * ``cigpose-convert`` output (``format: cigpose-net/1``): its ``state_dict`` as is.
    * A ``cigpose-train`` Lightning checkpoint: the EMA weights (``ema.module.*``) when present and
      ``prefer_ema``, else the live ones (``net.*``).
    """
    checkpoint = safe_load(path)
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no 'state_dict' in the checkpoint")
    if checkpoint.get("format") == "cigpose-net/1":
        return state
    prefix = (
        "ema.module." if prefer_ema and any(k.startswith("ema.module.") for k in state) else "net."
    )
    picked = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        raise CheckpointError(
            f"{path}: neither a cigpose-train nor a cigpose-convert checkpoint "
            "(no 'net.*' weights); convert MMPose checkpoints with cigpose-convert"
        )
    return picked


def load_network(net: nn.Module, path: str | Path, prefer_ema: bool = True) -> None:
    """Strictly load ``path`` into ``net``; a mismatch names the keys."""
    result = net.load_state_dict(network_state(path, prefer_ema), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(
            f"{path} does not fit the configured network: missing "
            f"{result.missing_keys[:10]}, unexpected {result.unexpected_keys[:10]} "
            "(check the model / experiment overrides)"
        )
