"""The synthetic whole-body generator: keypoints on the drawn parts, left/right semantics and flip
pairs, COCO-WholeBody files that the standard tools read, determinism, and the spurious context."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from cigpose.cli.synth import main as synth_main
from cigpose.synth import keypoints as kpt
from cigpose.synth.body import figure, mirror_pose, place, sample_pose
from cigpose.synth.generate import SPLITS, generate_dataset
from cigpose.synth.render import render_alone
from cigpose.synth.scene import SceneParams, render_scene

SIZE = (256, 256)
TINY = dict(num_train=8, num_val=5, num_val_ood=5, image_size=SIZE, occlusion=0.8, clutter=0.5, context_rate=1.0)
WHOLEBODY_FIELDS = ("keypoints", "foot_kpts", "face_kpts", "lefthand_kpts", "righthand_kpts")


def posed(seed: int):
    rng = np.random.default_rng(seed)
    pose = place(sample_pose(rng), (0.0, 0.0, *SIZE), rng.uniform(150, 220), rng)
    return pose, rng


def wholebody(ann: dict) -> np.ndarray:
    """``(133, 3)`` keypoints of one COCO-WholeBody annotation."""
    return np.concatenate([np.reshape(ann[f], (-1, 3)) for f in WHOLEBODY_FIELDS])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> dict:
    return generate_dataset(tmp_path_factory.mktemp("synth"), seed=3, workers=1, **TINY)


def test_keypoint_table_matches_dataset_metainfo():
    flip = kpt.flip_indices()
    assert len(kpt.KEYPOINT_NAMES) == 133 and np.array_equal(flip[flip], np.arange(133))
    names = np.array(kpt.KEYPOINT_NAMES)
    # every left keypoint's partner is the same-named right one (face landmarks: iBUG mirror)
    named = np.flatnonzero(np.char.find(names, "left") >= 0)
    assert np.array_equal(names[flip[named]], np.char.replace(names[named], "left", "right"))
    assert kpt.ACCEPTING_PARTS.any(1).all()
    metainfo = pytest.importorskip("cigpose.data.metainfo", reason="cigpose.data.metainfo not available")
    meta = metainfo.load_meta("coco_wholebody")
    assert tuple(meta.keypoint_names) == kpt.KEYPOINT_NAMES
    assert np.array_equal(meta.flip_indices, flip)


def test_every_keypoint_lies_on_its_drawn_part():
    """Amodal part masks of people drawn alone: each keypoint is on a part that may show it (the
    side-specific limb / hand / foot), face landmarks within 2 px of the drawn face contours."""
    for seed in range(6):
        pose, rng = posed(seed)
        fig = figure(pose)
        _, masks = render_alone(fig, SIZE, rng)
        distance = np.stack([cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3) for m in masks])
        x, y = np.round(fig.keypoints).astype(int).T
        assert (x >= 0).all() and (x < SIZE[0]).all() and (y >= 0).all() and (y < SIZE[1]).all()
        to_part = np.where(kpt.ACCEPTING_PARTS, distance[:, y, x].T, np.inf).min(1)  # (133,)
        assert to_part.max() <= 1.0, f"seed {seed}: keypoint {np.argmax(to_part)} is {to_part.max():.1f} px off"
        to_lines = distance[kpt.PART["face_lines"], y[kpt.FACE], x[kpt.FACE]]
        assert to_lines.max() <= 2.0


def test_visibility_reads_the_rendered_scene():
    """In scenes with occluders, v=2 keypoints show their own part within 1 px; v=1 keypoints
    are covered (by an occluder, the context disc, another person or another part)."""
    hidden_by_occluder = 0
    for seed in range(4):
        scene = render_scene(np.random.default_rng(seed), SceneParams(occlusion=1.0, context_rate=1.0), 2, True)
        person, part = kpt.split_labels(scene.labels)
        for p in range(len(scene.keypoints)):
            xy, v = scene.keypoints[p, :, :2], scene.keypoints[p, :, 2]
            x, y = np.round(xy).astype(int).T
            own = np.stack([(person == p) & (part == q) for q in range(len(kpt.PARTS))])
            distance = np.stack([cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3) for m in own])
            shown = np.where(kpt.ACCEPTING_PARTS, distance[:, y, x].T, np.inf).min(1)
            assert (shown[v == 2] <= 1.5).all()
            at = scene.labels[y[v == 1], x[v == 1]]
            p_at, part_at = kpt.split_labels(at)
            accepted = (p_at == p) & kpt.ACCEPTING_PARTS[np.flatnonzero(v == 1), np.maximum(part_at, 0)]
            assert not accepted.any()
            hidden_by_occluder += int(np.isin(at, [kpt.OCCLUDER_LABEL, kpt.CONTEXT_LABEL]).sum())
        # with context_rate 1 each person has a hidden wrist and hand (22 keypoints) under an occluder
        assert (scene.keypoints[:, [9, 10], 2] == 1).any(1).all()
    assert hidden_by_occluder >= 4 * 2 * 22 * 0.8


def test_mirrored_pose_gives_flipped_keypoints_and_drawing():
    flip = kpt.flip_indices()
    swap = np.arange(len(kpt.PARTS))
    for name, i in kpt.PART.items():
        for a, b in (("left", "right"), ("right", "left")):
            if name.startswith(a):
                swap[i] = kpt.PART[name.replace(a, b, 1)]
    for seed in range(4):
        pose, _ = posed(seed)
        original, mirrored = figure(pose).keypoints, figure(mirror_pose(pose, SIZE[0])).keypoints
        expected = np.stack([SIZE[0] - 1 - original[:, 0], original[:, 1]], 1)
        np.testing.assert_allclose(mirrored[flip], expected, atol=1e-9)
        _, masks = render_alone(figure(pose), SIZE, np.random.default_rng(0))
        _, mirrored_masks = render_alone(figure(mirror_pose(pose, SIZE[0])), SIZE, np.random.default_rng(0))
        for q in range(len(kpt.PARTS)):
            a, b = masks[swap[q], :, ::-1], mirrored_masks[q]
            assert (a & b).sum() >= 0.8 * (a | b).sum(), f"part {kpt.PARTS[q]} not mirrored"


def test_left_keypoints_are_on_the_persons_left():
    """Everyone faces the camera, so left keypoints sit toward the image right; the jaw starts at
    the person's right (face-0 by the right eye) and each hand's root is its own wrist."""
    for seed in range(8):
        kp = figure(posed(seed)[0]).keypoints
        assert kp[5, 0] > kp[6, 0] and kp[11, 0] > kp[12, 0] and kp[1, 0] > kp[2, 0]
        np.testing.assert_allclose(kp[[91, 112]], kp[[9, 10]])
        assert np.linalg.norm(kp[23] - kp[2]) < np.linalg.norm(kp[23] - kp[1])
        assert np.linalg.norm(kp[23 + 36] - kp[2]) < np.linalg.norm(kp[23 + 36] - kp[1])


def test_real_wholebody_faces_start_at_the_right_eye_too(coco_fixtures):
    """The convention the generator follows, checked on real COCO-WholeBody annotations."""
    real = json.loads((coco_fixtures / "test_coco_wholebody.json").read_text())["annotations"]
    checked = 0
    for ann in real:
        kp = wholebody(ann)
        if kp[[1, 2, 23], 2].min() > 0 and np.linalg.norm(kp[1, :2] - kp[2, :2]) > 5:
            assert np.linalg.norm(kp[23, :2] - kp[2, :2]) < np.linalg.norm(kp[23, :2] - kp[1, :2])
            checked += 1
    assert checked >= 1


def test_files_load_with_the_coco_api(dataset):
    root = Path(dataset["root"])
    for split in SPLITS:
        info = dataset["splits"][split]
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(info["annotations"])
        assert len(coco.getAnnIds()) == info["num_people"] == TINY[f"num_{split}"]
        assert len(coco.getImgIds()) == info["num_images"] == len(list(Path(info["images"]).glob("*.jpg")))
        assert coco.loadCats(1)[0]["keypoints"] == list(kpt.BODY_NAMES)
        for image in coco.loadImgs(coco.getImgIds()):
            pixels = cv2.imread(str(Path(info["images"]) / image["file_name"]))
            assert pixels.shape == (image["height"], image["width"], 3) == (SIZE[1], SIZE[0], 3)
        for ann in coco.loadAnns(coco.getAnnIds()):
            kp = wholebody(ann)
            assert ann["num_keypoints"] == int((kp[:17, 2] > 0).sum()) > 0
            x, y, w, h = ann["bbox"]
            assert 0 < ann["area"] <= w * h and x >= 0 and y >= 0 and x + w <= SIZE[0] and y + h <= SIZE[1]
            for field, valid in (
                ("face_kpts", "face_valid"),
                ("lefthand_kpts", "lefthand_valid"),
                ("foot_kpts", "foot_valid"),
            ):
                assert ann[valid] == bool((np.reshape(ann[field], (-1, 3))[:, 2] > 0).any())
            labelled = kp[kp[:, 2] > 0, :2]
            assert ((labelled >= [x - 2, y - 2]) & (labelled <= [x + w + 2, y + h + 2])).all()
        detections = json.loads(Path(info["detections"]).read_text())
        image_ids = set(coco.getImgIds())
        assert all(d["image_id"] in image_ids and d["category_id"] == 1 and 0 < d["score"] <= 1 for d in detections)
        assert len(detections) >= info["num_people"]
        with contextlib.redirect_stdout(io.StringIO()):
            results = coco.loadRes(detections)  # a valid COCO results file
        assert len(results.getAnnIds()) == len(detections)
    assert json.loads((root / "manifest.json").read_text())["counts"]["train"]["num_people"] == TINY["num_train"]


def test_ground_truth_as_prediction_scores_ap_one(dataset):
    gt_file = dataset["splits"]["val"]["annotations"]
    anns = json.loads(Path(gt_file).read_text())["annotations"]
    results = [{**{k: a[k] for k in ("image_id", "category_id", *WHOLEBODY_FIELDS)}, "score": 1.0} for a in anns]
    try:
        from xtcocotools.coco import COCO as XCOCO
        from xtcocotools.cocoeval import COCOeval as XCOCOeval
    except ImportError:  # pragma: no cover - the venv builds xtcocotools from source
        XCOCO = None
    if XCOCO is not None:
        from cigpose.synth.keypoints import NUM_KEYPOINTS

        sigmas = np.full(NUM_KEYPOINTS, 0.05)
        with contextlib.suppress(ImportError):
            from cigpose.data.metainfo import load_meta

            sigmas = load_meta("coco_wholebody").sigmas
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gt = XCOCO(gt_file)
            evaluator = XCOCOeval(gt, gt.loadRes(results), "keypoints_wholebody", np.asarray(sigmas), use_area=True)
            evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    else:
        from pycocotools.cocoeval import COCOeval

        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(gt_file)
            evaluator = COCOeval(gt, gt.loadRes(results), "keypoints")  # the 17 body keypoints
            evaluator.evaluate(), evaluator.accumulate(), evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)
    assert evaluator.stats[5] == pytest.approx(1.0)  # AR


def test_same_seed_same_bytes_whatever_the_workers(tmp_path, dataset):
    again = generate_dataset(tmp_path / "b", seed=3, workers=2, **TINY)
    for split in SPLITS:
        for key in ("annotations", "detections"):
            assert Path(again["splits"][split][key]).read_bytes() == Path(dataset["splits"][split][key]).read_bytes()
        first = sorted(Path(dataset["splits"][split]["images"]).glob("*.jpg"))
        second = sorted(Path(again["splits"][split]["images"]).glob("*.jpg"))
        assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = generate_dataset(tmp_path / "c", seed=4, workers=1, **{**TINY, "num_val_ood": 0, "num_train": 0})
    assert (
        Path(other["splits"]["val"]["annotations"]).read_bytes()
        != Path(dataset["splits"]["val"]["annotations"]).read_bytes()
    )


def test_context_disc_follows_the_hidden_wrist_in_train_only(dataset):
    def disc_to_wrist(split: str) -> tuple[np.ndarray, np.ndarray]:
        anns = json.loads(Path(dataset["splits"][split]["annotations"]).read_text())["annotations"]
        with_disc = [a for a in anns if "spurious_object" in a]
        assert len(with_disc) == len(anns)  # context_rate 1
        obj = [a["spurious_object"] for a in with_disc]
        wrist = np.array([wholebody(a)[o["keypoint"]] for a, o in zip(with_disc, obj, strict=True)])
        assert (wrist[:, 2] == 1).all()  # the wrist is hidden under the occluder
        return np.linalg.norm(np.array([o["xy"] for o in obj]) - wrist[:, :2], axis=1), np.array(
            [a["bbox"] for a in anns]
        )

    train, _ = disc_to_wrist("train")
    val, val_boxes = disc_to_wrist("val")
    ood, ood_boxes = disc_to_wrist("val_ood")
    assert train.mean() < 0.5 and val.mean() < 0.5
    assert ood.mean() > 15.0
    np.testing.assert_array_equal(val_boxes, ood_boxes)  # same people; only the disc moved


def test_cli_skips_matching_output_and_regenerates_on_change(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--num-train", "3", "--num-val", "2", "--num-val-ood", "2", "--workers", "1"]
    assert synth_main(args) == 0
    assert "written" in capsys.readouterr().out
    marker = tmp_path / "images" / "train" / "stale.txt"
    marker.write_text("kept while the output is reused")
    assert synth_main(args) == 0
    assert "up to date" in capsys.readouterr().out and marker.exists()
    assert synth_main([*args, "--occlusion", "0.9"]) == 0
    assert "written" in capsys.readouterr().out and not marker.exists()
    assert json.loads((tmp_path / "manifest.json").read_text())["params"]["occlusion"] == 0.9


def test_bad_parameters_are_rejected_by_name(tmp_path, capsys):
    with pytest.raises(ValueError, match="occlusion"):
        generate_dataset(tmp_path, occlusion=1.5)
    with pytest.raises(SystemExit):
        synth_main(["--out", str(tmp_path), "--spurious", "2"])
    assert "must be in [0, 1]" in capsys.readouterr().err
