"""``cigpose-backbone export RUN_CKPT OUT.pt`` / ``cigpose-backbone verify OUT.pt``: the hand-off
between the chain's two steps.

``export`` keeps the ``backbone.*`` tensors of a pretraining checkpoint (its EMA weights, which
were validated) in a ``cigpose-net/1`` file that ``model.init_from`` reads with
``weights_only=True``, and writes ``OUT.json`` beside it: SHA-256, tensor and parameter counts, the
source run's epoch and step. ``verify`` recomputes the checksum — `make train` checks the shipped
backbone before it starts."""

from __future__ import annotations

import sys

from cigpose.checkpoint import CheckpointError
from cigpose.cli.args import ArgumentParser, command_doc
from cigpose.models.weights import export_backbone, verify_backbone


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="cigpose-backbone", description=command_doc(__doc__))
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
            record = verify_backbone(args.file)
            print(f"{args.file}: sha256 ok ({record['sha256'][:16]}…, {record['tensors']} tensors)")
    except (CheckpointError, OSError) as err:
        print(f"cigpose-backbone: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
