"""The paper's analyses as plain functions on arrays (N instances, K keypoints).

* Table 7 — ``intervention_frequency``: share of interventions per body part, in %.
* Fig. 3 — ``score_by_visibility``: confounder scores of visible (v=2) vs occluded (v=1) keypoints;
  ``separation_auc``: how well the score tells them apart, as one number.
* Table 5 — ``enrichment``: within-instance gap Δ between the mean error of the selected
  (intervened) visible keypoints and that of the other visible keypoints, with a bootstrap 95% CI
  over instances. ``easy_drop`` removes that fraction of the easiest instances (lowest mean error)
  first, so Δ is measured where errors are not trivially small.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def intervention_frequency(selected: np.ndarray, parts: Mapping[str, np.ndarray]) -> dict[str, float]:
    """``(N, K)`` bool → part → % of all interventions (sums to 100 when any)."""
    per_keypoint = selected.sum(0).astype(np.float64)
    total = per_keypoint.sum()
    return {name: float(per_keypoint[np.asarray(idx)].sum() / total * 100) if total else 0.0
            for name, idx in parts.items()}


def score_by_visibility(score: np.ndarray, visibility: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of labelled keypoints split by visibility flag: ``visible`` (2) and ``occluded`` (1)."""
    return {"visible": score[visibility == 2], "occluded": score[visibility == 1]}


def separation_auc(occluded: np.ndarray, visible: np.ndarray) -> float:
    """P(score of a random occluded keypoint > that of a random visible one), ties counting half:
    the area under the ROC curve of the score as an occlusion detector (0.5: no separation)."""
    occluded, visible = np.asarray(occluded, np.float64), np.sort(np.asarray(visible, np.float64))
    if len(occluded) == 0 or len(visible) == 0:
        return float("nan")
    below = np.searchsorted(visible, occluded, side="left")
    ties = np.searchsorted(visible, occluded, side="right") - below
    return float((below + 0.5 * ties).sum() / (len(occluded) * len(visible)))


def enrichment(errors: np.ndarray, selected: np.ndarray, visible: np.ndarray, easy_drop: float = 0.0,
               bootstrap: int = 1000, seed: int = 0) -> dict[str, float]:
    """Δ = mean over instances of (mean error of selected visible kpts − mean error of other visible
    kpts); only instances with both kinds count. Returns Δ, its 95% CI, and the instance count."""
    sel = selected & visible
    rest = ~selected & visible
    usable = sel.any(1) & rest.any(1)
    err_sel = np.where(sel, errors, 0).sum(1) / np.maximum(sel.sum(1), 1)
    err_rest = np.where(rest, errors, 0).sum(1) / np.maximum(rest.sum(1), 1)
    gap = (err_sel - err_rest)[usable]
    difficulty = (np.where(visible, errors, 0).sum(1) / np.maximum(visible.sum(1), 1))[usable]
    keep = np.argsort(difficulty)[int(round(easy_drop * len(gap))):]
    gap = gap[keep]
    if len(gap) == 0:
        return {"delta": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "instances": 0}
    rng = np.random.default_rng(seed)
    means = gap[rng.integers(0, len(gap), (bootstrap, len(gap)))].mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"delta": float(gap.mean()), "ci_low": float(low), "ci_high": float(high), "instances": int(len(gap))}
