"""The package's layering, read from the source with ``ast``: parts below, Lightning wiring in the
middle, commands on top — dependencies point down, no circles, no command imports another."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import cigpose

PACKAGE = Path(cigpose.__file__).parent
PARTS = ("models", "codec", "data", "evaluation")  # the bottom: networks, targets, data, metrics
ABOVE_PARTS = ("training", "inference", "cli", "analysis")
# Imports allowed inside functions: optional extras, and heavy imports only some paths need.
LAZY_IMPORTS = {
    "umap": "optional extra (cigpose-analyze embedding-umap)",
    "timm": "only timm/<name> backbones; importing timm takes seconds",
    "wandb.sdk.lib.runid": "only with logger=wandb; importing wandb takes seconds",
    "cigpose.evaluation.metric": "keeps cigpose-score (evaluation alone) free of torch",
    "cigpose.data.metainfo": "keeps cigpose-score (evaluation alone) free of torch",
}


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(("cigpose", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text())
    return found


def imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def part(module: str) -> str:
    """``cigpose.models.head`` → ``models``; ``cigpose.config`` → ``config``."""
    return module.split(".")[1] if module.count(".") else "cigpose"


def test_parts_import_nothing_above_them() -> None:
    for name, tree in modules().items():
        if part(name) not in PARTS:
            continue
        above = [m for m in imported(tree) if m.startswith("cigpose.") and part(m) in ABOVE_PARTS]
        assert not above, f"{name} imports {above}: the parts ({', '.join(PARTS)}) sit below them"


def test_no_library_module_imports_a_command() -> None:
    for name, tree in modules().items():
        commands = [m for m in imported(tree) if m.startswith("cigpose.cli") and m != "cigpose.cli.args"]
        assert not commands, f"{name} imports the command(s) {commands}"


def test_no_import_circle_between_top_level_parts() -> None:
    edges: dict[str, set[str]] = {}
    for name, tree in modules().items():
        for target in imported(tree):
            if target.startswith("cigpose.") and part(target) != part(name):
                edges.setdefault(part(name), set()).add(part(target))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges.get(start, ()))

    circles = sorted(p for p in edges if reaches(p, p, {p}))
    assert not circles, f"parts in an import circle: {circles} ({ {p: sorted(edges[p]) for p in circles} })"


def test_imports_inside_functions_are_only_the_listed_lazy_ones() -> None:
    for name, tree in modules().items():
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for module in imported(function):
                    assert module in LAZY_IMPORTS, f"{name}.{function.name} imports {module} inside the function"


def test_predictor_imports_without_lightning() -> None:
    code = ("import sys; from cigpose.inference import Predictor, export_onnx; "
            "print(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'lightning', 'pytorch_lightning', 'torchmetrics'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
