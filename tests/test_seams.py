"""The package's module graph: no import cycle, and no module reaching into another's underscore names.

Issue 9: the pieces of purevae talk through documented seams (``VAE.check_input``, ``VAE.step``, ``MLP``,
``GaussianLatent``, the likelihoods, the workspaces), never through private members. These tests read the
source with ``ast`` (imports at any depth, lazy ones inside functions included), so they see what a
reader sees, not only what happens to be imported at run time.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import purevae

PACKAGE = Path(purevae.__file__).resolve().parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__main__")
EXTENSIONS = sorted(p.stem for p in PACKAGE.glob("*.pyx"))     # _kernels: compiled, imported by backend only


def _module_name(stem: str) -> str:
    return "purevae" if stem == "__init__" else f"purevae.{stem}"


def _tree(stem: str) -> ast.Module:
    path = PACKAGE / f"{stem}.py"
    return ast.parse(path.read_text(), filename=str(path))


def _resolve(stem: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` node names (``from .x import y`` in purevae.model -> purevae.x)."""
    if node.level == 0:
        return node.module or ""
    base = ["purevae"]          # every module here sits directly in the package
    return ".".join(base + ([node.module] if node.module else []))


def _runtime_nodes(tree: ast.AST):
    """ast.walk, skipping the bodies of ``if TYPE_CHECKING:`` (imports for annotations only, never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports(stem: str) -> set[str]:
    """The purevae modules that module ``stem`` imports, anywhere in its source."""
    found = set()
    submodules = {_module_name(s) for s in MODULES + EXTENSIONS}
    for node in _runtime_nodes(_tree(stem)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("purevae"))
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(stem, node)
            if not target.startswith("purevae"):
                continue
            for alias in node.names:                # `from . import backend` imports the module purevae.backend
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in submodules else target)
    return {m for m in found if m in submodules and m != _module_name(stem)}


def test_backend_alone_imports_the_compiled_kernels():
    """Everyone else gets the kernels from ``backend.kernels()``, which picks the Cython or NumPy twin."""
    importers = [m for m, deps in graph().items() if "purevae._kernels" in deps]
    assert importers == ["purevae.backend"]


def graph() -> dict[str, set[str]]:
    return {_module_name(stem): imports(stem) for stem in MODULES}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a list of nodes (first == last), or None (depth-first search)."""
    state: dict[str, int] = {}          # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_purevae_modules():
    edges = graph()
    edges.pop("purevae")                 # the package's __init__ imports the public names from every module
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


def test_no_module_imports_the_package_itself():
    """``from . import __version__`` inside a module is a cycle through purevae/__init__.py."""
    offenders = [m for m, deps in graph().items() if m != "purevae" and "purevae" in deps]
    assert offenders == []


def test_the_model_sits_above_the_pieces_it_composes():
    """model imports train, objectives and io (for fit, elbo, save, load); none of them imports model."""
    edges = graph()
    assert {"purevae.train", "purevae.objectives", "purevae.io", "purevae.mlp", "purevae.latent"} <= \
        edges["purevae.model"]
    for low in ("purevae.train", "purevae.objectives", "purevae.io", "purevae.gradcheck", "purevae.mlp",
                "purevae.latent", "purevae.likelihoods", "purevae.ops", "purevae.backend", "purevae.workspace",
                "purevae.validation"):
        assert "purevae.model" not in edges[low], f"{low} imports purevae.model"


def private_reach_ins(stem: str) -> list[str]:
    """Places where module ``stem`` uses another object's underscore name.

    Flags ``from .x import _y``, and ``obj._y`` where ``obj`` is not ``self``/``cls`` (a module, a model
    passed in, ...). Dunder names (``__file__``) are public protocol and allowed.
    """
    found = []
    tree = _tree(stem)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and _resolve(stem, node).startswith("purevae"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{stem}.py:{node.lineno}: from {_resolve(stem, node)} import {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            found.append(f"{stem}.py:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_reach_in_finder_flags_what_it_should():
    import textwrap
    source = textwrap.dedent("""
        from .model import _helper
        def f(model):
            model._resume = None
            self._ok = 1
            return model.__class__
    """)
    tree = ast.parse(source)
    flagged = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("_")
               and not n.attr.startswith("__") and not (isinstance(n.value, ast.Name) and n.value.id == "self")]
    assert [ast.unparse(n) for n in flagged] == ["model._resume"]


# The allowed exceptions: sys._getframe, the standard library's frame access, which CastWarning's stack
# level is computed with (validation.py); and backend importing the compiled extension it dispatches to.
ALLOWED = {"sys._getframe", "from purevae import _kernels"}


@pytest.mark.parametrize("stem", MODULES)
def test_no_module_uses_another_modules_underscore_names(stem):
    found = [f for f in private_reach_ins(stem) if f.split(": ", 1)[1] not in ALLOWED]
    assert found == [], "\n".join(found)
