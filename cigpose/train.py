"""``cigpose-train``: compose config → instantiate data, model, callbacks, loggers, trainer →
fit → test → ``metrics.json``. Returns the optimised metric for sweepers.

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

from cigpose.config import hydra_entry, in_multirun
from cigpose.training.ddp_sweep import job_ranks
from cigpose.training.loggers import finish_wandb, log_run_config
from cigpose.training.noise import quiet_known_noise
from cigpose.training.outputs import finished_metrics, resolve_ckpt_path, write_metrics, write_results
from cigpose.training.preemption import Preempted
from cigpose.training.validate import validate_config

log = logging.getLogger("cigpose.training")


def instantiate_list(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a (possibly empty) mapping group."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """Everything a run needs, from config alone."""
    validate_config(cfg)
    datamodule = hydra.utils.instantiate(cfg.data, _recursive_=False)
    net = hydra.utils.instantiate(cfg.model, _convert_="all")  # the speed options are not the net's
    speed = {key: bool(cfg.model.get(key, False)) for key in ("channels_last", "compile")}
    module = hydra.utils.instantiate(cfg.module, net=net, **speed, _convert_="all")
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
    resume = in_multirun() and cfg.get("resume_sweep", True)
    if resume and (done := finished_metrics(Path(cfg.paths.output_dir))) is not None:
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


def _train(cfg: DictConfig) -> dict[str, float]:
    L.seed_everything(cfg.seed, workers=True)
    datamodule, module, trainer = build(cfg)
    log_run_config(trainer.loggers, cfg)
    output_dir = Path(cfg.paths.output_dir)
    resume_from = None
    if cfg.get("train", True):
        ckpt_path = cfg.get("ckpt_path") or ("last" if in_multirun() and cfg.get("resume_sweep", True) else None)
        resume_from = resolve_ckpt_path(ckpt_path, output_dir)
        if resume_from:
            log.info("resuming the fit from %s", resume_from)
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        except Preempted:  # last.ckpt is on disk; stop cleanly
            trainer.preempted = True  # type: ignore[attr-defined]
    preempted = bool(getattr(trainer, "preempted", False))
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


@hydra_entry("train")
def main(cfg: DictConfig) -> float | None:
    quiet_known_noise()
    with job_ranks(__spec__.name):  # DDP in a multirun job: its other ranks run this job, in its folder
        metrics = train(cfg)
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None


if __name__ == "__main__":
    main()
