"""Loggers: W&B offline (run files, run id kept in the checkpoint and reused on resume; one run
per multirun job, read back from its run file), TensorBoard event files, and ``logger=none``."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from cigpose.config import compose
from cigpose.training.run import build
from tests.test_train import cigpose_train

TINY = ["experiment=smoke_fixtures", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]",
        "test=false", "trainer.check_val_every_n_epoch=1", "logger=many",
        "logger.wandb.offline=true"]


@pytest.fixture(scope="module")
def logged_run(coco_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("loggers")
    run_dir = work / "run"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(work / "wandb_dir"),
           "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
    cigpose_train(*TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", cwd=work, env=env)
    cigpose_train(*TINY, "trainer.max_epochs=2", "ckpt_path=last", f"hydra.run.dir={run_dir}",
                  cwd=work, env=env)
    return run_dir


def test_wandb_offline_run_and_id_reused_on_resume(logged_run: Path) -> None:
    runs = sorted((logged_run / "wandb").glob("offline-run-*"))
    assert len(runs) == 2, runs  # one per invocation
    run_id = torch.load(logged_run / "checkpoints" / "last.ckpt", map_location="cpu",
                        weights_only=False)["wandb_run_id"]
    assert run_id and (logged_run / "wandb_run_id").read_text().strip() == run_id
    for run in runs:
        assert run.name.endswith(f"-{run_id}")  # the resumed invocation continues the same run
        assert list(run.glob(f"run-{run_id}.wandb"))
        assert (run / "files").is_dir()


def test_tensorboard_event_file_has_scalars(logged_run: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = sorted((logged_run / "tensorboard").rglob("events.out.tfevents.*"))
    assert events
    tags = set()
    for event in events:
        accumulator = EventAccumulator(str(event))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    assert {"loss/total", "val/whole_body/AP"} <= tags


def test_csv_logger_runs_alongside(logged_run: Path) -> None:
    assert (logged_run / "csv" / "version_0" / "metrics.csv").is_file()
    assert (logged_run / "csv" / "version_1" / "metrics.csv").is_file()  # the resumed one


def test_logger_none_builds_a_trainer_without_loggers(tmp_path: Path) -> None:
    cfg = compose("train", ["experiment=smoke_fixtures", "logger=none",
                            f"paths.output_dir={tmp_path}"])
    _, _, trainer = build(cfg)
    assert trainer.loggers == []
    cfg = compose("train", ["experiment=smoke_fixtures", "logger=tensorboard",
                            f"paths.output_dir={tmp_path}"])
    _, _, trainer = build(cfg)
    assert [type(lg).__name__ for lg in trainer.loggers] == ["TensorBoardLogger"]


def wandb_records(run_file: Path) -> list:
    """The protobuf records of an offline W&B run file (``run-<id>.wandb``): a ``:W&B`` header,
    then a LevelDB-style log of 32 KiB blocks whose chunks (CRC, length, type) carry records."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", run_file
    block, position, pending, records = 32768, 7, b"", []
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a chunk header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wandb_run(run_dir: Path) -> dict:
    """Name, group, config and logged metric keys of the one offline W&B run under ``run_dir``."""
    runs = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    out: dict = {"config": {}, "metrics": set(), "exit": None}
    for record in wandb_records(runs[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out.update(name=record.run.display_name, group=record.run.run_group, id=record.run.run_id)
            out["config"].update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            out["metrics"] |= {i.key or "/".join(i.nested_key) for i in record.history.item}
        elif kind == "exit":
            out["exit"] = record.exit.exit_code
    return out


@pytest.mark.parametrize("launcher", ["basic", "submitit_local"])
def test_every_multirun_job_is_its_own_wandb_run(launcher: str, coco_fixtures: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb_dir"), "WANDB_SILENT": "true",
           "WANDB_DISABLE_GIT": "true", "OMP_NUM_THREADS": "1"}
    extra = ["hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"] if launcher == "submitit_local" else []
    cigpose_train("-m", f"hydra/launcher={launcher}", "experiment=smoke_fixtures", "data.input_size=[64,64]",
                  "data.sigma=[1.2,1.4]", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
                  "callbacks.prediction_images=null", "logger=wandb", "logger.wandb.offline=true",
                  "model.cim.k_train=1,13", *extra, f"hydra.sweep.dir={sweep}", cwd=tmp_path, env=env)
    runs = [wandb_run(sweep / job) for job in ("0", "1")]
    assert runs[0]["id"] != runs[1]["id"]
    for run, k_train in zip(runs, (1, 13), strict=True):
        assert run["config"]["model"]["cim"]["k_train"] == k_train  # the job's own resolved config
        assert f"model.cim.k_train={k_train}" in run["name"]  # named by its overrides
        assert run["group"] == str(sweep)  # the sweep groups them
        assert {"loss/total", "val/whole_body/AP", "test/whole_body/AP"} <= run["metrics"]
        assert run["exit"] == 0  # finished when its job ended
