"""Safe file I/O: checkpoints loaded ``weights_only`` with a clear refusal; atomic writes of
checkpoints and JSON files (never a torn file)."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Plain data that MMPose/MMEngine checkpoints keep in `meta` (numpy arrays and scalars). Allowing
# these reconstructors executes no code of the file's choosing.
_multiarray = (getattr(np, "_core", None) or np.core).multiarray
_NUMPY_SAFE = [np.ndarray, np.dtype, _multiarray._reconstruct, _multiarray.scalar]
_NUMPY_SAFE += [
    type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "bool", "uint8")
]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot or must not be loaded."""


def safe_load(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` (on CPU by default); refuses pickled code with a
    clear message."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(_NUMPY_SAFE):
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"refusing to load {path}: it holds pickled Python objects that could run code, not "
            "only tensors and plain data (torch.load(weights_only=True) said: "
            f"{str(err).splitlines()[0]}). "
            "Only load checkpoints from sources you trust; re-save the state_dict alone to use it."
        ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, found {type(obj).__name__}")
    return obj


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename: never a torn file.

    Raises ``OSError`` naming the path when the folder is not writable or the disk is full.
    Temporary files that a killed earlier save of ``path`` left behind are removed first.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            stale.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OSError(f"cannot write checkpoint {path}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        # torch's zip writer turns a failed write (disk full, EFBIG) into an opaque RuntimeError
        # raised while the OSError is handled: report the OSError
        cause = err if isinstance(err, OSError) else err.__context__
        if isinstance(cause, OSError):
            raise OSError(f"cannot write checkpoint {path}: {cause.strerror or cause}") from err
        if isinstance(err, RuntimeError):
            raise OSError(f"cannot write checkpoint {path}: {err}") from err
        raise
    return path


def write_json_atomic(obj: Any, path: Path) -> Path:
    """Write JSON through a temporary file + rename; errors name the path."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)  # no half-written leftover
        raise OSError(f"cannot write {path}: {err.strerror or err}") from err
    return path
