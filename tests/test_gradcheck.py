r"""Tests for purevae.gradcheck itself: the checker must be exact where it can be, and must see a wrong gradient.

* The fourth-order central difference (8 (f(+h) - f(-h)) - (f(+2h) - f(-2h))) / (12 h) is exact for
  polynomials of degree <= 4 (its truncation error is h^4 f^(5) / 30), so on one it only carries round-off.
* A gradient scaled by (1 + d) in one parameter gives that parameter a relative error d / (2 + d).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import purevae
from purevae.gradcheck import format_table, gradcheck, numeric_gradient, relative_error
from purevae.model import VAE


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_numeric_gradient_is_exact_on_quartics(seed, n):
    rng = np.random.default_rng(seed)
    coefficients = rng.normal(size=(5, n))                 # f = sum_i sum_p c_pi x_i^p, p = 0..4
    x = rng.normal(size=n)
    original = x.copy()

    def f():
        return float(np.sum(sum(coefficients[p] * x**p for p in range(5))))

    derivative = sum(p * coefficients[p] * x ** (p - 1) for p in range(1, 5))
    numeric = numeric_gradient(f, x, np.arange(n), h=1e-2)   # a large h: no truncation error to hide behind
    np.testing.assert_allclose(numeric, derivative, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(x, original)             # restored after each entry


def test_numeric_gradient_only_the_requested_entries():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    numeric = numeric_gradient(lambda: float(np.sum(x**2)), x, [3, 0])
    np.testing.assert_allclose(numeric, [8.0, 2.0], rtol=1e-10, atol=0)


def test_relative_error_formula():
    got = relative_error(np.array([1.0, 0.0, -2.0, 1e-13, 3.0]), np.array([1.1, 0.0, 2.0, 0.0, 3.0]))
    # |a - n| / max(|a| + |n|, 1e-12): 0.1 / 2.1, 0 / floor, opposite signs give 1, tiny values use the floor
    np.testing.assert_allclose(got, [0.1 / 2.1, 0.0, 1.0, 1e-13 / 1e-12, 0.0], rtol=1e-14, atol=0)


@pytest.fixture
def model():
    return VAE(4, hidden=(3,), n_latent=2, activation="tanh", likelihood="gaussian", dtype="float32", seed=0)


def test_gradcheck_passes_a_correct_model_and_leaves_it_alone(model, rng):
    before = {name: p.copy() for name, p in model.params.items()}
    errors = gradcheck(model, rng.normal(size=(3, 4)), beta=0.5)
    assert list(errors) == list(model.params)
    assert max(errors.values()) < 1e-6                     # checked through a float64 copy, though model is float32
    for name, p in model.params.items():
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p, before[name])
    assert purevae.gradcheck is gradcheck


@pytest.mark.parametrize("broken", ["encoder.0.weight", "decoder.out.bias", "decoder.logvar"])
def test_gradcheck_sees_a_gradient_off_by_one_percent(model, rng, monkeypatch, broken):
    original = VAE.loss_and_grads

    def off_by_one_percent(self, x, eps=None, beta=1.0, **objective):
        loss, grads = original(self, x, eps=eps, beta=beta, **objective)
        grads[broken] = grads[broken] * 1.01
        return loss, grads

    monkeypatch.setattr(VAE, "loss_and_grads", off_by_one_percent)
    errors = gradcheck(model, rng.normal(size=(3, 4)))
    np.testing.assert_allclose(errors[broken], 0.01 / 2.01, rtol=1e-4, atol=0)
    assert max(e for name, e in errors.items() if name != broken) < 1e-6


def test_gradcheck_subset_is_seeded(rng):
    model = VAE(12, hidden=(10,), n_latent=2, activation="softplus", dtype="float64", seed=1)
    x = rng.random((2, 12))
    a = gradcheck(model, x, max_entries=5, seed=3)
    b = gradcheck(model, x, max_entries=5, seed=3)
    assert a == b                                          # same eps, same entries
    assert max(a.values()) < 1e-6


def test_gradcheck_accepts_k_sample_eps_and_checks_its_shape(model, rng):
    x = rng.normal(size=(2, 4))
    assert max(gradcheck(model, x, eps=rng.standard_normal((3, 2, 2))).values()) < 1e-6
    with pytest.raises(ValueError, match=r"eps must have shape \(2, 2\)"):
        gradcheck(model, x, eps=rng.standard_normal((2, 3)))


def test_format_table():
    table = format_table({"encoder.0.weight": 1.234e-9, "decoder.logvar": 5e-11})
    lines = table.splitlines()
    assert lines[0].split("|")[1].strip() == "parameter" and lines[0].split("|")[2].strip() == "max relative error"
    assert set(lines[1]) <= {"|", "-"}
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["encoder.0.weight", "decoder.logvar"]
    assert [float(line.split("|")[2]) for line in lines[2:]] == [1.23e-9, 5.00e-11]


def test_numeric_gradient_refuses_an_array_it_could_not_perturb_in_place():
    """A strided or read-only array would be perturbed through a copy: every derivative would come out 0."""
    a = np.arange(12.0).reshape(3, 4)
    with pytest.raises(ValueError, match="C-contiguous"):
        numeric_gradient(lambda: float((a ** 2).sum()), a.T, [0])
    frozen = np.arange(4.0)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        numeric_gradient(lambda: 0.0, frozen, [0])
    with pytest.raises(TypeError, match="numpy.ndarray"):
        numeric_gradient(lambda: 0.0, [1.0, 2.0], [0])


def test_numeric_gradient_restores_the_array_when_f_raises():
    a = np.arange(4.0)
    calls = []

    def f():
        calls.append(a[1])
        if len(calls) == 2:
            raise RuntimeError("f failed")
        return 0.0
    with pytest.raises(RuntimeError, match="f failed"):
        numeric_gradient(f, a, [1])
    assert calls[0] != 1.0 and np.array_equal(a, np.arange(4.0))
