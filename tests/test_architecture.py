"""The package's shape: folders by role, no import cycle, one public surface.

Read from the source with :mod:`ast` (nothing imported), so a failure names the file.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

import jaxstyle

PACKAGE = Path(jaxstyle.__file__).parent
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, ast.Module]:
    return {_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The jaxstyle modules ``name`` imports, at the top or inside a function."""
    modules = _modules()
    out = set()
    for node in ast.walk(modules[name]):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
            subs = {f"{node.module}.{a.name}" for a in node.names} & modules.keys()
            out |= subs or {node.module}
    return out - {name}


def _unit(name: str) -> str:
    """A module's place in the architecture: its subpackage, or itself at the top."""
    return ".".join(name.split(".")[:2])


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as a path (first node repeated at the end), or ``[]``."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def _graph(unit: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in _modules():
        key = _unit(name) if unit else name
        deps = {_unit(d) if unit else d for d in _imports(name)} - {key}
        graph.setdefault(key, set()).update(deps)
    # The package's own __init__ re-exports everything: it sits above every unit.
    graph.pop("jaxstyle", None)
    for deps in graph.values():
        deps.discard("jaxstyle")
    return graph


def test_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("unit", [False, True], ids=["modules", "subpackages"])
def test_no_import_cycle(unit):
    assert _cycle(_graph(unit)) == []


def test_the_lower_roles_do_not_import_the_upper_ones():
    """The data flow, bottom up: nothing imports the run, the video, the CLI or the figures."""
    graph = _graph(unit=True)
    upper = {"jaxstyle.run", "jaxstyle.video", "jaxstyle.cli", "jaxstyle.figures"}
    for unit, deps in graph.items():
        if unit not in upper and unit != "jaxstyle.__main__":
            assert not deps & upper, (unit, deps & upper)
    assert graph["jaxstyle.model"] <= {"jaxstyle.errors"}
    assert graph["jaxstyle.solve"] <= {"jaxstyle.options", "jaxstyle.errors"}
    assert "jaxstyle.video" not in graph["jaxstyle.run"]  # a clip is built on stylize


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_each_folder_states_its_role(sub):
    doc = ast.get_docstring(_modules()[f"jaxstyle.{sub}"])
    assert doc, sub
    if sub not in ("cli", "figures"):
        assert "Internal: the public API is what :mod:`jaxstyle` exports." in doc


def test_every_module_opens_with_a_summary():
    for name, tree in _modules().items():
        doc = ast.get_docstring(tree)
        if name != "jaxstyle.__main__":
            assert doc and doc.splitlines()[0].strip(), name


def test_the_top_level_is_the_shared_ground_only():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top == {"__init__", "__main__", "cache", "config", "errors", "options"}


def test_the_tests_mirror_the_folders():
    tests = Path(__file__).parent
    folders = {p.parent.name for p in tests.glob("*/test_*.py")}
    assert folders <= set(SUBPACKAGES), folders - set(SUBPACKAGES)


def test_the_public_names_are_what_they_say():
    """No subpackage or module shadows an exported function (``jaxstyle.resolve`` is
    :func:`jaxstyle.config.resolve`, ``jaxstyle.objective`` the objective)."""
    import types

    from jaxstyle.config import resolve
    from jaxstyle.loss.objective import objective

    assert jaxstyle.resolve is resolve and jaxstyle.objective is objective
    modules = {n for n in jaxstyle.__all__ if isinstance(getattr(jaxstyle, n), types.ModuleType)}
    assert modules == {"color"}


def _calls(name: str) -> list[str]:
    """The library's call sites of ``name`` as written (``f`` or ``module.f``)."""
    sites = []
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == name:
                sites.append(f"{module}:{node.lineno}")
    return sites


@pytest.mark.parametrize(
    ("rule", "home"),
    [
        ("cpu.choose", "jaxstyle.run.plan"),  # the CPU plug-in
        ("history_size", "jaxstyle.run.plan"),  # the L-BFGS memory
        ("tiling.refusal", "jaxstyle.run.plan"),  # whether a run can be tiled
    ],
)
def test_each_rule_has_one_call_site(rule, home):
    sites = _calls(rule)
    others = {n: _calls(n) for n in {rule.split(".")[-1]} if n != rule}
    assert not any(others.values()), others  # not imported by name elsewhere
    assert len(sites) == 1 and sites[0].startswith(home + ":"), sites


def test_no_spec_is_replaced_after_the_plan():
    """Only the plan completes a Spec (its memory request tries the levers on copies)."""
    allowed = {"jaxstyle.run.plan", "jaxstyle.scale.capacity"}
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "replace"
                and node.args
                and "spec" in ast.unparse(node.args[0]).lower()
            ):
                assert module in allowed, f"{module}:{node.lineno}: {ast.unparse(node)}"


def test_no_function_takes_more_than_seven_positional_parameters():
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                a = node.args
                count = (
                    len(a.posonlyargs)
                    + len(a.args)
                    - (a.args[:1] == [] or a.args[0].arg in ("self", "cls", "mdl"))
                )
                assert count <= 7, f"{module}:{node.lineno} {node.name} takes {count}"


def test_the_network_knows_only_the_network():
    """VGG19's settings are the network's; the loss takes part through a visitor."""
    import dataclasses
    import inspect

    from jaxstyle.model.vgg import VGG19, features

    fields = {f.name for f in dataclasses.fields(VGG19)} - {"parent", "name"}
    assert fields == {"outputs", "pooling", "widths", "precision", "dtype", "kernels", "visitor"}
    assert len(inspect.signature(features).parameters) <= 10


def test_the_readme_and_notebooks_use_the_public_api():
    """They import ``jaxstyle`` (its ``__all__``) and the ``jaxstyle.figures`` extra only."""
    import re

    root = PACKAGE.parent
    texts = [root / "README.md", root / "notebooks" / "build.py", *root.glob("notebooks/*.ipynb")]
    for path in texts:
        text = path.read_text()
        for sub in re.findall(r"(?:from|import) jaxstyle\.(\w+)", text):
            assert sub == "figures", (path.name, sub)
        for names in re.findall(r"from jaxstyle import ([\w, ]+)", text):
            used = {n.strip().split(" as ")[0] for n in names.split(",")}
            assert used <= {*jaxstyle.__all__, "figures"}, (path.name, used)


def test_the_architecture_page_names_every_module():
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for name in _modules():
        parts = name.split(".")[1:]
        if parts and not (len(parts) == 1 and parts[0] in SUBPACKAGES):
            assert f" {parts[-1]}.py " in page, name
    for sub in SUBPACKAGES:
        assert f" {sub}/ " in page, sub
