"""The layer rules, read from the code's own imports: services depend on ports, never on storage;
no import circles inside drive_service; no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "drive_service"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """drive_service modules ``name`` imports, type-only imports included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {imported for imported in names if imported in known and imported != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_services_import_nothing_from_storage() -> None:
    crossing = sorted(
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if name.startswith("drive_service.services")
        for target in targets
        if target.startswith("drive_service.storage")
    )
    assert crossing == []


def test_domain_imports_no_other_layer() -> None:
    allowed = ("drive_service.domain", "drive_service.errors")
    crossing = sorted(
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if name.startswith("drive_service.domain")
        for target in targets
        if not target.startswith(allowed)
    )
    assert crossing == []


def test_no_import_circles() -> None:
    graph = _graph()
    # A package's __init__ that only re-exports hands names on; it is no room of its own.
    faces = {
        name
        for name, path in _modules().items()
        if path.name == "__init__.py"
        and not any(
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            for node in ast.parse(path.read_text()).body
        )
    }
    edges = {name: targets - faces for name, targets in graph.items()}
    circles = []
    for start in edges:
        seen, stack = set(), [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for target in edges[node]:
                if target == start:
                    circles.append(" -> ".join([*trail, start]))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, [*trail, target]))
    assert circles == []


def test_modules_stay_small() -> None:
    big = sorted(
        f"{path.relative_to(PACKAGE.parent)} ({count})"
        for path in _modules().values()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    )
    assert big == []
