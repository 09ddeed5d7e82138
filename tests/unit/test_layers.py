"""The package is layered and acyclic: no module imports a module of a higher layer, and no
modules import each other in a circle.

Every import counts, at any depth: module level, inside functions, under ``TYPE_CHECKING``
(a lazy import hides a cycle, it does not remove it). See ``docs/architecture.md``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "nlpcompress"

# The layers, lowest first. A module may import modules of its own layer or of lower layers,
# never of a higher one; a module belongs to the layer of its longest listed prefix.
#  0  foundations: typed configs and their errors, hashing; on-disk entries and the stored
#     model format; the package root (its version) and logging setup
#  1  model I/O and presets; data readers, splits and the datamodule
#  2  the techniques, plain torch: quantizers, pruning masks, KD losses (may use each other)
#  3  Lightning training; export and deployable runtimes; accuracy, size and speed
#  4  MLflow tracking; the report over tracked runs
#  5  the methods: each technique wired into training and the runner's contract
#  6  the runner: data -> baseline -> method -> evaluate -> export -> size -> speed -> log
#  7  the CLI, the composition root
LAYERS: list[tuple[str, ...]] = [
    ("nlpcompress", "nlpcompress.config", "nlpcompress.storage", "nlpcompress.logging_setup"),
    ("nlpcompress.models", "nlpcompress.data"),
    ("nlpcompress.quant", "nlpcompress.prune", "nlpcompress.distill"),
    ("nlpcompress.training", "nlpcompress.export", "nlpcompress.measure"),
    ("nlpcompress.tracking", "nlpcompress.report"),
    ("nlpcompress.methods",),
    ("nlpcompress.runner",),
    ("nlpcompress.cli", "nlpcompress.__main__"),
]
# What the CLI must be able to import before it refuses a bad config in about a second.
LIGHT_MODULES = (
    "nlpcompress.cli",
    "nlpcompress.config.run",
    "nlpcompress.methods.registry",
    "nlpcompress.tracking.preflight",
    "nlpcompress.models.assets",
)
HEAVY_LIBRARIES = ("torch", "lightning", "transformers", "mlflow", "datasets", "pandas")
# The techniques are plain torch: their Lightning, MLflow and Hydra glue lives in `methods/`.
TECHNIQUES = LAYERS[2]
FRAMEWORKS = ("lightning", "pytorch_lightning", "torchmetrics", "mlflow", "hydra", "omegaconf")


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module name ``source`` imports, at any depth (``from a import b`` gives ``a.b``
    and ``a``: ``b`` may be a module or a name in ``a``)."""
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(src: Path = SRC, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports."""
    paths = {module_name(p, src): p for p in (src / package).rglob("*.py")}
    graph = {}
    for module, path in paths.items():
        names = imported_names(path.read_text(encoding="utf-8"), module, path.stem == "__init__")
        deps = set()
        for name in names:
            while name and name not in paths:  # `from a.b import name`: the module is a.b
                name = name.rpartition(".")[0]
            if name and name != module:
                deps.add(name)
        graph[module] = deps
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_cycle_in(graph, c) for c in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # cannot happen in a component


def layer_of(module: str, layers: list[tuple[str, ...]] = LAYERS) -> int | None:
    """The index of the layer whose longest prefix matches ``module``; None if unlisted."""
    best, best_len = None, -1
    for i, prefixes in enumerate(layers):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def layer_violations(
    graph: dict[str, set[str]], layers: list[tuple[str, ...]] = LAYERS
) -> list[str]:
    """``"a (layer 1: models, data) imports b (layer 3: ...)"`` for every upward import."""

    def describe(i: int) -> str:
        return f"layer {i}: " + ", ".join(p.rpartition(".")[2] for p in layers[i])

    out = []
    for module in sorted(graph):
        mine = layer_of(module, layers)
        for dep in sorted(graph[module]):
            theirs = layer_of(dep, layers)
            if mine is not None and theirs is not None and theirs > mine:
                out.append(f"{module} ({describe(mine)}) imports {dep} ({describe(theirs)})")
    return out


# --- the package -------------------------------------------------------------------------


def test_every_module_is_in_a_layer():
    unlisted = sorted(m for m in import_graph() if layer_of(m) is None)
    assert not unlisted, f"modules in no layer (add their package to LAYERS): {unlisted}"


def test_no_module_imports_a_higher_layer():
    violations = layer_violations(import_graph())
    assert not violations, "upward imports:\n  " + "\n  ".join(violations)


def test_modules_do_not_import_each_other_in_a_circle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n  " + "\n  ".join(" -> ".join(c) for c in cycles)


def test_the_techniques_import_no_training_or_tracking_framework():
    found = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        module = module_name(path)
        if layer_of(module, [TECHNIQUES]) is None:
            continue
        names = imported_names(path.read_text(encoding="utf-8"), module, path.stem == "__init__")
        found += [f"{module} imports {n}" for n in sorted(names) if n.split(".")[0] in FRAMEWORKS]
    assert not found, "framework imports in technique packages:\n  " + "\n  ".join(found)


def test_config_checks_import_no_heavy_library():
    """The CLI validates a config before torch, Lightning, transformers or MLflow load."""
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in LIGHT_MODULES)
        + f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY_LIBRARIES)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", f"imported before the config check: {done.stdout}"


# --- the checks themselves, on synthetic input -----------------------------------------


def test_imports_inside_functions_and_under_type_checking_count():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.high import Thing\n"
        "def f():\n    import pkg.other\n"
        "from . import sibling\n"
    )
    names = imported_names(source, "pkg.low.mod")
    assert {"pkg.high", "pkg.other", "pkg.low.sibling"} <= names


def test_a_synthetic_cycle_and_an_upward_import_are_reported_clearly():
    graph = {
        "pkg.a.x": {"pkg.b.y"},
        "pkg.b.y": {"pkg.b.z"},
        "pkg.b.z": {"pkg.a.x"},
        "pkg.a.w": set(),
    }
    layers = [("pkg.a",), ("pkg.b",)]
    assert find_cycles(graph) == [["pkg.a.x", "pkg.b.y", "pkg.b.z", "pkg.a.x"]]
    assert layer_violations(graph, layers) == ["pkg.a.x (layer 0: a) imports pkg.b.y (layer 1: b)"]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    assert layer_of("pkg.b.y.deep", layers) == 1
    assert layer_of("other", layers) is None
