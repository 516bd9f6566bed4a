"""The architecture, checked: which module may import which.

The import graph of ``sparsecore`` is built from the source with :mod:`ast`
(nothing is imported), and the rules of the layout are asserted on it:

- no import cycle among modules at module level;
- ``sparsecore.runtime`` imports, at any level, only the standard library,
  NumPy, SciPy, numba and itself, so the folder can be vendored; the one
  exception is ``onnx``, imported inside a function (``SparseModel.to_onnx``)
  and never at module level;
- ``sparsecore.nn`` imports nothing from the stages above it at module level,
  and has exactly one lazy delegate (``Sequential.save`` -> ``checkpoint``);
- the checkpoint writer does not import the reader (both use the schema);
- no private name is imported from another module, and a name is imported
  from the module that defines it (or from a package's ``__init__``);
- the top level of ``sparsecore/`` holds packages and at most 8 plain
  modules, none of them a ``_<concept>_<part>.py`` fragment;
- every module opens with a docstring and lists ``__all__``;
- the runtime's copies of the validator and text modules are byte-identical
  to the originals.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sparsecore"
STDLIB = set(sys.stdlib_module_names)
# The modules sparsecore.runtime may import besides itself and the stdlib.
RUNTIME_ALLOWED = {"numpy", "scipy", "numba"}
# ... and the ones it may import inside a function only (optional exports).
RUNTIME_LAZY_ALLOWED = {"onnx"}
# Stages nn must not import at module level.
ABOVE_NN = ("prune", "runtime", "checkpoint", "experiment", "bench", "cli", "sweep")
# The one lazy import nn may make: Sequential.save delegates to checkpoint.
NN_LAZY_ALLOWED = {("sparsecore.nn.model", "sparsecore.checkpoint")}
VENDORED = {"_checks.py", "_text.py"}  # sparsecore/X is copied to runtime/X


@dataclass
class Import:
    target: str  # the sparsecore module imported (or a top-level foreign name)
    names: list[str]  # names taken with "from ... import"
    lineno: int
    module_level: bool


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: list[Import] = field(default_factory=list)

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_block(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    )


def _collect(mod: Module, modules: set[str]) -> None:
    def resolve(base: str | None, level: int) -> str:
        if level == 0:
            return base or ""
        pkg = mod.name.split(".")
        if not mod.is_package:
            pkg = pkg[:-1]
        pkg = pkg[: len(pkg) - (level - 1)]
        return ".".join(pkg + ([base] if base else []))

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_block(child):
                continue  # annotations only: never executed
            inner = module_level and not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
            )
            if isinstance(child, ast.Import):
                for alias in child.names:
                    mod.imports.append(
                        Import(alias.name, [], child.lineno, module_level)
                    )
            elif isinstance(child, ast.ImportFrom):
                base = resolve(child.module, child.level)
                names = [a.name for a in child.names]
                # "from pkg import submodule" imports the submodule
                subs = [n for n in names if f"{base}.{n}" in modules]
                for n in subs:
                    mod.imports.append(
                        Import(f"{base}.{n}", [], child.lineno, module_level)
                    )
                rest = [n for n in names if n not in subs]
                if rest or not subs:
                    mod.imports.append(Import(base, rest, child.lineno, module_level))
            visit(child, inner)

    visit(mod.tree, True)


def _load() -> dict[str, Module]:
    paths = sorted(ROOT.rglob("*.py"))
    names = {_module_name(p) for p in paths}
    out = {}
    for p in paths:
        m = Module(_module_name(p), p, ast.parse(p.read_text(), str(p)))
        _collect(m, names)
        out[m.name] = m
    return out


MODULES = _load()


def _internal(target: str) -> str | None:
    """The sparsecore module `target` names (its closest existing ancestor)."""
    while target and target not in MODULES:
        if "." not in target:
            return None
        target = target.rsplit(".", 1)[0]
    return target or None


def _defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and isinstance(
            node.target, ast.Name
        ):
            names.add(node.target.id)
        elif isinstance(node, ast.If) and not _type_checking_block(node):
            names |= _defined_names(ast.Module(body=node.body, type_ignores=[]))
        elif isinstance(node, ast.Try):
            for part in (node.body, *(h.body for h in node.handlers)):
                names |= _defined_names(ast.Module(body=part, type_ignores=[]))
    return names


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first search meets in `graph` (node -> successors)."""
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def dfs(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                dfs(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            dfs(name)
    return cycles


def test_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_module_level_cycle() -> None:
    # Only edges between distinct modules count: a package's __init__ that
    # imports its submodules is not in a cycle with a submodule importing a
    # sibling through the package path (Python has the package object already).
    graph = {
        name: {
            t
            for imp in m.imports
            if imp.module_level and (t := _internal(imp.target)) and t != name
        }
        for name, m in MODULES.items()
    }
    cycles = _cycles(graph)
    assert not cycles, "module-level import cycles:\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


def test_runtime_imports_only_itself_numpy_scipy_numba() -> None:
    bad = []
    for name, m in MODULES.items():
        if not name.startswith("sparsecore.runtime"):
            continue
        for imp in m.imports:
            top = imp.target.split(".")[0]
            if imp.target.startswith("sparsecore.runtime"):
                continue
            if top in STDLIB or top in RUNTIME_ALLOWED or top == "__future__":
                continue
            if top in RUNTIME_LAZY_ALLOWED and not imp.module_level:
                continue
            where = "at module level" if imp.module_level else "lazily"
            bad.append(f"{name}:{imp.lineno} imports {imp.target} ({where})")
    assert not bad, "\n".join(bad)


def test_nn_imports_nothing_above_it() -> None:
    bad = []
    for name, m in MODULES.items():
        if not name.startswith("sparsecore.nn"):
            continue
        for imp in m.imports:
            target = _internal(imp.target)
            if target is None:
                continue
            stage = target.split(".")[1] if target.count(".") else ""
            if stage not in ABOVE_NN:
                continue
            if imp.module_level or (name, target) not in NN_LAZY_ALLOWED:
                where = "module level" if imp.module_level else "lazily"
                bad.append(f"{name}:{imp.lineno} imports {target} ({where})")
    assert not bad, "\n".join(bad)


def test_the_one_lazy_delegate_of_nn_is_documented() -> None:
    source = (ROOT / "nn" / "model.py").read_text()
    tree = ast.parse(source)
    save = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "save"
    )
    lines = source.splitlines()[save.lineno - 1 : save.end_lineno]
    body = "\n".join(lines)
    assert "from sparsecore.checkpoint import" in body
    assert any("lazy" in line.lower() and "#" in line for line in lines), (
        "Sequential.save must say in a comment why its import is lazy"
    )


def test_checkpoint_writer_does_not_import_the_reader() -> None:
    writer = MODULES["sparsecore.checkpoint.write"]
    targets = {_internal(i.target) for i in writer.imports}
    assert "sparsecore.checkpoint.read" not in targets
    assert "sparsecore.checkpoint.schema" in targets
    reader = MODULES["sparsecore.checkpoint.read"]
    assert "sparsecore.checkpoint.schema" in {
        _internal(i.target) for i in reader.imports
    }


def test_no_private_name_crosses_modules() -> None:
    bad = []
    for name, m in MODULES.items():
        for imp in m.imports:
            if _internal(imp.target) is None:
                continue
            for n in imp.names:
                if n.startswith("_") and not n.startswith("__"):
                    bad.append(f"{name}:{imp.lineno} imports {n} from {imp.target}")
    assert not bad, "\n".join(bad)


def test_names_are_imported_from_where_they_are_defined() -> None:
    """A plain module is not a re-export hub: only packages' __init__ are."""
    bad = []
    for name, m in MODULES.items():
        for imp in m.imports:
            target = MODULES.get(imp.target)
            if target is None or target.is_package or not imp.names:
                continue
            defined = _defined_names(target.tree)
            for n in imp.names:
                if n != "*" and n not in defined:
                    bad.append(f"{name}:{imp.lineno} imports {n} via {imp.target}")
    assert not bad, "\n".join(bad)


def test_top_level_holds_packages_and_few_modules() -> None:
    plain = sorted(p.name for p in ROOT.glob("*.py"))
    fragments = [
        n
        for n in plain
        if n.startswith("_") and not n.startswith("__") and "_" in n[1:-3]
    ]
    assert not fragments, f"private fragments at the top level: {fragments}"
    assert len(plain) <= 8, f"{len(plain)} plain modules at the top level: {plain}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_has_a_docstring_and_all(name: str) -> None:
    m = MODULES[name]
    doc = ast.get_docstring(m.tree)
    assert doc and len(doc.split()) >= 4, f"{name} has no docstring saying its concept"
    if m.path.name == "__main__.py":
        return
    assert "__all__" in _defined_names(m.tree), f"{name} does not list __all__"


@pytest.mark.parametrize("filename", sorted(VENDORED))
def test_runtime_copies_are_identical(filename: str) -> None:
    original = (ROOT / filename).read_bytes()
    copy = (ROOT / "runtime" / filename).read_bytes()
    assert copy == original, (
        f"sparsecore/runtime/{filename} must be a byte-for-byte copy of "
        f"sparsecore/{filename}: run  cp sparsecore/{filename} sparsecore/runtime/"
    )
