"""``KeypointAPMetric``: torchmetrics wrapper around rescoring, OKS-NMS and the official AP/AR.

Predictions are kept as list states reduced with ``cat``, so under DDP every rank's predictions
are gathered before ``compute``. DistributedSampler pads the last batch with repeated samples;
those repeats carry an already seen ``instance_id`` and are dropped before scoring.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchmetrics import Metric

from cigpose.evaluation.coco_eval import dataset_sigmas, evaluate, load_ground_truth
from cigpose.evaluation.rescore import rescore_and_nms
from cigpose.evaluation.results import build_results

_STATES = ("image_ids", "instance_ids", "keypoints", "keypoint_scores", "bbox_scores", "areas")


class KeypointAPMetric(Metric):
    """OKS AP/AR of top-down predictions, as RTMPose / MMPose evaluate them.

    Args:
        gt_file: COCO-format ground-truth annotation file (loaded once, on first ``compute``).
        dataset: ``coco_wholebody``, ``coco`` or ``crowdpose``.
        sigmas: (K,) OKS sigmas for NMS and scoring; default: the dataset metainfo's.
        score_mode: ``bbox_keypoint`` (box score × mean keypoint score above the threshold) or
            ``bbox``.
        keypoint_score_thr: keypoint scores ``>`` this enter the rescoring mean.
        nms_mode: ``oks_nms`` or ``none``; nms_thr: OKS above which a prediction is suppressed.

    After ``compute``, ``last_results`` holds the scored results list (COCO results layout).
    """

    full_state_update = False
    higher_is_better = True
    is_differentiable = False

    def __init__(
        self,
        gt_file: str | Path,
        dataset: str,
        sigmas: np.ndarray | None = None,
        score_mode: str = "bbox_keypoint",
        keypoint_score_thr: float = 0.2,
        nms_mode: str = "oks_nms",
        nms_thr: float = 0.9,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.gt_file = Path(gt_file)
        self.dataset = dataset
        self.sigmas = dataset_sigmas(dataset) if sigmas is None else np.asarray(sigmas, float)
        self.score_mode = score_mode
        self.keypoint_score_thr = keypoint_score_thr
        self.nms_mode = nms_mode
        self.nms_thr = nms_thr
        self.last_results: list[dict] = []
        self._ground_truth = None
        for name in _STATES:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        image_ids: torch.Tensor,
        instance_ids: torch.Tensor,
        keypoints: torch.Tensor,
        keypoint_scores: torch.Tensor,
        bbox_scores: torch.Tensor,
        areas: torch.Tensor | None = None,
    ) -> None:
        """Add one batch of B predictions.

        Args:
            image_ids: (B,) image id of each person box.
            instance_ids: (B,) unique id of each person box (repeats are de-duplicated).
            keypoints: (B, K, 2) keypoints in image coordinates.
            keypoint_scores: (B, K); bbox_scores: (B,) detector (or GT: 1) box scores.
            areas: (B,) NMS areas — the reference uses the product of the crop's box scale
                (box padded ×1.25, aspect fixed); None: the keypoints' extent area.
        """
        batch, num_keypoints = keypoints.shape[0], len(self.sigmas)
        if keypoints.shape != (batch, num_keypoints, 2) or keypoint_scores.shape != (
            batch,
            num_keypoints,
        ):
            raise ValueError(
                f"KeypointAPMetric({self.dataset}): keypoints must be ({batch}, {num_keypoints}, "
                f"2) and keypoint_scores ({batch}, {num_keypoints}), got "
                f"{tuple(keypoints.shape)} and {tuple(keypoint_scores.shape)}"
            )
        for name, value in (("image_ids", image_ids), ("instance_ids", instance_ids),
                            ("bbox_scores", bbox_scores), ("areas", areas)):
            if value is not None and value.reshape(-1).shape[0] != batch:
                raise ValueError(f"KeypointAPMetric: {name} must have {batch} entries")
        if areas is None:
            areas = torch.full((batch,), float("nan"), device=keypoints.device)
        self.image_ids.append(image_ids.detach().reshape(-1).long())
        self.instance_ids.append(instance_ids.detach().reshape(-1).long())
        self.keypoints.append(keypoints.detach().float())
        self.keypoint_scores.append(keypoint_scores.detach().float())
        self.bbox_scores.append(bbox_scores.detach().reshape(-1).float())
        self.areas.append(areas.detach().reshape(-1).float())

    def compute(self) -> dict[str, float]:
        """De-duplicate, rescore, OKS-NMS and score with the official toolkit."""
        arrays = {name: _as_numpy(getattr(self, name)) for name in _STATES}
        if arrays["image_ids"] is None:
            self.last_results = []
        else:
            selection = rescore_and_nms(
                image_ids=arrays["image_ids"].astype(np.int64),
                instance_ids=arrays["instance_ids"].astype(np.int64),
                keypoints=arrays["keypoints"].reshape(-1, len(self.sigmas), 2),
                keypoint_scores=arrays["keypoint_scores"].reshape(-1, len(self.sigmas)),
                bbox_scores=arrays["bbox_scores"],
                sigmas=self.sigmas,
                areas=arrays["areas"],
                score_mode=self.score_mode,
                keypoint_score_thr=self.keypoint_score_thr,
                nms_mode=self.nms_mode,
                nms_thr=self.nms_thr,
            )
            kept = selection.indices
            self.last_results = build_results(
                arrays["image_ids"][kept].astype(np.int64),
                arrays["keypoints"].reshape(-1, len(self.sigmas), 2)[kept],
                arrays["keypoint_scores"].reshape(-1, len(self.sigmas))[kept],
                selection.scores,
                self.dataset,
            )
        if self._ground_truth is None:
            self._ground_truth = load_ground_truth(self.gt_file)
        return evaluate(self._ground_truth, self.last_results, self.dataset, sigmas=self.sigmas)


def _as_numpy(state: list[torch.Tensor] | torch.Tensor) -> np.ndarray | None:
    """A list state (or its DDP-concatenated tensor) as one numpy array; None when empty."""
    if isinstance(state, list):
        state = [part for part in state if part.numel() > 0]
        if not state:
            return None
        state = torch.cat(state)
    if state.numel() == 0:
        return None
    return state.cpu().numpy()
