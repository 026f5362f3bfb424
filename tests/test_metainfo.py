"""Keypoint metadata: flip partners, names, OKS sigmas, parts."""

from __future__ import annotations

import numpy as np
import pytest

from cigpose.data.metainfo import available_datasets, load_meta

DATASETS = ("coco_wholebody", "coco", "crowdpose")
NUM_KEYPOINTS = {"coco_wholebody": 133, "coco": 17, "crowdpose": 14}
FACE = 23  # COCO-WholeBody: body 17 + feet 6, then the 68 iBUG face points


@pytest.mark.parametrize("name", DATASETS)
def test_flip_indices_are_an_involution(name: str) -> None:
    meta = load_meta(name)
    k = NUM_KEYPOINTS[name]
    assert meta.num_keypoints == k
    assert meta.flip_indices.shape == (k,)
    np.testing.assert_array_equal(meta.flip_indices[meta.flip_indices], np.arange(k))


@pytest.mark.parametrize("name", DATASETS)
def test_left_names_map_to_matching_right_names(name: str) -> None:
    meta = load_meta(name)
    names = meta.keypoint_names
    lefts = [i for i, n in enumerate(names) if n.startswith("left_")]
    assert lefts, "every layout has left/right keypoints"
    for i in lefts:
        partner = names[meta.flip_indices[i]]
        assert partner == "right_" + names[i][len("left_") :], (names[i], partner)
    # unpaired keypoints (nose, top_head, neck, face centre line) map to themselves
    unpaired = [i for i, n in enumerate(names) if "left" not in n and "right" not in n and not n.startswith("face-")]
    np.testing.assert_array_equal(meta.flip_indices[unpaired], unpaired)


def test_wholebody_face_mirror() -> None:
    flip = load_meta("coco_wholebody").flip_indices
    assert flip[FACE + 0] == FACE + 16  # jaw ends
    assert flip[FACE + 8] == FACE + 8  # chin
    assert flip[FACE + 36] == FACE + 45  # outer eye corners
    assert flip[FACE + 39] == FACE + 42  # inner eye corners
    assert flip[FACE + 30] == FACE + 30  # nose tip
    assert flip[FACE + 48] == FACE + 54  # mouth corners
    assert flip[91] == 112 and flip[132] == 111  # left_hand_root ↔ right_hand_root, pinky tips


@pytest.mark.parametrize("name", DATASETS)
def test_sigmas_and_parts_cover_every_keypoint(name: str) -> None:
    meta = load_meta(name)
    k = meta.num_keypoints
    assert meta.sigmas.shape == (k,) and (meta.sigmas > 0).all()
    covered = np.concatenate(list(meta.coarse_parts.values()))
    np.testing.assert_array_equal(np.sort(covered), np.arange(k))
    assert meta.skeleton.ndim == 2 and meta.skeleton.shape[1] == 2
    assert meta.skeleton.min() >= 0 and meta.skeleton.max() < k


def test_wholebody_body_sigmas_equal_coco() -> None:
    wholebody, coco = load_meta("coco_wholebody"), load_meta("coco")
    np.testing.assert_array_equal(wholebody.sigmas[:17], coco.sigmas)
    assert wholebody.keypoint_names[:17] == coco.keypoint_names
    parts = wholebody.parts
    assert [len(parts[p]) for p in ("body", "foot", "face", "lefthand", "righthand")] == [
        17,
        6,
        68,
        21,
        21,
    ]
    np.testing.assert_array_equal(parts["face"], np.arange(23, 91))
    # the official COCO-WholeBody foot sigmas (not mirror-symmetric)
    np.testing.assert_array_equal(wholebody.sigmas[17:23], [0.068, 0.066, 0.066, 0.092, 0.094, 0.094])


def test_ubody_aliases_and_unknown_name() -> None:
    ubody, wholebody = load_meta("ubody"), load_meta("coco_wholebody")
    assert ubody.keypoint_names == wholebody.keypoint_names
    np.testing.assert_array_equal(ubody.flip_indices, wholebody.flip_indices)
    assert set(DATASETS) <= set(available_datasets())
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_meta("nope")


def test_half_body_halves_follow_the_reference_keypoint_types() -> None:
    wholebody = load_meta("coco_wholebody")
    np.testing.assert_array_equal(wholebody.upper_body, np.arange(11))  # nose .. wrists
    np.testing.assert_array_equal(wholebody.lower_body, np.arange(11, 23))  # hips .. heels
    # face and hands are neither upper nor lower body (MMPose keypoint type '')
    assert not set(range(23, 133)) & set(wholebody.upper_body.tolist() + wholebody.lower_body.tolist())
    for name in ("coco", "crowdpose"):
        meta = load_meta(name)
        both = np.concatenate([meta.upper_body, meta.lower_body])
        np.testing.assert_array_equal(np.sort(both), np.arange(meta.num_keypoints))
        lower_names = {meta.keypoint_names[i].split("_")[-1] for i in meta.lower_body}
        assert lower_names == {"hip", "knee", "ankle"}, name
