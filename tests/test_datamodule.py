"""PoseDataModule from Hydra config: batch layout, stage 2 switch (with persistent workers and on
resume), malformed or missing annotation files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from omegaconf import DictConfig

from cigpose.config import compose
from cigpose.data.annotations import AnnotationError
from cigpose.data.datamodule import PoseDataModule
from cigpose.data.stage_switch import AugmentationStageSwitch
from cigpose.data.transforms import PhotometricAlbumentations, RandomBoxTransform


def _data_cfg(*overrides: str) -> DictConfig:
    return compose("train", ["data=fixtures_wholebody", *overrides]).data


def _datamodule(cfg: DictConfig) -> PoseDataModule:
    return hydra.utils.instantiate(cfg, _recursive_=False)


def test_training_batch_layout(coco_fixtures: Path) -> None:
    dm = _datamodule(_data_cfg())
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 12 and len(dm.datasets["val"]) == 118  # GT train, detection val
    batch = next(iter(dm.train_dataloader()))
    b, k = 8, 133
    expected = {
        "image": ((b, 3, 256, 192), torch.uint8),
        "target_x": ((b, k, 384), torch.float32),
        "target_y": ((b, k, 512), torch.float32),
        "keypoint_weights": ((b, k), torch.float32),
        "keypoints": ((b, k, 2), torch.float32),
        "keypoints_visible": ((b, k), torch.float32),
        "center": ((b, 2), torch.float32),
        "scale": ((b, 2), torch.float32),
        "image_id": ((b,), torch.int64),
        "instance_id": ((b,), torch.int64),
        "valid": ((b,), torch.bool),
        "resampled": ((b,), torch.int64),
        "stage": ((b,), torch.int64),
    }
    for key, (shape, dtype) in expected.items():
        assert tuple(batch[key].shape) == shape and batch[key].dtype == dtype, key
    assert batch["bbox_score"].shape == (b,) and batch["area"].shape == (b,)
    assert batch["valid"].all() and (batch["resampled"] == 0).all() and (batch["stage"] == 1).all()
    w = batch["keypoint_weights"]
    assert set(w.unique().tolist()) <= {0.0, 1.0} and w.sum() > 0
    assert (w <= batch["keypoints_visible"]).all()  # out-of-crop keypoints lose their weight
    assert ((batch["target_x"].amax(-1) > 0.99) == (w > 0)).all()  # targets exist exactly where weighted
    kp = batch["keypoints"][w > 0]
    assert (kp >= 0).all() and (kp[:, 0] <= 191).all() and (kp[:, 1] <= 255).all()
    assert batch["image"].float().std() > 20  # a real photo, not a blank crop


def test_validation_batch_is_not_augmented(coco_fixtures: Path) -> None:
    dm = _datamodule(_data_cfg())
    dm.setup("validate")
    first = [dm.datasets["val"][0]["image"] for _ in range(2)]
    assert torch.equal(first[0], first[1])
    batch = next(iter(dm.val_dataloader()))
    assert batch["image"].shape == (8, 3, 256, 192) and batch["valid"].all()
    assert (batch["keypoint_weights"] == 0).all()  # detections carry no keypoints


def test_stage2_pipeline_settings(coco_fixtures: Path) -> None:
    dm = _datamodule(_data_cfg())
    for stage, (shift, scale, rotate, dropout) in {
        1: (0.16, (0.6, 1.4), 80, 1.0),
        2: (0.0, (0.75, 1.25), 60, 0.5),
    }.items():
        geometric, photometric = dm.train_pipeline(stage)
        box = next(s for s in geometric.steps if isinstance(s, RandomBoxTransform))
        albu = next(s for s in photometric.steps if isinstance(s, PhotometricAlbumentations))
        assert (box.shift, tuple(box.scale_range), box.rotate) == (shift, scale, rotate)
        assert albu.dropout_p == dropout
        assert albu.pipeline.transforms[-1].p == dropout  # the albumentations CoarseDropout itself
    dm.setup("fit")
    dm.set_stage(2)
    assert dm.datasets["train"].stage == 2 and dm.datasets["train"][0]["stage"] == 2
    with pytest.raises(ValueError, match="no augmentation stage 3"):
        dm.set_stage(3)


class StageRecorder(L.LightningModule):
    """Records, per epoch, the augmentation stages the loader worker used and what it produced
    (instance order, a digest of the crops)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.stages: dict[int, set[int]] = {}
        self.batches: dict[int, list[tuple[list[int], str]]] = {}

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self.stages.setdefault(self.current_epoch, set()).update(batch["stage"].tolist())
        digest = hashlib.md5(batch["image"].numpy().tobytes()).hexdigest()
        self.batches.setdefault(self.current_epoch, []).append((batch["instance_id"].tolist(), digest))
        return (self.weight - batch["image"].float().mean() / 255) ** 2

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.log("val/AP", batch["image"].float().mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # as LR schedules do: this builds the train loader before a resumed run's epoch is restored
        assert self.trainer.estimated_stepping_batches > 0
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(
    tmp_path: Path, max_epochs: int, ckpt_path: str | None = None, validate: bool = False
) -> tuple[StageRecorder, PoseDataModule]:
    """Fit with one loader worker kept alive across epochs; with ``validate`` the checkpoints are
    written at validation end (as in training runs), else at train-epoch end."""
    dm = _datamodule(_data_cfg("data.stage2_epoch=2", "data.num_workers=1", "data.persistent_workers=true"))
    module = StageRecorder()
    checkpoints = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=tmp_path,
        filename="epoch{epoch}",
        monitor="val/AP" if validate else None,
        mode="max",
        save_on_train_epoch_end=not validate,
        save_top_k=-1,
        auto_insert_metric_name=False,
    )
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=1 if validate else 0,
        callbacks=[AugmentationStageSwitch(dm.stage2_epoch), checkpoints],
    )
    trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path)
    assert trainer.train_dataloader.persistent_workers and trainer.train_dataloader.num_workers == 1
    return module, dm


@pytest.mark.parametrize("validate", [False, True], ids=["ckpt_at_train_end", "ckpt_at_val_end"])
def test_stage_switch_reaches_persistent_workers_and_survives_resume(
    coco_fixtures: Path, tmp_path: Path, validate: bool
) -> None:
    module, dm = _fit(tmp_path, max_epochs=3, validate=validate)
    assert module.stages == {0: {1}, 1: {1}, 2: {2}}
    orders = [[i for ids, _ in module.batches[e] for i in ids] for e in range(3)]
    assert orders[0] != orders[1] and all(len(set(o)) == len(o) == 8 for o in orders)  # reshuffled
    torch.rand(100)  # the resumed process has another global RNG history
    assert dm.state_dict() == {"stage": 2}
    assert (tmp_path / "epoch1.ckpt").is_file()
    resumed, dm = _fit(
        tmp_path / "resumed",
        max_epochs=3,
        ckpt_path=str(tmp_path / "epoch1.ckpt"),
        validate=validate,
    )
    assert resumed.stages == {2: {2}}
    assert resumed.batches[2] == module.batches[2]  # same order and the same augmented crops
    assert dm.stage == 2


# ------------------------------------------------------------ broken annotation files
def _train_file(tmp_path: Path, content: str) -> DictConfig:
    path = tmp_path / "train.json"
    path.write_text(content)
    cfg = _data_cfg()
    cfg.train.sources[0].ann_file = str(path)
    return cfg


def _valid_json(coco_fixtures: Path) -> dict:
    return json.loads((coco_fixtures / "test_coco_wholebody.json").read_text())


def test_invalid_json_fails_at_setup(tmp_path: Path, coco_fixtures: Path) -> None:
    dm = _datamodule(_train_file(tmp_path, '{"images": [1, 2,'))
    with pytest.raises(AnnotationError, match=r"train\.json: not valid JSON"):
        dm.setup("fit")


def test_missing_annotations_field_fails_at_setup(tmp_path: Path, coco_fixtures: Path) -> None:
    data = _valid_json(coco_fixtures)
    del data["annotations"]
    dm = _datamodule(_train_file(tmp_path, json.dumps(data)))
    with pytest.raises(AnnotationError, match=r"train\.json: the file has no 'annotations' field"):
        dm.setup("fit")


@pytest.mark.parametrize("field", ["keypoints", "face_kpts", "righthand_kpts"])
def test_keypoints_of_wrong_length_fail_at_setup(tmp_path: Path, coco_fixtures: Path, field: str) -> None:
    data = _valid_json(coco_fixtures)
    ann = data["annotations"][0]
    ann[field] = ann[field][:-3]
    dm = _datamodule(_train_file(tmp_path, json.dumps(data)))
    expected = len(ann[field]) + 3
    with pytest.raises(
        AnnotationError,
        match=rf"train\.json: annotation {ann['id']} field '{field}' has "
        rf"{expected - 3} values, expected {expected}",
    ):
        dm.setup("fit")


def test_missing_annotation_file_names_the_path(tmp_path: Path, coco_fixtures: Path) -> None:
    cfg = _data_cfg()
    cfg.train.sources[0].ann_file = str(tmp_path / "nowhere" / "train.json")
    with pytest.raises(FileNotFoundError, match=f"dataset not found at {tmp_path / 'nowhere' / 'train.json'}"):
        _datamodule(cfg).setup("fit")
    cfg = _data_cfg()
    cfg.val.det_file = str(tmp_path / "dets.json")
    with pytest.raises(FileNotFoundError, match=f"dataset not found at {tmp_path / 'dets.json'}"):
        _datamodule(cfg).setup("validate")


@pytest.mark.parametrize("box", [[1.0, 2.0, 3.0], "box", None])
def test_malformed_boxes_fail_at_setup(tmp_path: Path, coco_fixtures: Path, box: object) -> None:
    data = _valid_json(coco_fixtures)
    ann = data["annotations"][2]
    ann["bbox"] = box
    dm = _datamodule(_train_file(tmp_path, json.dumps(data)))
    with pytest.raises(AnnotationError, match=rf"train\.json: annotation {ann['id']} field 'bbox'"):
        dm.setup("fit")
    detections = json.loads((coco_fixtures / "test_coco_det_AP_H_56.json").read_text())
    detections[5]["bbox"] = box
    (tmp_path / "dets.json").write_text(json.dumps(detections))
    cfg = _data_cfg()
    cfg.val.det_file = str(tmp_path / "dets.json")
    with pytest.raises(AnnotationError, match=r"dets\.json: detection 5 field 'bbox'"):
        _datamodule(cfg).setup("validate")


# ------------------------------------------------------------------ every dataset config
@pytest.mark.parametrize(
    ("name", "keypoints", "sources", "bbox_source"),
    [
        ("coco_wholebody", 133, 1, "detections"),
        ("coco", 17, 1, "gt"),
        ("crowdpose", 14, 1, "detections"),
        ("ubody", 133, 15, "detections"),
        ("coco_wholebody_ubody", 133, 16, "detections"),
    ],
)
def test_dataset_configs_point_at_data_dir(
    tmp_path: Path, name: str, keypoints: int, sources: int, bbox_source: str
) -> None:
    cfg = compose("train", [f"data={name}", f"paths.data_dir={tmp_path}"]).data
    dm = _datamodule(cfg)
    assert dm.meta.num_keypoints == keypoints == cfg.num_keypoints
    assert len(cfg.train.sources) == sources and cfg.val.bbox_source == bbox_source
    assert all(str(s.ann_file).startswith(str(tmp_path)) for s in cfg.train.sources)
    first = cfg.train.sources[0].ann_file
    with pytest.raises(FileNotFoundError, match=f"dataset not found at {first}"):
        dm.setup("fit")
    with pytest.raises(FileNotFoundError, match=f"dataset not found at {cfg.val.ann_file}"):
        dm.setup("validate")


def test_ubody_configs_sample_every_tenth_frame_with_wide_augmentation(tmp_path: Path) -> None:
    for name in ("ubody", "coco_wholebody_ubody"):
        cfg = compose("train", [f"data={name}", f"paths.data_dir={tmp_path}"]).data
        ubody = [s for s in cfg.train.sources if "UBody" in s.ann_file]
        assert len(ubody) == 15 and all(s.sample_interval == 10 for s in ubody)
        assert len({s.ann_file for s in ubody}) == 15
        dm = _datamodule(cfg)
        for stage, (shift, dropout) in {1: (0.16, 1.0), 2: (0.0, 0.5)}.items():
            geometric, photometric = dm.train_pipeline(stage)
            box = next(s for s in geometric.steps if isinstance(s, RandomBoxTransform))
            albu = next(s for s in photometric.steps if isinstance(s, PhotometricAlbumentations))
            assert (box.shift, tuple(box.scale_range), box.rotate) == (shift, (0.5, 1.5), 90)
            assert albu.dropout_p == dropout


def test_mixed_sources_concatenate_and_switch_stage_together(coco_fixtures: Path) -> None:
    cfg = _data_cfg()
    first = cfg.train.sources[0]
    cfg.train.sources = [first, {**first, "sample_interval": 3}]  # + images 40083 and 197388
    dm = _datamodule(cfg)
    dm.setup("fit")
    train = dm.datasets["train"]
    assert isinstance(train, torch.utils.data.ConcatDataset) and len(train) == 12 + 7
    dm.set_stage(2)
    assert [part.stage for part in train.datasets] == [2, 2]
    assert train[12 + 6]["stage"] == 2 and train[12 + 6]["image_id"] in (40083, 197388)
