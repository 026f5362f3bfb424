"""Every console script: ``--help`` lists its options and exits 0; an unknown option is a one-line
error with exit status 2. In-process through the installed entry points (one real subprocess per
script runs in the tests of what it does)."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import pytest

SCRIPTS = {ep.name: ep for ep in entry_points(group="console_scripts") if ep.name.startswith("cigpose-")}
HYDRA_SCRIPTS = {"cigpose-train", "cigpose-eval", "cigpose-show-batch"}
# what each argparse command's --help must mention (its options)
OPTIONS = {
    "cigpose-sweep-table": ["run_dir", "--metrics"],
    "cigpose-info": ["overrides"],
    "cigpose-predict": ["--ckpt", "--input", "--boxes", "--output", "--device", "--box-score-thr", "--flip-test",
                        "--save-confounder"],
    "cigpose-export": ["--ckpt", "--output", "--input-convention", "--opset", "--k-eval"],
    "cigpose-analyze": ["--ckpt", "--output", "intervention-frequency", "overrides"],
    "cigpose-convert": ["source", "destination", "--split-ratio", "--allow-partial"],
    "cigpose-score": ["--gt", "--results", "--dataset", "--backend", "--verbose"],
    "cigpose-synth": ["--out", "--seed", "--num-train", "--spurious"],
    "cigpose-backbone": ["export", "verify"],
    "cigpose-report-synthetic": ["run", "--gt"],
}


# a valid command line for each argparse command (nothing runs: the unknown option stops it first)
REQUIRED = {
    "cigpose-sweep-table": ["runs/"], "cigpose-predict": ["--ckpt", "a.ckpt", "--input", "img.jpg"],
    "cigpose-export": ["--ckpt", "a.ckpt", "--output", "a.onnx"], "cigpose-analyze": ["enrichment", "--ckpt", "a.ckpt"],
    "cigpose-convert": ["a.pth", "b.pt"],
    "cigpose-score": ["--gt", "gt.json", "--results", "r.json", "--dataset", "coco"],
    "cigpose-synth": ["--out", "data/x"], "cigpose-backbone": ["verify", "b.pt"],
}


def run(name: str, args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple:
    monkeypatch.setattr(sys, "argv", [name, *args])
    main = SCRIPTS[name].load()
    try:
        code = main() if name in HYDRA_SCRIPTS else main(args)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code or 0, out, err


def test_every_script_is_covered() -> None:
    assert set(SCRIPTS) == HYDRA_SCRIPTS | set(OPTIONS)
    assert all(ep.value.startswith("cigpose.cli.") for ep in SCRIPTS.values())  # one module per script


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_help_lists_every_option(name: str, monkeypatch, capsys) -> None:
    code, out, _ = run(name, ["--help"], monkeypatch, capsys)
    assert code == 0
    for option in OPTIONS[name]:
        assert option in out, f"{name} --help does not mention {option}"


@pytest.mark.parametrize("name", sorted(HYDRA_SCRIPTS))
def test_hydra_help(name: str, monkeypatch, capsys) -> None:
    code, out, _ = run(name, ["--help"], monkeypatch, capsys)
    assert code == 0 and "Powered by Hydra" in out and "== Config ==" in out


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_unknown_option_is_a_one_line_error(name: str, monkeypatch, capsys) -> None:
    code, out, err = run(name, [*REQUIRED.get(name, []), "--no-such-option"], monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--no-such-option" in lines[0] and lines[0].startswith(f"{name}: error:"), err
