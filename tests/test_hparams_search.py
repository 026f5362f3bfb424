"""``hparams_search=cim_optuna``: the Optuna (TPE) search over λ, the CIM strategy, k and τ —
its composed sweeper config, and a real 2-trial multirun whose rerun skips both finished trials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import CategoricalDistribution, IntUniformDistribution, UniformDistribution

from cigpose.config import register_resolvers
from cigpose.paths import config_dir
from tests.test_train import cigpose_train

SEARCH_SPACE = {
    "module.loss.consistency_weight": UniformDistribution(0.0, 0.5),
    "model.cim.strategy": CategoricalDistribution(("topk", "threshold")),
    "model.cim.k_train": IntUniformDistribution(7, 20),
    "model.cim.threshold": UniformDistribution(0.5, 0.7),
}


def compose(*overrides: str) -> DictConfig:
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return hydra_compose("train", list(overrides), return_hydra_config=True)


def test_cim_optuna_composes_to_a_seeded_tpe_search_over_real_keys() -> None:
    from hydra_plugins.hydra_optuna_sweeper._impl import create_optuna_distribution_from_override

    cfg = compose("hparams_search=cim_optuna", "experiment=synthetic_default")
    sweeper = cfg.hydra.sweeper
    assert str(cfg.hydra.mode) == "RunMode.MULTIRUN"
    assert sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert sweeper.direction == "maximize" and sweeper.storage is None
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 42
    assert cfg.optimized_metric == "val/whole_body/AP"
    parser = OverridesParser.create()
    space = {key: create_optuna_distribution_from_override(parser.parse_override(f"{key}={value}"))
             for key, value in sweeper.params.items()}
    assert space == SEARCH_SPACE
    for key in space:  # each one is a key of the job config (a typo would only fail at launch)
        assert OmegaConf.select(cfg, key, default="<missing>") != "<missing>", key


@pytest.mark.slow
def test_two_trial_optuna_search_and_its_rerun(coco_fixtures: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    argv = ["-m", "hparams_search=cim_optuna", "hydra/launcher=basic", "hydra.sweeper.n_trials=2",
            "experiment=smoke_fixtures", "data.input_size=[64,64]", "data.sigma=[1.2,1.4]",
            "trainer.max_epochs=1", "trainer.check_val_every_n_epoch=1", "test=false",
            "callbacks.prediction_images=null", f"hydra.sweep.dir={sweep}"]
    cigpose_train(*argv, cwd=tmp_path)
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]
    values, params = [], []
    for job in jobs:
        metrics = json.loads((sweep / job / "metrics.json").read_text())
        values.append(metrics["logged"]["val/whole_body/AP"])
        sampled = dict(o.split("=", 1) for o in metrics["overrides"] if o.split("=", 1)[0] in SEARCH_SPACE)
        assert sampled.keys() == SEARCH_SPACE.keys()
        assert 0.0 <= float(sampled["module.loss.consistency_weight"]) <= 0.5
        assert sampled["model.cim.strategy"] in ("topk", "threshold")
        assert 7 <= int(sampled["model.cim.k_train"]) <= 20
        assert 0.5 <= float(sampled["model.cim.threshold"]) <= 0.7
        params.append(sampled)
    assert params[0] != params[1]
    result_file = sweep / "optimization_results.yaml"
    result = yaml.safe_load(result_file.read_text())
    assert result["best_value"] == max(values)
    best = {k: str(v) for k, v in result["best_params"].items()}
    assert best == params[values.index(max(values))]

    # the same command again: the seeded sampler re-asks the same two trials, resume_sweep skips
    # both (metrics.json untouched) and Optuna gets their stored values back
    stamps = {job: (sweep / job / "metrics.json").stat().st_mtime_ns for job in jobs}
    result_file.unlink()
    cigpose_train(*argv, cwd=tmp_path)
    assert {job: (sweep / job / "metrics.json").stat().st_mtime_ns for job in jobs} == stamps
    assert all("not run again" in (sweep / job / "train.log").read_text() for job in jobs)
    assert yaml.safe_load(result_file.read_text()) == result
