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


# ------------------------------------------------------------------------------------------------
# mutual information and the report
# ------------------------------------------------------------------------------------------------
def linear_gaussian(weights_mu, bias_mu, logvar):
    """A model whose encoder is mu = x W + b, logvar a constant vector: with x ~ N(0, I), q(z|x) and the
    aggregate posterior q(z) = N(b, W^T W + S), S = diag(e^logvar), are Gaussian, and
    I(x; z) = H(q(z)) - E_x H(q(z|x)) = 0.5 log det(W^T W + S) - 0.5 log det S (docs/derivations.md#latent-health)."""
    n_input, n_latent = weights_mu.shape
    model = purevae.VAE(n_input, hidden=(), n_latent=n_latent, likelihood="gaussian", dtype="float64", seed=0)
    model.params["encoder.out.weight"][...] = 0.0
    model.params["encoder.out.weight"][:, :n_latent] = weights_mu
    model.params["encoder.out.bias"][...] = np.concatenate([bias_mu, logvar])
    s = np.diag(np.exp(logvar))
    exact = 0.5 * np.linalg.slogdet(weights_mu.T @ weights_mu + s)[1] - 0.5 * np.linalg.slogdet(s)[1]
    return model, exact


def test_mutual_information_converges_to_the_linear_gaussian_closed_form():
    weights = np.array([[1.0, 0.2], [0.3, -0.8], [0.0, 0.5]])
    model, exact = linear_gaussian(weights, np.array([0.5, -1.0]), np.log([0.3, 1.5]))
    assert exact == pytest.approx(1.00761444668, abs=1e-10)         # the formula, evaluated once by hand here
    errors = {}
    for n in (250, 4000):
        estimates = [diagnostics.mutual_information(model, np.random.default_rng(100 + r).standard_normal((n, 3)),
                                                    rng=r) for r in range(4)]
        errors[n] = abs(np.mean(estimates) - exact)
        spread = np.std(estimates, ddof=1) / np.sqrt(len(estimates))  # the standard error of the mean estimate
        # within 4 standard errors, plus the O(1/N) finite-sample bias (about 0.01 nats at N = 250, measured)
        assert errors[n] <= 4 * spread + 3.0 / n, (n, estimates, exact)
    assert errors[4000] < 0.03


def test_mutual_information_is_at_most_log_n_and_zero_for_a_collapsed_encoder(rng):
    # every x gets the same posterior: the aggregate is that posterior and I(x; z) = 0, up to the Monte Carlo
    # error of one draw per example (sd of log q(z|x) for L = 2 is sqrt(L / 2) = 1, so about 1 / sqrt(N))
    model, exact = linear_gaussian(np.zeros((3, 2)), np.zeros(2), np.zeros(2))
    assert exact == 0.0
    x = rng.standard_normal((4000, 3))
    assert abs(diagnostics.mutual_information(model, x, rng=1)) < 4 / np.sqrt(4000)
    # far-apart posteriors: the estimate saturates at log N
    model, _ = linear_gaussian(np.array([[50.0, 0.0], [0.0, 50.0], [0.0, 0.0]]), np.zeros(2), np.log([1e-4, 1e-4]))
    x = rng.standard_normal((300, 3))
    mi = diagnostics.mutual_information(model, x, rng=2)
    assert mi <= np.log(300) + 1e-9 and mi > np.log(300) - 0.01


def test_latent_report_marks_dimensions_switched_off_by_hand(rng):
    weights = rng.normal(0, 1, (4, 5))
    weights[:, [1, 3]] = 0.0                                          # no path from x to mu_1 and mu_3
    logvar = rng.normal(-1, 0.3, 5)
    logvar[[1, 3]] = 0.0                                              # and the prior's variance: q = N(0, 1)
    model, _ = linear_gaussian(weights, np.where(np.isin(np.arange(5), [1, 3]), 0.0, 0.2), logvar)
    x = rng.standard_normal((2000, 4))
    report = diagnostics.latent_report(model, x, rng=0)
    np.testing.assert_array_equal(report["active"], [True, False, True, False, True])
    assert report["active_units"] == 3 and report["n_examples"] == 2000 and report["threshold"] == 0.01
    assert report["kl_per_dimension"][1] == 0.0 and report["kl_per_dimension"][3] == 0.0   # KL(N(0,1)||N(0,1))
    mu = x @ weights + np.where(np.isin(np.arange(5), [1, 3]), 0.0, 0.2)
    want_kl = np.mean(0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1), axis=0)
    np.testing.assert_allclose(report["kl_per_dimension"], want_kl, rtol=1e-12, atol=1e-15)
    assert report["kl"] == pytest.approx(want_kl.sum(), rel=1e-12)
    np.testing.assert_allclose(report["variances"], np.var(mu, axis=0), rtol=1e-10, atol=1e-20)
    assert report["mutual_information_max"] == pytest.approx(np.log(2000))
    assert report["mutual_information"] == diagnostics.mutual_information(model, x, rng=0)


@pytest.mark.parametrize("call, error, match", [
    (lambda m, x: diagnostics.latent_report(m, x[:1]), ValueError, "at least 2 examples"),
    (lambda m, x: diagnostics.mutual_information(m, x[:1]), ValueError, "at least 2 examples"),
    (lambda m, x: diagnostics.latent_report(m, x, threshold=-1), ValueError, "threshold"),
    (lambda m, x: diagnostics.latent_report(m, x, batch_size=0), ValueError, "batch_size"),
    (lambda m, x: diagnostics.latent_report(m, x, rng="seed"), TypeError, "rng"),
    (lambda m, x: diagnostics.mutual_information(m, x[:, :2]), ValueError, "x"),
])
def test_report_arguments(call, error, match, rng):
    with pytest.raises(error, match=match):
        call(linear_model(), rng.normal(0, 1, (10, 4)))
