"""Faults provoked for real — SIGKILL, SIGTERM/SIGUSR1, broken image files, NaN losses, pickled
code, unwritable and full disks — lose nothing and stop nothing.

The runs are real ``cigpose-train`` processes on the COCO fixtures (64x64 crops, batch 4: three
steps per epoch, deterministic on CPU). Test-only callbacks from ``tests/fault_callbacks.py`` put
a fault at a chosen batch (the repository goes on ``PYTHONPATH``). Covered elsewhere and not
repeated here: a small split where every image is unreadable (``test_datasets.py::
test_every_image_unreadable_raises_clear_error``), the bad-annotation cases of the data issue
(``test_datasets.py``), pickled code refused by ``convert()`` (``test_convert.py``) and every
out-of-range config value (``test_experiment_configs.py::test_bad_values_fail_naming_the_key``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from cigpose.checkpoint import CheckpointError, safe_load, save_atomic
from cigpose.codec.simcc import SimCCCodec
from cigpose.data.annotations import load_gt_instances
from cigpose.data.dataset import MAX_UNREADABLE_BEFORE_ANY_READABLE, TopDownDataset
from cigpose.data.transforms import Compose, EncodeTargets
from cigpose.evaluation.results import write_results
from cigpose.training.outputs import resolve_ckpt_path, write_metrics
from tests.helpers import ENV, cigpose_train, csv_rows, log_tail, pause_at, script, start, wait_for

TRAIN = script("cigpose-train")
STEPS_PER_EPOCH = 3  # 12 labelled fixture people, batch 4
TINY = ["experiment=smoke_fixtures", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]", "data.batch_size=4",
        "trainer.deterministic=true", "data.num_workers=0", "data.stage2_epoch=1", "trainer.max_epochs=2",
        "trainer.check_val_every_n_epoch=100", "test=false", "callbacks.prediction_images=null",
        "callbacks.progress_bar=null"]


# ------------------------------------------------------------------------------------ helpers
def run_failing(argv: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **ENV})
    assert result.returncode != 0, result.stdout[-2000:]
    return result


def assert_same_training_state(a: dict, b: dict) -> None:
    """Bitwise: live and EMA weights and buffers, optimiser moments, step counters."""
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    for index, state in a["optimizer_states"][0]["state"].items():
        for name, value in state.items():
            other = b["optimizer_states"][0]["state"][index][name]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (index, name)
    assert a["lr_schedulers"] == b["lr_schedulers"]


def all_finite(checkpoint: dict) -> bool:
    return all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """A folder nobody may write to: mode 0500, or for root (which ignores modes) the ext4
    immutable attribute; skips where neither works."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("running as root (modes are ignored) and `chattr +i` is not available on this filesystem")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


# --------------------------------------------------------------- runs shared by several tests
@pytest.fixture(scope="module")
def straight(coco_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run: 2 epochs of 3 steps (no validation: it only reads the weights)."""
    work = tmp_path_factory.mktemp("straight")
    cigpose_train(*TINY, f"hydra.run.dir={work / 'run'}", cwd=work, env=ENV)
    return work / "run"


@pytest.fixture(scope="module")
def sigterm_run(coco_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """SIGTERM from outside while the run waits at epoch 1, batch 1; then ``ckpt_path=last``."""
    work = tmp_path_factory.mktemp("sigterm")
    run, marker = work / "run", work / "paused.json"
    process = start([*TRAIN, *TINY, "test=true", f"hydra.run.dir={run}", *pause_at(1, 1, marker)], work)
    paused = wait_for(marker, process)
    os.kill(process.pid, signal.SIGTERM)
    returncode = process.wait(timeout=600)
    log = log_tail(work)
    preempted = safe_load(run / "checkpoints" / "last.ckpt")
    metrics = json.loads((run / "metrics.json").read_text())
    results_after_stop = sorted(p.name for p in (run / "results").glob("*.json")) if (run / "results").exists() else []
    cigpose_train(*TINY, "ckpt_path=last", f"hydra.run.dir={run}", cwd=work, env=ENV)
    return {"run": run, "returncode": returncode, "log": log, "paused": paused, "preempted": preempted,
            "metrics": metrics, "results": results_after_stop}


# ------------------------------------------------------------------------------- pre-emption
def test_sigterm_saves_mid_epoch_exits_cleanly_and_resumes(sigterm_run: dict) -> None:
    assert sigterm_run["returncode"] == 0, sigterm_run["log"]
    assert sigterm_run["paused"]["global_step"] == STEPS_PER_EPOCH + 1  # paused before epoch 1, batch 1
    checkpoint = sigterm_run["preempted"]
    # signalled during batch 1: saved when batch 2 started, everything of batch 1 done
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (1, STEPS_PER_EPOCH + 2)
    assert checkpoint["global_step"] % STEPS_PER_EPOCH != 0  # mid-epoch
    assert checkpoint["PoseDataModule"]["resume"] == {"epoch": 1, "samples": 2 * 4}
    assert int(checkpoint["state_dict"]["ema.steps"]) == STEPS_PER_EPOCH + 2  # the EMA saw batch 1 too
    log = (sigterm_run["run"] / "train.log").read_text()
    assert "received SIGTERM: saved" in log and "pre-empted: no test" in log
    assert not any(k.startswith("test/") for k in sigterm_run["metrics"]["logged"])  # test=true, yet no test
    assert "test.json" not in sigterm_run["results"]
    final = safe_load(sigterm_run["run"] / "checkpoints" / "last.ckpt")
    assert (final["epoch"], final["global_step"]) == (1, 2 * STEPS_PER_EPOCH)  # the run finished
    assert "resume" not in final["PoseDataModule"]


@pytest.mark.slow
def test_sigterm_resume_equals_the_uninterrupted_run(sigterm_run: dict, straight: Path) -> None:
    # the resumed epoch skips the batches trained before the signal: nothing is seen twice
    a = safe_load(straight / "checkpoints" / "last.ckpt")
    b = safe_load(sigterm_run["run"] / "checkpoints" / "last.ckpt")
    assert_same_training_state(a, b)


@pytest.mark.slow
def test_sigusr1_saves_then_hands_over_to_the_requeue_handler_and_requeued_job_resumes(
    coco_fixtures: Path, tmp_path: Path, straight: Path
) -> None:
    # a submitit-like SIGUSR1 handler is installed before cigpose-train; it must run after
    # last.ckpt is on disk. The "requeued job" reruns the same command line with
    # SLURM_RESTART_COUNT=1 and no ckpt_path, as SLURM does.
    run, marker, record = tmp_path / "run", tmp_path / "paused.json", tmp_path / "requeue.json"
    last = run / "checkpoints" / "last.ckpt"
    argv = [sys.executable, "-m", "tests.fault_callbacks", *TINY, f"hydra.run.dir={run}"]
    env = {"FAULT_LAST_CKPT": str(last), "FAULT_REQUEUE_RECORD": str(record)}
    process = start([*argv, *pause_at(0, 1, marker)], tmp_path, env)
    wait_for(marker, process)
    os.kill(process.pid, signal.SIGUSR1)
    assert process.wait(timeout=600) == 0, log_tail(tmp_path)
    assert json.loads(record.read_text()) == {"signal": "SIGUSR1", "last_exists": True, "global_step": 2}
    assert safe_load(last)["global_step"] == 2
    requeued = subprocess.run([*argv], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              env={**os.environ, **ENV, **env, "SLURM_RESTART_COUNT": "1"})
    assert requeued.returncode == 0, requeued.stderr[-3000:]
    assert "requeued SLURM job (SLURM_RESTART_COUNT=1): ckpt_path=last" in (run / "train.log").read_text()
    assert_same_training_state(safe_load(straight / "checkpoints" / "last.ckpt"), safe_load(last))


@pytest.mark.slow
def test_sigterm_to_one_ddp_rank_stops_every_rank_at_the_same_batch(coco_fixtures: Path, tmp_path: Path) -> None:
    # 2 CPU processes, 3 batches of 2 per rank and epoch; only rank 0 gets the signal (paused at
    # epoch 1, batch 0); the ranks agree every 2nd batch, so both stop when batch 2 starts
    run, marker = tmp_path / "run", tmp_path / "paused.json"
    ddp = ["data.batch_size=2", "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu",
           "callbacks.preemption.sync_every_n_batches=2", "test=true"]
    pause = [*pause_at(1, 0, marker), "+callbacks.pause.rank=0"]
    process = start([*TRAIN, *TINY, *ddp, f"hydra.run.dir={run}", *pause], tmp_path)
    wait_for(marker, process)
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=600) == 0, log_tail(tmp_path)
    checkpoint = safe_load(run / "checkpoints" / "last.ckpt")
    assert (checkpoint["epoch"], checkpoint["global_step"]) == (1, STEPS_PER_EPOCH + 2)
    log = (tmp_path / "process.log").read_text()  # both ranks' console
    assert log.count("received SIGTERM: saved") == 1 and log.count("received a signal on another rank") == 1
    assert log.count("pre-empted: no test") == 2 and "Traceback" not in log


def test_requeued_slurm_job_resumes_from_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert resolve_ckpt_path(None, tmp_path) is None  # a first start starts fresh
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert resolve_ckpt_path(None, tmp_path) is None
    monkeypatch.setenv("SLURM_RESTART_COUNT", "2")
    assert resolve_ckpt_path(None, tmp_path) == str(tmp_path / "checkpoints" / "last.ckpt")
    assert resolve_ckpt_path(None, tmp_path / "never_saved") is None  # requeued before any save


# ---------------------------------------------------------------------------------- SIGKILL
def test_sigkill_mid_epoch_then_resume_equals_the_uninterrupted_run(
    coco_fixtures: Path, tmp_path: Path, straight: Path
) -> None:
    run, marker = tmp_path / "run", tmp_path / "paused.json"
    process = start([*TRAIN, *TINY, f"hydra.run.dir={run}", *pause_at(1, 1, marker, until="kill")], tmp_path)
    wait_for(marker, process)  # epoch 1 half done: weights in memory are past last.ckpt
    process.kill()
    assert process.wait(timeout=60) == -signal.SIGKILL
    survived = safe_load(run / "checkpoints" / "last.ckpt")  # atomic: always loadable
    assert (survived["epoch"], survived["global_step"]) == (0, STEPS_PER_EPOCH)
    cigpose_train(*TINY, "ckpt_path=last", f"hydra.run.dir={run}", cwd=tmp_path, env=ENV)
    last = "checkpoints/last.ckpt"
    assert_same_training_state(safe_load(straight / last), safe_load(run / last))
    a, b = (json.loads((r / "metrics.json").read_text())["logged"] for r in (straight, run))
    assert "loss/kpt_epoch" in a and a == b  # the last epoch's losses, accuracy, learning rates


WRITER = """
import sys, torch
from cigpose.checkpoint import save_atomic
save_atomic({"state_dict": {f"w{i}": torch.full((1024, 1024), float(i)) for i in range(64)}}, sys.argv[1])
"""


def test_sigkill_during_a_save_leaves_the_previous_checkpoint_intact(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    save_atomic({"state_dict": {"w": torch.arange(10.0)}, "global_step": 7}, path)
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env={**os.environ, **ENV})
    deadline = time.monotonic() + 300
    while not any(p.stat().st_size > 0 for p in tmp_path.glob(".last.ckpt.*.tmp")):  # 256 MB going out
        assert writer.poll() is None and time.monotonic() < deadline, "the writer never started writing"
        time.sleep(0.001)
    writer.kill()
    assert writer.wait() == -signal.SIGKILL
    kept = safe_load(path)
    assert kept["global_step"] == 7 and torch.equal(kept["state_dict"]["w"], torch.arange(10.0))
    torn = list(tmp_path.glob(".last.ckpt.*.tmp"))
    assert len(torn) == 1 and torn[0].stat().st_size < 256 * 2**20
    save_atomic({"global_step": 8}, path)  # the next save clears the torn leftover
    assert safe_load(path)["global_step"] == 8 and not list(tmp_path.glob(".last.ckpt.*.tmp"))


# ---------------------------------------------------------------------------------- bad data
BROKEN_KINDS = ("missing", "empty", "truncated", "text", "noise", "folder", "dangling", "png_header")


def write_broken(folder: Path, name: str, kind: str, jpeg: bytes, rng: np.random.Generator) -> None:
    path = folder / name
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(jpeg[: len(jpeg) // 2])
    elif kind == "text":
        path.write_text("not an image\n")
    elif kind == "noise":
        path.write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    elif kind == "folder":
        path.mkdir()
    elif kind == "dangling":
        path.symlink_to(folder / "nowhere" / name)
    elif kind == "png_header":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)


def broken_split(root: Path, fixtures: Path, broken: int, good: bool = True) -> Path:
    """A COCO-WholeBody split in ``root``: the fixtures' 4 images (12 labelled people) unless
    ``good`` is false, plus ``broken`` images of every broken kind, one labelled person each."""
    data = json.loads((fixtures / "test_coco_wholebody.json").read_text())
    images, annotations = (data["images"], data["annotations"]) if good else ([], [])
    for image in images:
        (root / image["file_name"]).symlink_to(fixtures / image["file_name"])
    person = next(a for a in data["annotations"] if a["image_id"] == 785 and not a.get("iscrowd"))
    jpeg = (fixtures / "000000000785.jpg").read_bytes()
    rng = np.random.default_rng(0)
    folder = root / "broken"
    folder.mkdir()
    for i in range(broken):
        kind = BROKEN_KINDS[i % len(BROKEN_KINDS)]
        name = f"{i:05d}_{kind}.{'png' if kind == 'png_header' else 'jpg'}"
        write_broken(folder, name, kind, jpeg, rng)
        image_id = 10_000_000 + i
        images = [*images, {"id": image_id, "file_name": f"broken/{name}", "width": 640, "height": 425}]
        annotations = [*annotations, {**person, "id": 20_000_000 + i, "image_id": image_id}]
    path = root / "split.json"
    path.write_text(json.dumps({**data, "images": images, "annotations": annotations}))
    return path


def tiny_train_dataset(ann: Path) -> TopDownDataset:
    instances = load_gt_instances(ann, ann.parent, 133, need_keypoints=True)
    codec = SimCCCodec((64, 64), (1.2, 1.4), 2.0)
    return TopDownDataset(instances, (64, 64), EncodeTargets(codec), {1: (Compose([]), Compose([]))}, train=True)


def test_thousands_of_broken_files_do_not_stop_a_training_epoch(coco_fixtures: Path, tmp_path: Path) -> None:
    dataset = tiny_train_dataset(broken_split(tmp_path, coco_fixtures, 2000))
    assert len(dataset) == 2012
    good_images = {785, 40083, 196141, 197388}
    seen, resampled = 0, 0
    for batch in DataLoader(dataset, batch_size=256, shuffle=True, num_workers=0):
        assert batch["valid"].all() and set(batch["image_id"].tolist()) <= good_images
        seen += len(batch["image_id"])
        resampled += int(batch["resampled"].sum())
    assert seen == 2012
    assert dataset.unreadable == 2000  # every broken file read once: known-bad ones are not retried
    assert resampled >= 2000  # each broken sample replaced, every replacement counted


def test_every_file_broken_stops_with_a_clear_error_not_a_loop(coco_fixtures: Path, tmp_path: Path) -> None:
    # the small all-bad split: test_datasets.py::test_every_image_unreadable_raises_clear_error
    dataset = tiny_train_dataset(broken_split(tmp_path, coco_fixtures, 2000, good=False))
    with pytest.raises(RuntimeError, match="no readable one was found.*is the image folder right"):
        dataset[0]
    assert dataset.unreadable == MAX_UNREADABLE_BEFORE_ANY_READABLE


@pytest.mark.slow
def test_training_on_thousands_of_broken_files_logs_skips_per_epoch(coco_fixtures: Path, tmp_path: Path) -> None:
    ann = broken_split(tmp_path, coco_fixtures, 2000)
    source = f"data.train.sources=[{{ann_file:'{ann}',image_root:'{tmp_path}'}}]"
    run = tmp_path / "run"
    cigpose_train(*TINY, source, "+trainer.limit_train_batches=3", f"hydra.run.dir={run}", cwd=tmp_path, env=ENV)
    skips = {int(r["epoch"]): float(r["data/resampled_unreadable"]) for r in csv_rows(run, version=None)
             if r.get("data/resampled_unreadable")}
    assert sorted(skips) == [0, 1] and all(v >= 1 for v in skips.values()), skips
    assert safe_load(run / "checkpoints" / "last.ckpt")["global_step"] == 6


@pytest.mark.slow
def test_training_where_every_file_is_broken_fails_with_a_clear_error(coco_fixtures: Path, tmp_path: Path) -> None:
    ann = broken_split(tmp_path, coco_fixtures, 2000, good=False)
    source = f"data.train.sources=[{{ann_file:'{ann}',image_root:'{tmp_path}'}}]"
    result = run_failing([*TRAIN, *TINY, source, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert "no readable one was found" in result.stderr and "is the image folder right" in result.stderr


# ---------------------------------------------------------------------------- NaN / Inf loss
@pytest.mark.slow
def test_nonfinite_losses_are_skipped_counted_and_repeated_ones_stop_the_run(
    coco_fixtures: Path, tmp_path: Path
) -> None:
    # epoch 0 batch 1: NaN targets (one bad step); epoch 1 batch 1: NaN weights (every step bad)
    run = tmp_path / "run"
    poison = ["+callbacks.poison._target_=tests.fault_callbacks.PoisonAt", "+callbacks.poison.nan_targets=[[0,1]]",
              "+callbacks.poison.nan_weights=[1,1]", "module.max_nonfinite_steps=2"]
    result = run_failing([*TRAIN, *TINY, *poison, f"hydra.run.dir={run}"], tmp_path)
    assert "FloatingPointError" in result.stderr
    assert "NaN/Inf for 2 consecutive steps" in result.stderr and "module.max_nonfinite_steps=2" in result.stderr
    log = (run / "train.log").read_text()
    assert "non-finite loss at global step" in log and "(1 so far, 1 in a row)" in log
    assert "(3 so far, 2 in a row)" in log
    rows = csv_rows(run, version=None)
    counted = {int(r["step"]): float(r["fault/nonfinite_steps"]) for r in rows if r.get("fault/nonfinite_steps")}
    assert counted[1] == 1.0 and counted[4] == 2.0  # logged at the faulty steps (Lightning repeats it after)
    assert np.isfinite([float(r["loss/kpt_step"]) for r in rows if r.get("loss/kpt_step")]).all()
    kept = safe_load(run / "checkpoints" / "last.ckpt")  # the last good one: end of epoch 0
    assert (kept["epoch"], kept["global_step"]) == (0, STEPS_PER_EPOCH) and all_finite(kept)


# ----------------------------------------------------------------------------- unsafe inputs
class Payload:
    """Unpickling this runs a shell command (it creates ``marker``)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil_checkpoint(tmp_path: Path) -> tuple[Path, Path]:
    marker, path = tmp_path / "pwned", tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"net.w": torch.zeros(1)}, "model": {}, "extra": Payload(marker)}, path)
    torch.load(path, weights_only=False)  # the payload is live: a plain load runs it
    assert marker.exists()
    marker.unlink()
    return path, marker


def test_pickled_code_is_refused_by_safe_load(evil_checkpoint: tuple[Path, Path]) -> None:
    path, marker = evil_checkpoint
    with pytest.raises(CheckpointError, match=r"refusing to load .*evil\.ckpt.*could run code"):
        safe_load(path)
    assert not marker.exists()


@pytest.mark.parametrize("tool", ["train_resume", "convert", pytest.param("train_init_from", marks=pytest.mark.slow),
                                  pytest.param("eval", marks=pytest.mark.slow)])
def test_pickled_code_is_refused_by_every_tool(
    tool: str, evil_checkpoint: tuple[Path, Path], coco_fixtures: Path, tmp_path: Path
) -> None:
    path, marker = evil_checkpoint
    run = f"hydra.run.dir={tmp_path / 'run'}"
    argv = {
        "train_resume": [*TRAIN, *TINY, f"ckpt_path={path}", run],
        "train_init_from": [*TRAIN, *TINY, f"model.init_from={path}", run],
        "eval": [*script("cigpose-eval"), "experiment=smoke_fixtures", f"ckpt={path}", run],
        "convert": [*script("cigpose-convert"), str(path), str(tmp_path / "out.pt")],
    }[tool]
    result = run_failing(argv, tmp_path)
    assert "refusing to load" in result.stderr and str(path) in result.stderr, result.stderr[-3000:]
    assert not marker.exists()
    assert not (tmp_path / "out.pt").exists()


# ---------------------------------------------------------------------------------------- disk
def test_unwritable_checkpoint_and_results_folders_are_errors_naming_the_path(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"name": "x"})
    ckpts, results = tmp_path / "checkpoints", tmp_path / "results"
    ckpts.mkdir()
    results.mkdir()
    save_atomic({"global_step": 1}, ckpts / "last.ckpt")
    write_metrics({"val/AP": 0.5}, tmp_path, cfg)
    # a run directory whose checkpoint folder is a file (root too; before read_only, which may skip)
    blocker = tmp_path / "blocked"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OSError, match=re.escape(f"cannot write checkpoint {blocker / 'last.ckpt'}")):
        save_atomic({"global_step": 3}, blocker / "last.ckpt")
    with pytest.raises(OSError, match=re.escape(f"cannot write {blocker / 'metrics.json'}")):
        write_metrics({}, blocker, cfg)
    with read_only(ckpts), pytest.raises(OSError, match=re.escape(f"cannot write checkpoint {ckpts / 'last.ckpt'}")):
        save_atomic({"global_step": 2}, ckpts / "last.ckpt")
    assert safe_load(ckpts / "last.ckpt")["global_step"] == 1
    with read_only(results), pytest.raises(OSError, match=re.escape(f"results file {results / 'val.json'}")):
        write_results([], results / "val.json")
    with read_only(tmp_path), pytest.raises(OSError, match=re.escape(f"cannot write {tmp_path / 'metrics.json'}")):
        write_metrics({"val/AP": 0.6}, tmp_path, cfg)
    assert json.loads((tmp_path / "metrics.json").read_text())["AP"] == 0.5


def test_full_disk_is_an_error_naming_the_path(tmp_path: Path) -> None:
    """ENOSPC for real: the file being written is /dev/full."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.create({"name": "x"})
    write_metrics({"val/AP": 0.5}, tmp_path, cfg)
    (tmp_path / ".metrics.json.tmp").symlink_to("/dev/full")  # where write_metrics writes first
    with pytest.raises(OSError, match=re.escape(f"cannot write {tmp_path / 'metrics.json'}: No space left on device")):
        write_metrics({"val/AP": 0.6}, tmp_path, cfg)
    assert json.loads((tmp_path / "metrics.json").read_text())["AP"] == 0.5  # the old file is whole
    assert not (tmp_path / ".metrics.json.tmp").exists()
    (tmp_path / "results").mkdir()
    results = tmp_path / "results" / "test.json"
    results.symlink_to("/dev/full")
    with pytest.raises(OSError, match=re.escape(f"results file {results}") + ".*No space left"):
        write_results([{"image_id": 1}] * 10_000, results)


FILE_SIZE_LIMIT = """
import resource, signal, sys, torch
from cigpose.checkpoint import save_atomic  # what AtomicCheckpointIO.save_checkpoint calls
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: write() fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
save_atomic({"w": torch.zeros(2**20)}, sys.argv[1])  # 4 MB > 1 MB
"""


def test_checkpoint_write_failing_midway_is_an_error_naming_the_path(tmp_path: Path) -> None:
    """A write that fails part-way (the process's file size limit: EFBIG, as a full disk or a quota
    would): torch's writer hides the OSError behind an opaque RuntimeError; the error must still
    name the path and the cause, the old checkpoint stay whole, no temporary file be left."""
    path = tmp_path / "last.ckpt"
    save_atomic({"global_step": 1}, path)
    result = subprocess.run([sys.executable, "-c", FILE_SIZE_LIMIT, str(path)], capture_output=True, text=True,
                            env={**os.environ, **ENV}, timeout=300)
    assert result.returncode != 0
    assert f"cannot write checkpoint {path}: File too large" in result.stderr, result.stderr[-2000:]
    assert safe_load(path)["global_step"] == 1
    assert not list(tmp_path.glob(".last.ckpt.*.tmp"))


@pytest.mark.slow
def test_training_with_an_unwritable_checkpoint_folder_fails_naming_the_path(
    coco_fixtures: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with read_only(run / "checkpoints"):
        result = run_failing([*TRAIN, *TINY, "trainer.max_epochs=1", f"hydra.run.dir={run}"], tmp_path)
    assert f"cannot write checkpoint {run / 'checkpoints' / 'last.ckpt'}" in result.stderr, result.stderr[-3000:]
