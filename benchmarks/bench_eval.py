"""Time COCO-WholeBody ``evaluate`` on large synthetic results files: numpy backend vs xtcocotools.

For each size in ``--results`` (default 50,000 and 200,000 predictions, ``--per-image`` per image,
``--people`` ground-truth persons per image) it synthesises a whole-body ground truth and a
results file (noisy copies of the people plus false positives) in a temp dir, then measures each
backend in a fresh Python process:

- ``read_s``: load the GT file and read + check the results file (the same code for both);
- ``evaluate_s``: ``evaluate(ground truth, results list, backend=...)``, the six OKS passes
  (numpy: including its GT conversion, cache cleared each time); median of the repeats after a
  first, cold one (``first_evaluate_s``: the process's first evaluation, with its first large
  allocations; a validation in training is a later one). xtcocotools (minutes at 200k, where a
  cold start is lost in the noise) runs once: its first evaluation is its time;
- ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``), and ``evaluate_rss_mb``:
  how far evaluating raised that peak above the one reached while loading the files (0: the
  evaluation needed less extra memory than parsing the JSON did).

It saves ``benchmarks/results/evaluation.json``; ``python -m benchmarks.report`` renders it into
BENCHMARKS.md.

    .venv/bin/python -m benchmarks.bench_eval                       # 50k and 200k, both backends
    .venv/bin/python -m benchmarks.bench_eval --results 50000 --backends numpy
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import save
from cigpose.evaluation.coco_eval import THREADS_ENV, eval_threads
from cigpose.evaluation.results import WHOLEBODY_FIELDS, build_results, write_results

NUM_KEYPOINTS = 133
ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("xtcocotools", "numpy")


def synth_ground_truth(rng: np.random.Generator, images: int, people: int):
    """COCO-WholeBody GT dict and the people's (P, 133, 2) keypoints, (P,) image ids, boxes."""
    count = images * people
    image_ids = np.repeat(np.arange(1, images + 1), people)
    boxes = np.column_stack([rng.uniform(0, 400, count), rng.uniform(0, 300, count),
                             rng.uniform(40, 240, count), rng.uniform(80, 320, count)])
    relative = rng.uniform(0, 1, (count, NUM_KEYPOINTS, 2))
    keypoints = boxes[:, None, :2] + relative * boxes[:, None, 2:]
    visible = np.where(rng.random((count, NUM_KEYPOINTS)) < 0.6, 2, 0)
    triples = np.concatenate([keypoints, visible[..., None]], axis=-1)
    annotations, start = [], 0
    columns = {}
    for field, n in WHOLEBODY_FIELDS:
        columns[field] = triples[:, start:start + n].reshape(count, -1).tolist()
        start += n
    for i in range(count):
        annotations.append({
            "id": i + 1, "image_id": int(image_ids[i]), "category_id": 1, "iscrowd": 0,
            "bbox": boxes[i].tolist(), "area": float(boxes[i, 2] * boxes[i, 3] * 0.6),
            "num_keypoints": int((visible[i, :17] > 0).sum()),
            **{field: values[i] for field, values in columns.items()},
        })
    gt = {
        "images": [{"id": i, "width": 640, "height": 480} for i in range(1, images + 1)],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}],
    }
    return gt, keypoints, image_ids, boxes


def synth_files(folder: Path, results: int, people: int, per_image: int) -> dict:
    """Write ``gt.json`` and ``results.json`` (``results`` predictions) into ``folder``.

    Returns the sizes and the seconds ``write_results`` took.
    """
    rng = np.random.default_rng(0)
    images = results // per_image
    gt, keypoints, image_ids, boxes = synth_ground_truth(rng, images, people)
    copies = per_image // people  # noisy copies of each person (incl. false positives)
    scale = np.sqrt(boxes[:, 2] * boxes[:, 3])[:, None, None]
    noise = rng.uniform(0.002, 0.08, (len(keypoints), copies, 1, 1))
    pred = keypoints[:, None] + rng.normal(0, 1, (len(keypoints), copies, NUM_KEYPOINTS, 2)) \
        * noise * scale[:, None]
    pred = pred.reshape(-1, NUM_KEYPOINTS, 2)
    n = len(pred)
    entries = build_results(np.repeat(image_ids, copies), pred,
                            rng.uniform(0, 1, (n, NUM_KEYPOINTS)), rng.uniform(0, 1, n),
                            "coco_wholebody")
    (folder / "gt.json").write_text(json.dumps(gt))
    start = time.perf_counter()
    write_results(entries, folder / "results.json")
    return {"images": images, "gt_persons": len(keypoints), "results": n,
            "write_s": time.perf_counter() - start}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def measure(gt_file: Path, res_file: Path, backend: str, repeats: int) -> dict:
    """One backend in this process: read time, median evaluate time, peak memory, metrics.

    ``backend`` ``numpy-python``: the numpy backend with its Python conversion loop (as where
    the compiled one was not built).
    """
    from cigpose.evaluation import coco_eval, oks_eval
    from cigpose.evaluation.results import read_results

    if backend == "numpy-python":
        oks_eval._stack, backend = None, "numpy"
    conversion = "compiled" if oks_eval._stack is not None else "python"

    coco_eval.dataset_sigmas("coco_wholebody")  # imports the metainfo (torch) before timing
    start = time.perf_counter()
    ground_truth = coco_eval.load_ground_truth(gt_file)
    results = read_results(res_file, "coco_wholebody")
    read_s = time.perf_counter() - start
    loaded_mb = _peak_rss_mb()
    times, metrics = [], {}
    for _ in range(repeats + (backend == "numpy")):  # numpy: a first (cold) one, then the repeats
        coco_eval._GT_CACHE.clear()  # count the numpy backend's GT conversion every time
        coco_eval._CHECKED.clear()  # and the GT check (both backends)
        start = time.perf_counter()
        metrics = coco_eval.evaluate(ground_truth, results, "coco_wholebody", backend=backend)
        times.append(time.perf_counter() - start)
    timed = times[1:] if backend == "numpy" else times
    return {"read_s": read_s, "first_evaluate_s": times[0], "evaluate_s": statistics.median(timed),
            "times": times, "conversion": conversion if backend == "numpy" else "",
            "peak_rss_mb": _peak_rss_mb(), "evaluate_rss_mb": _peak_rss_mb() - loaded_mb,
            "metrics": metrics}


def measure_in_fresh_process(gt_file: Path, res_file: Path, backend: str, repeats: int,
                             threads: int | None = None) -> dict:
    """``measure`` in a new Python process; ``threads``: its ``$CIGPOSE_EVAL_THREADS``."""
    command = [sys.executable, "-m", "benchmarks.bench_eval", "--child", str(gt_file),
               str(res_file), backend, str(repeats)]
    env = {**os.environ, THREADS_ENV: str(threads)} if threads else None
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def rows_for_size(folder: Path, args: argparse.Namespace, size: int) -> list[dict]:
    """Synthesise one size, measure every backend, and return its table rows."""
    sizes = synth_files(folder, size, args.people, args.per_image)
    measured = {}
    for backend in args.backends:
        repeats = args.toolkit_repeats if backend == "xtcocotools" else args.repeats
        runs = {backend: None}
        if backend == "numpy":  # its default (a worker per core, up to six), 1 thread, and
            # the Python conversion loop (where the compiled one was not built)
            runs = {f"numpy ({eval_threads()} threads)": (None, "numpy"),
                    "numpy (1 thread)": (1, "numpy"),
                    f"numpy ({eval_threads()} threads, Python conversion)": (None, "numpy-python")}
        else:
            runs = {backend: (None, backend)}
        for label, (threads, child) in runs.items():
            measured[label] = measure_in_fresh_process(folder / "gt.json", folder / "results.json",
                                                       child, repeats, threads)
            print(label, size, {k: v for k, v in measured[label].items() if k != "metrics"},
                  flush=True)
    reference = measured.get("xtcocotools")
    rows = []
    for backend, m in measured.items():
        row = {"backend": backend, "images": sizes["images"], "gt_persons": sizes["gt_persons"],
               "results": sizes["results"], "conversion": m["conversion"],
               "whole_body_AP": round(m["metrics"]["whole_body/AP"], 4),
               "read_s": round(m["read_s"], 1), "first_evaluate_s": round(m["first_evaluate_s"], 2),
               "evaluate_s": round(m["evaluate_s"], 2),
               "file_to_metrics_s": round(m["read_s"] + m["evaluate_s"], 1),
               "peak_rss_mb": round(m["peak_rss_mb"]), "evaluate_rss_mb": round(m["evaluate_rss_mb"])}
        if reference is not None and backend != "xtcocotools":
            gap = max(abs(m["metrics"][k] - reference["metrics"][k]) for k in reference["metrics"])
            row["evaluate_speedup"] = round(reference["evaluate_s"] / m["evaluate_s"], 1)
            row["first_evaluate_speedup"] = round(reference["evaluate_s"] / m["first_evaluate_s"], 1)
            row["file_to_metrics_speedup"] = round(
                (reference["read_s"] + reference["evaluate_s"]) / (m["read_s"] + m["evaluate_s"]), 1)
            row["max_abs_diff_vs_xtcocotools"] = f"{gap:.1e}"
        rows.append(row)
    rows.append({"backend": "write_results (JSON)", "images": sizes["images"],
                 "gt_persons": sizes["gt_persons"], "results": sizes["results"],
                 "read_s": "", "evaluate_s": "", "file_to_metrics_s": round(sizes["write_s"], 1)})
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, nargs="+", default=[50_000, 200_000],
                        help="results-file sizes (predictions) to measure")
    parser.add_argument("--people", type=int, default=2, help="GT persons per image")
    parser.add_argument("--per-image", type=int, default=10, help="predictions per image")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed evaluations per numpy run (after one first, cold evaluation)")
    parser.add_argument("--toolkit-repeats", type=int, default=1,
                        help="evaluations per xtcocotools run (a 200k one takes minutes)")
    parser.add_argument("--child", nargs=4, metavar=("GT", "RESULTS", "BACKEND", "REPEATS"),
                        help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = build_parser().parse_args()
    if args.child:
        gt_file, res_file, backend, repeats = args.child
        print(json.dumps(measure(Path(gt_file), Path(res_file), backend, int(repeats))))
        return
    rows = []
    for size in args.results:
        with tempfile.TemporaryDirectory() as tmp:
            rows += rows_for_size(Path(tmp), args, size)
    notes = (
        f"Synthetic COCO-WholeBody GT ({args.people} people per image) and {args.per_image} "
        "results per image (noisy copies + false positives). Each backend runs in a fresh "
        "process: read_s = load the GT + read and check the results JSON (same code for both); "
        "evaluate_s = `evaluate(ground truth, results, backend=...)`, the six OKS passes "
        f"(numpy: median of {args.repeats} runs after a first, cold one, first_evaluate_s, each "
        "including its GT conversion; numpy splits its OKS terms and six passes over a worker "
        "thread per core, $CIGPOSE_EVAL_THREADS, and is also timed on 1 thread and with its "
        "Python conversion loop instead of the compiled one (conversion column); "
        f"{args.toolkit_repeats} xtcocotools run(s)); file_to_metrics_s = both; peak_rss_mb = "
        "the process's peak RSS, evaluate_rss_mb = how far evaluating raised that peak above the "
        "one reached while loading the files (0: below the JSON parsing peak). The write_results "
        "rows time writing the results JSON."
    )
    path = save("evaluation", rows, notes, merge_on="results")
    for row in rows:
        print(row)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
