"""``PoseDataModule``: top-down COCO-format data for any keypoint layout, built from Hydra config."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import ConcatDataset, DataLoader, Sampler

from cigpose.codec.simcc import SimCCCodec
from cigpose.codec.udp_heatmap import UDPHeatmapCodec, heatmap_size_for
from cigpose.data.annotations import load_detections, load_gt_instances, map_keypoints
from cigpose.data.dataset import TopDownDataset
from cigpose.data.metainfo import DatasetMeta, load_meta
from cigpose.data.sampler import EpochShuffleSampler
from cigpose.data.stage_switch import AugmentationStageSwitch
from cigpose.data.transforms import (
    Compose,
    EncodeTargets,
    HalfBody,
    HSVJitter,
    PhotometricAlbumentations,
    RandomBoxTransform,
    RandomFlip,
)

log = logging.getLogger("cigpose.data")


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


def _require(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found at {path}")
    return path


class PoseDataModule(L.LightningDataModule):
    """Args (all from ``conf/data/<name>.yaml``):
    name: dataset label. meta: keypoint metadata name. num_keypoints: K (checked against meta).
    input_size: [h, w]. sigma: SimCC σ (x, y). split_ratio: r.
    codec: ``simcc`` (CIGPose / RTMPose targets) or ``udp_heatmap`` (backbone pretraining:
        ``heatmap_sigma`` in cells, heatmaps at ``heatmap_stride``).
    train: ``{sources: [{ann_file, image_root, sample_interval, repeat, num_keypoints,
        keypoint_mapping}]}`` (several: concatenated; ``repeat`` lists a source several times per
        epoch; a source of another layout gives its ``num_keypoints`` and ``keypoint_mapping``
        pairs ``[source index, target index]``, e.g. AI Challenger → COCO).
    val / test: ``{ann_file, image_root, bbox_source: gt|detections, det_file, det_score_thr}``.
    augmentation: ``stage1`` / ``stage2`` dicts of ``shift``, ``scale``, ``rotate``, ``dropout_p``,
        plus ``flip_p``, ``half_body_p``.
    root: the dataset folder the file paths are built from (informative).
    test_name: what reports and overlays call the test split (``val_ood`` for the synthetic data).
    stage2_epoch: first epoch of stage 2. batch_size: per device. num_workers, pin_memory,
    persistent_workers: loader settings.
    The data config's ``main_metric`` (what selects the best checkpoint and what sweeps maximise)
    is read by ``cigpose-train``, not here.
    """

    def __init__(
        self,
        name: str,
        meta: str,
        num_keypoints: int,
        input_size: Sequence[int],
        sigma: Sequence[float],
        split_ratio: float = 2.0,
        train: Any = None,
        val: Any = None,
        test: Any = None,
        augmentation: Any = None,
        stage2_epoch: int = 270,
        batch_size: int = 64,
        num_workers: int = 4,
        pin_memory: bool = True,
        persistent_workers: bool = True,
        seed: int = 0,
        codec: str = "simcc",
        heatmap_sigma: float = 2.0,
        heatmap_stride: int = 4,
        root: str | None = None,
        test_name: str = "test",
        **unused: Any,
    ):
        super().__init__()
        self.root = root  # the dataset folder the file paths interpolate from (``${data.root}``)
        self.test_name = test_name
        unused.pop("main_metric", None)
        if unused:
            log.info("data config keys not read by PoseDataModule: %s", ", ".join(sorted(unused)))
        self.name = name
        self.meta: DatasetMeta = load_meta(meta)
        if self.meta.num_keypoints != int(num_keypoints):
            raise ValueError(f"data.num_keypoints={num_keypoints} but '{meta}' has {self.meta.num_keypoints}")
        h, w = (int(v) for v in input_size)
        self.crop_wh = (w, h)
        if codec == "simcc":
            self.codec: SimCCCodec | UDPHeatmapCodec = SimCCCodec((w, h), tuple(sigma), split_ratio)
        elif codec == "udp_heatmap":
            self.codec = UDPHeatmapCodec((w, h), heatmap_size_for((w, h), heatmap_stride), heatmap_sigma)
        else:
            raise ValueError(
                f"data.codec={codec!r}: expected 'simcc' (CIGPose / RTMPose) or 'udp_heatmap' (pretraining)"
            )
        self.train_cfg = _plain(train) or {}
        self.split_cfg = {"val": _plain(val) or {}, "test": _plain(test) or _plain(val) or {}}
        self.augmentation = _plain(augmentation) or {}
        self.stage2_epoch = int(stage2_epoch)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.seed = int(seed)
        self.stage = 1
        self.resume_point: dict[str, int] | None = None  # see state_dict
        self.datasets: dict[str, Any] = {}

    @property
    def evaluation_dataset(self) -> str:
        return self.meta.evaluation

    def evaluation_ground_truth(self, split: str) -> Path | None:
        cfg = self.split_cfg.get(split) or {}
        return Path(cfg["ann_file"]) if cfg.get("ann_file") else None

    # ----------------------------------------------------------------- build
    def train_pipeline(self, stage: int) -> tuple[Compose, Compose]:
        aug = self.augmentation
        ranges = {**{"shift": 0.16, "scale": [0.6, 1.4], "rotate": 80, "dropout_p": 1.0}, **aug.get("stage1", {})}
        if stage == 2:
            ranges = {
                **ranges,
                **{"shift": 0.0, "scale": [0.75, 1.25], "rotate": 60, "dropout_p": 0.5},
                **aug.get("stage2", {}),
            }
        aspect = self.crop_wh[0] / self.crop_wh[1]
        geometric = Compose(
            [
                RandomFlip(self.meta.flip_indices, aug.get("flip_p", 0.5)),
                HalfBody(self.meta.upper_body, self.meta.lower_body, aspect, p=aug.get("half_body_p", 0.3)),
                RandomBoxTransform(shift=ranges["shift"], scale=ranges["scale"], rotate=ranges["rotate"]),
            ]
        )
        photometric = Compose([HSVJitter(), PhotometricAlbumentations(dropout_p=ranges["dropout_p"])])
        return geometric, photometric

    def _train_dataset(self) -> TopDownDataset | ConcatDataset:
        sources = self.train_cfg.get("sources") or []
        if not sources:
            raise ValueError(f"data.train.sources is empty for dataset {self.name!r}")
        stages = {1: self.train_pipeline(1), 2: self.train_pipeline(2)}
        parts = []
        for src in sources:
            mapping = src.get("keypoint_mapping")
            instances = load_gt_instances(
                _require(src["ann_file"]),
                _require(src["image_root"]),
                int(src.get("num_keypoints", self.meta.num_keypoints)) if mapping else self.meta.num_keypoints,
                need_keypoints=True,
                sample_interval=int(src.get("sample_interval", 1)),
            )
            if mapping:  # another layout (AI Challenger's 14) onto this one (COCO's 17)
                instances = map_keypoints(instances, mapping, self.meta.num_keypoints)
            encode = EncodeTargets(self.codec)
            dataset = TopDownDataset(instances, self.crop_wh, encode, stages, train=True, seed=self.seed)
            parts += [dataset] * int(src.get("repeat", 1))  # MMPose's RepeatDataset (COCO x3 in AIC+COCO)
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)

    def _eval_dataset(self, split: str) -> TopDownDataset:
        cfg = self.split_cfg[split]
        ann, root = _require(cfg["ann_file"]), _require(cfg["image_root"])
        if cfg.get("bbox_source", "gt") == "detections":
            instances = load_detections(
                _require(cfg["det_file"]), ann, root, self.meta.num_keypoints, float(cfg.get("det_score_thr", 0.0))
            )
        else:
            instances = load_gt_instances(ann, root, self.meta.num_keypoints, need_keypoints=False)
        return TopDownDataset(instances, self.crop_wh, EncodeTargets(self.codec))

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and "train" not in self.datasets:
            self.datasets["train"] = self._train_dataset()
        if stage in (None, "fit", "validate") and "val" not in self.datasets and self.split_cfg["val"]:
            self.datasets["val"] = self._eval_dataset("val")
        if stage in (None, "test") and "test" not in self.datasets and self.split_cfg["test"]:
            self.datasets["test"] = self._eval_dataset("test")

    # ----------------------------------------------------------- two stages
    def _train_parts(self) -> list[TopDownDataset]:
        train = self.datasets.get("train")
        parts = list(train.datasets) if isinstance(train, ConcatDataset) else [train] if train else []
        return list({id(p): p for p in parts}.values())  # a repeated source once

    def set_stage(self, stage: int) -> None:
        """Switch the training augmentation stage (workers see it at their next sample)."""
        if stage != self.stage:
            log.info("augmentation stage %d (stage 2 from epoch %d)", stage, self.stage2_epoch)
        self.stage = stage
        for ds in self._train_parts():
            ds.set_stage(stage)

    def set_epoch(self, epoch: int) -> None:
        """Seed of the next epoch's augmentation draws (workers see it at their next sample)."""
        for ds in self._train_parts():
            ds.set_epoch(epoch)

    # -------------------------------------------------------------- loaders
    def _loader(self, dataset: Any, sampler: Sampler | None = None, drop_last: bool = False) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled by (seed, epoch) (``EpochShuffleSampler``; a DistributedSampler under DDP). The stage
        and the augmentation epoch are set by the ``AugmentationStageSwitch`` callback."""
        train = self.datasets["train"]
        if self.trainer is not None and not any(isinstance(c, AugmentationStageSwitch) for c in self.trainer.callbacks):
            log.warning(
                "no AugmentationStageSwitch callback: every epoch uses augmentation stage 1 with the epoch-0 draws"
            )
        sampler = EpochShuffleSampler(train, seed=self.seed)
        if self.resume_point is not None:  # a mid-epoch checkpoint: skip the batches it trained on
            sampler.resume_at(self.resume_point["epoch"], self.resume_point["samples"])
        return self._loader(train, sampler, drop_last=len(train) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["val"])

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.datasets["test"])

    def state_dict(self) -> dict[str, Any]:
        """The augmentation stage; in a checkpoint saved mid-epoch (pre-emption) also where the
        epoch stopped (``resume``: epoch, samples trained), so a resumed run continues the
        epoch's order instead of starting it over (single device; a DistributedSampler starts
        the epoch again, as Lightning warns)."""
        state: dict[str, Any] = {"stage": self.stage}
        trainer = self.trainer
        if trainer is not None and trainer.training:
            done = int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)
            if 0 < done < trainer.num_training_batches:
                state["resume"] = {"epoch": int(trainer.current_epoch), "samples": done * self.batch_size}
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.set_stage(int(state.get("stage", 1)))
        self.resume_point = dict(state["resume"]) if state.get("resume") else None
