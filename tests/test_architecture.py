"""The package's house rules, read from the AST of every module: layers, no import circles, no forbidden arrows.

Arrows run one way: faces -> steps -> (inference, training, evaluation, data, synth) -> base, with
``viz`` imported by the steps and the faces only. Inside the middle layer, inference may use
training, data and evaluation; training may use data and evaluation; data, evaluation and synth use
only the base. Nothing of the package is imported inside a function, nothing private crosses a
module, and no module shadows a standard-library or installed package name.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

import auxiliary

PACKAGE = Path(auxiliary.__file__).resolve().parent
#: The rooms, bottom to top. The top level holds only ``__init__`` (the base's) and ``__main__`` (a face).
ROOMS = ("base", "synth", "data", "evaluation", "tasks", "models", "training", "inference", "viz", "steps", "faces")
#: room -> the rooms it may import (itself included)
ALLOWED: dict[str, set[str]] = {
    "base": {"base"},
    "synth": {"synth", "base"},
    "data": {"data", "base"},
    "evaluation": {"evaluation", "base"},
    "tasks": {"tasks", "data", "evaluation", "base"},
    "models": {"models", "tasks", "data", "evaluation", "base"},
    "training": {"training", "models", "tasks", "data", "evaluation", "base"},
    "inference": {"inference", "models", "tasks", "data", "evaluation", "base"},
    "viz": {"viz", "inference", "training", "models", "tasks", "evaluation", "data", "synth", "base"},
    "steps": {"steps", "viz", "inference", "training", "models", "tasks", "evaluation", "data", "synth", "base"},
    "faces": set(ROOMS),
}
#: third-party modules a room must not import, whatever the arrows say
FORBIDDEN_LIBRARIES = {
    "base": {"timm", "lightning_fabric", "matplotlib", "seaborn", "ipywidgets", "IPython"},
    "training": {"matplotlib", "seaborn", "ipywidgets", "IPython"},
    "evaluation": {"matplotlib", "seaborn", "ipywidgets", "IPython"},
    "data": {"matplotlib", "seaborn", "ipywidgets", "IPython", "timm"},
    "synth": {"ipywidgets", "IPython", "timm"},
    "tasks": {"matplotlib", "seaborn", "ipywidgets", "IPython", "timm", "lightning_fabric"},
    "models": {"matplotlib", "seaborn", "ipywidgets", "IPython", "lightning_fabric"},
    "inference": {"matplotlib", "seaborn", "ipywidgets", "IPython", "lightning_fabric"},
}
#: optional heavy extras that may be imported inside a function (each guarded in one place)
LAZY_EXTRAS = {"gradio", "onnxruntime", "playwright", "papermill", "ipywidgets", "IPython", "mlflow"}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    name = ".".join(rel.parts)
    return name.removesuffix(".__init__")


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:  # auxiliary/__init__.py
        return "base"
    if parts[1] == "__main__":
        return "faces"
    return parts[1]


def resolve(current: str, node: ast.ImportFrom | ast.Import) -> set[str]:
    """The package modules an import statement names (a package's ``__init__`` included)."""
    if isinstance(node, ast.Import):
        candidates = [a.name for a in node.names]
    else:
        if node.level:
            is_pkg = MODULES[current].name == "__init__.py"
            parts = current.split(".")
            parts = parts[: len(parts) - node.level + (1 if is_pkg else 0)]
            base = ".".join(parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        candidates = [base] + [f"{base}.{a.name}" for a in node.names]
    out = set()
    for c in candidates:
        while c and c not in MODULES and "." in c:
            c = c.rsplit(".", 1)[0]
        if c in MODULES and c != current:
            out.add(c)
    return out


def imports_of(module: str) -> list[tuple[ast.stmt, set[str], bool]]:
    """Every import statement of ``module``: (node, package modules it names, whether inside a function)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return [(n, resolve(module, n), id(n) in inner) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


def graph() -> dict[str, set[str]]:
    return {m: set().union(*[t for _, t, _ in imports_of(m)]) for m in MODULES}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_imports():
    for name in MODULES:
        if not name.endswith("__main__"):  # importing it runs the command line
            importlib.import_module(name)


def test_top_level_holds_only_the_entry_points_and_the_rooms():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    rooms = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    assert loose == []
    assert rooms == sorted(ROOMS)


def test_no_import_circles():
    assert cycles(graph()) == []


def test_circles_are_detected():
    """The check above can fail: a made-up circle is found."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_arrows_run_one_way():
    wrong = [f"{m} ({layer(m)}) -> {t} ({layer(t)})" for m, targets in graph().items() for t in sorted(targets)
             if layer(t) not in ALLOWED[layer(m)]]
    assert wrong == []


def test_layers_do_not_import_forbidden_libraries():
    wrong = []
    for m in MODULES:
        banned = FORBIDDEN_LIBRARIES.get(layer(m), set())
        for node, _, _ in imports_of(m):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            wrong += [f"{m} imports {n}" for n in names if n.split(".")[0] in banned]
    assert wrong == []


def test_imports_sit_at_the_top():
    """Package modules are never imported inside a function; third-party ones only when they are optional heavy extras."""
    wrong = []
    for m in MODULES:
        for node, targets, inner in imports_of(m):
            if not inner:
                continue
            top = (node.names[0].name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
            if targets or (top not in LAZY_EXTRAS and not getattr(node, "level", 0)):
                wrong.append(f"{m}:{node.lineno} imports {top or targets} inside a function")
    assert wrong == []


def test_each_optional_extra_is_imported_in_one_place_per_module():
    wrong = []
    for m in MODULES:
        seen: dict[str, int] = {}
        for node, _, inner in imports_of(m):
            top = (node.names[0].name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
            if inner and top in LAZY_EXTRAS:
                seen[top] = seen.get(top, 0) + 1
        wrong += [f"{m} imports {k} in {n} places" for k, n in seen.items() if n > 1]
    assert wrong == []


def test_nothing_private_crosses_a_module():
    wrong = []
    for m in MODULES:
        for node, targets, _ in imports_of(m):
            if isinstance(node, ast.ImportFrom) and targets:
                wrong += [f"{m}:{node.lineno} imports {a.name}" for a in node.names if a.name.startswith("_")]
        tree = ast.parse(MODULES[m].read_text(encoding="utf-8"))
        aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and resolve(m, n)
                   for a in n.names}
        wrong += [f"{m}:{n.lineno} uses {n.value.id}.{n.attr}" for n in ast.walk(tree)
                  if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in aliases
                  and n.attr.startswith("_") and not n.attr.startswith("__")]
    assert wrong == []


#: Modules named after a command-line verb (``select``), imported only by their dotted name.
VERB_MODULES = {"auxiliary.steps.select", "auxiliary.faces.cli.select"}
INSTALLED_TOP_LEVEL = set(importlib.metadata.packages_distributions()) - {"auxiliary"}


def test_no_module_shadows_the_standard_library_or_an_installed_package():
    wrong = []
    for m in MODULES:
        leaf = m.rsplit(".", 1)[-1]
        if leaf.startswith("__") or m in VERB_MODULES:
            continue
        if leaf in sys.stdlib_module_names or leaf in INSTALLED_TOP_LEVEL:
            wrong.append(m)
    assert wrong == []


def test_public_names_have_one_meaning():
    """No two modules define a public function or class of the same name (the step protocol excepted)."""
    protocol = {"configure_parser", "run_cli"}
    where: dict[str, list[str]] = {}
    for m, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for n in tree.body:
            if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and not n.name.startswith("_") and n.name not in protocol:
                where.setdefault(n.name, []).append(m)
    assert {k: v for k, v in where.items() if len(v) > 1} == {}


@pytest.mark.parametrize("package", [r for r in ROOMS])
def test_subpackage_docstring_names_every_module(package):
    """Each subpackage's ``__init__`` docstring lists its modules, and its public names import from it."""
    pkg = importlib.import_module(f"auxiliary.{package}")
    doc = pkg.__doc__ or ""
    modules = sorted(p.stem for p in (PACKAGE / package).glob("*.py") if p.stem != "__init__")
    missing = [m for m in modules if f"``{m}``" not in doc]
    assert missing == []
    for name in getattr(pkg, "__all__", []):
        assert getattr(pkg, name) is not None


#: Verbs whose work is a face of its own (the web demo, the notebook runner): no step module below them.
FACE_VERBS = {"serve": "auxiliary.faces.webapp", "run-all": "auxiliary.faces.runner"}


def test_every_verb_has_a_cli_module_and_one_step_function_named_after_it():
    """``python -m auxiliary VERB`` is ``auxiliary/faces/cli/VERB.py`` (its flags and its call) over one public
    function ``VERB`` in ``auxiliary/steps/VERB.py``, which the CLI module calls (and nothing else of the step)."""
    from auxiliary.faces import cli

    wrong = []
    for verb, (module, _, _) in cli.STEPS.items():
        leaf = verb.replace("-", "_")
        if module != f"auxiliary.faces.cli.{leaf}":
            wrong.append(f"{verb}: CLI module {module}")
        if verb in FACE_VERBS:
            continue
        step = f"auxiliary.steps.{leaf}"
        if step not in MODULES:
            wrong.append(f"{verb}: no {step}")
            continue
        tree = ast.parse(MODULES[step].read_text(encoding="utf-8"))
        if leaf not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}:
            wrong.append(f"{verb}: {step} defines no function {leaf}()")
        calls = {n.func.id for n in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8")))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        if leaf not in calls:
            wrong.append(f"{verb}: {module} does not call {leaf}()")
    assert wrong == []


def test_the_task_is_asked_not_tested_outside_the_tasks_room():
    """What differs between single- and multi-label lives in ``auxiliary.tasks``: nowhere else compares a task name
    or asks whether something is multi-label (at most the handful of places that decide what the data is)."""
    pattern = re.compile(r'task\s*[!=]=\s*"multilabel"|\.multilabel\b|is_multilabel|if multilabel|multilabel else|'
                         r'"multilabel"\s*[!=]=')
    hits = [f"{m}:{i}" for m, p in MODULES.items() if not m.startswith("auxiliary.tasks")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == []
