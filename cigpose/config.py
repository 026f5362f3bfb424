"""Hydra glue shared by every console script: resolvers and an entry-point decorator.

Configs ship inside the package (``cigpose/conf``, also reachable as ``conf/`` at the repository
root), so every ``cigpose-*`` script finds them from any working directory and from a wheel.
``$CIGPOSE_CONFIG_DIR`` replaces the whole tree; Hydra's own ``--config-dir`` adds to it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from cigpose.devices import fast_precision
from cigpose.paths import PACKAGE_DIR, config_dir, fixtures_dir

# Set (``hydra.job.env_set``) in the Hydra config of a DDP rank > 0 that ``training/ddp_sweep.py``
# started for a multirun job: that job's folder. Such a rank runs in Hydra's RUN mode, but is the job.
RANK_MARKER = "CIGPOSE_SWEEP_JOB_DIR"


def in_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (``-m``), or is another DDP rank of one
    (:data:`RANK_MARKER`): resume and checkpoints then behave alike on every rank."""
    if not HydraConfig.initialized():
        return False
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.mode == RunMode.MULTIRUN or RANK_MARKER in (hydra_cfg.job.env_set or {})


def job_label(default: str) -> str:
    """In a multirun job, its override string (``k=v,k2=v2``; the arm of the sweep); else ``default``."""
    return (HydraConfig.get().job.override_dirname or default) if in_multirun() else default


def sweep_group() -> str | None:
    """In a multirun job, the sweep folder (what its jobs share); else None."""
    return str(HydraConfig.get().sweep.dir)[-128:] if in_multirun() else None  # W&B: 128 chars at most


def register_resolvers() -> None:
    """``${cigpose.fixtures:}`` → the real COCO fixtures folder; ``${cigpose.package:}`` → the
    installed package folder; ``${cigpose.job_label:DEFAULT}`` / ``${cigpose.sweep_group:}`` →
    a multirun job's override string / its sweep folder (DEFAULT / null outside a multirun);
    ``${cigpose.precision:FAST,ACCELERATOR}`` → the Lightning precision ``fast`` picks there
    (``cigpose.devices``)."""
    for name, resolver in (("cigpose.job_label", job_label), ("cigpose.sweep_group", sweep_group),
                           ("cigpose.precision", fast_precision)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
    if not OmegaConf.has_resolver("cigpose.fixtures"):
        OmegaConf.register_new_resolver(
            "cigpose.fixtures",
            lambda: str(fixtures_dir() or PACKAGE_DIR.parent / "fixtures-missing"),
        )
    if not OmegaConf.has_resolver("cigpose.package"):
        OmegaConf.register_new_resolver("cigpose.package", lambda: str(PACKAGE_DIR))


# Hydra 1.3's command-line flags (``cigpose-train --help``); anything else starting with ``-`` is a typo.
HYDRA_FLAGS = {"-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "--resolve", "-p", "--package",
               "-r", "--run", "-m", "--multirun", "-sc", "--shell-completion", "-cp", "--config-path",
               "-cn", "--config-name", "-cd", "--config-dir", "--experimental-rerun", "-i", "--info"}


def unknown_flag(argv: list[str]) -> str | None:
    """The first ``-x`` / ``--x`` argument Hydra does not know (``--cfg=job`` counts as ``--cfg``)."""
    for arg in argv:
        if arg.startswith("-") and arg.split("=", 1)[0] not in HYDRA_FLAGS:
            return arg
    return None


def hydra_entry(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """Turn ``task(cfg)`` into a console-script ``main()`` reading ``conf/<config_name>.yaml``."""

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @functools.wraps(task)
        def main() -> Any:
            if (flag := unknown_flag(sys.argv[1:])) is not None:
                prog = Path(sys.argv[0]).name
                print(f"{prog}: error: unrecognized option {flag} (overrides are key=value; see {prog} --help)",
                      file=sys.stderr)
                sys.exit(2)
            register_resolvers()
            app = hydra.main(
                version_base="1.3", config_path=str(config_dir()), config_name=config_name
            )
            return app(task)()

        return main

    return decorate


def compose(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """Compose a config without running an app (tests, notebooks). Interpolations stay lazy."""
    register_resolvers()
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir())):
        return hydra_compose(
            config_name=config_name, overrides=overrides or [], return_hydra_config=False
        )
