"""A run from a composed config: instantiate data, model, callbacks, loggers, trainer → fit →
test → ``metrics.json`` (:func:`train`, the body of ``cigpose-train``), or a checkpoint's test
alone (:func:`evaluate`, ``cigpose-eval``).

A pre-empted fit (SIGTERM / SIGUSR1 / SIGUSR2, see ``training/preemption.py``) saved
``last.ckpt`` mid-epoch: the test is skipped, the files of what ran are written, and the exit is
clean; ``ckpt_path=last`` (automatic in a requeued SLURM job) continues it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig

from cigpose.config import in_multirun
from cigpose.models.build import build_model
from cigpose.models.weights import load_network
from cigpose.training.loggers import finish_wandb, log_run_config
from cigpose.training.outputs import (
    finished_metrics,
    resolve_ckpt_path,
    task_overrides,
    write_metrics,
    write_results,
)
from cigpose.training.preemption import Preempted, PreemptionCheckpoint
from cigpose.training.validate import validate_config

log = logging.getLogger("cigpose.training")


def instantiate_list(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a (possibly empty) mapping group."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


def build(cfg: DictConfig, checkpoint: str | None = None
          ) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """Everything a run needs, from config alone; with ``checkpoint`` the network holds its
    (EMA) weights and the module keeps no EMA copy (evaluation)."""
    validate_config(cfg)
    datamodule = hydra.utils.instantiate(cfg.data, _recursive_=False)
    net = build_model(cfg.model)
    extra = {}
    if checkpoint is not None:
        load_network(net, checkpoint, prefer_ema=True)
        extra["ema"] = {"enabled": False}
    module = hydra.utils.instantiate(cfg.module, net=net, **extra, _convert_="all")
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=instantiate_list(cfg.get("callbacks")),
        logger=instantiate_list(cfg.get("logger")) or False,
    )
    return datamodule, module, trainer


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (resuming from ``ckpt_path``), test, and write ``metrics.json`` + results files; an
    open W&B run is finished however the job ends (the next multirun job gets its own).

    A multirun job (``resume_sweep``, default on) whose folder already holds a finished
    ``metrics.json`` is not run again (its metrics are returned), and one that stopped midway
    continues from its own ``last.ckpt``: rerunning a sweep's command with the same
    ``hydra.sweep.dir`` completes it."""
    if (done := finished_job(cfg)) is not None:
        log.info("%s: finished before (metrics.json); not run again", cfg.paths.output_dir)
        return done
    try:
        metrics = _train(cfg)
    except BaseException as error:
        log.error("the job failed: %s: %s", type(error).__name__, error)  # the sweep table's state
        finish_wandb(failed=True)
        raise
    finish_wandb()
    return metrics


def resumes_sweep(cfg: DictConfig) -> bool:
    """A multirun job with ``resume_sweep`` (default on): a finished one is not rerun, a stopped one
    continues from its own ``last.ckpt``."""
    return in_multirun() and bool(cfg.get("resume_sweep", True))


def finished_job(cfg: DictConfig) -> dict[str, float] | None:
    """The metrics of this multirun job when its folder holds them as finished (:func:`resumes_sweep`:
    :func:`train` does not run it again), else None."""
    if resumes_sweep(cfg):
        return finished_metrics(Path(cfg.paths.output_dir), task_overrides(cfg))
    return None


def _train(cfg: DictConfig) -> dict[str, float]:
    L.seed_everything(cfg.seed, workers=True)
    datamodule, module, trainer = build(cfg)
    log_run_config(trainer.loggers, cfg)
    output_dir = Path(cfg.paths.output_dir)
    resume_from, stopped = None, False
    if cfg.get("train", True):
        ckpt_path = cfg.get("ckpt_path") or ("last" if resumes_sweep(cfg) else None)
        resume_from = resolve_ckpt_path(ckpt_path, output_dir)
        if resume_from:
            log.info("resuming the fit from %s", resume_from)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        except Preempted:  # last.ckpt is on disk; stop cleanly
            stopped = True
    # the callback's own state (public: trainer.callbacks), also where the exception did not reach us
    preempted = stopped or any(isinstance(c, PreemptionCheckpoint) and c.saved for c in trainer.callbacks)
    metrics = scalars(trainer)  # the fit's (validate / test replace Lightning's callback_metrics)
    if preempted:
        log.warning("the run was pre-empted: no test; resume it with ckpt_path=last (%s)",
                    output_dir / "checkpoints" / "last.ckpt")
    elif cfg.get("train", True) and module.evaluated.get("val", {}).get("step") != trainer.global_step:
        log.info("validating the final weights (step %d): the schedule's last validation came earlier",
                 trainer.global_step)
        trainer.validate(module, datamodule=datamodule, verbose=False)
        metrics.update(scalars(trainer))
    evaluated = {split: dict(info, checkpoint="final weights") for split, info in module.evaluated.items()}
    if cfg.get("test", True) and not preempted:
        ckpt = test_checkpoint(cfg, trainer)
        trainer.test(module, datamodule=datamodule, ckpt_path=ckpt, verbose=False)
        metrics.update(scalars(trainer))
        evaluated["test"] = dict(module.evaluated["test"], checkpoint=ckpt or "final weights")
    main_metric = cfg.data.get("main_metric", "AP")
    for split, info in evaluated.items():
        if f"{split}/{main_metric}" in metrics:
            log.info("%s %s = %.4f (%s, %s epochs, step %s)", split, main_metric, metrics[f"{split}/{main_metric}"],
                     info.get("checkpoint"), info.get("epochs"), info.get("step"))
    if trainer.is_global_zero:
        write_results(module, output_dir)
        write_metrics(metrics, output_dir, cfg, evaluated, status="preempted" if preempted else "finished",
                      resumed_from=resume_from)
    return metrics


def scalars(trainer: L.Trainer) -> dict[str, float]:
    """The scalar metrics Lightning holds now."""
    return {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}


def test_checkpoint(cfg: DictConfig, trainer: L.Trainer) -> str | None:
    """``test_weights``: ``best`` — the checkpoint with the best ``val`` main metric (the final
    weights when none was saved); ``final`` — the weights the fit ended with, the same ones the
    last validation scored (paired ``val`` / ``test`` comparisons)."""
    choice = cfg.get("test_weights", "best")
    if choice not in ("best", "final"):
        raise ValueError(f"test_weights={choice!r}: expected 'best' or 'final'")
    if choice == "final":
        return None
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    return best or None


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Test ``cfg.ckpt`` (a ``cigpose-train`` or ``cigpose-convert`` checkpoint) on the configured
    test split; writes ``metrics.json`` and the results file into ``paths.output_dir``."""
    if not cfg.get("ckpt"):
        raise ValueError("cigpose-eval needs ckpt=PATH (a cigpose-train or cigpose-convert checkpoint)")
    L.seed_everything(cfg.seed, workers=True)
    datamodule, module, trainer = build(cfg, checkpoint=cfg.ckpt)
    trainer.test(module, datamodule=datamodule)
    metrics = scalars(trainer)
    output_dir = Path(cfg.paths.output_dir)
    write_results(module, output_dir)
    write_metrics(metrics, output_dir, cfg)
    return metrics
