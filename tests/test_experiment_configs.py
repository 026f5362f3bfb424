"""Every experiment composes and builds; its data fails clearly when absent; bad values fail at
start-up naming the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import hydra
import pytest
import torch

from cigpose.config import compose
from cigpose.models.build import build_model
from cigpose.paths import config_dir
from cigpose.training.validate import ConfigError, validate_config
from tests.helpers import script

EXPERIMENTS = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))


def test_experiment_list_is_complete() -> None:
    assert "smoke_fixtures" in EXPERIMENTS and len(EXPERIMENTS) >= 30


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_builds_and_reports_missing_data(name: str, tmp_path: Path) -> None:
    cfg = compose("train", [f"experiment={name}", f"paths.data_dir={tmp_path}",
                            f"paths.output_dir={tmp_path / 'run'}"])
    validate_config(cfg)
    if name != "smoke_fixtures":  # the model is checked by tests/test_experiments.py (counts)
        net = build_model(cfg.model)
        assert net.num_keypoints == cfg.data.num_keypoints
    datamodule = hydra.utils.instantiate(cfg.data, _recursive_=False)
    if name.startswith("smoke_"):  # the real fixtures
        if datamodule.evaluation_ground_truth("val") is None or not Path(
                cfg.data.val.ann_file).is_file():
            pytest.skip("real COCO fixtures not found")
        datamodule.setup("fit")
        assert len(datamodule.datasets["train"]) > 0 and len(datamodule.datasets["val"]) > 0
        return
    with pytest.raises(FileNotFoundError, match=f"dataset not found at {tmp_path}"):
        datamodule.setup("fit")


def test_smoke_model_forward_runs() -> None:
    cfg = compose("train", ["experiment=smoke_fixtures", "data.input_size=[64,64]"])
    net = build_model(cfg.model).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 64, 64))
    assert out.simcc_x.shape == (2, 133, 128) and out.simcc_y.shape == (2, 133, 128)


@pytest.mark.parametrize(("override", "key"), [
    ("model.cim.k_train=500", "k_train"),
    ("module.loss.consistency_weight=-1", "module.loss.consistency_weight"),
    ("model.cim.strategy=bogus", "strategy"),
    ("data.input_size=[250,192]", "data.input_size"),
    ("model.gnn.num_layers=0", "model.gnn.num_layers"),
])
def test_bad_values_fail_naming_the_key(override: str, key: str) -> None:
    cfg = compose("train", ["experiment=smoke_fixtures", override])
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate_config(cfg)


def test_bad_value_stops_cigpose_train_before_any_data(tmp_path: Path) -> None:
    result = subprocess.run([*script("cigpose-train"), "experiment=smoke_fixtures", "model.cim.k_train=500",
                             f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "k_train" in result.stderr and "ConfigError" in result.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()
