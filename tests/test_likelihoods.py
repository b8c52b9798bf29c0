r"""Tests for purevae.likelihoods: -log p(x|z) and its gradient for the Bernoulli and Gaussian families.

Values come from hand derivations and scipy (log 2 at logit 0, the direct cross-entropy where it is
finite, scipy.stats.norm.logpdf); gradients from float64 central differences (relative error < 1e-6).
The likelihoods are called with the kernel module of the current backend (Cython when it is built),
the way the model calls them.
"""
import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from purevae import backend
from purevae.gradcheck import numeric_gradient, relative_error
from purevae.likelihoods import Bernoulli, Gaussian, make_likelihood

GRAD_RTOL = 1e-6
H = 1e-4
seeds = st.integers(0, 2**32 - 1)


def nll_grad(likelihood, x, out, params=None, scale=1.0):
    x, out = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(out, dtype=np.float64)
    return likelihood.nll_grad(x, out, params or {}, scale, backend.kernels())


def max_grad_error(loss, array, analytic):
    """The worst |a - n| / max(|a| + |n|, 1e-3): relative, except that entries below 1e-3 are held to an
    absolute 1e-9 (GRAD_RTOL * 1e-3). The central difference's own truncation, h^2 / 6 times the third
    derivative, is at most 1.6e-10 for the Bernoulli (|sigmoid''| <= 0.0962), so a gradient entry of 3e-6
    (sigmoid(l) close to x) cannot be checked to 1e-6 relative: it failed so for seed 1467413."""
    numeric = numeric_gradient(loss, array, np.arange(array.size), H)
    return float(np.max(relative_error(analytic.reshape(-1), numeric, floor=1e-3)))


# ------------------------------------------------------------------------------------------------
# Bernoulli
# ------------------------------------------------------------------------------------------------
def test_bernoulli_logit_zero_gives_log_two_per_pixel():
    # p = sigmoid(0) = 1/2, so -log p(x=1) = -log(1/2) = log 2 for each of the 5 pixels
    nll, grad, extra = nll_grad(Bernoulli(), np.ones((2, 5)), np.zeros((2, 5)))
    np.testing.assert_allclose(nll, [5 * np.log(2)] * 2, rtol=1e-15, atol=0)
    np.testing.assert_allclose(grad, np.full((2, 5), -0.5), rtol=1e-15, atol=0)   # sigmoid(0) - 1
    assert extra == {}


@given(batch=st.integers(1, 4), n=st.integers(1, 6), seed=seeds, grey=st.booleans())
def test_bernoulli_equals_the_direct_cross_entropy(batch, n, seed, grey):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 4, (batch, n))
    x = rng.random((batch, n)) if grey else (rng.random((batch, n)) < 0.5).astype(float)
    p = scipy.special.expit(logits)
    direct = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)   # finite: |logits| < ~40
    nll, grad, _ = nll_grad(Bernoulli(), x, logits)
    # the direct formula is the inaccurate one: p carries a rounding error of u p, so log p and log(1 - p)
    # are off by up to u / min(p, 1 - p) each (u = 2.2e-16); allow 4 times that, summed over the pixels
    direct_error = 4 * np.finfo(np.float64).eps * np.sum(1 / np.minimum(p, 1 - p), axis=1)
    assert np.all(np.abs(nll - direct) <= direct_error + 1e-14 * np.abs(direct)), (nll - direct, direct_error)
    np.testing.assert_allclose(grad, p - x, rtol=1e-12, atol=1e-15)
    log_prob = Bernoulli().log_prob(x, logits, {})
    assert np.all(np.abs(-log_prob - direct) <= direct_error + 1e-14 * np.abs(direct)), (-log_prob - direct)
    np.testing.assert_allclose(-log_prob, nll, rtol=1e-13, atol=1e-13)   # the two stable formulas agree


def test_bernoulli_has_no_overflow_at_huge_logits():
    logits = np.array([[1e4, 1e4, -1e4, -1e4]])
    x = np.array([[0.0, 1.0, 0.0, 1.0]])
    nll, grad, _ = nll_grad(Bernoulli(), x, logits)
    # pixel by pixel: log(1 + e^l) - x l = 1e4, 0, 0, 1e4
    np.testing.assert_allclose(nll, [2e4], rtol=1e-15, atol=0)
    np.testing.assert_allclose(grad, [[1.0, 0.0, 0.0, -1.0]], rtol=0, atol=1e-300)   # sigmoid(l) - x
    assert np.all(np.isfinite(grad))
    # one pixel at a time: l = 1e4 costs 1e4 nats for x = 0 and nothing for x = 1
    np.testing.assert_array_equal(nll_grad(Bernoulli(), np.array([[0.0]]), np.array([[1e4]]))[0], [1e4])
    np.testing.assert_array_equal(nll_grad(Bernoulli(), np.array([[1.0]]), np.array([[1e4]]))[0], [0.0])
    np.testing.assert_allclose(Bernoulli().log_prob(x, logits, {}), -nll, rtol=1e-15, atol=0)


@given(batch=st.integers(1, 4), n=st.integers(1, 6), seed=seeds, scale=st.sampled_from([1.0, 0.5, 1 / 3]))
def test_bernoulli_gradient_matches_central_differences(batch, n, seed, scale):
    rng = np.random.default_rng(seed)
    logits, x = rng.normal(0, 3, (batch, n)), rng.random((batch, n))

    def loss():
        return float(scale * np.sum(nll_grad(Bernoulli(), x, logits, scale=scale)[0]))

    grad = nll_grad(Bernoulli(), x, logits, scale=scale)[1]
    assert max_grad_error(loss, logits, grad) < GRAD_RTOL


def test_bernoulli_mean_is_sigmoid_and_support_is_checked():
    np.testing.assert_allclose(Bernoulli().mean(np.array([[0.0, np.log(3)]]), {}), [[0.5, 0.75]], rtol=1e-15, atol=0)
    Bernoulli().check_data(np.array([[0.0, 0.3, 1.0]]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        Bernoulli().check_data(np.array([[0.5, 1.5]]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        Bernoulli().check_data(np.array([[-0.1]]))


# ------------------------------------------------------------------------------------------------
# Gaussian
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variance", [None, 0.3, 2.0])
def test_gaussian_nll_matches_scipy(rng, variance):
    likelihood = Gaussian(variance)
    x, mean = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    params = {}
    if variance is None:
        params = {"decoder.logvar": rng.normal(0, 1, 4)}
        sd = np.exp(0.5 * params["decoder.logvar"])
    else:
        sd = np.sqrt(variance)
    want = -np.sum(scipy.stats.norm.logpdf(x, mean, sd), axis=1)
    nll, grad_mean, extra = nll_grad(likelihood, x, mean, params)
    np.testing.assert_allclose(nll, want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(likelihood.log_prob(x, mean, params), -want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(grad_mean, (mean - x) / sd**2, rtol=1e-12, atol=1e-15)
    assert set(extra) == ({"decoder.logvar"} if variance is None else set())


@given(batch=st.integers(1, 4), n=st.integers(1, 6), seed=seeds, scale=st.sampled_from([1.0, 0.25]))
def test_gaussian_learned_variance_gradients_match_central_differences(batch, n, seed, scale):
    rng = np.random.default_rng(seed)
    x, mean = rng.normal(size=(batch, n)), rng.normal(size=(batch, n))
    params = {"decoder.logvar": rng.normal(0, 1, n)}
    likelihood = Gaussian()

    def loss():
        return float(scale * np.sum(nll_grad(likelihood, x, mean, params, scale)[0]))

    _, grad_mean, extra = nll_grad(likelihood, x, mean, params, scale)
    assert max_grad_error(loss, mean, grad_mean) < GRAD_RTOL
    assert max_grad_error(loss, params["decoder.logvar"], extra["decoder.logvar"]) < GRAD_RTOL


@given(batch=st.integers(1, 4), n=st.integers(1, 6), seed=seeds, variance=st.floats(0.05, 5.0))
def test_gaussian_fixed_variance_gradient_matches_central_differences(batch, n, seed, variance):
    rng = np.random.default_rng(seed)
    x, mean = rng.normal(size=(batch, n)), rng.normal(size=(batch, n))
    likelihood = Gaussian(variance)

    def loss():
        return float(np.sum(nll_grad(likelihood, x, mean)[0]))

    _, grad_mean, extra = nll_grad(likelihood, x, mean)
    assert extra == {}
    assert max_grad_error(loss, mean, grad_mean) < GRAD_RTOL


def test_gaussian_learned_variance_adds_a_zero_logvar_parameter():
    extra = Gaussian().extra_params(7, np.dtype("float32"))
    assert list(extra) == ["decoder.logvar"]
    assert extra["decoder.logvar"].dtype == np.float32
    np.testing.assert_array_equal(extra["decoder.logvar"], np.zeros(7))
    assert Gaussian(0.5).extra_params(7, np.dtype("float32")) == {}


def test_gaussian_mean_is_the_output():
    out = np.array([[0.25, -3.0]])
    np.testing.assert_array_equal(Gaussian().mean(out, {}), out)


# ------------------------------------------------------------------------------------------------
# construction
# ------------------------------------------------------------------------------------------------
def test_make_likelihood_and_config_round_trip():
    for likelihood in (make_likelihood("bernoulli"), make_likelihood("gaussian"), make_likelihood("gaussian", 0.5)):
        rebuilt = make_likelihood(**likelihood.config())
        assert type(rebuilt) is type(likelihood) and rebuilt.config() == likelihood.config()
    assert make_likelihood("gaussian", 0.5).variance == 0.5
    assert make_likelihood("gaussian").learned


@pytest.mark.parametrize("kwargs, match", [
    ({"likelihood": "poisson"}, "likelihood must be one of"),
    ({"likelihood": "bernoulli", "variance": 1.0}, "variance applies only"),
    ({"likelihood": "gaussian", "variance": 0.0}, "variance must be a finite number > 0"),
    ({"likelihood": "gaussian", "variance": -1.0}, "variance must be a finite number > 0"),
    ({"likelihood": "gaussian", "variance": float("nan")}, "variance must be a finite number > 0"),
])
def test_make_likelihood_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_likelihood(**kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("impl", ["numpy", pytest.param("cython", marks=pytest.mark.skipif(
    not backend.cython_available(), reason="extension not built"))])
def test_both_backends_survive_huge_logits_in_both_dtypes(impl, dtype):
    logits = np.array([[1e4, 1e4, -1e4, -1e4, 0.0]], dtype=dtype)
    x = np.array([[0.0, 1.0, 0.0, 1.0, 1.0]], dtype=dtype)
    nll, grad = backend.bernoulli_nll_grad(x, logits, impl=impl)
    # 1e4 + 0 + 0 + 1e4 + log 2
    np.testing.assert_allclose(nll, [2e4 + np.log(2)], rtol=np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(grad, [[1.0, 0.0, 0.0, -1.0, -0.5]], rtol=0, atol=np.finfo(dtype).tiny)


# ------------------------------------------------------------------------------------------------
# k blocks of rows paired with one x (the k samples of z per example): no copy of x
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("likelihood", [Bernoulli(), Gaussian(), Gaussian(variance=0.3)],
                         ids=lambda l: repr(l.config()))
@pytest.mark.parametrize("k", [1, 2, 5])
def test_blocks_equal_the_tiled_call(likelihood, k, rng):
    """nll / nll_grad on k blocks with one x equal the call on x tiled k times by hand (one block each)."""
    batch, n = 3, 7
    x = rng.random((batch, n))
    out = rng.normal(0, 2, (k * batch, n))
    params = {"decoder.logvar": rng.normal(0, 0.5, n)}
    scale = rng.random(k * batch)
    tiled = np.tile(x, (k, 1))                                  # row i B + b is x[b]
    kern = backend.kernels()
    np.testing.assert_array_equal(likelihood.nll(x, out, params, kern), likelihood.nll(tiled, out, params, kern))
    got = likelihood.nll_grad(x, out, params, scale, kern)
    want = [likelihood.nll_grad(tiled[i * batch:(i + 1) * batch], out[i * batch:(i + 1) * batch], params,
                                scale[i * batch:(i + 1) * batch], kern) for i in range(k)]
    np.testing.assert_allclose(got[0], np.concatenate([w[0] for w in want]), rtol=1e-15, atol=0)
    np.testing.assert_allclose(got[1], np.concatenate([w[1] for w in want]), rtol=1e-15, atol=0)
    assert set(got[2]) == set(want[0][2])
    for name in got[2]:                                          # shared parameters: the sum over the blocks
        np.testing.assert_allclose(got[2][name], sum(w[2][name] for w in want), rtol=1e-13, atol=1e-15)
    log_p = likelihood.log_prob(x, out.reshape(k, batch, n), params, kern)
    np.testing.assert_array_equal(log_p, -likelihood.nll(x, out, params, kern).reshape(k, batch))


def test_blocks_must_be_whole(rng):
    with pytest.raises(ValueError, match="whole blocks"):
        Bernoulli().nll(rng.random((3, 4)), np.zeros((7, 4)), {}, backend.kernels())
    with pytest.raises(ValueError, match="whole blocks"):
        Bernoulli().nll(rng.random((3, 4)), np.zeros((3, 5)), {}, backend.kernels())
