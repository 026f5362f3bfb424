"""The causal benchmark runner (experiments/confounding/run.py) end to end on a tiny generated
set: a real Hydra multirun over two variants x two seeds, then the mean ± std table, the
intervention frequency per part and the confounder-score figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cigpose.paths import config_dir
from tests.helpers import HALF_AP, exact_results, half_missed

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "experiments" / "confounding" / "run.py"
TINY = ["data.input_size=[64,64]", "data.sigma=[1.2,1.4]", "data.batch_size=8", "data.num_workers=0",
        "data.persistent_workers=false", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
        "fast=false", "callbacks.prediction_images=null"]


def load_runner():  # the runner is a script, not part of the package
    import importlib.util

    spec = importlib.util.spec_from_file_location("confounding_run", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_variant_has_an_experiment_config() -> None:
    runner = load_runner()
    for variant in runner.VARIANTS:
        assert (config_dir() / "experiment" / f"confounding_{variant}.yaml").is_file(), variant


def test_summary_groups_seeds_and_formats_mean_and_sample_std() -> None:
    runner = load_runner()
    jobs = [{"job": str(i), "overrides": {"experiment": f"confounding_{v}", "seed": str(s)},
             "metrics": {"logged": {"val/whole_body/AP": ap, "test/whole_body/AP": ap / 2}}}
            for i, (v, s, ap) in enumerate([("cigpose", 0, 0.4), ("cigpose", 1, 0.6), ("rtmpose", 0, 0.3)])]
    table = runner.summarise(jobs)
    assert table["cigpose"]["seeds"] == [0, 1] and table["rtmpose"]["seeds"] == [0]
    assert table["cigpose"]["val/whole_body/AP"] == [0.4, 0.6]
    assert table["cigpose"]["val_ood/whole_body/AP"] == [0.2, 0.3]
    assert runner.mean_std([0.4, 0.6]) == f"0.500 ± {np.std([0.4, 0.6], ddof=1):.3f}"  # 0.141
    text = runner.markdown(table, {})
    assert text.index("RTMPose") < text.index("CIGPose (CIM")  # baseline first
    # body columns are empty here; whole body: val, val_ood, drop (0.2 and 0.3: 0.250 ± 0.071)
    assert "| CIGPose (CIM + intra + inter) | 2 | – | – | – | 0.500 ± 0.141 | 0.250 ± 0.071 | 0.250 ± 0.071 |" in text


def test_jobs_of_other_experiments_are_skipped() -> None:
    runner = load_runner()
    jobs = [{"job": "0", "overrides": {"experiment": "synthetic_default", "seed": "0"}, "metrics": {}}]
    assert runner.summarise(jobs) == {}


def test_report_tabulates_paired_statistics_of_finished_jobs(tmp_path: Path) -> None:
    """Hand-built results in real job folders: CIGPose exact on val and missing every other person
    on val_ood (two seeds), RTMPose exact on both: the known drop difference 1 − 51/101."""
    from cigpose.synth.generate import generate_dataset

    runner = load_runner()
    data = tmp_path / "data"
    generate_dataset(data / "synthetic", num_train=1, num_val=12, num_val_ood=12, workers=1)
    gt = {split: json.loads((data / "synthetic" / "annotations" / f"{split}.json").read_text())
          for split in ("val", "val_ood")}
    runs = tmp_path / "out" / "runs"
    for index, (variant, seed) in enumerate([("cigpose", 0), ("cigpose", 1), ("rtmpose", 0), ("rtmpose", 1)]):
        job = runs / str(index)
        (job / ".hydra").mkdir(parents=True)
        (job / "results").mkdir()
        (job / ".hydra" / "overrides.yaml").write_text(f"- experiment=confounding_{variant}\n- seed={seed}\n")
        missed = half_missed(gt["val_ood"]) if variant == "cigpose" else set()
        (job / "results" / "val.json").write_text(json.dumps(exact_results(gt["val"])))
        (job / "results" / "test.json").write_text(json.dumps(exact_results(gt["val_ood"], missed)))
        ood_ap = HALF_AP if variant == "cigpose" else 1.0
        (job / "metrics.json").write_text(json.dumps({"logged": {"val/body/AP": 1.0, "test/body/AP": ood_ap}}))
    assert runner.report(tmp_path / "out", data, resamples=200, analyse=False) == 0
    paired = json.loads((tmp_path / "out" / "results.json").read_text())["paired"]
    for part in ("body", "whole_body", "hand"):
        versus = paired["versus_baseline"][part]["cigpose"]
        assert versus["estimate"] == pytest.approx(1 - HALF_AP)
        assert 0.1 < versus["low"] <= versus["estimate"] <= versus["high"]
        assert paired["drop"][part]["rtmpose"]["high"] == 0.0
        assert paired["relative_versus_baseline"][part]["cigpose"]["estimate"] == pytest.approx(1 - HALF_AP)
    people = paired["per_person"]["cigpose"]
    assert people["body"]["estimate"] == pytest.approx(0.5, abs=0.2)  # people with a disc, half of them missed
    assert paired["per_person"]["rtmpose"]["hidden_wrist"]["estimate"] == 0.0
    text = (tmp_path / "out" / "results.md").read_text()
    assert "| RTMPose (baseline) | 2 | 1.000 ± 0.000 | 1.000 ± 0.000 | 0.000 ± 0.000 |" in text
    assert f"{1 - HALF_AP:+.3f} [" in text and "hidden wrist" in text


@pytest.mark.slow
def test_benchmark_runs_a_multirun_and_writes_table_and_figure(tmp_path: Path) -> None:
    out = tmp_path / "confounding"
    result = subprocess.run(
        [sys.executable, str(RUNNER), "--variants", "rtmpose", "cigpose", "--seeds", "0", "1",
         "--people", "16", "8", "8", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--set", *TINY],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.parent.name for p in (out / "runs").glob("*/metrics.json"))
    assert jobs == [f"confounding_{v}_seed{s}" for v in ("cigpose", "rtmpose") for s in (0, 1)]
    summary = json.loads((out / "results.json").read_text())
    assert summary["table"]["cigpose"]["seeds"] == [0, 1] and summary["table"]["rtmpose"]["seeds"] == [0, 1]
    assert len(summary["table"]["cigpose"]["val_ood/whole_body/AP"]) == 2
    frequency = summary["intervention_frequency"]["cigpose"]
    assert "rtmpose" not in summary["intervention_frequency"]  # no CIM, nothing intervened
    assert sum(frequency.values()) == pytest.approx(100.0)
    separation = summary["score_separation"]["cigpose"]
    assert separation["count_visible"] > 0 and separation["count_occluded"] > 0 and 0 <= separation["auc"] <= 1
    assert (out / "score_vs_occlusion_cigpose.png").stat().st_size > 1000
    versus = summary["paired"]["versus_baseline"]["body"]["cigpose"]
    assert versus["low"] <= versus["estimate"] <= versus["high"]
    assert "± " in (out / "results.md").read_text()
    # a rerun finds every job finished and trains nothing
    assert runner_missing(out / "runs", ["rtmpose", "cigpose"], [0, 1]) == {}
    assert runner_missing(out / "runs", ["rtmpose", "cigpose"], [0, 1, 2]) == {2: ["rtmpose", "cigpose"]}


def runner_missing(runs: Path, variants: list[str], seeds: list[int]) -> dict:
    return load_runner().missing_jobs(runs, variants, seeds)
