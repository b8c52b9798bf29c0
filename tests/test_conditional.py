r"""The conditional VAE (``VAE(n_classes=C)``, Sohn et al. 2015): labels in the first layer of each side.

Independent references: a one-hot row concatenated to each first layer's input (the form the label rows
stand for, ``one_hot(y) @ label_weight``), the closed form of a conditional linear-Gaussian model
(p(x|y) = N(b + T_y, W^T W + s2 I)), the NumPy twins, and training on the bundled data. The gradient checks
of the whole loss (every activation, depths, likelihoods, beta, IWAE) are in ``tests/test_model.py``.
Derivation: docs/derivations.md#conditional-vae
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import purevae
from purevae import backend, diagnostics, ops, plots
from purevae.data import load_bundled, scale_pixels
from purevae.model import VAE

IMPLS = ["numpy", pytest.param("cython", marks=pytest.mark.skipif(not backend.cython_available(),
                                                                    reason="extension not built"))]


@pytest.fixture
def restore_backend():
    name = backend.get_backend()
    yield
    backend.set_backend(name)


def one_hot(y, n_classes):
    return np.eye(n_classes)[y]


# ---- the kernels and their twins ---------------------------------------------------------------------
@pytest.mark.parametrize("impl", IMPLS)
@given(rows=st.integers(0, 9), n_out=st.integers(0, 6), n_classes=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_label_rows_are_the_one_hot_product_and_its_transpose(impl, rows, n_out, n_classes, dtype, seed):
    rng = np.random.default_rng(seed)
    pre, table = rng.normal(size=(rows, n_out)).astype(dtype), rng.normal(size=(n_classes, n_out)).astype(dtype)
    y = rng.integers(0, n_classes, rows)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    forward = backend.label_rows_forward(pre, table, y, impl=impl)
    assert forward.dtype == dtype
    np.testing.assert_allclose(forward, pre + one_hot(y, n_classes) @ table.astype(np.float64), rtol=tol, atol=tol)
    grad = backend.label_rows_backward(pre, y, n_classes, impl=impl)
    expected = one_hot(y, n_classes).T @ pre.astype(np.float64)       # E^T a_bar; a class with no row gets 0
    np.testing.assert_allclose(grad, expected, rtol=tol, atol=tol * max(1, rows))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("labels, error, match", [
    (np.array([0, 3, 1]), ValueError, "labels must hold labels in 0..2"),
    (np.array([0, -1, 1]), ValueError, "outside that range"),
    (np.array([0, 1]), ValueError, r"labels must have shape \(3,\)"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "integer class labels"),
    (np.array([True, False, True]), TypeError, "integer class labels"),
    (1, ValueError, "got a scalar"),
])
def test_label_kernel_wrappers_refuse_bad_labels(impl, labels, error, match):
    pre, table = np.zeros((3, 2)), np.zeros((3, 2))
    with pytest.raises(error, match=match):
        backend.label_rows_forward(pre, table, labels, impl=impl)
    with pytest.raises(error, match=match):
        backend.label_rows_backward(pre, labels, 3, impl=impl)


# ---- the model against the concatenated one-hot form ---------------------------------------------------
def concatenated_loss(model, x, y, eps, beta):
    """The negative ELBO recomputed with ops: one_hot(y) concatenated to the first layer's input of each side."""
    p, n_latent = model.params, model.n_latent
    code = ops.ACTIVATIONS[model.activation]

    def mlp(layers, h, labels):
        for i, (name, act) in enumerate(layers):
            weight = p[f"{name}.weight"]
            if i == 0:
                h = np.hstack([h, one_hot(labels, model.n_classes)])
                weight = np.vstack([weight, p[f"{name}.label_weight"]])
            h = ops.activation_forward(ops.dense_forward(h, weight, p[f"{name}.bias"]), act, model.alpha)
        return h

    assert code in (ops.ACTIVATIONS["tanh"],)
    mu_logvar = mlp(model.encoder.layers, x, y)
    mu, logvar = mu_logvar[:, :n_latent], mu_logvar[:, n_latent:]
    k = eps.shape[0]
    z = (mu + np.exp(logvar / 2) * eps).reshape(k * len(x), n_latent)
    logits = mlp(model.decoder.layers, z, np.tile(y, k)).reshape(k, len(x), -1)
    nll = np.sum(np.logaddexp(0, logits) - x * logits, axis=-1).mean(axis=0)
    kl = ops.kl_divergence(mu, logvar)
    return float(np.mean(nll + beta * kl))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("hidden", [(), (5,), (4, 3)])
def test_loss_is_that_of_the_concatenated_one_hot_model(impl, hidden, rng, restore_backend):
    backend.set_backend(impl)
    model = VAE(6, hidden, 2, activation="tanh", dtype="float64", seed=3, n_classes=4)
    x, y, eps = rng.random((5, 6)), np.array([0, 3, 3, 1, 0]), rng.standard_normal((3, 5, 2))
    loss, _ = model.loss_and_grads(x, eps=eps, y=y, beta=0.6)
    np.testing.assert_allclose(loss, concatenated_loss(model, x, y, eps, 0.6), rtol=1e-12)


def test_the_label_changes_encoder_and_decoder_and_only_through_its_row(rng):
    model = VAE(6, (5,), 2, dtype="float64", seed=1, n_classes=3)
    x, z = rng.random((4, 6)), rng.standard_normal((4, 2))
    mu0, _ = model.encode(x, 0)
    mu2, _ = model.encode(x, 2)
    assert not np.allclose(mu0, mu2) and not np.allclose(model.decode(z, 0), model.decode(z, 2))
    # equal rows of label_weight make two labels the same model
    for side in ("encoder", "decoder"):
        model.params[f"{side}.0.label_weight"][2] = model.params[f"{side}.0.label_weight"][0]
    np.testing.assert_array_equal(model.encode(x, 0)[0], model.encode(x, 2)[0])
    np.testing.assert_array_equal(model.decode(z, 0), model.decode(z, 2))
    # one label for all = the array of that label; mixed labels = row by row
    np.testing.assert_array_equal(model.decode(z, 1), model.decode(z, np.ones(4, int)))
    mixed = model.decode(z, np.array([0, 1, 1, 0]))
    np.testing.assert_array_equal(mixed[1:3], model.decode(z[1:3], 1))


def test_parameters_names_shapes_and_initial_bound():
    model = VAE(784, (400,), 20, seed=0, n_classes=10)
    assert model.params["encoder.0.label_weight"].shape == (10, 400)
    assert model.params["decoder.0.label_weight"].shape == (10, 400)
    # the fan-in of the concatenated layer: n_in + C
    for name, fan_in in (("encoder.0", 784 + 10), ("decoder.0", 20 + 10)):
        for part in ("weight", "label_weight", "bias"):
            value = model.params[f"{name}.{part}"]
            assert np.abs(value).max() <= 1 / np.sqrt(fan_in) and np.abs(value).max() > 0.9 / np.sqrt(fan_in)
    linear = VAE(7, (), 3, seed=0, n_classes=2)
    assert linear.params["encoder.out.label_weight"].shape == (2, 6)
    assert linear.params["decoder.out.label_weight"].shape == (2, 7)
    # an unconditional model is unchanged: the same parameters from the same seed as before the option existed
    plain = VAE(7, (5,), 3, seed=4)
    assert not any("label" in name for name in plain.params)
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(plain.params["encoder.0.weight"],
                                  rng.uniform(-1 / np.sqrt(7), 1 / np.sqrt(7), (7, 5)).astype(np.float32))


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_backends_agree_on_loss_and_gradients(objective, rng, restore_backend):
    if not backend.cython_available():
        pytest.skip("extension not built")
    model = VAE(8, (6, 5), 3, likelihood="continuous_bernoulli", dtype="float64", seed=2, n_classes=4)
    x, y, eps = rng.random((7, 8)), rng.integers(0, 4, 7), rng.standard_normal((3, 7, 3))
    results = {}
    for impl in ("numpy", "cython"):
        backend.set_backend(impl)
        results[impl] = model.loss_and_grads(x, eps=eps, y=y, objective=objective)
    np.testing.assert_allclose(results["cython"][0], results["numpy"][0], rtol=1e-13)
    for name, grad in results["numpy"][1].items():
        np.testing.assert_allclose(results["cython"][1][name], grad, rtol=1e-10, atol=1e-14)


def test_k_sample_loss_is_the_mean_of_single_sample_losses(rng):
    """The decoder's k B rows carry the labels tiled (row i B + b has y_b): each block is one single-sample step."""
    model = VAE(5, (4,), 2, dtype="float64", seed=1, n_classes=3)
    x, y, eps = rng.random((3, 5)), np.array([2, 0, 1]), rng.standard_normal((4, 3, 2))
    loss, grads = model.loss_and_grads(x, eps=eps, y=y)
    singles = [model.loss_and_grads(x, eps=e, y=y) for e in eps]
    np.testing.assert_allclose(loss, np.mean([s[0] for s in singles]), rtol=1e-13)
    for name in grads:
        np.testing.assert_allclose(grads[name], np.mean([s[1][name] for s in singles], axis=0), rtol=1e-12,
                                   atol=1e-15)


# ---- evaluation against a closed form ----------------------------------------------------------------
D, L, S2, C = 4, 2, 0.5, 3


def conditional_linear_gaussian(rng):
    """x | z, y ~ N(z W + b + T_y, s2 I) with W's rows orthogonal, and the encoder giving the exact posterior.

    p(x|y) = N(b + T_y, W^T W + s2 I); p(z|x, y) = N((x - b - T_y) W^T S / s2, S), S = (I + W W^T / s2)^-1,
    diagonal here, so every importance weight is p(x|y) exactly.
    """
    q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    weight = q[:L] * np.array([[1.5], [0.6]])
    bias, table = rng.normal(size=D), rng.normal(size=(C, D))
    model = VAE(D, (), L, likelihood="gaussian", variance=S2, dtype="float64", seed=0, n_classes=C)
    cov = np.linalg.inv(np.eye(L) + weight @ weight.T / S2)
    p = model.params
    p["decoder.out.weight"][...], p["decoder.out.bias"][...] = weight, bias
    p["decoder.out.label_weight"][...] = table
    gain = weight.T @ cov / S2                                       # mu = (x - b - T_y) W^T S / s2
    p["encoder.out.weight"][...] = np.hstack([gain, np.zeros((D, L))])
    p["encoder.out.bias"][...] = np.concatenate([-bias @ gain, np.log(np.diag(cov))])
    p["encoder.out.label_weight"][...] = np.hstack([-table @ gain, np.zeros((C, L))])
    marginal = weight.T @ weight + S2 * np.eye(D)
    return model, lambda x, y: np.array([scipy.stats.multivariate_normal(bias + table[c], marginal).logpdf(row)
                                         for row, c in zip(x, y)])


@pytest.mark.parametrize("impl", IMPLS)
def test_log_likelihood_and_elbo_are_the_exact_log_p_x_given_y(impl, rng, restore_backend):
    backend.set_backend(impl)
    model, exact = conditional_linear_gaussian(rng)
    x, y = rng.normal(0, 1.5, (7, D)), rng.integers(0, C, 7)
    want = exact(x, y)
    np.testing.assert_allclose(model.log_likelihood(x, y, k=3, batch_size=2, max_rows=4), want, rtol=1e-10)
    # the ELBO is exact in expectation only (log p(x|z, y) varies with z; its KL is in closed form): the mean of
    # k = 20000 draws, whose standard error here is below 0.01 nats
    np.testing.assert_allclose(model.elbo(x, y, k=20000), want, atol=0.05)
    # the wrong label is a different, lower density for these x (drawn near no class in particular): not equal
    assert not np.allclose(model.log_likelihood(x, (y + 1) % C, k=3), want)


# ---- training ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    data = load_bundled()
    return scale_pixels(data.x_train), data.y_train, scale_pixels(data.x_test), data.y_test


def test_conditioning_lowers_the_validation_neg_elbo_on_the_bundled_set(bundled):
    """Told the class, a model of the same size does better: measured 2.63, 2.78, 2.98 nats lower after 3 epochs
    (seeds 2, 0, 1, 784-400-20, grey Fashion-MNIST subset); asserted with a margin of 1 nat."""
    x, y, x_val, y_val = bundled
    plain = VAE(784, (400,), 20, seed=0)
    plain.fit(x, epochs=3, validation_data=x_val)
    cond = VAE(784, (400,), 20, seed=0, n_classes=10)
    cond.fit(x, y=y, epochs=3, validation_data=(x_val, y_val))
    assert cond.history["val_loss"][-1] < plain.history["val_loss"][-1] - 1.0
    # the recorded validation number is the model's ELBO on those labels (a fixed stream: recomputable)
    recomputed = -cond.elbo(x_val, y_val, rng=np.random.default_rng([cond.seed, 4])).mean()
    np.testing.assert_allclose(cond.history["val_loss"][-1], recomputed, rtol=1e-6)


def test_fit_keeps_each_label_with_its_example_through_the_shuffling(rng, monkeypatch):
    model = VAE(3, (4,), 2, dtype="float64", seed=5, n_classes=4)
    x = np.arange(60, dtype=float).reshape(20, 3) / 60        # example i is recognisable by its first value
    y = rng.integers(0, 4, 20)
    seen = []
    step = model.step

    def spy(batch, eps=None, beta=1.0, ws=None, **kwargs):
        seen.append((batch[:, 0].copy(), kwargs["y"].copy()))
        return step(batch, eps, beta, ws, **kwargs)

    monkeypatch.setattr(model, "step", spy)
    model.fit(x, y=y, epochs=2, batch_size=6)
    assert len(seen) == 8
    for first_column, labels in seen:
        index = np.rint(first_column * 20).astype(int)
        np.testing.assert_array_equal(labels, y[index])
    orders = [np.rint(np.concatenate([c for c, _ in seen[i:i + 4]]) * 20).astype(int) for i in (0, 4)]
    assert not np.array_equal(orders[0], orders[1]) and sorted(orders[0]) == list(range(20))


def test_checkpoint_resume_is_bit_identical_and_save_load_keeps_the_labels(tmp_path, rng):
    x, y = rng.random((40, 6)), rng.integers(0, 3, 40)
    whole = VAE(6, (5,), 2, seed=7, n_classes=3)
    whole.fit(x, y=y, epochs=2, batch_size=8)
    part = VAE(6, (5,), 2, seed=7, n_classes=3)
    part.fit(x, y=y, epochs=1, batch_size=8, checkpoint=tmp_path / "ck.npz", checkpoint_every=3)
    resumed = purevae.load(tmp_path / "ck.npz")
    assert resumed.n_classes == 3 and resumed.conditional
    resumed.fit(x, y=y, epochs=1, batch_size=8)
    for name in whole.params:
        np.testing.assert_array_equal(resumed.params[name], whole.params[name])
    whole.save(tmp_path / "m.npz")
    loaded = purevae.load(tmp_path / "m.npz")
    assert loaded.config() == whole.config() and loaded.config()["n_classes"] == 3
    np.testing.assert_array_equal(loaded.elbo(x, y, rng=1), whole.elbo(x, y, rng=1))
    assert "n_classes=3" in repr(loaded)


def test_gradcheck_and_diagnostics_take_the_labels(rng):
    model = VAE(5, (4,), 2, activation="tanh", dtype="float64", seed=2, n_classes=3)
    x, y = rng.random((6, 5)), rng.integers(0, 3, 6)
    errors = purevae.gradcheck(model, x, y=y, k=2, objective="iwae")
    assert {"encoder.0.label_weight", "decoder.0.label_weight"} <= set(errors) and max(errors.values()) < 1e-6
    mu, logvar = model.encode(x, y)
    report = diagnostics.latent_report(model, x, y=y)
    np.testing.assert_allclose(report["kl_per_dimension"], np.mean(ops.kl_terms(mu, logvar), axis=0))
    np.testing.assert_allclose(diagnostics.active_units(model, x, y=y).variances, np.var(mu, axis=0))
    np.testing.assert_allclose(diagnostics.kl_per_dimension(model, x, y=y), report["kl_per_dimension"])
    assert np.isfinite(diagnostics.mutual_information(model, x, y=y))


def test_class_sample_images_decode_one_latent_code_per_column_with_every_label():
    model = VAE(6, (5,), 2, dtype="float64", seed=3, n_classes=3)
    images = plots.class_sample_images(model, n_per_class=4, rng=9)
    z = model.latent.draw_eps((4, 2), model.dtype, np.random.default_rng(9))
    assert images.shape == (12, 6)
    for c in range(3):
        np.testing.assert_array_equal(images[4 * c:4 * c + 4], model.decode(z, c))
    with pytest.raises(ValueError, match="conditional model"):
        plots.class_sample_images(VAE(6, (5,), 2))


def test_sample_takes_one_label_or_one_per_image():
    model = VAE(6, (5,), 2, seed=3, n_classes=3)
    z = model.latent.draw_eps((5, 2), model.dtype, np.random.default_rng([model.seed, 1]))
    np.testing.assert_array_equal(model.sample(5, y=2), model.decode(z, 2))
    labels = np.array([0, 1, 2, 1, 0])
    np.testing.assert_array_equal(model.sample(5, y=labels), model.decode(z, labels))
    np.testing.assert_array_equal(model.reconstruct(np.full((2, 6), 0.5), 1),
                                  model.decode(model.encode(np.full((2, 6), 0.5), 1)[0], 1))


# ---- bad input: each a clear error naming the argument ------------------------------------------------
COND = VAE(4, (3,), 2, seed=0, n_classes=3)
PLAIN = VAE(4, (3,), 2, seed=0)
X4 = np.full((2, 4), 0.5)

CALLS = {
    "loss_and_grads": lambda m, y: m.loss_and_grads(X4, y=y),
    "encode": lambda m, y: m.encode(X4, y),
    "decode": lambda m, y: m.decode(np.zeros((2, 2)), y),
    "reconstruct": lambda m, y: m.reconstruct(X4, y),
    "sample": lambda m, y: m.sample(2, y=y),
    "elbo": lambda m, y: m.elbo(X4, y),
    "log_likelihood": lambda m, y: m.log_likelihood(X4, y, k=2),
    "fit": lambda m, y: m.fit(X4, y=y, epochs=1, batch_size=2),
    "gradcheck": lambda m, y: purevae.gradcheck(m, X4, y=y),
    "latent_report": lambda m, y: diagnostics.latent_report(m, X4, y=y),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_a_conditional_model_needs_y(call):
    with pytest.raises(ValueError, match=r"y is required: this model is conditional \(n_classes=3\)"):
        call(COND, None)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_an_unconditional_model_refuses_y(call):
    with pytest.raises(ValueError, match="y was given, but this model is not conditional"):
        call(PLAIN, np.array([0, 1]))


@pytest.mark.parametrize("y, error, match", [
    (np.array([0, 3]), ValueError, r"y must hold labels in 0..2 \(n_classes=3\), got 1 outside that range \(e.g. 3\)"),
    (-1, ValueError, "outside that range"),
    (np.array([0.0, 1.0]), TypeError, r"y must hold integer class labels in 0..2, got dtype float64 \(cast with"),
    (np.array(["a", "b"]), TypeError, "integer class labels"),
    (True, TypeError, "got dtype bool"),
    (np.array([0, 1, 2]), ValueError, r"y must have shape \(2,\): one label per example, got shape \(3,\)"),
    (np.array([[0, 1]]), ValueError, r"y must have shape \(2,\)"),
])
@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_bad_labels_name_the_argument(call, y, error, match):
    with pytest.raises(error, match=match):
        call(COND, y)


def test_a_number_meant_as_k_is_not_taken_for_a_label():
    with pytest.raises(ValueError, match=r"did you mean k=5000\? pass k by keyword"):
        PLAIN.log_likelihood(X4, 5000)


def test_n_classes_and_validation_data_are_checked():
    with pytest.raises(ValueError, match="n_classes must be a positive integer"):
        VAE(4, (3,), 2, n_classes=0)
    with pytest.raises(TypeError, match="n_classes must be a positive integer"):
        VAE(4, (3,), 2, n_classes=2.0)
    with pytest.raises(ValueError, match=r"validation_data must be a tuple \(x_val, y_val\) for a conditional"):
        COND.fit(X4, y=[0, 1], epochs=1, batch_size=2, validation_data=X4)
    with pytest.raises(ValueError, match="validation_data's labels must hold labels in 0..2"):
        COND.fit(X4, y=[0, 1], epochs=1, batch_size=2, validation_data=(X4, [0, 5]))
    with pytest.raises(ValueError, match="validation_data's labels is required"):
        COND.fit(X4, y=[0, 1], epochs=1, batch_size=2, validation_data=(X4, None))
    with pytest.raises(ValueError, match="validation_data must be an array or a tuple"):
        PLAIN.fit(X4, epochs=1, batch_size=2, validation_data=(X4, None, None))


# ---- the command line --------------------------------------------------------------------------------
def test_cli_trains_evaluates_and_samples_a_conditional_model(tmp_path, capsys):
    from purevae import cli
    out = tmp_path / "run"
    assert cli.main(["train", "--conditional", "--epochs", "1", "--n-train", "500", "--n-test", "200",
                     "--hidden", "32", "--latent", "4", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "(of -log p(x|y), the label given)" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"]["n_classes"] == 10
    model = purevae.load(out / "model.npz")
    data = load_bundled()
    x_test, y_test = scale_pixels(data.x_test[:200]), data.y_test[:200]
    neg_elbo = -model.elbo(x_test, y_test, rng=np.random.default_rng([0, 10])).mean()
    np.testing.assert_allclose(metrics["final"]["test_neg_elbo"], neg_elbo, rtol=1e-6)

    assert cli.main(["evaluate", str(out / "model.npz"), "--k", "5", "--n", "50", "--no-plots", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "-log p(x|y) (IW, k=5)" in text and "given its true label" in text
    result = json.loads((out / "model_evaluation.json").read_text())
    assert result["conditional"] is True
    rng = np.random.default_rng([0, 20])
    elbo = model.elbo(x_test[:50], y_test[:50], rng=rng)
    log_px = model.log_likelihood(x_test[:50], y_test[:50], k=5, rng=rng)
    np.testing.assert_allclose(result["neg_elbo"], -elbo.mean(), rtol=1e-6)
    np.testing.assert_allclose(result["nll"], -log_px.mean(), rtol=1e-6)

    if plots.matplotlib_available():
        assert cli.main(["sample", str(out / "model.npz"), "--ncols", "5"]) == 0
        assert "one row per class" in capsys.readouterr().out
        assert (out / "samples.png").is_file()


def test_cli_conditional_without_labels_is_one_line_error(tmp_path, capsys):
    from purevae import cli
    data = load_bundled()
    path = tmp_path / "unlabelled.npz"
    np.savez(path, x_train=data.x_train[:100], x_test=data.x_test[:50])
    assert cli.main(["train", "--conditional", "--data", str(path), "--epochs", "1", "--out",
                     str(tmp_path / "r"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs class labels" in err[0] and "no train labels" in err[0]


def test_cli_gradcheck_checks_a_conditional_model(capsys):
    from purevae import cli
    assert cli.main(["gradcheck", "--n-classes", "3", "--activation", "tanh"]) == 0
    text = capsys.readouterr().out
    assert "encoder.0.label_weight" in text and "decoder.0.label_weight" in text and ": ok" in text


def test_cli_refuses_labels_that_are_not_class_numbers(tmp_path, capsys):
    from purevae import cli
    data = load_bundled()
    y_train = data.y_train[:100].astype(np.int64).copy()
    y_train[0] = 10**8                       # would ask for a 10^8-row label table
    path = tmp_path / "odd.npz"
    np.savez(path, x_train=data.x_train[:100], y_train=y_train, x_test=data.x_test[:20], y_test=data.y_test[:20])
    assert cli.main(["train", "--conditional", "--data", str(path), "--epochs", "1", "--out", str(tmp_path / "r"),
                     "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must be classes numbered 0..C-1" in err[0]
