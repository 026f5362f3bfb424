"""Inference: latency at batch 1 and throughput at batch 32 — PyTorch eager, torch.compile,
ONNX Runtime — for CIGPose-m/l 256x192 whole-body (eval mode, no flip test)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import median_seconds, save
from cigpose.inference.export import export_onnx
from cigpose.models import CIGPose


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", nargs="+", default=["m", "l"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else None
    rows = []
    for size in args.sizes:
        torch.manual_seed(0)
        net = CIGPose(size, 133, (256, 192), "coco_wholebody").eval().to(args.device)
        compiled = torch.compile(net)
        with tempfile.TemporaryDirectory() as tmp:
            onnx_path = export_onnx(net.cpu(), Path(tmp) / "m.onnx")
            net.to(args.device)
            import onnxruntime as ort

            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.device.startswith("cuda") \
                else ["CPUExecutionProvider"]
            session = ort.InferenceSession(str(onnx_path), providers=providers)
            for batch in (1, 32):
                x = torch.randn(batch, 3, 256, 192, device=args.device)
                feed = {"input": x.cpu().numpy().astype(np.float32)}
                runs = {
                    "eager": lambda x=x, net=net: net(x),
                    "compile": lambda x=x, compiled=compiled: compiled(x),
                    "onnxruntime": lambda feed=feed, session=session: session.run(None, feed),
                }
                for name, fn in runs.items():
                    with torch.no_grad():
                        seconds = median_seconds(fn, args.repeats if batch == 1 else max(2, args.repeats // 2),
                                                 warmup=2, sync=sync)
                    rows.append({"model": f"cigpose-{size} 256x192", "runtime": name, "device": args.device,
                                 "batch": batch, "latency_ms": round(seconds * 1000, 2),
                                 "images_per_s": round(batch / seconds, 1)})
                    print(rows[-1], flush=True)
    save(f"inference_{args.device.split(':')[0]}", rows)


if __name__ == "__main__":
    main()
