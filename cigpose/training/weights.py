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


def init_from_checkpoint(net: nn.Module, path: str | Path, parts: tuple[str, ...] = ("backbone",)
                         ) -> dict[str, object]:
    """Initialise parts of ``net`` for fine-tuning (the paper starts from RTMPose weights).

    ``path``: an MMPose RTMPose/CIGPose checkpoint (renamed on the fly) or any cigpose checkpoint.
    ``parts``: name prefixes of ``net`` to load — ``backbone``, ``head.tokens`` (head front + GAU).
    Only tensors of matching shape load; returns ``{"loaded", "skipped_shape", "missing"}`` counts
    and names, and logs them — nothing is loaded silently.
    """
    import logging

    from cigpose.convert import mmpose_state_dict, rename_keys

    checkpoint = safe_load(path)
    state = checkpoint.get("state_dict", {})
    if any(k.startswith(("backbone.", "module.backbone.")) for k in state) and "format" not in checkpoint:
        source, _, _ = rename_keys(mmpose_state_dict(checkpoint))
    else:
        source = network_state(path)
    own = net.state_dict()
    wanted = [k for k in own if k.startswith(tuple(f"{p}." for p in parts))]
    loaded = {k: source[k] for k in wanted if k in source and source[k].shape == own[k].shape}
    skipped = [k for k in wanted if k in source and source[k].shape != own[k].shape]
    missing = [k for k in wanted if k not in source]
    if not loaded:
        raise CheckpointError(f"{path}: nothing to initialise {parts} from (no matching tensors)")
    net.load_state_dict(loaded, strict=False)
    report = {"loaded": len(loaded), "skipped_shape": skipped, "missing": missing, "parts": list(parts),
              "source": str(path)}
    logging.getLogger("cigpose.training").info(
        "init_from %s: loaded %d tensors into %s; %d shape mismatches, %d missing",
        path, len(loaded), ", ".join(parts), len(skipped), len(missing))
    return report
