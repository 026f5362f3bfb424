"""Checkpoints written atomically (a kill or a full disk during a save never leaves a torn file)
and read with ``weights_only=True`` (a resumed or tested checkpoint cannot run code)."""

from __future__ import annotations

from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from cigpose.checkpoint import safe_load, save_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file beside the target, fsync, then rename over it; loads
    through :func:`cigpose.checkpoint.safe_load` (``weights_only=True``, a clear refusal)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        save_atomic(checkpoint, path)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return safe_load(path, map_location="cpu" if map_location is None else map_location)
