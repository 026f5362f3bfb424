"""The causal benchmark: does causal intervention help when visual context lies?

Trains the RTMPose baseline, CIGPose and the Table 4 ablations on the confounded synthetic
training split (``cigpose-synth``: occluders, limb-like clutter, and a context disc that sits on
the hidden wrist in ``train``/``val`` but anywhere in ``val_ood``), several seeds each, with one
real Hydra multirun of ``cigpose-train``; then writes into ``--out``:

* ``results.md`` / ``results.json`` — AP on ``val`` and ``val_ood`` (whole body and parts),
  mean ± std over seeds, and the intervention frequency per body part (Table 7's analysis);
* ``score_vs_occlusion.png`` — confounder scores of occluded vs visible keypoints on ``val``
  (the paper's Fig. 3), for the full CIGPose.

    python experiments/confounding/run.py                       # all variants, seeds 0 1 2
    python experiments/confounding/run.py --variants rtmpose cigpose --seeds 0 \
        --set trainer.max_epochs=2                              # a quick look
    python experiments/confounding/run.py --report-only         # re-tabulate existing runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from cigpose.analysis import intervention_frequency, score_by_visibility
from cigpose.sweep_table import collect as collect_jobs

VARIANTS = {  # experiment suffix → label (conf/experiment/confounding_*.yaml)
    "rtmpose": "RTMPose (baseline)",
    "gnn": "GNN only (intra + inter)",
    "cim": "CIM only",
    "cim_intra": "CIM + intra-part",
    "cim_inter": "CIM + inter-part",
    "cigpose": "CIGPose (CIM + intra + inter)",
}
PARTS = ("whole_body", "body", "foot", "face", "hand")


def bin_dir() -> Path:
    return Path(sys.executable).parent


def generate_data(data_dir: Path, sizes: tuple[int, int, int]) -> None:
    """By default the same dataset as ``make train`` (kept when it is already there)."""
    counts = [f"--num-{split}={n}" for split, n in zip(("train", "val", "val-ood"), sizes, strict=True)]
    subprocess.run([str(bin_dir() / "cigpose-synth"), "--out", str(data_dir / "synthetic"), *counts], check=True)


def train_all(variants: list[str], seeds: list[int], runs: Path, data_dir: Path, extra: list[str]) -> None:
    """One Hydra multirun: every variant x every seed, one job folder each under ``runs``."""
    command = [
        str(bin_dir() / "cigpose-train"), "-m",
        "experiment=" + ",".join(f"confounding_{v}" for v in variants),
        "seed=" + ",".join(str(s) for s in seeds),
        f"paths.data_dir={data_dir.resolve()}", f"hydra.sweep.dir={runs.resolve()}",
        "callbacks.progress_bar=null", *extra,
    ]  # fmt: skip
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def summarise(jobs: list[dict]) -> dict[str, dict]:
    """variant → {seeds, val/<part>/AP: [..], val_ood/<part>/AP: [..], job dirs}."""
    table: dict[str, dict] = {}
    for job in jobs:
        variant = job["overrides"].get("experiment", "").removeprefix("confounding_")
        logged = job["metrics"].get("logged", {})
        row = table.setdefault(variant, {"seeds": [], "jobs": []})
        row["seeds"].append(int(job["overrides"].get("seed", -1)))
        row["jobs"].append(job["job"])
        for part in PARTS:
            for split, key in (("val", "val"), ("val_ood", "test")):
                value = logged.get(f"{key}/{part}/AP")
                if value is not None:
                    row.setdefault(f"{split}/{part}/AP", []).append(float(value))
    return table


def best_checkpoint(job: Path) -> Path | None:
    found = sorted((job / "checkpoints").glob("best_*.ckpt"))
    return found[-1] if found else None


def analyse_interventions(runs: Path, table: dict[str, dict], data_dir: Path) -> dict:
    """Intervention frequency per body part (every CIM variant, seeds pooled) and the confounder
    scores of occluded vs visible ``val`` keypoints for the full CIGPose (seeds pooled)."""
    from cigpose.analyze import collect as collect_predictions
    from cigpose.analyze import plot_violins

    frequency: dict[str, dict[str, float]] = {}
    scores: dict[str, list[np.ndarray]] = {"visible": [], "occluded": []}
    for variant, row in table.items():
        if variant in ("rtmpose", "gnn"):
            continue  # no CIM: nothing is intervened
        selected, parts = [], None
        for job in row["jobs"]:
            ckpt = best_checkpoint(runs / job)
            if ckpt is None:
                continue
            data = collect_predictions(str(ckpt), [f"experiment=confounding_{variant}",
                                                   f"paths.data_dir={data_dir.resolve()}"])
            valid = data["valid"].astype(bool)
            selected.append(data["selected"][valid])
            parts = data["coarse_parts"]
            if variant == "cigpose":
                for name, values in score_by_visibility(data["score"][valid], data["visibility"][valid]).items():
                    scores[name].append(values)
        if selected and parts is not None:
            frequency[variant] = intervention_frequency(np.concatenate(selected), parts)
    pooled = {k: np.concatenate(v) if v else np.zeros(0) for k, v in scores.items()}
    if any(len(v) for v in pooled.values()):
        plot_violins(pooled, runs.parent / "score_vs_occlusion.png")
    medians = {k: float(np.median(v)) if len(v) else float("nan") for k, v in pooled.items()}
    return {"intervention_frequency": frequency, "median_score": medians,
            "score_counts": {k: int(len(v)) for k, v in pooled.items()}}


def markdown(table: dict[str, dict], analysis: dict) -> str:
    order = [v for v in VARIANTS if v in table]
    lines = ["| model | seeds | " + " | ".join(f"{p} AP val | {p} AP val_ood" for p in ("whole_body", "body", "hand"))
             + " |", "|---|---|" + "---|" * 6]
    for variant in order:
        row = table[variant]
        cells = [mean_std(row.get(f"{split}/{part}/AP", []))
                 for part in ("whole_body", "body", "hand") for split in ("val", "val_ood")]
        lines.append(f"| {VARIANTS[variant]} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    frequency = analysis.get("intervention_frequency", {})
    if frequency:
        parts = list(next(iter(frequency.values())))
        lines += ["", "Intervention frequency per body part on `val` (% of all interventions, k_eval per instance):",
                  "", "| model | " + " | ".join(parts) + " |", "|---|" + "---|" * len(parts)]
        for variant in (v for v in order if v in frequency):
            lines.append(f"| {VARIANTS[variant]} | " + " | ".join(f"{frequency[variant][p]:.1f}" for p in parts) + " |")
    medians, counts = analysis.get("median_score"), analysis.get("score_counts")
    if medians:
        lines += ["", "Confounder score on `val` (full CIGPose, seeds pooled): median "
                  + ", ".join(f"{k} {medians[k]:.3f} (n={counts[k]})" for k in medians)
                  + " — `score_vs_occlusion.png`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--people", nargs=3, type=int, default=[1600, 200, 200], metavar=("TRAIN", "VAL", "OOD"),
                        help="people per split of the generated data (default: as `make train`)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra Hydra overrides")
    parser.add_argument("--report-only", action="store_true", help="only tabulate runs already in --out")
    args = parser.parse_args(argv)
    runs = args.out / "runs"
    if not args.report_only:
        generate_data(args.data_dir, tuple(args.people))
        train_all(args.variants, args.seeds, runs, args.data_dir, args.set)
    table = summarise(collect_jobs(runs))
    if not table:
        print(f"no finished job under {runs}", file=sys.stderr)
        return 2
    analysis = analyse_interventions(runs, table, args.data_dir)
    text = markdown(table, analysis)
    (args.out / "results.md").write_text(text)
    (args.out / "results.json").write_text(json.dumps({"table": table, **analysis}, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
