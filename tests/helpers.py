"""What the test files share: the console scripts as real subprocesses, tiny training runs in the
test process (``train(cfg)``, no process boundary where none is needed), logs read back."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import torch

from cigpose.config import compose
from cigpose.training.run import train

# The tiny real run every training test starts from (conf/debug/default.yaml on the 4 real images).
DEBUG = ("experiment=smoke_fixtures", "debug=default")


def script(name: str) -> list[str]:
    """The installed console script ``name`` (``cigpose-train`` ...), or its module when the
    package is not installed as scripts."""
    path = Path(sys.executable).with_name(name)
    module = "cigpose.cli." + name.removeprefix("cigpose-").replace("-", "_")
    return [str(path)] if path.exists() else [sys.executable, "-m", module]


def run_script(name: str, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600,
               check: bool = True) -> subprocess.CompletedProcess:
    """Run a console script; with ``check`` fail showing the output tails on a non-zero exit."""
    result = subprocess.run([*script(name), *args], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=timeout)
    if check:
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return result


def cigpose_train(*overrides: str, cwd: Path, env: dict | None = None,
                  timeout: int = 600) -> subprocess.CompletedProcess:
    """``cigpose-train OVERRIDES`` from ``cwd`` as a real process."""
    return run_script("cigpose-train", *overrides, cwd=cwd, env=env, timeout=timeout)


def train_in_process(*overrides: str, output_dir: Path) -> dict[str, float]:
    """``cigpose-train OVERRIDES`` in this process (``paths.output_dir`` set, as Hydra would):
    the same ``train(cfg)``, without a Python start-up or a Hydra app around it."""
    cfg = compose("train", [*overrides, f"paths.output_dir={output_dir}"])
    return train(cfg)


def csv_rows(run_dir: Path, version: int = 0) -> list[dict[str, str]]:
    with open(run_dir / "csv" / f"version_{version}" / "metrics.csv") as handle:
        return list(csv.DictReader(handle))


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
