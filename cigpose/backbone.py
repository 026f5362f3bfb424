"""``cigpose-backbone export RUN_CKPT OUT.pt`` / ``cigpose-backbone verify OUT.pt``: the hand-off
between the chain's two steps.

``export`` keeps the ``backbone.*`` tensors of a pretraining checkpoint (its EMA weights, which
were validated) in a ``cigpose-net/1`` file that ``model.init_from`` reads with
``weights_only=True``, and writes ``OUT.json`` beside it: SHA-256, tensor and parameter counts, the
source run's epoch and step. ``verify`` recomputes the checksum — `make train` checks the shipped
backbone before it starts."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from cigpose.checkpoint import CheckpointError, safe_load
from cigpose.training.weights import network_state


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def export_backbone(checkpoint: str | Path, out: str | Path, note: str = "") -> dict:
    """Backbone tensors of ``checkpoint`` (EMA when kept) → ``out`` + ``out.json``; returns the record."""
    state = {k: v.contiguous() for k, v in network_state(checkpoint).items() if k.startswith("backbone.")}
    if not state:
        raise CheckpointError(f"{checkpoint}: no backbone.* tensors")
    source = safe_load(checkpoint)
    model = source.get("model") or {}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "cigpose-net/1", "state_dict": state, "model": {"backbone": model.get("size")}}, out)
    record = {
        "file": out.name,
        "sha256": sha256(out),
        "bytes": out.stat().st_size,
        "tensors": len(state),
        "parameters": int(sum(v.numel() for k, v in state.items() if v.is_floating_point() and "running" not in k)),
        "backbone": model.get("size"),
        "source": {"checkpoint": str(checkpoint), "epoch": source.get("epoch"), "step": source.get("global_step")},
        "note": note,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def verify(path: str | Path) -> dict:
    """Check ``path`` against the SHA-256 in ``path.json``; raises CheckpointError on a mismatch."""
    path = Path(path)
    record_file = path.with_suffix(".json")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such backbone file (regenerate it with `make pretrain`)")
    if not record_file.is_file():
        raise CheckpointError(f"{record_file}: missing (the checksum record of {path.name})")
    record = json.loads(record_file.read_text())
    actual = sha256(path)
    if actual != record.get("sha256"):
        raise CheckpointError(f"{path}: SHA-256 {actual} differs from {record.get('sha256')} in {record_file.name}")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cigpose-backbone", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="backbone of a pretraining checkpoint -> init_from file")
    ex.add_argument("checkpoint")
    ex.add_argument("out")
    ex.add_argument("--note", default="", help="recipe / command recorded in OUT.json")
    ve = sub.add_parser("verify", help="check a backbone file against its OUT.json checksum")
    ve.add_argument("file")
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            record = export_backbone(args.checkpoint, args.out, args.note)
            print(f"wrote {args.out}: {record['tensors']} tensors, {record['parameters']:,} parameters, "
                  f"sha256 {record['sha256'][:16]}…")
        else:
            record = verify(args.file)
            print(f"{args.file}: sha256 ok ({record['sha256'][:16]}…, {record['tensors']} tensors)")
    except (CheckpointError, OSError) as err:
        print(f"cigpose-backbone: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
