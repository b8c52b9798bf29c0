"""Numerical extremes (issue 5): huge logits and log-variances, inputs at 0 and 1, a large learning rate.

The loss and every gradient stay finite in float32 and float64 on both backends. Log-variances are
clamped to [-LOGVAR_LIMIT, LOGVAR_LIMIT] (docs/derivations.md#numerics): beyond it the loss is flat in
logvar, so its gradient is exactly 0 there, and equal on both sides of the limit.
"""
import numpy as np
import pytest

import purevae
from purevae import backend, data
from purevae.ops import LOGVAR_LIMIT

BACKENDS = ["numpy", pytest.param("cython", marks=pytest.mark.skipif(not backend.cython_available(),
                                                                      reason="extension not built"))]


@pytest.fixture(params=BACKENDS)
def impl(request, monkeypatch):
    monkeypatch.setattr(backend, "_current", request.param)
    return request.param


def all_finite(loss, grads):
    return np.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("logvar", [-100.0, 100.0])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_huge_latent_logvar_keeps_loss_and_gradients_finite(impl, dtype, logvar, likelihood, rng):
    m = purevae.VAE(8, (6,), 3, likelihood=likelihood, dtype=dtype, seed=2)
    m.params["encoder.out.bias"][3:] = logvar        # the logvar half of [mu | logvar]
    x = rng.random((5, 8))
    loss, grads = m.loss_and_grads(x, eps=rng.standard_normal((5, 3)))
    assert all_finite(loss, grads)
    # flat beyond the clamp: the loss does not change when logvar moves further out
    m.params["encoder.out.bias"][3:] = 2 * logvar
    eps = rng.standard_normal((5, 3))
    m2 = m.astype(dtype)
    m2.params["encoder.out.bias"][3:] = logvar
    assert m.loss_and_grads(x, eps=eps)[0] == m2.loss_and_grads(x, eps=eps)[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("logvar", [-100.0, 100.0])
def test_huge_decoder_logvar_keeps_gaussian_finite(impl, dtype, logvar, rng):
    m = purevae.VAE(8, (6,), 3, likelihood="gaussian", dtype=dtype, seed=2)
    m.params["decoder.logvar"][:] = logvar
    loss, grads = m.loss_and_grads(rng.random((5, 8)), eps=rng.standard_normal((5, 3)))
    assert all_finite(loss, grads)
    np.testing.assert_array_equal(grads["decoder.logvar"], 0)   # flat beyond the clamp


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("logit", [-1e4, 1e4])
def test_huge_logits_keep_bernoulli_finite(impl, dtype, logit, rng):
    m = purevae.VAE(8, (6,), 3, dtype=dtype, seed=2)
    m.params["decoder.out.bias"][:] = logit
    x = (rng.random((5, 8)) < 0.5).astype(dtype)
    loss, grads = m.loss_and_grads(x, eps=rng.standard_normal((5, 3)))
    assert all_finite(loss, grads)
    # each pixel costs |logit| nats when it disagrees with the sign of the logit, ~0 otherwise
    wrong = np.sum(x == (0 if logit > 0 else 1), axis=1).mean()
    assert abs(loss - wrong * abs(logit)) < 0.01 * abs(logit) + 100


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_inputs_exactly_zero_and_one(impl, dtype, value, rng):
    for likelihood in ("bernoulli", "gaussian"):
        m = purevae.VAE(8, (6,), 3, likelihood=likelihood, dtype=dtype, seed=2)
        loss, grads = m.loss_and_grads(np.full((4, 8), value), eps=rng.standard_normal((4, 3)))
        assert all_finite(loss, grads)
        assert np.all(np.isfinite(m.elbo(np.full((4, 8), value)))) and np.all(np.isfinite(
            m.log_likelihood(np.full((4, 8), value), k=8)))


@pytest.mark.parametrize("side", [-1, 1])
def test_logvar_gradient_is_zero_beyond_the_clamp_and_continuous_inside(impl, side):
    lv = side * np.array([[LOGVAR_LIMIT - 1e-3, LOGVAR_LIMIT + 1e-3]])
    mu_logvar = np.concatenate([np.zeros((1, 2)), lv], axis=1)
    eps, grad_z = np.ones((1, 2)), np.ones((1, 2))
    grad = backend.reparameterize_kl_backward(mu_logvar, eps, grad_z, beta=1.0, scale=1.0, impl=impl)
    sigma = np.exp(lv[0, 0] / 2)
    np.testing.assert_allclose(grad[0, 2], 0.5 * sigma + 0.5 * np.expm1(lv[0, 0]), rtol=1e-12)  # inside: formula
    assert grad[0, 3] == 0                                                                    # outside: flat
    z, kl = backend.reparameterize_kl_forward(mu_logvar, eps, impl=impl)
    limit = side * LOGVAR_LIMIT
    np.testing.assert_allclose(z[0, 1], np.exp(limit / 2), rtol=1e-12)
    np.testing.assert_allclose(kl[0], 0.5 * (np.exp(lv[0, 0]) - lv[0, 0] - 1 + np.exp(limit) - limit - 1),
                               rtol=1e-12)


def test_fixed_variance_outside_the_clamp_is_refused():
    with pytest.raises(ValueError, match="variance must lie in"):
        purevae.VAE(8, (6,), 3, likelihood="gaussian", variance=np.exp(31.0))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_learning_rate_one_tenth_stays_finite(impl, likelihood):
    ds = data.load_bundled()
    x = data.scale_pixels(ds.x_train[:1000])
    m = purevae.VAE(784, (64,), 8, likelihood=likelihood, seed=0)
    history = m.fit(x, epochs=2, batch_size=100, lr=0.1, validation_data=x[:200])
    assert all(np.isfinite(v) for v in history["loss"] + history["val_loss"])
    assert all(np.all(np.isfinite(p)) for p in m.params.values())
