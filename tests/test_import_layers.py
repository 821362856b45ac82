"""Imports go one way: every module under engine/ is parsed (function-level and TYPE_CHECKING
imports included), and the module graph must have no cycle and no import from a lower layer
up to a higher one.

The layers, top to bottom (a module may import its own layer and any layer below it):

- `engine.cli`, `engine.app` and the `engine` package itself (its lazy `engine.Engine`): the
  entry points.
- `engine.api`: the HTTP API over an `Engine`.
- `engine.console`: the operator console, which the API's app mounts (so it imports nothing of
  `engine.api`; the app applies the API's keyless rule to it).
- `engine.engine`: the one composition root.
- `engine.python_api`: the `Connector` facade. `Engine.connector()` builds it, so it sits *below*
  the composition root: it types the engine as `engine.context.EngineContext` and never imports
  `engine.engine`.
- `engine.ingest`: on-device sources' tokens and batches, stored through the worker's sync service
  (its pure batch reader, `engine.ingest.batch`, sits with the mapping layer, for `engine test`).
- `engine.worker`, then `engine.subscriptions` (the worker schedules renewals; subscriptions never
  import the worker).
- `engine.context` (what the layers above see of the engine) and `engine.settings`.
- `engine.archive`: the raw archive's record keeping and re-mapping (over mapping and store).
- `engine.merge`: the merged view across sources (over the store and the sample catalogue).
- `engine.testing`, `engine.troubleshoot`, `engine.coverage`: tooling libraries the commands use.
- `engine.fetch`, `engine.auth`, `engine.webhooks`, `engine.mapping`.
- `engine.http` (renders spec requests), then `engine.store` and the small shared modules.
- `engine.spec`: imports nothing else of the engine.

The shared modules (`engine.errors`, `engine.logs`, `engine.instants`, `engine.jobs`,
`engine.shipped`, `engine.store`) sit at the bottom, just above `engine.spec`; `engine.http`,
`engine.settings` and `engine.context` sit as low as their own imports allow, below everything
that uses them.
"""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "engine"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("engine", "engine.cli", "engine.app"),
    ("engine.api",),
    ("engine.console",),
    ("engine.engine",),
    ("engine.python_api",),
    ("engine.ingest",),
    ("engine.worker",),
    ("engine.subscriptions",),
    ("engine.context",),
    ("engine.settings",),
    ("engine.outbound",),
    ("engine.archive",),
    ("engine.merge",),
    ("engine.testing", "engine.troubleshoot", "engine.coverage"),
    ("engine.fetch", "engine.auth", "engine.webhooks", "engine.mapping", "engine.ingest.batch"),
    ("engine.http",),
    ("engine.store", "engine.errors", "engine.logs", "engine.instants", "engine.jobs", "engine.shipped",
     "engine.observability"),
    ("engine.spec",),
)
LAYER_OF = {unit: index for index, layer in enumerate(LAYERS) for unit in layer}


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # importing module
    target: str  # imported module (the longest module name that exists)
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _existing(name: str, modules: dict[str, Path]) -> str | None:
    """The module an imported name lives in: `engine.spec.model.Spec` -> `engine.spec.model`."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path], text: str | None = None) -> list[Import]:
    source = path.read_text(encoding="utf-8") if text is None else text
    tree = ast.parse(source, filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:  # `from engine import coverage` imports engine.coverage
                submodule = f"{origin}.{alias.name}"
                names.append(submodule if submodule in modules else origin)
        for name in names:
            if name != "engine" and not name.startswith("engine."):
                continue
            target = _existing(name, modules)
            if target is not None and target != module:
                found.append(Import(module, target, path, node.lineno))
    return list(dict.fromkeys(found))  # `from a import B, C` is one import of a


def _graph() -> tuple[dict[str, Path], list[Import]]:
    modules = _modules()
    return modules, [imp for name, path in modules.items() for imp in _imports(name, path, modules)]


def unit_of(module: str) -> str | None:
    """The layer entry a module belongs to: `engine.worker.sync` -> `engine.worker`."""
    if module in LAYER_OF:
        return module
    candidates = [unit for unit in LAYER_OF if unit != "engine" and module.startswith(unit + ".")]
    return max(candidates, key=len, default=None)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
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
                components.append(_closed_path(sorted(component), edges))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def _closed_path(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One cycle through the component's first node, for the report: a -> b -> ... -> a."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                return [*paths[node], start]
            if nxt in members and nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                queue.append(nxt)
    return [*component, start]


def upward_imports(imports: list[Import]) -> list[str]:
    upward = []
    for imp in imports:
        source, target = unit_of(imp.source), unit_of(imp.target)
        if source is None or target is None:
            continue  # reported by test_every_engine_module_is_placed_in_a_layer
        if LAYER_OF[target] < LAYER_OF[source]:
            upward.append(f"{imp.where()}: {imp.source} imports {imp.target} "
                          f"({source} sits below {target})")
    return sorted(upward)


def cycle_report(imports: list[Import], by_package: bool) -> list[str]:
    """Each cycle as `a -> b -> a`, followed by the imports making up each step (file:line)."""
    group = unit_of if by_package else (lambda module: module)
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in imports:
        source, target = group(imp.source), group(imp.target)
        if source and target and source != target:
            edges[source].add(target)
    report = []
    for cycle in _cycles(edges):
        report.append(" -> ".join(cycle))
        for a, b in itertools.pairwise(cycle):
            hits = [i.where() for i in imports if group(i.source) == a and group(i.target) == b]
            report.append(f"    {a} -> {b}  ({', '.join(hits[:3])})")
    return report


def test_every_engine_module_is_placed_in_a_layer() -> None:
    modules, _ = _graph()
    unplaced = sorted(name for name in modules if unit_of(name) is None)
    assert not unplaced, "place these in LAYERS (tests/test_import_layers.py): " + ", ".join(unplaced)


def test_no_import_cycle_between_modules() -> None:
    _, imports = _graph()
    report = cycle_report(imports, by_package=False)
    assert not report, "import cycles between modules:\n" + "\n".join(report)


def test_no_import_cycle_between_packages() -> None:
    _, imports = _graph()
    report = cycle_report(imports, by_package=True)
    assert not report, "import cycles between packages:\n" + "\n".join(report)


def test_no_import_goes_up_a_layer() -> None:
    _, imports = _graph()
    upward = upward_imports(imports)
    assert not upward, "imports going up a layer:\n" + "\n".join(upward)


def test_the_checks_catch_an_added_upward_import() -> None:
    """A function-level `import engine.worker` added inside engine/spec/ is reported, with its
    file and line; so is the cycle it closes when the worker imports the spec."""
    modules, imports = _graph()
    path = PACKAGE / "spec" / "model.py"
    text = path.read_text(encoding="utf-8") + "\n\ndef _later():\n    import engine.worker\n"
    added = [i for i in _imports("engine.spec.model", path, modules, text) if i.target == "engine.worker"]
    assert [i.line for i in added] == [len(text.splitlines())]
    (report,) = [line for line in upward_imports(imports + added) if line.startswith("engine/spec/")]
    assert report.startswith(f"engine/spec/model.py:{added[0].line}: engine.spec.model imports engine.worker")
    assert any("engine.spec -> engine.worker" in line for line in cycle_report(imports + added, by_package=True))
