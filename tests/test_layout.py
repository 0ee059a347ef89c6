"""The package's shape: no import circle between its modules; one façade over two backends."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import streamclip
from streamclip.backend import EventPipeline
from streamclip.local import Pipeline

PACKAGE = Path(streamclip.__file__).parent


def module_names() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("streamclip", *path.relative_to(PACKAGE).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every streamclip module `path` imports, anywhere in it (functions and TYPE_CHECKING blocks too).

    `from streamclip import ffmpeg` imports the submodule, not the package's __init__ (Python has
    the package initialised by then); `from streamclip.ray import X` of a name imports the package.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules.keys()
            found |= submodules
            if len(submodules) < len(node.names) and node.module in modules:
                found.add(node.module)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while (top := stack.pop()) != node:
                group.append(top)
            if group:
                found.append(sorted([node, *group]))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others() -> None:
    modules = module_names()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    assert circles(graph) == []


def test_the_check_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_facade_reaches_no_backend_internals() -> None:
    modules = module_names()
    used = imports_of(PACKAGE / "api.py", modules)
    assert "streamclip.local" in used
    assert not {m for m in used if m.startswith("streamclip.actors") or m.startswith("streamclip.runtime")}
    assert imports_of(PACKAGE / "local.py", modules).isdisjoint({"streamclip.api", "streamclip.ray"})


def test_both_backends_implement_the_protocol() -> None:
    assert issubclass(Pipeline, EventPipeline)
    ray_driver = pytest.importorskip("streamclip.ray.driver")
    assert issubclass(ray_driver.RayPipeline, EventPipeline)


LOWER_LAYERS = (
    "streamclip.contract",
    "streamclip.ffmpeg",
    "streamclip.detector",
    "streamclip.runtime",
    "streamclip.stages",
    "streamclip.evaluation",
)
UPPER_LAYERS = (
    "streamclip.api",
    "streamclip.backend",
    "streamclip.local",
    "streamclip.cli",
    "streamclip.progress",
    "streamclip.inputs",
    "streamclip.ingest",
    "streamclip.ray",
    "streamclip.review",
)


def in_layer(module: str, layers: tuple[str, ...]) -> bool:
    return any(module == layer or module.startswith(layer + ".") for layer in layers)


def test_lower_layers_import_nothing_from_the_facade_ingest_ray_or_review() -> None:
    modules = module_names()
    wrong = {
        name: sorted(m for m in imports_of(path, modules) if in_layer(m, UPPER_LAYERS))
        for name, path in modules.items()
        if in_layer(name, LOWER_LAYERS)
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_the_layer_check_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from streamclip.ingest import daemon\nfrom streamclip.cli import main\n", encoding="utf-8")
    found = imports_of(module, module_names())
    assert {m for m in found if in_layer(m, UPPER_LAYERS)} == {"streamclip.ingest.daemon", "streamclip.cli"}


def test_the_root_holds_the_facade_and_what_everything_shares() -> None:
    """New modules go into the folder of their part; the root stays a map a newcomer can read."""
    root = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert root == [
        "__init__",
        "__main__",
        "api",
        "backend",
        "cli",
        "config",
        "errors",
        "inputs",
        "local",
        "progress",
        "sources",
    ]


def test_torch_is_imported_only_by_the_detector_networks_their_export_and_the_gpu_input() -> None:
    importing = set()
    for name, path in module_names().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "torch" or n.startswith("torch.") for n in names):
                importing.add(name)
    assert importing == {
        "streamclip.detector.network",
        "streamclip.detector.export",
        "streamclip.detector.autoshot",
        "streamclip.detector.cuda",
    }


def test_every_benchmark_script_is_in_the_benchmarks_readme() -> None:
    """benchmarks/README.md is where a newcomer finds what each script measures: none is left out."""
    benchmarks = PACKAGE.parent / "benchmarks"
    readme = (benchmarks / "README.md").read_text(encoding="utf-8")
    scripts = sorted(path.name for path in benchmarks.glob("*.py"))
    assert len(scripts) > 10
    assert [name for name in scripts if f"`{name}`" not in readme] == []
