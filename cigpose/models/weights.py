"""Network weights in and out of files: our Lightning checkpoints, ``cigpose-net/1`` files
(``cigpose-convert`` / ``cigpose-backbone export`` output) and MMPose checkpoints.

* :func:`network_state` / :func:`load_network`: a whole network's weights (EMA when kept).
* :func:`init_from_checkpoint`: some parts of a network, for fine-tuning (``model.init_from``).
* :func:`export_backbone` / :func:`verify_backbone`: the hand-off between the chain's two steps —
  a pretraining run's backbone with a SHA-256 record beside it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cigpose.checkpoint import CheckpointError, safe_load
from cigpose.models.mmpose_keys import mmpose_state_dict, rename_keys

log = logging.getLogger("cigpose.models")
NET_FORMAT = "cigpose-net/1"


def network_state(path: str | Path, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """The network's state dict from either checkpoint kind.

    * ``cigpose-net/1`` (``cigpose-convert``, ``cigpose-backbone export``): its ``state_dict``.
    * A ``cigpose-train`` Lightning checkpoint: the EMA weights (``ema.module.*``) when present and
      ``prefer_ema``, else the live ones (``net.*``).
    """
    checkpoint = safe_load(path)
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: no 'state_dict' in the checkpoint")
    if checkpoint.get("format") == NET_FORMAT:
        return state
    prefix = "ema.module." if prefer_ema and any(k.startswith("ema.module.") for k in state) else "net."
    picked = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
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
                         ) -> dict[str, Any]:
    """Initialise parts of ``net`` for fine-tuning (the paper starts from RTMPose weights).

    ``path``: an MMPose RTMPose/CIGPose checkpoint (renamed on the fly) or any cigpose checkpoint.
    ``parts``: name prefixes of ``net`` to load — ``backbone``, ``head.tokens`` (head front + GAU).
    Only tensors of matching shape load; returns ``{"loaded", "skipped_shape", "missing"}`` counts
    and names, and logs them — nothing is loaded silently.
    """
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
    log.info("init_from %s: loaded %d tensors into %s; %d shape mismatches, %d missing",
             path, len(loaded), ", ".join(parts), len(skipped), len(missing))
    return {"loaded": len(loaded), "skipped_shape": skipped, "missing": missing, "parts": list(parts),
            "source": str(path)}


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_backbone(checkpoint: str | Path, out: str | Path, note: str = "") -> dict[str, Any]:
    """Backbone tensors of ``checkpoint`` (EMA when kept) → ``out`` (``cigpose-net/1``, read by
    ``model.init_from``) + ``out.json`` (SHA-256, tensor and parameter counts, source epoch/step)."""
    state = {k: v.contiguous() for k, v in network_state(checkpoint).items() if k.startswith("backbone.")}
    if not state:
        raise CheckpointError(f"{checkpoint}: no backbone.* tensors")
    source = safe_load(checkpoint)
    model = source.get("model") or {}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": NET_FORMAT, "state_dict": state, "model": {"backbone": model.get("size")}}, out)
    record = {
        "file": out.name,
        "sha256": sha256(out),
        "bytes": out.stat().st_size,
        "tensors": len(state),
        "parameters": int(sum(v.numel() for k, v in state.items() if v.is_floating_point() and "running" not in k)),
        "backbone": model.get("size"),
        "source": {"checkpoint": str(checkpoint), "epoch": source.get("epoch"), "step": source.get("global_step")},
        "note": note,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def verify_backbone(path: str | Path) -> dict[str, Any]:
    """Check ``path`` against the SHA-256 in ``path.json``; raises CheckpointError on a mismatch."""
    path = Path(path)
    record_file = path.with_suffix(".json")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such backbone file (regenerate it with `make pretrain`)")
    if not record_file.is_file():
        raise CheckpointError(f"{record_file}: missing (the checksum record of {path.name})")
    record = json.loads(record_file.read_text())
    actual = sha256(path)
    if actual != record.get("sha256"):
        raise CheckpointError(f"{path}: SHA-256 {actual} differs from {record.get('sha256')} in {record_file.name}")
    return record
