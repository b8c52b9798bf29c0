"""Types of the public API (issue 13, part 3): every public signature is annotated, and the workspace protocol
is the whole contract between a step and where its arrays come from.

mypy checks that the annotations are right (``mypy`` in CI, configured in pyproject.toml), including
``tests/typecheck_usage.py``, code written as a user would, whose wrong calls must be flagged.
"""
from __future__ import annotations

import importlib
import inspect

import numpy as np
import pytest

import purevae
from purevae.typing import ArraySource
from purevae.workspace import FRESH, Workspace

PUBLIC_MODULES = ["purevae", "purevae.model", "purevae.data", "purevae.plots", "purevae.diagnostics",
                  "purevae.schedules", "purevae.objectives", "purevae.likelihoods", "purevae.gradcheck", "purevae.io",
                  "purevae.text", "purevae.backend", "purevae.workspace", "purevae.latent", "purevae.mlp"]


def public_functions():
    """(qualified name, function) for every function and method of a name in a public module's ``__all__``."""
    seen = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        assert hasattr(module, "__all__"), f"{module_name} has no __all__"
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    if isinstance(value, (staticmethod, classmethod)):
                        value = value.__func__
                    if isinstance(value, property):
                        value = value.fget
                    if inspect.isfunction(value) and value.__module__.startswith("purevae"):
                        seen.setdefault(f"{obj.__module__}.{obj.__qualname__}.{attr}", value)
            elif inspect.isfunction(obj) and obj.__module__.startswith("purevae"):
                seen.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return sorted(seen.items())


def test_every_public_signature_is_annotated():
    functions = public_functions()
    assert len(functions) > 150        # the walk reaches the API (a broken walk would pass vacuously)
    missing = []
    for qualname, function in functions:
        signature = inspect.signature(function)
        for parameter in signature.parameters.values():
            if parameter.name not in ("self", "cls") and parameter.annotation is inspect.Parameter.empty:
                missing.append(f"{qualname}({parameter.name})")
        if signature.return_annotation is inspect.Signature.empty:
            missing.append(f"{qualname} -> ?")
    assert not missing, "unannotated: " + ", ".join(missing)


def test_the_optional_sklearn_module_is_annotated_too():
    pytest.importorskip("sklearn")
    from purevae.sklearn import VAEEstimator
    for name in ("__init__", "fit", "transform", "inverse_transform", "score_samples", "score", "sample",
                 "get_feature_names_out"):
        signature = inspect.signature(getattr(VAEEstimator, name))
        assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values()
                   if p.name != "self"), name
        assert signature.return_annotation is not inspect.Signature.empty, name


def test_both_workspaces_satisfy_the_protocol():
    assert isinstance(FRESH, ArraySource) and isinstance(Workspace(), ArraySource)
    assert not isinstance(object(), ArraySource)


class RecordingArrays:
    """An ArraySource written from the protocol alone: new arrays, filled with NaN, every request recorded."""

    def __init__(self):
        self.requests = []

    def array(self, key, shape, dtype):
        self.requests.append((key, tuple(shape), np.dtype(dtype)))
        return np.full(shape, np.nan, dtype)      # NaN: a piece that read before writing would show in the loss


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_any_object_with_the_protocol_serves_a_step(likelihood):
    """A step with a foreign ArraySource gives bit for bit the loss and gradients of one with FRESH."""
    model = purevae.VAE(12, hidden=(7,), n_latent=3, likelihood=likelihood, dtype="float64", seed=3)
    rng = np.random.default_rng(0)
    x = model.check_input(rng.uniform(size=(5, 12)))
    eps = model.check_eps(rng.standard_normal((5, 3)), 5)
    reference = model.step(x, eps, beta=0.7, ws=FRESH)
    recorder = RecordingArrays()
    result = model.step(x, eps, beta=0.7, ws=recorder)
    assert result.loss == reference.loss and result.kl == reference.kl
    for name, grad in reference.grads.items():
        np.testing.assert_array_equal(result.grads[name], grad, err_msg=name)
    keys = [key for key, _, _ in recorder.requests]
    assert len(keys) == len(set(keys)), "a step asked twice for the same key"
    assert all(dtype == np.float64 for key, _, dtype in recorder.requests if not key.startswith("labels"))
    assert any(key.startswith("encoder.") for key in keys) and any(key.startswith("decoder.") for key in keys)
