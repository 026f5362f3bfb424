"""Paired statistics of the causal benchmark (cigpose.evaluation.paired) on a tiny generated set
with hand-built results: a model that is exact on `val` and misses a known half of the people
on `val_ood` has a known AP drop, per-person OKS drop and hidden-wrist drop; a model exact on
both has none; bootstrap resamples equal evaluations of explicitly duplicated images."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from cigpose.evaluation.coco_eval import dataset_sigmas, evaluate_numpy
from cigpose.evaluation.oks_eval import ground_truth_arrays
from cigpose.evaluation.paired import (
    SplitScores,
    check_paired,
    drop_difference,
    image_draws,
    paired_difference,
    resampled_drops,
)
from cigpose.evaluation.results import WHOLEBODY_FIELDS
from cigpose.synth.generate import generate_dataset
from tests.helpers import HALF_AP, exact_results, half_missed


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """A generated set with 12 people in `val` and `val_ood`; split -> annotation dict."""
    root = tmp_path_factory.mktemp("paired") / "synthetic"
    generate_dataset(root, num_train=1, num_val=12, num_val_ood=12, workers=1)
    return {split: json.loads((root / "annotations" / f"{split}.json").read_text()) for split in ("val", "val_ood")}


def scored(tiny: dict, missed_on_ood: bool) -> tuple[SplitScores, SplitScores]:
    ood_missed = half_missed(tiny["val_ood"]) if missed_on_ood else set()
    return (SplitScores.score(tiny["val"], exact_results(tiny["val"])),
            SplitScores.score(tiny["val_ood"], exact_results(tiny["val_ood"], ood_missed)))


def test_the_generated_splits_are_paired_and_have_discs(tiny: dict) -> None:
    assert len(tiny["val"]["annotations"]) == 12 and len(tiny["val_ood"]["annotations"]) == 12
    val, ood = scored(tiny, missed_on_ood=False)
    check_paired(val, ood)
    assert (val.hidden_wrist >= 0).any() and np.array_equal(val.hidden_wrist, ood.hidden_wrist)


def test_a_known_drop_gives_the_known_interval_centre(tiny: dict) -> None:
    models = {"cigpose": [scored(tiny, missed_on_ood=True)], "rtmpose": [scored(tiny, missed_on_ood=False)]}
    for part in ("body", "whole_body", "hand"):
        drops = resampled_drops(models, part, resamples=200)
        assert drops["cigpose"]["drop"] == pytest.approx(1 - HALF_AP)
        assert drops["rtmpose"]["drop"] == pytest.approx(0.0)
        assert np.all(drops["rtmpose"]["resampled"] == 0.0)  # exact on both splits: no draw changes that
        assert drops["cigpose"]["relative"] == pytest.approx(1 - HALF_AP)  # AP 1 -> 51/101
        assert drop_difference(drops, "cigpose", "rtmpose", relative=True)["estimate"] == pytest.approx(1 - HALF_AP)
        difference = drop_difference(drops, "cigpose", "rtmpose")
        assert difference["estimate"] == pytest.approx(1 - HALF_AP)
        assert difference["low"] <= difference["estimate"] <= difference["high"]
        assert difference["low"] > 0.1  # clearly above zero with half the people lost


def test_seeds_are_averaged_and_resampled(tiny: dict) -> None:
    drops = resampled_drops({"a": [scored(tiny, True), scored(tiny, False)]}, "body", resamples=400)
    assert drops["a"]["per_seed"] == pytest.approx([1 - HALF_AP, 0.0])
    assert drops["a"]["drop"] == pytest.approx((1 - HALF_AP) / 2)
    resampled = drops["a"]["resampled"]
    assert np.isclose(resampled, 0.0).any()  # both seeds drawn as the good one
    assert resampled.max() > 0.4  # both drawn as the bad one


def test_per_person_differences(tiny: dict) -> None:
    val, ood = scored(tiny, missed_on_ood=True)
    body = paired_difference([val.person["body"]], [ood.person["body"]], val.person_image, resamples=200)
    # half the people go from OKS 1 to ~0 (their best match may be the other person's exact prediction)
    assert body["estimate"] == pytest.approx(0.5, abs=1e-3)
    assert body["people"] == 12 and body["worse"] == pytest.approx(0.5)
    assert body["low"] <= 0.5 <= body["high"]
    disc = val.hidden_wrist >= 0
    expected = np.mean([i in half_missed(tiny["val_ood"]) for i in np.flatnonzero(disc)])
    wrist = paired_difference([val.person["hidden_wrist"]], [ood.person["hidden_wrist"]], val.person_image, 200)
    assert wrist["people"] == disc.sum() and wrist["estimate"] == pytest.approx(expected, abs=1e-3)
    assert np.all(val.person["hidden_wrist"][disc] == pytest.approx(1.0))
    assert np.isnan(val.person["hidden_wrist"][~disc]).all()


def test_unpaired_splits_are_refused(tiny: dict) -> None:
    val, _ = scored(tiny, missed_on_ood=False)
    shorter = copy.deepcopy(tiny["val_ood"])
    shorter["annotations"] = shorter["annotations"][:-1]
    with pytest.raises(ValueError, match="not paired"):
        check_paired(val, SplitScores.score(shorter, exact_results(shorter)))


def test_a_resample_equals_evaluating_duplicated_images(tiny: dict) -> None:
    """AP with image i counted c_i times == the evaluator on a file where image i appears c_i times."""
    annotations = tiny["val_ood"]
    results = exact_results(annotations, half_missed(annotations))
    scores = SplitScores.score(annotations, results)
    copies = image_draws(len(scores.image_ids), 1, np.random.default_rng(3))[0]
    assert copies.max() >= 2 and copies.min() == 0  # some images twice, some left out
    duplicated = {**annotations, "images": [], "annotations": []}
    duplicated_results = []
    for index, image_id in enumerate(scores.image_ids.tolist()):
        image = next(i for i in annotations["images"] if i["id"] == image_id)
        for copy_index in range(copies[index]):
            new_id = image_id * 10 + copy_index
            duplicated["images"].append({**image, "id": new_id})
            duplicated["annotations"] += [{**a, "id": a["id"] * 10 + copy_index, "image_id": new_id}
                                          for a in annotations["annotations"] if a["image_id"] == image_id]
            duplicated_results += [{**r, "image_id": new_id} for r in results if r["image_id"] == image_id]
    fields = list(WHOLEBODY_FIELDS)
    metrics = evaluate_numpy(ground_truth_arrays(duplicated, fields), duplicated_results, "coco_wholebody",
                             dataset_sigmas("coco_wholebody"))
    for part in ("body", "whole_body", "hand"):
        assert scores.ap(part, copies) == pytest.approx(metrics[f"{part}/AP"], abs=1e-12), part


def test_split_scores_load_files(tiny: dict, tmp_path: Path) -> None:
    (tmp_path / "gt.json").write_text(json.dumps(tiny["val"]))
    (tmp_path / "results.json").write_text(json.dumps(exact_results(tiny["val"])))
    scores = SplitScores.load(tmp_path / "gt.json", tmp_path / "results.json")
    assert scores.ap("body") == pytest.approx(1.0) and np.nanmin(scores.person["body"]) == pytest.approx(1.0)
