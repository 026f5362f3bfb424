"""Inference without Lightning: :class:`Predictor` (whole images + person boxes → keypoints) and
ONNX export (:func:`export_onnx`)."""

from cigpose.inference.export import export_onnx
from cigpose.inference.predictor import Prediction, Predictor

__all__ = ["Prediction", "Predictor", "export_onnx"]
