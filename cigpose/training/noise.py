"""Silence what a run would print without meaning: Lightning's product tip and two messages
whose cause is known and intended (each is explained here, once, instead of in every log)."""

from __future__ import annotations

import logging
import warnings


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "💡 Tip" not in record.getMessage()


def quiet_known_noise() -> None:
    """* Lightning's "💡 Tip: … litlogger" advert: dropped.
    * "Found N module(s) in eval mode at the start of training": the EMA copy of the network is
      kept in eval mode on purpose (it is only evaluated, never trained).
    * ``_pytree`` ``LeafSpec`` deprecation inside Lightning: not ours to fix.
    """
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch", "lightning"):
        logging.getLogger(name).addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode at the start of training")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
