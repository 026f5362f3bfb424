"""Pre-emption: SIGTERM / SIGUSR1 / SIGUSR2 (what SLURM and submitit send before a kill) make the
run save ``last.ckpt`` at the next batch boundary (several processes: at the next point where they
agree, every ``sync_every_n_batches``) and stop cleanly.

The signal handler only sets a flag (saving inside a handler could interrupt a half-done step).
The save happens when the next batch starts: every hook of the previous batch has run by then
(the module's EMA update comes after the callbacks' ``on_train_batch_end``). Nothing may run after
the save — an epoch-end hook would mark the interrupted epoch finished, a further step would be
lost — so the callback then raises :class:`Preempted`; ``cigpose-train`` catches it, skips the
test, writes what it has and exits with status 0. A mid-epoch ``last.ckpt`` resumes inside its
epoch (the data module skips the batches already trained on).

For the requeue signals (SIGUSR1, SIGUSR2: submitit's) the previously installed handler, when
callable (submitit's, which requeues the job), runs after the checkpoint is on disk; the requeued
job resumes from ``last.ckpt`` (``ckpt_path=last``, automatic in a requeued SLURM job).
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import lightning as L

log = logging.getLogger("cigpose.training")
REQUEUE_SIGNALS = ("SIGUSR1", "SIGUSR2")


class Preempted(Exception):
    """The run saved ``last.ckpt`` after a pre-emption signal and stops here."""


class PreemptionCheckpoint(L.Callback):
    """Args:
    signals: signal names to catch.
    dirpath: where ``last.ckpt`` goes (default: the checkpoint callback's folder).
    sync_every_n_batches: with several processes, how often they agree on stopping (a collective
        and a device sync; one process alone checks every batch).
    """

    def __init__(self, signals: tuple[str, ...] = ("SIGTERM", "SIGUSR1", "SIGUSR2"), dirpath: str | None = None,
                 sync_every_n_batches: int = 10):
        self.signals = tuple(signals)
        self.dirpath = dirpath
        self.sync_every_n_batches = max(int(sync_every_n_batches), 1)
        self._batches = 0
        self.received: int | None = None
        self.saved = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.received, self.saved, self._batches = None, False, 0
        for name in self.signals:
            sig = getattr(signal, name, None)
            if sig is not None:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._handle)

    def _stop_now(self, trainer: L.Trainer) -> bool:
        if trainer.world_size == 1:
            return self.received is not None
        # every rank decides alike (SLURM signals each task, not necessarily at the same batch)
        self._batches += 1
        if self._batches % self.sync_every_n_batches:
            return False
        return trainer.strategy.reduce_boolean_decision(self.received is not None, all=False)

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self.saved or not self._stop_now(trainer):
            return
        folder = Path(self.dirpath or getattr(trainer.checkpoint_callback, "dirpath", None) or trainer.default_root_dir)
        path = folder / "last.ckpt"
        trainer.save_checkpoint(path)
        self.saved = True
        name = signal.Signals(self.received).name if self.received is not None else "a signal on another rank"
        log.warning("received %s: saved %s at epoch %d, global step %d; stopping", name, path,
                    trainer.current_epoch, trainer.global_step)
        raise Preempted(f"pre-empted by {name}: {path} saved at epoch {trainer.current_epoch}, global step "
                        f"{trainer.global_step}; resume with ckpt_path=last")

    def _restore(self) -> dict[int, Any]:
        previous, self._previous = self._previous, {}
        for sig, handler in previous.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(sig, handler)
        return previous

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, exception: BaseException) -> None:
        received, self.received = self.received, None
        previous = self._restore().get(received) if received is not None else None
        requeue = {getattr(signal, name, None) for name in REQUEUE_SIGNALS}
        if isinstance(exception, Preempted) and received in requeue and callable(previous):
            previous(received, None)  # submitit: requeue now that the checkpoint is safe

    def on_train_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.received = None  # a signal during the last batch: training is complete, nothing to save
        self._restore()
