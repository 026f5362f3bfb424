"""`make bench-gpu` (``benchmarks/bench_gpu.py``) run end to end on the CPU at a tiny size —
CIGPose-t, 64×64 crops, batch 2, a synthetic set of 8 people — so that its first GPU run does not
fail on code no one ran; its results rendered by ``benchmarks/report.py``. No speed is asserted."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from benchmarks import bench_gpu, report

OPTIONS = ["--size", "--input-hw", "--batch", "--device", "--steps", "--warmup", "--variants", "--parts",
           "--workers", "--loader-steps", "--num-train", "--image-wh", "--infer-batches", "--budget-s",
           "--results-dir"]
TINY = ["--device", "cpu", "--size", "t", "--input-hw", "64", "64", "--batch", "2", "--steps", "2", "--warmup", "1",
        "--workers", "0", "1", "--loader-steps", "2", "--num-train", "8", "--image-wh", "64", "64",
        "--infer-batches", "1", "2", "--variants", "fp32", "bf16", "cl", "bf16_cl"]  # compile: minutes on a CPU


def rows(path: Path) -> list[dict]:
    return json.loads(path.read_text())["rows"]


def check_training(train: list[dict]) -> None:
    expected = [bench_gpu.VARIANTS[k][0] for k in ("fp32", "bf16", "cl", "bf16_cl")]
    assert [r["variant"] for r in train] == expected
    for r in train:
        assert r["status"] == "ok" and r["images_per_s"] > 0 and r["step_ms"] > 0, r
        assert r["model"] == "cigpose-t 64x64" and r["batch"] == 2 and r["peak_mem_MiB"] == "n/a (CPU)"
    assert train[0]["speedup_vs_fp32"] == 1.0


def check_loader(loader: list[dict]) -> None:
    assert [r["workers"] for r in loader] == [0, 1]
    for r in loader:
        assert r["status"] == "ok" and r["images_per_s"] > 0, r
        assert 0.0 <= r["loader_wait_fraction"] <= 1.0
        assert r["device_busy_pct"] == pytest.approx(100 * (1 - r["loader_wait_fraction"]), abs=0.2)


def check_inference(infer: list[dict]) -> None:
    cases = {(r["batch"], r["precision"], r["mode"]) for r in infer}
    assert cases == {(b, p, m) for b in (1, 2) for p in ("fp32", "bf16 autocast")
                     for m in ("plain forward", "flip test + decode")}
    assert all(r["status"] == "ok" and r["images_per_s"] > 0 and r["ms_per_batch"] > 0 for r in infer)


def check_report(results_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS", results_dir)
    page = report.render()
    for title in report.GPU_BENCH.values():
        assert f"## {title} — CPU" in page
        assert f"## {title} — GPU\n\n{report.NO_GPU}." in page  # no cuda file: not measured
    assert "| bf16 + channels_last (fast=true on GPU) |" in page
    assert "**No GPU was lent for these runs**" in page


def test_tiny_cpu_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One run (one test, so pytest-xdist does not repeat it on each worker): every part's rows,
    written as ``*_cpu`` files into ``--results-dir`` only, and rendered."""
    results = bench_gpu.main([*TINY, "--results-dir", str(tmp_path)])
    assert {p: f.name for p, f in results.items()} == {
        "train": "gpu_train_cpu.json", "loader": "gpu_loader_cpu.json", "infer": "gpu_infer_cpu.json"}
    assert sorted(tmp_path.iterdir()) == sorted(results.values())
    check_training(rows(results["train"]))
    check_loader(rows(results["loader"]))
    check_inference(rows(results["infer"]))
    check_report(tmp_path, monkeypatch)


def test_report_renders_gpu_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = {"command": "python -m benchmarks.bench_gpu", "date": "2025-01-01", "load_avg_1_5_15min": "0"}
    machine = {"cpu": "x", "cores": "16", "gpu": "NVIDIA H200", "python": "3", "torch": "2", "torch_threads": "16"}
    payload = {"name": "gpu_train_cuda", "machine": machine, "command": run["command"], "runs": [run],
               "rows": [{"variant": "fp32 eager", "images_per_s": 500.0}], "notes": "n", "date": run["date"]}
    (tmp_path / "gpu_train_cuda.json").write_text(json.dumps(payload))
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    page = report.render()
    assert f"## {report.GPU_BENCH['gpu_train']} — GPU\n\nMachine: x (16 cores" in page
    assert "| fp32 eager | 500.0 |" in page and "GPU: NVIDIA H200" in page
    assert "**No GPU was lent for these runs**" not in page


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_gpu.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert [o for o in OPTIONS if o not in text] == []
    documented = {s for a in bench_gpu.build_parser()._actions for s in a.option_strings} - {"-h", "--help"}
    assert documented == set(OPTIONS)


@pytest.mark.parametrize("argv", [["--nope"], ["--variants", "eager"], ["--input-hw", "64", "50"]])
def test_bad_options_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_gpu.main(argv)
    assert exit_.value.code == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is here")
def test_cuda_without_gpu_exits_2() -> None:
    with pytest.raises(SystemExit) as exit_:
        bench_gpu.main(["--device", "cuda"])
    assert exit_.value.code == 2


def test_worker_counts_capped_at_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_gpu.os, "cpu_count", lambda: 2)
    assert bench_gpu.worker_counts([0, 2, 4, 8]) == [0, 2]


def test_budget_skips_stops_and_reports_failures() -> None:
    called = []
    assert bench_gpu.Budget(0).run(lambda: called.append(1)) == (None, "skipped: budget (0 of 0 s left)")
    assert called == []
    assert bench_gpu.Budget(60).run(lambda: 7, expected_s=120)[1].startswith("skipped: budget")

    def fail() -> None:
        raise ValueError("bad shape")

    assert bench_gpu.Budget(60).run(fail) == (None, "failed: ValueError: bad shape")
    assert bench_gpu.Budget(60).run(lambda: 7) == (7, "ok")
    if not bench_gpu.can_alarm():
        pytest.skip("another SIGALRM timer is pending (pytest-timeout?)")
    start = time.monotonic()
    assert bench_gpu.Budget(0.2).run(lambda: time.sleep(5)) == (None, "stopped: budget (0 s) ran out")
    assert time.monotonic() - start < 2
