"""The layout's rules, checked on the source: no import circles inside opsctl, and layers that only look down.

An `ast` walk over opsctl/ collects, for every module, the opsctl modules it imports. Rules:

- Every import counts — at module level and inside functions alike. A function-level import only
  delays a circle to call time (config ↔ params was one); it is still two ideas that need each other.
- Imports under `if TYPE_CHECKING:` do not count: they are annotations, never executed. (So the
  providers' type-only circles, ecs ↔ ecs_ops and cloudrun ↔ cloudrun_admin, are not seen here.)
- `from opsctl.x import y` is an edge to `opsctl.x.y` when that is a module, else to `opsctl.x`.
  Importing `opsctl.a.b` also runs `opsctl/a/__init__.py`, but that implicit edge is not counted:
  a package re-exporting its own modules would otherwise be a circle with each of them.

Layers, top to bottom (a module may import its own layer or any layer below, never one above):
cli → commands → runner / guards / sinks (and their helpers) → providers → config / model / errors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import opsctl

ROOT = Path(opsctl.__file__).parent

# Top layer first. A module's layer is the first whose prefix matches its dotted name (prefix "opsctl.x"
# matches opsctl.x and opsctl.x.*). A new module must be placed here: the test names any that is not.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cli", ("opsctl.cli", "opsctl.__main__")),
    ("commands", ("opsctl.commands",)),
    (
        "runner, guards, sinks",
        (
            "opsctl.runner",
            "opsctl.launch",
            "opsctl.retry",
            "opsctl.cancel",
            "opsctl.guards",
            "opsctl.sinks",
            "opsctl.progress",
            "opsctl.spec",
            "opsctl.params",
        ),
    ),
    ("providers", ("opsctl.providers",)),
    (
        "config, model, errors",
        (
            "opsctl.config",
            "opsctl.model",
            "opsctl.fanout",
            "opsctl.errors",
            "opsctl.redact",
            "opsctl.untrusted",
            "opsctl.permissions",
            "opsctl.settings",
            "opsctl.state",
            "opsctl.actions",
            "opsctl.console",
            "opsctl.argv",
            "opsctl",  # the package itself: __version__
        ),
    ),
)


def module_name(path: Path) -> str:
    parts = ["opsctl", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, skipping the bodies of `if TYPE_CHECKING:`."""
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(node):
        # `if TYPE_CHECKING: … else: …` — only the else branch runs.
        runs = child.orelse if isinstance(child, ast.If) and _is_type_checking(child.test) else [child]
        for stmt in runs:
            found += [stmt] if isinstance(stmt, (ast.Import, ast.ImportFrom)) else _imports(stmt)
    return found


def _targets(module: str, stmt: ast.Import | ast.ImportFrom) -> set[str]:
    if isinstance(stmt, ast.Import):
        return {alias.name for alias in stmt.names}
    base = stmt.module or ""
    if stmt.level:  # relative: resolve against this module's package
        package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
        package = ".".join(package.split(".")[: len(package.split(".")) - (stmt.level - 1)])
        base = f"{package}.{base}" if base else package
    return {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in stmt.names}


def graph() -> dict[str, set[str]]:
    """Each opsctl module → the opsctl modules it imports (TYPE_CHECKING imports left out)."""
    edges: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = {t for stmt in _imports(tree) for t in _targets(module, stmt)}
        edges[module] = {t for t in targets if t in MODULES and t != module}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer_of(module: str) -> int | None:
    for number, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or (p != "opsctl" and module.startswith(p + ".")) for p in prefixes):
            return number
    return None


def test_the_walk_sees_the_imports_it_should() -> None:
    edges = graph()
    assert "opsctl.config" in edges["opsctl.params"]  # `from opsctl.config import ParamSpec` → the package
    assert "opsctl.config.schema" in edges["opsctl.config.parse"]  # `from opsctl.config.schema import …`
    assert "opsctl.config" in edges["opsctl.commands.build"]  # `from opsctl import config as config_mod`
    assert "opsctl.commands.run" in edges["opsctl.cli"]  # a function-level import counts
    assert "opsctl.runner" not in edges["opsctl.progress"]  # an `if TYPE_CHECKING:` import does not


def test_no_import_cycles_inside_opsctl() -> None:
    assert cycles(graph()) == []


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_no_layer_imports_a_higher_one() -> None:
    upward = []
    for module, targets in graph().items():
        mine = layer_of(module)
        assert mine is not None
        for target in sorted(targets):
            theirs = layer_of(target)
            assert theirs is not None
            if theirs < mine:
                upward.append(f"{module} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert upward == []


def test_cycle_finder_finds_a_circle_and_only_that() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [["a", "b", "c"]]
