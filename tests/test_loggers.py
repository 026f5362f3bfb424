"""Loggers: W&B offline (run files, run id kept in the checkpoint and reused on resume), TensorBoard
event files, and ``logger=none``. One W&B run per multirun job: ``tests/test_sweeps.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cigpose.config import compose
from cigpose.training.run import build
from tests.helpers import train_in_process

TINY = ["experiment=smoke_fixtures", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]",
        "test=false", "trainer.check_val_every_n_epoch=1", "logger=many",
        "logger.wandb.offline=true"]


@pytest.fixture(scope="module")
def logged_run(coco_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("loggers")
    run_dir = work / "run"
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(work / "wandb_dir"),
           "WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true"}
    with pytest.MonkeyPatch.context() as patch:  # two runs in this process, as two invocations would be
        for key, value in env.items():
            patch.setenv(key, value)
        train_in_process(*TINY, "trainer.max_epochs=1", output_dir=run_dir)
        train_in_process(*TINY, "trainer.max_epochs=2", "ckpt_path=last", output_dir=run_dir)
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
