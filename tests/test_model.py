r"""Tests for purevae.model: the whole ``loss_and_grads`` against central differences, and the model's edge.

Every gradient check runs ``purevae.gradcheck`` (float64, fourth-order central differences, h = 1e-4)
on hypothesis-drawn small architectures and asserts a max relative error below 1e-6 for every
parameter. Two numerical facts shape the draws:

* relu, leaky_relu and elu have a kink at 0; a difference step that crosses it measures the jump,
  not the derivative. ``hidden_preactivations`` replays the forward pass with ``ops`` and the drawn
  x / eps, and ``assume`` keeps only draws whose hidden pre-activations all lie farther than 1e-3
  from 0 (the steps move them by at most ~2h |input| ~ 1e-4 .. 1e-3).
* The central differences carry an absolute round-off of about 1e-12 |loss| (u |loss| / h with the
  weights of the formula; measured 2e-12 at loss 3.6), so an entry is resolved to a relative error of
  1e-6 only when it is well above ~1e-6 |loss|. Such tiny entries (a product of several small weights,
  saturated tanh, cancelling samples) turn up in ~2 % of the draws; ``assume`` keeps draws whose
  nonzero analytic entries all exceed ``RESOLVED = 1e-5`` max(1, |loss|) (exact zeros, from dead relu
  units, are compared exactly). Over 300 draws the largest error kept was 4e-8. For the same reason
  leaky_relu's default slope 0.01 (entries of ~1e-6) is replaced by alpha drawn in [0.1, 0.5]
  (``test_ops.py`` checks the 0.01 slope itself on a small loss).
"""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import purevae
from purevae import backend, ops
from purevae.gradcheck import format_table
from purevae.model import VAE

GRAD_RTOL = 1e-6
KINK_MARGIN = 1e-3
RESOLVED = 1e-5     # smallest nonzero |gradient entry| / max(1, |loss|) that central differences resolve to 1e-6
ACTIVATIONS = ("relu", "tanh", "softplus", "leaky_relu", "elu")
KINKED = ("relu", "leaky_relu", "elu")
LIKELIHOODS = (("bernoulli", None), ("gaussian", None), ("gaussian", 0.3), ("continuous_bernoulli", None))


def hidden_preactivations(model, x, eps, y=None):
    """Every hidden pre-activation of the forward pass for x and eps ((B, L) or (k, B, L)), replayed with ops.

    A conditional model's first layers add one_hot(y) @ label_weight (the concatenated-input form).
    """
    p = model.params
    pres = []
    n_latent = model.n_latent
    eps = eps.reshape(-1, x.shape[0], n_latent)

    def mlp(layers, h, labels):
        for i, (name, code) in enumerate(layers):
            pre = ops.dense_forward(h, p[f"{name}.weight"], p[f"{name}.bias"])
            if i == 0 and labels is not None:
                pre = pre + np.eye(model.n_classes)[labels] @ p[f"{name}.label_weight"]
            if code != ops.ACTIVATIONS["identity"]:
                pres.append(pre)
            h = ops.activation_forward(pre, code, model.alpha)
        return h

    mu_logvar = mlp(model.encoder.layers, x, y)
    z = ops.reparameterize(mu_logvar[:, :n_latent], mu_logvar[:, n_latent:], eps)   # (k, B, L)
    mlp(model.decoder.layers, z.reshape(-1, n_latent), None if y is None else np.tile(y, eps.shape[0]))
    return pres


def smallest_preactivation(model, x, eps, y=None):
    pres = hidden_preactivations(model, x, eps, y)
    return min((float(np.min(np.abs(pre))) for pre in pres), default=np.inf)


def smallest_nonzero_gradient(model, x, eps, beta, y=None, objective="elbo"):
    """min over nonzero analytic gradient entries of |entry| / max(1, |loss|)."""
    loss, grads = model.loss_and_grads(x, eps=eps, beta=beta, y=y, objective=objective)
    entries = np.abs(np.concatenate([g.reshape(-1) for g in grads.values()]))
    entries = entries[entries > 0]
    return float(entries.min()) / max(1.0, abs(loss)) if entries.size else np.inf


@st.composite
def model_cases(draw, activation=None, likelihood=None, hidden=None, conditional=False, objective="elbo"):
    """A small float64 VAE, data x in its support, noise eps of shape (B, L) or (k, B, L), beta, labels y
    (None unless ``conditional``; None draws whether) and the objective."""
    activation = draw(st.sampled_from(ACTIVATIONS)) if activation is None else activation
    likelihood, variance = draw(st.sampled_from(LIKELIHOODS)) if likelihood is None else likelihood
    decoder_hidden = None                      # mirrors hidden
    if hidden is None:
        hidden = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
        decoder_hidden = draw(st.none() | st.lists(st.integers(1, 4), min_size=0, max_size=2).map(tuple))
    n_input, n_latent = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    batch, k = draw(st.integers(1, 4)), draw(st.sampled_from([None, 1, 2, 3]))
    seed = draw(st.integers(0, 2**32 - 1))
    alpha = draw(st.floats(0.1, 0.5)) if activation == "leaky_relu" else None
    beta = draw(st.sampled_from([1.0, 0.0, 0.37, 2.5]))
    conditional = draw(st.booleans()) if conditional is None else conditional
    n_classes = draw(st.integers(1, 3)) if conditional else None
    model = VAE(n_input, hidden=hidden, n_latent=n_latent, likelihood=likelihood, variance=variance,
                activation=activation, alpha=alpha, decoder_hidden=decoder_hidden, dtype="float64", seed=seed % 1000,
                n_classes=n_classes)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, batch) if conditional else None
    if likelihood == "gaussian" and variance is None:   # move the learned log-variance away from its init 0
        model.params["decoder.logvar"][...] = rng.normal(0, 0.5, n_input)
    x = rng.random((batch, n_input)) if likelihood != "gaussian" else rng.normal(0, 1, (batch, n_input))
    eps = rng.standard_normal((batch, n_latent) if k is None else (k, batch, n_latent))
    if activation in KINKED:
        assume(smallest_preactivation(model, x, eps, y) > KINK_MARGIN)
    assume(smallest_nonzero_gradient(model, x, eps, beta, y, objective) > RESOLVED)
    return model, x, eps, beta, y, objective


def assert_gradcheck(model, x, eps, beta, y=None, objective="elbo"):
    errors = purevae.gradcheck(model, x, eps=eps, beta=beta, y=y, objective=objective)
    assert list(errors) == list(model.params)
    worst = max(errors, key=errors.get)
    assert errors[worst] < GRAD_RTOL, f"{worst}: {errors[worst]:.2e}\n{format_table(errors)}"


IMPLS = ["numpy", pytest.param("cython", marks=pytest.mark.skipif(not backend.cython_available(),
                                                                    reason="extension not built"))]


@pytest.mark.parametrize("impl", IMPLS)
@given(case=model_cases(conditional=None))
def test_loss_and_grads_match_central_differences(impl, case):
    previous = backend.get_backend()
    backend.set_backend(impl)
    try:
        assert_gradcheck(*case)
    finally:
        backend.set_backend(previous)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(data=st.data())
def test_loss_and_grads_every_activation_two_hidden_layers(activation, data):
    assert_gradcheck(*data.draw(model_cases(activation=activation, hidden=(3, 4))))


@pytest.mark.parametrize("likelihood", LIKELIHOODS, ids=["bernoulli", "gaussian-learned", "gaussian-fixed",
                                                          "continuous-bernoulli"])
@pytest.mark.parametrize("hidden", [(), (4,), (3, 2)], ids=["linear", "one-hidden", "two-hidden"])
@given(data=st.data())
def test_loss_and_grads_every_likelihood_and_depth(likelihood, hidden, data):
    assert_gradcheck(*data.draw(model_cases(likelihood=likelihood, hidden=hidden)))


def test_gradcheck_batch_of_one_k_samples_and_beta(rng):
    model = VAE(4, hidden=(3,), n_latent=2, likelihood="gaussian", activation="tanh", dtype="float64", seed=5)
    x = rng.normal(size=(1, 4))
    for eps in (rng.standard_normal((1, 2)), rng.standard_normal((4, 1, 2))):
        errors = purevae.gradcheck(model, x, eps=eps, beta=0.3)
        assert max(errors.values()) < GRAD_RTOL


def test_k_sample_loss_is_the_mean_of_single_sample_losses(rng):
    model = VAE(5, hidden=(4,), n_latent=2, dtype="float64", seed=1)
    x, eps = rng.random((3, 5)), rng.standard_normal((4, 3, 2))
    loss, grads = model.loss_and_grads(x, eps=eps, beta=0.5)
    singles = [model.loss_and_grads(x, eps=e, beta=0.5) for e in eps]
    np.testing.assert_allclose(loss, np.mean([s[0] for s in singles]), rtol=1e-13, atol=0)
    for name in grads:
        np.testing.assert_allclose(grads[name], np.mean([s[1][name] for s in singles], axis=0), rtol=1e-12,
                                   atol=1e-15)


def test_loss_is_reconstruction_plus_beta_kl(rng):
    """The loss, recomputed from ops by hand: mean_b(nll_b + beta kl_b) for a one-hidden-layer Bernoulli VAE."""
    model = VAE(6, hidden=(5,), n_latent=3, dtype="float64", seed=2)
    x, eps, beta = rng.random((4, 6)), rng.standard_normal((4, 3)), 0.7
    p = model.params
    h = ops.activation_forward(ops.dense_forward(x, p["encoder.0.weight"], p["encoder.0.bias"]), "relu")
    mu_logvar = ops.dense_forward(h, p["encoder.out.weight"], p["encoder.out.bias"])
    mu, logvar = mu_logvar[:, :3], mu_logvar[:, 3:]
    z = mu + np.exp(0.5 * logvar) * eps
    g = ops.activation_forward(ops.dense_forward(z, p["decoder.0.weight"], p["decoder.0.bias"]), "relu")
    logits = ops.dense_forward(g, p["decoder.out.weight"], p["decoder.out.bias"])
    nll = np.sum(np.logaddexp(0, logits) - x * logits, axis=1)
    kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, axis=1)
    loss, _ = model.loss_and_grads(x, eps=eps, beta=beta)
    np.testing.assert_allclose(loss, np.mean(nll + beta * kl), rtol=1e-13, atol=0)
    got_mu, got_logvar = model.encode(x)
    np.testing.assert_allclose(got_mu, mu, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(got_logvar, logvar, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(model.decode(z), 1 / (1 + np.exp(-logits)), rtol=1e-13, atol=1e-15)


def test_float32_model_matches_float64_model(rng):
    m32 = VAE(6, hidden=(5,), n_latent=2, dtype="float32", seed=3)
    m64 = VAE(6, hidden=(5,), n_latent=2, dtype="float64", seed=3)
    for name in m32.params:   # same initial point: drawn in float64 then cast
        np.testing.assert_array_equal(m32.params[name], m64.params[name].astype(np.float32))
    x, eps = rng.random((4, 6)), rng.standard_normal((4, 2))
    loss32, grads32 = m32.loss_and_grads(x, eps=eps)
    loss64, grads64 = m64.loss_and_grads(x, eps=eps)
    # float32 round-off is u = 6e-8 per operation; a few layers of width <= 6 keep the results within ~1e-6
    # relative of the float64 ones (1e-5 / 1e-4 leave room for cancellation in small gradient entries)
    np.testing.assert_allclose(loss32, loss64, rtol=1e-5, atol=0)
    for name in grads32:
        assert grads32[name].dtype == np.float32
        np.testing.assert_allclose(grads32[name], grads64[name], rtol=1e-4, atol=1e-5)


def test_params_and_grads_share_names_shapes_dtype():
    model = VAE(7, hidden=(5, 4), n_latent=3, likelihood="gaussian", decoder_hidden=(6,), seed=0)
    assert list(model.params) == ["encoder.0.weight", "encoder.0.bias", "encoder.1.weight", "encoder.1.bias",
                                  "encoder.out.weight", "encoder.out.bias", "decoder.0.weight", "decoder.0.bias",
                                  "decoder.out.weight", "decoder.out.bias", "decoder.logvar"]
    shapes = {"encoder.0.weight": (7, 5), "encoder.1.weight": (5, 4), "encoder.out.weight": (4, 6),
              "decoder.0.weight": (3, 6), "decoder.out.weight": (6, 7), "decoder.logvar": (7,)}
    for name, shape in shapes.items():
        assert model.params[name].shape == shape
    _, grads = model.loss_and_grads(np.zeros((2, 7)))
    assert list(grads) == list(model.params)
    for name in grads:
        assert grads[name].shape == model.params[name].shape and grads[name].dtype == np.float32


def test_initialisation_is_uniform_in_one_over_sqrt_fan_in():
    model = VAE(400, hidden=(100,), n_latent=8, dtype="float64", seed=0)
    for name, fan_in in (("encoder.0.weight", 400), ("encoder.out.weight", 100), ("decoder.0.weight", 8)):
        w = model.params[name]
        bound = 1 / np.sqrt(fan_in)
        assert np.max(np.abs(w)) <= bound
        # U(-a, a) has variance a^2 / 3; the sample of >= 800 entries is within 15 % of it
        np.testing.assert_allclose(w.var(), bound**2 / 3, rtol=0.15, atol=0)


def test_same_seed_same_params_and_outputs(rng):
    a, b = VAE(5, hidden=(3,), n_latent=2, seed=9), VAE(5, hidden=(3,), n_latent=2, seed=9)
    c = VAE(5, hidden=(3,), n_latent=2, seed=10)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert any(not np.array_equal(a.params[n], c.params[n]) for n in a.params)
    np.testing.assert_array_equal(a.sample(4), b.sample(4))
    np.testing.assert_array_equal(a.sample(4), a.sample(4))   # None: a fixed stream, the same images
    x = rng.random((3, 5))
    np.testing.assert_array_equal(a.elbo(x), b.elbo(x))


def test_output_shapes():
    model = VAE(6, hidden=(4,), n_latent=3, seed=0)
    x = np.full((5, 6), 0.5)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(mu).shape == model.reconstruct(x).shape == (5, 6)
    assert model.sample(2).shape == (2, 6)
    assert model.elbo(x).shape == (5,)
    assert np.all((model.decode(mu) > 0) & (model.decode(mu) < 1))


# ------------------------------------------------------------------------------------------------
# validation at the edge
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def bern():
    return VAE(4, hidden=(3,), n_latent=2, seed=0)


@pytest.mark.parametrize("x, error, match", [
    (np.full(4, 0.5), ValueError, r"x must be 2-D .*x\.reshape\(1, -1\)"),
    (np.full((2, 5), 0.5), ValueError, "x must have 4 features per example"),
    (np.full((0, 4), 0.5), ValueError, "x is empty"),
    (np.array([[0.5, np.nan, 0.5, 0.5]]), ValueError, "x contains NaN or inf"),
    (np.array([[0.5, np.inf, 0.5, 0.5]]), ValueError, "x contains NaN or inf"),
    (np.array([[0.5, 1.5, 0.5, 0.5]]), ValueError, r"x must lie in \[0, 1\] for the Bernoulli"),
    (np.array([[0.5, -0.1, 0.5, 0.5]]), ValueError, r"x must lie in \[0, 1\] for the Bernoulli"),
    (np.array([["a", "b", "c", "d"]]), TypeError, "x must be a real numeric array"),
])
def test_loss_and_grads_rejects_bad_x(bern, x, error, match):
    with pytest.raises(error, match=match):
        bern.loss_and_grads(x)


@pytest.mark.parametrize("eps, error, match", [
    (np.zeros((3, 2)), ValueError, r"eps must have shape \(2, 2\) or \(k, 2, 2\)"),
    (np.zeros((2, 3)), ValueError, r"eps must have shape \(2, 2\)"),
    (np.zeros((2, 2, 3)), ValueError, r"eps must have shape"),
    (np.zeros(4), ValueError, r"eps must have shape"),
    (np.zeros((2, 2), dtype=int), TypeError, "eps must be a float array"),
    (np.array([[0.0, np.nan], [0.0, 0.0]]), ValueError, "eps contains NaN or inf"),
])
def test_loss_and_grads_rejects_bad_eps(bern, eps, error, match):
    with pytest.raises(error, match=match):
        bern.loss_and_grads(np.full((2, 4), 0.5), eps=eps)


@pytest.mark.parametrize("beta", [-1.0, float("nan"), float("inf")])
def test_loss_and_grads_rejects_bad_beta(bern, beta):
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        bern.loss_and_grads(np.full((2, 4), 0.5), beta=beta)


def test_gaussian_model_accepts_values_outside_unit_interval():
    model = VAE(3, hidden=(2,), n_latent=1, likelihood="gaussian", seed=0)
    loss, _ = model.loss_and_grads(np.array([[-3.0, 0.5, 7.0]]))
    assert np.isfinite(loss)


def test_encode_and_decode_check_their_inputs(bern):
    with pytest.raises(ValueError, match="z must have 2 features per example"):
        bern.decode(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="x must have 4 features"):
        bern.encode(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        bern.sample(0)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"activation": "sigmoid"}, ValueError, "activation must be one of"),
    ({"likelihood": "poisson"}, ValueError, "likelihood must be one of"),
    ({"dtype": "float16"}, ValueError, "dtype must be one of"),
    ({"dtype": "int32"}, ValueError, "dtype must be one of"),
    ({"n_latent": 0}, ValueError, "n_latent must be a positive integer"),
    ({"n_latent": 2.5}, TypeError, "n_latent must be a positive integer"),
    ({"hidden": (4, 0)}, ValueError, r"hidden\[1\] must be a positive integer"),
    ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
    ({"activation": "leaky_relu", "alpha": 0.0}, ValueError, "alpha of leaky_relu must be > 0"),
    ({"activation": "elu", "alpha": -1.0}, ValueError, "alpha of elu must be > 0"),
    ({"likelihood": "bernoulli", "variance": 0.5}, ValueError, "variance applies only"),
])
def test_constructor_rejects_bad_arguments(kwargs, error, match):
    arguments = {"n_input": 4, "hidden": (3,), "n_latent": 2, **kwargs}
    with pytest.raises(error, match=match):
        VAE(**arguments)


def test_int_input_is_cast_with_a_warning(bern):
    x = np.array([[0, 1, 1, 0]])
    with pytest.warns(purevae.CastWarning, match="x had dtype int64"):
        loss_int, _ = bern.loss_and_grads(x, eps=np.zeros((1, 2)))
    loss_float, _ = bern.loss_and_grads(x.astype(np.float64), eps=np.zeros((1, 2)))
    assert loss_int == loss_float


@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(data=st.data())
def test_continuous_bernoulli_gradients_every_activation(activation, data):
    """The continuous Bernoulli through every activation (its log-normaliser's derivative enters the chain)."""
    assert_gradcheck(*data.draw(model_cases(activation=activation, likelihood=("continuous_bernoulli", None))))


# ---- the conditional VAE (n_classes): label rows in the first layer of each side --------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
@given(data=st.data())
def test_conditional_gradients_every_activation_two_hidden_layers(activation, data):
    assert_gradcheck(*data.draw(model_cases(activation=activation, hidden=(3, 4), conditional=True)))


@pytest.mark.parametrize("hidden", [(), (4,), (3, 2)], ids=["linear", "one-hidden", "two-hidden"])
@given(data=st.data())
def test_conditional_gradients_every_depth_and_likelihood(hidden, data):
    """hidden=() puts the label rows on encoder.out and decoder.out, the layers without an activation."""
    assert_gradcheck(*data.draw(model_cases(hidden=hidden, conditional=True)))


@pytest.mark.parametrize("impl", IMPLS)
@given(case=model_cases(conditional=True, objective="iwae"))
def test_conditional_iwae_gradients(impl, case):
    previous = backend.get_backend()
    backend.set_backend(impl)
    try:
        assert_gradcheck(*case)
    finally:
        backend.set_backend(previous)
