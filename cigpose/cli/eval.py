"""``cigpose-eval ckpt=PATH [experiment=... data=...]`` (Hydra): evaluate a checkpoint on the test
split (flip test, detections or GT boxes as configured); writes ``metrics.json`` and the results
file."""

from __future__ import annotations

from omegaconf import DictConfig

from cigpose.config import hydra_entry
from cigpose.training.noise import quiet_known_noise
from cigpose.training.run import evaluate


@hydra_entry("eval")
def main(cfg: DictConfig) -> None:
    quiet_known_noise()
    evaluate(cfg)


if __name__ == "__main__":
    main()
