"""Per-device speed defaults: what ``fast=true`` (the training default) turns on.

Measured in BENCHMARKS.md (*Speed options*, *Training step throughput*) and checked against fp32
eager in ``tests/test_speed_options.py``:

- CPU: channels-last always (1.25–1.33× on CIGPose-m/l); bf16 autocast on top only where the CPU
  computes bf16 natively (``avx512_bf16`` or AMX): there it is the larger win (1.6–1.7×); on a CPU
  without it, bf16 is emulated and slower than fp32, so fp32 stays.
- GPU: channels-last + bf16 autocast (``16-mixed`` on a GPU without bf16). ``torch.compile`` stays
  off until a GPU run shows it pays after warm-up (on the CPU it does not: 0.89–1.08×).

``fast=false`` restores fp32 eager for parity work (``cigpose-eval`` defaults to it).
"""

from __future__ import annotations

from pathlib import Path

import torch

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic


def cpu_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bf16 natively (Linux ``cpuinfo`` flags; False where unreadable)."""
    try:
        flags = set(Path(cpuinfo).read_text().split())
    except OSError:
        return False
    return any(flag in flags for flag in BF16_CPU_FLAGS)


def uses_gpu(accelerator: str) -> bool:
    """Whether Lightning's ``accelerator`` setting lands on a CUDA GPU here."""
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def fast_precision(fast: bool, accelerator: str = "auto") -> str:
    """Lightning ``precision`` for ``trainer.accelerator``: fp32 unless ``fast``, else the faster
    mixed precision the device computes natively (see the module docstring)."""
    if not fast:
        return "32-true"
    if uses_gpu(accelerator):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_native_bf16() else "32-true"
