"""`make bench-gpu`: CIGPose-l 256x192 training and inference on one GPU, in under 10 minutes.

Three parts, each saved as soon as it is done (``<results-dir>/gpu_{train,loader,infer}_<device>.json``,
rendered into BENCHMARKS.md by ``benchmarks.report``):

1. train: images/s of the real training step (``PoseLitModule.step_losses`` → backward → grad
   clipping → AdamW) on synthetic inputs and SimCC targets of the real shapes, per speed variant
   (fp32 eager, bf16 autocast, channels_last, compile, the ``fast=true`` default bf16 +
   channels_last, and all three), with warm-up / compile time and peak device memory.
2. loader: the ``fast`` step fed by the real training loader (``PoseDataModule`` on a synthetic
   set generated here) for each worker count: time waiting on the loader vs time in the step,
   i.e. whether data loading keeps the device busy.
3. infer: eval-mode latency at a few batch sizes, fp32 and bf16, plain forward and with the flip
   test + SimCC decoding of validation (``decode_crops``).

Every measurement runs under ``--budget-s``: one that would not fit is skipped, one that runs
past it is stopped (SIGALRM), and either leaves a ``skipped`` / ``stopped`` row. One that fails
leaves a ``failed`` row; the others still run. Compile variants run last (their cost is the least
predictable). On a CPU at a tiny size (``tests/test_bench_gpu.py``):

    .venv/bin/python -m benchmarks.bench_gpu --device cpu --size t --input-hw 64 64 --batch 2 \\
        --steps 2 --workers 0 1 --num-train 8 --image-wh 64 64 --variants fp32 cl --results-dir /tmp/r
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import torch

from benchmarks.common import RESULTS, load_average, machine
from cigpose.devices import fast_precision
from cigpose.models import CIGPose

T = TypeVar("T")
NUM_KEYPOINTS = 133  # COCO-WholeBody
GRAPH = "coco_wholebody"
STEP_KEYS = ("image", "target_x", "target_y", "keypoint_weights")  # what step_losses reads
VARIANTS = {  # id → (label, channels_last, bf16 autocast, compile)
    "fp32": ("fp32 eager", False, False, False),
    "bf16": ("bf16 autocast", False, True, False),
    "cl": ("channels_last", True, False, False),
    "compile": ("compile", False, False, True),
    "bf16_cl": ("bf16 + channels_last (fast=true on GPU)", True, True, False),
    "bf16_cl_compile": ("bf16 + channels_last + compile", True, True, True),
}
PARTS = ("train", "loader", "infer")
COMPILE_GUESS_S = 120.0  # expected cost of a compile variant before one has been measured


# ------------------------------------------------------------------ budget
class BudgetExceeded(Exception):
    """Raised by the SIGALRM handler when ``--budget-s`` runs out mid-measurement."""


def _raise_budget(signum: int, frame: Any) -> None:
    raise BudgetExceeded


def can_alarm() -> bool:
    """Whether a SIGALRM may stop a measurement: main thread, and no timer of someone else's
    pending (e.g. pytest-timeout's)."""
    return (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0)


class Budget:
    """Wall-clock seconds shared by every measurement of one run."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.monotonic()

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def run(self, fn: Callable[[], T], expected_s: float = 0.0) -> tuple[T | None, str]:
        """``(fn(), "ok")``; ``(None, why)`` when it would not fit in what is left (not started),
        ran past the budget (stopped by an alarm, where :func:`can_alarm`) or raised."""
        left = self.left()
        if left <= max(expected_s, 0.0):
            need = f", needs ~{expected_s:.0f} s" if expected_s else ""
            return None, f"skipped: budget ({max(left, 0):.0f} of {self.seconds:.0f} s left{need})"
        alarm = can_alarm()
        previous = signal.signal(signal.SIGALRM, _raise_budget) if alarm else None
        try:
            try:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, left)
                return fn(), "ok"
            finally:  # inside the outer try: an alarm due while disarming is caught below too
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    signal.signal(signal.SIGALRM, previous)
        except Exception as error:  # BudgetExceeded may arrive wrapped (e.g. by torch.compile)
            if isinstance(error, BudgetExceeded) or self.left() <= 0:
                return None, f"stopped: budget ({self.seconds:.0f} s) ran out"
            traceback.print_exc()
            first_line = (str(error).splitlines() or [""])[0][:160]
            return None, f"failed: {type(error).__name__}: {first_line}"


# ------------------------------------------------------------------ device
def is_cuda(device: str) -> bool:
    return device.startswith("cuda")


def sync(device: str) -> None:
    """Wait for the device's queued work (a no-op on the CPU)."""
    if is_cuda(device):
        torch.cuda.synchronize(device)


def free(device: str) -> None:
    """Release what the previous measurement left (its module must be unreferenced already)."""
    gc.collect()
    if is_cuda(device):
        torch.cuda.empty_cache()


def reset_peak(device: str) -> None:
    if is_cuda(device):
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: str) -> float | str:
    """Peak allocated device memory since :func:`reset_peak`, MiB; the CPU has no resettable peak."""
    if is_cuda(device):
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return "n/a (CPU)"


def autocast(device: str, bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if bf16 \
        else contextlib.nullcontext()


def fast_bf16(device: str) -> bool:
    """Whether ``fast=true`` trains with bf16 autocast on this device (``cigpose.devices``)."""
    return fast_precision(True, "gpu" if is_cuda(device) else "cpu") == "bf16-mixed"


# ------------------------------------------------------------------ training step
def synthetic_batch(batch: int, input_hw: tuple[int, int], split_ratio: float, device: str) -> dict[str, torch.Tensor]:
    """Inputs and targets of the real shapes: ``image`` uint8 ``(B, 3, H, W)``, ``target_x``
    ``(B, K, W·r)``, ``target_y`` ``(B, K, H·r)``, ``keypoint_weights`` ``(B, K)``."""
    h, w = input_hw
    g = torch.Generator().manual_seed(0)
    data = {"image": torch.randint(0, 256, (batch, 3, h, w), generator=g, dtype=torch.uint8),
            "target_x": torch.rand(batch, NUM_KEYPOINTS, int(w * split_ratio), generator=g),
            "target_y": torch.rand(batch, NUM_KEYPOINTS, int(h * split_ratio), generator=g),
            "keypoint_weights": torch.ones(batch, NUM_KEYPOINTS)}
    return {k: v.to(device) for k, v in data.items()}


def build_step(size: str, input_hw: tuple[int, int], device: str, channels_last: bool, bf16: bool,
               compiled: bool) -> tuple[Callable[[dict[str, torch.Tensor]], None], float]:
    """One optimiser step of ``PoseLitModule`` as a fit runs it, on a batch dict of
    :data:`STEP_KEYS` (on ``device``): ``step_losses`` under the autocast, backward, grad-norm
    clipping (35), AdamW. Returns ``(step, split_ratio)``."""
    from cigpose.training.module import PoseLitModule
    from cigpose.training.optim import build_optimizer

    torch.manual_seed(0)
    net = CIGPose(size, NUM_KEYPOINTS, input_hw, GRAPH)
    module = PoseLitModule(net, ema={"enabled": False}, channels_last=channels_last, compile=compiled).to(device)
    module.configure_model()  # compile: nn.Module.compile in place, as in a fit
    module.train()
    opt = build_optimizer(module.net, 1e-3)

    def step(data: dict[str, torch.Tensor]) -> None:
        with autocast(device, bf16):
            loss = module.step_losses(data)[0]["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.net.parameters(), 35.0)
        opt.step()

    return step, net.split_ratio


def timed(fn: Callable[[], object], warmup: int, steps: int, device: str) -> tuple[float, float]:
    """``(warm-up seconds in total, median seconds of the timed calls)``, synchronised on CUDA."""
    sync(device)
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    sync(device)
    warmup_s = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return warmup_s, statistics.median(times)


def train_variant(args: argparse.Namespace, key: str) -> dict[str, Any]:
    """One row of the training part: the step of variant ``key`` timed, its peak memory."""
    label, channels_last, bf16, compiled = VARIANTS[key]
    free(args.device)
    reset_peak(args.device)
    step, ratio = build_step(args.size, tuple(args.input_hw), args.device, channels_last, bf16, compiled)
    try:
        data = synthetic_batch(args.batch, tuple(args.input_hw), ratio, args.device)
        warmup_s, seconds = timed(functools.partial(step, data), args.warmup, args.steps, args.device)
        memory = peak_mib(args.device)
    finally:
        del step
        if compiled:
            torch.compiler.reset()
        free(args.device)
    return {"variant": label, "step_ms": round(seconds * 1000, 1), "images_per_s": round(args.batch / seconds, 2),
            "warmup_s": round(warmup_s, 1),
            "compile_s": round(max(warmup_s - args.warmup * seconds, 0.0), 1) if compiled else "",
            "peak_mem_MiB": memory}


def train_part(args: argparse.Namespace, budget: Budget, keys: list[str]) -> list[dict[str, Any]]:
    """Rows of the variants ``keys``, measured in that order. A variant is not started when what
    is left of the budget is below the longest of its kind so far (compile: :data:`COMPILE_GUESS_S`
    until one is measured)."""
    expected = {False: 0.0, True: COMPILE_GUESS_S}
    rows = []
    for key in keys:
        compiled = VARIANTS[key][3]
        start = time.monotonic()
        row, status = budget.run(functools.partial(train_variant, args, key), expected[compiled])
        if row is not None:
            took = time.monotonic() - start
            expected[compiled] = took if compiled else max(expected[compiled], took)
        rows.append({"model": model_label(args), "device": args.device, "batch": args.batch,
                     **(row or {"variant": VARIANTS[key][0]}), "status": status})
        print(rows[-1], flush=True)
    return rows


def train_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` in :data:`VARIANTS` order, with the speedup over fp32 eager where both were measured."""
    order = [label for label, *_ in VARIANTS.values()]
    rows = sorted(rows, key=lambda r: order.index(r["variant"]))
    base = next((r.get("images_per_s") for r in rows if r["variant"] == VARIANTS["fp32"][0]), None)
    return [{**r, "speedup_vs_fp32": round(r["images_per_s"] / base, 2) if base and "images_per_s" in r else ""}
            for r in rows]


# ------------------------------------------------------------------ data loading
def worker_counts(requested: list[int]) -> list[int]:
    """``--workers``, each capped at ``os.cpu_count()``, duplicates dropped, order kept."""
    cap = os.cpu_count() or 1
    return list(dict.fromkeys(min(max(n, 0), cap) for n in requested))


def make_dataset(root: str, args: argparse.Namespace) -> dict:
    """A synthetic whole-body train split of ``--num-train`` people under ``root``."""
    from cigpose.synth.generate import generate_dataset

    workers = 1 if args.num_train < 64 else min(os.cpu_count() or 1, 8)
    return generate_dataset(root, num_train=args.num_train, num_val=0, num_val_ood=0,
                            image_size=tuple(args.image_wh), workers=workers)


def make_datamodule(root: str, args: argparse.Namespace) -> Any:
    """The training ``PoseDataModule`` of ``conf/train.yaml`` with ``data=synthetic`` on ``root``,
    set up for fitting (no validation split)."""
    import hydra

    from cigpose.config import compose

    h, w = args.input_hw
    cfg = compose("train", ["data=synthetic", f"data.root={root}", f"data.input_size=[{h},{w}]",
                            f"data.batch_size={args.batch}", "data.num_workers=0", "data.persistent_workers=false",
                            f"data.pin_memory={str(is_cuda(args.device)).lower()}", "data.val=null"])
    datamodule = hydra.utils.instantiate(cfg.data, _recursive_=False)
    datamodule.setup("fit")
    return datamodule


def batches(loader: Any) -> Iterator[dict[str, Any]]:
    """The loader's batches, epoch after epoch (a new iterator at the end of each)."""
    while True:
        yield from loader


def to_device(batch: dict[str, Any], device: str) -> dict[str, torch.Tensor]:
    return {k: batch[k].to(device, non_blocking=True) for k in STEP_KEYS}


def loader_row(datamodule: Any, step: Callable[[dict], None], workers: int, args: argparse.Namespace
               ) -> dict[str, Any]:
    """The step fed by ``train_dataloader()`` with ``workers`` processes: one warm-up batch (worker
    start-up), then ``--loader-steps`` timed as waiting on ``next()`` vs transfer + step."""
    datamodule.num_workers = workers
    stream = batches(datamodule.train_dataloader())
    try:
        step(to_device(next(stream), args.device))  # warm-up: workers start, kernels pick
        sync(args.device)
        waits, steps = [], []
        for _ in range(args.loader_steps):
            start = time.perf_counter()
            batch = next(stream)
            got = time.perf_counter()
            step(to_device(batch, args.device))
            sync(args.device)
            waits.append(got - start)
            steps.append(time.perf_counter() - got)
    finally:
        stream.close()  # shuts the workers down
    total = sum(waits) + sum(steps)
    return {"workers": workers, "wait_ms_per_step": round(1000 * sum(waits) / len(waits), 1),
            "step_ms": round(1000 * sum(steps) / len(steps), 1), "loader_wait_fraction": round(sum(waits) / total, 3),
            "device_busy_pct": round(100 * sum(steps) / total, 1),
            "images_per_s": round(args.batch * len(steps) / total, 2)}


def loader_part(args: argparse.Namespace, budget: Budget) -> tuple[list[dict[str, Any]], str]:
    """One row per worker count of ``--workers``, and a note on the data."""
    head = {"model": model_label(args), "device": args.device, "batch": args.batch}
    counts = worker_counts(args.workers)
    with tempfile.TemporaryDirectory(prefix="cigpose-bench-gpu-") as root:
        made, status = budget.run(lambda: make_dataset(root, args))
        if made is None:
            return [{**head, "workers": n, "status": f"no data: {status}"} for n in counts], ""
        split = made["splits"]["train"]
        wraps = split["num_people"] < args.batch * (args.loader_steps + 1)
        note = (f"{split['num_people']} people in {split['num_images']} synthetic {args.image_wh[0]}x"
                f"{args.image_wh[1]} JPEG images (generated in {made['seconds']:.1f} s)"
                f"{': epochs end among the timed steps (worker restarts counted as waiting)' if wraps else ''}")
        setup, status = budget.run(lambda: (make_datamodule(root, args), fast_step(args)))
        if setup is None:
            return [{**head, "workers": n, "status": status} for n in counts], note
        datamodule, step = setup
        rows, spent = [], 0.0
        for n in counts:
            start = time.monotonic()
            row, status = budget.run(functools.partial(loader_row, datamodule, step, n, args), spent)
            spent = max(spent, time.monotonic() - start) if row else spent
            rows.append({**head, **(row or {"workers": n}), "status": status})
            print(rows[-1], flush=True)
    return rows, note


def fast_step(args: argparse.Namespace) -> Callable[[dict], None]:
    """The training step ``fast=true`` runs on this device: channels_last, bf16 where native."""
    return build_step(args.size, tuple(args.input_hw), args.device, True, fast_bf16(args.device), False)[0]


# ------------------------------------------------------------------ inference
def infer_row(net: CIGPose, flip: torch.Tensor | None, batch: int, bf16: bool, args: argparse.Namespace
              ) -> dict[str, Any]:
    """Latency of uint8 crops ``(batch, 3, H, W)`` → normalised → the network in eval mode: SimCC
    logits (plain) or keypoints ``(batch, K, 2)`` + scores (flip test + decoding, as validation)."""
    from cigpose.preprocess import Normalize
    from cigpose.topdown.decode import decode_crops

    normalize = Normalize().to(args.device)
    images = torch.randint(0, 256, (batch, 3, *args.input_hw), dtype=torch.uint8, device=args.device)

    def run() -> object:
        with torch.inference_mode(), autocast(args.device, bf16):
            x = normalize(images)
            return net(x) if flip is None else decode_crops(net, x, flip)

    _, seconds = timed(run, args.warmup, args.steps, args.device)
    return {"ms_per_batch": round(seconds * 1000, 2), "images_per_s": round(batch / seconds, 2)}


def infer_part(args: argparse.Namespace, budget: Budget) -> list[dict[str, Any]]:
    """Rows for each batch of ``--infer-batches`` × fp32 / bf16 × plain / flip test."""
    from cigpose.data.metainfo import load_meta

    torch.manual_seed(0)
    net = CIGPose(args.size, NUM_KEYPOINTS, tuple(args.input_hw), GRAPH).eval().to(args.device)
    flip_indices = torch.as_tensor(load_meta(GRAPH).flip_indices, dtype=torch.long, device=args.device)
    rows, spent = [], 0.0
    for batch in args.infer_batches:
        for bf16 in (False, True):
            for flip in (None, flip_indices):
                start = time.monotonic()
                row, status = budget.run(functools.partial(infer_row, net, flip, batch, bf16, args), spent)
                spent = max(spent, time.monotonic() - start) if row else spent
                rows.append({"model": model_label(args), "device": args.device, "batch": batch,
                             "precision": "bf16 autocast" if bf16 else "fp32",
                             "mode": "plain forward" if flip is None else "flip test + decode",
                             **(row or {}), "status": status})
                print(rows[-1], flush=True)
    return rows


# ------------------------------------------------------------------ results
def model_label(args: argparse.Namespace) -> str:
    return f"cigpose-{args.size} {args.input_hw[0]}x{args.input_hw[1]}"


def save_results(results_dir: Path, name: str, rows: list[dict], notes: str, command: str) -> Path:
    """``<results_dir>/<name>.json`` in the layout of ``benchmarks.common.save`` (what
    ``benchmarks.report`` renders), written to any folder."""
    results_dir.mkdir(parents=True, exist_ok=True)
    date = time.strftime("%Y-%m-%d")
    run = {"command": command, "date": date, "load_avg_1_5_15min": load_average()}
    payload = {"name": name, "machine": machine(), "command": command, "runs": [run], "rows": rows,
               "notes": notes, "date": date}
    path = results_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}", flush=True)
    return path


def notes(part: str, args: argparse.Namespace, extra: str = "") -> str:
    """What one part's numbers mean (the section's text under its table)."""
    sync_note = "torch.cuda.synchronize after every timed call" if is_cuda(args.device) else "CPU"
    budget = f"whole run under --budget-s {args.budget_s:.0f}: skipped / stopped rows ran out of it"
    if part == "train":
        return (f"one full step = normalisation, forward of both paths (CIM, GNN), KL + consistency loss, backward, "
                f"grad clipping, AdamW, on synthetic inputs and SimCC targets of the real shapes (K = 133, split "
                f"ratio 2); median of {args.steps} steps after {args.warmup} warm-up steps ({sync_note}); "
                f"warmup_s includes compilation, compile_s = warmup_s - {args.warmup} x median step; peak_mem (CUDA) = "
                f"torch.cuda.max_memory_allocated over build + steps (weights, AdamW state, activations); "
                f"cudnn.benchmark off, as in training (trainer.benchmark=false); compile variants ran last; {budget}")
    if part == "loader":
        return (f"the fast=true step (channels_last{' + bf16' if fast_bf16(args.device) else ''}) fed by "
                f"PoseDataModule.train_dataloader() (conf data=synthetic: JPEG decode, stage-1 augmentation, SimCC "
                f"encoding; pin_memory={is_cuda(args.device)}); after one warm-up batch, {args.loader_steps} steps "
                f"timed as wait on next(loader) vs host-to-device copy + step ({sync_note}); device_busy_pct = step "
                f"time / total: below ~90 % the loader starves the device; worker counts capped at "
                f"os.cpu_count() = {os.cpu_count()}; {extra}; {budget}")
    return (f"eval mode, random weights (timing only), uint8 crops normalised on the device; plain forward = SimCC "
            f"logits; flip test + decode = the mirrored pass too, averaged, decoded to keypoints in fp32 "
            f"(cigpose.topdown.decode_crops, as validation and the Predictor); median of {args.steps} calls after "
            f"{args.warmup} warm-up ({sync_note}); {budget}")


# ------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_gpu",
        description="CIGPose training (speed variants, data loading) and inference on one GPU, under a time budget.")
    parser.add_argument("--size", default="l", choices=["t", "s", "m", "l", "x"], help="CSPNeXt size (default: l)")
    parser.add_argument("--input-hw", nargs=2, type=int, default=[256, 192], metavar=("H", "W"),
                        help="crop height and width, each divisible by 32 (default: 256 192)")
    parser.add_argument("--batch", type=int, default=64, help="training batch (default: 64)")
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default: cuda)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps / calls per measurement (default: 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps / calls first (default: 3)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="ID",
                        help="training variants: " + ", ".join(f"{k} ({v[0]})" for k, v in VARIANTS.items())
                        + " (default: all; compile ones take minutes on a CPU)")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS, help="what to run (default: all)")
    parser.add_argument("--workers", nargs="+", type=int, default=[0, 2, 4, 8],
                        help="loader worker counts, each capped at os.cpu_count() (default: 0 2 4 8)")
    parser.add_argument("--loader-steps", type=int, default=10, help="timed loader-fed steps per worker count "
                        "(default: 10)")
    parser.add_argument("--num-train", type=int, default=None,
                        help="people in the synthetic train split (default: batch x (loader-steps + 2), so that no "
                        "epoch ends among the timed steps)")
    parser.add_argument("--image-wh", nargs=2, type=int, default=[640, 480], metavar=("W", "H"),
                        help="synthetic image size, at least 64 64 (default: 640 480, COCO's usual)")
    parser.add_argument("--infer-batches", nargs="+", type=int, default=[1, 32],
                        help="inference batch sizes (default: 1 32)")
    parser.add_argument("--budget-s", type=float, default=540.0,
                        help="wall-clock seconds for every measurement together (default: 540)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS,
                        help="where the result files go (default: benchmarks/results)")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if is_cuda(args.device) and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device here (use --device cpu for a CPU run)")
    if min(args.steps, args.loader_steps, args.batch, *args.infer_batches) < 1 or args.warmup < 0:
        parser.error("--steps, --loader-steps, --batch and --infer-batches must be >= 1, --warmup >= 0")
    if args.num_train is None:
        args.num_train = args.batch * (args.loader_steps + 2)
    if args.num_train < args.batch:
        parser.error(f"--num-train {args.num_train}: fewer people than one batch ({args.batch})")
    if any(v % 32 for v in args.input_hw):
        parser.error(f"--input-hw {args.input_hw[0]} {args.input_hw[1]}: each must be divisible by 32")
    return args


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """Run the parts of ``--parts`` (the compile variants last of all: the least predictable cost),
    saving each part's file as soon as it has rows; returns ``{part: result file}``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    command = " ".join(["python -m benchmarks.bench_gpu", *argv])
    budget = Budget(args.budget_s)
    device = args.device.split(":")[0]
    written: dict[str, Path] = {}

    def save(part: str, rows: list[dict], extra: str = "") -> None:
        written[part] = save_results(args.results_dir, f"gpu_{part}_{device}", rows, notes(part, args, extra), command)

    train_rows: list[dict[str, Any]] = []
    if "train" in args.parts:
        train_rows = train_part(args, budget, [k for k in args.variants if not VARIANTS[k][3]])
        save("train", train_table(train_rows))
    if "loader" in args.parts:
        save("loader", *loader_part(args, budget))
        free(args.device)  # the loader part's module, now unreferenced
    if "infer" in args.parts:
        save("infer", infer_part(args, budget))
        free(args.device)
    compiled = [k for k in args.variants if VARIANTS[k][3]]
    if "train" in args.parts and compiled:
        train_rows += train_part(args, budget, compiled)
        save("train", train_table(train_rows))
    print(f"done in {args.budget_s - budget.left():.0f} s (budget {args.budget_s:.0f} s)", flush=True)
    return written


if __name__ == "__main__":
    main()
