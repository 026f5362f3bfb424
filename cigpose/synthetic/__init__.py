"""Procedurally drawn whole-body people (133 keypoints) with controllable confounders."""

from cigpose.synthetic.generator import generate_dataset

__all__ = ["generate_dataset"]
