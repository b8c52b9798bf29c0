"""Every example in a docstring of a public purevae module runs as a doctest, and gives what it shows.

The modules are those of the API reference (``docs/public_api.py``). An example is run with NumPy as ``np``
in its globals, printing with ``np.set_printoptions(legacy=False)`` defaults, and ELLIPSIS and
NORMALIZE_WHITESPACE on (an example may elide digits that vary with BLAS with ``...``). Examples that draw
need matplotlib (the ``plot`` extra, installed in CI); examples that need another optional package say so
with a ``# doctest: +SKIP`` only when that package is not a test dependency.
"""
from __future__ import annotations

import doctest
import importlib
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
from public_api import MODULES  # noqa: E402

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(modname: str) -> list[doctest.DocTest]:
    module = importlib.import_module(modname)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module, modname, globs={"np": np}) if t.examples]


@pytest.mark.parametrize("modname", MODULES)
def test_docstring_examples_run(modname, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)           # an example that writes a file writes it here
    tests = _examples(modname)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # as the suite: an example that warns is a failing example
        for test in tests:
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {modname} failed (output above)"


def test_the_package_has_a_runnable_example():
    """The package's own docstring shows a whole run; it must be there and be run, not skipped."""
    tests = _examples("purevae")
    assert sum(len(t.examples) for t in tests) >= 4
    assert not any(ex.options.get(doctest.SKIP) for t in tests for ex in t.examples)


def test_every_public_docstring_passes_numpydoc_validation():
    """The checks the site's build runs (docs/conf.py: every numpydoc check but docs/public_api.py's exclusions)."""
    import numpydoc.validate
    from public_api import EXCLUDED_CHECKS, problems, public_objects

    assert len(public_objects()) > 300          # the walk did find the API
    found = problems(set(numpydoc.validate.ERROR_MSGS) - set(EXCLUDED_CHECKS))
    assert found == [], "\n".join(found)
