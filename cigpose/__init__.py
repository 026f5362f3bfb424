"""CIGPose: causal-intervention whole-body pose estimation (PyTorch Lightning + Hydra)."""

__version__ = "0.1.0"
