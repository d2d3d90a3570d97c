"""The package's import graph: no circle, and no import that runs back up a layer.

Every ``import`` and ``from ... import`` of a layerlr module is read from the source (at
module level and inside functions alike: a lazy import is still a dependency; imports for
type annotations only, under ``if TYPE_CHECKING:``, are not), so the graph is the code's
own, not what one run happened to import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import layerlr

ROOT = Path(layerlr.__file__).parent

# Lower layers first; a module may import its own layer and the ones before it.
LAYERS = [
    ("layerlr._lazy",),
    ("layerlr.families", "layerlr.theory", "layerlr.setting", "layerlr.schedules",
     "layerlr.memory"),
    ("layerlr.engine", "layerlr.results"),
    ("layerlr.study",),
    ("layerlr.report",),
    ("layerlr.cli", "layerlr"),
]
ENGINE = ("layerlr.families", "layerlr.theory", "layerlr.setting", "layerlr.schedules",
          "layerlr.memory", "layerlr.engine")  # no Ray, no Optuna (STYLE.md)


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules ``name`` imports (layerlr's own resolved to known modules; others by
    their top-level package)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target not in known and "." in target and target.startswith("layerlr"):
                target = target.rpartition(".")[0]
            out.add(target if target.startswith("layerlr") else target.split(".")[0])
    return out - {name}


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield child
                yield from _runtime_nodes(child)
            continue
        yield node
        yield from _runtime_nodes(node)


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def layer(name: str) -> int:
    best = None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    assert best is not None, f"{name} is in no layer"
    return best[0]


def test_the_import_graph_has_no_circle():
    g = {k: {v for v in vs if v in g_keys} for g_keys in [set(graph())] for k, vs in
         graph().items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(g[node] - {"layerlr"}):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(
                    path[path.index(nxt):] + [node, nxt]) if nxt in path else f"{node} -> {nxt}")
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [])


def test_no_import_runs_back_up_a_layer():
    wrong = [f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
             for name, targets in graph().items() for target in targets
             if target.startswith("layerlr.") and layer(target) > layer(name)]
    assert not wrong, "\n".join(wrong)


def test_the_engine_imports_neither_ray_nor_optuna():
    heavy = [f"{name} imports {target}" for name, targets in graph().items()
             if name.startswith(ENGINE) for target in targets if target in ("ray", "optuna")]
    assert not heavy, heavy


def family_switches(path: Path) -> list[str]:
    """Comparisons with a family's name in ``path`` (``family == "mlp"``, ``in ("matrix",
    ...)``): a switch over families that belongs in the family's own folder."""
    from layerlr.families import FAMILIES

    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        operands += [e for o in operands if isinstance(o, (ast.Tuple, ast.Set, ast.List))
                     for e in o.elts]
        if any(isinstance(o, ast.Constant) and o.value in FAMILIES for o in operands):
            out.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return out


def test_no_switch_over_family_names_outside_the_families():
    """A new family is one folder and one registry line: nothing outside layerlr/families
    asks which family it has by name (issue 16)."""
    found = [hit for name, path in modules().items()
             if not name.startswith("layerlr.families") for hit in family_switches(path)]
    assert found == []


def test_the_family_switch_check_finds_both_forms(tmp_path):
    (tmp_path / "x.py").write_text('if family == "module" or f in ("mlp",):\n    pass\n')
    assert len(family_switches(tmp_path / "x.py")) == 2
