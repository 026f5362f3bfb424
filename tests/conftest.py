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


# The longest test files (``--durations``: real training runs and subprocesses), longest first.
# ``make test`` gives each worker whole files (``--dist loadfile``) in collection order; starting
# these first (longest-processing-time-first) keeps one worker from being left alone with a long
# file at the end. Only the order changes: every test and its module's fixtures stay as they are.
LONGEST_FILES = ("test_faults", "test_sweeps", "test_inference", "test_train", "test_pretrain_chain",
                 "test_ddp", "test_experiments", "test_resume")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)

    items.sort(key=rank)  # stable: the order within a file and among the others is kept
