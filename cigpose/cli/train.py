"""``cigpose-train [OVERRIDES...]`` (Hydra; ``-m`` for sweeps): fit, test, write ``metrics.json``.

A pre-empted fit (SIGTERM / SIGUSR1 / SIGUSR2) saved ``last.ckpt`` and exits cleanly;
``ckpt_path=last`` (automatic in a requeued SLURM job and in a rerun multirun) continues it.
Returns ``optimized_metric`` to the sweeper."""

from __future__ import annotations

from contextlib import nullcontext

from omegaconf import DictConfig

from cigpose.config import hydra_entry
from cigpose.training.ddp_sweep import job_ranks
from cigpose.training.noise import quiet_known_noise
from cigpose.training.run import finished_job, train

MODULE = "cigpose.cli.train"  # what the other DDP ranks of a multirun job run (python -m)


@hydra_entry("train")
def main(cfg: DictConfig) -> float | None:
    quiet_known_noise()
    # DDP in a multirun job: its other ranks run this job, in its folder (none for a finished job)
    with job_ranks(MODULE, cfg.trainer) if finished_job(cfg) is None else nullcontext():
        metrics = train(cfg)
    optimized = cfg.get("optimized_metric")
    return metrics.get(optimized) if optimized else None


if __name__ == "__main__":
    main()
