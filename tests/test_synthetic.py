"""`make train`'s experiment end to end on a tiny generated set: the loss falls, metrics appear.
(The generator itself is tested in tests/test_synth.py.)"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cigpose.evaluation.coco_eval import evaluate
from cigpose.synth import generate_dataset
from tests.helpers import train_in_process


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate_dataset(out, seed=3, num_train=24, num_val=8, num_val_ood=8, workers=1)
    return out


def test_short_training_on_a_tiny_set_produces_metrics(dataset: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    train_in_process("experiment=synthetic_default", f"data.root={dataset}", "data.input_size=[64,64]",
                     "data.sigma=[1.2,1.4]", "data.batch_size=8", "data.num_workers=0", "data.persistent_workers=false",
                     "trainer.max_epochs=4", "trainer.check_val_every_n_epoch=2", "fast=false",
                     output_dir=run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val/whole_body/AP" in metrics["logged"]
    # the reported test (val_ood) AP is the evaluator's on the results file the run wrote
    rescored = evaluate(dataset / "annotations" / "val_ood.json", run / "results" / "test.json", "coco_wholebody")
    assert metrics["whole_body/AP"] == pytest.approx(rescored["whole_body/AP"], abs=1e-6)
    rows = [r for r in csv.DictReader((run / "csv" / "version_0" / "metrics.csv").open()) if r.get("loss/kpt_epoch")]
    losses = [float(r["loss/kpt_epoch"]) for r in rows]
    assert len(losses) == 4 and losses[-1] < losses[0]
