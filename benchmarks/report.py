"""Render ``BENCHMARKS.md`` from ``benchmarks/results/*.json``: goals first, then one section per
benchmark (machine, commands, load, table). GPU sections without results say so."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.common import RESULTS

ROOT = Path(__file__).resolve().parents[1]
NO_GPU = "not measured (no GPU lent)"
SECTIONS = {  # result name → title, in page order
    "train_step_cpu": "Training step throughput — CPU",
    "train_step_cuda": "Training step throughput — GPU",
    "train_memory_cpu": "Training memory per image — CPU (peak RSS)",
    "train_memory_cuda": "Training memory per image — GPU",
    "data_pipeline": "Data pipeline (stage 1, one worker process, fixture images)",
    "inference_cpu": "Inference — CPU",
    "inference_cuda": "Inference — GPU",
    "evaluation": "Whole-body evaluation time (numpy backend vs xtcocotools, large synthetic results files)",
}
GPU_BENCH = {  # `make bench-gpu` (benchmarks/bench_gpu.py): result name without its device → title
    "gpu_train": "`make bench-gpu`: training step throughput and peak memory",
    "gpu_loader": "`make bench-gpu`: does data loading keep the device busy",
    "gpu_infer": "`make bench-gpu`: inference latency",
}
SECTIONS.update({f"{name}_cuda": f"{title} — GPU" for name, title in GPU_BENCH.items()})
TITLES = {**SECTIONS, **{f"{name}_cpu": f"{title} — CPU" for name, title in GPU_BENCH.items()}}  # + CPU runs

SPEED_OPTIONS = """## Speed options

Training runs fast by default: `fast=true` (`conf/train.yaml`) turns on `module.channels_last` and
sets `trainer.precision` per device (`cigpose/devices.py`): `bf16-mixed` on a GPU and on a CPU that
computes bf16 natively (`avx512_bf16` / AMX), else `32-true`; `module.compile=true` stays opt-in.
`fast=false` is fp32 eager for parity work (`cigpose-eval`, the tests' `debug` and smoke configs use
it). The row *default: fast=true* of the CPU training table is what `cigpose-train` runs on that
machine. The options are options of the LightningModule, not of the network: `PoseLitModule`
applies them (channels-last weights — EMA copy included — and inputs;
`nn.Module.compile` in place, so `state_dict` keys, checkpoints and the EMA copy are those of the
plain network). `trainer.precision` is Lightning's. Checked against fp32 eager on CIGPose-t,
64×64, batch 2 (`tests/test_speed_options.py`):

| option | checked (tolerance) | measured |
|---|---|---|
| `module.channels_last=true`, fp32 | logits (1e-3 abs+rel), CIM selection (equal), loss (1e-5 rel)| 2e-4, equal, 1e-7 |
| `trainer.precision=bf16-mixed` | loss (5e-2 rel); not logits (CIM top-k may move); gradients (below) | 4e-3 … 2.2e-2 |
| `module.compile=true` (inductor) | logits (1e-3), loss (1e-5 rel), grads vs channels_last (1e-3 rel)| 2e-4, 2e-6, ok |
| `fast=true` + bf16-mixed, 1 epoch of `cigpose-train` | finite losses; logged val AP = rescored (1e-6) | ok |
| `fast` picks per device | native-bf16 flags → `bf16-mixed`, else `32-true`; `fast=false` → fp32 eager | ok |
| `module.compile=true`, 1 epoch of `cigpose-train` | checkpoint keys equal the plain run's (slow test) | ok |

bf16 gradients: finite everywhere except, now and then, the 7×7 keypoint conv's weight gradient,
which oneDNN computes as NaN on tiny feature maps (2×2: 14 of 150 steps of CIGPose-t at 64×64 on
the AMD EPYC; 0 of 40 at CIGPose-m 256×192). `PoseLitModule.on_before_optimizer_step` skips such a
step (all gradients dropped, counted in `fault/nonfinite_steps`).

Fixed bug found by these checks: torch 2.14's CPU `batch_norm` backward returns wrong input
gradients when `grad_output` is channels-last-strided with a trailing size-1 dimension, which the
GNN's `EdgeConv` used to produce, so eager fp32 training had wrong gradients upstream of the GNN
(`torch.autograd.gradcheck` failed). `EdgeConv` now scatters in `(B, C, E)` layout; gradcheck
(`tests/test_gnn.py`) and eager-vs-channels_last gradients (`tests/test_speed_options.py`) guard it.

No per-sample Python loop: the model (`cigpose/models/*.py`) and the loss (`cigpose/losses.py`)
loop only over structure — backbone stages and blocks, the three SPP poolings, the fixed GNN depth
L, the two SimCC axes — never over instances, keypoints or groups (graphs are index buffers; CIM
top-k and the stable set are batched tensor ops).
"""


def table(rows: list[dict]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def load_results() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))}


def best(rows: list[dict], key: str) -> dict[str, dict]:
    """Per model, the row with the highest ``key``."""
    out: dict[str, dict] = {}
    for r in rows:
        if r["model"] not in out or r[key] > out[r["model"]][key]:
            out[r["model"]] = r
    return out


def goals(results: dict[str, dict]) -> list[str]:
    lines = ["## Goals", "", "| goal | result | status |", "|---|---|---|"]
    train = results.get("train_step_cpu")
    if train:
        eager = {r["model"]: r["images_per_s"] for r in train["rows"] if r["variant"].startswith("eager")}
        for model, r in best(train["rows"], "speedup").items():
            status = "met" if r["speedup"] >= 1.3 else "not met"
            base = eager.get(model, round(r["images_per_s"] / r["speedup"], 2))
            lines.append(f"| training step ≥ 1.3× eager fp32 ({model}, CPU) | {r['speedup']}× with "
                         f"{r['variant']} ({r['images_per_s']} vs {base} img/s) | {status} |")
        for r in train["rows"]:
            if r["variant"].startswith("default"):
                status = "met" if r["speedup"] >= 1.5 else "not met"
                lines.append(f"| default training step (`fast=true`) ≥ 1.5× fp32 eager ({r['model']}, CPU, "
                             f"batch {r['batch']}) | {r['speedup']}× ({r['variant']}: {r['images_per_s']} img/s) "
                             f"| {status} |")
    lines.append("| training step ≥ 1.3× eager fp32 (GPU) | " + NO_GPU + " | — |")
    lines.append("| no per-sample Python loop in model or loss | see *Speed options* | met |")
    data = results.get("data_pipeline")
    per_worker = data["rows"][0]["samples_per_s"] if data else None
    lines.append("| data pipeline keeps the GPU ≥ 90 % busy (CIGPose-l 256×192, batch 256) | "
                 f"{NO_GPU}; one loader worker delivers {per_worker} samples/s on this CPU, so a GPU step "
                 "of T s at batch 256 needs ≥ 256 / (0.9 · T · that) workers | not measured |")
    lines.append("| peak training memory per image, each size | CPU RSS below; GPU " + NO_GPU + " | CPU only |")
    lines += evaluation_goals(results.get("evaluation"))
    return lines + [""]


def evaluation_goals(data: dict | None) -> list[str]:
    """Goal rows of the keypoint evaluation: numpy backend >= 20x xtcocotools, same numbers."""
    rows = [r for r in (data or {}).get("rows", []) if "evaluate_speedup" in r]
    if not rows:
        return ["| keypoint evaluation ≥ 20× xtcocotools, same numbers (1e-6) | not run | — |"]
    single = {r["results"]: r for r in rows if r["backend"] == "numpy (1 thread)"}
    python = {r["results"]: r for r in rows if "Python conversion" in r["backend"]}
    lines = []
    for r in rows:
        if r["backend"] == "numpy (1 thread)" or "Python conversion" in r["backend"]:
            continue
        status = "met" if r["evaluate_speedup"] >= 20 and float(r["max_abs_diff_vs_xtcocotools"]) <= 1e-6 \
            else "not met"
        one = single.get(r["results"])
        one_thread = f", {one['evaluate_speedup']}× on 1 thread" if one else ""
        first = f", first (cold) evaluation {r['first_evaluate_speedup']}×" if "first_evaluate_speedup" in r else ""
        slow = python.get(r["results"])
        first += f", Python conversion loop {slow['evaluate_speedup']}×" if slow else ""
        lines.append(f"| keypoint evaluation ≥ 20× xtcocotools, same numbers (1e-6), {r['results']:,} whole-body "
                     f"results | {r['evaluate_speedup']}× ({r['backend']}, {r['evaluate_s']} s{one_thread}{first}), "
                     f"max difference {r['max_abs_diff_vs_xtcocotools']}, peak RSS {r['peak_rss_mb']} MiB; "
                     f"file to metrics {r['file_to_metrics_speedup']}× (JSON reading is shared) | {status} |")
    return lines


def section(name: str, title: str, data: dict | None) -> list[str]:
    if data is None:
        return [f"## {title}", "", NO_GPU + "." if name.endswith("cuda") else "not run.", ""]
    m = data["machine"]
    runs = data.get("runs") or [{"command": data["command"], "date": data["date"]}]
    parts = [f"## {title}", "",
             f"Machine: {m['cpu']} ({m['cores']} cores, shared with other jobs), GPU: {m['gpu']}; "
             f"Python {m['python']}, torch {m['torch']}, {m['torch_threads']} torch threads.  "]
    for run in runs:
        load = run.get("load_avg_1_5_15min", "not recorded")
        parts.append(f"Command: `{run['command']}` ({run['date']}; load average 1/5/15 min: {load})  ")
    parts += ["", table(data["rows"]), ""]
    if data.get("notes"):
        parts += [data["notes"], ""]
    return parts


def no_gpu_line(results: dict[str, dict]) -> str:
    """The page's GPU caveat: none of it measured, or (after `make bench-gpu`) only some."""
    if any(name.endswith("_cuda") for name in results):
        return "GPU sections without results are " + NO_GPU + "."
    return "**No GPU was lent for these runs**: every GPU row is " + NO_GPU + "."


def render() -> str:
    results = load_results()
    parts = ["# Benchmarks", "",
             "Generated by `make bench` (`python -m benchmarks.report` renders this file from "
             "`benchmarks/results/*.json`). Medians of repeated runs; every section names its machine, "
             "command and the machine's load average (the 2-core CI machine is shared, so absolute "
             "numbers are noisy; ratios within one section are measured back to back). Speed targets "
             "live here, never in unit tests.", "",
             no_gpu_line(results), ""]
    parts += goals(results)
    parts += [SPEED_OPTIONS]
    for name, title in SECTIONS.items():
        parts += section(name, title, results.get(name))
    for name in sorted(set(results) - set(SECTIONS)):
        parts += section(name, TITLES.get(name, name), results[name])
    return "\n".join(parts)


def main() -> None:
    (ROOT / "BENCHMARKS.md").write_text(render())
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")


if __name__ == "__main__":
    main()
