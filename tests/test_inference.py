"""After training: ONNX export that RTMPose clients run, the Predictor API and CLI, conversion
round trip through cigpose-eval, fine-tuning initialisation, the paper's analyses as commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cigpose.analysis.run import run_analysis
from cigpose.checkpoint import save_atomic
from cigpose.config import compose
from cigpose.inference.export import export_onnx
from cigpose.inference.predictor import Predictor
from cigpose.models import CIGPose
from cigpose.models.build import build_model
from cigpose.preprocess import MEAN, STD
from cigpose.training.run import evaluate as evaluate_checkpoint
from tests.helpers import settle_batchnorm, to_mmpose

BIN = Path(sys.executable).parent


def tiny_checkpoint(path: Path, seed: int = 0) -> CIGPose:
    """The smoke experiment's network (CIGPose-t, 133 keypoints, 128x96) in our checkpoint format."""
    torch.manual_seed(seed)
    net = CIGPose("t", 133, (128, 96), "coco_wholebody")
    settle_batchnorm(net, (128, 96))
    save_atomic({"format": "cigpose-net/1", "model": net.config, "state_dict": net.state_dict()}, path)
    return net.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CIGPose]:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    return path, tiny_checkpoint(path)


@pytest.mark.parametrize("convention", ["rgb", "rtmlib"])
def test_onnx_export_runs_in_onnxruntime_like_pytorch(checkpoint: tuple[Path, CIGPose], tmp_path: Path,
                                                       convention: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    path, net = checkpoint
    out = tmp_path / f"{convention}.onnx"
    result = subprocess.run([str(BIN / "cigpose-export"), "--ckpt", str(path), "--output", str(out),
                             "--input-convention", convention], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    assert [o.name for o in session.get_outputs()] == ["simcc_x", "simcc_y"]
    shape = session.get_inputs()[0].shape
    assert shape[1:] == [3, 128, 96] and not isinstance(shape[0], int)  # dynamic batch only
    meta = json.loads(session.get_modelmeta().custom_metadata_map["cigpose_meta"])
    assert (meta["input_w"], meta["input_h"], meta["split_ratio"]) == (96, 128, 2.0)
    assert meta["input_convention"] == convention
    rgb = np.random.default_rng(0).integers(0, 256, (3, 128, 96, 3)).astype(np.float32)
    ours = torch.from_numpy(((rgb - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32))
    if convention == "rgb":
        feed = ours.numpy()
    else:  # rtmlib: BGR pixels normalised with the RGB-ordered constants, no channel swap
        feed = ((rgb[..., ::-1] - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32)
    got_x, got_y = session.run(None, {"input": feed})
    with torch.no_grad():
        want = net(ours)
    # rtmlib: the in-graph affine that undoes rtmlib's normalisation rounds the input (~1e-7),
    # which the network amplifies to ~1e-4 on logits of size ~3; a wrong channel order is ~1
    tolerance = 1e-4 if convention == "rgb" else 5e-4
    assert np.abs(got_x - want.simcc_x.numpy()).max() < tolerance
    assert np.abs(got_y - want.simcc_y.numpy()).max() < tolerance


def test_export_refuses_an_unknown_convention(checkpoint: tuple[Path, CIGPose], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="input_convention"):
        export_onnx(checkpoint[1], tmp_path / "x.onnx", "bgr")  # type: ignore[arg-type]


def test_predictor_api_shapes_and_whole_image_default(checkpoint: tuple[Path, CIGPose],
                                                      coco_fixtures: Path) -> None:
    predictor = Predictor(checkpoint[0])
    image = cv2.cvtColor(cv2.imread(str(coco_fixtures / "000000000785.jpg")), cv2.COLOR_BGR2RGB)
    boxes = np.array([[280, 40, 220, 350], [10, 10, 100, 200]], np.float32)
    pred = predictor.predict(image, boxes)
    assert pred.keypoints.shape == (2, 133, 2) and pred.scores.shape == (2, 133)
    assert pred.intervened.sum(1).tolist() == [1, 1]  # k_eval = 1
    whole = predictor.predict(image)
    assert whole.keypoints.shape == (1, 133, 2)
    # the batch path and the one-box path agree
    single = predictor.predict(image, boxes[1:])
    assert np.allclose(single.keypoints[0], pred.keypoints[1], atol=1e-3)


def test_predict_cli_writes_results_overlays_and_confounder(checkpoint: tuple[Path, CIGPose],
                                                           coco_fixtures: Path, tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "cigpose-predict"), "--ckpt", str(checkpoint[0]), "--input", str(coco_fixtures),
                             "--boxes", str(coco_fixtures / "test_coco_det_AP_H_56.json"), "--output", str(tmp_path),
                             "--save-confounder"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results and {"keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts"} <= set(results[0])
    assert len(list(tmp_path.glob("*.png"))) == 4
    confounder = json.loads((tmp_path / "confounder.json").read_text())
    assert len(confounder) == len(results) and len(confounder[0]["confounder_score"]) == 133


def test_predict_cli_on_a_video(checkpoint: tuple[Path, CIGPose], tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (96, 128))
    for i in range(3):
        writer.write(np.full((128, 96, 3), 40 * i, np.uint8))
    writer.release()
    result = subprocess.run([str(BIN / "cigpose-predict"), "--ckpt", str(checkpoint[0]), "--input", str(video),
                             "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["frames"] == 3
    assert (tmp_path / "out" / "clip_pose.mp4").stat().st_size > 0


def test_converted_mmpose_checkpoint_evaluates_like_the_source(coco_fixtures: Path, tmp_path: Path) -> None:
    source = tiny_checkpoint(tmp_path / "source.pt", seed=3)
    state = to_mmpose(source.state_dict())
    state.update({"head.mlp.0.g": torch.ones(1), "head.mlp.1.weight": torch.zeros(256, 12),
                  "head.cls_x.weight": torch.zeros(192, 256), "head.cls_y.weight": torch.zeros(256, 256)})
    torch.save({"state_dict": state, "meta": {"note": "mmpose layout"}}, tmp_path / "mmpose.pth")
    assert subprocess.run([str(BIN / "cigpose-convert"), str(tmp_path / "mmpose.pth"), str(tmp_path / "conv.pt")],
                          capture_output=True, timeout=300).returncode == 0
    # the converted checkpoint through the real cigpose-eval process, the source one in-process
    run_dir = tmp_path / "eval_conv.pt"
    env = {**os.environ, "CIGPOSE_FIXTURES": str(coco_fixtures.parent)}
    result = subprocess.run([str(BIN / "cigpose-eval"), "experiment=smoke_fixtures", f"ckpt={tmp_path / 'conv.pt'}",
                             f"hydra.run.dir={run_dir}"], capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "whole_body/AP" in json.loads((run_dir / "metrics.json").read_text())
    source_dir = tmp_path / "eval_source.pt"
    evaluate_checkpoint(compose("eval", ["experiment=smoke_fixtures", f"ckpt={tmp_path / 'source.pt'}",
                                         f"paths.output_dir={source_dir}"]))
    outputs = {name: json.loads((folder / "results" / "test.json").read_text())
               for name, folder in (("source.pt", source_dir), ("conv.pt", run_dir))}
    assert len(outputs["source.pt"]) == len(outputs["conv.pt"]) > 0
    for a, b in zip(outputs["source.pt"], outputs["conv.pt"], strict=True):
        assert a["image_id"] == b["image_id"]
        assert np.allclose(a["keypoints"], b["keypoints"], atol=1e-4)
        assert np.allclose(a["lefthand_kpts"], b["lefthand_kpts"], atol=1e-4)


def test_init_from_an_rtmpose_checkpoint_loads_and_reports(tmp_path: Path) -> None:
    torch.manual_seed(5)
    rtmpose = CIGPose("t", 133, (128, 96), "coco_wholebody", cim={"enabled": False},
                      gnn={"intra_part": False, "inter_part": False}, classifier_bias=False)
    state = {k.replace("head.tokens.keypoint_conv.", "head.final_layer."): v for k, v in rtmpose.state_dict().items()
             if not k.startswith("head.tokens.") or "keypoint_conv" in k}
    torch.save({"state_dict": state}, tmp_path / "rtmpose.pth")
    config = {"_target_": "cigpose.models.CIGPose", "size": "t", "num_keypoints": 133, "input_size": [128, 96],
              "graph": "coco_wholebody", "init_from": str(tmp_path / "rtmpose.pth"), "init_parts": ["backbone"]}
    net = build_model(config)
    assert net.init_report["loaded"] == sum(1 for k in rtmpose.state_dict() if k.startswith("backbone."))
    for key, value in rtmpose.state_dict().items():
        if key.startswith("backbone."):
            assert torch.equal(net.state_dict()[key], value)
    assert "init_from" not in net.config  # a saved model does not re-initialise on load
    with pytest.raises(TypeError):
        CIGPose("t", 133, (128, 96), init_from="x.pth")  # the network reads no files


@pytest.mark.parametrize("analysis", ["intervention-frequency", "score-vs-occlusion", "enrichment"])
def test_analyses_write_their_tables(checkpoint: tuple[Path, CIGPose], coco_fixtures: Path, tmp_path: Path,
                                     analysis: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIGPOSE_FIXTURES", str(coco_fixtures.parent))
    if analysis == "intervention-frequency":  # through the console script once; the others in-process
        result = subprocess.run([str(BIN / "cigpose-analyze"), analysis, "--ckpt", str(checkpoint[0]),
                                 "--output", str(tmp_path), "experiment=smoke_fixtures"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        payload = json.loads(result.stdout)
    else:
        payload = run_analysis(analysis, str(checkpoint[0]), tmp_path, ["experiment=smoke_fixtures"])
    tables = list(tmp_path.glob("*.md"))
    assert len(tables) == 1 and "|" in tables[0].read_text()
    if analysis == "intervention-frequency":
        assert sum(payload["intervention_frequency"].values()) == pytest.approx(100.0)
    if analysis == "score-vs-occlusion":
        assert (tmp_path / "score_vs_occlusion.png").stat().st_size > 1000
        assert payload["counts"]["visible"] > 0 and payload["counts"]["occluded"] > 0
    if analysis == "enrichment":
        assert [r["easy_drop"] for r in payload["enrichment"]] == [0.0, 0.3, 0.5]
