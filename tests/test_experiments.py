"""Every paper row exists as a config and builds the paper's network: exact parameter count,
GMACs within 1% (SPEC §7), through the `cigpose-info` console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cigpose.paths import config_dir
from tests.helpers import script

# SPEC §7: live parameter count and GMACs of the reference build.
REFERENCE = {
    "cigpose-m_coco-wholebody_256x192": (18_458_191, 2.313),
    "cigpose-l_coco-wholebody_256x192": (33_986_023, 4.608),
    "cigpose-l_coco-wholebody_384x288": (36_975_271, 10.628),
    "cigpose-x_coco-wholebody_384x288": (60_074_271, 18.639),
    "cigpose-l_coco-ubody_256x192": (33_986_023, 4.608),
    "cigpose-l_coco-ubody_384x288": (36_975_271, 10.628),
    "cigpose-x_coco-ubody_384x288": (60_074_271, 18.639),
    "cigpose-m_coco_256x192": (14_063_067, 1.928),
    "cigpose-l_coco_256x192": (28_135_795, 4.153),
    "cigpose-l_coco_384x288": (28_381_427, 9.319),
    "cigpose-m_crowdpose_256x192": (14_123_032, 1.923),
    "cigpose-l_crowdpose_256x192": (28_158_128, 4.146),
    "cigpose-l_crowdpose_384x288": (28_403_760, 9.302),
    "cigpose-x_crowdpose_384x288": (50_010_024, 17.152),
}
BASELINES = ["rtmpose-m_coco-wholebody_256x192", "rtmpose-l_coco-wholebody_256x192",
             "rtmpose-l_coco-wholebody_384x288", "rtmpose-x_coco-wholebody_384x288"]


def cigpose_info(*overrides: str, cwd: Path) -> dict:
    command = script("cigpose-info")
    env = {k: v for k, v in os.environ.items() if k != "CIGPOSE_CONFIG_DIR"}
    result = subprocess.run([*command, *overrides], cwd=cwd, capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def info_of(*overrides: str) -> dict:
    """What ``cigpose-info OVERRIDES`` prints, in-process (one Python start-up per row saved)."""
    from cigpose.config import compose
    from cigpose.models.build import build_model
    from cigpose.models.complexity import model_info

    cfg = compose("train", list(overrides))
    net = build_model(cfg.model)
    return model_info(net, str(cfg.get("name", net.name)))


def test_cigpose_info_reproduces_every_paper_row_from_any_directory(tmp_path: Path) -> None:
    # one process per row would cost a Python start-up each: the app takes one row per call,
    # so run the rows through the same entry point in-process here and one real subprocess.
    for name, (params, gmacs) in REFERENCE.items():
        info = info_of(f"experiment={name}")
        assert info["name"] == name
        assert info["params"] == params, name
        assert abs(info["gflops"] - gmacs) / gmacs < 0.01, (name, info["gflops"], gmacs)
        h, w = (int(v) for v in name.rsplit("_", 1)[1].split("x"))
        assert info["input_size"] == [h, w]
        assert info["num_keypoints"] == {"coco-wholebody": 133, "coco-ubody": 133, "coco": 17,
                                         "crowdpose": 14}[name.split("_")[1]]
    for name in BASELINES:
        info = info_of(f"experiment={name}")
        assert info["num_keypoints"] == 133 and info["params"] < REFERENCE[name.replace("rtmpose", "cigpose")][0]
    row = "cigpose-m_crowdpose_256x192"
    assert cigpose_info(f"experiment={row}", cwd=tmp_path) == {
        "name": row, "num_keypoints": 14, "input_size": [256, 192], "params": REFERENCE[row][0],
        "gflops": pytest.approx(REFERENCE[row][1], rel=0.01)}


def test_overrides_change_the_network(tmp_path: Path) -> None:
    base = info_of("experiment=cigpose-m_coco_256x192")
    no_cim = info_of("experiment=cigpose-m_coco_256x192", "model.cim.enabled=false")
    assert no_cim["params"] < base["params"]


def test_config_override_directory_is_honoured(tmp_path: Path) -> None:
    copy = tmp_path / "conf"
    shutil.copytree(config_dir(), copy)
    (copy / "model" / "cigpose_m.yaml").write_text(
        "defaults:\n  - cigpose_base\n  - _self_\nsize: s\nname: my-override\n")
    env = {**os.environ, "CIGPOSE_CONFIG_DIR": str(copy)}
    result = subprocess.run([sys.executable, "-m", "cigpose.cli.info", "model=cigpose_m", "data=coco"],
                            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    info = json.loads(result.stdout)
    assert info["name"].startswith("my-override")
    from cigpose.models import CIGPose

    assert info["params"] == sum(p.numel() for p in CIGPose("s", 17, (256, 192), "coco").parameters())
