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
    """

    name: str
    evaluation: str
    keypoint_names: tuple[str, ...]
    flip_indices: np.ndarray
    sigmas: np.ndarray
    parts: dict[str, np.ndarray]
    coarse_parts: dict[str, np.ndarray]
    skeleton: np.ndarray

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)


def available_datasets() -> list[str]:
    return sorted(p.stem for p in META_DIR.glob("*.yaml"))


@cache
def load_meta(name: str) -> DatasetMeta:
    """Metadata of ``name``; ``ubody`` and ``coco_wholebody_ubody`` share COCO-WholeBody's."""
    name = {"ubody": "coco_wholebody", "coco_wholebody_ubody": "coco_wholebody"}.get(name, name)
    path = META_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(available_datasets())}")
    raw = yaml.safe_load(path.read_text())
    k = len(raw["keypoints"])
    flip = np.asarray(raw["flip"], dtype=np.int64)
    sigmas = np.asarray(raw["sigmas"], dtype=np.float64)
    if flip.shape != (k,) or sigmas.shape != (k,) or not np.array_equal(flip[flip], np.arange(k)):
        raise ValueError(f"{path}: flip must be an involution of length {k} and sigmas of length {k}")

    def groups(key: str) -> dict[str, np.ndarray]:
        return {n: np.asarray(_parse_indices(v), dtype=np.int64) for n, v in raw[key].items()}

    graph = load_graph(raw["skeleton_graph"])
    return DatasetMeta(name=raw["name"], evaluation=raw["evaluation"], keypoint_names=tuple(raw["keypoints"]),
                       flip_indices=flip, sigmas=sigmas, parts=groups("parts"),
                       coarse_parts=groups("coarse_parts"), skeleton=np.asarray(graph.links, dtype=np.int64))
