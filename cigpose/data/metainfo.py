"""Keypoint metadata per dataset (names, flip partners, OKS sigmas, parts), read from package data
(``cigpose/metadata/datasets/<name>.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import yaml

from cigpose.graphs import _parse_indices, load_graph

META_DIR = Path(__file__).resolve().parents[1] / "metadata" / "datasets"
ALIASES = {"ubody": "coco_wholebody", "coco_wholebody_ubody": "coco_wholebody"}


@dataclass(frozen=True)
class DatasetMeta:
    """Attributes:
    name: dataset layout name.
    evaluation: which official protocol scores it (``coco_wholebody``, ``coco``, ``crowdpose``).
    keypoint_names: K names.
    flip_indices: ``(K,)`` mirror partner of each keypoint (itself if unpaired).
    sigmas: ``(K,)`` OKS sigmas.
    parts: evaluation parts → index arrays.
    coarse_parts: face / torso / arms / hands / legs / feet → index arrays (paper Table 7).
    skeleton: ``(L, 2)`` links for drawing.
    upper_body, lower_body: index arrays the half-body augmentation chooses between.
    """

    name: str
    evaluation: str
    keypoint_names: tuple[str, ...]
    flip_indices: np.ndarray
    sigmas: np.ndarray
    parts: dict[str, np.ndarray]
    coarse_parts: dict[str, np.ndarray]
    skeleton: np.ndarray
    upper_body: np.ndarray
    lower_body: np.ndarray

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)


def available_datasets() -> list[str]:
    return sorted(p.stem for p in META_DIR.glob("*.yaml"))


def _indices(groups: dict[str, str], path: Path, key: str, k: int) -> dict[str, np.ndarray]:
    out = {name: np.asarray(_parse_indices(v), dtype=np.int64) for name, v in groups.items()}
    for name, idx in out.items():
        if idx.size and (idx.min() < 0 or idx.max() >= k):
            raise ValueError(f"{path}: {key}.{name} has indices outside 0..{k - 1}")
    return out


@cache
def load_meta(name: str) -> DatasetMeta:
    """Metadata of ``name``; ``ubody`` and ``coco_wholebody_ubody`` share COCO-WholeBody's."""
    path = META_DIR / f"{ALIASES.get(name, name)}.yaml"
    if not path.is_file():
        known = ", ".join(available_datasets() + sorted(ALIASES))
        raise ValueError(f"unknown dataset {name!r}; known: {known}")
    raw = yaml.safe_load(path.read_text())
    k = len(raw["keypoints"])
    flip = np.asarray(raw["flip"], dtype=np.int64)
    sigmas = np.asarray(raw["sigmas"], dtype=np.float64)
    if flip.shape != (k,) or sigmas.shape != (k,) or not np.array_equal(flip[flip], np.arange(k)):
        raise ValueError(f"{path}: flip must be an involution of length {k}, sigmas of length {k}")
    half_body = _indices(raw["half_body"], path, "half_body", k)
    graph = load_graph(raw["skeleton_graph"])
    return DatasetMeta(
        name=raw["name"],
        evaluation=raw["evaluation"],
        keypoint_names=tuple(raw["keypoints"]),
        flip_indices=flip,
        sigmas=sigmas,
        parts=_indices(raw["parts"], path, "parts", k),
        coarse_parts=_indices(raw["coarse_parts"], path, "coarse_parts", k),
        skeleton=np.asarray(graph.links, dtype=np.int64),
        upper_body=half_body["upper"],
        lower_body=half_body["lower"],
    )
