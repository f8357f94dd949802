"""Imports inside functions are the exception: few, and each says on its line why it waits."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stylize"
MOST = 25  # CONTRIBUTING.md, "Adding a method": keep them few


def function_level_imports() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        found.append((str(path.relative_to(PACKAGE)), inner.lineno, lines[inner.lineno - 1]))
    return found


def test_function_level_imports_are_few_and_each_says_why() -> None:
    found = function_level_imports()
    unexplained = [f"{path}:{line}" for path, line, text in found if "# lazy:" not in text]
    assert not unexplained, f"say why on the line (# lazy: ...): {unexplained}"
    assert 0 < len(found) <= MOST, f"{len(found)} imports inside functions (at most {MOST})"
