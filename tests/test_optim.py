"""Optimiser, lr schedule, EMA and gradient clipping as SPEC §5 states them."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cigpose.config import compose
from cigpose.models.build import build_model
from cigpose.training.ema import ExpMomentumEMA
from cigpose.training.optim import build_optimizer, build_schedule, parameter_groups, scaled_lr


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 2)
        self.ln = nn.LayerNorm(2)
        self.gn = nn.GroupNorm(2, 4)


def test_no_weight_decay_on_norms_and_biases() -> None:
    net = Tiny()
    decay, no_decay = parameter_groups(net, 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(net.conv.weight), id(net.fc.weight)}
    assert {id(p) for p in no_decay["params"]} == {
        id(p) for p in (net.bn.weight, net.bn.bias, net.fc.bias, net.ln.weight, net.ln.bias,
                        net.gn.weight, net.gn.bias)}
    optimizer = build_optimizer(net, 1e-3, 0.05)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]


def test_real_network_groups_cover_every_parameter_once() -> None:

    net = build_model(compose("train", ["model=cigpose_t"]).model)
    decay, no_decay = parameter_groups(net, 0.05)
    ids = [id(p) for p in decay["params"] + no_decay["params"]]
    trainable = [p for p in net.parameters() if p.requires_grad]  # CIM scorer heads are frozen
    assert len(ids) == len(set(ids)) == len(trainable) < len(list(net.parameters()))
    norms = {id(p) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             for p in m.parameters(recurse=False)}
    names = {id(p): n for n, p in net.named_parameters()}
    assert norms and norms <= {id(p) for p in no_decay["params"]}
    assert all(id(p) in norms or names[id(p)].endswith(".bias") for p in no_decay["params"])
    assert not any(names[id(p)].endswith(".bias") for p in decay["params"])


def test_warmup_is_linear_from_1e5_of_lr_over_warmup_iters() -> None:
    schedule = build_schedule("wholebody", 420, warmup_iters=1000)
    assert schedule.factor(0, 0.0) == pytest.approx(1e-5)
    assert schedule.factor(250, 0.1) == pytest.approx(1e-5 + (1 - 1e-5) * 0.25)
    assert schedule.factor(999, 0.5) == pytest.approx(1e-5 + (1 - 1e-5) * 0.999)
    assert schedule.factor(1000, 0.5) == 1.0


@pytest.mark.parametrize(("epoch", "expected"), [
    (0, 1.0), (134.9, 1.0), (135, 1.0),
    (202.5, 0.05 + 0.95 * 0.5),                               # cosine mid-point
    (135 + 135 / 3, 0.05 + 0.95 * (1 + math.cos(math.pi / 3)) / 2),
    (270, 0.05), (300, 0.05), (330, 0.05),
    (375, 0.001 + 0.049 * 0.5), (420, 0.001),
])
def test_wholebody_segments(epoch: float, expected: float) -> None:
    assert build_schedule("wholebody", 420).factor(10**6, epoch) == pytest.approx(expected)


@pytest.mark.parametrize(("epoch", "expected"), [
    (0, 1.0), (104.9, 1.0), (157.5, 0.05 + 0.95 * 0.5), (210, 0.05)])
def test_body_schedule_cosine_over_second_half(epoch: float, expected: float) -> None:
    assert build_schedule("body", 210).factor(10**6, epoch) == pytest.approx(expected)


def test_schedule_scales_to_short_runs_and_rejects_unknown_names() -> None:
    short = build_schedule("wholebody", 42)  # 1/10 of the reference: flat to 13.5 -> 14 (rounded)
    assert short.factor(10**6, 13) == 1.0 and short.factor(10**6, 42) == pytest.approx(0.001)
    assert build_schedule("constant", 5).factor(10**6, 4) == 1.0
    with pytest.raises(ValueError, match="optim.schedule"):
        build_schedule("linear", 10)


def test_lr_scales_with_total_batch() -> None:
    assert scaled_lr(2e-3, 512, 512) == pytest.approx(2e-3)
    assert scaled_lr(2e-3, 8 * 32, 512) == pytest.approx(1e-3)
    assert scaled_lr(1e-3, 2048, 1024) == pytest.approx(2e-3)


def test_ema_matches_hand_computation() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ExpMomentumEMA(net, momentum=2e-4, gamma=2000)
    expected = {k: v.clone() for k, v in net.state_dict().items()}
    for t in range(4):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        net.train()(torch.randn(5, 3))  # moves the BatchNorm buffers too
        ema.update(net)
        m = 1.0 if t == 0 else (1 - 2e-4) * math.exp(-(1 + t) / 2000) + 2e-4
        for k, v in net.state_dict().items():
            expected[k] = v.clone() if not v.dtype.is_floating_point else (
                (1 - m) * expected[k] + m * v)
        for k, v in ema.module.state_dict().items():
            torch.testing.assert_close(v, expected[k], rtol=1e-6, atol=1e-7, msg=f"{k} at t={t}")
    assert int(ema.steps) == 4
    assert all(not p.requires_grad for p in ema.module.parameters())
    # update 0 copies: the EMA equals the net after it; later ones barely move (m ~ 0.9995)
    assert ema.current_momentum() == pytest.approx((1 - 2e-4) * math.exp(-5 / 2000) + 2e-4)


def test_reference_optimisation_settings_in_configs() -> None:
    cfg = compose("train")
    assert cfg.trainer.gradient_clip_val == 35 and cfg.trainer.gradient_clip_algorithm == "norm"
    optim = cfg.module.optim
    assert (optim.lr, optim.reference_batch, optim.weight_decay, optim.warmup_iters,
            optim.schedule) == (2e-3, 512, 0.05, 1000, "wholebody")
    assert (cfg.module.ema.momentum, cfg.module.ema.gamma, cfg.module.ema.enabled) == (2e-4, 2000,
                                                                                          True)


def test_body_datasets_use_their_reference_optimisation() -> None:
    coco = compose("train", ["experiment=cigpose-m_coco_256x192"])
    assert (coco.module.optim.lr, coco.module.optim.reference_batch,
            coco.module.optim.schedule) == (1e-3, 1024, "body")
    crowd = compose("train", ["experiment=cigpose-m_crowdpose_256x192"])
    assert crowd.trainer.gradient_clip_val is None and crowd.module.optim.lr == 4e-5


def test_lr_mult_splits_groups_by_longest_prefix_and_scales_their_lr() -> None:
    net = nn.Sequential()
    net.add_module("backbone", nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)))
    net.add_module("head", nn.Linear(4, 2))
    optimizer = build_optimizer(net, 1e-3, 0.05, lr_mult={"backbone": 0.1, "backbone.1": 0.5})
    by_param = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    lr = {name: by_param[id(p)]["lr"] for name, p in net.named_parameters()}
    decay = {name: by_param[id(p)]["weight_decay"] for name, p in net.named_parameters()}
    assert lr == pytest.approx({"backbone.0.weight": 1e-4, "backbone.0.bias": 1e-4,
                                "backbone.1.weight": 5e-4, "backbone.1.bias": 5e-4,
                                "head.weight": 1e-3, "head.bias": 1e-3})
    assert decay == {"backbone.0.weight": 0.05, "backbone.0.bias": 0.0, "backbone.1.weight": 0.0,
                     "backbone.1.bias": 0.0, "head.weight": 0.05, "head.bias": 0.0}
    # the schedule's factor multiplies each group's own lr
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5)
    assert sorted(g["lr"] for g in optimizer.param_groups) == pytest.approx(
        sorted([5e-5, 5e-5, 2.5e-4, 5e-4, 5e-4]))
    del scheduler


def test_freeze_stops_training_the_named_parts_and_rejects_a_typo() -> None:

    from cigpose.training.module import PoseLitModule

    net = build_model(compose("train", ["model=cigpose_t", "model.input_size=[64,64]"]).model)
    module = PoseLitModule(net, freeze=["backbone.stem", "backbone.stage1"])
    frozen = [n for n, p in net.named_parameters() if not p.requires_grad and n.startswith("backbone")]
    assert frozen and all(n.startswith(("backbone.stem.", "backbone.stage1.")) for n in frozen)
    assert all(p.requires_grad for n, p in net.named_parameters() if n.startswith("backbone.stage2"))
    module.train()  # as Lightning does before every training epoch
    assert not net.backbone.stem[0][1].training and not net.backbone.stage1[0][1].training
    assert net.backbone.stage2[0][1].training
    groups = parameter_groups(net, 0.05)
    trained = {id(p) for g in groups for p in g["params"]}
    assert not trained & {id(p) for p in net.backbone.stem.parameters()}
    # a step leaves the frozen weights and their batch-norm statistics as they were
    before = {k: v.clone() for k, v in net.backbone.stem.state_dict().items()}
    optimizer = build_optimizer(net, 1e-2, 0.05)
    out = net(torch.randn(2, 3, 64, 64))
    (out.simcc_x.square().mean() + out.simcc_y.square().mean()).backward()
    optimizer.step()
    assert all(torch.equal(before[k], v) for k, v in net.backbone.stem.state_dict().items())
    with pytest.raises(ValueError, match="backbone.stage9.*names no parameter"):
        PoseLitModule(net, freeze=["backbone.stage9"])
