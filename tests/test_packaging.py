"""The package carries its configs, graphs and compiled conversion loop: a wheel works from any directory."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                             "-q", str(ROOT), "-w", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return next(out.glob("cigpose-*.whl"))


def test_wheel_ships_configs_and_graphs(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("cigpose/conf/train.yaml", "cigpose/conf/model/cigpose_m.yaml",
                     "cigpose/conf/experiment/cigpose-m_coco-wholebody_256x192.yaml",
                     "cigpose/metadata/graphs/coco_wholebody.yaml"):
        assert required in names
    compiled = [n for n in names if n.startswith("cigpose/evaluation/_stack.")
                and n.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
    assert len(compiled) == 1, "the evaluator's conversion loop (_stack.c) is built into the wheel"


def test_installed_wheel_finds_its_configs_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("CIGPOSE_CONFIG_DIR", None)
    code = ("import cigpose, sys; from cigpose.cli.info import main; "
            "assert cigpose.__file__.startswith(sys.argv[1]), cigpose.__file__; "
            "main(['experiment=cigpose-m_coco_256x192'])")
    result = subprocess.run([sys.executable, "-c", code, str(site)], cwd=elsewhere, capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["params"] == 14_063_067
