"""The layout shows the design: exporter -> history <- agent, common below all, no cycle.

The history file is the one contract between the two containers, so neither side may reach
into the other; a newcomer finds each concern in one folder, not in a crowded top level.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "history", "exporter", "agent", "simulator")
# What each top-level package may import of the others.
ALLOWED = {
    "common": set(),
    "history": {"common"},
    "exporter": {"common", "history"},
    "agent": {"common", "history"},
    "simulator": set(),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_the_design_allows(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in _imports(path):
            top = module.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_allowed_graph_has_no_cycle() -> None:
    seen: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, " -> ".join((*path, package))
        for dependency in ALLOWED[package]:
            visit(dependency, (*path, package))
        seen.add(package)

    for package in PACKAGES:
        visit(package, ())
    assert seen == set(PACKAGES)


@pytest.mark.parametrize("package", ["exporter", "agent"])
def test_no_crowded_top_level(package: str) -> None:
    modules = sorted(p.name for p in (ROOT / package).glob("*.py"))
    assert len(modules) <= 15, modules
