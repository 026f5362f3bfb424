"""Shared pytest fixtures: locate the real COCO fixtures or skip with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

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
