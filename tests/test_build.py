"""The model builder: a timm backbone as the encoder, and a checkpoint in the layout written before
the restructuring (commit 3e0acb1) loading and predicting exactly as the network it holds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cigpose.config import compose
from cigpose.models import CIGPose, TimmBackbone
from cigpose.models.build import build_model, load_model
from cigpose.models.complexity import model_info
from cigpose.training.run import build

TIMM = "timm/mobilenetv3_small_050"  # 0.27 M parameters, stride 32


def test_timm_backbone_feeds_the_same_keypoint_tokens() -> None:
    cfg = compose("train", ["model=cigpose_t", f"model.backbone={TIMM}", "data=coco", "model.input_size=[64,64]"])
    net = build_model(cfg.model).eval()
    assert isinstance(net.backbone, TimmBackbone) and net.backbone.stride == 32
    assert net.config["backbone"] == TIMM
    features = net.backbone(torch.zeros(2, 3, 64, 64))
    assert features.shape == (2, net.backbone.out_channels, 2, 2)
    out = net(torch.randn(2, 3, 64, 64))
    assert out.simcc_x.shape == (2, 17, 128) and out.simcc_y.shape == (2, 17, 128)
    info = model_info(net)  # what cigpose-info prints
    plain = compose("train", ["model=cigpose_t", "data=coco", "model.input_size=[64,64]"])
    cspnext = model_info(build_model(plain.model))
    assert info["params"] == sum(p.numel() for p in net.parameters())
    assert info["params"] - sum(p.numel() for p in net.backbone.parameters()) < cspnext["params"]  # same head
    assert 0 < info["gflops"] < cspnext["gflops"]


def test_timm_backbone_trains_through_the_lightning_module(coco_fixtures: Path, tmp_path: Path) -> None:
    cfg = compose("train", ["experiment=smoke_fixtures", f"model.backbone={TIMM}", "data.input_size=[64,64]",
                            "data.sigma=[1.2,1.4]", "logger=[]", f"paths.output_dir={tmp_path}"])
    datamodule, module, _ = build(cfg)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    module.trainer = None
    before = module.net.backbone.model.conv_stem.weight.detach().clone()
    optimizer = torch.optim.SGD(module.net.parameters(), lr=0.1)
    loss, _, _ = module.compute_losses(module.normalize(batch["image"]), batch)
    loss["total"].backward()
    optimizer.step()
    assert torch.isfinite(loss["total"])
    assert not torch.equal(before, module.net.backbone.model.conv_stem.weight)  # the timm weights train


def test_unknown_backbone_is_refused() -> None:
    with pytest.raises(ValueError, match="timm/<model name>"):
        CIGPose("t", 17, (64, 64), "coco", backbone="resnet18")


def pre_restructure_checkpoint(path: Path, net: CIGPose) -> Path:
    """A ``cigpose-train`` checkpoint as commit 3e0acb1 wrote it (top-level keys, the ``model``
    dict without a ``backbone`` entry, ``net.*`` + ``ema.module.*`` weights, speed options among
    the module's hyper-parameters), holding ``net``'s weights as the EMA ones."""
    live = {f"net.{k}": torch.zeros_like(v) if v.is_floating_point() else v for k, v in net.state_dict().items()}
    ema = {f"ema.module.{k}": v for k, v in net.state_dict().items()}
    config = {k: v for k, v in net.config.items() if k != "backbone"}
    torch.save({
        "epoch": 1, "global_step": 4, "pytorch-lightning_version": "2.6.6",
        "state_dict": {**live, **ema, "ema.steps": torch.tensor(4)},
        "loops": {}, "callbacks": {}, "optimizer_states": [], "lr_schedulers": [],
        "hparams_name": "kwargs",
        "hyper_parameters": {"optim": {"lr": 2e-3}, "ema": {"enabled": True}, "evaluation": {"flip_test": True},
                             "channels_last": False, "max_nonfinite_steps": 10, "compile": False},
        "PoseDataModule": {"stage": 1},
        "model": config,
    }, path)
    return path


def test_a_checkpoint_written_before_the_restructuring_loads_and_predicts_the_same(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = CIGPose("t", 17, (64, 64), "coco", cim={"k_eval": 2}).eval()
    path = pre_restructure_checkpoint(tmp_path / "old.ckpt", net)
    loaded = load_model(path)
    assert loaded.config["backbone"] == "cspnext" and not loaded.training
    images = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected, got = net(images), loaded(images)
    assert torch.equal(expected.simcc_x, got.simcc_x) and torch.equal(expected.simcc_y, got.simcc_y)
    assert torch.equal(expected.intervened, got.intervened) and int(got.intervened.sum()) == 6
