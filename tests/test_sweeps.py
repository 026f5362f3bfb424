"""Real 2-job multiruns (basic and submitit_local launchers) with a W&B run per job,
``cigpose-sweep-table``, and a
3-job sweep killed (SIGKILL) midway whose rerun skips the finished job, resumes the stopped one
from its own checkpoint and runs the rest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from hydra import compose as hydra_compose
from hydra import initialize_config_dir

from cigpose.config import register_resolvers
from cigpose.paths import config_dir
from tests.helpers import ENV, cigpose_train, script, start, wait_for, wandb_run

TINY = ["experiment=smoke_fixtures", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]",
        "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
        "callbacks.prediction_images=null", "model.cim.k_train=1,13"]


def sweep_table(sweep_dir: Path) -> list[list[str]]:
    result = subprocess.run([*script("cigpose-sweep-table"), str(sweep_dir)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def check_sweep(sweep_dir: Path) -> None:
    """Both jobs finished with their own override and the table lists each with its metrics."""
    metrics = {job: json.loads((sweep_dir / job / "metrics.json").read_text()) for job in ("0", "1")}
    for job, k_train in (("0", 1), ("1", 13)):
        assert metrics[job]["status"] == "finished"
        assert f"model.cim.k_train={k_train}" in metrics[job]["overrides"]
    header, rule, *rows = sweep_table(sweep_dir)
    assert header[:2] == ["job", "model.cim.k_train"] and "whole_body/AP" in header
    assert set(rule) == {"---"}
    assert [row[:2] for row in rows] == [["0", "1"], ["1", "13"]]
    column = header.index("whole_body/AP")
    for row in rows:  # the table shows each job's own value, to its 4 decimals
        assert row[column] == f"{metrics[row[0]]['whole_body/AP']:.4f}"


@pytest.mark.parametrize("launcher", ["basic", "submitit_local"])
def test_two_job_multirun_is_tabulated_and_each_job_is_its_own_wandb_run(
        launcher: str, coco_fixtures: Path, tmp_path: Path) -> None:
    """A real 2-job multirun (``model.cim.k_train=1,13``) per launcher, logging to W&B offline:
    ``cigpose-sweep-table`` lists both jobs, and each job is its own W&B run with its resolved
    config, named by its overrides and grouped by the sweep."""
    sweep_dir = tmp_path / "sweep"
    extra = ["hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"] \
        if launcher == "submitit_local" else []
    # submitit_local runs both jobs at once: one thread each, or they thrash on 2 cores
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb_dir"), "WANDB_SILENT": "true",
           "WANDB_DISABLE_GIT": "true", "OMP_NUM_THREADS": "1"}
    cigpose_train("-m", f"hydra/launcher={launcher}", *TINY, "logger=wandb", "logger.wandb.offline=true",
                  *extra, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, env=env)
    if launcher == "submitit_local":
        assert len(list((sweep_dir / ".submitit").glob("*/*_result.pkl"))) == 2
    check_sweep(sweep_dir)
    runs = [wandb_run(sweep_dir / job) for job in ("0", "1")]
    assert runs[0]["id"] != runs[1]["id"]
    for run, k_train in zip(runs, (1, 13), strict=True):
        assert run["config"]["model"]["cim"]["k_train"] == k_train  # the job's own resolved config
        assert f"model.cim.k_train={k_train}" in run["name"]  # named by its overrides
        assert run["group"] == str(sweep_dir)  # the sweep groups them
        assert {"loss/total", "val/whole_body/AP", "test/whole_body/AP"} <= run["metrics"]
        assert run["exit"] == 0  # finished when its job ended


def test_sweep_table_without_jobs_fails_clearly(tmp_path: Path) -> None:
    result = subprocess.run([*script("cigpose-sweep-table"), str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "no job found" in result.stderr


@pytest.mark.parametrize(("search", "key", "values"), [
    ("cim_k", "model.cim.k_train", "7,13,20"),
    ("consistency_lambda", "module.loss.consistency_weight", "0,0.01,0.1,0.5"),
    ("cim_strategy", "experiment", "table9_threshold-0.5,table9_threshold-0.7,table9_topk-7,"
                                   "table9_topk-13,table9_topk-20"),
])
def test_hparams_search_configs_compose(search: str, key: str, values: str) -> None:
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        cfg = hydra_compose("train", [f"hparams_search={search}"], return_hydra_config=True)
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert dict(cfg.hydra.sweeper.params) == {key: values}
    assert cfg.hydra.sweeper._target_.endswith("BasicSweeper")
    for value in values.split(","):  # every swept value composes into a valid job config
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
            hydra_compose("train", [f"{key}={value}"])


def test_a_killed_sweep_resumes_where_it_stopped(coco_fixtures: Path, tmp_path: Path) -> None:
    """Jobs 0 1 2 (basic launcher, one process): job 1 pauses at its second epoch and the whole
    sweep is SIGKILLed there. The same command again: job 0 is not rerun (files untouched), job 1
    continues from its last.ckpt, job 2 runs; the table lists all three as finished."""
    sweep, marker = tmp_path / "sweep", tmp_path / "paused.json"
    argv = [*script("cigpose-train"), "-m", "experiment=smoke_fixtures", "data.input_size=[64,64]",
            "data.sigma=[1.2,1.4]",
            "data.batch_size=4", "data.num_workers=0", "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=1",
            "test=false", "callbacks.prediction_images=null", "callbacks.progress_bar=null",
            "+callbacks.pause._target_=tests.fault_callbacks.PauseAt", "+callbacks.pause.batch=0",
            "+callbacks.pause.epoch=9,1,9",  # only job 1 (epoch 1 exists) pauses: at its second epoch
            f"+callbacks.pause.marker={marker}", "+callbacks.pause.until=kill", "+callbacks.pause.once=true",
            f"hydra.sweep.dir={sweep}"]
    process = start(argv, tmp_path)
    wait_for(marker, process)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert (sweep / "0" / "metrics.json").is_file() and not (sweep / "1" / "metrics.json").exists()
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file() and not (sweep / "2").exists()
    stopped = {row[0]: row for row in sweep_table(sweep)[2:]}
    assert stopped["0"][2] == "finished" and stopped["1"][2].startswith("stopped: ")
    job0 = {p: p.stat().st_mtime_ns for p in (sweep / "0").rglob("*")  # Hydra rewrites .hydra/ and the log
            if p.is_file() and p.suffix != ".log" and ".hydra" not in p.parts}
    assert any(p.suffix == ".ckpt" for p in job0) and any(p.name == "metrics.json" for p in job0)

    rerun = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                           env={**os.environ, **ENV})
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in job0} == job0  # job 0: nothing rewritten
    resumed = json.loads((sweep / "1" / "metrics.json").read_text())
    assert resumed["status"] == "finished" and resumed["resumed_from"].endswith("last.ckpt")
    assert resumed["evaluated"]["val"]["epochs"] == 2  # both epochs, the second after the resume
    assert json.loads((sweep / "2" / "metrics.json").read_text())["resumed_from"] is None
    header, _, *rows = sweep_table(sweep)
    assert header[:3] == ["job", "+callbacks.pause.epoch", "state"]
    assert [row[2] for row in rows] == ["finished", "finished (resumed)", "finished"]


def test_a_finished_job_of_other_overrides_is_not_taken_for_this_one(tmp_path: Path) -> None:
    from cigpose.training.outputs import finished_metrics

    (tmp_path / "metrics.json").write_text(json.dumps(
        {"status": "finished", "overrides": ["model.cim.k_train=7", "seed=1"], "logged": {"val/AP": 0.5}}))
    assert finished_metrics(tmp_path, ["seed=1", "model.cim.k_train=7"]) == {"val/AP": 0.5}  # order-free
    assert finished_metrics(tmp_path) == {"val/AP": 0.5}
    with pytest.raises(ValueError, match="other overrides .*model.cim.k_train=7.*own hydra.sweep.dir"):
        finished_metrics(tmp_path, ["model.cim.k_train=13", "seed=1"])
