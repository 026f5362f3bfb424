"""``cigpose-eval ckpt=PATH [experiment=... data=...]``: evaluate a checkpoint on the test split
(flip test, detections or GT boxes as configured); writes ``metrics.json`` and the results file."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig

from cigpose.config import hydra_entry
from cigpose.train import instantiate_list
from cigpose.training.outputs import write_metrics, write_results
from cigpose.training.validate import validate_config
from cigpose.training.weights import load_network


def evaluate(cfg: DictConfig) -> dict[str, float]:
    if not cfg.get("ckpt"):
        raise ValueError(
            "cigpose-eval needs ckpt=PATH (a cigpose-train or cigpose-convert checkpoint)"
        )
    validate_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data, _recursive_=False)
    net = hydra.utils.instantiate(cfg.model, _convert_="all")
    load_network(net, cfg.ckpt, prefer_ema=True)
    module = hydra.utils.instantiate(cfg.module, net=net, ema={"enabled": False}, _convert_="all")
    trainer = hydra.utils.instantiate(
        cfg.trainer,
        callbacks=instantiate_list(cfg.get("callbacks")),
        logger=instantiate_list(cfg.get("logger")) or False,
    )
    trainer.test(module, datamodule=datamodule)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    output_dir = Path(cfg.paths.output_dir)
    write_results(module, output_dir)
    write_metrics(metrics, output_dir, cfg)
    return metrics


@hydra_entry("eval")
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
