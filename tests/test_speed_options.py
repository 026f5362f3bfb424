"""Speed options (``module.channels_last``, ``module.compile``, ``trainer.precision=bf16-mixed``)
checked against fp32 eager on a tiny CIGPose-t (64×64 crops, batch 2, 133 keypoints).

Tolerances (stated in BENCHMARKS.md too):
- channels_last fp32: SimCC logits within 1e-3 (abs + rel; measured ≈ 2e-4 on logits of ≈ 3),
  CIM selection identical, loss within 1e-5 relative.
- bf16 autocast: loss within 5e-2 relative (measured 4e-3 … 2.2e-2). Logits are not compared:
  bf16 scores can move the CIM's top-k selection, which changes the counterfactual path by design.
- compile (inductor): logits within 1e-3, loss within 1e-5 relative, gradients within 1e-3
  relative of the channels_last ones (slow: compiling takes minutes on 2 cores).
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path

import pytest
import torch

from cigpose.config import compose
from cigpose.models import CIGPose
from cigpose.training.module import PoseLitModule
from cigpose.training.run import build
from tests.conftest import settle_batchnorm
from tests.test_resume import TINY, load
from tests.test_train import cigpose_train, csv_rows

SPEED = ["module.channels_last=true", "module.compile=true"]


@pytest.fixture(scope="module")
def net() -> CIGPose:
    """CIGPose-t, 133 keypoints, 64×64, realistic BatchNorm statistics, train mode."""
    torch.manual_seed(0)
    net = CIGPose("t", 133, (64, 64), "coco_wholebody")
    settle_batchnorm(net, (64, 64))
    return net.train()


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    """uint8 images ``(2, 3, 64, 64)``, SimCC targets ``(2, 133, 128)``, weights ``(2, 133)``."""
    g = torch.Generator().manual_seed(1)
    return {
        "image": torch.randint(0, 256, (2, 3, 64, 64), generator=g, dtype=torch.uint8),
        "target_x": torch.softmax(3 * torch.randn(2, 133, 128, generator=g), -1),
        "target_y": torch.softmax(3 * torch.randn(2, 133, 128, generator=g), -1),
        "keypoint_weights": (torch.rand(2, 133, generator=g) > 0.2).float(),
    }


def step(module: PoseLitModule, batch: dict, bf16: bool = False) -> tuple:
    """One forward/backward as ``training_step`` does it → (output, loss, {name: grad})."""
    module.zero_grad(set_to_none=True)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with autocast:
        out = module.net(module.normalize(batch["image"]), observational=True)
        loss = module.loss(out, batch["target_x"], batch["target_y"], batch["keypoint_weights"])["total"]
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in module.net.named_parameters() if p.grad is not None}
    return out, loss.detach(), grads


def lit(net: CIGPose, **speed: bool) -> PoseLitModule:
    module = PoseLitModule(copy.deepcopy(net), ema={"enabled": False}, **speed)
    module.configure_model()
    return module


def grad_rel(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    x, y = (torch.cat([d[n].flatten() for n in a]) for d in (a, b))
    return float((x - y).norm() / x.norm())


def test_speed_options_stay_out_of_the_network(tmp_path: Path) -> None:
    for model in ("cigpose_t", "rtmpose_t"):
        cfg = compose("train", ["data=fixtures_wholebody", f"model={model}", "logger=[]", *SPEED,
                                f"paths.output_dir={tmp_path}"])
        assert cfg.module.channels_last is True and cfg.module.compile is True
        _, module, _ = build(cfg)
        assert type(module.net) is CIGPose
        assert not {"channels_last", "compile"} & set(module.net.config)
        assert module.compile_net and module.normalize.channels_last
        conv = module.net.backbone.stem[0].conv.weight
        assert conv.is_contiguous(memory_format=torch.channels_last)
        ema_conv = module.ema.module.backbone.stem[0].conv.weight  # the EMA copy shares the layout
        assert ema_conv.is_contiguous(memory_format=torch.channels_last)

        plain = compose("train", ["data=fixtures_wholebody", f"model={model}", "logger=[]",
                                  f"paths.output_dir={tmp_path}"])
        _, reference, _ = build(plain)
        module.configure_model()  # compiles in place (lazily): names must not change
        assert module.net._compiled_call_impl is not None
        assert list(module.state_dict()) == list(reference.state_dict())
        torch.save(module.state_dict(), tmp_path / "state.pt")  # a compiled run's weights load as-is
        reference.load_state_dict(torch.load(tmp_path / "state.pt"), strict=True)


def test_channels_last_matches_fp32_eager(net: CIGPose, batch: dict) -> None:
    ref_out, ref_loss, _ = step(lit(net), batch)
    out, loss, _ = step(lit(net, channels_last=True), batch)
    torch.testing.assert_close(out.simcc_x, ref_out.simcc_x, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(out.simcc_y, ref_out.simcc_y, atol=1e-3, rtol=1e-3)
    assert torch.equal(out.intervened, ref_out.intervened)
    torch.testing.assert_close(loss, ref_loss, atol=0, rtol=1e-5)


def test_bf16_autocast_matches_fp32_eager_loss(net: CIGPose, batch: dict) -> None:
    _, ref_loss, _ = step(lit(net), batch)
    out, loss, grads = step(lit(net), batch, bf16=True)
    assert out.simcc_x.dtype == torch.bfloat16
    assert abs(float(loss) - float(ref_loss)) <= 5e-2 * float(ref_loss)
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_eager_gradients_match_channels_last(net: CIGPose, batch: dict) -> None:
    _, _, ref = step(lit(net), batch)
    _, _, grads = step(lit(net, channels_last=True), batch)
    assert grad_rel(ref, grads) < 1e-3


@pytest.mark.slow
def test_compile_matches_fp32_eager(net: CIGPose, batch: dict) -> None:
    ref_out, ref_loss, _ = step(lit(net), batch)
    _, _, cl_grads = step(lit(net, channels_last=True), batch)
    compiled = lit(net, compile=True)
    out, loss, grads = step(compiled, batch)
    assert compiled.net._compiled_call_impl is not None
    torch.testing.assert_close(out.simcc_x, ref_out.simcc_x, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(out.simcc_y, ref_out.simcc_y, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(loss, ref_loss, atol=0, rtol=1e-5)
    assert grad_rel(cl_grads, grads) < 1e-3


def test_train_channels_last_bf16_runs(coco_fixtures: Path, tmp_path: Path) -> None:
    """1 epoch of ``cigpose-train`` on the fixtures with channels_last + bf16-mixed, validated."""
    run_dir = tmp_path / "run"
    cigpose_train(*TINY, "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1",
                  "module.channels_last=true", "trainer.precision=bf16-mixed",
                  f"hydra.run.dir={run_dir}", cwd=tmp_path)
    rows = csv_rows(run_dir)
    assert all(torch.isfinite(torch.tensor(float(r["loss/total_epoch"]))) for r in rows
               if r.get("loss/total_epoch"))
    ap = [float(r["val/whole_body/AP"]) for r in rows if r.get("val/whole_body/AP")]
    assert len(ap) == 1 and 0.0 <= ap[0] <= 1.0
    ckpt = load(run_dir / "checkpoints" / "last.ckpt")
    assert ckpt["hyper_parameters"]["channels_last"] is True
    assert not {"channels_last", "compile"} & set(ckpt["model"])  # the architecture only


@pytest.mark.slow
def test_train_compiled_checkpoint_keys_unchanged(coco_fixtures: Path, tmp_path: Path) -> None:
    """``module.compile=true`` end to end: the checkpoint holds the plain network's keys."""
    runs = {}
    for name, extra in {"plain": [], "compiled": ["module.compile=true"]}.items():
        run_dir = tmp_path / name
        cigpose_train(*TINY, "trainer.max_epochs=1", *extra, f"hydra.run.dir={run_dir}", cwd=tmp_path)
        runs[name] = load(run_dir / "checkpoints" / "last.ckpt")
    assert list(runs["compiled"]["state_dict"]) == list(runs["plain"]["state_dict"])
    assert runs["compiled"]["hyper_parameters"]["compile"] is True
