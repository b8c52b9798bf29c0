"""KL schedules (purevae.schedules, fit(beta_schedule=)) and free bits (issue 10, items 2 and 3).

Derivations: docs/derivations.md#kl-schedules and #free-bits. Expected values are worked out by hand
from the formulas in the comments, never read back from the code.
"""
from __future__ import annotations

import numpy as np
import pytest

import purevae
from purevae import backend, cli, schedules
from purevae.objectives import warmup_beta


@pytest.fixture
def restore_backend():
    before = backend.get_backend()
    yield
    backend.set_backend(before)


def tiny(seed=0, **kwargs):
    return purevae.VAE(6, hidden=(5,), n_latent=3, activation="tanh", dtype="float64", seed=seed, **kwargs)


def tiny_data(n=40, seed=0):
    return np.random.default_rng(seed).random((n, 6))


# ------------------------------------------------------------------------------------------------
# the schedules' values
# ------------------------------------------------------------------------------------------------
def test_constant_and_linear_per_step():
    assert [schedules.constant(0.3)(t, 0) for t in range(3)] == [0.3, 0.3, 0.3]
    # beta min(1, (t + 1) / T) with T = 4, beta = 2: 0.5, 1, 1.5, 2, 2
    assert [schedules.linear(4, 2.0)(t, 99) for t in range(5)] == [0.5, 1.0, 1.5, 2.0, 2.0]


def test_per_epoch_linear_is_warmup_epochs():
    s = schedules.per_epoch_linear(3, 1.5)
    assert [s(0, e) for e in range(4)] == [warmup_beta(e, 3, 1.5) for e in range(4)] == [0.5, 1.0, 1.5, 1.5]
    assert schedules.per_epoch_linear(0, 0.7)(5, 5) == 0.7


def test_cyclical_follows_fu_et_al():
    # 2 cycles over 8 steps: C = 4, tau = 0, 1/4, 2/4, 3/4; ratio 1/2 -> beta min(1, 2 tau): 0, 0.5, 1, 1
    s = schedules.cyclical(n_cycles=2, ratio=0.5, total_steps=8, beta=1.0)
    assert [s(t, 0) for t in range(10)] == [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0]
    # ratio 1 and a cycle of 5 steps: 0, 0.2, 0.4, 0.6, 0.8 of beta = 3
    s = schedules.cyclical(1, 1.0, 5, 3.0)
    np.testing.assert_allclose([s(t, 0) for t in range(5)], [0.0, 0.6, 1.2, 1.8, 2.4], rtol=1e-15, atol=0)


@pytest.mark.parametrize("make, error, match", [
    (lambda: schedules.linear(0), ValueError, "warmup_steps"),
    (lambda: schedules.linear(2.5), TypeError, "warmup_steps"),
    (lambda: schedules.constant(-1.0), ValueError, "beta"),
    (lambda: schedules.constant("1"), TypeError, "beta"),
    (lambda: schedules.cyclical(0, 0.5, 10), ValueError, "n_cycles"),
    (lambda: schedules.cyclical(2, 0.0, 10), ValueError, "ratio"),
    (lambda: schedules.cyclical(2, 1.5, 10), ValueError, "ratio"),
    (lambda: schedules.cyclical(2, 0.5, 0), ValueError, "total_steps"),
    (lambda: schedules.make_schedule("sigmoid"), ValueError, "beta_schedule must be one of"),
    (lambda: schedules.per_epoch_linear(-1), ValueError, "warmup_epochs"),
])
def test_schedule_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ------------------------------------------------------------------------------------------------
# fit with a schedule
# ------------------------------------------------------------------------------------------------
def record_betas(model):
    seen = []
    original = model.step

    def step(x, eps, beta, ws, **kwargs):
        seen.append(beta)
        return original(x, eps, beta, ws, **kwargs)
    model.step = step
    return seen


def test_fit_calls_the_schedule_with_the_global_step_and_epoch():
    model, x = tiny(), tiny_data()
    calls = []

    def schedule(step, epoch):
        calls.append((step, epoch))
        return 0.1 * step
    seen = record_betas(model)
    model.fit(x, epochs=2, batch_size=20, beta_schedule=schedule)            # 2 steps per epoch
    model.fit(x, epochs=1, batch_size=20, beta_schedule=schedule)            # continues the counters
    assert calls == [(0, 0), (1, 0), (2, 1), (3, 1), (4, 2), (5, 2)]
    np.testing.assert_allclose(seen, [0.0, 0.1, 0.2, 0.3, 0.4, 0.5], rtol=1e-15, atol=0)
    # the epoch's beta is the mean over its steps when it moved within the epoch
    np.testing.assert_allclose(model.history["beta"], [0.05, 0.25, 0.45], rtol=1e-14, atol=0)


def test_a_per_epoch_schedule_is_bit_identical_to_warmup_epochs():
    x = tiny_data()
    a, b = tiny(), tiny()
    a.fit(x, epochs=3, batch_size=16, beta=2.0, warmup_epochs=2)
    b.fit(x, epochs=3, batch_size=16, beta_schedule=schedules.per_epoch_linear(2, 2.0))
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert a.history["beta"] == b.history["beta"] == [1.0, 2.0, 2.0]


@pytest.mark.parametrize("schedule", [schedules.linear(7, 1.0), schedules.cyclical(3, 0.5, 30, 1.0),
                                      schedules.constant(0.5)])
def test_checkpoints_resume_bit_identically_with_every_schedule(schedule, tmp_path):
    x = tiny_data(50)
    reference = tiny(seed=2)
    reference.fit(x, epochs=3, batch_size=8, beta_schedule=schedule)           # 7 steps per epoch
    stopped = tiny(seed=2)
    path = tmp_path / "ckpt.npz"
    stopped.fit(x, epochs=1, batch_size=8, beta_schedule=schedule, checkpoint=path)
    calls = [0]
    original = stopped.step

    def crash_on_the_4th(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt
        return original(*args, **kwargs)
    stopped.step = crash_on_the_4th
    with pytest.raises(KeyboardInterrupt):
        stopped.fit(x, epochs=2, batch_size=8, beta_schedule=schedule, checkpoint=path, checkpoint_every=2)
    resumed = purevae.load(path)                                 # the checkpoint 3 steps into epoch 2
    resumed.fit(x, epochs=3 - resumed.epochs_trained, batch_size=8, beta_schedule=schedule)
    for name in reference.params:
        np.testing.assert_array_equal(resumed.params[name], reference.params[name], err_msg=name)
    assert resumed.history["beta"] == reference.history["beta"]


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
def test_a_schedule_returning_a_bad_beta_stops_before_that_step(bad):
    model, x = tiny(), tiny_data()
    before = {k: v.copy() for k, v in model.params.items()}
    with pytest.raises(ValueError, match=r"beta_schedule returned beta = .* at step 2"):
        model.fit(x, epochs=2, batch_size=20, beta_schedule=lambda step, epoch: 1.0 if step < 2 else bad)
    assert model.steps_trained == 2                              # the two good steps were taken, no third
    assert any(not np.array_equal(before[k], model.params[k]) for k in before)


def test_fit_refuses_conflicting_or_bad_schedule_arguments():
    model, x = tiny(), tiny_data()
    with pytest.raises(ValueError, match="beta_schedule replaces beta and warmup_epochs"):
        model.fit(x, epochs=1, batch_size=20, beta=2.0, beta_schedule=schedules.constant(2.0))
    with pytest.raises(ValueError, match="beta_schedule replaces"):
        model.fit(x, epochs=1, batch_size=20, warmup_epochs=3, beta_schedule=schedules.constant(1.0))
    with pytest.raises(TypeError, match="beta_schedule must be callable"):
        model.fit(x, epochs=1, batch_size=20, beta_schedule="cyclical")
    with pytest.raises(TypeError, match="beta_schedule returned 'x'"):
        model.fit(x, epochs=1, batch_size=20, beta_schedule=lambda s, e: "x")
    assert model.steps_trained == 0


# ------------------------------------------------------------------------------------------------
# free bits
# ------------------------------------------------------------------------------------------------
def kl_dims_by_hand(model, x):
    mu, logvar = model.encode(x)
    return np.mean(0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1), axis=0)


def test_free_bits_loss_is_the_floored_kl_by_hand(rng):
    model, x = tiny(), tiny_data(8)
    eps = rng.standard_normal((8, 3))
    kl_dims = kl_dims_by_hand(model, x)
    lam = float(np.median(kl_dims))                               # one dimension at least on each side
    plain, _ = model.loss_and_grads(x, eps=eps, beta=0.7)
    floored, _ = model.loss_and_grads(x, eps=eps, beta=0.7, free_bits=lam)
    # same reconstruction term: the difference is beta (sum_j max(lam, KL_j) - sum_j KL_j)
    np.testing.assert_allclose(floored - plain, 0.7 * np.sum(np.maximum(lam, kl_dims) - kl_dims),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("impl", ["numpy", "cython"])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_free_bits_gradient_matches_central_differences_away_from_the_kink(impl, likelihood, rng, restore_backend):
    backend.set_backend(impl)
    model = tiny(seed=3, likelihood=likelihood)
    x = tiny_data(6, seed=4)
    kl_dims = np.sort(kl_dims_by_hand(model, x))
    lam = 0.5 * (kl_dims[0] + kl_dims[1])                          # between two dimensions: far from both
    assert min(abs(kl_dims - lam)) > 1e-3
    errors = purevae.gradcheck(model, x, eps=rng.standard_normal((6, 3)), beta=0.8, free_bits=lam)
    assert max(errors.values()) < 1e-6, errors


def test_dimensions_below_the_floor_get_no_kl_gradient(rng):
    """Floor every dimension (lam above all KL_j): the KL term is a constant, so the gradient is beta = 0's."""
    model, x = tiny(), tiny_data(8)
    eps = rng.standard_normal((8, 3))
    lam = 10 * kl_dims_by_hand(model, x).max() + 1
    _, floored = model.loss_and_grads(x, eps=eps, beta=0.9, free_bits=lam)
    _, no_kl = model.loss_and_grads(x, eps=eps, beta=0.0)
    for name in floored:
        np.testing.assert_array_equal(floored[name], no_kl[name], err_msg=name)


def test_per_dimension_kl_weights_in_the_kernel_match_the_twin(rng, restore_backend):
    if not purevae.cython_available():
        pytest.skip("the Cython extension is not built")
    mu_logvar, eps, grad_z = rng.normal(size=(5, 6)), rng.standard_normal((5, 3)), rng.normal(size=(5, 3))
    betas = np.array([0.0, 0.4, 1.3])
    got = backend.reparameterize_kl_backward(mu_logvar, eps, grad_z, betas, 0.2, impl="cython")
    want = backend.reparameterize_kl_backward(mu_logvar, eps, grad_z, betas, 0.2, impl="numpy")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # the dimension with weight 0 gets the path through z only: grad_mu = grad_z
    np.testing.assert_array_equal(got[:, 0], grad_z[:, 0])


def test_fit_with_free_bits_keeps_the_floor(rng):
    x = tiny_data(60)
    model = tiny()
    model.fit(x, epochs=2, batch_size=20, free_bits=0.05)
    assert model.steps_trained == 6 and np.isfinite(model.history["loss"][-1])


@pytest.mark.parametrize("call, error, match", [
    (lambda m, x: m.loss_and_grads(x, free_bits=-0.1), ValueError, "free_bits"),
    (lambda m, x: m.loss_and_grads(x, free_bits="1"), TypeError, "free_bits"),
    (lambda m, x: m.loss_and_grads(x, free_bits=float("nan")), ValueError, "free_bits"),
    (lambda m, x: m.loss_and_grads(x, eps=np.zeros((2, 4, 3)), objective="iwae", free_bits=0.5), ValueError,
     "free_bits applies to objective 'elbo'"),
    (lambda m, x: m.fit(x, epochs=1, batch_size=2, objective="iwae", free_bits=0.5), ValueError,
     "free_bits applies to objective 'elbo'"),
])
def test_free_bits_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(tiny(), tiny_data(4))


# ------------------------------------------------------------------------------------------------
# the command line
# ------------------------------------------------------------------------------------------------
BASE = ["train", "--epochs", "2", "--n-train", "256", "--n-test", "32", "--batch-size", "64", "--hidden", "16",
        "--latent", "3", "--no-plots", "--quiet"]


def test_cli_cyclical_schedule_and_free_bits(tmp_path):
    import json
    out = tmp_path / "run"
    assert cli.main(BASE + ["--kl-schedule", "cyclical", "--kl-cycles", "2", "--kl-ratio", "0.5", "--free-bits",
                            "0.2", "--out", str(out)]) == 0
    betas = [e["beta"] for e in json.loads((out / "metrics.json").read_text())["epochs"]]
    # 4 steps per epoch, 8 in all, 2 cycles of 4: beta = 0, 0.5, 1, 1 in each epoch, mean 0.625
    assert betas == [0.625, 0.625]


@pytest.mark.parametrize("extra, message", [
    (["--kl-schedule", "linear"], "needs --kl-warmup-steps"),
    (["--kl-schedule", "constant", "--warmup", "2"], "replaces --warmup"),
    (["--kl-schedule", "cyclical", "--kl-ratio", "1.5"], "--kl-ratio must be in"),
    (["--objective", "iwae", "--free-bits", "0.5"], "--free-bits applies to --objective elbo"),
])
def test_cli_schedule_usage_errors(extra, message, tmp_path, capsys):
    assert cli.main(BASE + extra + ["--out", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
