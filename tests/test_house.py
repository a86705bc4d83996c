"""The tests' own house rules, read from the source: no test module imports another test module or
a ``conftest`` (shared helpers live in ``tests.support``; fixtures are used as fixtures)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


def _is_forbidden(module: str) -> bool:
    """Whether a dotted module name names a test module or a conftest."""
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def forbidden_imports(source: str, filename: str = "<source>") -> list[str]:
    """The imports in ``source`` of a ``test_*`` module or of ``conftest``, as written, with their
    line numbers. Relative imports and ``from package import test_x`` count too."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            # ``from tests.api import test_tasks`` imports the module named by base + name.
            names = [base, *(f"{base.rstrip('.')}.{alias.name}" for alias in node.names)]
        else:
            continue
        found += [f"line {node.lineno}: {name}" for name in names if name and _is_forbidden(name)]
    return found


def _checked_files() -> list[Path]:
    files = sorted({*TESTS.rglob("test_*.py"), *TESTS.rglob("conftest.py")})
    assert files, f"no test modules found under {TESTS}"
    return files


@pytest.mark.parametrize("path", _checked_files(), ids=lambda path: str(path.relative_to(TESTS)))
def test_no_test_module_imports_another_or_a_conftest(path: Path) -> None:
    assert forbidden_imports(path.read_text(), str(path)) == []


def test_support_imports_no_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted((TESTS / "support").rglob("*.py"))
        if (found := forbidden_imports(path.read_text(), str(path)))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from tests.api.test_tasks import create", ["line 1: tests.api.test_tasks"]),
        ("import tests.api.test_watch", ["line 1: tests.api.test_watch"]),
        ("from tests.api import test_policies", ["line 1: tests.api.test_policies"]),
        ("from tests.conftest import Client", ["line 1: tests.conftest"]),
        ("from . import conftest", ["line 1: .conftest"]),
        ("from .test_tasks import create", ["line 1: .test_tasks"]),
        ("import os\nif True:\n    from tests.unit.test_x import y", ["line 3: tests.unit.test_x"]),
        ("from tests.support import Client, expect_error", []),
        ("from tests.support.tasks import create\nimport testing", []),
    ],
)
def test_the_rule_sees_every_form_of_import(source: str, expected: list[str]) -> None:
    assert forbidden_imports(source) == expected
