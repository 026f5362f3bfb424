"""Keypoint evaluation: results files, RTMPose-style rescoring + OKS-NMS, official AP/AR.

``KeypointAPMetric`` (torchmetrics) lives in ``cigpose.evaluation.metric``; it is imported on
first access so that scoring alone (``cigpose-score``) does not load torch.
"""

from cigpose.evaluation.coco_eval import evaluate, load_ground_truth, metric_names
from cigpose.evaluation.rescore import rescore_and_nms
from cigpose.evaluation.results import build_results, read_results, write_results

__all__ = [
    "KeypointAPMetric",
    "build_results",
    "evaluate",
    "load_ground_truth",
    "metric_names",
    "read_results",
    "rescore_and_nms",
    "write_results",
]


def __getattr__(name: str):
    if name == "KeypointAPMetric":
        from cigpose.evaluation.metric import KeypointAPMetric

        return KeypointAPMetric
    raise AttributeError(f"module 'cigpose.evaluation' has no attribute {name!r}")
