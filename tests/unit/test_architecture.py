"""The import graph, read from the source with ast (nothing is imported): no circle between modules, the command
line (cli/) on top, the local stand-in (local/) under it, neither in anything a Lambda function loads.

Every import counts: at module level, inside functions, and under ``if TYPE_CHECKING`` (a circle a type
checker needs is still a circle to read). Rules on the pipeline's floors go in FLOORS below.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.paths import ROOT

LIBRARY = ROOT / "layers" / "eksguard"
FUNCTIONS = ROOT / "functions"
TOP = ("eksguard.cli", "eksguard.local")  # for people, not shipped in the Lambda layer

# The pipeline's floors, lowest first: a module may import its own floor and the floors below it, never one above.
# Each stage reads what the stages before it made (plan reads findings, alert reads outcomes), never the other way.
BASE = ("eksguard.model", "eksguard.clock", "eksguard.config", "eksguard.config_eks", "eksguard.arn",
        "eksguard.errors", "eksguard.manifests")
FLOORS: tuple[tuple[str, ...], ...] = (
    BASE, ("eksguard.parse",), ("eksguard.snapshot",), ("eksguard.detect",), ("eksguard.plan",), ("eksguard.apply",),
    ("eksguard.alert",), ("eksguard.pipeline",), ("eksguard.handler",), TOP,
)
# The boundary: the only modules that call boto3 (or a Kubernetes API), beside the floors. They may use the types
# of the base, parse and snapshot floors, and nothing above: they read and send, they never decide.
BOUNDARY = "eksguard.aws"
BOUNDARY_MAY_IMPORT = (*BASE, "eksguard.parse", "eksguard.snapshot", BOUNDARY, "eksguard")

# Circles known and being removed. Each must still exist: delete the entry with the change that breaks the circle.
CIRCLES_BEING_REMOVED: frozenset[frozenset[str]] = frozenset()


@dataclass(frozen=True)
class Import:
    source: str  # the importing module (functions/x/app.py is "functions.x.app")
    target: str  # the module imported (a module, or the package whose attribute is taken)
    where: str  # file:line

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.where})"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def library_modules() -> dict[str, Path]:
    return {module_name(p, LIBRARY): p for p in (LIBRARY / "eksguard").rglob("*.py")}


def imports(path: Path, name: str, known: Iterable[str]) -> list[Import]:
    """Every eksguard import in one file, resolved to the module it loads."""
    known = set(known)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, one level up per extra dot
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a.b import c` loads a.b.c when that is a module, else takes the attribute c of a.b.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            if target == "eksguard" or target.startswith("eksguard."):
                found.append(Import(name, target, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return found


def library_imports() -> list[Import]:
    modules = library_modules()
    return [i for name, path in sorted(modules.items()) for i in imports(path, name, modules)]


def function_imports() -> list[Import]:
    modules = library_modules()
    return [i for path in sorted(FUNCTIONS.glob("*/*.py")) for i in imports(path, module_name(path, ROOT), modules)]


def within(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def arrows(edges: Iterable[Import], source: Callable[[str], bool], target: Callable[[str], bool]) -> list[str]:
    """The imports from a module ``source`` accepts to one ``target`` accepts, printable."""
    return [str(i) for i in edges if source(i.source) and target(i.target)]


def circles(edges: Iterable[Import]) -> list[frozenset[str]]:
    """Strongly connected sets of two or more modules (Tarjan), plus modules that import themselves."""
    graph: dict[str, set[str]] = {}
    for i in edges:
        graph.setdefault(i.source, set()).add(i.target)
        graph.setdefault(i.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_reader_sees_every_import() -> None:
    """The graph is read right: known arrows of each kind are in it (a broken reader would pass every rule)."""
    edges = {(i.source, i.target) for i in library_imports()}
    assert ("eksguard.cli.main", "eksguard.cli.common") in edges  # from a.b import name
    assert ("eksguard.cli.scan", "eksguard.cli.scan_accounts") in edges  # from a import module
    assert ("eksguard.cli.main", "eksguard.local.demo") in edges  # inside a function
    assert ("functions.sg_guard.app", "eksguard.handler") in {(i.source, i.target) for i in function_imports()}
    assert circles([Import("a", "b", ""), Import("b", "c", ""), Import("c", "a", ""), Import("c", "d", "")]) == [
        frozenset({"a", "b", "c"})]


def test_no_circle_between_library_modules() -> None:
    found = set(circles(library_imports()))
    assert found - CIRCLES_BEING_REMOVED == set()
    assert CIRCLES_BEING_REMOVED - found == set(), "a circle is gone: delete its CIRCLES_BEING_REMOVED entry"


def test_nothing_below_the_command_line_and_the_stand_in_imports_them() -> None:
    assert arrows(library_imports(), lambda s: not within(s, *TOP), lambda t: within(t, *TOP)) == []


def test_the_stand_in_never_imports_the_command_line() -> None:
    assert arrows(library_imports(), lambda s: within(s, "eksguard.local"), lambda t: within(t, "eksguard.cli")) == []


def test_no_function_imports_the_command_line_or_the_stand_in() -> None:
    assert function_imports(), "no functions/*/app.py read"
    assert arrows(function_imports(), lambda s: True, lambda t: within(t, *TOP)) == []


def floor(module: str) -> int | None:
    return next((n for n, packages in enumerate(FLOORS) if within(module, *packages)), None)


def test_no_arrow_runs_up_the_floors() -> None:
    up = [str(i) for i in library_imports()
          if not within(i.source, BOUNDARY) and floor(i.source) is not None and floor(i.target) is not None
          and floor(i.target) > floor(i.source)]  # type: ignore[operator]
    assert up == []


def test_the_boundary_only_reads_and_sends() -> None:
    assert arrows(library_imports(), lambda s: within(s, BOUNDARY),
                  lambda t: not within(t, *BOUNDARY_MAY_IMPORT)) == []


def test_only_the_boundary_calls_boto3() -> None:
    callers = sorted(name for name, path in library_modules().items()
                     if not within(name, BOUNDARY, *TOP)
                     and any(isinstance(n, ast.Import | ast.ImportFrom) and any(
                         (getattr(n, "module", None) or a.name).split(".")[0] in ("boto3", "lightkube", "httpx2")
                         for a in n.names) for n in ast.walk(ast.parse(path.read_text()))))
    assert callers == []


def test_every_library_module_has_a_floor() -> None:
    assert [name for name in library_modules() if name != "eksguard" and floor(name) is None
            and not within(name, BOUNDARY)] == []

