"""The IWAE training objective (objective="iwae") and the batched k-sample ELBO (issue 10, item 1).

Every check compares with something computed independently: central differences of the whole loss,
the sampled-KL ELBO written out by hand, the analytic-KL gradient in expectation, the evaluation code's
importance-weighted estimate, scipy's logsumexp, the NumPy twin. Derivation: docs/derivations.md#iwae-training
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from hypothesis import given
from hypothesis import strategies as st

import purevae
from purevae import backend, ops
from purevae.data import load_bundled, scale_pixels

GRAD_TOL = 1e-6       # float64 central differences (STYLE.md section 5)
RTOL = {np.float32: 1e-5, np.float64: 1e-12}
LIKELIHOODS = [("bernoulli", None), ("gaussian", None), ("gaussian", 0.3), ("continuous_bernoulli", None)]


@pytest.fixture
def restore_backend():
    before = backend.get_backend()
    yield
    backend.set_backend(before)


def small(likelihood="bernoulli", variance=None, dtype="float64", activation="tanh", seed=1):
    return purevae.VAE(6, hidden=(5,), n_latent=3, likelihood=likelihood, variance=variance, activation=activation,
                       dtype=dtype, seed=seed)


def data(likelihood, rng, n=4):
    return rng.random((n, 6)) if likelihood != "gaussian" else rng.normal(0.5, 0.3, (n, 6))


# ------------------------------------------------------------------------------------------------
# gradients: central differences of the whole loss, k = 1, 2, 5, both backends
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("impl", ["numpy", "cython"])
@pytest.mark.parametrize("likelihood, variance", LIKELIHOODS)
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("beta", [1.0, 0.4])
def test_iwae_gradient_matches_central_differences(impl, likelihood, variance, k, beta, rng, restore_backend):
    backend.set_backend(impl)
    model = small(likelihood, variance)
    x = data(likelihood, rng)
    eps = rng.standard_normal((k, 4, 3))
    errors = purevae.gradcheck(model, x, eps=eps, beta=beta, objective="iwae")
    assert max(errors.values()) < GRAD_TOL, errors


def test_gradcheck_draws_k_samples_when_asked(rng):
    errors = purevae.gradcheck(small(), data("bernoulli", rng), objective="iwae", k=3)
    assert max(errors.values()) < GRAD_TOL


# ------------------------------------------------------------------------------------------------
# k = 1: the single-sample ELBO with the KL sampled, exactly
# ------------------------------------------------------------------------------------------------
def softplus(a):
    return np.logaddexp(0.0, a)


def forward_by_hand(model, x, eps):
    """mu, logvar, z (k, B, L) and the decoder's output, with plain NumPy from the parameters."""
    p = model.params

    def mlp(prefix, h, n_hidden):
        for i in range(n_hidden):
            h = np.tanh(h @ p[f"{prefix}.{i}.weight"] + p[f"{prefix}.{i}.bias"])
        return h @ p[f"{prefix}.out.weight"] + p[f"{prefix}.out.bias"]

    mu_logvar = mlp("encoder", x, len(model.hidden))
    mu, logvar = mu_logvar[:, :3], mu_logvar[:, 3:]
    z = mu + np.exp(logvar / 2) * eps
    return mu, logvar, z, mlp("decoder", z, len(model.decoder_hidden))


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_k1_loss_is_the_elbo_with_the_kl_sampled(beta, rng):
    model = small()
    x, eps = data("bernoulli", rng), rng.standard_normal((1, 4, 3))
    mu, logvar, z, logits = forward_by_hand(model, x, eps[0])
    nll = np.sum(softplus(logits) - x * logits, axis=1)
    log_q = -0.5 * np.sum(np.log(2 * np.pi) + logvar + eps[0] ** 2, axis=1)
    log_p = -0.5 * np.sum(np.log(2 * np.pi) + z ** 2, axis=1)
    want = np.mean(nll + beta * (log_q - log_p))
    loss, _ = model.loss_and_grads(x, eps=eps, beta=beta, objective="iwae")
    np.testing.assert_allclose(loss, want, rtol=1e-13, atol=0)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_loss_is_log_k_minus_logsumexp_of_the_log_weights(k, rng):
    """Against scipy.special.logsumexp of log w written out by hand (beta = 1)."""
    model = small(seed=4)
    x, eps = data("bernoulli", rng), rng.standard_normal((k, 4, 3))
    mu, logvar, z, logits = forward_by_hand(model, x, eps)          # z, logits: (k, B, .)
    log_px = -np.sum(softplus(logits) - x * logits, axis=-1)
    log_w = log_px - 0.5 * np.sum(z ** 2, axis=-1) + 0.5 * np.sum(logvar + eps ** 2, axis=-1)
    want = np.mean(np.log(k) - scipy.special.logsumexp(log_w, axis=0))
    loss, _ = model.loss_and_grads(x, eps=eps, objective="iwae")
    np.testing.assert_allclose(loss, want, rtol=1e-13, atol=0)


def test_training_loss_at_beta_1_is_minus_the_evaluation_estimate(rng):
    """The fused training kernel and objectives.log_likelihood (scipy logsumexp, other code) agree."""
    model = small(seed=5)
    x, k = data("bernoulli", rng, n=6), 9
    eps = np.random.default_rng(77).standard_normal((k, 6, 3))       # what log_likelihood draws from seed 77
    loss, _ = model.loss_and_grads(x, eps=eps, objective="iwae")
    estimate = model.log_likelihood(x, k=k, rng=77, batch_size=6, max_rows=k * 6)
    np.testing.assert_allclose(loss, -estimate.mean(), rtol=1e-12, atol=0)


def test_k1_gradient_is_the_analytic_kl_gradient_on_average(rng):
    """Same eps, the two objectives share the decoder path; their difference (sampled minus closed-form KL
    gradient) has mean 0. Its Monte Carlo mean over 3000 draws must be within 4.5 standard errors of 0."""
    model = small(seed=6)
    x = data("bernoulli", rng, n=3)
    diffs = {name: [] for name in model.params}
    for _ in range(3000):
        eps = rng.standard_normal((1, 3, 3))
        _, g_iwae = model.loss_and_grads(x, eps=eps, beta=0.8, objective="iwae")
        _, g_elbo = model.loss_and_grads(x, eps=eps[0], beta=0.8)
        for name in diffs:
            diffs[name].append(g_iwae[name] - g_elbo[name])
    moved = 0
    for name, d in diffs.items():
        d = np.array(d)
        mean, se = d.mean(axis=0), d.std(axis=0, ddof=1) / np.sqrt(len(d))
        moved += int(np.any(se > 0))
        assert np.all(np.abs(mean) <= 4.5 * se + 1e-15), name
    assert moved >= 2   # the encoder's parameters do differ draw by draw: the check is not vacuous


def test_the_bound_rises_with_k_on_average():
    """E[IWAE_k] is non-decreasing in k (Burda et al. 2016, Theorem 1): k = 1, 5, 50 on a trained model."""
    x = scale_pixels(load_bundled().x_test[:64], np.float64)
    model = purevae.VAE(784, hidden=(32,), n_latent=5, dtype="float64", seed=0)
    model.fit(scale_pixels(load_bundled().x_train[:1000], np.float64), epochs=2, batch_size=100)
    rng = np.random.default_rng(3)
    bounds = {}
    for k in (1, 5, 50):
        draws = [-model.loss_and_grads(x, eps=rng.standard_normal((k, 64, 5)), objective="iwae")[0]
                 for _ in range(8)]
        bounds[k] = (np.mean(draws), np.std(draws, ddof=1) / np.sqrt(len(draws)))
    for small_k, big_k in ((1, 5), (5, 50)):
        gap = bounds[big_k][0] - bounds[small_k][0]
        assert gap > -3 * np.hypot(bounds[big_k][1], bounds[small_k][1]), bounds
    assert bounds[50][0] > bounds[1][0], bounds          # and the rise from 1 to 50 is real


# ------------------------------------------------------------------------------------------------
# the k-sample ELBO: encoder once on B rows, the mean of k single-sample steps
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("likelihood, variance", LIKELIHOODS)
def test_k_sample_elbo_is_the_mean_of_single_sample_steps(likelihood, variance, rng):
    model = small(likelihood, variance)
    x, eps = data(likelihood, rng), rng.standard_normal((3, 4, 3))
    loss, grads = model.loss_and_grads(x, eps=eps, beta=0.7)
    singles = [model.loss_and_grads(x, eps=eps[i], beta=0.7) for i in range(3)]
    np.testing.assert_allclose(loss, np.mean([s[0] for s in singles]), rtol=1e-13, atol=0)
    for name in grads:
        want = np.mean([s[1][name] for s in singles], axis=0)
        np.testing.assert_allclose(grads[name], want, rtol=1e-11, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_the_encoder_runs_once_on_the_batch(objective, rng, monkeypatch):
    model = small()
    rows = {}
    for mlp in (model.encoder, model.decoder):
        original = mlp.forward

        def spy(params, x, kern, *rest, _original=original, _name=mlp.name):
            rows[_name] = x.shape[0]
            return _original(params, x, kern, *rest)
        monkeypatch.setattr(mlp, "forward", spy)
    model.loss_and_grads(data("bernoulli", rng), eps=rng.standard_normal((5, 4, 3)), objective=objective)
    assert rows == {"encoder": 4, "decoder": 20}


# ------------------------------------------------------------------------------------------------
# the fused kernels: Cython equals the NumPy twin; the twin equals scipy
# ------------------------------------------------------------------------------------------------
def _iwae_inputs(k, batch, n_latent, dtype, seed):
    rng = np.random.default_rng(seed)
    nll = (rng.random((k, batch)) * 50).astype(dtype)
    mu_logvar = rng.normal(0, 2, (batch, 2 * n_latent)).astype(dtype)
    mu_logvar[0, n_latent:] = 40.0                                  # one logvar beyond the clamp
    eps = rng.standard_normal((k, batch, n_latent)).astype(dtype)
    mu, logvar = mu_logvar[:, :n_latent], ops.clamp_logvar(mu_logvar[:, n_latent:])
    z = (mu + np.exp(logvar / 2) * eps).astype(dtype)
    grad_z = rng.standard_normal((k, batch, n_latent)).astype(dtype)
    return nll, mu_logvar, eps, z, grad_z


@given(k=st.integers(1, 6), batch=st.integers(1, 5), n_latent=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]), beta=st.sampled_from([0.0, 0.5, 1.0]),
       seed=st.integers(0, 2**32 - 1))
def test_iwae_kernels_match_their_twins(k, batch, n_latent, dtype, beta, seed):
    if not purevae.cython_available():
        pytest.skip("the Cython extension is not built")
    nll, mu_logvar, eps, z, grad_z = _iwae_inputs(k, batch, n_latent, dtype, seed)
    got = backend.iwae_weights(nll, mu_logvar, eps, z, beta, 1 / batch, impl="cython")
    want = backend.iwae_weights(nll, mu_logvar, eps, z, beta, 1 / batch, impl="numpy")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)      # both float64 throughout
    grad_got = backend.iwae_backward(mu_logvar, eps, z, grad_z, want[1], beta, impl="cython")
    grad_want = backend.iwae_backward(mu_logvar, eps, z, grad_z, want[1], beta, impl="numpy")
    np.testing.assert_allclose(grad_got, grad_want, rtol=RTOL[dtype], atol=RTOL[dtype])
    assert np.all(grad_got[0, n_latent:] == 0)                       # flat beyond the clamp


def test_iwae_weights_twin_against_scipy(rng):
    nll, mu_logvar, eps, z, _ = _iwae_inputs(4, 3, 2, np.float64, 5)
    mu_logvar[0, 2:] = 0.3                                           # inside the clamp here
    z = mu_logvar[:, :2] + np.exp(mu_logvar[:, 2:] / 2) * eps
    log_w = -nll + 0.7 * 0.5 * np.sum(mu_logvar[:, 2:] + eps ** 2 - z ** 2, axis=-1)
    loss, weights = backend.iwae_weights(nll, mu_logvar, eps, z, 0.7, 0.5, impl="numpy")
    np.testing.assert_allclose(loss, np.log(4) - scipy.special.logsumexp(log_w, axis=0), rtol=1e-14, atol=0)
    np.testing.assert_allclose(weights, 0.5 * scipy.special.softmax(log_w, axis=0), rtol=1e-13, atol=0)
    np.testing.assert_allclose(weights.sum(axis=0), 0.5, rtol=1e-14, atol=0)


def test_iwae_weights_do_not_overflow_at_extreme_log_weights():
    """log w of -1e5 and -2e5 nats: exp would underflow to 0 and 0/0; the max is subtracted first."""
    for impl in ("numpy", "cython") if purevae.cython_available() else ("numpy",):
        nll = np.array([[1e5], [2e5]])
        ml, eps = np.zeros((1, 2)), np.zeros((2, 1, 1))
        loss, weights = backend.iwae_weights(nll, ml, eps, eps.copy(), 1.0, 1.0, impl=impl)
        np.testing.assert_allclose(loss, [np.log(2) + 1e5], rtol=1e-15)
        np.testing.assert_array_equal(weights[:, 0], [1.0, 0.0])


# ------------------------------------------------------------------------------------------------
# fit and the command line
# ------------------------------------------------------------------------------------------------
def test_fit_trains_the_iwae_bound():
    x = scale_pixels(load_bundled().x_train[:600], np.float32)
    model = purevae.VAE(784, hidden=(64,), n_latent=8, seed=0)
    history = model.fit(x, epochs=3, batch_size=100, objective="iwae", k=4)
    assert history["loss"][2] < history["loss"][0] - 20       # the negative bound falls
    assert model.steps_trained == 18


def test_cli_trains_with_the_iwae_objective(tmp_path, capsys):
    from purevae import cli
    out = tmp_path / "run"
    status = cli.main(["train", "--objective", "iwae", "--k", "3", "--epochs", "1", "--n-train", "300",
                       "--n-test", "50", "--hidden", "32", "--latent", "4", "--no-plots", "--quiet", "--out", str(out)])
    assert status == 0
    import json
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["args"]["objective"] == "iwae" and metrics["args"]["k"] == 3
    assert purevae.load(out / "model.npz").steps_trained == 3


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, match", [
    (lambda m, x: m.loss_and_grads(x, objective="vimco"), ValueError, "objective must be one of"),
    (lambda m, x: m.loss_and_grads(x, objective=3), TypeError, "objective must be a string"),
    (lambda m, x: m.loss_and_grads(x, objective="iwae", k=0), ValueError, "k must be a positive integer"),
    (lambda m, x: m.loss_and_grads(x, objective="iwae", k=2.0), TypeError, "k must be a positive integer"),
    (lambda m, x: m.loss_and_grads(x, eps=np.zeros((3, 4, 3)), objective="iwae", k=2), ValueError,
     r"k is 2 but eps holds 3"),
    (lambda m, x: m.loss_and_grads(x, eps=np.zeros((4, 3)), k=2), ValueError, r"k is 2 but eps holds 1"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, objective="iwea"), ValueError, "objective must be one of"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, objective="iwae", k=-1), ValueError, "k must be"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, objective="iwae", k="5"), TypeError, "k must be"),
])
def test_bad_objective_arguments_name_the_argument(call, error, match, rng):
    model = small()
    with pytest.raises(error, match=match):
        call(model, data("bernoulli", rng))


def test_cli_gradcheck_checks_the_iwae_loss(capsys):
    from purevae import cli
    assert cli.main(["gradcheck", "--objective", "iwae", "--k", "5", "--activation", "tanh"]) == 0
    out = capsys.readouterr().out
    assert "objective iwae k=5" in out and ": ok (tolerance" in out
