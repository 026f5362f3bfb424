"""Shared pytest fixtures: locate the real COCO fixtures or skip with the reason."""

from __future__ import annotations

import os
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


def pytest_configure(config: pytest.Config) -> None:
    """Under ``pytest -n 2`` (pytest-xdist) each worker — and every process it starts — gets one
    thread, so two workers share the 2 cores instead of thrashing over them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)

