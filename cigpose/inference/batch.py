"""Prediction over files: an image, a folder of images or a video → ``results.json`` (COCO
results; COCO-WholeBody layout for 133 keypoints), one overlay per image (``<name>.png``,
skeleton coloured by part, keypoints more opaque with confidence) or ``<name>_pose.mp4`` for a
video, and optionally ``confounder.json`` (per person: the CIM's confounder score per keypoint and
the intervened keypoints). Without boxes the whole image (every video frame) is one person box;
with a COCO detection results file, images are matched by id (the number in the file name, as in
COCO). The command is ``cigpose-predict``."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from cigpose.checkpoint import write_json_atomic
from cigpose.data.dataset import read_image
from cigpose.evaluation.results import build_results, write_results
from cigpose.inference.predictor import Prediction, Predictor
from cigpose.visualize import draw_pose, keypoint_colours

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}


def image_id_of(path: Path, fallback: int) -> int:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else fallback


def load_boxes(path: str | None, threshold: float) -> dict[int, np.ndarray] | None:
    if not path:
        return None
    boxes: dict[int, list] = defaultdict(list)
    for det in json.loads(Path(path).read_text()):
        if int(det.get("category_id", 1)) == 1 and float(det.get("score", 1.0)) >= threshold:
            boxes[int(det["image_id"])].append(det["bbox"])
    return {k: np.asarray(v, np.float32) for k, v in boxes.items()}


class Writer:
    """Accumulates results and draws overlays."""

    def __init__(self, predictor: Predictor, output: Path, save_confounder: bool):
        self.predictor, self.output, self.save_confounder = predictor, output, save_confounder
        meta = predictor.meta
        self.colours = keypoint_colours(meta.num_keypoints, meta.coarse_parts)
        self.results: list[dict] = []
        self.confounder: list[dict] = []

    def add(self, image_id: int, pred: Prediction) -> None:
        n = len(pred.keypoints)
        if n:
            instance_scores = pred.scores.clip(min=0).mean(1)
            self.results += build_results(np.full(n, image_id), pred.keypoints, pred.scores, instance_scores,
                                          self.predictor.meta.evaluation)
        if self.save_confounder:
            for i in range(n):
                self.confounder.append({"image_id": image_id, "bbox": pred.boxes[i].tolist(),
                                        "confounder_score": np.round(pred.confounder_score[i], 5).tolist(),
                                        "intervened": np.flatnonzero(pred.intervened[i]).tolist()})

    def overlay(self, image: np.ndarray, pred: Prediction) -> np.ndarray:
        for kp, sc in zip(pred.keypoints, pred.scores, strict=True):
            image = draw_pose(image, kp, sc, self.predictor.meta.skeleton, self.colours, radius=3)
        return image

    def finish(self) -> dict[str, str]:
        files = {"results": str(write_results(self.results, self.output / "results.json"))}
        if self.save_confounder:
            files["confounder"] = str(write_json_atomic(self.confounder, self.output / "confounder.json"))
        return files


def predict_files(predictor: Predictor, source: Path, output: Path, boxes_file: str | None = None,
                  box_score_thr: float = 0.3, save_confounder: bool = False) -> dict:
    """Predict ``source`` (image, folder or video) into ``output``; returns the files written and
    the image / frame count."""
    if not source.exists():
        raise FileNotFoundError(f"input {source}: no such file or folder")
    output.mkdir(parents=True, exist_ok=True)
    boxes = load_boxes(boxes_file, box_score_thr)
    writer = Writer(predictor, output, save_confounder)
    if source.suffix.lower() in VIDEO_SUFFIXES:
        frames = predict_video(predictor, source, output, writer)
        return {**writer.finish(), "frames": frames}
    images = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if source.is_dir() else [source]
    for index, path in enumerate(images):
        image = read_image(path)
        image_id = image_id_of(path, index)
        pred = predictor.predict(image, None if boxes is None else boxes.get(image_id, np.zeros((0, 4))))
        writer.add(image_id, pred)
        overlay = writer.overlay(image, pred)
        if not cv2.imwrite(str(output / f"{path.stem}.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {output / (path.stem + '.png')}")
    return {**writer.finish(), "images": len(images)}


def predict_video(predictor: Predictor, source: Path, output: Path, writer: Writer) -> int:
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise OSError(f"input {source}: cannot open the video")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    video = None
    frame_index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        pred = predictor.predict(rgb)
        writer.add(frame_index, pred)
        overlay = cv2.cvtColor(writer.overlay(rgb, pred), cv2.COLOR_RGB2BGR)
        if video is None:
            path = output / f"{source.stem}_pose.mp4"
            video = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, overlay.shape[1::-1])
        video.write(overlay)
        frame_index += 1
    capture.release()
    if video is not None:
        video.release()
    return frame_index
