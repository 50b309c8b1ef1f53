"""The shape of the house, read from src/: no import cycles, dependencies one way, and
commits only where callers own their transactions (see docs/architecture.md)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "personae"

# Packages that nothing below them may import: the left one must never import the right.
FORBIDDEN = {
    "social": {"agents", "federation", "web", "chat", "openai_compat", "cli", "demo", "scenes"},
    "chat": {"agents", "federation", "web", "cli", "demo", "scenes"},
    "scenes": {"agents", "federation", "web", "cli", "demo", "openai_compat"},
    "agents": {"chat", "federation", "web", "cli", "demo"},
    "memory": {"chat", "agents", "social", "federation", "web", "cli", "demo"},
    "characters": {"chat", "agents", "federation", "web", "cli", "demo"},
    "federation": {"agents", "chat", "web", "cli", "demo"},
    "llm": {"characters", "chat", "agents", "social", "federation", "web", "memory", "cli"},
    "events": {"*"},
    "clock": {"*"},
}

# The only modules that may call `.commit()`: the unit-of-work helper every caller uses
# (requests, workers, the CLI) and Alembic's migration runner.
COMMIT_ALLOWED = {"personae/db.py", "personae/migrations/env.py"}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node that runs (imports under `if TYPE_CHECKING:` never do)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """personae modules `name` imports at run time, function-local imports included."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            # A module's own packages are initialised before it, so importing from them
            # is no cycle.
            if target.startswith("personae") and not (name + ".").startswith(target + "."):
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    """The import graph of the package."""
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def area(module: str) -> str:
    """The top-level area of a module: `personae.social.posts` -> `social`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_dependencies_point_one_way() -> None:
    wrong = []
    for module, targets in graph().items():
        banned = FORBIDDEN.get(area(module), set())
        for target in targets:
            if area(target) != area(module) and ("*" in banned or area(target) in banned):
                wrong.append(f"{module} -> {target}")
    assert sorted(wrong) == []


def test_commits_only_where_callers_own_the_transaction() -> None:
    places = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "commit"
            ):
                where = path.relative_to(SRC).as_posix()
                if where not in COMMIT_ALLOWED:
                    places.append(f"{where}:{node.lineno}")
    assert sorted(places) == []


def test_the_checker_sees_cycles_and_local_imports(tmp_path: Path) -> None:
    """The graph reader itself: a function-local import closing a loop is a cycle."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from personae import social\n"
        "def f():\n    from personae.chat import service\n"
    )
    known = {"personae.chat.service": module, "personae.social": module, "personae.m": module}
    assert imports_of("personae.m", module, known) == {"personae.chat.service"}


# Debts the test below names rather than hides: move the schema out of the route module.
PAGES_ON_ROUTES_KNOWN = {"personae.web.studio_forms -> personae.agents.api"}


def _route_module(module: str) -> bool:
    """A module of JSON routes (`x.api`, `x.routes`, `x.api.y`), not the web's own pages."""
    parts = module.split(".")
    if module == "personae.web.routes":
        return False
    return parts[-1] in ("api", "routes") or "api" in parts[2:-1]


def test_pages_and_the_cli_do_not_import_api_routes() -> None:
    # Pages and commands call services; a route module is a leaf, so importing it from a
    # page ties the page to FastAPI routing and request parsing of another interface.
    wrong = []
    for module, targets in graph().items():
        if area(module) not in ("web", "cli"):
            continue
        for target in targets:
            if _route_module(target):
                wrong.append(f"{module} -> {target}")
    assert sorted(set(wrong) - PAGES_ON_ROUTES_KNOWN) == []
