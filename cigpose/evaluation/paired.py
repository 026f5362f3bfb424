"""Paired statistics for two splits that show the same people in different context (the causal
benchmark's ``val`` and ``val_ood``: image i of both holds the same people; only the spurious
context differs), with bootstrap intervals over people and training seeds.

* ``SplitScores.load``: one model's predictions on one split, scored once: per part the matched
  evaluation (so AP can be recomputed on any resample of the images without re-matching), and
  per person the OKS of that person's prediction and the keypoint similarity of the hidden wrist.
* ``resampled_drops``: AP(val) − AP(val_ood) (and 1 − AP(val_ood) / AP(val): a model with less
  to lose cannot lose as much) of several models on the same bootstrap draws of images (both
  splits and all models share a draw: the pairing is kept) and of seeds (drawn independently per
  model); differences of two models' drops come from the same draws.
* ``paired_difference``: the mean over people of a per-person val − val_ood value, with its CI.

People are resampled as the images that hold them (1–2 people each): a cluster bootstrap, since
people in one image share a scene and a detection file entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cigpose.evaluation import oks_eval
from cigpose.evaluation.coco_eval import dataset_sigmas, match_wholebody, wholebody_ground_truth

BODY = slice(0, 17)
HAND = slice(91, 133)
WRISTS = (9, 10)  # left, right wrist in the COCO-WholeBody layout
HANDS = ("lefthand", "righthand")


@dataclass
class SplitScores:
    """One model's results on one split (I images, A annotated people in file order)."""

    image_ids: np.ndarray  # (I,) sorted image ids
    person_image: np.ndarray  # (A,) index into image_ids
    matched: dict[str, oks_eval.Matched]  # part -> matched evaluation (body, ..., whole_body)
    person: dict[str, np.ndarray]  # (A,) per person: body / hand / whole_body OKS, hidden_wrist KS
    hidden_wrist: np.ndarray  # (A,) keypoint index of the wrist under the context disc, -1: none

    @classmethod
    def load(cls, annotation_file: str | Path, results: str | Path | list[dict]) -> SplitScores:
        """Score a results file (or list) against a COCO-WholeBody annotation file."""
        annotations = json.loads(Path(annotation_file).read_text())
        if not isinstance(results, list):
            results = json.loads(Path(results).read_text())
        return cls.score(annotations, results)

    @classmethod
    def score(cls, annotations: dict, results: list[dict]) -> SplitScores:
        gt = wholebody_ground_truth(annotations)
        if (gt.image < 0).any():
            raise ValueError("an annotation refers to an image the file does not list")
        match = match_wholebody(gt, results, dataset_sigmas("coco_wholebody"))
        dt, pairs, terms, matched = match.detections, match.pairs, match.terms, match.parts
        order, _ = oks_eval.person_order(gt)  # evaluated person i is annotation order[i]
        num = len(gt.image)
        hidden = np.array([a.get("spurious_object", {}).get("keypoint", -1)
                           for a in annotations["annotations"]], dtype=np.int64)
        # each person's prediction: the detection of its image with the highest body OKS
        body = terms["body"].oks()
        chosen = np.full(num, -1, dtype=np.int64)  # pair index per annotation
        by_person = np.lexsort((-body, pairs.person))
        first = by_person[np.r_[True, pairs.person[by_person][1:] != pairs.person[by_person][:-1]]]
        chosen[order[pairs.person[first]]] = first
        person = {}
        hand_terms = terms["lefthand"] + terms["righthand"]
        found = chosen >= 0
        for name, part_terms, span in (("body", terms["body"], BODY), ("hand", hand_terms, HAND),
                                       ("whole_body", terms["whole_body"], slice(None))):
            values = np.zeros(num)  # a person without any prediction scores OKS 0
            values[found] = part_terms.oks()[chosen[found]]
            person[name] = np.where(gt.labelled[:, span].any(1), values, np.nan)
        person["hidden_wrist"] = _hidden_wrist_similarity(gt, dt, pairs, chosen, hidden)
        return cls(gt.image_ids, gt.image, matched, person, hidden)

    def ap(self, part: str, copies: np.ndarray | None = None) -> float:
        """The toolkit's AP of ``part`` ("hand": mean of both hands) with image i counted
        ``copies[i]`` times (default once)."""
        if part == "hand":
            return float(np.mean([self.ap(hand, copies) for hand in HANDS]))
        precision, _ = oks_eval.accumulate(self.matched[part], copies)
        area_all = precision[:, :, :, 0, 0]
        valid = area_all[area_all > -1]
        return float(valid.mean()) if len(valid) else -1.0


def _hidden_wrist_similarity(gt: oks_eval.GroundTruth, dt: oks_eval.Detections,
                             pairs: oks_eval.Pairs, chosen: np.ndarray,
                             hidden: np.ndarray) -> np.ndarray:
    """(A,) the toolkit's per-keypoint similarity exp(-d² / (2 · area · (2σ)²)) of the hidden
    wrist in each person's chosen prediction; NaN for people without a context disc."""
    out = np.full(len(hidden), np.nan)
    rows = np.flatnonzero((hidden >= 0) & (chosen >= 0))
    sigmas = dataset_sigmas("coco_wholebody")
    keypoint = hidden[rows]
    det = pairs.row[chosen[rows]]
    d2 = (dt.x[det, keypoint] - gt.x[rows, keypoint]) ** 2 + (dt.y[det, keypoint] - gt.y[rows, keypoint]) ** 2
    out[rows] = np.exp(-d2 / ((2 * sigmas[keypoint]) ** 2 * (gt.area[rows] + np.spacing(1)) * 2))
    out[(hidden >= 0) & (chosen < 0)] = 0.0
    return out


def check_paired(val: SplitScores, ood: SplitScores) -> None:
    """Raise unless both splits list the same number of images and, image by image, the same
    number of people (the generator's pairing: image i and annotation j of both are one scene)."""
    if len(val.image_ids) != len(ood.image_ids) or not np.array_equal(val.person_image, ood.person_image):
        raise ValueError("val and val_ood are not paired: their images or people differ in number "
                         "or order (generate both with the same cigpose-synth call)")


def image_draws(num_images: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(R, I) how often each image is drawn in each of ``resamples`` bootstrap samples."""
    return rng.multinomial(num_images, np.full(num_images, 1.0 / num_images), size=resamples)


def resampled_drops(models: Mapping[str, Sequence[tuple[SplitScores, SplitScores]]], part: str,
                    resamples: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Per model (a (val, val_ood) pair per training seed): the AP drop val − val_ood of
    ``part`` and the relative drop 1 − AP_val_ood / AP_val, each as the mean over seeds
    (``drop``, ``relative``), per seed (``per_seed``) and over ``resamples`` bootstrap samples
    (``resampled``, ``resampled_relative``: (R,)); every model sees the same image draws."""
    rng = np.random.default_rng(seed)
    first = next(iter(models.values()))[0]
    for runs in models.values():
        for val, ood in runs:
            check_paired(val, ood)
            check_paired(first[0], val)
    draws = image_draws(len(first[0].image_ids), resamples, rng)
    out = {}
    for name, runs in models.items():
        full = np.array([[val.ap(part), ood.ap(part)] for val, ood in runs])  # (S, 2)
        table = np.array([[[val.ap(part, c), ood.ap(part, c)] for val, ood in runs] for c in draws])  # (R, S, 2)
        picks = rng.integers(0, len(runs), (resamples, len(runs)))  # seeds drawn with replacement
        picked = np.take_along_axis(table, picks[..., None], axis=1)  # (R, S, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = 1 - picked[..., 1] / picked[..., 0]
        out[name] = {"drop": float((full[:, 0] - full[:, 1]).mean()),
                     "relative": float((1 - full[:, 1] / full[:, 0]).mean()),
                     "per_seed": (full[:, 0] - full[:, 1]).tolist(),
                     "resampled": (picked[..., 0] - picked[..., 1]).mean(1),
                     "resampled_relative": relative.mean(1)}
    return out


def interval(estimate: float, resampled: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """The point estimate and the percentile interval of its bootstrap distribution."""
    low, high = np.percentile(resampled, [50 * (1 - level), 50 * (1 + level)])
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}


def drop_difference(drops: Mapping[str, dict], model: str, baseline: str, level: float = 0.95,
                    relative: bool = False) -> dict[str, float]:
    """``model``'s drop minus ``baseline``'s (from one ``resampled_drops`` call) with its CI;
    ``relative``: of the relative drops."""
    key, samples = ("relative", "resampled_relative") if relative else ("drop", "resampled")
    a, b = drops[model], drops[baseline]
    return interval(a[key] - b[key], a[samples] - b[samples], level)


def paired_difference(val: Sequence[np.ndarray], ood: Sequence[np.ndarray], person_image: np.ndarray,
                      resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Mean over people (and seeds) of val − val_ood for per-person values, one (A,) array per
    seed (NaN: not measured, left out), with a CI resampling images and seeds; also the share
    of measured people whose value is lower on val_ood."""
    diff = np.stack(val) - np.stack(ood)  # (S, A)
    measured = ~np.isnan(diff)
    if not measured.any():
        return {"estimate": float("nan"), "low": float("nan"), "high": float("nan"),
                "people": 0, "worse": float("nan")}
    rng = np.random.default_rng(seed)
    num_images = int(person_image.max()) + 1
    draws = image_draws(num_images, resamples, rng)[:, person_image]  # (R, A) person weights
    seeds = rng.integers(0, len(diff), (resamples, len(diff)))
    filled = np.where(measured, diff, 0.0)
    totals = np.zeros(resamples)
    counts = np.zeros(resamples)
    for s in range(len(diff)):
        times = (seeds == s).sum(1)  # (R,) how often seed s is drawn
        totals += times * (draws * filled[s]).sum(1)
        counts += times * (draws * measured[s]).sum(1)
    estimate = float(filled.sum() / measured.sum())
    result = interval(estimate, totals / np.maximum(counts, 1), level)
    return {**result, "people": int(measured[0].sum()), "worse": float((diff[measured] > 0).mean())}
