"""The Causal Intervention Module does what SPEC §3 says."""

from __future__ import annotations

import pytest
import torch

from cigpose.models.cim import (
    CausalInterventionModule,
    CIMConfig,
    confounder_score,
    select_threshold,
    select_topk,
)


def test_confounder_score_is_one_minus_mean_softmax_peak() -> None:
    # x: two bins with logits (0, log 3) -> softmax (0.25, 0.75); y: uniform over 4 -> 0.25.
    x = torch.tensor([[[0.0, float(torch.log(torch.tensor(3.0)))]]])
    y = torch.zeros(1, 1, 4)
    assert confounder_score(x, y).item() == pytest.approx(1 - (0.75 + 0.25) / 2, abs=1e-7)
    # A confident keypoint (one huge logit on both axes) scores ~0.
    sharp = torch.tensor([[[100.0, 0.0, 0.0]]])
    assert confounder_score(sharp, sharp).item() == pytest.approx(0.0, abs=1e-6)


def test_confounder_score_carries_no_gradient() -> None:
    x = torch.randn(2, 3, 8, requires_grad=True)
    assert not confounder_score(x, x).requires_grad


def test_topk_picks_exactly_k_per_instance_and_the_highest() -> None:
    score = torch.tensor([[0.1, 0.9, 0.5, 0.7, 0.2], [0.8, 0.1, 0.3, 0.2, 0.95]])
    mask = select_topk(score, 2)
    assert mask.sum(dim=1).tolist() == [2, 2]
    assert mask[0].nonzero().flatten().tolist() == [1, 3]
    assert mask[1].nonzero().flatten().tolist() == [0, 4]
    assert not select_topk(score, 0).any()


def test_threshold_picks_exactly_those_above_tau() -> None:
    score = torch.tensor([[0.1, 0.5, 0.51, 0.7]])
    assert select_threshold(score, 0.5).tolist() == [[False, False, True, True]]


def _cim(k_train: int = 2, k_eval: int = 1, strategy: str = "topk") -> CausalInterventionModule:
    torch.manual_seed(0)
    return CausalInterventionModule(
        8, 5, (6, 4), CIMConfig(strategy=strategy, k_train=k_train, k_eval=k_eval)
    )


def test_k_zero_is_identity() -> None:
    cim = _cim(k_train=0, k_eval=0)
    f = torch.randn(3, 5, 8)
    for mode in (cim.train(), cim.eval()):
        out, selected, _, _ = mode(f)
        assert torch.equal(out, f) and not selected.any()


def test_intervention_replaces_selected_rows_with_canonical_rows() -> None:
    cim = _cim(k_train=2).train()
    f = torch.randn(3, 5, 8)
    out, selected, _, _ = cim(f)
    b, k = selected.nonzero(as_tuple=True)
    assert torch.equal(out[b, k], cim.canonical.weight[k])
    assert torch.equal(out[~selected], f[~selected])
    assert selected.sum(1).tolist() == [2, 2, 2]


def test_separate_k_for_training_and_evaluation() -> None:
    cim = _cim(k_train=3, k_eval=1)
    f = torch.randn(4, 5, 8)
    assert cim.train()(f)[1].sum(1).tolist() == [3] * 4
    assert cim.eval()(f)[1].sum(1).tolist() == [1] * 4


def test_only_selected_canonical_rows_get_gradient() -> None:
    cim = _cim(k_train=1).train()
    f = torch.randn(2, 5, 8)
    out, selected, _, _ = cim(f)
    out.square().sum().backward()
    rows_with_grad = cim.canonical.weight.grad.abs().sum(1) > 0
    assert torch.equal(rows_with_grad, selected.any(0))
    assert 1 <= int(rows_with_grad.sum()) <= 2


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("k_train", 21, "model.cim.k_train"),
        ("k_eval", -1, "model.cim.k_eval"),
        ("strategy", "random", "model.cim.strategy"),
        ("threshold", 1.5, "model.cim.threshold"),
    ],
)
def test_out_of_range_config_names_the_key(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CIMConfig(**{field: value}).validate(num_keypoints=20)
