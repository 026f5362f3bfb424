"""What a run leaves in its directory: ``metrics.json``, results files, resolved checkpoints."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from cigpose.checkpoint import write_json_atomic
from cigpose.evaluation.results import write_results as write_results_file

log = logging.getLogger("cigpose.training")


def requeued_slurm_job() -> bool:
    """A SLURM job started again after a requeue (pre-emption, time limit): SLURM counts the
    restarts in ``SLURM_RESTART_COUNT``."""
    count = os.environ.get("SLURM_RESTART_COUNT", "").strip()
    return count.isdigit() and int(count) > 0


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``last`` → ``<run>/checkpoints/last.ckpt`` when it exists (a fresh start otherwise, so a
    requeued job that never saved starts over); a path must exist. No ``ckpt_path`` in a requeued
    SLURM job means ``last``: the job reruns with its first command line, in the same run dir."""
    if not ckpt_path and requeued_slurm_job():
        ckpt_path = "last"
        log.warning("requeued SLURM job (SLURM_RESTART_COUNT=%s): ckpt_path=last",
                    os.environ["SLURM_RESTART_COUNT"])
    if not ckpt_path:
        return None
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        return str(last) if last.is_file() else None
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint")
    return ckpt_path


def task_overrides(cfg: DictConfig) -> list[str]:
    """The command-line overrides of this run (job): Hydra keeps them outside the task's config."""
    if HydraConfig.initialized():
        return list(HydraConfig.get().overrides.task)
    return list(OmegaConf.select(cfg, "hydra.overrides.task", default=[]) or [])


def write_metrics(
    metrics: dict[str, float], output_dir: Path, cfg: DictConfig, evaluated: dict[str, dict] | None = None,
    status: str = "finished", resumed_from: str | None = None,
) -> Path:
    """``metrics.json``: every scalar logged (``val/…``, ``test/…``, ``loss/…``), plus the bare
    evaluation names (``whole_body/AP``, ``AP``) of the final evaluation for sweep tables,
    ``evaluated``: per split, the checkpoint, epoch and step whose weights were scored, ``status``
    (``finished`` or ``preempted``) and ``resumed_from`` (the checkpoint the fit continued, if any)."""
    final_split = "test" if any(k.startswith("test/") for k in metrics) else "val"
    flat = {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith(f"{final_split}/")}
    payload = {
        **flat,
        "logged": metrics,
        "name": str(cfg.get("name")),
        "overrides": task_overrides(cfg),
        "evaluated": evaluated or {},
        "status": status,
        "resumed_from": resumed_from,
    }
    return write_json_atomic(payload, output_dir / "metrics.json")


def write_results(module: Any, output_dir: Path) -> list[Path]:
    """The COCO-format results of the last evaluation of each split: ``results/<split>.json``."""
    written = []
    for split, results in getattr(module, "last_results", {}).items():
        written.append(write_results_file(results, output_dir / "results" / f"{split}.json"))
    return written


def finished_metrics(output_dir: Path, overrides: list[str] | None = None) -> dict[str, float] | None:
    """The logged metrics of a job that already finished in ``output_dir`` (its ``metrics.json``
    says ``finished``; files from before the status field count as finished), else None.

    With ``overrides`` (this job's), a finished job of *other* overrides in the folder is an error
    (a sweep rerun into a sweep folder of a different search: its jobs are numbered alike)."""
    path = output_dir / "metrics.json"
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # unreadable: run the job again
    if payload.get("status", "finished") != "finished":
        return None
    stored = payload.get("overrides")
    if overrides is not None and stored is not None and sorted(stored) != sorted(overrides):
        raise ValueError(
            f"{output_dir} holds a finished job of other overrides ({', '.join(stored)}), not this job's "
            f"({', '.join(overrides)}): the sweep folder belongs to another sweep; give this one its own "
            "hydra.sweep.dir (or resume_sweep=false to retrain every job in place)")
    return {k: float(v) for k, v in payload.get("logged", {}).items()}
