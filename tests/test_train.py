r"""Tests for purevae.train: the fit loop learns, reproduces bit for bit, continues, warms up, and stops cleanly.

The data are real images: the first few hundred of the bundled Fashion-MNIST subset, scaled to [0, 1].
Models are small (one hidden layer of 16-32 units) so the whole file runs in a few seconds.
"""
import numpy as np
import pytest

import purevae
from purevae import VAE, backend
from purevae.data import load_bundled, scale_pixels
from purevae.optim import Adam
from purevae.train import HISTORY_KEYS, TrainingDiverged


@pytest.fixture(scope="module")
def images():
    dataset = load_bundled()
    return scale_pixels(dataset.x_train[:500]), scale_pixels(dataset.x_test[:200])


def same_params(a, b):
    return list(a.params) == list(b.params) and all(np.array_equal(a.params[n], b.params[n]) for n in a.params)


def validation_loss(model, x_val):
    """Negative ELBO on x_val with the noise stream ``fit`` uses for validation."""
    return float(-model.elbo(x_val, rng=np.random.default_rng([model.seed, 4])).mean())


def test_training_learns_and_float32_tracks_float64(images, seed):
    x, x_val = images
    final = {}
    for dtype in ("float32", "float64"):
        model = VAE(784, hidden=(32,), n_latent=4, dtype=dtype, seed=seed % 1000)
        initial = validation_loss(model, x_val)
        history = model.fit(x, epochs=4, batch_size=50, lr=2e-3, validation_data=x_val)
        # the history's validation loss is the same quantity as model.elbo with fit's noise stream
        np.testing.assert_allclose(history["val_loss"][-1], validation_loss(model, x_val), rtol=1e-12, atol=0)
        # learning: 4 epochs of 10 steps take the validation negative ELBO from ~552 to ~405 nats; ask for 10 %
        assert history["val_loss"][-1] < 0.9 * initial, (initial, history["val_loss"])
        assert history["val_loss"][-1] < history["val_loss"][0]
        assert history["loss"][-1] < history["loss"][0]
        final[dtype] = history["val_loss"][-1]
    # Both runs start from the same parameters (drawn in float64, then cast) and see the same shuffles and the
    # same noise (drawn in float64, then cast), so they differ only by float32 round-off (u = 6e-8), which 40
    # Adam steps amplify to ~1e-6 relative in the final loss (measured). 1e-3 leaves a margin of 1000 for other
    # BLAS builds and CPUs, and is still 1/100 of what training changes (~27 %): a float32-only bug that moves
    # the loss by 0.1 % fails it (the 1 % asked for in the issue would let such a bug through).
    assert abs(final["float32"] - final["float64"]) / final["float64"] < 1e-3


@pytest.fixture
def small(images):
    return images[0][:200]


def small_model(seed, **kwargs):
    return VAE(784, hidden=(16,), n_latent=3, seed=seed % 1000, **kwargs)


def test_same_seed_gives_bit_identical_parameters(small, seed):
    a, b = small_model(seed), small_model(seed)
    a.fit(small, epochs=2, batch_size=40)
    b.fit(small, epochs=2, batch_size=40)
    assert same_params(a, b)
    c = small_model(seed + 1)
    c.fit(small, epochs=2, batch_size=40)
    assert not same_params(a, c)


def test_fit_continues_bit_for_bit(small, seed):
    """fit(3) then fit(2) is fit(5): the optimizer state, step count and generator carry over."""
    once, twice = small_model(seed), small_model(seed)
    history_once = once.fit(small, epochs=5, batch_size=40, warmup_epochs=4)
    twice.fit(small, epochs=3, batch_size=40, warmup_epochs=4)
    history_twice = twice.fit(small, epochs=2, batch_size=40, warmup_epochs=4)
    assert same_params(once, twice)
    assert twice.optimizer.t == once.optimizer.t == 5 * 5 and twice.steps_trained == 25
    assert twice.epochs_trained == 5
    for key in ("epoch", "beta", "loss", "recon", "kl"):
        assert history_twice[key] == history_once[key]
    for name in once.optimizer.m:
        np.testing.assert_array_equal(once.optimizer.m[name], twice.optimizer.m[name])
        np.testing.assert_array_equal(once.optimizer.v[name], twice.optimizer.v[name])


def test_warmup_ramps_beta_linearly_across_calls(small, seed):
    model = small_model(seed)
    betas_per_step = []
    original = model.step

    def recording(batch, eps, beta, ws, **objective):
        betas_per_step.append(beta)
        return original(batch, eps, beta, ws, **objective)

    model.step = recording
    model.fit(small, epochs=2, batch_size=100, warmup_epochs=4, beta=2.0)
    history = model.fit(small, epochs=3, batch_size=100, warmup_epochs=4, beta=2.0)
    # beta_e = 2 min(1, (e + 1) / 4): 0.5, 1.0, 1.5, 2.0, 2.0, counted over both calls
    assert history["beta"] == [0.5, 1.0, 1.5, 2.0, 2.0]
    assert betas_per_step == [0.5, 0.5, 1.0, 1.0, 1.5, 1.5, 2.0, 2.0, 2.0, 2.0]   # two steps per epoch


def test_history_keys_and_lengths(images, seed):
    x, x_val = images[0][:120], images[1][:50]
    model = small_model(seed)
    model.fit(x, epochs=2, batch_size=50)
    history = model.fit(x, epochs=1, batch_size=50, validation_data=x_val)
    assert set(history) == set(HISTORY_KEYS)
    assert all(len(history[key]) == 3 for key in HISTORY_KEYS)
    assert history["epoch"] == [1, 2, 3]
    assert history["val_loss"][:2] == [None, None] and history["val_recon"][:2] == [None, None]
    assert history["val_loss"][2] == pytest.approx(history["val_recon"][2] + history["val_kl"][2], rel=1e-15)
    for e in range(3):
        assert history["loss"][e] == pytest.approx(history["recon"][e] + history["kl"][e], rel=1e-15)
        assert history["kl"][e] > 0 and history["examples_per_sec"][e] > 0
    assert history["time"][0] < history["time"][1] < history["time"][2]
    assert history is model.history
    assert model.steps_trained == 3 * 3     # 120 examples in batches of 50: 50, 50, 20


def test_history_records_the_latent_health_of_the_validation_pass(images, seed):
    """val_kl_per_dimension and val_active_units equal purevae.diagnostics on the model after that epoch."""
    from purevae import diagnostics
    x, x_val = images[0][:120], images[1][:50]
    model = small_model(seed)
    seen = []
    model.fit(x, epochs=2, batch_size=50, validation_data=x_val,
              callback=lambda record: seen.append((diagnostics.kl_per_dimension(model, x_val),
                                                   diagnostics.active_units(model, x_val).count)))
    history = model.history
    for e, (kl_dims, active) in enumerate(seen):
        np.testing.assert_allclose(history["val_kl_per_dimension"][e], kl_dims, rtol=1e-12, atol=1e-15)
        assert history["val_active_units"][e] == active
        # the dimensions' KLs add up to the validation KL term (a float64 sum of the same terms)
        assert sum(history["val_kl_per_dimension"][e]) == pytest.approx(history["val_kl"][e], rel=1e-5)
    assert len(history["val_kl_per_dimension"][0]) == model.n_latent


def test_history_keys_added_later_are_padded_for_earlier_epochs(images, seed):
    x = images[0][:100]
    model = small_model(seed)
    model.fit(x, epochs=2, batch_size=50)
    for key in ("val_kl_per_dimension", "val_active_units"):      # a model trained before these keys existed
        del model.history[key]
    history = model.fit(x, epochs=1, batch_size=50, validation_data=images[1][:20])
    assert history["val_active_units"][:2] == [None, None] and history["val_active_units"][2] is not None
    assert all(len(history[key]) == 3 for key in HISTORY_KEYS)


def test_training_loss_is_the_batch_weighted_mean(small, seed):
    """history['loss'] of an epoch without shuffling is the size-weighted mean of the batches' losses."""
    model = small_model(seed)
    losses, sizes = [], []
    original = model.step

    def recording(batch, eps, beta, ws, **objective):
        result = original(batch, eps, beta, ws, **objective)
        losses.append(result[0])
        sizes.append(len(batch))
        return result

    model.step = recording
    history = model.fit(small, epochs=1, batch_size=64, shuffle=False)
    assert sizes == [64, 64, 64, 8]
    np.testing.assert_allclose(history["loss"][0], np.dot(losses, sizes) / 200, rtol=1e-12, atol=0)


CYTHON = pytest.mark.skipif(not backend.cython_available(), reason="extension not built")
# In float32 a step of 1e6 can make the next gradients ~1e37; the NumPy twin of the Adam update then overflows
# in m / (1 - beta1^t) and says so (the Cython kernel does not). The parameters stay finite and the loss of the
# step after is NaN, so TrainingDiverged follows; the warning is the optimizer's own and allowed here.
ADAM_OVERFLOW = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@pytest.mark.parametrize("impl, dtype", [
    ("numpy", "float64"), pytest.param("cython", "float64", marks=CYTHON),
    pytest.param("numpy", "float32", marks=ADAM_OVERFLOW), pytest.param("cython", "float32", marks=CYTHON)])
def test_divergence_stops_with_the_parameters_of_before_the_failing_step(seed, impl, dtype, monkeypatch):
    """TrainingDiverged, not a NumPy RuntimeWarning (pytest runs with warnings as errors), and the last good params."""
    monkeypatch.setattr(backend, "_current", impl)
    rng = np.random.default_rng(seed)
    x = rng.random((40, 6))
    model = VAE(6, hidden=(5,), n_latent=2, dtype=dtype, seed=seed % 1000)
    # log-variances are clamped (ops.LOGVAR_LIMIT), so only a step that overflows the dtype's range diverges:
    # parameters of ~lr after one Adam step, whose products through 3 layers exceed 3.4e38 / 1.8e308
    lr = 1e30 if dtype == "float32" else 1e160
    model.optimizer = Adam(lr=lr)         # fit keeps an existing optimizer of the same kind
    after_each_step = []
    step = model.optimizer.step

    def recording_step(params, grads):
        step(params, grads)
        after_each_step.append({name: p.copy() for name, p in params.items()})

    model.optimizer.step = recording_step
    with pytest.raises(TrainingDiverged, match="the loss became"):
        model.fit(x, epochs=3, batch_size=10, lr=lr)
    assert len(after_each_step) >= 1
    assert all(np.all(np.isfinite(p)) for p in model.params.values())
    last_good = after_each_step[-1]
    assert all(np.array_equal(model.params[name], last_good[name]) for name in model.params)
    assert model.steps_trained == len(after_each_step)
    assert purevae.TrainingDiverged is TrainingDiverged


@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
    ({"batch_size": 11}, ValueError, r"batch_size \(11\) is larger than the number of examples \(10\)"),
    ({"lr": -1.0}, ValueError, "lr must be a finite number > 0"),
    ({"warmup_epochs": -1}, ValueError, "warmup_epochs must be an integer >= 0"),
    ({"beta": -0.5}, ValueError, "beta must be a finite number >= 0"),
    ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of"),
    ({"validation_data": np.zeros((3, 5))}, ValueError, "validation_data must have 6 features"),
])
def test_fit_rejects_bad_arguments(kwargs, error, match):
    model = VAE(6, hidden=(3,), n_latent=2, seed=0)
    arguments = {"epochs": 1, "batch_size": 5, **kwargs}
    with pytest.raises(error, match=match):
        model.fit(np.full((10, 6), 0.5), **arguments)
