"""Pre-emption: SIGTERM / SIGUSR1 (what SLURM sends before a kill) make the run save
``last.ckpt`` at the next batch boundary and stop cleanly.

The signal handler only sets a flag (saving inside a handler could interrupt a half-done step).
For SIGUSR1 the previously installed handler — submitit's, which requeues the job — runs after
the checkpoint is on disk; the requeued job resumes with ``ckpt_path=last``.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import lightning as L

log = logging.getLogger("cigpose.training")


class PreemptionCheckpoint(L.Callback):
    """Args:
    signals: signal names to catch.
    dirpath: where ``last.ckpt`` goes (default: the checkpoint callback's folder).
    """

    def __init__(self, signals: tuple[str, ...] = ("SIGTERM", "SIGUSR1"), dirpath: str | None = None):
        self.signals = tuple(signals)
        self.dirpath = dirpath
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for name in self.signals:
            sig = getattr(signal, name, None)
            if sig is not None:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.received is None or trainer.should_stop:
            return
        folder = Path(self.dirpath or getattr(trainer.checkpoint_callback, "dirpath", None) or trainer.default_root_dir)
        path = folder / "last.ckpt"
        trainer.save_checkpoint(path)
        trainer.should_stop = True
        trainer.preempted = True  # type: ignore[attr-defined]
        log.warning("received %s: saved %s at global step %d; stopping",
                    signal.Signals(self.received).name, path, trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        received, self.received = self.received, None
        previous = self._previous.get(received) if received is not None else None
        if received == getattr(signal, "SIGUSR1", None) and callable(previous):
            previous(received, None)  # submitit: requeue now that the checkpoint is safe
