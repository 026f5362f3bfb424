"""The causal benchmark: does causal intervention help when visual context lies?

Trains the RTMPose baseline, CIGPose, CIGPose with a trained confounder scorer and the Table 4
ablations on the confounded synthetic training split (``cigpose-synth``: occluders, limb-like
clutter, and a context disc that sits on the hidden wrist in ``train``/``val`` but anywhere in
``val_ood``; image i of ``val`` and ``val_ood`` shows the same people), all from the same
pretrained backbone with the `make train` recipe on a fixed 1,000-step budget, several seeds
each, with one real Hydra multirun of ``cigpose-train``. The no-context control
(``control_*``) trains the same heads on the same images with every disc placed at random
(``cigpose-synth --spurious 0``). Then it writes into ``--out``:

* ``results.md`` / ``results.json`` — AP on ``val`` and ``val_ood`` and the drop between them
  (body, whole body, hands), mean ± std over seeds; each drop's 95 % bootstrap interval and the
  interval of each model's drop minus the baseline's (resampling images, i.e. the people in
  them, and seeds); the paired per-person comparison (OKS of each person on ``val`` vs
  ``val_ood``; the hidden wrist and the hands separately); intervention frequency per body
  part (Table 7); confounder-score separation of occluded vs visible keypoints (Fig. 3, AUC);
* ``score_vs_occlusion_<variant>.png`` — the Fig. 3 violins per CIM variant (seeds pooled).

    python experiments/confounding/run.py --variants rtmpose cigpose cigpose_scorer \
        control_rtmpose control_cigpose                         # the 2-core CPU benchmark
    python experiments/confounding/run.py                       # all variants, seeds 0 1 2
    python experiments/confounding/run.py --report-only         # re-tabulate finished runs
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from cigpose.analysis import intervention_frequency, score_by_visibility, separation_auc
from cigpose.evaluation.paired import SplitScores, drop_difference, interval, paired_difference, resampled_drops
from cigpose.training.sweep_results import collect as collect_jobs

VARIANTS = {  # experiment suffix → label (conf/experiment/confounding_*.yaml)
    "rtmpose": "RTMPose (baseline)",
    "gnn": "GNN only (intra + inter)",
    "cim": "CIM only",
    "cim_intra": "CIM + intra-part",
    "cim_inter": "CIM + inter-part",
    "cigpose": "CIGPose (CIM + intra + inter)",
    "cigpose_scorer": "CIGPose, trained scorer",
    "control_rtmpose": "control: RTMPose, disc at random",
    "control_cigpose": "control: CIGPose, disc at random",
}
BASELINE = {v: "control_rtmpose" if v.startswith("control_") else "rtmpose" for v in VARIANTS}
NO_CIM = {"rtmpose", "gnn", "control_rtmpose"}  # nothing is intervened
PARTS = ("whole_body", "body", "foot", "face", "hand")
DROP_PARTS = ("body", "whole_body", "hand")


def bin_dir() -> Path:
    return Path(sys.executable).parent


def generate_data(data_dir: Path, sizes: tuple[int, int, int], control: bool) -> None:
    """By default the same dataset as ``make train`` (kept when it is already there); with
    ``control`` also its twin with every disc at random (same seed: the same scenes)."""
    counts = [f"--num-{split}={n}" for split, n in zip(("train", "val", "val-ood"), sizes, strict=True)]
    synth = str(bin_dir() / "cigpose-synth")
    subprocess.run([synth, "--out", str(data_dir / "synthetic"), *counts], check=True)
    if control:
        subprocess.run([synth, "--out", str(data_dir / "synthetic_untied"), "--spurious", "0", *counts], check=True)


def missing_jobs(runs: Path, variants: list[str], seeds: list[int]) -> dict[int, list[str]]:
    """seed → the variants without a finished job (``metrics.json``) for it under ``runs``."""
    finished = {(variant, seed) for variant, row in summarise(collect_jobs(runs)).items() for seed in row["seeds"]}
    missing = {seed: [v for v in variants if (v, seed) not in finished] for seed in seeds}
    return {seed: todo for seed, todo in missing.items() if todo}


def train_all(variants: list[str], seeds: list[int], runs: Path, data_dir: Path, extra: list[str]) -> None:
    """Hydra multiruns of every variant x seed not finished yet (a rerun resumes a cut-short
    benchmark), seed by seed so that a stopped sweep still has every variant; one job folder
    ``<experiment name>_seed<seed>`` each under ``runs``."""
    for seed, todo in missing_jobs(runs, variants, seeds).items():
        command = [
            str(bin_dir() / "cigpose-train"), "-m", f"seed={seed}",
            "experiment=" + ",".join(f"confounding_{v}" for v in todo),
            f"paths.data_dir={data_dir.resolve()}", f"hydra.sweep.dir={runs.resolve()}",
            "hydra.sweep.subdir=${name}_seed${seed}", "callbacks.progress_bar=null", *extra,
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
        if variant not in VARIANTS:
            print(f"skipping job {job['job']}: not a benchmark variant ({variant or 'no experiment'})", file=sys.stderr)
            continue
        logged = job["metrics"].get("logged", {})
        row = table.setdefault(variant, {"seeds": [], "jobs": [], "overrides": []})
        row["seeds"].append(int(job["overrides"].get("seed", -1)))
        row["jobs"].append(job["job"])
        row["overrides"].append([f"{k}={v}" for k, v in job["overrides"].items()])  # to rebuild the job
        for part in PARTS:
            for split, key in (("val", "val"), ("val_ood", "test")):
                value = logged.get(f"{key}/{part}/AP")
                if value is not None:
                    row.setdefault(f"{split}/{part}/AP", []).append(float(value))
    return table


def load_scores(runs: Path, table: dict[str, dict], data_dir: Path) -> dict[str, list[tuple[SplitScores, SplitScores]]]:
    """variant → one (val, val_ood) ``SplitScores`` per finished seed, from each job's results files
    (the final weights' predictions) against the benchmark's annotation files."""
    annotations = data_dir / "synthetic" / "annotations"
    scores: dict[str, list[tuple[SplitScores, SplitScores]]] = {}
    for variant, row in table.items():
        for job in row["jobs"]:
            results = runs / job / "results"
            if (results / "val.json").is_file() and (results / "test.json").is_file():
                scores.setdefault(variant, []).append(
                    (SplitScores.load(annotations / "val.json", results / "val.json"),
                     SplitScores.load(annotations / "val_ood.json", results / "test.json")))
    return scores


def paired_statistics(scores: dict[str, list[tuple[SplitScores, SplitScores]]], resamples: int) -> dict:
    """Drops with their intervals, drop differences against the baseline, and per-person
    val − val_ood differences (people with a context disc; the others as a check)."""
    out: dict = {"drop": {}, "versus_baseline": {}, "relative_drop": {}, "relative_versus_baseline": {},
                 "per_person": {}}
    for part in DROP_PARTS:
        drops = resampled_drops(scores, part, resamples=resamples)
        out["drop"][part] = {v: {**interval(d["drop"], d["resampled"]), "per_seed": d["per_seed"]}
                             for v, d in drops.items()}
        out["relative_drop"][part] = {v: interval(d["relative"], d["resampled_relative"]) for v, d in drops.items()}
        compared = [v for v in drops if BASELINE[v] in drops and v != BASELINE[v]]
        out["versus_baseline"][part] = {v: drop_difference(drops, v, BASELINE[v]) for v in compared}
        out["relative_versus_baseline"][part] = {v: drop_difference(drops, v, BASELINE[v], relative=True)
                                                 for v in compared}
    for variant, runs in scores.items():
        disc = runs[0][0].hidden_wrist >= 0
        person_image = runs[0][0].person_image
        rows = {}
        for name, key, people in (("body", "body", disc), ("hand", "hand", disc),
                                  ("hidden_wrist", "hidden_wrist", disc), ("body_no_disc", "body", ~disc)):
            keep = [np.where(people, split.person[key], np.nan) for split in (r for pair in runs for r in pair)]
            rows[name] = paired_difference(keep[0::2], keep[1::2], person_image, resamples=resamples)
        out["per_person"][variant] = rows
    return out


def analyse_interventions(runs: Path, table: dict[str, dict], data_dir: Path, out: Path) -> dict:
    """Per CIM variant (seeds pooled): intervention frequency per body part (Table 7), and the
    confounder scores of occluded vs visible ``val`` keypoints with their separation (Fig. 3)."""
    from cigpose.analysis.run import collect as collect_predictions
    from cigpose.analysis.run import plot_violins

    frequency: dict[str, dict[str, float]] = {}
    separation: dict[str, dict] = {}
    for variant, row in table.items():
        if variant in NO_CIM:
            continue
        selected, parts, scores = [], None, {"visible": [], "occluded": []}
        for job, overrides in zip(row["jobs"], row["overrides"], strict=True):
            ckpt = runs / job / "checkpoints" / "last.ckpt"  # the final weights, as scored
            if not ckpt.is_file():
                continue
            kept = [o for o in overrides if not o.startswith("paths.data_dir=")]
            data = collect_predictions(str(ckpt), [*kept, f"paths.data_dir={data_dir.resolve()}"])
            valid = data["valid"].astype(bool)
            selected.append(data["intervened"][valid])
            parts = data["coarse_parts"]
            for name, values in score_by_visibility(data["confounder_score"][valid], data["visibility"][valid]).items():
                scores[name].append(values)
        if not selected or parts is None:
            continue
        frequency[variant] = intervention_frequency(np.concatenate(selected), parts)
        pooled = {k: np.concatenate(v) for k, v in scores.items()}
        auc = separation_auc(pooled["occluded"], pooled["visible"])
        plot_violins(pooled, out / f"score_vs_occlusion_{variant}.png", f"{VARIANTS[variant]}: AUC {auc:.3f}")
        separation[variant] = {"auc": auc}
        for name, values in pooled.items():
            separation[variant][f"median_{name}"] = float(np.median(values)) if len(values) else float("nan")
            separation[variant][f"count_{name}"] = int(len(values))
    return {"intervention_frequency": frequency, "score_separation": separation}


def _ci(stat: dict) -> str:
    return f"{stat['estimate']:+.3f} [{stat['low']:+.3f}, {stat['high']:+.3f}]"


def drop_table(order: list[str], paired: dict, key: str, versus_key: str, caption: str) -> list[str]:
    """Markdown lines: per variant and part, ``paired[key]`` and ``paired[versus_key]`` with CIs."""
    lines = ["", caption, "", "| model | " + " | ".join(f"{p} | {p} − baseline's" for p in DROP_PARTS) + " |",
             "|---|" + "---|" * 2 * len(DROP_PARTS)]
    for variant in (v for v in order if v in paired[key]["body"]):
        cells = []
        for part in DROP_PARTS:
            versus = paired[versus_key][part].get(variant)
            cells += [_ci(paired[key][part][variant]), _ci(versus) if versus else "–"]
        lines.append(f"| {VARIANTS[variant]} | " + " | ".join(cells) + " |")
    return lines


def markdown(table: dict[str, dict], analysis: dict, paired: dict | None = None) -> str:
    order = [v for v in VARIANTS if v in table]
    parts = ("body", "whole_body", "hand")
    lines = ["AP on `val` and `val_ood` and the drop val − val_ood, mean ± std over seeds:", "",
             "| model | seeds | " + " | ".join(f"{p} val | {p} val_ood | {p} drop" for p in parts) + " |",
             "|---|---|" + "---|" * 3 * len(parts)]
    for variant in order:
        row = table[variant]
        cells = []
        for part in parts:
            val, ood = row.get(f"val/{part}/AP", []), row.get(f"val_ood/{part}/AP", [])
            drops = [a - b for a, b in zip(val, ood, strict=False)]
            cells += [mean_std(val), mean_std(ood), mean_std(drops)]
        lines.append(f"| {VARIANTS[variant]} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    if paired:
        lines += drop_table(order, paired, "drop", "versus_baseline",
                            "Drop (val − val_ood AP) with its 95 % bootstrap interval, and the drop minus the "
                            "baseline's (RTMPose; for the controls the control RTMPose): images (the people in them) "
                            "and seeds resampled, the same image draws for every model and both splits:")
        lines += drop_table(order, paired, "relative_drop", "relative_versus_baseline",
                            "Relative drop 1 − AP_val_ood / AP_val (a model with a lower AP has less to lose), "
                            "same intervals:")
        lines += ["", "Paired per person: mean of (val − val_ood) for each person's prediction [95 % interval]; "
                  "OKS of the body and of both hands, and the keypoint similarity of the wrist under the disc, "
                  "over the people who have a context disc; last column the same body OKS for the people "
                  "without one (only another person's disc can move in their image):", "",
                  "| model | body OKS | hands OKS | hidden wrist | worse on val_ood (wrist) | body OKS, no disc |",
                  "|---|---|---|---|---|---|"]
        for variant in (v for v in order if v in paired["per_person"]):
            rows = paired["per_person"][variant]
            wrist = rows["hidden_wrist"]
            lines.append(f"| {VARIANTS[variant]} | {_ci(rows['body'])} | {_ci(rows['hand'])} | {_ci(wrist)} "
                         f"| {wrist['worse']:.0%} of {wrist['people']} | {_ci(rows['body_no_disc'])} |")
    frequency = analysis.get("intervention_frequency", {})
    if frequency:
        names = list(next(iter(frequency.values())))
        lines += ["", "Intervention frequency per body part on `val` (% of all interventions, k_eval per instance; "
                  "Table 7's analysis):", "", "| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for variant in (v for v in order if v in frequency):
            lines.append(f"| {VARIANTS[variant]} | " + " | ".join(f"{frequency[variant][p]:.1f}" for p in names) + " |")
    separation = analysis.get("score_separation", {})
    if separation:
        lines += ["", "Confounder score of occluded vs visible `val` keypoints (Fig. 3; seeds pooled; AUC 0.5 = no "
                  "separation, 1 = occluded always score higher):", "",
                  "| model | AUC | median occluded | median visible | occluded / visible keypoints | figure |",
                  "|---|---|---|---|---|---|"]
        for variant in (v for v in order if v in separation):
            s = separation[variant]
            lines.append(f"| {VARIANTS[variant]} | {s['auc']:.3f} | {s['median_occluded']:.3f} "
                         f"| {s['median_visible']:.3f} | {s['count_occluded']} / {s['count_visible']} "
                         f"| `score_vs_occlusion_{variant}.png` |")
    return "\n".join(lines) + "\n"


def _jsonable(paired: dict) -> dict:
    return json.loads(json.dumps(paired, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o)))


def report(out: Path, data_dir: Path, resamples: int, analyse: bool = True) -> int:
    """Tabulate every finished job under ``out/runs``; returns the exit code."""
    runs = out / "runs"
    table = summarise(collect_jobs(runs))
    if not table:
        print(f"no finished job under {runs}", file=sys.stderr)
        return 2
    scores = load_scores(runs, table, data_dir)
    paired = paired_statistics(scores, resamples) if scores else None
    analysis = analyse_interventions(runs, table, data_dir, out) if analyse else {}
    text = markdown(table, analysis, paired)
    (out / "results.md").write_text(text)
    summary = {"table": table, **analysis, "paired": _jsonable(paired or {})}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "output")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--people", nargs=3, type=int, default=[1600, 200, 200], metavar=("TRAIN", "VAL", "OOD"),
                        help="people per split of the generated data (default: as `make train`)")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap samples per interval")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra Hydra overrides")
    parser.add_argument("--report-only", action="store_true", help="only tabulate runs already in --out")
    parser.add_argument("--no-analysis", action="store_true", help="skip Table 7 / Fig. 3 (they run the models)")
    args = parser.parse_args(argv)
    if not args.report_only:
        control = any(v.startswith("control_") for v in args.variants)
        generate_data(args.data_dir, tuple(args.people), control)
        train_all(args.variants, args.seeds, args.out / "runs", args.data_dir, args.set)
    return report(args.out, args.data_dir, args.resamples, analyse=not args.no_analysis)


if __name__ == "__main__":
    sys.exit(main())
