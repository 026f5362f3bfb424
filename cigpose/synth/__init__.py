"""Procedural whole-body people with controllable confounders: the project's embedded dataset.

``generate_dataset`` (and the ``cigpose-synth`` command) writes COCO-WholeBody files that the
standard loaders and evaluator read; ``render_scene`` draws a single image in memory.
"""

from cigpose.synth.generate import SPLITS, SynthConfig, generate_dataset
from cigpose.synth.scene import Scene, SceneParams, render_scene

__all__ = ["SPLITS", "Scene", "SceneParams", "SynthConfig", "generate_dataset", "render_scene"]
