"""Logger builders that need more than a ``_target_``."""

from __future__ import annotations

import os
import sys
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf


def wandb_logger(
    project: str,
    name: str,
    save_dir: str,
    offline: bool = False,
    group: str | None = None,
    tags: list[str] | None = None,
    log_model: bool = False,
    id: str | None = None,
    **kwargs: Any,
) -> WandbLogger:
    """A ``WandbLogger`` that resumes the same W&B run when the run directory already has one.

    The run id is kept in ``<save_dir>/wandb_run_id`` (and in checkpoints by the LightningModule),
    so ``ckpt_path=last`` after a pre-emption continues the same dashboard.
    """
    os.makedirs(save_dir, exist_ok=True)
    id_file = os.path.join(save_dir, "wandb_run_id")
    if id is None and os.path.isfile(id_file):
        with open(id_file) as handle:
            id = handle.read().strip() or None
    resume = "allow" if id else None
    if id is None:  # fixed now: WandbLogger.version is None until the run starts
        from wandb.sdk.lib.runid import generate_id

        id = generate_id()
    logger = WandbLogger(
        project=project,
        name=name,
        save_dir=save_dir,
        offline=offline,
        group=group,
        tags=list(tags or []),
        log_model=log_model,
        id=id,
        resume=resume,
        **kwargs,
    )
    with open(id_file, "w") as handle:
        handle.write(id)
    return logger


def finish_wandb(failed: bool = False) -> None:
    """Finish this process's W&B run, if one is open: the next job of a multirun (same process)
    then starts its own run instead of writing into this one."""
    wandb = sys.modules.get("wandb")  # never import it just to find that nothing is open
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=1 if failed else 0)


def log_run_config(loggers: list, config: DictConfig) -> None:
    """Give each W&B logger's run the job's resolved config (nested, as composed), so every run of
    a sweep carries its own arm's settings. Resolved only when there is a W&B logger."""
    wandb_loggers = [logger for logger in loggers if isinstance(logger, WandbLogger)]
    if wandb_loggers:
        resolved = OmegaConf.to_container(config, resolve=True)
        for logger in wandb_loggers:
            logger.log_hyperparams(resolved)
