"""The layers of docs/architecture.md, checked on the source: every import of a smartby module in
src/smartby (at the top, inside functions, under TYPE_CHECKING) runs downward, only the composition
root reaches the store, and nobody reaches through another part's `store`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"
COMPOSITION_ROOT = "smartby.assembly"
LAYERS = (
    ("smartby.ngsild",),
    ("smartby.records",),
    ("smartby.store",),
    ("smartby.broker",),
    ("smartby.ingest",),
    ("smartby.services", "smartby.sim"),
    ("smartby.web", COMPOSITION_ROOT),
    ("smartby.api",),
    ("smartby.cli",),
    ("smartby.__main__",),
)
"""Bottom first. A module imports from its own part and from parts in lower rows, never from a
higher row nor from a peer in its own row. `smartby`, `smartby.settings`, `smartby.metrics` (the
operations metrics any part counts) and `smartby.data` hold no layer's code: every part but `ngsild`
and `records` may use them."""
PURE = ("smartby.ngsild", "smartby.records")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module


def _modules() -> list[Module]:
    found = []
    for path in sorted((SRC / "smartby").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append(Module(name, path, ast.parse(path.read_text(encoding="utf-8"), str(path))))
    return found


MODULES = _modules()


def imported(module: Module) -> Iterator[tuple[int, str]]:
    """(line, module name) of every smartby module `module` imports; `from a import b` names both
    `a` and `a.b` (b may be a submodule)."""
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            if name == "smartby" or name.startswith("smartby."):
                yield node.lineno, name


def part(name: str) -> str | None:
    """The part of the layer table a module belongs to (None: smartby's own, settings, data)."""
    for row in LAYERS:
        for candidate in row:
            if name == candidate or name.startswith(candidate + "."):
                return candidate
    return None


def rank(name: str) -> int:
    found = part(name)
    return next(number for number, row in enumerate(LAYERS) if found in row)


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_layer_table_covers_every_part() -> None:
    top_level = {".".join(module.name.split(".")[:2]) for module in MODULES}
    unplaced = (
        top_level
        - {name for row in LAYERS for name in row}
        - {"smartby", "smartby.settings", "smartby.metrics"}
    )
    assert unplaced <= {"smartby.data"}, f"place {sorted(unplaced)} in LAYERS"


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_imports_run_downward(module: Module) -> None:
    own = part(module.name)
    wrong = [
        f"{module.path.relative_to(SRC)}:{line} imports {name}"
        for line, name in imported(module)
        if (other := part(name)) is not None
        and other != own
        and (own is None or rank(name) >= rank(module.name))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_only_the_composition_root_imports_the_store(module: Module) -> None:
    """Each part above the store declares what it needs of one as a protocol, where it uses it."""
    if within(module.name, "smartby.store") or module.name == COMPOSITION_ROOT:
        return
    wrong = [
        f"{module.path.relative_to(SRC)}:{line} imports {name}"
        for line, name in imported(module)
        if within(name, "smartby.store")
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", [m for m in MODULES if part(m.name) in PURE], ids=lambda m: m.name)
def test_ngsild_and_records_import_nothing_of_smartby_but_ngsild(module: Module) -> None:
    wrong = [
        f"{module.path.relative_to(SRC)}:{line} imports {name}"
        for line, name in imported(module)
        if not within(name, "smartby.ngsild") and not within(name, str(part(module.name)))
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("module", MODULES, ids=lambda module: module.name)
def test_nothing_reaches_through_another_part_to_its_store(module: Module) -> None:
    """`broker.store.list_dead_letters(...)` and the like: a part uses its own collaborators
    (`self.store`), or asks the part that owns the store."""
    wrong = [
        f"{module.path.relative_to(SRC)}:{node.lineno} reads {ast.unparse(node)}"
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "store"
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_a_wrong_import_and_a_reach_through() -> None:
    source = "from smartby.store import open_store\n\nletters = ingestion.broker.store.list_dead_letters\n"
    module = Module("smartby.api.example", SRC / "smartby" / "api" / "example.py", ast.parse(source))
    assert [name for _, name in imported(module)] == ["smartby.store", "smartby.store.open_store"]
    assert rank("smartby.store.base") < rank(module.name)
    with pytest.raises(AssertionError, match=r"imports smartby\.store"):
        test_only_the_composition_root_imports_the_store(module)
    with pytest.raises(AssertionError, match=r"reads ingestion\.broker\.store"):
        test_nothing_reaches_through_another_part_to_its_store(module)
    upward = Module("smartby.broker.example", module.path, ast.parse("from smartby.ingest import pipeline\n"))
    with pytest.raises(AssertionError, match=r"imports smartby\.ingest"):
        test_imports_run_downward(upward)
