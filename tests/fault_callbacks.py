"""Test-only callbacks that ``tests/test_faults.py`` hands to ``cigpose-train`` through Hydra
(``+callbacks.NAME._target_=tests.fault_callbacks.…``, with the repository on ``PYTHONPATH``), so
faults happen for real inside a real run at a chosen batch."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch


def _at(trainer: L.Trainer, batch_idx: int, where: Any) -> bool:
    return [int(trainer.current_epoch), int(batch_idx)] == [int(v) for v in where]


class PauseAt(L.Callback):
    """At the start of batch ``batch`` of epoch ``epoch``: write ``marker`` (this process's pid),
    then wait — until a signal reached the run's ``PreemptionCheckpoint`` (``until=signal``), or
    until the process is killed (``until=kill``). Gives an outside ``os.kill`` a known place in
    the run; waits at most ``timeout_s``. ``rank``: only that process of a multi-process run;
    ``once``: not again when ``marker`` exists (a rerun of the same command passes)."""

    def __init__(self, epoch: int, batch: int, marker: str, until: str = "signal", timeout_s: float = 300.0,
                 rank: int | None = None, once: bool = False):
        self.where, self.marker, self.until, self.timeout_s = (epoch, batch), Path(marker), until, timeout_s
        self.rank, self.once = rank, once

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if not _at(trainer, batch_idx, self.where) or self.rank not in (None, trainer.global_rank):
            return
        if self.once and self.marker.exists():  # paused in an earlier run: a rerun goes through
            return
        from cigpose.training.preemption import PreemptionCheckpoint

        catchers = [c for c in trainer.callbacks if isinstance(c, PreemptionCheckpoint)]
        self.marker.write_text(json.dumps({"pid": os.getpid(), "global_step": trainer.global_step}))
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.until == "signal" and any(c.received is not None for c in catchers):
                return
            time.sleep(0.02)
        raise RuntimeError(f"PauseAt{self.where}: nothing came within {self.timeout_s} s")


class PoisonAt(L.Callback):
    """Real non-finite losses: NaN training targets at the batches ``nan_targets`` (``[[epoch,
    batch], ...]``: that one step's loss is NaN), NaN in the network's first weight from batch
    ``nan_weights`` on (every later loss is NaN: the run must stop)."""

    def __init__(self, nan_targets: Any = (), nan_weights: Any = None):
        self.nan_targets = [list(w) for w in nan_targets]
        self.nan_weights = list(nan_weights) if nan_weights is not None else None

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if any(_at(trainer, batch_idx, w) for w in self.nan_targets):
            batch["target_x"].fill_(float("nan"))
        if self.nan_weights is not None and _at(trainer, batch_idx, self.nan_weights):
            with torch.no_grad():
                next(module.net.parameters()).fill_(float("nan"))


def requeue_main() -> None:
    """``cigpose-train`` with a submitit-like SIGUSR1/SIGUSR2 handler installed first (as submitit
    does): the handler records, when it runs, whether ``$FAULT_LAST_CKPT`` is on disk and its
    global step, into ``$FAULT_REQUEUE_RECORD``. Hydra reads the overrides from ``sys.argv``."""
    from cigpose.checkpoint import safe_load
    from cigpose.cli.train import main

    last, record = Path(os.environ["FAULT_LAST_CKPT"]), Path(os.environ["FAULT_REQUEUE_RECORD"])

    def requeue(signum: int, frame: Any) -> None:
        step = int(safe_load(last)["global_step"]) if last.is_file() else None
        record.write_text(json.dumps({"signal": signal.Signals(signum).name, "last_exists": last.is_file(),
                                      "global_step": step}))

    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, requeue)
    sys.argv[0] = "cigpose-train"
    main()


if __name__ == "__main__":
    requeue_main()
