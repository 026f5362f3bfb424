"""Inference: latency at batch 1 and throughput at batch 32 of CIGPose-m/l 256x192 whole-body
(eval mode, no flip test, SimCC logits out): PyTorch eager fp32, eager channels-last,
``torch.compile`` (inductor, static shapes) and ONNX Runtime (the exported graph).

    .venv/bin/python -m benchmarks.bench_infer --sizes m --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import median_seconds, save
from cigpose.inference.export import ExportGraph, export_onnx
from cigpose.models import CIGPose


def runtimes(net: CIGPose, onnx_path: Path, device: str) -> dict[str, Callable[[torch.Tensor], object]]:
    """Name → ``fn(x)`` running ``x`` ``(B, 3, 256, 192)`` float through one runtime."""
    import onnxruntime as ort

    graph = ExportGraph(net).eval().to(device)
    channels_last = ExportGraph(copy.deepcopy(net)).eval().to(device).to(memory_format=torch.channels_last)
    compiled = torch.compile(ExportGraph(copy.deepcopy(net)).eval().to(device), dynamic=False)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the same cores as PyTorch
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.startswith("cuda") \
        else ["CPUExecutionProvider"]
    session = ort.InferenceSession(str(onnx_path), options, providers=providers)
    return {
        "eager fp32": graph,
        "eager channels_last": lambda x: channels_last(x.contiguous(memory_format=torch.channels_last)),
        "compile": compiled,
        "onnxruntime": lambda x: session.run(None, {"input": x.cpu().numpy().astype(np.float32)}),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["m", "l"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    args = parser.parse_args()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    rows = []
    for size in args.sizes:
        torch.manual_seed(0)
        net = CIGPose(size, 133, (256, 192), "coco_wholebody").eval()
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = export_onnx(copy.deepcopy(net), Path(tmp) / "model.onnx")
            fns = runtimes(net, onnx_path, args.device)
            for batch in args.batches:
                x = torch.randn(batch, 3, 256, 192, device=args.device)
                base = None
                for name, fn in fns.items():
                    with torch.inference_mode():
                        seconds = median_seconds(lambda fn=fn, x=x: fn(x), args.repeats,
                                                 warmup=2 if name == "compile" else 1, sync=sync)
                    ips = batch / seconds
                    base = base or ips
                    rows.append({"model": f"cigpose-{size} 256x192", "runtime": name, "device": args.device,
                                 "batch": batch, "ms_per_batch": round(seconds * 1000, 1),
                                 "images_per_s": round(ips, 2), "speedup": round(ips / base, 2)})
                    print(rows[-1], flush=True)
    notes = (f"eval mode, no flip test, outputs = SimCC logits; random weights (timing only); median of "
             f"{args.repeats} runs after warm-up (compile: 2 warm-up runs, not timed, compile time excluded); "
             f"torch threads = ONNX Runtime intra-op threads = {torch.get_num_threads()}")
    save(f"inference_{args.device.split(':')[0]}", rows, notes, merge_on="model")


if __name__ == "__main__":
    main()
