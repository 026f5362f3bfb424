"""The argument style of every non-Hydra command: argparse, ``--help`` listing every option, and a
one-line error (exit status 2) for an unknown or malformed option."""

from __future__ import annotations

import argparse
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line: ``prog: error: ... (see prog --help)``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def command_doc(doc: str | None) -> str:
    """A module docstring's first paragraph, for ``--help``."""
    return (doc or "").strip().split("\n\n")[0]
