"""Where the project finds its packaged configs and the optional real-data fixtures."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def config_dir() -> Path:
    """The Hydra config tree: ``$CIGPOSE_CONFIG_DIR`` if set, else the package's own copy."""
    override = os.environ.get("CIGPOSE_CONFIG_DIR")
    return Path(override).resolve() if override else PACKAGE_DIR / "conf"


def fixtures_dir() -> Path | None:
    """The shared real-data fixtures folder (holding ``coco/``), or None when it is absent.

    ``$CIGPOSE_FIXTURES`` wins; otherwise ``../shared/fixtures`` next to the repository checkout.
    """
    override = os.environ.get("CIGPOSE_FIXTURES")
    candidates = [Path(override)] if override else []
    candidates.append(PACKAGE_DIR.parent.parent / "shared" / "fixtures")
    for path in candidates:
        if (path / "coco").is_dir():
            return path.resolve()
    return None
