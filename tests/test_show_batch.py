"""``cigpose-show-batch`` as a user runs it: a subprocess from another working directory."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cigpose.config import compose
from cigpose.data.metainfo import load_meta
from cigpose.data.show_batch import draw_batch, show_batch
from cigpose.visualize import PART_COLOURS


def _run(tmp_path: Path, coco_fixtures: Path, *overrides: str) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "cigpose-show-batch"
    command = (
        [str(script)] if script.is_file() else [sys.executable, "-m", "cigpose.cli.show_batch"]
    )
    env = {**os.environ, "CIGPOSE_FIXTURES": str(coco_fixtures.parent)}
    return subprocess.run(
        [*command, *overrides, f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _grid_size(n: int, columns: int, h: int = 256, w: int = 192, pad: int = 2) -> tuple[int, int]:
    rows = -(-n // columns)
    return rows * (h + pad) + pad, columns * (w + pad) + pad


def test_show_batch_writes_a_grid_of_augmented_crops(tmp_path: Path, coco_fixtures: Path) -> None:
    output = tmp_path / "out" / "grid.png"
    result = _run(tmp_path, coco_fixtures, f"output={output}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert output.is_file() and (tmp_path / "run" / "show_batch.log").is_file()
    image = cv2.imread(str(output))[..., ::-1]
    # 12 labelled fixture instances < num_images 16: one batch of 12 → 3 rows × 4 columns
    assert image.shape == (*_grid_size(12, 4), 3)
    assert (
        image.std() > 30 and len(np.unique(image.reshape(-1, 3), axis=0)) > 5000
    )  # photos, not blank
    for part in ("face", "torso", "legs"):  # keypoints drawn in their coarse-part colours
        assert (image == PART_COLOURS[part]).all(-1).sum() > 20, part
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "run"]  # nothing else written


def test_show_batch_respects_num_images_and_stage(
    tmp_path: Path, coco_fixtures: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cigpose.data")
    output = tmp_path / "four.png"
    cfg = compose("show_batch", [f"output={output}", "num_images=4", "stage=2"])
    assert show_batch(cfg) == output
    assert any("wrote 4 crops (stage 2)" in r.getMessage() for r in caplog.records)
    assert cv2.imread(str(output)).shape == (*_grid_size(4, 2), 3)


def test_draw_batch_draws_only_weighted_keypoints() -> None:
    meta = load_meta("coco_wholebody")
    k = meta.num_keypoints
    batch = {
        "image": torch.zeros(2, 3, 256, 192, dtype=torch.uint8),
        "keypoints": torch.full((2, k, 2), 50.0),
        "keypoint_weights": torch.zeros(2, k),
    }
    batch["keypoints"][1, 0] = torch.tensor([100.0, 120.0])  # nose: a face keypoint
    batch["keypoint_weights"][1, 0] = 1.0
    grid = draw_batch(batch, meta, num_images=2)
    assert grid.shape == (*_grid_size(2, 2), 3)
    first, second = grid[2:258, 2:194], grid[2:258, 196:388]
    assert (first == 0).all()  # nothing weighted, nothing drawn
    np.testing.assert_array_equal(second[120, 100], PART_COLOURS["face"])
    assert (second != 0).any(-1).sum() < 40  # one small dot
