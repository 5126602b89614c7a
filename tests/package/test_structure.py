"""The package's layout, computed from its source: no import cycle, short import chains, small modules.

Every ``import`` and ``from ... import`` counts, the ones inside functions too; only ``TYPE_CHECKING``
blocks are left out. The rules are DESIGN.md's: imports point downward only.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_tf_sm"
MAX_CHAIN = 7
MAX_LINES = 700
MAX_SHARE = 0.12


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            candidates = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in MODULES:
                candidate = candidate.rpartition(".")[0]
            if (
                candidate
                and candidate != name
                and not (path.name == "__init__.py" and candidate.startswith(name + "."))
            ):
                targets.add(candidate)
    return targets


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """Return one import cycle (as a path of modules), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (found := visit(node)):
            return found
    return None


@functools.cache
def _longest_from(node: str) -> tuple[str, ...]:
    tails = [_longest_from(target) for target in GRAPH[node]]
    return (node, *max(tails, key=len, default=()))


def test_the_graph_is_read_from_every_module() -> None:
    assert "airflow_tf_sm.hook" in GRAPH and "airflow_tf_sm.sagemaker.names" in GRAPH
    assert "airflow_tf_sm.backends.local.clients" in GRAPH["airflow_tf_sm.hook"]  # a lazy import counts


def test_no_import_cycle() -> None:
    assert _cycle() is None


def test_longest_import_chain() -> None:
    chain = max((_longest_from(node) for node in GRAPH), key=len)
    assert len(chain) <= MAX_CHAIN, " -> ".join(chain)


def test_module_sizes() -> None:
    lines = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
    total = sum(lines.values())
    too_big = {name: n for name, n in lines.items() if n > MAX_LINES or n > MAX_SHARE * total}
    assert too_big == {}


def test_the_facts_layer_imports_nothing_of_the_package_above_it() -> None:
    for name, targets in GRAPH.items():
        if name.startswith("airflow_tf_sm.sagemaker"):
            outside = {t for t in targets if not t.startswith("airflow_tf_sm.sagemaker")}
            assert outside <= {"airflow_tf_sm.exceptions"}, name
