"""purevae.diagnostics: active units (Burda et al. 2016) and the KL per dimension, against direct computations."""
import numpy as np
import pytest

import purevae
from purevae import diagnostics


def linear_model(seed=0):
    """hidden=() makes the encoder one dense layer: mu = x W[:, :L] + b, which the test can set by hand."""
    return purevae.VAE(4, hidden=(), n_latent=3, likelihood="gaussian", dtype="float64", seed=seed)


def test_active_units_counts_the_dimensions_whose_mean_moves_with_x(rng):
    model = linear_model()
    w = model.params["encoder.out.weight"]
    w[:, :3] = 0.0
    w[0, 0], w[1, 1] = 1.0, 0.05            # mu_0 = x_0 + b, mu_1 = 0.05 x_1 + b, mu_2 = b: constant
    x = rng.normal(0, 1, (5000, 4))
    result = diagnostics.active_units(model, x)
    # Var(x_0) = 1 and Var(0.05 x_1) = 0.0025 < 0.01; the third never moves: 1 active unit
    assert result.count == 1
    np.testing.assert_array_equal(result.active, [True, False, False])
    np.testing.assert_allclose(result.variances[:2], [np.var(x[:, 0]), 0.0025 * np.var(x[:, 1])], rtol=1e-10)
    assert result.variances[2] < 1e-20                      # a constant (up to the rounding of the mean)
    assert diagnostics.active_units(model, x, threshold=0.001).count == 2


def test_active_units_is_independent_of_the_batching(rng):
    model = purevae.VAE(6, hidden=(5,), n_latent=4, dtype="float64", seed=2)
    x = rng.random((37, 6))
    a = diagnostics.active_units(model, x, batch_size=5)
    b = diagnostics.active_units(model, x, batch_size=1000)
    np.testing.assert_allclose(a.variances, b.variances, rtol=1e-12, atol=0)


def test_kl_per_dimension_is_the_closed_form(rng):
    model = purevae.VAE(6, hidden=(5,), n_latent=4, dtype="float64", seed=3)
    x = rng.random((9, 6))
    mu, logvar = model.encode(x)
    want = np.mean(0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1), axis=0)
    np.testing.assert_allclose(diagnostics.kl_per_dimension(model, x), want, rtol=1e-13, atol=0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"threshold": -1.0}, ValueError, "threshold"),
    ({"threshold": "0.01"}, TypeError, "threshold"),
])
def test_active_units_arguments(kwargs, error, match, rng):
    with pytest.raises(error, match=match):
        diagnostics.active_units(linear_model(), rng.random((3, 4)), **kwargs)


def test_active_units_needs_two_examples(rng):
    with pytest.raises(ValueError, match="at least 2 examples"):
        diagnostics.active_units(linear_model(), rng.random((1, 4)))
