r"""Tests for purevae.ops: the NumPy reference of every hot op, forward and backward.

Gradients are checked in float64 against ``gradcheck.numeric_gradient`` (fourth-order central
differences, h = 1e-4) with the relative error |a - n| / max(|a| + |n|, 1e-12) below 1e-6. Each
backward is checked through a scalar loss sum(c * output) with random c, so every output entry
contributes with its own weight. Known answers (KL of two standard normals, the variance of
reparameterized draws, KL against Monte Carlo) catch what a gradient check cannot: a wrong forward.
"""
import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given
from hypothesis import strategies as st

from purevae import backend, ops
from purevae.gradcheck import numeric_gradient, relative_error

GRAD_RTOL = 1e-6          # max relative error of an analytic gradient (STYLE.md section 5)
H = 1e-4                  # step of the fourth-order central difference
KINKED = ("relu", "leaky_relu", "elu")   # activations with a kink at 0 that the step must not cross
ACTIVATIONS = ("identity", "relu", "tanh", "softplus", "leaky_relu", "elu")

seeds = st.integers(0, 2**32 - 1)
batches = st.integers(1, 4)
widths = st.integers(1, 5)


def assume_resolvable(analytic, terms):
    """Skip draws with a nonzero gradient entry below what central differences resolve to GRAD_RTOL.

    Their absolute round-off is ~u sum|terms| / h (u = 1.1e-16), i.e. ~1e-12 sum|terms|; an entry below
    ~1e-6 of that scale (a saturated tanh, say) cannot show a relative error under 1e-6, right or wrong.
    """
    entries = np.abs(analytic[analytic != 0])
    assume(entries.size == 0 or entries.min() > 1e-5 * max(1.0, float(np.sum(np.abs(terms)))))


def max_grad_error(loss, array, analytic):
    """Max relative error between analytic d loss / d array and central differences over every entry."""
    numeric = numeric_gradient(loss, array, np.arange(array.size), H)
    return float(np.max(relative_error(analytic.reshape(-1), numeric)))


# ------------------------------------------------------------------------------------------------
# activations
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(batch=batches, n=widths, seed=seeds, spread=st.sampled_from([0.3, 1.0, 2.5]))
def test_activation_backward_matches_central_differences(activation, batch, n, seed, spread):
    rng = np.random.default_rng(seed)
    # spread <= 2.5: where tanh, softplus or elu saturate (|a| >~ 12) the derivative (< 1e-5) drops below what
    # central differences resolve (round-off ~ 1e-16 |loss| / h); the saturated values have their own test
    pre = rng.normal(0, spread, (batch, n))
    # the steps +-2h must not cross the kink at 0 (there the derivative jumps and the check is meaningless)
    assume(activation not in KINKED or np.min(np.abs(pre)) > 10 * H)
    c = rng.normal(size=pre.shape)

    def loss():
        return float(np.sum(c * ops.activation_forward(pre, activation)))

    h = ops.activation_forward(pre, activation)
    analytic = ops.activation_backward(c, h, activation)
    assume_resolvable(analytic, c * h)
    assert max_grad_error(loss, pre, analytic) < GRAD_RTOL


@pytest.mark.parametrize("activation", ["leaky_relu", "elu"])
@given(alpha=st.floats(0.05, 3.0), seed=seeds)
def test_activation_backward_with_alpha(activation, alpha, seed):
    rng = np.random.default_rng(seed)
    pre = rng.normal(0, 2, (3, 4))
    assume(np.min(np.abs(pre)) > 10 * H)
    c = rng.normal(size=pre.shape)

    def loss():
        return float(np.sum(c * ops.activation_forward(pre, activation, alpha)))

    h = ops.activation_forward(pre, activation, alpha)
    analytic = ops.activation_backward(c, h, activation, alpha)
    assume_resolvable(analytic, c * h)
    assert max_grad_error(loss, pre, analytic) < GRAD_RTOL


def test_activation_forward_known_values():
    a = np.array([-2.0, -0.5, 0.5, 3.0])
    np.testing.assert_array_equal(ops.activation_forward(a, "relu"), [0.0, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(ops.activation_forward(a, "leaky_relu"), [-0.02, -0.005, 0.5, 3.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(ops.activation_forward(a, "leaky_relu", 0.2), [-0.4, -0.1, 0.5, 3.0], rtol=1e-15,
                               atol=0)
    np.testing.assert_allclose(ops.activation_forward(a, "elu"), [np.exp(-2) - 1, np.exp(-0.5) - 1, 0.5, 3.0],
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(ops.activation_forward(a, "elu", 2.0), [2 * (np.exp(-2) - 1), 2 * (np.exp(-0.5) - 1),
                                                                       0.5, 3.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(ops.activation_forward(a, "tanh"), np.tanh(a), rtol=1e-15, atol=0)
    np.testing.assert_allclose(ops.activation_forward(a, "softplus"), np.log(1 + np.exp(a)), rtol=1e-14, atol=0)
    np.testing.assert_array_equal(ops.activation_forward(a, "identity"), a)


def test_activations_do_not_overflow_at_large_inputs():
    a = np.array([-1e4, -800.0, 800.0, 1e4])
    softplus = ops.activation_forward(a, "softplus")
    # log(1 + e^a) = a for a >> 0 and e^a (underflowing to 0) for a << 0
    np.testing.assert_allclose(softplus, [0.0, 0.0, 800.0, 1e4], rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(ops.activation_derivative(softplus, "softplus"), [0.0, 0.0, 1.0, 1.0], rtol=1e-15,
                               atol=1e-300)
    elu = ops.activation_forward(a, "elu")
    np.testing.assert_allclose(elu, [-1.0, -1.0, 800.0, 1e4], rtol=1e-15, atol=0)
    np.testing.assert_allclose(ops.activation_derivative(elu, "elu"), [0.0, 0.0, 1.0, 1.0], rtol=0, atol=1e-15)


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation must be one of"):
        ops.activation_forward(np.zeros(2), "sigmoid")
    with pytest.raises(ValueError, match="activation code"):
        ops.activation_forward(np.zeros(2), 17)


# ------------------------------------------------------------------------------------------------
# dense
# ------------------------------------------------------------------------------------------------
@given(batch=batches, n_in=widths, n_out=widths, seed=seeds)
def test_dense_backward_matches_central_differences(batch, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    x, weight, bias = rng.normal(size=(batch, n_in)), rng.normal(size=(n_in, n_out)), rng.normal(size=n_out)
    c = rng.normal(size=(batch, n_out))

    def loss():
        return float(np.sum(c * ops.dense_forward(x, weight, bias)))

    grad_x, grad_weight, grad_bias = ops.dense_backward(x, weight, c)
    assert grad_x.shape == x.shape and grad_weight.shape == weight.shape and grad_bias.shape == bias.shape
    for array, analytic in ((x, grad_x), (weight, grad_weight), (bias, grad_bias)):
        assert max_grad_error(loss, array, analytic) < GRAD_RTOL


def test_dense_forward_known_value():
    x = np.array([[1.0, 2.0]])
    weight = np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 3.0]])   # (n_in, n_out): x @ W
    bias = np.array([0.25, -1.0, 0.0])
    np.testing.assert_array_equal(ops.dense_forward(x, weight, bias), [[2.25, 3.0, 5.0]])


# ------------------------------------------------------------------------------------------------
# reparameterization and KL
# ------------------------------------------------------------------------------------------------
@given(batch=batches, n_latent=st.integers(1, 4), seed=seeds, beta=st.floats(0.0, 3.0),
       scale=st.sampled_from([1.0, 0.5, 1 / 3]))
def test_reparameterize_kl_backward_matches_central_differences(batch, n_latent, seed, beta, scale):
    rng = np.random.default_rng(seed)
    mu_logvar = rng.normal(0, 1, (batch, 2 * n_latent))
    eps = rng.standard_normal((batch, n_latent))
    c = rng.normal(size=(batch, n_latent))     # d loss / d z
    betas = beta * (rng.random(n_latent) < 0.7)   # per-dimension weights: some 0, as free bits makes them

    def loss():
        z, kl = np.empty_like(eps), np.empty(batch)
        ops.reparameterize_kl_forward(mu_logvar, eps, z, kl)
        kl_bk = ops.kl_terms(mu_logvar[:, :n_latent], ops.clamp_logvar(mu_logvar[:, n_latent:]))
        return float(np.sum(c * z) + scale * np.sum(kl_bk * betas))

    analytic = np.empty_like(mu_logvar)
    ops.reparameterize_kl_backward(mu_logvar, eps, c, betas, scale, analytic)
    assert max_grad_error(loss, mu_logvar, analytic) < GRAD_RTOL


def test_reparameterize_kl_forward_matches_the_readable_ops(rng):
    mu_logvar, eps = rng.normal(size=(3, 4)), rng.standard_normal((3, 2))
    z, kl = np.empty_like(eps), np.empty(3)
    ops.reparameterize_kl_forward(mu_logvar, eps, z, kl)
    mu, logvar = mu_logvar[:, :2], mu_logvar[:, 2:]
    np.testing.assert_allclose(z, mu + np.sqrt(np.exp(logvar)) * eps, rtol=1e-14, atol=0)
    np.testing.assert_allclose(kl, ops.kl_divergence(mu, logvar), rtol=1e-14, atol=0)


def test_kl_of_standard_normal_is_zero():
    np.testing.assert_array_equal(ops.kl_divergence(np.zeros((2, 3)), np.zeros((2, 3))), [0.0, 0.0])
    for impl in ["numpy"] + (["cython"] if backend.cython_available() else []):
        z, kl = backend.reparameterize_kl_forward(np.zeros((2, 6)), np.ones((2, 3)), impl=impl)
        np.testing.assert_array_equal(kl, [0.0, 0.0])
        np.testing.assert_array_equal(z, np.ones((2, 3)))      # mu + 1 * eps


def test_kl_known_value():
    # KL(N(m, s^2) || N(0, 1)) = 0.5 (m^2 + s^2 - log s^2 - 1); m = 1, s^2 = e: 0.5 (1 + e - 1 - 1)
    kl = ops.kl_divergence(np.array([[1.0]]), np.array([[1.0]]))
    np.testing.assert_allclose(kl, [0.5 * (np.e - 1)], rtol=1e-15, atol=0)


def test_kl_matches_monte_carlo(rng):
    mu, logvar = np.array([0.7, -1.2, 0.1]), np.array([0.5, -1.0, -0.2])
    n = 200_000
    z = ops.reparameterize(mu, logvar, rng.standard_normal((n, 3)))
    sigma = np.exp(0.5 * logvar)
    log_ratio = np.sum(scipy.stats.norm.logpdf(z, mu, sigma) - scipy.stats.norm.logpdf(z), axis=1)
    standard_error = log_ratio.std(ddof=1) / np.sqrt(n)
    kl = ops.kl_divergence(mu, logvar)
    assert abs(kl - log_ratio.mean()) < 4 * standard_error


@pytest.mark.parametrize("impl", ["ops.reparameterize", "numpy", pytest.param("cython", marks=pytest.mark.skipif(
    not backend.cython_available(), reason="extension not built"))])
@pytest.mark.parametrize("logvar", [-1.5, 0.0, 1.2])
def test_reparameterized_draws_have_variance_exp_logvar(rng, logvar, impl):
    n = 100_000
    mu = np.array([0.3])
    eps = rng.standard_normal((n, 1))
    if impl == "ops.reparameterize":
        z = ops.reparameterize(mu, np.array([logvar]), eps)
    else:   # the fused kernel the model calls, through the validating wrapper
        z, _ = backend.reparameterize_kl_forward(np.tile([mu[0], logvar], (n, 1)), eps, impl=impl)
    variance = np.exp(logvar)
    # the sample variance of n normal draws has standard deviation variance * sqrt(2 / (n - 1)) (~0.45 %);
    # 5 of them is 2.2 %, far below the factor e^(logvar/2) (>= 1.8 here) that a log-std mix-up would give
    np.testing.assert_allclose(z.var(ddof=1), variance, rtol=5 * np.sqrt(2 / (n - 1)), atol=0)
    standard_error = np.sqrt(variance / n)
    assert abs(z.mean() - mu[0]) < 5 * standard_error


# ------------------------------------------------------------------------------------------------
# likelihood twins (the readable NumPy versions; the Likelihood classes are tested in test_likelihoods.py)
# ------------------------------------------------------------------------------------------------
def _row_scales(kind: str, batch: int, rng) -> np.ndarray:
    """The likelihood twins' per-row weights: all 1, all 1/4 (a batch mean), or different per row (IWAE)."""
    return {"ones": np.ones(batch), "quarter": np.full(batch, 0.25), "rows": rng.random(batch)}[kind]


@given(batch=batches, n=widths, seed=seeds, kind=st.sampled_from(["ones", "quarter", "rows"]))
def test_bernoulli_nll_grad_matches_central_differences(batch, n, seed, kind):
    rng = np.random.default_rng(seed)
    logits, x = rng.normal(0, 3, (batch, n)), rng.random((batch, n))
    scale = _row_scales(kind, batch, rng)
    nll, grad = np.empty(batch), np.empty_like(logits)

    def loss():       # grad_logits[b] is d (sum_b scale_b nll_b) / d logits[b]
        ops.bernoulli_nll_grad(x, logits, scale, nll, np.empty_like(logits))
        return float(np.dot(scale, nll))

    ops.bernoulli_nll_grad(x, logits, scale, nll, grad)
    assert max_grad_error(loss, logits, grad) < GRAD_RTOL


@given(batch=batches, n=widths, seed=seeds, kind=st.sampled_from(["ones", "quarter", "rows"]))
def test_gaussian_nll_grad_matches_central_differences(batch, n, seed, kind):
    rng = np.random.default_rng(seed)
    x, mean, logvar = rng.normal(size=(batch, n)), rng.normal(size=(batch, n)), rng.normal(0, 1, n)
    scale = _row_scales(kind, batch, rng)
    grad_mean, grad_logvar = np.empty_like(mean), np.empty_like(logvar)

    def loss():
        nll = np.empty(batch)
        ops.gaussian_nll_grad(x, mean, logvar, scale, nll, np.empty_like(mean), np.empty_like(logvar))
        return float(np.dot(scale, nll))

    ops.gaussian_nll_grad(x, mean, logvar, scale, np.empty(batch), grad_mean, grad_logvar)
    assert max_grad_error(loss, mean, grad_mean) < GRAD_RTOL
    assert max_grad_error(loss, logvar, grad_logvar) < GRAD_RTOL


# ------------------------------------------------------------------------------------------------
# bias + activation twins
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bias_activation_twins_compose_the_readable_ops(rng, activation):
    code, alpha = ops.ACTIVATIONS[activation], ops.DEFAULT_ALPHA[activation]
    product, bias, grad_h = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 4))
    h = product.copy()
    ops.bias_activation_forward(h, bias, code, alpha)
    np.testing.assert_allclose(h, ops.activation_forward(product + bias, activation), rtol=1e-15, atol=0)
    grad_pre, grad_bias = np.empty_like(h), np.empty(4)
    ops.activation_backward_bias(grad_h, h, code, alpha, grad_pre, grad_bias)
    want = ops.activation_backward(grad_h, h, activation)
    np.testing.assert_allclose(grad_pre, want, rtol=1e-15, atol=0)
    np.testing.assert_allclose(grad_bias, want.sum(axis=0), rtol=1e-14, atol=1e-15)
