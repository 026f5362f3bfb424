"""``ckpt_path=last`` continues a run: 2 epochs + resume to 4 against 4 epochs straight (CPU,
deterministic, no loader workers; in-process ``train(cfg)`` — the resume across real processes
is tests/test_faults.py's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cigpose.training.outputs import resolve_ckpt_path
from tests.helpers import TINY, csv_rows, load_checkpoint, train_in_process


@pytest.fixture(scope="module")
def runs(coco_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("resume")
    straight, resumed = work / "straight", work / "resumed"
    train_in_process(*TINY, "trainer.max_epochs=4", output_dir=straight)
    train_in_process(*TINY, "trainer.max_epochs=2", output_dir=resumed)
    first_half = load_checkpoint(resumed / "checkpoints" / "last.ckpt")
    train_in_process(*TINY, "trainer.max_epochs=4", "ckpt_path=last", output_dir=resumed)
    return {"straight": straight, "resumed": resumed, "first_half": first_half}


def test_last_checkpoint_is_written_every_epoch_and_continued(runs: dict) -> None:
    first_half = runs["first_half"]
    assert (first_half["epoch"], first_half["global_step"]) == (1, 2)  # no validation yet
    a = load_checkpoint(runs["straight"] / "checkpoints" / "last.ckpt")
    b = load_checkpoint(runs["resumed"] / "checkpoints" / "last.ckpt")
    # the last epoch (3) comes after the last validation (2): last.ckpt must still hold it
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"]) == (3, 4)
    assert a["lr_schedulers"] == b["lr_schedulers"]
    assert a["lr_schedulers"][0]["last_epoch"] == 4
    assert a["PoseDataModule"] == b["PoseDataModule"] == {"stage": 2}
    assert int(a["state_dict"]["ema.steps"]) == int(b["state_dict"]["ema.steps"]) == 4
    steps_a = [s["step"] for s in a["optimizer_states"][0]["state"].values()]
    steps_b = [s["step"] for s in b["optimizer_states"][0]["state"].values()]
    assert steps_a == steps_b and float(steps_a[0]) == 4
    # the second invocation trained epochs 2 and 3 only, logged into a new CSV version (then the
    # final weights were validated after the fit: Lightning counts that row as epoch 4)
    rows = csv_rows(runs["resumed"], 1)
    assert {int(r["epoch"]) for r in rows if r.get("loss/kpt_epoch")} == {2, 3}
    assert {int(r["epoch"]) for r in rows if r.get("val/whole_body/AP")} == {2, 4}


def test_resume_is_bitwise_exact(runs: dict) -> None:
    # needs: last.ckpt every epoch, the stage/epoch applied after Lightning restores the loops,
    # and a (seed, epoch) shuffle order independent of torch's global generator
    a = load_checkpoint(runs["straight"] / "checkpoints" / "last.ckpt")
    b = load_checkpoint(runs["resumed"] / "checkpoints" / "last.ckpt")
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:  # live (net.*) and EMA (ema.module.*) weights and buffers
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for index, state in a["optimizer_states"][0]["state"].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(b["optimizer_states"][0]["state"][index][name]))


def test_resolve_ckpt_path(tmp_path: Path) -> None:
    assert resolve_ckpt_path(None, tmp_path) is None
    assert resolve_ckpt_path("last", tmp_path) is None  # nothing saved yet: a fresh start
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert resolve_ckpt_path("last", tmp_path) == str(tmp_path / "checkpoints" / "last.ckpt")
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        resolve_ckpt_path(str(tmp_path / "nope.ckpt"), tmp_path)
