"""What the test files share: the console scripts as real subprocesses, tiny training runs in the
test process (``train(cfg)``, no process boundary where none is needed), logs read back."""

from __future__ import annotations

import csv
import json
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cigpose.config import compose
from cigpose.evaluation.results import WHOLEBODY_FIELDS
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


def csv_rows(run_dir: Path, version: int | None = 0) -> list[dict[str, str]]:
    """The CSV logger's rows of ``run_dir``: one version, or (``None``) every version in order
    (a resumed run logs into the next one)."""
    files = [run_dir / "csv" / f"version_{version}" / "metrics.csv"] if version is not None else \
        sorted((run_dir / "csv").glob("version_*/metrics.csv"), key=lambda f: int(f.parent.name[8:]))
    rows: list[dict[str, str]] = []
    for file in files:
        with file.open() as handle:
            rows += list(csv.DictReader(handle))
    return rows


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


# ------------------------------------------------------------------ real processes, checkpoints
REPO = Path(__file__).resolve().parents[1]
# the repository on PYTHONPATH, for the test-only callbacks of tests/fault_callbacks.py
ENV = {"PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
# a deterministic tiny run without validation until epoch 3 (resume and speed-option checks)
TINY = ["experiment=smoke_fixtures", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]",
        "test=false", "trainer.deterministic=true", "data.num_workers=0", "data.stage2_epoch=1",
        "trainer.check_val_every_n_epoch=3", "callbacks.prediction_images=null"]


def load_checkpoint(path: Path) -> dict:
    """A Lightning checkpoint as saved (every key, on CPU)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def experiment_run(experiment: str, tmp_path_factory) -> Path:
    """``cigpose-train experiment=EXPERIMENT`` from a fresh folder; returns its run dir."""
    work = tmp_path_factory.mktemp(f"{experiment}_cwd")
    cigpose_train(f"experiment={experiment}", f"hydra.run.dir={work / 'run'}", cwd=work)
    return work / "run"


def start(argv: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    log = (cwd / "process.log").open("w")
    env = {**os.environ, **ENV, **(env or {})}
    return subprocess.Popen(argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 600) -> dict:
    """The JSON a ``PauseAt`` callback writes once the run reached its batch."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the run exited early:\n{log_tail(path.parent)}"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    time.sleep(0.05)  # written in one call; let it land
    return json.loads(path.read_text())


def pause_at(epoch: int, batch: int, marker: Path, until: str = "signal") -> list[str]:
    return ["+callbacks.pause._target_=tests.fault_callbacks.PauseAt", f"+callbacks.pause.epoch={epoch}",
            f"+callbacks.pause.batch={batch}", f"+callbacks.pause.marker={marker}", f"+callbacks.pause.until={until}"]


def log_tail(cwd: Path) -> str:
    return (cwd / "process.log").read_text()[-3000:]


# ------------------------------------------------------------------------- W&B offline run files
def wandb_records(run_file: Path) -> list:
    """The protobuf records of an offline W&B run file (``run-<id>.wandb``): a ``:W&B`` header,
    then a LevelDB-style log of 32 KiB blocks whose chunks (CRC, length, type) carry records."""
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", run_file
    block, position, pending, records = 32768, 7, b"", []
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a chunk header is padding
            position += block - position % block
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        pending += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):  # a full record, or the last chunk of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def wandb_run(run_dir: Path) -> dict:
    """Name, group, config and logged metric keys of the one offline W&B run under ``run_dir``."""
    runs = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1, runs
    out: dict = {"config": {}, "metrics": set(), "exit": None}
    for record in wandb_records(runs[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out.update(name=record.run.display_name, group=record.run.run_group, id=record.run.run_id)
            out["config"].update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            out["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            out["metrics"] |= {i.key or "/".join(i.nested_key) for i in record.history.item}
        elif kind == "exit":
            out["exit"] = record.exit.exit_code
    return out


# -------------------------------------------------------- hand-built whole-body results (paired)
HALF_AP = 51 / 101  # precision 1 up to recall 0.5, then no further true positive: 51 of 101 recall points


def exact_results(annotations: dict, missed: set[int] = frozenset()) -> list[dict]:
    """One result per person at its true keypoints (score 1 each), best-scored first in file
    order; people whose index is in ``missed`` are predicted 1000 px away with the lowest scores."""
    results = []
    count = len(annotations["annotations"])
    for index, ann in enumerate(annotations["annotations"]):
        entry = {"image_id": ann["image_id"], "category_id": 1,
                 "score": (0.1 if index in missed else 0.5) + 0.4 * (count - index) / count}
        for field, _ in WHOLEBODY_FIELDS:
            triples = np.asarray(ann[field], dtype=np.float64).reshape(-1, 3)
            triples[:, 2] = 1.0
            if index in missed:
                triples[:, :2] += 1000.0
            entry[field] = triples.ravel().tolist()
        results.append(entry)
    return results


def half_missed(annotations: dict) -> set[int]:
    return set(range(0, len(annotations["annotations"]), 2))  # every other person: exactly half


# ------------------------------------------------------------- our state dict in MMPose's layout
# Our name → MMPose name, written independently of cigpose.convert (and checked against the
# reference key list below), so the two tables check each other.
TO_MMPOSE = [
    ("head.tokens.keypoint_conv.", "head.final_layer."),
    ("head.tokens.token_norm.g", "head.mlp_pre_gau.0.g"),
    ("head.tokens.token_proj.", "head.mlp_pre_gau.1."),
    ("head.tokens.gau.norm.g", "head.gau.ln.g"),
    ("head.tokens.gau.out.", "head.gau.o."),
    ("head.tokens.gau.res_scale", "head.gau.res_scale.scale"),
    ("head.tokens.gau.", "head.gau."),
    ("head.cim.scorer_x.", "head.initial_pred_x."),
    ("head.cim.scorer_y.", "head.initial_pred_y."),
    ("head.cim.canonical.", "head.cim.canonical_features."),
    ("head.gnn.input_proj.", "head.gcn.conv_input."),
    ("head.gnn.input_norm.", "head.gcn.bn_input."),
    ("head.cls_x.", "head.cls_gx."),
    ("head.cls_y.", "head.cls_gy."),
]
LAYER_RULES = [
    (r"head\.gnn\.layers\.(\d+)\.edge_conv\.conv\.", r"head.gcn.edgeconv_layers.\1.conv."),
    (r"head\.gnn\.layers\.(\d+)\.norm\.", r"head.gcn.bn_layers.\1."),
    (
        r"head\.gnn\.layers\.(\d+)\.attention\.down\.",
        r"head.gcn.attention_modules.\1.conv_down_linear.",
    ),
    (
        r"head\.gnn\.layers\.(\d+)\.attention\.down_norm\.",
        r"head.gcn.attention_modules.\1.bn_down.",
    ),
    (
        r"head\.gnn\.layers\.(\d+)\.attention\.group_conv\.conv\.",
        r"head.gcn.attention_modules.\1.edge_conv_groups.conv.",
    ),
    (
        r"head\.gnn\.layers\.(\d+)\.attention\.up\.",
        r"head.gcn.attention_modules.\1.aggregate_linear.",
    ),
]


def to_mmpose(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        new = key
        for pattern, replacement in LAYER_RULES:
            new = re.sub("^" + pattern, replacement, new)
        for ours, theirs in TO_MMPOSE:
            if new.startswith(ours):
                new = theirs + new[len(ours) :]
                break
        out[new] = value
    return out
