"""DDP inside a Hydra multirun: the other ranks of a job run that job, in its folder.

For a local DDP run (``trainer.strategy=ddp``, several devices, no cluster that starts the
processes) Lightning's ``_SubprocessScriptLauncher`` starts ranks 1..N-1 by running the script
again; under Hydra with ``sys.argv[1:]`` + ``hydra.run.dir=... hydra.job.name=..._ddp_process_<r>``.
Right for one run; in a multirun job:

* ``sys.argv`` still holds ``-m`` and the sweep lists (or ``hparams_search=...``, whose config sets
  ``hydra.mode=MULTIRUN``), so rank 1 runs a sweep of its own: every job of it, not the one job; it
  rewrites ``multirun.yaml`` and, without an explicit ``hydra.sweep.dir``, writes into a second
  sweep folder (its own timestamp);
* under submitit (``hydra/launcher=submitit_local``) ``sys.argv`` is submitit's worker command:
  rank 1 exits on its argument error, and Lightning then kills the job;
* Lightning leaves ``LOCAL_RANK``, ``MASTER_PORT`` ... in ``os.environ`` and the process group
  open, so in the sweep's next job (same process: basic launcher) it takes the ranks for started
  elsewhere and starts none.

So in a multirun job :func:`job_ranks` is the launcher itself, through Lightning's public contract
for processes started by someone else (torchrun-style; read in Lightning 2.6.6):

* ``lightning/fabric/plugins/environments/lightning.py``, ``LightningEnvironment``: the environment
  of a plain local run (``lightning/pytorch/trainer/connectors/accelerator_connector.py``,
  ``_choose_and_init_cluster_environment``: when TorchElastic, SLURM, LSF and MPI all fail to
  ``detect()``). Its ``creates_processes_externally`` is ``"LOCAL_RANK" in os.environ``;
  ``local_rank()`` / ``node_rank()`` / ``main_address`` / ``main_port`` read ``LOCAL_RANK``,
  ``NODE_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``. Its class docstring: "The user launches all
  processes manually or with utilities like torch.distributed.launch ... at minimum LOCAL_RANK".
* ``lightning/pytorch/strategies/launchers/subprocess_script.py``,
  ``_SubprocessScriptLauncher.launch``: ``if not cluster_environment.creates_processes_externally:
  _call_children_scripts()`` — with ``LOCAL_RANK`` set it starts nothing and runs the fit in this
  process (every ``fit`` / ``validate`` / ``test`` call goes through it, each time).
* ``lightning/pytorch/strategies/ddp.py``, ``DDPStrategy.setup_distributed``: global rank
  ``node_rank * num_processes + local_rank``, world size ``num_nodes * num_processes``, then
  ``lightning/fabric/utilities/distributed.py``, ``_init_dist_connection``: the process group at
  ``MASTER_ADDR:MASTER_PORT``.

That is the state Lightning's own launcher leaves rank 0 in after starting the children (it sets
these variables in ``os.environ``; every later ``launch`` starts nothing): :func:`job_ranks` sets
the same variables — the values ``LightningEnvironment`` would give (``MASTER_PORT`` from the
environment, else a free port) — starts ranks 1..N-1 itself as :func:`job_rank_command` (the job's
own overrides, a single run in the job's folder), and at the job's end waits for them (kills them
when rank 0 failed), closes the process group and gives ``os.environ`` its variables back, so the
next job starts its own ranks. A rank that dies mid-job: the others are killed, and rank 0 too
if it has not stopped by itself within :data:`RANK_FAILURE_GRACE_S` (as Lightning's process
observer does for the ranks it starts; with gloo rank 0 fails at its next collective first).

Only for a job Lightning would launch locally (:func:`local_processes`: a popen DDP strategy,
several devices, no cluster environment, not a rank already); elsewhere (a single run, a rank it
started, SLURM's or torchrun's tasks, ``ddp_spawn``) it does nothing and Lightning does as always.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import hydra
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning.pytorch.accelerators import Accelerator, CPUAccelerator, CUDAAccelerator, MPSAccelerator, XLAAccelerator
from lightning.pytorch.plugins.environments import (
    ClusterEnvironment,
    LightningEnvironment,
    LSFEnvironment,
    MPIEnvironment,
    SLURMEnvironment,
    TorchElasticEnvironment,
)
from lightning.pytorch.strategies import DDPStrategy
from omegaconf import DictConfig, ListConfig

from cigpose.config import RANK_MARKER, in_multirun

log = logging.getLogger("cigpose.training")

# The variables of a rank started by someone other than Lightning (LightningEnvironment reads them).
LAUNCH_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
# The Hydra settings job_rank_command sets itself: the job's own values of them are dropped.
OWN_KEYS = frozenset({
    "hydra.mode", "hydra.run.dir", "hydra.sweep.dir", "hydra.job.name", "hydra.job.num",
    "hydra.job.id", "hydra.output_subdir", f"hydra.job.env_set.{RANK_MARKER}",
})
# Strategy names whose processes Lightning starts as scripts (start_method "popen"); "auto" is DDP
# for several devices outside a notebook (accelerator_connector.py, _choose_strategy).
POPEN_DDP = frozenset({"ddp", "ddp_find_unused_parameters_false", "ddp_find_unused_parameters_true", "auto"})
# Cluster environments whose launcher starts every process (Lightning then starts none), in the
# order Lightning tries them.
EXTERNAL_LAUNCHERS = (TorchElasticEnvironment, SLURMEnvironment, LSFEnvironment, MPIEnvironment)
RANK_FAILURE_GRACE_S = 60.0  # a rank died: how long rank 0 may take to fail by itself
RANK_EXIT_TIMEOUT_S = 300.0  # rank 0 finished the job: how long the other ranks may take to
POLL_S = 2.0


def quoted(value: str) -> str:
    """``value`` as a quoted Hydra override value, read back verbatim (spaces, ``,`` ``=`` ``'``).
    Hydra's rule: a backslash escapes only before a quote or at the end of the string."""
    escaped = re.sub(r"(\\+)(?='|$)", lambda run: run.group(1) * 2, value)
    return "'" + escaped.replace("'", "\\'") + "'"


def override_key(override: str) -> str:
    """The key or config group an override sets (``++hydra.run.dir=x`` → ``hydra.run.dir``)."""
    return OverridesParser.create().parse_override(override).key_or_group


def job_rank_command(hydra_cfg: DictConfig, local_rank: int, module: str) -> list[str]:
    """The command of rank ``local_rank`` of the multirun job ``hydra_cfg`` (``HydraConfig.get()``
    in that job) describes: ``python -m MODULE`` with the job's own overrides (Hydra keeps the
    job's values, not the sweep lists; the job's Hydra overrides too, e.g. ``hydra.job.chdir``)
    as a single run (``hydra.mode=RUN``) in the job's folder, logging to
    ``<job name>_ddp_process_<rank>.log`` there and writing no ``.hydra/``. The job's sweep folder
    and number go along (interpolations of them agree), and the marker ``in_multirun`` reads."""
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


def _accelerator(name: Any) -> type[Accelerator] | None:
    """The accelerator class Lightning picks for ``trainer.accelerator`` (None: not one whose DDP
    processes it starts as scripts, e.g. XLA, or an accelerator object)."""
    if name == "auto":  # lightning/fabric/utilities/device_parser.py, _select_auto_accelerator
        if XLAAccelerator.is_available():
            return None
        return MPSAccelerator if MPSAccelerator.is_available() else CUDAAccelerator if \
            CUDAAccelerator.is_available() else CPUAccelerator
    if name == "gpu":  # accelerator_connector.py, _choose_gpu_accelerator_backend
        return MPSAccelerator if MPSAccelerator.is_available() else CUDAAccelerator
    return {"cpu": CPUAccelerator, "cuda": CUDAAccelerator, "mps": MPSAccelerator}.get(name)


def _device_count(accelerator: Any, devices: Any) -> int:
    """How many devices (processes) per node ``trainer.accelerator`` / ``trainer.devices`` give,
    parsed as Lightning parses them (the accelerators' public ``auto_device_count`` /
    ``parse_devices`` / ``get_parallel_devices``); 1 when Lightning would refuse them."""
    cls = _accelerator(accelerator)
    if cls is None:
        return 1
    if isinstance(devices, ListConfig):
        devices = list(devices)
    try:
        parsed = cls.parse_devices(cls.auto_device_count() if devices == "auto" else devices)
        return len(cls.get_parallel_devices(parsed)) if parsed is not None else 1
    except Exception:  # noqa: BLE001 - Lightning raises its own error when it builds the trainer
        return 1


def _popen_ddp(strategy: Any) -> bool:
    """Whether ``trainer.strategy`` is DDP whose ranks Lightning starts as scripts."""
    if isinstance(strategy, str):
        return strategy in POPEN_DDP
    if isinstance(strategy, Mapping) and "_target_" in strategy:
        cls = hydra.utils.get_class(strategy["_target_"])
        return issubclass(cls, DDPStrategy) and strategy.get("start_method", "popen") == "popen"
    return False


def _cluster_plugin(plugins: Any) -> bool:
    """Whether ``trainer.plugins`` names a cluster environment other than Lightning's own."""
    for plugin in plugins or ():
        if isinstance(plugin, Mapping) and "_target_" in plugin:
            cls = hydra.utils.get_class(plugin["_target_"])
            if issubclass(cls, ClusterEnvironment) and not issubclass(cls, LightningEnvironment):
                return True
    return False


def local_processes(trainer_cfg: DictConfig) -> int:
    """How many processes on this node Lightning's ``_SubprocessScriptLauncher`` would run for
    ``trainer_cfg`` (the composed ``cfg.trainer``) in this process: 1 unless the strategy is
    popen DDP (or ``auto`` over several devices), the cluster environment would be
    ``LightningEnvironment`` (no cluster plugin; TorchElastic, SLURM, LSF, MPI not detected)
    and no launcher set ``LOCAL_RANK`` (then this is a rank already)."""
    if "LOCAL_RANK" in os.environ or not _popen_ddp(trainer_cfg.get("strategy", "auto")):
        return 1
    if _cluster_plugin(trainer_cfg.get("plugins")) or any(env.detect() for env in EXTERNAL_LAUNCHERS):
        return 1
    return _device_count(trainer_cfg.get("accelerator", "auto"), trainer_cfg.get("devices", "auto"))


def launch_env(processes: int, num_nodes: int) -> dict[str, str]:
    """What Lightning's launcher puts into ``os.environ`` for rank 0 (``_call_children_scripts``),
    from the same ``LightningEnvironment``: ``MASTER_ADDR`` / ``MASTER_PORT`` (the environment's,
    else 127.0.0.1 and a free port), ``NODE_RANK`` (the environment's, else 0), ``LOCAL_RANK=0``,
    ``WORLD_SIZE``."""
    environment = LightningEnvironment()
    return {"MASTER_ADDR": environment.main_address, "MASTER_PORT": str(environment.main_port),
            "NODE_RANK": str(environment.node_rank()), "LOCAL_RANK": "0",
            "WORLD_SIZE": str(processes * num_nodes)}


class _RankWatch(threading.Thread):
    """While the job runs: when one of its ranks exits with an error, the others are killed (they
    would wait in a collective), and rank 0 as well if it does not stop within the grace time."""

    def __init__(self, ranks: dict[int, subprocess.Popen], grace_s: float = RANK_FAILURE_GRACE_S):
        super().__init__(daemon=True, name="cigpose-job-ranks")
        self.ranks, self.grace_s, self.job_done = ranks, grace_s, threading.Event()

    def run(self) -> None:
        while not self.job_done.wait(POLL_S):
            failed = {rank: p.returncode for rank, p in self.ranks.items() if p.poll() not in (None, 0)}
            if failed:
                log.error("rank(s) of this job exited with an error %s: stopping the others", failed)
                _kill(self.ranks)
                if not self.job_done.wait(self.grace_s):
                    log.error("rank 0 did not stop within %.0f s of its peers: killing it", self.grace_s)
                    os.kill(os.getpid(), signal.SIGKILL)
                return


def _kill(ranks: dict[int, subprocess.Popen]) -> None:
    for process in ranks.values():
        if process.poll() is None:
            process.kill()  # SIGKILL: a rank waiting in a collective ignores SIGTERM
    for process in ranks.values():
        process.wait()


def _start_ranks(ranks: dict[int, subprocess.Popen], count: int, module: str, env: dict[str, str]) -> None:
    """Ranks 1..count-1 of this multirun job into ``ranks``, run from where the sweep started (the
    working directory Lightning's launcher gives them under Hydra)."""
    hydra_cfg = HydraConfig.get()
    for local_rank in range(1, count):
        command = job_rank_command(hydra_cfg, local_rank, module)
        log.info("rank %d of this multirun job: %s", local_rank, shlex.join(command))
        ranks[local_rank] = subprocess.Popen(command, env={**os.environ, **env, "LOCAL_RANK": str(local_rank)},
                                             cwd=str(hydra_cfg.runtime.cwd))


def _end_ranks(ranks: dict[int, subprocess.Popen], failed: bool) -> None:
    """Rank 0's job ended: kill the others if it failed, else wait for them; a rank that failed
    (or hangs) fails the job."""
    if failed:
        _kill(ranks)
        return
    try:
        for process in ranks.values():
            process.wait(timeout=RANK_EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.error("rank(s) of this job still running %.0f s after rank 0 finished: killed", RANK_EXIT_TIMEOUT_S)
        _kill(ranks)
    codes = {rank: process.returncode for rank, process in ranks.items() if process.returncode != 0}
    if codes:
        raise RuntimeError(f"rank(s) of this job exited with an error (rank: exit status): {codes}")


def _close_process_group() -> None:
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
def job_ranks(module: str, trainer_cfg: DictConfig) -> Iterator[None]:
    """Around one job: in a multirun job whose trainer Lightning would run as local DDP over N
    processes (:func:`local_processes`), rank 0 is this process (``LOCAL_RANK=0`` and the rest of
    :func:`launch_env` in ``os.environ``, so Lightning starts nothing) and ranks 1..N-1 are
    ``python -m MODULE`` + :func:`job_rank_command`, started here; at the job's end they are
    waited for (killed when it failed), the process group is closed and ``os.environ`` is as
    before. Else: nothing."""
    count = local_processes(trainer_cfg) if in_multirun() else 1  # a rank it started has LOCAL_RANK: 1
    if count <= 1:
        yield
        return
    saved = {key: os.environ.get(key) for key in LAUNCH_ENV}
    env = launch_env(count, int(trainer_cfg.get("num_nodes", 1) or 1))
    os.environ.update(env)
    ranks: dict[int, subprocess.Popen] = {}
    watch = _RankWatch(ranks)
    failed = True
    try:
        _start_ranks(ranks, count, module, env)
        watch.start()
        yield
        failed = False
    finally:
        watch.job_done.set()
        try:
            _end_ranks(ranks, failed)
        finally:
            _close_process_group()
            _restore_env(saved)
