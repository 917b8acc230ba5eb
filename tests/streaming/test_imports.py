"""The architecture's rules, read from the code's own import statements (function-level ones
included): the backbone and tenancy import no domain app, and no module imports itself back."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["config", "tenancy", "streaming", "flags", "analytics", "sessions_app", "companies"]
DOMAIN = {"flags", "analytics", "sessions_app", "companies"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for app in APPS for path in (ROOT / app).rglob("*.py")
            if "migrations" not in path.parts}


def imports_of(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports, resolved to absolute names."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def project_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: {target for target in imports_of(name, path) if target in modules
                   and target != name}
            for name, path in modules.items()}


def top(module: str) -> str:
    return module.split(".")[0]


def test_streaming__imports__no_domain_app_and_not_tenancy():
    offending = {name: sorted(t for t in targets if top(t) in DOMAIN | {"tenancy"})
                 for name, targets in project_graph().items() if top(name) == "streaming"}
    assert {name: found for name, found in offending.items() if found} == {}


def test_tenancy__imports__no_domain_app():
    offending = {name: sorted(t for t in targets if top(t) in DOMAIN | {"streaming"})
                 for name, targets in project_graph().items() if top(name) == "tenancy"}
    assert {name: found for name, found in offending.items() if found} == {}


def test_project_modules__import_graph__has_no_circles():
    graph = project_graph()
    # Package __init__ modules are left out: importing a.b runs a/__init__ first, which is
    # not an import of a.b by a.
    graph = {name: {t for t in targets if not any(other.startswith(t + ".") for other in graph)}
             for name, targets in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_import_reader__finds_a_known_import():
    """The reader itself works: flags.services is known to import the backbone."""
    assert "streaming.broadcast" in project_graph()["flags.services"]


# The one dependency between domain apps the SPEC allows: analytics counts flag evaluations,
# so it reads flags' environments and admits their SDK keys.
DOMAIN_ALLOWED = {("analytics", "flags")}


def test_domain_apps__import__no_other_domain_app():
    """Domain apps depend on streaming and tenancy only, never on each other (but for
    DOMAIN_ALLOWED)."""
    offending = {name: sorted(t for t in targets if top(t) in DOMAIN and top(t) != top(name)
                              and (top(name), top(t)) not in DOMAIN_ALLOWED)
                 for name, targets in project_graph().items() if top(name) in DOMAIN}
    assert {name: found for name, found in offending.items() if found} == {}
