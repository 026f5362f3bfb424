"""``cigpose-show-batch [data=NAME] [stage=1|2] [num_images=N] [output=PATH]`` (Hydra): one
augmented training batch drawn as a PNG grid (crops as the network sees them, keypoints with
target weight > 0, skeleton coloured by coarse part)."""

from __future__ import annotations

from omegaconf import DictConfig

from cigpose.config import hydra_entry
from cigpose.data.show_batch import show_batch


@hydra_entry("show_batch")
def main(cfg: DictConfig) -> None:
    show_batch(cfg)


if __name__ == "__main__":
    main()
