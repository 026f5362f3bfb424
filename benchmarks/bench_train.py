"""Training-step throughput (images/s) of CIGPose: eager fp32 vs the speed options.

Variants: eager fp32 (``fast=false``), channels_last, bf16 autocast, torch.compile, all three
together, and the training default (``fast=true``: what ``cigpose/devices.py`` picks for this
device). Synthetic inputs/targets of the real shapes; the real training step's
computation (``PoseLitModule.step_losses``: normalisation, counterfactual + observational paths,
KL + consistency), AdamW step and grad clipping.
"""

from __future__ import annotations

import argparse
import contextlib

import torch

from benchmarks.common import median_seconds, save
from cigpose.devices import fast_precision
from cigpose.models import CIGPose
from cigpose.training.module import PoseLitModule
from cigpose.training.optim import build_optimizer


def step_fn(size: str, batch: int, device: str, channels_last: bool, bf16: bool, compiled: bool):
    """One optimiser step of ``PoseLitModule`` as a fit runs it: ``step_losses`` (what
    ``training_step`` computes) under the precision's autocast, backward, clip, AdamW."""
    torch.manual_seed(0)
    net = CIGPose(size, 133, (256, 192), "coco_wholebody")
    module = PoseLitModule(net, ema={"enabled": False}, channels_last=channels_last, compile=compiled).to(device)
    module.configure_model()
    opt = build_optimizer(module.net, 1e-3)
    g = torch.Generator().manual_seed(0)
    data = {"image": torch.randint(0, 256, (batch, 3, 256, 192), generator=g, dtype=torch.uint8),
            "target_x": torch.rand(batch, 133, 384, generator=g), "target_y": torch.rand(batch, 133, 512, generator=g),
            "keypoint_weights": torch.ones(batch, 133)}
    data = {k: v.to(device) for k, v in data.items()}
    autocast = (torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())

    def step() -> None:
        with autocast:
            loss = module.step_losses(data)[0]["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.net.parameters(), 35.0)
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["m", "l"], help="CIGPose sizes")
    parser.add_argument("--batch", type=int, default=8, help="images per step")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled variants")
    args = parser.parse_args()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    default_bf16 = fast_precision(True, "gpu" if args.device.startswith("cuda") else "cpu") != "32-true"
    default = f"default: fast=true (channels_last{' + bf16' if default_bf16 else ''})"
    variants = {"eager fp32 (fast=false)": (False, False, False), "channels_last": (True, False, False),
                "bf16 autocast": (False, True, False), "compile": (False, False, True),
                "channels_last + bf16 + compile": (True, True, True), default: (True, default_bf16, False)}
    if args.no_compile:
        variants = {name: v for name, v in variants.items() if not v[2]}
    rows = []
    for size in args.sizes:
        base = None
        for name, (cl, bf16, comp) in variants.items():
            step = step_fn(size, args.batch, args.device, cl, bf16, comp)
            seconds = median_seconds(step, args.repeats, warmup=2 if comp else 1, sync=sync)
            ips = args.batch / seconds
            base = base or ips
            rows.append({"model": f"cigpose-{size} 256x192", "variant": name, "device": args.device,
                         "batch": args.batch, "images_per_s": round(ips, 2), "speedup": round(ips / base, 2)})
            print(rows[-1], flush=True)
    notes = (f"synthetic inputs and targets of the real shapes; one full step = forward of both paths, KL + "
             f"consistency loss, backward, grad clipping, AdamW; median of {args.repeats} steps after warm-up "
             f"(compile: 2 warm-up steps, compile time excluded); speedup vs eager fp32 of the same size")
    save(f"train_step_{args.device.split(':')[0]}", rows, notes, merge_on="model")


if __name__ == "__main__":
    main()
