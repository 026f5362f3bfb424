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

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "experiments" / "confounding" / "run.py"
TINY = ["data.input_size=[64,64]", "data.sigma=[1.2,1.4]", "data.batch_size=8", "data.num_workers=0",
        "data.persistent_workers=false", "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
        "trainer.precision=32-true", "callbacks.prediction_images=null"]


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
    assert "| CIGPose (CIM + intra + inter) | 2 | 0.500 ± 0.141 | 0.250 ± 0.071 |" in text


@pytest.mark.slow
def test_benchmark_runs_a_multirun_and_writes_table_and_figure(tmp_path: Path) -> None:
    out = tmp_path / "confounding"
    result = subprocess.run(
        [sys.executable, str(RUNNER), "--variants", "rtmpose", "cigpose", "--seeds", "0", "1",
         "--people", "16", "8", "8", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--set", *TINY],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((out / "runs").glob("*/metrics.json"))) == 4  # 2 variants x 2 seeds
    summary = json.loads((out / "results.json").read_text())
    assert summary["table"]["cigpose"]["seeds"] == [0, 1] and summary["table"]["rtmpose"]["seeds"] == [0, 1]
    assert len(summary["table"]["cigpose"]["val_ood/whole_body/AP"]) == 2
    frequency = summary["intervention_frequency"]["cigpose"]
    assert "rtmpose" not in summary["intervention_frequency"]  # no CIM, nothing intervened
    assert sum(frequency.values()) == pytest.approx(100.0)
    assert summary["score_counts"]["visible"] > 0 and summary["score_counts"]["occluded"] > 0
    assert (out / "score_vs_occlusion.png").stat().st_size > 1000
    assert "± " in (out / "results.md").read_text()
