"""Shared pytest fixtures: locate the real COCO fixtures or skip with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cigpose.paths import fixtures_dir


@pytest.fixture(scope="session")
def coco_fixtures() -> Path:
    """``.../fixtures/coco`` (4 COCO val images, COCO + COCO-WholeBody annotations, detections)."""
    root = fixtures_dir()
    if root is None:
        pytest.skip(
            "real COCO fixtures not found: set CIGPOSE_FIXTURES or provide ../shared/fixtures"
        )
    return root / "coco"


def settle_batchnorm(model: torch.nn.Module, input_size: tuple[int, int], batch: int = 8) -> None:
    """Give a freshly initialised network realistic BatchNorm running statistics.

    With PyTorch's default init and untouched running stats (mean 0, var 1), eval-mode activations
    shrink layer after layer to ~1e-10, where float32 rounding dominates and comparisons between
    two runtimes are meaningless. One train-mode pass with momentum 1 fixes that.
    """

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 1.0
    was_training = model.training
    model.train()
    with torch.no_grad():
        model(torch.randn(batch, 3, *input_size))
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    model.train(was_training)
