"""The Python house: one namespace, and imports that flow one way.

Every module of the package is read (not imported) and each of its imports,
at the top or inside a function, is an edge from its folder to another.  The
folders are ranked from the command line down to the native bindings; an
import may only go down the ranking (or stay in its folder), so there is no
cycle between folders, and no module names the old top-level packages."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import ROOT

# Folder of the checkout -> the package it installs as (setup.py's FOLDERS).
FOLDERS = {
    "wirematch": "wirematch",
    "pipeline": "wirematch.pipeline",
    "nic": "wirematch.nic",
    "classify": "wirematch.classify",
    "replay": "wirematch.replay",
}

# From the top down: a module may import from its own folder and below.
RANKS = [
    "wirematch.pipeline.cli",
    "wirematch.replay",
    "wirematch.pipeline",
    "wirematch.pipeline.ops",
    "wirematch.nic",
    "wirematch.classify",
    "wirematch.pipeline.protocols",
    "wirematch.pipeline.native",
    "wirematch",
]
OLD_TOP = {"pipeline", "nic", "classify", "replay"}


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join((package, *parts))] = path
    return out


def floor(module: str, known: dict[str, Path]) -> str:
    """The folder a module belongs to (the package holding it)."""
    if module == "wirematch.__main__":
        return "wirematch.pipeline.cli"  # `python -m wirematch` is the CLI
    path = known[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return package


def imports(module: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append(mod)
            out.extend(f"{mod}.{alias.name}" for alias in node.names)
    return out


def resolve(name: str, known: dict[str, Path]) -> str | None:
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def edges() -> list[tuple[str, str, str]]:
    known = modules()
    out = []
    for module, path in known.items():
        for name in imports(module, path):
            if name.split(".")[0] in OLD_TOP:
                out.append((module, name, "old top-level package"))
                continue
            target = resolve(name, known)
            if target is None or target == module:
                continue
            out.append((module, target, ""))
    return out


def test_every_module_is_ranked() -> None:
    known = modules()
    unranked = {floor(m, known) for m in known} - set(RANKS)
    assert not unranked, f"folders with no place in the ranking: {sorted(unranked)}"


def test_no_module_imports_the_old_top_level_names() -> None:
    bad = [f"{m} imports {n}" for m, n, why in edges() if why]
    assert not bad, "\n".join(bad)


def upward(edge_list: list[tuple[str, str, str]], known: dict[str, Path]) -> list[str]:
    """The edges that go against the ranking (or sideways between folders)."""
    rank = {name: i for i, name in enumerate(RANKS)}
    out = []
    for module, target, why in edge_list:
        if why:
            continue
        a, b = floor(module, known), floor(target, known)
        if a != b and rank[b] <= rank[a]:
            out.append(f"{module} ({a}) imports {target} ({b})")
    return out


def test_imports_flow_down_the_ranking() -> None:
    found = upward(edges(), modules())
    assert not found, "imports against the ranking:\n" + "\n".join(found)


def test_the_ranking_check_catches_an_upward_import(tmp_path: Path) -> None:
    """The walker sees imports inside functions too (the cycles it exists to
    catch were lazy imports)."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from wirematch.pipeline.cli import main\n    return main\n")
    assert "wirematch.pipeline.cli.main" in imports("wirematch.pipeline.native.m", src)
    known = {**modules(), "wirematch.pipeline.native.m": src}
    edge = ("wirematch.pipeline.native.m", "wirematch.pipeline.cli", "")
    assert upward([edge], known), "native -> cli must be flagged"
    assert not upward([("wirematch.pipeline.cli", "wirematch.pipeline.native", "")], known)
