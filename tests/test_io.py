r"""Tests for purevae.io: save -> load round trips, refusal of broken or foreign files, atomic writes.

Every broken file is made here, in tmp_path, from a good one, so each test knows what it feeds ``load``.
"""
import json
import os

import numpy as np
import pytest

import purevae
from purevae import VAE, io

ARCHITECTURES = [
    {"n_input": 6, "hidden": (5, 4), "n_latent": 2, "likelihood": "bernoulli", "activation": "relu",
     "dtype": "float32"},
    {"n_input": 5, "hidden": (), "n_latent": 3, "likelihood": "gaussian", "activation": "tanh", "dtype": "float64"},
    {"n_input": 4, "hidden": (3,), "n_latent": 1, "likelihood": "gaussian", "variance": 0.25,
     "activation": "leaky_relu", "alpha": 0.2, "decoder_hidden": (5, 2), "dtype": "float32"},
]


def trained(config, seed, x):
    model = VAE(**config, seed=seed % 1000)
    model.fit(x, epochs=2, batch_size=4)      # parameters away from their initial values, counters > 0
    return model


def data_for(config, rng, n=8):
    x = rng.random((n, config["n_input"]))
    return x if config["likelihood"] == "bernoulli" else 2 * x - 0.5


@pytest.mark.parametrize("config", ARCHITECTURES, ids=["bernoulli-2hidden", "gaussian-learned-linear",
                                                       "gaussian-fixed-asymmetric"])
def test_round_trip_gives_identical_model(tmp_path, rng, seed, config):
    x = data_for(config, rng)
    model = trained(config, seed, x)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = purevae.load(path)
    assert loaded.config() == model.config()
    assert list(loaded.params) == list(model.params)
    for name in model.params:
        assert loaded.params[name].dtype == model.params[name].dtype
        np.testing.assert_array_equal(loaded.params[name], model.params[name])
    assert (loaded.epochs_trained, loaded.steps_trained) == (model.epochs_trained, model.steps_trained) == (2, 4)
    for a, b in zip(model.encode(x), loaded.encode(x)):
        np.testing.assert_array_equal(a, b)
    z = rng.standard_normal((3, config["n_latent"]))
    np.testing.assert_array_equal(model.decode(z), loaded.decode(z))
    np.testing.assert_array_equal(model.elbo(x, rng=5), loaded.elbo(x, rng=5))
    np.testing.assert_array_equal(model.sample(3, rng=6), loaded.sample(3, rng=6))
    eps = rng.standard_normal((len(x), config["n_latent"]))
    assert model.loss_and_grads(x, eps=eps)[0] == loaded.loss_and_grads(x, eps=eps)[0]


def test_saved_file_is_plain_arrays_and_json(tmp_path):
    model = VAE(4, hidden=(3,), n_latent=2, seed=0)
    path = io.save(model, tmp_path / "m.npz")     # io.save returns the path it wrote
    assert path == tmp_path / "m.npz"
    with np.load(path, allow_pickle=False) as data:     # readable without purevae and without pickle
        meta = json.loads(data["__purevae__"].tobytes().decode("utf-8"))
        keys = set(data.files)
    assert meta["format"] == "purevae" and meta["format_version"] == io.FORMAT_VERSION
    assert meta["config"] == json.loads(json.dumps(model.config()))
    assert keys == {"__purevae__"} | {f"params/{name}" for name in model.params}


# ------------------------------------------------------------------------------------------------
# broken and foreign files
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    model = VAE(4, hidden=(3,), n_latent=2, seed=0)
    model.save(tmp_path / "good.npz")
    return model, tmp_path / "good.npz"


def rewrite(path, arrays, tmp_path, name="edited.npz"):
    target = tmp_path / name
    np.savez(target, **arrays)
    return target


def arrays_of(path):
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def with_meta(arrays, edit):
    meta = json.loads(arrays["__purevae__"].tobytes().decode("utf-8"))
    edit(meta)
    return {**arrays, "__purevae__": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file_is_refused(saved, tmp_path, fraction):
    _, path = saved
    content = path.read_bytes()
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(content[:int(fraction * len(content))])
    with pytest.raises(ValueError, match="not a readable .npz file"):
        purevae.load(bad)


def test_pickled_object_array_is_refused(saved, tmp_path):
    _, path = saved
    arrays = arrays_of(path)
    arrays["params/encoder.0.weight"] = np.array([{"payload": "would run on unpickling"}], dtype=object)
    bad = rewrite(path, arrays, tmp_path)     # np.savez pickles object arrays
    with pytest.raises(ValueError, match="pickled object array"):
        purevae.load(bad)


@pytest.mark.parametrize("content", [b"not a model\n" * 20, b"", b"\x80\x04\x95 pickle-ish bytes"],
                         ids=["text", "empty", "pickle-header"])
def test_non_npz_file_is_refused(tmp_path, content):
    bad = tmp_path / "foreign.npz"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable .npz file"):
        purevae.load(bad)


def test_npy_file_is_refused(tmp_path):
    bad = tmp_path / "array.npz"
    with open(bad, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ValueError, match="not a readable .npz file"):
        purevae.load(bad)


def test_npz_without_purevae_entry_is_refused(tmp_path):
    bad = tmp_path / "other.npz"
    np.savez(bad, weights=np.zeros(3))
    with pytest.raises(ValueError, match="is not a purevae file"):
        purevae.load(bad)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_wrong_format_version_is_refused(saved, tmp_path, version):
    _, path = saved
    bad = rewrite(path, with_meta(arrays_of(path), lambda meta: meta.update(format_version=version)), tmp_path)
    with pytest.raises(ValueError, match=f"has format_version {version!r}; this purevae reads version 1"):
        purevae.load(bad)


@pytest.mark.parametrize("edit, match", [
    (lambda meta: meta["config"].update(hidden=[7]), r"does not match its config: entry 'params/encoder\.0\.weight' "
                                                      r"has shape \(4, 3\), the config implies \(4, 7\)"),
    (lambda meta: meta["config"].update(hidden=[3, 3], decoder_hidden=[3, 3]),
     r"does not match its config: missing entries \['params/decoder\.1\.bias'"),
    (lambda meta: meta["config"].update(n_latent=5), r"encoder\.out\.weight' has shape \(3, 4\), the config implies "
                                                      r"\(3, 10\)"),
    (lambda meta: meta["config"].update(dtype="float64"), r"has dtype float32, expected float64"),
    (lambda meta: meta["config"].update(likelihood="gaussian"), r"missing entries \['params/decoder\.logvar'\], "
                                                                 r"unexpected \[\]"),
    (lambda meta: meta["config"].update(activation="swish"), "has an invalid config: activation must be one of"),
    (lambda meta: meta["config"].pop("n_input"), "has an invalid config"),
])
def test_mismatched_architecture_is_refused(saved, tmp_path, edit, match):
    _, path = saved
    bad = rewrite(path, with_meta(arrays_of(path), edit), tmp_path)
    with pytest.raises(ValueError, match=match):
        purevae.load(bad)


def test_non_finite_parameter_is_refused(saved, tmp_path):
    _, path = saved
    arrays = arrays_of(path)
    arrays["params/decoder.out.bias"] = arrays["params/decoder.out.bias"].copy()
    arrays["params/decoder.out.bias"][0] = np.nan
    with pytest.raises(ValueError, match=r"parameter decoder\.out\.bias contains NaN or inf"):
        purevae.load(rewrite(path, arrays, tmp_path))


def test_corrupted_json_is_refused(saved, tmp_path):
    _, path = saved
    arrays = {**arrays_of(path), "__purevae__": np.frombuffer(b"{not json", dtype=np.uint8)}
    with pytest.raises(ValueError, match="corrupted __purevae__ entry"):
        purevae.load(rewrite(path, arrays, tmp_path))


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such model file"):
        purevae.load(tmp_path / "absent.npz")


# ------------------------------------------------------------------------------------------------
# atomic writes
# ------------------------------------------------------------------------------------------------
def test_save_leaves_no_temporary_files(tmp_path):
    model = VAE(4, hidden=(3,), n_latent=2, seed=0)
    model.save(tmp_path / "m.npz")
    model.save(tmp_path / "m.npz")          # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_failing_save_keeps_the_previous_file(tmp_path, monkeypatch):
    old = VAE(4, hidden=(3,), n_latent=2, seed=0)
    path = tmp_path / "m.npz"
    old.save(path)
    before = path.read_bytes()
    new = VAE(4, hidden=(3,), n_latent=2, seed=1)

    def failing_savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")     # a partial write, then the crash
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]
    loaded = purevae.load(path)
    for name in old.params:
        np.testing.assert_array_equal(loaded.params[name], old.params[name])


def test_save_creates_folders_and_requires_npz_suffix(tmp_path):
    model = VAE(4, hidden=(3,), n_latent=2, seed=0)
    model.save(tmp_path / "run" / "deep" / "m.npz")
    assert (tmp_path / "run" / "deep" / "m.npz").is_file()
    with pytest.raises(ValueError, match=r"path must end in \.npz"):
        model.save(tmp_path / "m.pkl")


def test_save_returns_the_path_and_uses_the_usual_permissions(tmp_path):

    model = VAE(5, hidden=(3,), n_latent=2, seed=0)
    path = model.save(tmp_path / "m.npz")
    assert path == tmp_path / "m.npz" and path.is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)
