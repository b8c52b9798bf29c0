"""Every Cython kernel equals its NumPy twin (purevae/ops.py), called through the validating wrappers of
backend.py, over hypothesis-drawn shapes (batch 1..9), dtypes and memory layouts; the whole step and a
short ``fit`` agree on both backends; the workspace of the Cython step allocates nothing large.

Tolerances (STYLE.md section 5): RTOL = ATOL = {float32: 1e-5, float64: 1e-12} for elementwise results.
A sum over a row of n terms t_j is rounded differently by the two sides (the twin: NumPy's pairwise sum in
the array's dtype; the kernel: a running sum in double). Each side's error is bounded by the classic
gamma_n = n u / (1 - n u) times sum_j |t_j| (Higham, "Accuracy and Stability of Numerical Algorithms",
eq. 3.5), u = eps / 2, plus a few ulps per term from exp/log1p: so the two may differ by up to
(n + 4) * eps * sum_j |t_j|, which ``_sum_atol`` computes from the inputs. That bound is what float32 rows
of 784 pixels need; it is derived, not tuned.
"""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import purevae
from purevae import backend, ops
from purevae.optim import Adam
from purevae.workspace import FRESH

pytestmark = pytest.mark.skipif(not backend.cython_available(), reason="the Cython extension is not built")

RTOL = {np.float32: 1e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-5, np.float64: 1e-12}
DTYPES = st.sampled_from([np.float32, np.float64])
LAYOUTS = st.sampled_from(["C", "strided", "fortran", "readonly", "reversed"])
SEEDS = st.integers(0, 2**32 - 1)


def _layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout (the wrapper must copy or accept it)."""
    if layout == "strided":
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "reversed":  # negative strides
        return a[::-1].copy()[::-1]
    return a


def _sum_atol(terms: np.ndarray, dtype, axis: int) -> np.ndarray:
    """(n + 4) * eps * sum |t| along ``axis``: how far two correct roundings of a sum of n terms may differ."""
    n = terms.shape[axis]
    return (n + 4) * np.finfo(dtype).eps * np.sum(np.abs(terms.astype(np.float64)), axis=axis)


def _close(got, want, dtype, atol=None):
    np.testing.assert_allclose(got, want, rtol=RTOL[dtype], atol=ATOL[dtype] if atol is None else atol)


def _close_sum(got, want, terms, dtype, axis):
    """Elementwise |got - want| <= RTOL |want| + ATOL + the rounding bound of the sum that made them."""
    bound = RTOL[dtype] * np.abs(want.astype(np.float64)) + ATOL[dtype] + _sum_atol(terms, dtype, axis)
    assert np.all(np.abs(got.astype(np.float64) - want.astype(np.float64)) <= bound), (got, want, bound)


def _close_within(got, want, dtype, sum_bound):
    """As ``_close_sum``, with the sums' rounding bound given."""
    bound = RTOL[dtype] * np.abs(want.astype(np.float64)) + ATOL[dtype] + sum_bound
    assert np.all(np.abs(got.astype(np.float64) - want.astype(np.float64)) <= bound), (got, want, bound)


# ---------------------------------------------------------------------------------------------
# dense layers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", sorted(ops.ACTIVATIONS))
@given(batch=st.integers(1, 9), n=st.integers(1, 37), dtype=DTYPES, layout=LAYOUTS, seed=SEEDS)
def test_bias_activation_forward_matches_twin(activation, batch, n, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    pre, bias = rng.normal(0, 3, (batch, n)).astype(dtype), rng.normal(0, 1, n).astype(dtype)
    got = backend.bias_activation_forward(_layout(pre, layout), bias, activation, impl="cython")
    want = backend.bias_activation_forward(pre, bias, activation, impl="numpy")
    _close(got, want, dtype)
    assert got.dtype == dtype and got.shape == (batch, n)


@pytest.mark.parametrize("activation", sorted(ops.ACTIVATIONS))
@given(batch=st.integers(1, 9), n=st.integers(1, 37), dtype=DTYPES, layout=LAYOUTS, seed=SEEDS)
def test_activation_backward_bias_matches_twin(activation, batch, n, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    h = ops.activation_forward(rng.normal(0, 3, (batch, n)), activation).astype(dtype)  # a real forward output
    grad_h = rng.normal(0, 1, (batch, n)).astype(dtype)
    got_pre, got_bias = backend.activation_backward_bias(_layout(grad_h, layout), _layout(h, layout), activation,
                                                         impl="cython")
    want_pre, want_bias = backend.activation_backward_bias(grad_h, h, activation, impl="numpy")
    _close(got_pre, want_pre, dtype)
    _close_sum(got_bias, want_bias, want_pre, dtype, axis=0)


@pytest.mark.parametrize("activation, alpha", [("leaky_relu", 0.2), ("elu", 0.5)])
def test_activation_alpha_reaches_the_kernel(activation, alpha, rng):
    pre, bias = rng.normal(0, 3, (5, 11)), rng.normal(0, 1, 11)
    h = backend.bias_activation_forward(pre, bias, activation, alpha, impl="cython")
    _close(h, backend.bias_activation_forward(pre, bias, activation, alpha, impl="numpy"), np.float64)
    assert not np.allclose(h, backend.bias_activation_forward(pre, bias, activation, impl="cython"))
    grad_h = rng.normal(0, 1, h.shape)
    for got, want in zip(backend.activation_backward_bias(grad_h, h, activation, alpha, impl="cython"),
                         backend.activation_backward_bias(grad_h, h, activation, alpha, impl="numpy")):
        _close(got, want, np.float64)


# ---------------------------------------------------------------------------------------------
# likelihoods
# ---------------------------------------------------------------------------------------------
def _bernoulli_terms(x, logits):
    """Every magnitude that enters the row sum: max(l, 0), log1p(e^-|l|) and x l."""
    l64 = logits.astype(np.float64)
    return np.concatenate([np.maximum(l64, 0), np.log1p(np.exp(-np.abs(l64))), x * l64], axis=1)


@given(batch=st.integers(1, 9), n=st.integers(1, 37), dtype=DTYPES, layout=LAYOUTS, grey=st.booleans(),
       scale=st.floats(1e-3, 2.0), seed=SEEDS)
def test_bernoulli_nll_grad_matches_twin(batch, n, dtype, layout, grey, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 10, (batch, n)).astype(dtype)
    x = (rng.random((batch, n)) if grey else rng.random((batch, n)) < 0.5).astype(dtype)
    got = backend.bernoulli_nll_grad(_layout(x, layout), _layout(logits, layout), scale, impl="cython")
    want = backend.bernoulli_nll_grad(x, logits, scale, impl="numpy")
    _close_sum(got[0], want[0], _bernoulli_terms(x, logits), dtype, axis=1)
    _close(got[1], want[1], dtype)


@given(batch=st.integers(1, 9), n=st.integers(1, 37), dtype=DTYPES, layout=LAYOUTS, grey=st.booleans(), seed=SEEDS)
def test_bernoulli_nll_matches_twin_and_the_fused_kernel(batch, n, dtype, layout, grey, seed):
    """The value-only kernel against the NumPy twin (within the sum bound) and against the fused kernel's nll."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 10, (batch, n)).astype(dtype)
    x = (rng.random((batch, n)) if grey else rng.random((batch, n)) < 0.5).astype(dtype)
    got = backend.bernoulli_nll(_layout(x, layout), _layout(logits, layout), impl="cython")
    want = backend.bernoulli_nll(x, logits, impl="numpy")
    _close_sum(got, want, _bernoulli_terms(x, logits), dtype, axis=1)
    fused = backend.bernoulli_nll_grad(x, logits, impl="cython")[0]
    _close_sum(got, fused, _bernoulli_terms(x, logits), dtype, axis=1)
    np.testing.assert_array_equal(want, backend.bernoulli_nll_grad(x, logits, impl="numpy")[0])  # one formula


@given(batch=st.integers(1, 5), k=st.integers(1, 4), n=st.integers(1, 37), dtype=DTYPES, seed=SEEDS)
def test_likelihood_kernels_pair_x_with_each_block(batch, k, n, dtype, seed):
    """Output rows i B + b go with x[b]: equal to the call on x tiled k times by hand, on both backends."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, n)).astype(dtype)
    out = rng.normal(0, 3, (k * batch, n)).astype(dtype)
    logvar = rng.normal(0, 1, n).astype(dtype)
    scale = rng.random(k * batch)
    tiled = np.tile(x, (k, 1))
    for impl in ("cython", "numpy"):
        np.testing.assert_array_equal(backend.bernoulli_nll(x, out, impl=impl),
                                      backend.bernoulli_nll(tiled, out, impl=impl))
        for got, want in zip(backend.bernoulli_nll_grad(x, out, scale, impl=impl),
                             backend.bernoulli_nll_grad(tiled, out, scale, impl=impl)):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(backend.gaussian_nll(x, out, logvar, impl=impl),
                                      backend.gaussian_nll(tiled, out, logvar, impl=impl))
        for got, want in zip(backend.gaussian_nll_grad(x, out, logvar, scale, impl=impl),
                             backend.gaussian_nll_grad(tiled, out, logvar, scale, impl=impl)):
            np.testing.assert_array_equal(got, want)


def _latent_draw(rng, s, batch, n_latent, dtype):
    mu_logvar = rng.normal(0, 1, (batch, 2 * n_latent)).astype(dtype)
    mu_logvar[0, -1] = 35.0                                              # a log-variance beyond the clamp
    eps = rng.normal(0, 1, (s, batch, n_latent)).astype(dtype)
    z = (mu_logvar[:, :n_latent] + np.exp(0.5 * ops.clamp_logvar(mu_logvar[:, n_latent:])) * eps).astype(dtype)
    return mu_logvar, eps, z


@given(batch=st.integers(1, 6), s=st.integers(1, 5), n=st.integers(1, 37), n_latent=st.integers(1, 6),
       dtype=DTYPES, layout=LAYOUTS, seed=SEEDS)
def test_log_weights_match_twin_and_the_three_log_densities(batch, s, n, n_latent, dtype, layout, seed):
    """The fused log w kernels against their twins, and against log p(x|z) + log p(z) - log q(z|x) assembled
    from ops.log_prior, ops.log_posterior and the value kernels (the three densities computed apart)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((batch, n)) < 0.5).astype(dtype)
    out = rng.normal(0, 3, (s * batch, n)).astype(dtype)
    logvar = rng.normal(0, 1, n).astype(dtype)
    mu_logvar, eps, z = _latent_draw(rng, s, batch, n_latent, dtype)
    lv = ops.clamp_logvar(mu_logvar[:, n_latent:].astype(np.float64))
    latent = ops.log_prior(z.astype(np.float64)) - ops.log_posterior(lv, eps.astype(np.float64))
    latent_terms = np.concatenate([np.broadcast_to(np.abs(lv), eps.shape), eps.astype(np.float64) ** 2,
                                   z.astype(np.float64) ** 2], axis=-1)
    cases = [
        ("bernoulli", (x, out), backend.bernoulli_nll, _bernoulli_terms(np.tile(x, (s, 1)), out)),
        ("gaussian", (x, out, logvar), backend.gaussian_nll,
         0.5 * np.concatenate([np.broadcast_to(np.abs(ops.clamp_logvar(logvar.astype(np.float64))) + ops.LOG_2PI,
                                               out.shape),
                               (np.tile(x, (s, 1)).astype(np.float64) - out) ** 2
                               * np.exp(-ops.clamp_logvar(logvar.astype(np.float64)))], axis=1)),
    ]
    for name, args, nll_fn, pixel_terms in cases:
        fused = getattr(backend, f"{name}_log_weights")
        laid = [_layout(a, layout) for a in args] + [_layout(mu_logvar, layout), eps, z]
        got = fused(*laid, impl="cython")
        want = fused(*args, mu_logvar, eps, z, impl="numpy")
        atol = (_sum_atol(pixel_terms, dtype, axis=1).reshape(s, batch)
                + _sum_atol(latent_terms, dtype, axis=-1))
        _close_within(got, want, dtype, atol)
        apart = latent - nll_fn(*args, impl="numpy").astype(np.float64).reshape(s, batch)
        _close_within(got, apart, dtype, atol)
        assert got.dtype == np.float64 and got.shape == (s, batch)


@pytest.mark.parametrize("n", [511, 512, 513, 784, 1100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_nll_long_rows_match_twin(n, dtype, rng):
    logits = rng.normal(0, 4, (3, n)).astype(dtype)
    logits[0] = -30
    logits[1, ::2] = 0
    x = (rng.random((3, n)) < 0.5).astype(dtype)
    got = backend.bernoulli_nll(x, logits, impl="cython")
    _close_sum(got, backend.bernoulli_nll(x, logits, impl="numpy"), _bernoulli_terms(x, logits), dtype, axis=1)


@pytest.mark.parametrize("n", [511, 512, 513, 784, 1100])       # the product is taken into a log every 512 pixels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bernoulli_long_rows_match_twin(n, dtype, rng):
    logits = rng.normal(0, 4, (3, n)).astype(dtype)
    logits[0] = -30                                              # factors 1 + e^-30: the product barely moves
    logits[1, ::2] = 0                                           # factors 2: the product grows fastest
    x = (rng.random((3, n)) < 0.5).astype(dtype)
    got = backend.bernoulli_nll_grad(x, logits, 1 / 3, impl="cython")
    want = backend.bernoulli_nll_grad(x, logits, 1 / 3, impl="numpy")
    _close_sum(got[0], want[0], _bernoulli_terms(x, logits), dtype, axis=1)
    _close(got[1], want[1], dtype)


@pytest.mark.parametrize("dtype, ulps", [(np.float64, 4), (np.float32, 4)])
def test_bernoulli_sigmoid_of_negative_logits_within_ulps(dtype, ulps):
    """The kernels' polynomial e^-a, seen through sigmoid(-a) = e^-a / (1 + e^-a) = grad at x = 0, scale 1.

    Independent reference: e^-a / (1 + e^-a) in float64 from NumPy's exp (libm), on a dense grid of
    a over the whole range where e^-a is a normal number, plus the range ends. Relative error within a
    few ulps of the dtype; beyond the normal range the kernel flushes to 0 (documented in _kernels.pyx).
    """
    info = np.finfo(dtype)
    a_max = -np.log(info.tiny) - 1.0                     # e^-a stays a normal number with room for (1 + e)
    a = np.concatenate([np.linspace(0, a_max, 200_001), [0.0, 1e-300, 1e-8, np.log(2) / 2, np.log(2)]])
    a = a.astype(dtype)
    got = backend.bernoulli_nll_grad(np.zeros((1, a.size), dtype), -a[None, :], 1.0, impl="cython")[1][0]
    e = np.exp(-a.astype(np.float64))
    want = e / (1 + e)
    rel = np.abs(got.astype(np.float64) - want) / want
    assert rel.max() <= ulps * info.eps, f"worst {rel.max() / info.eps:.1f} ulps at a = {a[np.argmax(rel)]}"
    far = backend.bernoulli_nll_grad(np.zeros((1, 2), dtype), np.full((1, 2), -1e4, dtype), 1.0, impl="cython")[1]
    assert np.all(far >= 0) and np.all(far <= info.tiny)   # e^-1e4: zero (flushed) or at most subnormal


def test_bernoulli_known_value():
    nll, grad = backend.bernoulli_nll_grad(np.ones((1, 1)), np.zeros((1, 1)), impl="cython")
    np.testing.assert_allclose(nll, [np.log(2)], rtol=1e-15, atol=0)
    np.testing.assert_allclose(grad, [[-0.5]], rtol=1e-15, atol=0)


@given(batch=st.integers(1, 9), n=st.integers(1, 37), dtype=DTYPES, layout=LAYOUTS, scale=st.floats(1e-3, 2.0),
       seed=SEEDS)
def test_gaussian_nll_grad_matches_twin(batch, n, dtype, layout, scale, seed):
    rng = np.random.default_rng(seed)
    x, mean = rng.random((batch, n)).astype(dtype), rng.normal(0.5, 1, (batch, n)).astype(dtype)
    logvar = rng.normal(0, 1, n).astype(dtype)
    got = backend.gaussian_nll_grad(_layout(x, layout), _layout(mean, layout), logvar, scale, impl="cython")
    want = backend.gaussian_nll_grad(x, mean, logvar, scale, impl="numpy")
    squared = (x.astype(np.float64) - mean) ** 2 * np.exp(-logvar.astype(np.float64))
    row_terms = np.concatenate([np.broadcast_to(np.abs(logvar) + ops.LOG_2PI, x.shape), squared], axis=1)
    _close_sum(got[0], want[0], 0.5 * row_terms, dtype, axis=1)
    _close(got[1], want[1], dtype)
    _close_sum(got[2], want[2], 0.5 * scale * (1 + squared), dtype, axis=0)


@given(batch=st.integers(1, 9), n=st.integers(1, 37), dtype=DTYPES, layout=LAYOUTS, seed=SEEDS)
def test_gaussian_nll_matches_twin_and_the_fused_kernel(batch, n, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x, mean = rng.random((batch, n)).astype(dtype), rng.normal(0.5, 1, (batch, n)).astype(dtype)
    logvar = rng.normal(0, 1, n).astype(dtype)
    logvar[0] = 40.0                                                    # beyond the clamp
    got = backend.gaussian_nll(_layout(x, layout), _layout(mean, layout), logvar, impl="cython")
    want = backend.gaussian_nll(x, mean, logvar, impl="numpy")
    lv = ops.clamp_logvar(logvar.astype(np.float64))
    squared = (x.astype(np.float64) - mean) ** 2 * np.exp(-lv)
    row_terms = 0.5 * np.concatenate([np.broadcast_to(np.abs(lv) + ops.LOG_2PI, x.shape), squared], axis=1)
    _close_sum(got, want, row_terms, dtype, axis=1)
    _close_sum(got, backend.gaussian_nll_grad(x, mean, logvar, impl="cython")[0], row_terms, dtype, axis=1)
    np.testing.assert_array_equal(want, backend.gaussian_nll_grad(x, mean, logvar, impl="numpy")[0])


# ---------------------------------------------------------------------------------------------
# reparameterization and KL
# ---------------------------------------------------------------------------------------------
@given(batch=st.integers(1, 9), n_latent=st.integers(1, 17), dtype=DTYPES, layout=LAYOUTS, seed=SEEDS)
def test_reparameterize_kl_forward_matches_twin(batch, n_latent, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    mu_logvar = rng.normal(0, 2, (batch, 2 * n_latent)).astype(dtype)
    eps = rng.standard_normal((batch, n_latent)).astype(dtype)
    z, kl = backend.reparameterize_kl_forward(_layout(mu_logvar, layout), _layout(eps, layout), impl="cython")
    z_want, kl_want = backend.reparameterize_kl_forward(mu_logvar, eps, impl="numpy")
    _close(z, z_want, dtype)
    mu, logvar = mu_logvar[:, :n_latent].astype(np.float64), mu_logvar[:, n_latent:].astype(np.float64)
    terms = np.concatenate([mu * mu, np.exp(logvar), np.abs(logvar), np.ones_like(mu)], axis=1)
    _close_sum(kl, kl_want, 0.5 * terms, dtype, axis=1)


@given(batch=st.integers(1, 9), n_latent=st.integers(1, 17), dtype=DTYPES, layout=LAYOUTS,
       beta=st.floats(0, 4), seed=SEEDS)
def test_reparameterize_kl_backward_matches_twin(batch, n_latent, dtype, layout, beta, seed):
    rng = np.random.default_rng(seed)
    mu_logvar = rng.normal(0, 2, (batch, 2 * n_latent)).astype(dtype)
    eps, grad_z = (rng.standard_normal((batch, n_latent)).astype(dtype) for _ in range(2))
    got = backend.reparameterize_kl_backward(_layout(mu_logvar, layout), _layout(eps, layout),
                                             _layout(grad_z, layout), beta, 1 / batch, impl="cython")
    want = backend.reparameterize_kl_backward(mu_logvar, eps, grad_z, beta, 1 / batch, impl="numpy")
    # e^logvar - 1 near logvar = 0: the twin's expm1 and the kernel's sigma^2 - 1 differ by ~eps absolute
    _close(got, want, dtype, atol=ATOL[dtype] * max(1.0, beta))


# ---------------------------------------------------------------------------------------------
# optimizers
# ---------------------------------------------------------------------------------------------
@given(n=st.integers(1, 300), steps=st.integers(1, 5), dtype=DTYPES, layout=LAYOUTS, seed=SEEDS)
def test_adam_update_matches_twin(n, steps, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    param = rng.normal(0, 1, n).astype(dtype)
    state = {impl: (param.copy(), np.zeros_like(param), np.zeros_like(param)) for impl in ("cython", "numpy")}
    for t in range(1, steps + 1):
        grad = rng.normal(0, 1, n).astype(dtype)
        for impl, (p, m, v) in state.items():
            backend.adam_update(p, _layout(grad, layout), m, v, 1e-2, step=t, impl=impl)
    for got, want in zip(state["cython"], state["numpy"]):
        _close(got, want, dtype)


@given(n=st.integers(1, 300), dtype=DTYPES, layout=LAYOUTS, seed=SEEDS)
def test_sgd_momentum_update_matches_twin(n, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    param = rng.normal(0, 1, n).astype(dtype)
    state = {impl: (param.copy(), np.zeros_like(param)) for impl in ("cython", "numpy")}
    for _ in range(3):
        grad = rng.normal(0, 1, n).astype(dtype)
        for impl, (p, velocity) in state.items():
            backend.sgd_momentum_update(p, _layout(grad, layout), velocity, 1e-2, impl=impl)
    for got, want in zip(state["cython"], state["numpy"]):
        _close(got, want, dtype)


@pytest.mark.parametrize("dtype, exponents", [(np.float32, (-24, -14)), (np.float64, (-170, -150))])
def test_adam_flush_matches_twin_over_many_steps(dtype, exponents, rng):
    """The kernel flushes m and v to 0 below the normal range; the NumPy twin keeps IEEE subnormals.

    Half of the entries get gradients of ordinary size, the other half gradients so small that g^2 (1 - beta2)
    is subnormal, then zero gradients, so that m and v decay through the subnormal range. After 600 steps the
    parameters, m and v agree within float tolerance (m and v within the smallest normal number).
    """
    n = 64
    tiny = np.finfo(dtype).tiny                                   # smallest normal number
    param = rng.normal(0, 1, n).astype(dtype)
    state = {impl: (param.copy(), np.zeros_like(param), np.zeros_like(param)) for impl in ("cython", "numpy")}
    ordinary = np.arange(n) < n // 2
    for t in range(1, 601):
        grad = rng.normal(0, 1, n)
        grad[~ordinary] *= 10.0 ** rng.uniform(*exponents, (~ordinary).sum())
        if t > 20:
            grad[~ordinary] = 0                                   # the moments of these entries only decay now
        grad = grad.astype(dtype)
        for impl, (p, m, v) in state.items():
            backend.adam_update(p, grad, m, v, 1e-3, step=t, impl=impl)
    (p_cy, m_cy, v_cy), (p_np, m_np, v_np) = state["cython"], state["numpy"]
    _close(p_cy, p_np, dtype)
    np.testing.assert_allclose(m_cy, m_np, rtol=RTOL[dtype], atol=tiny)
    np.testing.assert_allclose(v_cy, v_np, rtol=RTOL[dtype], atol=tiny)
    subnormal = lambda a: (a != 0) & (np.abs(a) < tiny)          # noqa: E731
    assert subnormal(v_np).any() or subnormal(m_np).any(), "the test did not reach the subnormal range"
    assert not subnormal(m_cy).any() and not subnormal(v_cy).any()


# ---------------------------------------------------------------------------------------------
# the whole step and fit on both backends
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def restore_backend():
    name = backend.get_backend()
    yield
    backend.set_backend(name)


def _small_model(dtype, likelihood="bernoulli", activation="relu", **kwargs):
    return purevae.VAE(n_input=23, hidden=(13, 7), n_latent=3, likelihood=likelihood, activation=activation,
                       dtype=dtype, seed=3, **kwargs)


def _grads_close(got: dict, want: dict, dtype):
    assert list(got) == list(want)
    for name in want:
        # each gradient is a GEMM sum over the batch and a layer's width of kernel outputs that agree to
        # RTOL: compare relative to the gradient's own scale
        scale = max(1.0, float(np.max(np.abs(want[name]))))
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL[dtype], atol=ATOL[dtype] * scale * 10,
                                   err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("likelihood, activation, extra", [
    ("bernoulli", "relu", {}), ("bernoulli", "tanh", {}), ("bernoulli", "softplus", {}),
    ("bernoulli", "leaky_relu", {}), ("bernoulli", "elu", {}), ("gaussian", "relu", {}),
    ("gaussian", "tanh", {"variance": 0.1})])
@pytest.mark.parametrize("batch", [1, 6])
def test_loss_and_grads_equal_on_both_backends(dtype, likelihood, activation, extra, batch, rng, restore_backend):
    model = _small_model(dtype, likelihood, activation, **extra)
    x = rng.random((batch, 23))
    eps = rng.standard_normal((batch, 3))
    results = {}
    for name in ("numpy", "cython"):
        backend.set_backend(name)
        results[name] = model.loss_and_grads(x, eps=eps, beta=0.7)
    tol = np.dtype(dtype).type
    np.testing.assert_allclose(results["cython"][0], results["numpy"][0], rtol=RTOL[tol], atol=ATOL[tol])
    _grads_close(results["cython"][1], results["numpy"][1], tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_k_sample_step_equal_on_both_backends(dtype, rng, restore_backend):
    model = _small_model(dtype)
    x, eps = rng.random((4, 23)), rng.standard_normal((3, 4, 3))
    out = {}
    for name in ("numpy", "cython"):
        backend.set_backend(name)
        out[name] = model.step(model.check_input(x), model.check_eps(eps, 4), 1.0, model.workspace(4))
    tol = np.dtype(dtype).type
    np.testing.assert_allclose(out["cython"][0], out["numpy"][0], rtol=RTOL[tol], atol=ATOL[tol])
    _grads_close(out["cython"][3], out["numpy"][3], tol)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-9), ("float32", 1e-4)])
def test_fit_20_steps_close_on_both_backends(dtype, rtol, rng, restore_backend):
    """20 Adam steps of fit (8 examples x 20 batches). Adam divides by sqrt(v): a gradient entry near 0 whose
    last bits differ can move its parameter by up to lr per step, so the comparison is against the parameter
    scale, atol = rtol, with rtol a few hundred ulps of the dtype's RTOL budget over 20 steps."""
    x = rng.random((160, 23))
    params = {}
    for name in ("numpy", "cython"):
        backend.set_backend(name)
        model = _small_model(dtype)
        model.fit(x, epochs=1, batch_size=8, lr=1e-3, shuffle=True)
        assert model.steps_trained == 20
        params[name] = model.params
    for key in params["numpy"]:
        np.testing.assert_allclose(params["cython"][key], params["numpy"][key], rtol=rtol, atol=rtol, err_msg=key)


# ---------------------------------------------------------------------------------------------
# the workspace
# ---------------------------------------------------------------------------------------------
def test_public_loss_and_grads_returns_arrays_the_caller_owns(rng, restore_backend):
    backend.set_backend("cython")
    model = _small_model("float64")
    x = rng.random((5, 23))
    _, first = model.loss_and_grads(x, eps=rng.standard_normal((5, 3)))
    kept = {k: v.copy() for k, v in first.items()}
    model.step(model.check_input(x), None, 1.0, model.workspace(5))   # the training step reuses its workspace
    model.loss_and_grads(x)
    for name in kept:
        np.testing.assert_array_equal(first[name], kept[name], err_msg=name)


def test_training_step_reuses_its_workspace(rng, restore_backend):
    backend.set_backend("cython")
    model = _small_model("float32")
    x = model.check_input(rng.random((5, 23)))
    grads1 = model.step(x, None, 1.0, model.workspace(5)).grads
    grads2 = model.step(x, None, 1.0, model.workspace(5)).grads
    assert all(grads1[k] is grads2[k] for k in grads1)
    backend.set_backend("numpy")                              # the workspace is the caller's choice, not the backend's
    grads3 = model.step(x, None, 1.0, model.workspace(5)).grads
    assert all(grads3[k] is grads2[k] for k in grads2)
    grads4 = model.step(x, None, 1.0, FRESH).grads                 # FRESH: new arrays every time
    assert not any(grads4[k] is grads2[k] for k in grads2)


def test_workspace_keeps_a_few_batch_sizes(rng, restore_backend):
    backend.set_backend("cython")
    model = _small_model("float32")
    for batch in range(1, 9):
        model.step(model.check_input(rng.random((batch, 23))), None, 1.0, model.workspace(batch))
    assert model.workspaces.sizes() == [5, 6, 7, 8]


def test_workspace_draws_the_same_noise_as_a_fresh_step(rng, restore_backend):
    """The workspace path draws eps into a buffer: the generator stream must be the one of the plain path."""
    x = rng.random((6, 23))
    losses = {}
    for name in ("numpy", "cython"):
        backend.set_backend(name)
        model = _small_model("float64")
        losses[name] = [model.step(model.check_input(x), None, 1.0, model.workspace(6)).loss for _ in range(3)]
    np.testing.assert_allclose(losses["cython"], losses["numpy"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_steady_state_training_step_allocates_no_large_array(dtype, restore_backend):
    """tracemalloc (NumPy reports its buffers to it): a Cython training step after warm-up allocates less
    than one (batch, n_input) array, the smallest large array of the step."""
    backend.set_backend("cython")
    batch = 64
    model = purevae.VAE(n_input=200, hidden=(50,), n_latent=5, dtype=dtype, seed=0)
    model.optimizer = Adam(1e-3)
    x = model.check_input((np.random.default_rng(0).random((batch, 200)) < 0.3).astype(dtype))
    for _ in range(3):
        model.optimizer.step(model.params, model.step(x, None, 1.0, model.workspace(batch)).grads)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        model.optimizer.step(model.params, model.step(x, None, 1.0, model.workspace(batch)).grads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < x.nbytes, f"a step allocated {peak - before} bytes at its peak"


def test_fit_epoch_gathers_batches_without_new_arrays(restore_backend):
    """fit gathers each batch into a workspace array (np.take(out=)): a whole warm epoch of the Cython path
    peaks below one batch, whereas fancy indexing would allocate a batch per step."""
    backend.set_backend("cython")
    batch, n = 256, 2048                                    # 8 full batches: one batch size, one workspace
    model = purevae.VAE(n_input=200, hidden=(50,), n_latent=5, dtype="float32", seed=0)
    x = model.check_input((np.random.default_rng(0).random((n, 200)) < 0.3).astype(np.float32))
    model.fit(x, epochs=1, batch_size=batch)                # warm-up: workspace, optimizer state, history lists
    one_batch = batch * 200 * x.itemsize
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        model.fit(x, epochs=1, batch_size=batch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - before < one_batch // 2, f"an epoch allocated {peak - before} bytes at its peak"
