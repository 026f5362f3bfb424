"""``cigpose-report-synthetic [RUN] [--gt VAL.json]``: what `make train` prints at the end.

* Which weights were scored (checkpoint, epoch, step) on ``val`` and ``val_ood``.
* AP / AR per part on ``val`` (the training distribution) next to ``val_ood`` (the spurious context
  decoupled from the pose), read from ``RUN/metrics.json``.
* Does the model read the pose from the image? On the ``val`` people, the Pearson correlation
  between predicted and true body keypoints in box-relative coordinates (median over the 17
  keypoints × 2 axes; a model answering the average pose scores ~0), and the mean error of the
  predictions against always answering the average pose.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from cigpose.cli.args import ArgumentParser, command_doc

PARTS = ("whole_body", "body", "foot", "face", "hand", "lefthand", "righthand")
BODY = 17
CORRELATION_BAR = 0.9


def table(metrics: dict, test_name: str = "val_ood") -> str:
    logged = metrics.get("logged", metrics)
    lines = [f"| part | AP val | AP {test_name} | AR val | AR {test_name} |", "|---|---|---|---|---|"]
    for part in PARTS:
        cells = [logged.get(f"{split}/{part}/{stat}") for stat in ("AP", "AR") for split in ("val", "test")]
        lines.append(f"| {part} | " + " | ".join("–" if c is None else f"{c:.3f}" for c in cells) + " |")
    return "\n".join(lines)


def evaluated_line(metrics: dict, test_name: str = "val_ood") -> str:
    parts = []
    for split, label in (("val", "val"), ("test", test_name)):
        info = metrics.get("evaluated", {}).get(split)
        if info:
            parts.append(f"{label}: {info.get('checkpoint', '?')} ({info.get('weights', '?')} weights) "
                         f"after {info.get('epochs')} epochs, step {info.get('step')}")
    return "; ".join(parts) or "(metrics.json does not say which weights were scored)"


def match_people(gt: dict, results: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each annotated person with labelled body keypoints ↔ the result in its image whose body
    keypoints lie nearest (mean distance over the labelled ones). Returns box-relative true and
    predicted body keypoints ``(P, 17, 2)`` and the labelled mask ``(P, 17)``."""
    by_image: dict[int, list[np.ndarray]] = {}
    for r in results:
        by_image.setdefault(int(r["image_id"]), []).append(np.asarray(r["keypoints"], np.float32).reshape(-1, 3)[:BODY])
    truth, pred, labelled = [], [], []
    for ann in gt["annotations"]:
        kp = np.asarray(ann.get("keypoints") or [], np.float32).reshape(-1, 3)[:BODY]
        candidates = by_image.get(int(ann["image_id"]), [])
        if len(kp) < BODY or not candidates or not (kp[:, 2] > 0).any():
            continue
        vis = kp[:, 2] > 0
        errors = [np.linalg.norm(c[vis, :2] - kp[vis, :2], axis=1).mean() for c in candidates]
        best = candidates[int(np.argmin(errors))]
        x, y, w, h = (float(v) for v in ann["bbox"])
        box = np.array([x, y], np.float32), np.array([max(w, 1.0), max(h, 1.0)], np.float32)
        truth.append((kp[:, :2] - box[0]) / box[1])
        pred.append((best[:, :2] - box[0]) / box[1])
        labelled.append(vis)
    if not truth:
        return np.zeros((0, BODY, 2)), np.zeros((0, BODY, 2)), np.zeros((0, BODY), bool)
    return np.stack(truth), np.stack(pred), np.stack(labelled)


def pose_following(truth: np.ndarray, pred: np.ndarray, labelled: np.ndarray) -> dict[str, float]:
    """Median Pearson correlation over (keypoint, axis) of predicted vs true box-relative
    coordinates; mean error of the predictions and of the average pose (box units)."""
    correlations = []
    for k in range(truth.shape[1]):
        m = labelled[:, k]
        for axis in (0, 1):
            t, p = truth[m, k, axis], pred[m, k, axis]
            if len(t) >= 3 and t.std() > 0 and p.std() > 0:
                correlations.append(float(np.corrcoef(t, p)[0, 1]))
    mean_pose = np.nanmean(np.where(labelled[..., None], truth, np.nan), axis=0)
    error = np.linalg.norm(pred - truth, axis=-1)[labelled]
    baseline = np.linalg.norm(mean_pose[None] - truth, axis=-1)[labelled]
    return {
        "people": float(len(truth)),
        "median_correlation": float(np.median(correlations)) if correlations else float("nan"),
        "mean_error": float(error.mean()) if error.size else float("nan"),
        "mean_pose_error": float(baseline.mean()) if baseline.size else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-report-synthetic", description=command_doc(__doc__))
    parser.add_argument("run", nargs="?", default="logs/synthetic_default", help="the run folder")
    parser.add_argument("--gt", default="data/synthetic/annotations/val.json", help="val annotations")
    args = parser.parse_args(argv)
    run = Path(args.run)
    path = run / "metrics.json"
    if not path.is_file():
        print(f"no metrics.json in {run}: did the training run finish?", file=sys.stderr)
        return 2
    metrics = json.loads(path.read_text())
    print(f"\nCIGPose on the synthetic whole-body data ({run})")
    print(f"scored: {evaluated_line(metrics)}\n")
    print(table(metrics))
    results_file, gt_file = run / "results" / "val.json", Path(args.gt)
    if results_file.is_file() and gt_file.is_file():
        stats = pose_following(*match_people(json.loads(gt_file.read_text()), json.loads(results_file.read_text())))
        follows = stats["median_correlation"] >= CORRELATION_BAR
        verdict = "follows the people" if follows else "does NOT follow the people"
        print(f"\nbody keypoints on {int(stats['people'])} val people (box-relative): median correlation "
              f"predicted vs true {stats['median_correlation']:.3f} (bar {CORRELATION_BAR}: {verdict}); "
              f"mean error {stats['mean_error']:.4f} vs {stats['mean_pose_error']:.4f} for the average pose")
    print(f"overlays: {run / 'predictions'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
