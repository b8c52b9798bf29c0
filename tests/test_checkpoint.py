"""Checkpoints: resume bit-identically (end of epoch and mid-epoch), never write NaN, refuse bad files."""
import numpy as np
import pytest

import purevae
from purevae import data
from purevae.train import TrainingDiverged


@pytest.fixture(scope="module")
def small_data():
    ds = data.load_bundled()
    return data.scale_pixels(ds.x_train[:600]), data.scale_pixels(ds.x_test[:100])


def make_model(dtype="float32"):
    return purevae.VAE(784, (32,), 4, seed=11, dtype=dtype)


FIT = dict(batch_size=64, lr=2e-3, binarize=True, warmup_epochs=2)  # 10 steps per epoch, the last one partial


def interrupt_after(model, n_calls):
    """Make the model's n_calls-th training step raise KeyboardInterrupt (a simulated Ctrl-C / crash)."""
    original = model.step
    calls = [0]

    def step(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n_calls:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    model.step = step


@pytest.mark.parametrize("stop_at_call", [11, 26])  # 26: the 6th step of epoch 3, between two checkpoints
def test_resume_is_bit_identical_to_an_uninterrupted_run(small_data, tmp_path, stop_at_call):
    x, x_val = small_data
    reference = make_model()
    reference.fit(x, epochs=4, validation_data=x_val, **FIT)

    interrupted = make_model()
    interrupt_after(interrupted, stop_at_call)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(x, epochs=4, validation_data=x_val, checkpoint=tmp_path / "ckpt.npz", checkpoint_every=3,
                        **FIT)
    resumed = purevae.load(tmp_path / "ckpt.npz")
    done = stop_at_call - 1  # steps completed before the interruption; checkpoints every 3 steps and epoch (10)
    assert resumed.steps_trained == max(3 * (done // 3), 10 * (done // 10))
    resumed.fit(x, epochs=4 - resumed.epochs_trained, validation_data=x_val, **FIT)
    for name in reference.params:
        np.testing.assert_array_equal(resumed.params[name], reference.params[name], err_msg=name)
    assert resumed.history["val_loss"] == reference.history["val_loss"]
    assert resumed.history["loss"] == reference.history["loss"]


def test_resume_with_other_data_is_refused(small_data, tmp_path):
    x, _ = small_data
    model = make_model()
    interrupt_after(model, 5)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, epochs=1, checkpoint=tmp_path / "c.npz", checkpoint_every=2, **FIT)
    resumed = purevae.load(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="resume it with the same x"):
        resumed.fit(x[:500], epochs=1, **FIT)


def test_diverged_training_keeps_last_good_checkpoint(small_data, tmp_path):
    x, _ = small_data
    model = make_model()
    path = tmp_path / "c.npz"
    model.fit(x, epochs=1, checkpoint=path, batch_size=64)
    saved = purevae.load(path)
    # poison one weight so that the next loss is NaN: fit must stop before any step and before any save
    model.params["decoder.out.bias"][0] = np.nan
    with pytest.raises(TrainingDiverged, match="epoch 2, step 1"):
        model.fit(x, epochs=1, checkpoint=path, batch_size=64)
    again = purevae.load(path)
    for name in saved.params:
        np.testing.assert_array_equal(again.params[name], saved.params[name])
    with pytest.raises(ValueError, match="not finite"):
        purevae.io.save_checkpoint(model, path)


def test_truncated_checkpoint_raises(small_data, tmp_path):
    x, _ = small_data
    model = make_model()
    path = tmp_path / "c.npz"
    model.fit(x, epochs=1, checkpoint=path, batch_size=64)
    blob = path.read_bytes()
    (tmp_path / "t.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="t.npz"):
        purevae.load(tmp_path / "t.npz")


def test_checkpoint_every_needs_a_path(small_data):
    x, _ = small_data
    with pytest.raises(ValueError, match="checkpoint_every needs a checkpoint path"):
        make_model().fit(x, epochs=1, checkpoint_every=2)
