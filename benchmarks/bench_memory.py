"""Peak training memory per image of CIGPose-m/l 256x192 (the training step of ``bench_train``).

CPU: peak resident set size (``ru_maxrss``) of a fresh process per (size, variant, batch) running
two full training steps; the per-image figure is the slope between two batch sizes,
``(peak(b2) − peak(b1)) / (b2 − b1)``, so the interpreter, the weights and the AdamW state cancel
out. GPU: ``torch.cuda.max_memory_allocated`` of the same steps (one process).

    .venv/bin/python -m benchmarks.bench_memory --sizes m l --batches 4 8
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch

from benchmarks.bench_train import step_fn
from benchmarks.common import save

VARIANTS = {"eager fp32": (False, False), "channels_last + bf16": (True, True)}


def measure(size: str, variant: str, batch: int, device: str) -> float:
    """Peak MiB of two training steps: CPU RSS of this process, or CUDA allocated memory."""
    channels_last, bf16 = VARIANTS[variant]
    step = step_fn(size, batch, device, channels_last, bf16, False)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(2):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_peak(size: str, variant: str, batch: int) -> float:
    """``measure`` in a fresh interpreter (``ru_maxrss`` never goes down)."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", "--child", size, variant, str(batch)],
                         capture_output=True, text=True, check=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_mib"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["m", "l"])
    parser.add_argument("--batches", nargs=2, type=int, default=[4, 8])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--child", nargs=3, metavar=("SIZE", "VARIANT", "BATCH"))
    args = parser.parse_args()
    if args.child:
        size, variant, batch = args.child
        print(json.dumps({"peak_mib": measure(size, variant, int(batch), "cpu")}))
        return
    cuda = args.device.startswith("cuda")
    b1, b2 = args.batches
    rows = []
    for size in args.sizes:
        for variant in VARIANTS:
            peaks = [measure(size, variant, b, args.device) if cuda else child_peak(size, variant, b)
                     for b in (b1, b2)]
            rows.append({"model": f"cigpose-{size} 256x192", "variant": variant, "device": args.device,
                         "memory": "GPU allocated" if cuda else "CPU RSS",
                         f"peak_MiB_batch_{b1}": round(peaks[0]), f"peak_MiB_batch_{b2}": round(peaks[1]),
                         "MiB_per_image": round((peaks[1] - peaks[0]) / (b2 - b1), 1)})
            print(rows[-1], flush=True)
    what = ("torch.cuda.max_memory_allocated" if cuda else
            "CPU peak resident set size (ru_maxrss) of a fresh process per cell, so it includes the "
            "interpreter, weights and AdamW state")
    notes = (f"{what}; two training steps (both paths, KL + consistency loss, AdamW); MiB_per_image = "
             f"slope between batch {b1} and {b2} (activations and gradients that scale with the batch)")
    save(f"train_memory_{args.device.split(':')[0]}", rows, notes, merge_on="model")


if __name__ == "__main__":
    main()
