"""The public objects of purevae, the ones the API reference documents and numpydoc validates.

Run as a script, it validates every one with numpydoc and prints the problems::

    python docs/public_api.py              # the checks of docs/conf.py
    python docs/public_api.py --all        # every numpydoc check, for a look at what is left out
"""
from __future__ import annotations

import functools
import importlib
import inspect
import sys

#: The modules of the API reference, in its order.
MODULES = [
    "purevae", "purevae.model", "purevae.data", "purevae.likelihoods", "purevae.objectives",
    "purevae.schedules", "purevae.diagnostics", "purevae.gradcheck", "purevae.plots", "purevae.sklearn",
    "purevae.io", "purevae.parallel", "purevae.text", "purevae.typing", "purevae.backend", "purevae.train",
    "purevae.validation", "purevae.mlp", "purevae.latent", "purevae.optim", "purevae.workspace", "purevae.ops",
]

#: The numpydoc checks the build runs (numpydoc_validation_checks in docs/conf.py): every check but these,
#: each left out for the reason beside it.
EXCLUDED_CHECKS = {
    "ES01": "an extended summary: a one-line function whose summary says it all needs none",
    "SA01": "a See Also section: added where a reader needs the pointer, not on every object",
    "EX01": "an Examples section: the package, VAE and the gallery carry the examples; not every helper has one",
}


def module_members(modname: str) -> list[str]:
    """The public names of one module: its ``__all__``, else the public names it defines itself."""
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n, obj in vars(mod).items() if not n.startswith("_")
                 and getattr(obj, "__module__", None) == modname and (inspect.isclass(obj) or callable(obj))]
    return list(names)


def class_members(cls: type) -> list[str]:
    """The public methods and properties a purevae class defines (its own or a purevae base's)."""
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        for klass in cls.__mro__:
            if name in vars(klass):
                owner = klass
                break
        if not owner.__module__.startswith("purevae"):
            continue
        raw = vars(owner)[name]
        if isinstance(raw, (staticmethod, classmethod, property)) or inspect.isfunction(raw):
            names.append(name)
    return names


@functools.lru_cache(maxsize=1)
def public_objects() -> tuple[str, ...]:
    """Every documented object's full name: modules, their functions and classes, the classes' members.

    A name is listed once, under the module that defines it (``purevae.VAE`` is ``purevae.model.VAE``).
    Constants and type aliases are documented by their module's docstring, not validated.
    """
    seen: set[int] = set()
    out: list[str] = []
    for modname in MODULES:
        out.append(modname)
        mod = importlib.import_module(modname)
        for name in module_members(modname):
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            if not getattr(obj, "__module__", "").startswith("purevae"):
                continue
            if obj.__module__ != modname and obj.__module__ in MODULES:
                continue   # documented where it is defined
            seen.add(id(obj))
            out.append(f"{modname}.{name}")
            if inspect.isclass(obj):
                out += [f"{modname}.{name}.{member}" for member in class_members(obj)]
    return tuple(out)


def patch_numpydoc() -> None:
    """Work around numpydoc 1.11 raising StopIteration on a module with no ``def`` or ``class`` line.

    ``Validator.source_file_def_line`` looks for the first such line to report; ``purevae/__init__.py`` has none
    (it only imports), so the line is reported as unknown instead.
    """
    import numpydoc.validate

    original = numpydoc.validate.Validator.source_file_def_line
    if getattr(original, "_purevae_patched", False):
        return

    def source_file_def_line(self):
        try:
            return original.fget(self)
        except StopIteration:
            return None
    source_file_def_line._purevae_patched = True  # type: ignore[attr-defined]
    numpydoc.validate.Validator.source_file_def_line = property(source_file_def_line)


def problems(checks: set[str] | None) -> list[str]:
    """``name: CODE message`` for every failed check (``checks`` None: all of them)."""
    import numpydoc.validate

    patch_numpydoc()

    out = []
    for name in public_objects():
        result = numpydoc.validate.validate(name)
        for code, message in result["errors"]:
            if checks is None or code in checks:
                out.append(f"{name}: {code} {message}")
    return out


if __name__ == "__main__":
    import numpydoc.validate

    checks = None if "--all" in sys.argv else set(numpydoc.validate.ERROR_MSGS) - set(EXCLUDED_CHECKS)
    found = problems(checks)
    print("\n".join(found))
    print(f"{len(found)} problems in {len(public_objects())} objects", file=sys.stderr)
    sys.exit(1 if found else 0)
