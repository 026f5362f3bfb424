"""DDP inside a Hydra multirun: the other ranks of a job run that job, in its folder.

For a local DDP run (``trainer.strategy=ddp``, several devices, no cluster that starts the
processes) Lightning starts ranks 1..N-1 by running the script again. Under Hydra the command comes
from ``_hydra_subprocess_cmd`` (``lightning.pytorch.strategies.launchers.subprocess_script``;
read in Lightning 2.6.6): ``sys.argv[1:]`` + ``hydra.run.dir=<hydra.run.dir> hydra.job.name=
train_ddp_process_<rank> hydra.output_subdir=null``. Right for one run; in a multirun job:

* ``sys.argv`` still holds ``-m`` and the sweep lists (or ``hparams_search=...``, whose config sets
  ``hydra.mode=MULTIRUN``), so rank 1 runs a sweep of its own: every job of it, not the one job; it
  rewrites ``multirun.yaml`` and, without an explicit ``hydra.sweep.dir``, writes into a second
  sweep folder (its own timestamp);
* under submitit (``hydra/launcher=submitit_local``) ``sys.argv`` is submitit's worker command:
  rank 1 exits on its argument error, and Lightning then kills the job;
* Lightning leaves ``LOCAL_RANK``, ``MASTER_PORT`` ... in ``os.environ`` and the process group
  open, so in the sweep's next job (same process: basic launcher) it takes the ranks for started
  elsewhere and starts none.

:func:`job_ranks` wraps one job. In a multirun job it has Lightning start the other ranks with
:func:`job_rank_command` (that job's own overrides, run once in its folder) and, when the job ends,
closes the process group and gives ``os.environ`` back its launch variables, so the next job starts
its own ranks. Elsewhere (a single run, a rank it started, SLURM's own tasks: Lightning then
starts nothing) it does nothing.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig

log = logging.getLogger("cigpose.training")

# In the Hydra config of a rank this module started (hydra.job.env_set): the job's folder.
RANK_MARKER = "CIGPOSE_SWEEP_JOB_DIR"
# What Lightning's launcher writes into os.environ (Lightning 2.6.6, _call_children_scripts).
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# The Hydra settings job_rank_command sets itself: the job's own values of them are dropped.
OWN_KEYS = frozenset({
    "hydra.mode", "hydra.run.dir", "hydra.sweep.dir", "hydra.job.name", "hydra.job.num",
    "hydra.job.id", "hydra.output_subdir", f"hydra.job.env_set.{RANK_MARKER}",
})


def quoted(value: str) -> str:
    """``value`` as a quoted Hydra override value, read back verbatim (spaces, ``,`` ``=`` ``'``).
    Hydra's rule: a backslash escapes only before a quote or at the end of the string."""
    escaped = re.sub(r"(\\+)(?='|$)", lambda run: run.group(1) * 2, value)
    return "'" + escaped.replace("'", "\\'") + "'"


def override_key(override: str) -> str:
    """The key or config group an override sets (``++hydra.run.dir=x`` → ``hydra.run.dir``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(override).key_or_group


def job_rank_command(hydra_cfg: DictConfig, local_rank: int, module: str) -> list[str]:
    """The command of rank ``local_rank`` of the multirun job ``hydra_cfg`` (``HydraConfig.get()``
    in that job) describes: ``python -m MODULE`` with the job's own overrides (Hydra keeps the
    job's values, not the sweep lists; the job's Hydra overrides too, e.g. ``hydra.job.chdir``)
    as a single run (``hydra.mode=RUN``) in the job's folder, logging to
    ``<job name>_ddp_process_<rank>.log`` there and writing no ``.hydra/``. The job's sweep folder
    and number go along (interpolations of them agree), and the marker :func:`is_job_rank` reads."""
    output_dir = str(hydra_cfg.runtime.output_dir)
    hydra_overrides = [o for o in hydra_cfg.overrides.hydra if override_key(o) not in OWN_KEYS]
    return [
        sys.executable, "-m", module,
        *hydra_cfg.overrides.task, *hydra_overrides,
        "hydra.mode=RUN",
        f"hydra.run.dir={quoted(output_dir)}",
        f"hydra.sweep.dir={quoted(str(hydra_cfg.sweep.dir))}",
        f"hydra.job.num={int(hydra_cfg.job.num)}",
        f"hydra.job.id={quoted(str(hydra_cfg.job.id))}",
        f"hydra.job.name={hydra_cfg.job.name}_ddp_process_{local_rank}",
        "hydra.output_subdir=null",
        f"++hydra.job.env_set.{RANK_MARKER}={quoted(output_dir)}",
    ]


def is_job_rank() -> bool:
    """Whether this process is a rank > 0 that :func:`job_ranks` had started for a multirun job
    (it runs in Hydra's RUN mode, but belongs to that job: resume, checkpoints)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and RANK_MARKER in HydraConfig.get().job.env_set


def _multirun_job() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _rank_command_and_cwd(local_rank: int, module: str) -> tuple[list[str], str]:
    """Stands in for Lightning's ``_hydra_subprocess_cmd(local_rank) -> (command, cwd)``: the
    command of :func:`job_rank_command`, run from where the sweep started (as Lightning does)."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    command = job_rank_command(hydra_cfg, local_rank, module)
    log.info("rank %d of this multirun job: %s", local_rank, shlex.join(command))
    return command, str(hydra_cfg.runtime.cwd)


def _close_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except Exception as error:  # noqa: BLE001 - the job's result stands; the next job starts its own
            log.warning("closing the job's process group: %s: %s", type(error).__name__, error)


def _restore_env(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def job_ranks(module: str) -> Iterator[None]:
    """Around one job: in a multirun job, Lightning starts the job's other local DDP ranks as
    ``python -m MODULE`` + :func:`job_rank_command`; at its end the process group it opened is
    closed and Lightning's launch variables in ``os.environ`` are as before. Else: nothing."""
    if not _multirun_job():
        yield
        return
    import torch.distributed as dist
    from lightning.pytorch.strategies.launchers import subprocess_script

    # The one override of Lightning (behaviour relied on: Lightning 2.6.6): the module-level
    # _hydra_subprocess_cmd(local_rank) -> (command, cwd) that _SubprocessScriptLauncher.
    # _call_children_scripts looks up at call time when Hydra is initialised; restored after the job.
    original = getattr(subprocess_script, "_hydra_subprocess_cmd", None)
    if original is None:
        log.warning("lightning %s has no _hydra_subprocess_cmd: DDP ranks of a multirun job "
                    "start as Lightning starts them", getattr(sys.modules.get("lightning"), "__version__", "?"))
    saved = {key: os.environ.get(key) for key in LAUNCH_ENV}
    had_group = dist.is_available() and dist.is_initialized()

    def rank_command(local_rank: int) -> tuple[list[str], str]:
        return _rank_command_and_cwd(local_rank, module)

    if original is not None:
        subprocess_script._hydra_subprocess_cmd = rank_command
    try:
        yield
    finally:
        if original is not None:
            subprocess_script._hydra_subprocess_cmd = original
        if not had_group:
            _close_process_group()
            _restore_env(saved)
