"""Sphinx configuration of purevae's documentation site.

Build it from the repository root with the ``docs`` extra installed (``pip install -e ".[docs]"``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    python docs/check_links.py docs/_build/html

The API reference is generated at build time from ``docs/public_api.py`` (the same list of objects that
numpydoc validates), the derivations page gets one label per section (``derivations-<anchor>``) and a link to
the API entry and the source of every function its italic lines name, and every docstring's
``docs/derivations.md#anchor`` becomes a link to that section. ``PUREVAE_DOCS_GALLERY=0`` skips running the
gallery's scripts (their pages are then built from the scripts alone, without output or figures).
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))

import public_api  # noqa: E402

import purevae  # noqa: E402

project = "purevae"
author = "the purevae developers"
copyright = "2026, the purevae developers"
release = purevae.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "auto_examples/*.py",
                    "auto_examples/*.ipynb", "auto_examples/*.zip", "auto_examples/*.json"]
html_theme = "alabaster"
html_theme_options = {"description": "A VAE from scratch in NumPy, its gradients derived by hand",
                      "fixed_sidebar": True, "page_width": "1100px", "sidebar_width": "230px"}
html_static_path: list[str] = []
templates_path: list[str] = []
highlight_language = "none"     # docstrings' literal blocks are formulas and tables; code blocks name their language

# --- MyST: the derivations' $...$ and $$...$$ math, GitHub-style anchors for their (#section) links ---------------
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# --- autodoc and numpydoc -------------------------------------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"        # the annotations are in the signatures' source; numpydoc's sections give the types
autodoc_default_options = {"exclude-members": "__init__", "undoc-members": True}
autosummary_generate = False      # the API pages are written by write_api_pages below
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = False
numpydoc_xref_param_type = False
# Every numpydoc check but those docs/public_api.py leaves out, with its reasons (EXCLUDED_CHECKS).
numpydoc_validation_checks = {"all", *public_api.EXCLUDED_CHECKS}
public_api.patch_numpydoc()

# --- sphinx-gallery ---------------------------------------------------------------------------------------------------
RUN_GALLERY = os.environ.get("PUREVAE_DOCS_GALLERY", "1") != "0"
os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": "True" if RUN_GALLERY else "False",
    "download_all_examples": False,
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "line_numbers": False,
    "min_reported_time": 0,
}
nitpicky = False


# --- the API reference, written from docs/public_api.py -----------------------------------------------------------
def _underline(title: str, char: str) -> str:
    return f"{title}\n{char * len(title)}\n"


def _summary_line(obj) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else ""


def write_api_pages(app) -> None:
    """Write ``api/index.rst`` and one page per module, documenting exactly ``public_api.public_objects()``."""
    import importlib
    import inspect

    out = DOCS / "api"
    out.mkdir(exist_ok=True)
    objects = public_api.public_objects()
    pages: dict[str, str] = {}
    for modname in public_api.MODULES:
        mod = importlib.import_module(modname)
        members = [name for name in objects if name.startswith(modname + ".") and name not in public_api.MODULES]
        lines = [_underline(f"``{modname}``", "="), f".. automodule:: {modname}\n   :no-members:\n"]
        if modname == "purevae":
            lines.append(".. rubric:: What the package exports\n")
            lines.append(".. list-table::\n   :widths: 25 75\n")
            for name in mod.__all__:
                obj = getattr(mod, name)
                if inspect.isclass(obj) or inspect.isfunction(obj):
                    target = f"{obj.__module__}.{obj.__qualname__}"
                    role = "class" if inspect.isclass(obj) else "func"
                    lines.append(f"   * - :{role}:`purevae.{name} <{target}>`\n     - {_summary_line(obj)}")
                else:
                    lines.append(f"   * - ``purevae.{name}``\n     - the version string, ``{obj!s}``")
            lines.append("")
        top = [name for name in members if name.count(".") == modname.count(".") + 1]
        if top:
            lines.append(".. rubric:: Contents\n")
            lines.append(".. autosummary::\n   :nosignatures:\n")
            lines += [f"   {name.rsplit('.', 1)[1]}" for name in top]
            lines.append("")
        for name in top:
            obj = getattr(mod, name.rsplit(".", 1)[1])
            if inspect.isclass(obj):
                methods = [m.rsplit(".", 1)[1] for m in members if m.startswith(name + ".")]
                lines.append(f".. autoclass:: {name}")
                lines.append(f"   :members: {', '.join(methods)}" if methods else "   :no-members:")
                lines.append("")
            else:
                lines.append(f".. autofunction:: {name}\n")
        pages[modname] = "\n".join(lines) + "\n"
    index = [".. _api:\n", _underline("API reference", "="),
             "Everything public, generated from the docstrings. Each entry links to its source (``[source]``), "
             "and each function on the model's path to the section of :doc:`/derivations` that derives it.\n",
             "Every docstring here passes numpydoc's validation, run by this site's build with warnings as errors: "
             "every check but these, each left out for the reason beside it:\n",
             *[f"* ``{code}``: {reason}." for code, reason in public_api.EXCLUDED_CHECKS.items()], "",
             "Every example in a docstring runs as a doctest in the test suite (``tests/test_doctests.py``).\n",
             ".. list-table::\n   :widths: 25 75\n"]
    for modname in public_api.MODULES:
        summary = _summary_line(importlib.import_module(modname)).split(". ")[0].rstrip(".")
        index.append(f"   * - :doc:`{modname} <{modname}>`\n     - {summary}.")
    index += ["", ".. toctree::\n   :hidden:\n   :maxdepth: 1\n"]
    index += [f"   {modname}" for modname in public_api.MODULES]
    pages["index"] = "\n".join(index) + "\n"
    for name, text in pages.items():
        path = out / f"{name}.rst"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


# --- the derivations page: labels, and links from its italic lines to the API and the source ----------------------
DERIVATIONS_NAME = re.compile(r"`(purevae\.[\w.]+)`")


def _slug(title: str) -> str:
    """GitHub's anchor of a Markdown title (the rule tests/test_docs.py checks the page's links with)."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def _source_link(dotted: str) -> str | None:
    """``_modules/...html#qualname`` of a documented function or method, for viewcode's page; None otherwise."""
    if dotted not in public_api.public_objects():
        return None
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):
        modname = ".".join(parts[:i])
        if modname in public_api.MODULES:
            importlib.import_module(modname)
            return f"_modules/{modname.replace('.', '/')}.html#{'.'.join(parts[i:])}"
    return None


def _link_header(line: str) -> str:
    def repl(match: re.Match) -> str:
        name = match.group(1)
        link = _source_link(name)
        if link is None:
            return match.group(0)
        return f"{{py:obj}}`{name}` <a class=\"reference external\" href=\"{link}\">[source]</a>"
    return DERIVATIONS_NAME.sub(repl, line)


def derivations_source(app, docname: str, source: list[str]) -> None:
    """Give each ``## Title`` of the derivations a label and link the names its italic first line gives."""
    if docname != "derivations":
        return
    text = source[0]
    fenced = re.compile(r"^```.*?^```", flags=re.S | re.M)
    pieces, last, out = [], 0, []
    for match in fenced.finditer(text):
        pieces.append((text[last:match.start()], False))
        pieces.append((match.group(0), True))
        last = match.end()
    pieces.append((text[last:], False))
    for piece, is_code in pieces:
        if is_code:
            out.append(piece)
            continue
        piece = re.sub(r"^## (.+)$", lambda m: f"(derivations-{_slug(m.group(1))})=\n## {m.group(1)}", piece,
                       flags=re.M)
        piece = re.sub(r"(\)=\n## .+\n\n)(\*[^\n]*(?:\n[^\n]+)*\*)\n",
                       lambda m: m.group(1) + _link_header(m.group(2)) + "\n", piece)
        out.append(piece)
    source[0] = "".join(out)


# --- docstrings: docs/derivations.md#anchor becomes a link to the section -----------------------------------------
DERIVATION_REF = re.compile(r"(``)?docs/derivations\.md#([\w-]+)(``)?")


def docstring_links(app, what, name, obj, options, lines: list[str]) -> None:
    """``docs/derivations.md#kl`` in a docstring -> a link to that section of the rendered derivations."""
    for i, line in enumerate(lines):
        lines[i] = DERIVATION_REF.sub(
            lambda m: f":ref:`docs/derivations.md#{m.group(2)} <derivations-{m.group(2)}>`", line)


def _derived_in() -> dict[str, list[tuple[str, str]]]:
    """Full dotted name -> [(section title, anchor)] of every section whose italic first line names it."""
    text = re.sub(r"^```.*?^```", "", (DOCS / "derivations.md").read_text(encoding="utf-8"), flags=re.S | re.M)
    out: dict[str, list[tuple[str, str]]] = {}
    for title, body in re.findall(r"^## (.+)\n\n(\*[^\n]*(?:\n[^\n]+)*\*)\n", text, flags=re.M):
        for name in DERIVATIONS_NAME.findall(body):
            entry = (title.strip(), _slug(title))
            if entry not in out.setdefault(re.sub(r"\(.*\)$", "", name), []):
                out[name].append(entry)
    return out


DERIVED_IN = _derived_in()


def derived_in_links(app, what, name, obj, options, lines: list[str]) -> None:
    """After numpydoc: a "Derived in" line under each function the derivations name, linking to every section."""
    sections = DERIVED_IN.get(name)
    if sections:
        links = ", ".join(f":ref:`{title} <derivations-{anchor}>`" for title, anchor in sections)
        lines += ["", ".. rubric:: Derived in", "", f"{links} (:doc:`/derivations`).", ""]


# --- the README's and RESULTS.md's paths, included into pages, become links on the site -------------------------
INCLUDED_LINKS = [
    (re.compile(r"`docs/derivations\.md#([\w-]+)`"), r"{ref}`docs/derivations.md#\1 <derivations-\1>`"),
    (re.compile(r"`docs/derivations\.md`"), r"{doc}`docs/derivations.md </derivations>`"),
    (re.compile(r"`benchmarks/RESULTS\.md`"), r"{doc}`benchmarks/RESULTS.md </results>`"),
]


def included_links(app, relative_path, parent_docname, content: list[str]) -> None:
    """In an included Markdown file, a backticked path of a page this site renders becomes a link to it."""
    if Path(relative_path).suffix != ".md":
        return
    text = content[0]
    for pattern, replacement in INCLUDED_LINKS:
        text = pattern.sub(replacement, text)
    content[0] = text


_START = time.monotonic()


def report_time(app, exception) -> None:
    if exception is None:
        print(f"purevae docs: built in {time.monotonic() - _START:.0f} s "
              f"(gallery {'run' if RUN_GALLERY else 'not run'})")


def setup(app):
    app.connect("builder-inited", write_api_pages)
    app.connect("source-read", derivations_source)
    app.connect("include-read", included_links)
    app.connect("autodoc-process-docstring", docstring_links, priority=400)
    app.connect("autodoc-process-docstring", derived_in_links, priority=600)
    app.connect("build-finished", report_time)
    return {"parallel_read_safe": True}
