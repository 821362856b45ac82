"""The sandbox is the ground truth for vendors only while it stays independent of what it checks:
it never imports the engine and never reads the vendor specs."""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parents[1] / "sandbox"


def _sources() -> list[Path]:
    files = sorted(SANDBOX.rglob("*.py"))
    assert len(files) > 10, "the sandbox package moved"
    return files


def test_the_sandbox_never_imports_the_engine() -> None:
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
                names = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
            offenders += [f"{path.name}: {name}" for name in names
                          if isinstance(name, str) and (name == "engine" or name.startswith(("engine.", "tests")))]
    assert offenders == []


def test_the_sandbox_never_reads_the_vendor_specs() -> None:
    offenders = [path.name for path in _sources()
                 if any(marker in path.read_text(encoding="utf-8") for marker in (".yaml", "vendors/", "yaml."))]
    assert offenders == []
