"""The import contracts in pyproject.toml (``[tool.importlinter]``): handlers (the edge) may import
bot (the core), never the reverse, and bot imports no web framework or platform SDK; imports
inside functions count too. ``lint-imports`` runs here so ``make test`` enforces them."""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = "handlers (edge) over bot (core)"
NO_SDK = "bot imports no framework or SDK"


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_contracts_hold():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{LAYERS} KEPT" in done.stdout and f"{NO_SDK} KEPT" in done.stdout, done.stdout
    assert "2 kept, 0 broken" in done.stdout


def test_a_lazy_import_of_the_edge_or_an_sdk_from_the_core_breaks_them(tmp_path):
    """The same contracts on a copy of the code with two imports hidden inside functions in bot/."""
    for package in ("bot", "handlers"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "bot" / "types.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _reaches_the_edge():\n    from handlers import app  # noqa: F401\n")
    with open(tmp_path / "bot" / "text.py", "a", encoding="utf-8") as f:
        f.write("\n\ndef _reaches_an_sdk():\n    import slack_sdk  # noqa: F401\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0
    assert "0 kept, 2 broken" in done.stdout, done.stdout + done.stderr
    assert f"{LAYERS} BROKEN" in done.stdout and f"{NO_SDK} BROKEN" in done.stdout, done.stdout
    assert "bot.types -> handlers.app" in done.stdout
    assert "bot.text -> slack_sdk" in done.stdout


def test_no_module_is_imported_by_a_name_in_a_string():
    """``importlib.import_module("handlers....")`` would slip past the contracts: none in bot or handlers."""
    found = []
    for path in sorted([*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if name in ("import_module", "__import__"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n == "importlib" or n.startswith("importlib.") for n in names):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
