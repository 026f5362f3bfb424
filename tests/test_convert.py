"""cigpose-convert: MMPose-layout checkpoints in, our checkpoints out — loudly, safely, exactly."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cigpose.checkpoint import CheckpointError, safe_load
from cigpose.models import CIGPose
from cigpose.models.mmpose_keys import convert_checkpoint as convert
from cigpose.paths import fixtures_dir
from tests.helpers import to_mmpose


def cigpose_m_as_mmpose(seed: int = 0) -> tuple[CIGPose, dict[str, torch.Tensor]]:
    torch.manual_seed(seed)
    model = CIGPose("m", 133, (256, 192), "coco_wholebody")
    state = to_mmpose(model.state_dict())
    # the reference carries three unused modules; a faithful source file has them
    state["head.mlp.0.g"] = torch.ones(1)
    state["head.mlp.1.weight"] = torch.zeros(256, 48)
    state["head.cls_x.weight"] = torch.zeros(384, 256)
    state["head.cls_y.weight"] = torch.zeros(512, 256)
    return model, state


def test_our_names_map_onto_the_reference_key_list_exactly() -> None:
    root = fixtures_dir()
    tsv = (
        root.parent / "spec" / "reference-keys_cigpose-m_coco-wholebody_256x192.tsv"
        if root
        else None
    )
    if tsv is None or not tsv.is_file():
        pytest.skip("../shared/spec reference key list not found")
    reference = {}
    for line in tsv.read_text().splitlines():
        name, shape = line.split("\t")
        reference[name] = tuple(int(x) for x in re.findall(r"\d+", shape))
    _, state = cigpose_m_as_mmpose()
    ours = {k: tuple(v.shape) for k, v in state.items()}
    assert ours == reference


def test_round_trip_reproduces_the_source_network(tmp_path: Path) -> None:
    model, state = cigpose_m_as_mmpose()
    source = tmp_path / "mmpose.pth"
    ema = {f"module.{k}": v + 1 for k, v in state.items()}  # raw weights: must NOT be used
    meta = {
        "epoch": 420,
        "dataset_meta": {"flip_indices": np.arange(133)},
        "note": "authors' release",
    }
    torch.save({"state_dict": state, "ema_state_dict": ema, "meta": meta}, source)
    report = convert(source, tmp_path / "ours.pt")
    assert report["missing"] == [] and report["unexpected"] == [] and len(report["dropped"]) == 4
    assert report["model"]["size"] == "m" and report["model"]["input_size"] == [256, 192]
    converted = safe_load(tmp_path / "ours.pt")
    rebuilt = CIGPose(**converted["model"])
    rebuilt.load_state_dict(converted["state_dict"])
    for key, value in model.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[key], value), key
    images = torch.randn(2, 3, 256, 192)
    model.eval(), rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(model(images).simcc_x, rebuilt(images).simcc_x)


def test_rtmpose_checkpoint_converts_to_the_baseline(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = CIGPose(
        "t",
        17,
        (256, 192),
        "coco",
        cim={"enabled": False},
        gnn={"intra_part": False, "inter_part": False},
        classifier_bias=False,
    )
    state = {
        k.replace("head.tokens.token_norm.g", "head.mlp.0.g")
        .replace("head.tokens.token_proj.", "head.mlp.1.")
        .replace("head.tokens.keypoint_conv.", "head.final_layer.")
        .replace("head.tokens.gau.norm.g", "head.gau.ln.g")
        .replace("head.tokens.gau.out.", "head.gau.o.")
        .replace("head.tokens.gau.res_scale", "head.gau.res_scale.scale")
        .replace("head.tokens.gau.", "head.gau."): v
        for k, v in model.state_dict().items()
    }
    torch.save({"state_dict": state}, tmp_path / "rtmpose.pth")
    report = convert(tmp_path / "rtmpose.pth", tmp_path / "out.pt")
    assert report["model"]["cim"] == {"enabled": False} and report["dropped"] == []
    assert report["model"]["classifier_bias"] is False and report["model"]["graph"] == "coco"


def test_missing_and_unexpected_keys_are_reported_and_nothing_is_written(tmp_path: Path) -> None:
    _, state = cigpose_m_as_mmpose()
    del state["head.gau.gamma"]
    state["head.extra_module.weight"] = torch.zeros(3)
    torch.save({"state_dict": state}, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError) as err:
        convert(tmp_path / "broken.pth", tmp_path / "out.pt")
    assert "head.tokens.gau.gamma" in str(err.value) and "head.extra_module.weight" in str(
        err.value
    )
    assert not (tmp_path / "out.pt").exists()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cigpose.cli.convert",
            str(tmp_path / "broken.pth"),
            str(tmp_path / "out.pt"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "missing" in result.stderr


class Payload:
    """An object whose unpickling would run code."""

    def __reduce__(self) -> tuple:
        return (print, ("pwned",))


def test_pickled_code_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as handle:
        pickle.dump({"state_dict": {}, "meta": Payload()}, handle)
    with pytest.raises(CheckpointError, match="refusing to load .*evil.pth"):
        convert(path, tmp_path / "out.pt")
