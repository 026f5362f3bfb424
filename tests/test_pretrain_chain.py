"""The official chain end to end on the real fixtures: heatmap pretraining (``cigpose-train
experiment=smoke_pretrain_fixtures``) → ``cigpose-backbone export`` → CIGPose with
``model.init_from`` → its test evaluation; and the loaded backbone is bitwise the pretrained one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cigpose.checkpoint import CheckpointError, safe_load
from cigpose.models.build import build_model
from cigpose.models.weights import export_backbone
from cigpose.models.weights import verify_backbone as verify
from tests.helpers import csv_rows, experiment_run, train_in_process


@pytest.fixture(scope="module")
def pretrain_run(coco_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return experiment_run("smoke_pretrain_fixtures", tmp_path_factory)


def test_heatmap_pretraining_learns_and_is_scored_like_cigpose(pretrain_run: Path) -> None:
    rows = csv_rows(pretrain_run)
    epoch_loss = {int(r["epoch"]): float(r["loss/kpt_epoch"]) for r in rows if r.get("loss/kpt_epoch")}
    assert sorted(epoch_loss) == list(range(20)) and all(0 < v < 1 for v in epoch_loss.values())
    metrics = json.loads((pretrain_run / "metrics.json").read_text())
    for key in ("whole_body/AP", "body/AP", "face/AP", "hand/AP"):  # the same evaluator and names
        assert key in metrics and f"val/{key}" in metrics["logged"]
    assert metrics["evaluated"]["val"]["step"] == metrics["evaluated"]["test"]["step"] > 0
    results = json.loads((pretrain_run / "results" / "test.json").read_text())
    assert results and all(len(r["face_kpts"]) == 3 * 68 for r in results)
    checkpoint = safe_load(pretrain_run / "checkpoints" / "last.ckpt")
    assert checkpoint["model"]["arch"] == "heatmap"


def test_backbone_export_then_init_from_loads_it_bitwise(pretrain_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "backbone.pt"
    record = export_backbone(pretrain_run / "checkpoints" / "last.ckpt", out, note="test")
    assert verify(out)["sha256"] == record["sha256"]
    state = safe_load(pretrain_run / "checkpoints" / "last.ckpt")["state_dict"]
    ema = {k[len("ema.module."):]: v for k, v in state.items() if k.startswith("ema.module.backbone.")}
    net = build_model({"_target_": "cigpose.models.CIGPose", "size": "t", "num_keypoints": 133,
                       "input_size": [128, 96], "init_from": str(out)})
    assert net.init_report["loaded"] == len(ema) == record["tensors"] and not net.init_report["missing"]
    own = net.state_dict()
    for key, tensor in ema.items():
        assert torch.equal(own[key], tensor), key
    assert not torch.equal(own["head.cls_x.weight"], torch.zeros_like(own["head.cls_x.weight"]))
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one corrupted byte: refused
    out.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        verify(out)


def test_chain_trains_and_evaluates_cigpose_from_the_pretrained_backbone(
    pretrain_run: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backbone = tmp_path / "backbone.pt"
    export_backbone(pretrain_run / "checkpoints" / "last.ckpt", backbone)
    run_dir = tmp_path / "cigpose"
    with caplog.at_level("INFO", logger="cigpose"):
        train_in_process("experiment=smoke_fixtures", f"model.init_from={backbone}", "trainer.max_epochs=2",
                         "trainer.check_val_every_n_epoch=1", "callbacks.prediction_images=null", output_dir=run_dir)
    assert re.search(r"init_from .*backbone\.pt: loaded \d+ tensors into backbone; 0 shape mismatches, 0 missing",
                     caplog.text)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert "whole_body/AP" in metrics and metrics["evaluated"]["val"]["step"] > 0
    cli = subprocess.run([sys.executable, "-m", "cigpose.cli.backbone", "verify", str(backbone)],
                         capture_output=True, text=True)
    assert cli.returncode == 0 and "sha256 ok" in cli.stdout


def test_heatmap_model_on_simcc_data_fails_at_start_naming_the_key(coco_fixtures: Path, tmp_path: Path) -> None:
    from cigpose.training.validate import ConfigError

    with pytest.raises(ConfigError, match="data.codec='simcc' does not fit the model"):
        train_in_process("experiment=smoke_pretrain_fixtures", "data.codec=simcc", output_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()  # before anything was written


def test_heatmap_stride_of_the_targets_must_be_the_heads(coco_fixtures: Path) -> None:
    from cigpose.config import compose
    from cigpose.training.validate import ConfigError, validate_config

    validate_config(compose("train", ["experiment=smoke_pretrain_fixtures"]))
    with pytest.raises(ConfigError, match=r"data.heatmap_stride=8 does not fit model.deconv_channels"):
        validate_config(compose("train", ["experiment=smoke_pretrain_fixtures", "data.heatmap_stride=8"]))


def test_prediction_refuses_a_heatmap_checkpoint_with_a_pointer(pretrain_run: Path) -> None:
    from cigpose.models.build import load_model

    with pytest.raises(CheckpointError, match="heatmap .*init_from"):
        load_model(pretrain_run / "checkpoints" / "last.ckpt")
