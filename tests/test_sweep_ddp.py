"""DDP inside a multirun (``cigpose/training/ddp_sweep.py``): the command a job's rank 1 runs
(composed back by Hydra, no training), and a real 2-job sweep of 2-process CPU DDP jobs (slow)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.plugins.environments import LightningEnvironment
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cigpose.config import RANK_MARKER, register_resolvers
from cigpose.paths import config_dir
from cigpose.training import ddp_sweep
from tests.helpers import cigpose_train, wandb_run

REAL_POPEN = subprocess.Popen
SWEEP = "/tmp/a sweep, k=1/it's"
# A 2-job multirun (k_train 1, 13) of tiny 2-process CPU DDP jobs.
DDP_SWEEP = ["-m", "experiment=smoke_fixtures", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]",
             "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1", "callbacks.prediction_images=null",
             "callbacks.progress_bar=null", "data.batch_size=2", "data.num_workers=0", "model.cim.k_train=1,13",
             "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]


def job_hydra_config() -> DictConfig:
    """What ``HydraConfig.get()`` holds in job 1 of ``cigpose-train -m hparams_search=cim_k ...
    model.cim.k_train=1,13``."""
    return OmegaConf.create({
        "mode": "MULTIRUN",
        "runtime": {"output_dir": f"{SWEEP}/1", "cwd": "/work"},
        "sweep": {"dir": SWEEP, "subdir": "1"},
        "job": {"name": "train", "num": 1, "id": "1", "env_set": {}},
        "overrides": {
            # hparams_search=cim_k sets hydra.mode=MULTIRUN in its config: rank 1 must still run once
            "task": ["hparams_search=cim_k", "experiment=smoke_fixtures", "data.input_size=[64,64]",
                     "model.cim.k_train=13"],
            "hydra": [f"hydra.sweep.dir={ddp_sweep.quoted(SWEEP)}", "hydra/launcher=basic", "hydra.mode=MULTIRUN",
                      "hydra.job.chdir=false", "hydra.job.name=other"],
        },
    })


def test_rank_command_runs_the_job_once_in_its_folder() -> None:
    command = ddp_sweep.job_rank_command(job_hydra_config(), local_rank=1, module="cigpose.cli.train")
    assert command[:3] == [sys.executable, "-m", "cigpose.cli.train"]
    overrides = command[3:]
    assert "-m" not in overrides and "--multirun" not in overrides
    assert "hydra.mode=MULTIRUN" not in overrides and "hydra.job.name=other" not in overrides
    assert "hydra/launcher=basic" in overrides and "hydra.job.chdir=false" in overrides  # the job's own
    register_resolvers()  # what Hydra makes of the command line, as rank 1 would see it
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = hydra_compose("train", overrides, return_hydra_config=True)
    assert cfg.hydra.mode == RunMode.RUN
    assert cfg.model.cim.k_train == 13 and list(cfg.data.input_size) == [64, 64]  # job 1's config
    assert cfg.hydra.run.dir == f"{SWEEP}/1" and cfg.hydra.sweep.dir == SWEEP  # its folder, verbatim
    assert cfg.hydra.job.name == "train_ddp_process_1" and cfg.hydra.output_subdir is None
    assert cfg.hydra.job.num == 1 and cfg.hydra.job.id == "1"
    assert cfg.hydra.job.env_set[RANK_MARKER] == f"{SWEEP}/1"


def multirun_job(monkeypatch: pytest.MonkeyPatch, *overrides: str, mode: RunMode = RunMode.MULTIRUN) -> DictConfig:
    """The composed config of job 0 of a sweep in ``SWEEP``, with ``HydraConfig`` set as Hydra sets
    it in that job (undone after the test); no launcher variables in ``os.environ``."""
    for key in (*ddp_sweep.LAUNCH_ENV, "TORCHELASTIC_RUN_ID", "SLURM_NTASKS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # Lightning's launch would set it (and torch's threads)
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = hydra_compose("train", list(overrides), return_hydra_config=True)
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.mode = mode
        cfg.hydra.runtime.output_dir = f"{SWEEP}/0"
        cfg.hydra.runtime.cwd = "/"
        cfg.hydra.sweep.dir = SWEEP
        cfg.hydra.job.num, cfg.hydra.job.id = 0, "0"
    instance = HydraConfig.instance()
    monkeypatch.setattr(instance, "cfg", instance.cfg)  # the config before (none) comes back after the test
    instance.set_config(cfg)
    return cfg


class FakeRanks:
    """Stands in for ``subprocess.Popen`` (ours and Lightning's): records each start and runs
    ``program`` (a small python snippet) instead of the rank."""

    def __init__(self, program: str = "pass") -> None:
        self.program, self.started = program, []

    def __call__(self, command: list[str], env: dict, cwd: str | None = None) -> subprocess.Popen:
        self.started.append({"command": command, "env": env, "cwd": cwd})
        return REAL_POPEN([sys.executable, "-c", self.program])


@pytest.mark.parametrize(("overrides", "expected"), [
    (["trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"], 2),
    (["trainer.strategy=ddp_find_unused_parameters_true", "trainer.devices=3", "trainer.accelerator=cpu"], 3),
    (["trainer.devices=2", "trainer.accelerator=cpu"], 2),  # strategy auto: DDP over 2 devices
    (["+trainer.strategy._target_=lightning.pytorch.strategies.DDPStrategy", "trainer.devices=2",
      "trainer.accelerator=cpu"], 2),
    (["trainer.strategy=ddp", "trainer.devices=1", "trainer.accelerator=cpu"], 1),
    (["trainer.strategy=ddp_spawn", "trainer.devices=2", "trainer.accelerator=cpu"], 1),  # spawns, no script
    (["trainer.strategy=ddp", "trainer.devices=-1", "trainer.accelerator=cpu"], 1),  # Lightning refuses it
    (["trainer=ddp_slurm", "trainer.accelerator=cpu", "trainer.devices=2"], 1),  # SLURM's plugin starts none
])
def test_local_processes_is_what_lightning_would_start(monkeypatch: pytest.MonkeyPatch, overrides: list[str],
                                                        expected: int) -> None:
    cfg = multirun_job(monkeypatch, *overrides)
    assert ddp_sweep.local_processes(cfg.trainer) == expected


def test_no_ranks_where_a_launcher_starts_every_process(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = multirun_job(monkeypatch, "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu")
    monkeypatch.delenv("SLURM_JOB_NAME", raising=False)
    # srun (SLURMEnvironment), torchrun (TorchElasticEnvironment), a rank already (ours, any launcher's)
    for key, value in (("SLURM_NTASKS", "2"), ("TORCHELASTIC_RUN_ID", "x"), ("LOCAL_RANK", "1")):
        with monkeypatch.context() as patch:
            patch.setenv(key, value)
            assert ddp_sweep.local_processes(cfg.trainer) == 1
    assert ddp_sweep.local_processes(cfg.trainer) == 2


def test_job_ranks_starts_the_ranks_lightning_attaches_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a multirun job of 2-process CPU DDP this process is rank 0 of a trainer built inside the
    job (Lightning's public contract: LOCAL_RANK set → creates_processes_externally, no launch),
    rank 1 is the job's command with the launch variables, and afterwards os.environ is as before."""
    cfg = multirun_job(monkeypatch, "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    before = dict(os.environ)
    ranks = FakeRanks()
    monkeypatch.setattr(subprocess, "Popen", ranks)  # Lightning's launcher would call it too
    with ddp_sweep.job_ranks("cigpose.cli.train", cfg.trainer):
        assert os.environ["LOCAL_RANK"] == "0" and os.environ["WORLD_SIZE"] == "2"
        assert os.environ["NODE_RANK"] == "0" and int(os.environ["MASTER_PORT"]) > 0
        trainer = L.Trainer(strategy="ddp", devices=2, accelerator="cpu", logger=False, enable_checkpointing=False)
        assert isinstance(trainer.strategy.cluster_environment, LightningEnvironment)
        assert trainer.strategy.cluster_environment.creates_processes_externally
        assert (trainer.world_size, trainer.global_rank, trainer.local_rank) == (2, 0, 0)
        assert trainer.strategy.launcher.launch(lambda: "rank 0 ran here", trainer=trainer) == "rank 0 ran here"
        assert len(ranks.started) == 1  # ours: Lightning's launch started nothing
        (rank1,) = ranks.started
        assert rank1["command"] == ddp_sweep.job_rank_command(HydraConfig.get(), 1, "cigpose.cli.train")
        assert rank1["cwd"] == "/"
        assert {k: rank1["env"][k] for k in ddp_sweep.LAUNCH_ENV} == {
            **{k: os.environ[k] for k in ddp_sweep.LAUNCH_ENV}, "LOCAL_RANK": "1"}
    assert dict(os.environ) == before  # the next job starts its own ranks

    cfg = multirun_job(monkeypatch, "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
                       mode=RunMode.RUN)
    with ddp_sweep.job_ranks("cigpose.cli.train", cfg.trainer):  # a single run: Lightning launches
        assert "LOCAL_RANK" not in os.environ
    assert ranks.started == [rank1]


def test_job_ranks_ends_the_job_with_its_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = multirun_job(monkeypatch, "trainer.strategy=ddp", "trainer.devices=3", "trainer.accelerator=cpu")
    hanging = FakeRanks("import time; time.sleep(600)")
    monkeypatch.setattr(subprocess, "Popen", hanging)
    with pytest.raises(ValueError, match="rank 0 failed"), ddp_sweep.job_ranks("m", cfg.trainer):
        raise ValueError("rank 0 failed")
    assert len(hanging.started) == 2 and "LOCAL_RANK" not in os.environ  # killed (else: 10 min here)

    monkeypatch.setattr(subprocess, "Popen", FakeRanks("import sys; sys.exit(3)"))
    with pytest.raises(RuntimeError, match=r"\{1: 3, 2: 3\}"), ddp_sweep.job_ranks("m", cfg.trainer):
        pass  # rank 0 finished; its ranks failed: so did the job
    assert "LOCAL_RANK" not in os.environ


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_two_job_multirun_of_ddp_jobs(coco_fixtures: Path, tmp_path: Path) -> None:
    """``cigpose-train -m`` (basic launcher, Hydra's own timestamped sweep folder under the working
    directory) over k_train 1,13, each job 2 CPU processes: every job folder holds that job's
    results, one W&B run and its rank 1's log, and nothing else is written anywhere."""
    cwd, wandb_dir = tmp_path / "cwd", tmp_path / "wandb_dir"
    cwd.mkdir()
    env = {"OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_DIR": str(wandb_dir), "WANDB_SILENT": "true",
           "WANDB_DISABLE_GIT": "true"}
    sweep_command = [*DDP_SWEEP, "hydra/launcher=basic", "logger=many", "logger.wandb.offline=true"]
    result = cigpose_train(*sweep_command, cwd=cwd, env=env, timeout=600)
    # Lightning's own messages: in each job rank 0 (the sweep's process) and rank 1 (started by
    # job_ranks) joined one group of 2, and nothing else did (Lightning's launcher started nothing)
    for rank in (0, 1):
        assert result.stderr.count(f"Initializing distributed: GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2") == 2
    sweeps = list(cwd.rglob("multirun.yaml"))
    assert len(sweeps) == 1, sweeps  # one sweep: no rank started a second one
    sweep = sweeps[0].parent
    assert sweep.parent == cwd / "logs" / "smoke_fixtures" / "multiruns"
    outside = [p for p in cwd.rglob("*") if not p.is_relative_to(sweep) and p not in sweep.parents]
    assert outside == []  # no outputs/, no runs/ folder where it ran
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "multirun.yaml"]
    multirun = OmegaConf.load(sweep / "multirun.yaml")  # the sweep's own, not rewritten by a rank
    assert "model.cim.k_train=1,13" in multirun.hydra.overrides.task
    assert not any("ddp_process" in o for o in multirun.hydra.overrides.hydra)
    for job, k_train in (("0", 1), ("1", 13)):
        folder = sweep / job
        assert sorted(p.name for p in folder.iterdir()) == [
            ".hydra", "checkpoints", "csv", "metrics.json", "results", "tensorboard", "train.log",
            "train_ddp_process_1.log", "wandb", "wandb_run_id"]
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["status"] == "finished" and 0.0 <= metrics["whole_body/AP"] <= 1.0
        assert f"model.cim.k_train={k_train}" in metrics["overrides"]
        assert OmegaConf.load(folder / ".hydra" / "config.yaml").model.cim.k_train == k_train
        assert (folder / "checkpoints" / "last.ckpt").is_file()
        # rank 0 started rank 1 as this job, alone, here; rank 1 tested this job's checkpoint
        started = [line for line in (folder / "train.log").read_text().splitlines() if "rank 1 of this" in line]
        assert len(started) == 1
        argv = shlex.split(started[0].split("multirun job: ", 1)[1])
        assert argv[1:3] == ["-m", "cigpose.cli.train"] and "-m" not in argv[3:]
        assert f"model.cim.k_train={k_train}" in argv and "model.cim.k_train=1,13" not in argv
        assert "hydra.mode=RUN" in argv and f"hydra.run.dir='{folder}'" in argv
        assert str(folder / "checkpoints" / "best_epoch000.ckpt") in (folder / "train_ddp_process_1.log").read_text()
        assert len(list((folder / "csv").iterdir())) == 1  # rank 0 logs alone
        run = wandb_run(folder)  # exactly one W&B run in the folder (rank 0's), the job's own
        assert run["config"]["model"]["cim"]["k_train"] == k_train and run["exit"] == 0
        assert (folder / "wandb_run_id").read_text().strip() == run["id"]

    # Job 1 stopped before its metrics.json: the sweep's command again (its folder named) skips
    # job 0 and continues job 1 from its last.ckpt on both ranks (rank 1 counts as a sweep job).
    (sweep / "1" / "metrics.json").unlink()
    finished = (sweep / "0" / "metrics.json").stat().st_mtime_ns
    cigpose_train(*sweep_command, f"hydra.sweep.dir={sweep}", cwd=cwd, env=env, timeout=600)
    assert (sweep / "0" / "metrics.json").stat().st_mtime_ns == finished
    for job, starts in (("0", 1), ("1", 2)):  # no rank started for the finished job
        assert (sweep / job / "train.log").read_text().count("rank 1 of this multirun job") == starts
    last = sweep / "1" / "checkpoints" / "last.ckpt"
    assert json.loads((sweep / "1" / "metrics.json").read_text())["resumed_from"] == str(last)
    assert f"resuming the fit from {last}" in (sweep / "1" / "train_ddp_process_1.log").read_text()
    assert [p for p in cwd.rglob("*") if not p.is_relative_to(sweep) and p not in sweep.parents] == []
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "multirun.yaml"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_submitit_local_ddp_jobs_start_their_own_ranks(coco_fixtures: Path, tmp_path: Path) -> None:
    """Under submitit ``sys.argv`` is submitit's worker command (Lightning's rank 1 used to fail on
    it and take its job down): each job's rank 1 runs that job, in that job's folder."""
    sweep = tmp_path / "sweep"
    cigpose_train(*DDP_SWEEP, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
                  "hydra.launcher.cpus_per_task=1", f"hydra.sweep.dir={sweep}", cwd=tmp_path,
                  env={"OMP_NUM_THREADS": "1"}, timeout=600)
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep"]
    assert sorted(p.name for p in sweep.iterdir()) == [".submitit", "0", "1", "multirun.yaml"]
    for job, k_train in (("0", 1), ("1", 13)):
        folder = sweep / job
        assert f"model.cim.k_train={k_train}" in json.loads((folder / "metrics.json").read_text())["overrides"]
        assert (folder / "checkpoints" / "last.ckpt").is_file()
        assert str(folder / "checkpoints" / "best_epoch000.ckpt") in (folder / "train_ddp_process_1.log").read_text()
