r"""Tests for purevae.objectives: KL warm-up, the ELBO, and the importance-weighted estimate of log p(x).

The known answer is a linear-Gaussian VAE (``hidden=()``, Gaussian likelihood of fixed variance s2):

    z ~ N(0, I_L),   x | z ~ N(z W + b, s2 I_D)      (W = decoder.out.weight, shape (L, D))
    =>  p(x) = N(x; b, W^T W + s2 I_D)
        p(z | x) = N(m, S),  S = (I_L + W W^T / s2)^-1,  m = S W (x - b) / s2   (row form: (x - b) W^T S / s2)

m is linear in x, so the encoder's last layer can output it exactly; its log-variance is a constant,
log diag S. When W has orthogonal rows, W W^T and S are diagonal: q(z|x) is the exact posterior and
every importance weight p(x, z) / q(z|x) equals p(x), so even one sample gives log p(x) exactly.
Otherwise q is the best diagonal fit, the ELBO is strictly below log p(x), and the importance-weighted
estimate closes the gap as k grows.
"""
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from purevae.model import VAE
from purevae.objectives import elbo_per_example, elbo_terms, log_likelihood, warmup_beta

D, L, S2 = 4, 2, 0.5


def linear_gaussian_vae(weight, bias):
    """The VAE above with decoder (weight, bias) and the encoder giving the mean of p(z|x), log diag of S."""
    model = VAE(n_input=D, hidden=(), n_latent=L, likelihood="gaussian", variance=S2, dtype="float64", seed=0)
    posterior_cov = np.linalg.inv(np.eye(L) + weight @ weight.T / S2)
    model.params["decoder.out.weight"][...] = weight
    model.params["decoder.out.bias"][...] = bias
    enc_weight = np.zeros((D, 2 * L))
    enc_weight[:, :L] = weight.T @ posterior_cov / S2                # mu = (x - b) W^T S / s2
    enc_bias = np.concatenate([-bias @ weight.T @ posterior_cov / S2, np.log(np.diag(posterior_cov))])
    model.params["encoder.out.weight"][...] = enc_weight
    model.params["encoder.out.bias"][...] = enc_bias
    return model, posterior_cov


def exact_log_px(x, weight, bias):
    return scipy.stats.multivariate_normal(bias, weight.T @ weight + S2 * np.eye(D)).logpdf(x)


def exact_log_px_cholesky(x, weight, bias):
    """The same density through a Cholesky factor, written out: -0.5 (D log 2 pi + log det C + r^T C^-1 r)."""
    cov = weight.T @ weight + S2 * np.eye(D)
    chol = np.linalg.cholesky(cov)
    r = scipy.linalg.solve_triangular(chol, (x - bias).T, lower=True)
    return -0.5 * (D * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(chol))) + np.sum(r * r, axis=0))


@pytest.fixture
def data(rng):
    return rng.normal(0, 1.5, (5, D))


def orthogonal_rows(rng):
    q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    return q[:L] * np.array([[1.5], [0.6]])          # W W^T = diag(2.25, 0.36)


# ------------------------------------------------------------------------------------------------
# the exact posterior: one sample is enough
# ------------------------------------------------------------------------------------------------
def test_exact_posterior_gives_log_px_for_every_sample(rng, data):
    weight, bias = orthogonal_rows(rng), rng.normal(size=D)
    model, posterior_cov = linear_gaussian_vae(weight, bias)
    np.testing.assert_allclose(posterior_cov, np.diag(np.diag(posterior_cov)), rtol=0, atol=1e-15)
    want = exact_log_px(data, weight, bias)
    np.testing.assert_allclose(exact_log_px_cholesky(data, weight, bias), want, rtol=1e-12, atol=0)
    mu, logvar = model.encode(data)
    np.testing.assert_allclose(logvar, np.log(np.diag(posterior_cov)) * np.ones((5, 1)), rtol=1e-14, atol=1e-15)
    # every log-weight log p(x, z) - log q(z|x) equals log p(x): k = 1 is exact, whatever the draw
    for seed in (1, 2, 3):
        np.testing.assert_allclose(log_likelihood(model, data, k=1, rng=seed), want, rtol=1e-12, atol=0)
    np.testing.assert_allclose(log_likelihood(model, data, k=17, rng=4, max_rows=10), want, rtol=1e-12, atol=0)


def test_elbo_of_the_exact_posterior_is_log_px_within_its_monte_carlo_error(rng, data):
    weight, bias = orthogonal_rows(rng), rng.normal(size=D)
    model, _ = linear_gaussian_vae(weight, bias)
    n = 4000
    single = elbo_per_example(model, np.repeat(data, n, axis=0), k=1, rng=5).reshape(len(data), n)
    mean, standard_error = single.mean(axis=1), single.std(axis=1, ddof=1) / np.sqrt(n)
    want = exact_log_px(data, weight, bias)
    assert np.all(np.abs(mean - want) < 4 * standard_error), (mean - want) / standard_error
    # the same estimate by the k argument: its mean over k draws
    np.testing.assert_allclose(model.elbo(data, k=n, rng=6), want, rtol=0, atol=8 * standard_error.max())


# ------------------------------------------------------------------------------------------------
# a diagonal q of a correlated posterior: ELBO < log p(x), IWAE climbs towards it
# ------------------------------------------------------------------------------------------------
def test_iwae_converges_to_log_px_and_elbo_stays_below(rng, data):
    weight = np.array([[1.0, 0.8, -0.3, 0.5], [0.9, 0.6, 0.2, -0.4]])    # W W^T far from diagonal
    bias = rng.normal(size=D)
    model, posterior_cov = linear_gaussian_vae(weight, bias)
    assert abs(posterior_cov[0, 1]) > 0.1 * np.sqrt(posterior_cov[0, 0] * posterior_cov[1, 1])
    want = exact_log_px(data, weight, bias)

    repeats = 200
    x_rep = np.repeat(data, repeats, axis=0)

    def estimates(k, seed):
        values = log_likelihood(model, x_rep, k=k, rng=seed).reshape(len(data), repeats)
        return values.mean(axis=1), values.std(axis=1, ddof=1) / np.sqrt(repeats)

    gaps = []
    for k, seed in ((1, 7), (10, 8), (1000, 9)):
        mean, standard_error = estimates(k, seed)
        # a lower bound in expectation: never above log p(x) by more than its Monte Carlo error
        assert np.all(mean < want + 4 * standard_error)
        gaps.append(np.mean(want - mean))
    # the ELBO's gap is KL(q || p(z|x)) between N(m, Q) and N(m, S), Q = diag(S) (the means agree):
    # 0.5 (tr(S^-1 Q) - L + log det S - log det Q), the same for every x
    diag_cov = np.diag(np.diag(posterior_cov))
    kl_gap = 0.5 * (np.trace(np.linalg.solve(posterior_cov, diag_cov)) - L
                    + np.linalg.slogdet(posterior_cov)[1] - np.linalg.slogdet(diag_cov)[1])
    n = 4000
    single = elbo_per_example(model, np.repeat(data, n, axis=0), k=1, rng=10).reshape(len(data), n)
    elbo, elbo_se = single.mean(axis=1), single.std(axis=1, ddof=1) / np.sqrt(n)
    assert np.all(elbo_se < 0.2 * kl_gap)             # the test can tell the ELBO from log p(x)
    assert np.all(np.abs(elbo - (want - kl_gap)) < 4 * elbo_se), (elbo - want + kl_gap) / elbo_se
    # IWAE_k shrinks the gap as k grows (Burda et al. 2016, Theorem 1)
    assert gaps[0] > gaps[1] > gaps[2]
    mean_k1000, se_k1000 = estimates(1000, 11)
    assert np.all(np.abs(mean_k1000 - want) < 4 * se_k1000 + 0.01 * gaps[0]), (mean_k1000 - want, se_k1000)


def test_log_likelihood_with_large_k_is_above_the_elbo_on_average(rng):
    model = VAE(6, hidden=(5,), n_latent=2, dtype="float64", seed=4)
    x = (rng.random((20, 6)) < 0.5).astype(float)
    iwae = model.log_likelihood(x, k=500, rng=1)
    elbo = model.elbo(x, k=500, rng=2)
    assert iwae.mean() > elbo.mean()
    # with k = 1 the importance-weighted estimate is a single-sample ELBO: same mean within the noise
    single = model.log_likelihood(np.repeat(x, 200, axis=0), k=1, rng=3)
    assert abs(single.mean() - elbo.mean()) < 4 * single.std(ddof=1) / np.sqrt(single.size) + 0.05


def test_log_likelihood_does_not_depend_on_the_memory_knobs(rng):
    model = VAE(5, hidden=(4,), n_latent=2, dtype="float64", seed=1)
    x = rng.random((7, 5))
    # with batch_size >= n the draws come in the same order, whatever the sample chunk size
    a = log_likelihood(model, x, k=50, rng=3, batch_size=7, max_rows=7)
    b = log_likelihood(model, x, k=50, rng=3, batch_size=7, max_rows=10_000)
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(log_likelihood(model, x, k=5), log_likelihood(model, x, k=5))   # fixed stream


# ------------------------------------------------------------------------------------------------
# the ELBO's terms agree with the training loss
# ------------------------------------------------------------------------------------------------
def test_elbo_is_minus_the_training_loss_for_the_same_noise(rng):
    model = VAE(6, hidden=(4,), n_latent=3, dtype="float64", seed=2)
    x = rng.random((5, 6))
    eps = np.random.default_rng(21).standard_normal((1, 5, 3))   # what elbo draws from rng=21 with k=1
    loss, _ = model.loss_and_grads(x, eps=eps[0])
    elbo = model.elbo(x, k=1, rng=21)
    np.testing.assert_allclose(-elbo.mean(), loss, rtol=1e-12, atol=0)
    log_px_z, kl = elbo_terms(model, x, k=1, rng=21)
    mu, logvar = model.encode(x)
    np.testing.assert_allclose(kl, 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=1), rtol=1e-13, atol=0)
    np.testing.assert_allclose(log_px_z - kl, elbo, rtol=1e-13, atol=0)


def test_elbo_batches_do_not_change_the_answer(rng):
    model = VAE(5, hidden=(4,), n_latent=2, dtype="float64", seed=3)
    x = rng.random((9, 5))
    # one chunk of 9 and one example per chunk draw different noise, so compare against a large k instead:
    # the per-example ELBO estimate with k = 4000 has a standard error of ~0.02 nats here
    a = model.elbo(x, k=4000, rng=1, batch_size=9)
    b = model.elbo(x, k=4000, rng=2, batch_size=2)
    np.testing.assert_allclose(a, b, rtol=0, atol=0.15)


@pytest.mark.parametrize("k, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_k_must_be_a_positive_integer(k, error):
    """A wrong value (0, -3) is a ValueError, a wrong type (a float, a bool) a TypeError (issue 9's one rule)."""
    model = VAE(3, hidden=(2,), n_latent=1, seed=0)
    with pytest.raises(error, match="k must be a positive integer"):
        model.log_likelihood(np.full((1, 3), 0.5), k=k)
    with pytest.raises(error, match="k must be a positive integer"):
        model.elbo(np.full((1, 3), 0.5), k=k)


# ------------------------------------------------------------------------------------------------
# warm-up
# ------------------------------------------------------------------------------------------------
def test_warmup_beta_is_a_linear_ramp():
    # beta_e = beta * min(1, (e + 1) / N): N = 4 gives 1/4, 2/4, 3/4, 1, 1 of beta
    assert [warmup_beta(e, 4, 2.0) for e in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert [warmup_beta(e, 0, 0.7) for e in range(3)] == [0.7, 0.7, 0.7]
    assert warmup_beta(0, 1) == 1.0
    np.testing.assert_allclose([warmup_beta(e, 3) for e in range(3)], [1 / 3, 2 / 3, 1.0], rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="warmup_epochs must be an integer >= 0"):
        warmup_beta(0, -1)


def test_log_mean_exp_in_place_equals_scipy_logsumexp_minus_log_k():
    import scipy.special

    from purevae.ops import log_mean_exp_inplace
    rng = np.random.default_rng(0)
    log_w = rng.normal(-900.0, 30.0, (5000, 7))                # e^log_w underflows: only the shift saves it
    want = scipy.special.logsumexp(log_w, axis=0) - np.log(5000)
    np.testing.assert_allclose(log_mean_exp_inplace(log_w.copy()), want, rtol=1e-13, atol=0)
    odd = np.array([[-np.inf, 0.0, -np.inf], [-np.inf, 1.0, 2.0]])   # an all -inf column: scipy's rules
    np.testing.assert_array_equal(log_mean_exp_inplace(odd.copy()),
                                  scipy.special.logsumexp(odd, axis=0) - np.log(2))
