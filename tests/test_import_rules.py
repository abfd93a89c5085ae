"""The dependency direction, as the tree shows it (docs/architecture.md, "Where things live").

- `jobs` uses `history` through its data layer only (models, selectors, services, rollups, retention,
  paths, the run table's read model), never through its views, API or dialects;
- `history` uses `jobs`' models, services, selectors and engine, never its API or dashboard modules;
- `core` is below both apps: it may use `jobs`' models, access and selectors, nothing else of an app;
- no import cycle, counting imports inside functions (only `if TYPE_CHECKING:` imports are exempt).

Read from the source with `ast`, so a rule breaks here before anything runs.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("config", "core", "jobs", "history", "alerts", "hourglass_cli")

# What `jobs` may import from `history`: its data and read models, never a page, an endpoint or a dialect.
JOBS_MAY_USE_OF_HISTORY = {
    "history",
    "history.models",
    "history.selectors",
    "history.services",
    "history.rollups",
    "history.retention",
    "history.paths",
    "history.tables",
}
JOBS_MUST_NOT_USE = ("history.views", "history.api", "history.dialects")
HISTORY_MUST_NOT_USE = ("jobs.api", "jobs.dashboard", "jobs.views", "jobs.urls")
# What `core` may import of an app: what teams and roles are, and who may see what.
CORE_MAY_USE = {"jobs.models", "jobs.access", "jobs.selectors", "jobs.roles", "jobs.text"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import that runs, wherever it is; not those under TYPE_CHECKING."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from (item for child in node.orelse for item in _imports(child, module, is_package))
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base, node.lineno
            yield from ((f"{base}.{alias.name}", node.lineno) for alias in node.names)
        yield from _imports(node, module, is_package)


def _ours(name: str) -> str | None:
    """The module of ours that `name` is or is in (a `from package import name` may name a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _edges() -> dict[str, dict[str, int]]:
    edges: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        targets: dict[str, int] = {}
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line in _imports(tree, module, path.name == "__init__.py"):
            target = _ours(name)
            if target and target != module:
                targets.setdefault(target, line)
        edges[module] = targets
    return edges


EDGES = _edges()


def _within(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def test_the_walk_sees_the_tree():
    # A walk that found nothing would pass every rule below.
    assert {"jobs.models", "history.views", "core.dashboard", "jobs.engine.dispatch"} <= set(MODULES)
    assert "history.models" in EDGES["jobs.engine.dispatch"]
    assert "jobs.access" in EDGES["core.dashboard"]


def _jobs_refuses(target: str) -> bool:
    return _within(target, ("history",)) and (
        target not in JOBS_MAY_USE_OF_HISTORY or _within(target, JOBS_MUST_NOT_USE)
    )


def _history_refuses(target: str) -> bool:
    return _within(target, HISTORY_MUST_NOT_USE)


def _core_refuses(target: str) -> bool:
    return _within(target, ("jobs", "history", "alerts")) and target not in CORE_MAY_USE


def _broken(package: str, refuses: Callable[[str], bool]) -> list[str]:
    """Each import by a module of `package` that the rule `refuses`, with its line."""
    return [
        f"{module} imports {target} (line {line})"
        for module, targets in EDGES.items()
        if _within(module, (package,))
        for target, line in targets.items()
        if refuses(target)
    ]


def test_jobs_uses_history_only_through_its_data_layer():
    broken = _broken("jobs", _jobs_refuses)
    assert not broken, "\n".join(broken)


def test_history_uses_no_web_module_of_jobs():
    broken = _broken("history", _history_refuses)
    assert not broken, "\n".join(broken)


def test_core_depends_on_no_app_beyond_teams_and_roles():
    broken = _broken("core", _core_refuses)
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("module", "target", "refuses"),
    [
        ("jobs.dashboard.jobs", "history.views", _jobs_refuses),
        ("jobs.api.views", "history.api.views", _jobs_refuses),
        ("history.views", "jobs.dashboard.jobs", _history_refuses),
        ("core.dashboard", "history.selectors", _core_refuses),
    ],
)
def test_each_rule_reports_an_import_it_refuses(module, target, refuses):
    EDGES[module][target] = 1
    try:
        assert f"{module} imports {target} (line 1)" in _broken(module.partition(".")[0], refuses)
    finally:
        del EDGES[module][target]


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle or several."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in EDGES.get(node, {}):
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
                found.append(sorted(component))

    for module in sorted(EDGES):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle():
    cycles = _cycles()
    shown = [" <-> ".join(cycle) for cycle in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(shown)


def test_the_cycle_check_finds_a_cycle():
    EDGES["core.times"]["core.docs"] = 0
    EDGES["core.docs"]["core.times"] = 0
    try:
        assert ["core.docs", "core.times"] in _cycles()
    finally:
        del EDGES["core.times"]["core.docs"], EDGES["core.docs"]["core.times"]
