"""The continuous Bernoulli (Loaiza-Ganem & Cunningham 2019) against independent computations.

- Its log-normaliser, mean and gradient against mpmath at 50 digits on a dense grid of logits that crosses
  every branch edge (ops.CB_H_TAYLOR, CB_EXP_SPLIT, CB_G_SERIES), reaches |l| = 1e4 and includes 0 and
  subnormals, within the ulp bounds derived in docs/derivations.md#continuous-bernoulli:
  log C within 7 u and the mean within 10 u relative (u = 2^-53); -log p within 4 u times the magnitudes that
  enter it plus 4 u, the gradient within 17 u (mean + x), for both twins; plus half an ulp of the result for a
  float32 model (one rounding of a double).
- The density integrates to 1 over [0, 1] and its mean is the integral of x p(x) (scipy.integrate.quad).
- The Cython kernels equal the NumPy twins (hypothesis), and the model trains on it end to end.
"""
from __future__ import annotations

import mpmath as mp  # noqa: E402  (the test extra installs it)
import numpy as np
import pytest
import scipy.integrate
from hypothesis import given
from hypothesis import strategies as st

import purevae
from purevae import backend, ops

mp.mp.dps = 50
U = 2.0 ** -53
IMPLS = ["numpy"] + (["cython"] if backend.cython_available() else [])


def _grid() -> np.ndarray:
    edges = [ops.CB_H_TAYLOR, ops.CB_EXP_SPLIT, ops.CB_G_SERIES]
    near = [np.nextafter(e, d) for e in edges for d in (0.0, np.inf)] + edges
    g = np.concatenate([[0.0, 5e-324, 1e-310, 2.2e-308, 1e-200, 1e-20, 1e-9, 1e4, np.nextafter(1e4, 0)],
                        np.geomspace(1e-12, 1e4, 1500), np.linspace(0.0, 4.0, 801), near])
    return np.unique(np.concatenate([g, -g]))


GRID = _grid()


def _mp(value) -> "mp.mpf":
    return mp.mpf(float(value))


def mp_log_c(l):
    l = _mp(l)
    if l == 0:
        return mp.log(2)
    with mp.workdps(60 + int(max(0, -mp.log10(abs(l))))):
        return +mp.log(l / mp.tanh(l / 2))


def mp_g(l):
    """d log C / dl = 1/l - 1/sinh(l), at enough digits to survive its cancellation near 0."""
    l = _mp(l)
    if l == 0:
        return mp.mpf(0)
    with mp.workdps(60 + int(2 * max(0, -mp.log10(abs(l))))):
        return +(1 / l - 1 / mp.sinh(l))


def mp_mean(l):
    l = _mp(l)
    return 1 / (1 + mp.exp(-l)) - mp_g(l)


def mp_nll(x, l):
    x, l = _mp(x), _mp(l)
    softplus = mp.log1p(mp.exp(l)) if l < 0 else l + mp.log1p(mp.exp(-l))
    return softplus - x * l - mp_log_c(l)


def _relative(got: np.ndarray, exact: list) -> np.ndarray:
    exact = np.array([float(e) for e in exact])
    return np.abs(got - exact) / np.abs(exact)


def test_log_normalizer_within_its_derived_bound_of_mpmath():
    got = ops.cb_log_normalizer(GRID)
    assert got.dtype == np.float64
    rel = _relative(got, [mp_log_c(l) for l in GRID])
    assert rel.max() <= 7 * U, f"{rel.max() / U:.1f} u at l = {GRID[rel.argmax()]}"    # derived: < 7 u
    assert ops.cb_log_normalizer(np.array([0.0]))[0] == np.log(2)                      # C(0) = 2


def test_mean_within_its_derived_bound_of_mpmath():
    got = ops.cb_mean(GRID)
    rel = _relative(got, [mp_mean(l) for l in GRID])
    assert rel.max() <= 10 * U, f"{rel.max() / U:.1f} u at l = {GRID[rel.argmax()]}"   # derived: < 10 u
    assert np.all((got > 0) & (got < 1)) and ops.cb_mean(np.array([0.0]))[0] == 0.5


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_and_gradient_per_pixel_against_mpmath(impl, dtype):
    logits = GRID.astype(dtype)
    logits = logits[np.isfinite(logits)]
    rng = np.random.default_rng(0)
    for x_value in (0.0, 1.0, None):
        x = rng.random(logits.shape).astype(dtype) if x_value is None else np.full(logits.shape, x_value, dtype)
        # one pixel per row: x (n, 1) with logits (n, 1)
        nll, grad = backend.continuous_bernoulli_nll_grad(x[:, None], logits[:, None], impl=impl)
        value_only = backend.continuous_bernoulli_nll(x[:, None], logits[:, None], impl=impl)
        np.testing.assert_array_equal(value_only, nll)                      # one formula, two kernels
        l64, x64 = logits.astype(np.float64), x.astype(np.float64)
        exact_nll = np.array([float(mp_nll(a, b)) for a, b in zip(x64, l64)])
        mean = np.array([float(mp_mean(b)) for b in l64])
        exact_grad = mean - x64
        h = np.array([float(mp_log_c(b) - mp.log1p(mp.exp(-abs(_mp(b))))) for b in l64])
        rounding = 0.5 * np.spacing(np.abs(exact_nll).astype(dtype)).astype(np.float64) if dtype == np.float32 else 0
        bound = 4 * U * (np.maximum(l64, 0) + np.abs(x64 * l64) + np.abs(h)) + 4 * U + rounding
        assert np.all(np.abs(nll.astype(np.float64) - exact_nll) <= bound), \
            np.max(np.abs(nll.astype(np.float64) - exact_nll) / bound)
        grad_rounding = 0.5 * np.spacing(np.abs(exact_grad).astype(dtype)).astype(np.float64) \
            if dtype == np.float32 else 0
        grad_bound = 17 * U * (mean + x64) + grad_rounding + 1e-300
        assert np.all(np.abs(grad[:, 0].astype(np.float64) - exact_grad) <= grad_bound), \
            np.max(np.abs(grad[:, 0].astype(np.float64) - exact_grad) / grad_bound)


@pytest.mark.parametrize("l", [0.0, 1e-9, -1e-9, 0.3, -2.0, 5.0, -30.0, 200.0])
def test_density_integrates_to_one_and_its_mean_is_cb_mean(l):
    def p(x):
        return np.exp(-backend.continuous_bernoulli_nll(np.array([[x]]), np.array([[l]]), impl="numpy")[0])
    # the density piles up at one end for large |l|: tell quad where
    points = [1.0 - 1.0 / abs(l), 1.0 / abs(l)] if abs(l) > 2 else None
    total = scipy.integrate.quad(p, 0.0, 1.0, points=points, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    mean = scipy.integrate.quad(lambda x: x * p(x), 0.0, 1.0, points=points, epsabs=1e-13, epsrel=1e-12,
                                limit=200)[0]
    assert total == pytest.approx(1.0, rel=1e-9)
    assert mean == pytest.approx(ops.cb_mean(np.array([l]))[0], rel=1e-9, abs=1e-12)


needs_cython = pytest.mark.skipif(not backend.cython_available(), reason="the Cython extension is not built")


def _sum_atol(x, logits, dtype):
    """How far two correct roundings of a row sum may differ: (n + 4) eps sum of the terms' magnitudes."""
    l64 = logits.astype(np.float64)
    b = x.shape[0]
    terms = np.abs(ops.as_blocks(l64, b)) * (1 + np.abs(x)) + np.log(1 + np.abs(ops.as_blocks(l64, b)))
    return (logits.shape[1] + 4) * np.finfo(dtype).eps * terms.sum(axis=-1).reshape(-1)


def _within(got, want, atol) -> None:
    err = np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))
    assert np.all(err <= atol), f"worst error {np.max(err / atol):.2f} times the bound"


@needs_cython
@given(batch=st.integers(1, 6), k=st.integers(1, 3), n=st.integers(1, 37), scale=st.floats(1e-3, 2.0),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_kernels_match_their_numpy_twins(batch, k, n, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, n)).astype(dtype)
    logits = (rng.normal(0, 5, (k * batch, n)) * rng.choice([1e-9, 1.0, 100.0], (k * batch, n))).astype(dtype)
    got = backend.continuous_bernoulli_nll_grad(x, logits, scale, impl="cython")
    want = backend.continuous_bernoulli_nll_grad(x, logits, scale, impl="numpy")
    _within(got[0], want[0], _sum_atol(x, logits, dtype))
    tol = {np.float32: 1e-6, np.float64: 1e-14}[dtype]
    np.testing.assert_allclose(got[1], want[1], rtol=tol, atol=tol * scale)
    _within(backend.continuous_bernoulli_nll(x, logits, impl="cython"), got[0], _sum_atol(x, logits, dtype))
    # the fused log-weight kernel: -nll + log p(z) - log q(z|x), each sample block paired with x
    n_latent = 3
    mu_logvar = rng.normal(0, 1, (batch, 2 * n_latent)).astype(dtype)
    eps = rng.normal(0, 1, (k, batch, n_latent)).astype(dtype)
    z = (mu_logvar[:, :n_latent] + np.exp(0.5 * mu_logvar[:, n_latent:]) * eps).astype(dtype)
    log_w = backend.continuous_bernoulli_log_weights(x, logits, mu_logvar, eps, z, impl="cython")
    twin = backend.continuous_bernoulli_log_weights(x, logits, mu_logvar, eps, z, impl="numpy")
    apart = ops.log_pz_minus_log_qz(mu_logvar, eps, z) - want[0].astype(np.float64).reshape(k, batch)
    atol = _sum_atol(x, logits, dtype).reshape(k, batch) + 1e-5 * (dtype == np.float32) + 1e-12
    _within(log_w, twin, atol)
    _within(log_w, apart, atol)


def test_model_decodes_to_the_mean_not_lambda():
    m = purevae.VAE(6, (5,), 2, likelihood="continuous_bernoulli", dtype="float64", seed=0)
    z = np.random.default_rng(0).normal(0, 3, (4, 2))
    logits = m.decoder.forward(m.params, z, ops)[-1]
    np.testing.assert_array_equal(m.decode(z), ops.cb_mean(logits))
    assert not np.allclose(m.decode(z), 1 / (1 + np.exp(-logits)))


def test_model_trains_and_reports_proper_nats():
    from purevae.data import load_bundled, scale_pixels
    x = scale_pixels(load_bundled().x_train[:512])
    m = purevae.VAE(784, (64,), 8, likelihood="continuous_bernoulli", seed=0)
    history = m.fit(x, epochs=3, batch_size=64)
    assert history["loss"][-1] < history["loss"][0]
    elbo, log_px = m.elbo(x[:50]), m.log_likelihood(x[:50], k=20)
    assert np.all(np.isfinite(elbo)) and np.mean(log_px) >= np.mean(elbo) - 1.0   # IW is the tighter bound
    with pytest.raises(ValueError, match="continuous Bernoulli likelihood"):
        m.fit(x[:8] * 2, epochs=1)
    with pytest.raises(ValueError, match="variance applies only"):
        purevae.VAE(4, likelihood="continuous_bernoulli", variance=0.1)


@needs_cython
@pytest.mark.parametrize("n", [511, 512, 513, 784, 1100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_rows_match_the_twin_across_the_kernel_product_blocks(n, dtype):
    """Rows longer than one 512-pixel block of the kernel's product, with the factors at both ends of their
    range (a = 1, the largest m / (1 - e^-a); a tiny; a huge), against the twin's per-pixel formula."""
    rng = np.random.default_rng(n)
    logits = rng.choice([1.0, -1.0, 1.0000001, 1e-300 if dtype == np.float64 else 1e-30, 3.0, -40.0,
                         1e4, -1e4], (3, n)).astype(dtype)
    x = rng.random((3, n)).astype(dtype)
    got = backend.continuous_bernoulli_nll_grad(x, logits, impl="cython")
    want = backend.continuous_bernoulli_nll_grad(x, logits, impl="numpy")
    _within(got[0], want[0], _sum_atol(x, logits, dtype))
    tol = {np.float32: 1e-6, np.float64: 1e-14}[dtype]
    np.testing.assert_allclose(got[1], want[1], rtol=tol, atol=tol)
