"""Training-step throughput (images/s) of CIGPose: eager fp32 vs the speed options.

Variants: eager fp32 (a straightforward loop), channels_last, bf16 autocast, torch.compile, and
all three together. Synthetic inputs/targets of the real shapes; the full objective
(counterfactual + observational paths, KL + consistency), AdamW step and grad clipping.
"""

from __future__ import annotations

import argparse
import contextlib

import torch

from benchmarks.common import median_seconds, save
from cigpose.losses import CIGPoseLoss
from cigpose.models import CIGPose
from cigpose.training.optim import build_optimizer


def step_fn(size: str, batch: int, device: str, channels_last: bool, bf16: bool, compiled: bool):
    torch.manual_seed(0)
    net = CIGPose(size, 133, (256, 192), "coco_wholebody").to(device)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    model = torch.compile(net) if compiled else net
    loss_fn = CIGPoseLoss()
    opt = build_optimizer(net, 1e-3)
    images = torch.randn(batch, 3, 256, 192, device=device)
    if channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    tx = torch.rand(batch, 133, 384, device=device)
    ty = torch.rand(batch, 133, 512, device=device)
    w = torch.ones(batch, 133, device=device)
    autocast = (torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if bf16
                else contextlib.nullcontext())

    def step() -> None:
        with autocast:
            out = model(images, observational=True)
            loss = loss_fn(out, tx, ty, w)["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 35.0)
        opt.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["m", "l"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    variants = {"eager fp32": (False, False, False), "channels_last": (True, False, False),
                "bf16 autocast": (False, True, False), "compile": (False, False, True),
                "channels_last + bf16 + compile": (True, True, True)}
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
