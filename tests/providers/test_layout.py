"""The providers' layout keeps its promises: no import circle, nothing imports its provider back, the
supervisor stays stdlib-only (it is started with `python -I`)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import opsctl.providers

ROOT = Path(opsctl.providers.__file__).parent
BACKENDS = ("ecs", "cloudrun", "local")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(name: str) -> set[str]:
    """The opsctl.providers modules `name` imports (`from pkg import mod` counts as importing pkg.mod)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES.keys()
            found.update(subs or {node.module})
    return found & MODULES.keys()


def test_every_backend_is_a_package_with_its_provider_in_front() -> None:
    for backend in BACKENDS:
        package = f"opsctl.providers.{backend}"
        assert {package, f"{package}.provider"} <= MODULES.keys()
        assert imports(package) == {f"{package}.provider"}


def test_nothing_behind_a_provider_imports_it_back() -> None:
    for backend in BACKENDS:
        front = {f"opsctl.providers.{backend}", f"opsctl.providers.{backend}.provider"}
        for name in MODULES:
            if name.startswith(f"opsctl.providers.{backend}.") and name not in front:
                assert not imports(name) & front, f"{name} imports {sorted(imports(name) & front)}"


def test_no_import_cycle_among_the_provider_modules() -> None:
    # A package imports its own modules (it is executing when they load): only module → module edges count.
    graph = {name: {m for m in imports(name) if not name.startswith(m + ".")} for name in MODULES}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, "import cycle: " + " → ".join((*path[path.index(name) :], name))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_the_local_supervisor_imports_only_the_standard_library() -> None:
    tree = ast.parse((ROOT / "local" / "supervisor.py").read_text(encoding="utf-8"))
    roots = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    roots |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert roots - {"__future__"} <= sys.stdlib_module_names
