"""Weights for other frameworks (issue 13, part 2): ``state_dict`` / ``from_state_dict`` in torch.nn.Linear's layout,
a PyTorch module that loads them and computes the same loss and gradients, and safetensors files read and written
without the dependency (and checked against the ``safetensors`` package when it is installed).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import purevae
from purevae.model import VAE


def test_state_dict_is_params_in_linear_layout_and_builds_the_same_model():
    model = VAE(12, (7, 5), 3, likelihood="gaussian", dtype="float64", seed=3, n_classes=4)
    sd = model.state_dict()
    assert list(sd) == list(model.params)
    for name, value in sd.items():
        want = model.params[name].T if name.endswith(".weight") and "label" not in name else model.params[name]
        np.testing.assert_array_equal(value, want)
        assert value.flags.c_contiguous and not np.shares_memory(value, model.params[name])
    assert sd["encoder.0.weight"].shape == (7, 12) and sd["decoder.out.weight"].shape == (12, 7)
    again = VAE.from_state_dict(sd, seed=3)
    assert again.config() == model.config()
    for name in model.params:
        np.testing.assert_array_equal(again.params[name], model.params[name])
    # the options that are not in the arrays; the dtype of the arrays; decoder.logvar means a learned Gaussian
    plain = VAE.from_state_dict(VAE(6, (), 2, seed=0).state_dict(), activation="tanh")
    assert plain.config()["likelihood"] == "bernoulli" and plain.activation == "tanh" and plain.hidden == ()
    assert plain.dtype == np.float32


def test_state_dict_errors_name_the_entry():
    sd = VAE(6, (4,), 2, dtype="float64").state_dict()
    model = VAE(6, (4,), 2, dtype="float64")
    bad = dict(sd)
    del bad["decoder.out.bias"]
    with pytest.raises(ValueError, match=r"missing \['decoder.out.bias'\]"):
        model.load_state_dict(bad)
    bad = dict(sd, **{"encoder.0.weight": sd["encoder.0.weight"].T})
    with pytest.raises(ValueError, match=r"state_dict\['encoder.0.weight'\] has shape \(6, 4\), expected \(4, 6\)"):
        model.load_state_dict(bad)
    bad = dict(sd, **{"encoder.0.bias": np.full(4, np.nan)})
    with pytest.raises(ValueError, match="contains NaN"):
        model.load_state_dict(bad)
    with pytest.raises(TypeError, match="mapping of names to arrays"):
        VAE.from_state_dict([1, 2])
    with pytest.raises(ValueError, match="no encoder.out.weight"):
        VAE.from_state_dict({"decoder.out.weight": np.zeros((2, 2))})
    with pytest.raises(TypeError, match="reads hidden from the arrays"):
        VAE.from_state_dict(sd, hidden=(3,))
    with pytest.raises(TypeError, match="must hold real numbers"):
        model.load_state_dict(dict(sd, **{"encoder.0.bias": np.array(["a"] * 4)}))


# ---- PyTorch ------------------------------------------------------------------------------------------
def torch_vae(torch, n_input, hidden, n_latent, learned_variance=False):
    """The README's module: submodules named like purevae's layers, so that state_dict() loads strictly."""
    nn = torch.nn

    class MLP(nn.Module):
        def __init__(self, sizes):
            super().__init__()
            for i, (a, b) in enumerate(zip(sizes[:-2], sizes[1:-1])):
                self.add_module(str(i), nn.Linear(a, b))
            self.add_module("out", nn.Linear(sizes[-2], sizes[-1]))

        def forward(self, h):
            for name, layer in self.named_children():
                h = layer(h) if name == "out" else torch.relu(layer(h))
            return h

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = MLP([n_input, *hidden, 2 * n_latent])
            self.decoder = MLP([n_latent, *hidden[::-1], n_input])
            if learned_variance:
                self.decoder.logvar = nn.Parameter(torch.zeros(n_input))

    return TorchVAE()


def torch_loss(torch, module, x, eps, likelihood):
    """The negative ELBO written with torch's own functions: mean over the batch of -log p(x|z) + KL."""
    mu, logvar = module.encoder(x).chunk(2, dim=-1)
    z = mu + torch.exp(logvar / 2) * eps
    out = module.decoder(z)
    if likelihood == "bernoulli":
        nll = torch.nn.functional.binary_cross_entropy_with_logits(out, x, reduction="none").sum(-1)
    else:
        lv = module.decoder.logvar
        nll = 0.5 * (np.log(2 * np.pi) + lv + (x - out) ** 2 * torch.exp(-lv)).sum(-1)
    kl = 0.5 * (mu ** 2 + torch.exp(logvar) - logvar - 1).sum(-1)
    return (nll + kl).mean()


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_a_torch_module_loads_the_state_dict_and_agrees_on_loss_and_every_gradient(likelihood):
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    try:
        rng = np.random.default_rng(0)
        model = VAE(10, (8, 6), 3, likelihood=likelihood, dtype="float64", seed=1)
        if likelihood == "gaussian":
            model.params["decoder.logvar"][...] = rng.normal(0, 0.3, 10)
        x = rng.random((5, 10))
        eps = rng.standard_normal((5, 3))
        loss, grads = model.loss_and_grads(x, eps=eps)
        module = torch_vae(torch, 10, (8, 6), 3, learned_variance=likelihood == "gaussian")
        module.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()}, strict=True)
        t_loss = torch_loss(torch, module, torch.from_numpy(x), torch.from_numpy(eps), likelihood)
        t_loss.backward()
        np.testing.assert_allclose(t_loss.item(), loss, rtol=1e-12)
        t_grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
        ours = model.state_dict()     # the layout of torch's parameters ...
        for name, grad in grads.items():   # ... and of their gradients
            g = grad.T if name.endswith(".weight") else grad
            np.testing.assert_allclose(t_grads[name], g, rtol=1e-10, atol=1e-14 * max(1, np.abs(g).max()))
            assert t_grads[name].shape == ours[name].shape
        # torch -> purevae -> torch: the same tensors
        back = VAE.from_state_dict({k: v.detach() for k, v in module.state_dict().items()}, likelihood=likelihood)
        again = torch_vae(torch, 10, (8, 6), 3, learned_variance=likelihood == "gaussian")
        again.load_state_dict({k: torch.from_numpy(v) for k, v in back.state_dict().items()}, strict=True)
        for (name, a), (_, b) in zip(module.state_dict().items(), again.state_dict().items()):
            assert torch.equal(a, b), name
        with pytest.raises(TypeError, match=r"\.detach\(\)"):
            VAE.from_state_dict(dict(module.named_parameters()))
    finally:
        torch.set_default_dtype(torch.float32)


# ---- safetensors --------------------------------------------------------------------------------------
def test_safetensors_round_trip_and_the_layout_of_the_file(tmp_path):
    model = VAE(9, (6,), 2, likelihood="gaussian", dtype="float32", seed=4, n_classes=3)
    model.epochs_trained, model.steps_trained = 3, 30
    path = model.save(tmp_path / "m.safetensors")
    loaded = purevae.load(path)
    assert loaded.config() == model.config() and (loaded.epochs_trained, loaded.steps_trained) == (3, 30)
    for name in model.params:
        np.testing.assert_array_equal(loaded.params[name], model.params[name])
    # the bytes, read by hand: u64 header length, JSON, then each tensor's little-endian bytes at its offsets
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    assert n % 8 == 0 and json.loads(header["__metadata__"]["purevae"])["config"] == model.config()
    data = raw[8 + n:]
    for name, value in model.state_dict().items():
        entry = header[name]
        begin, end = entry["data_offsets"]
        assert entry["dtype"] == "F32" and entry["shape"] == list(value.shape)
        np.testing.assert_array_equal(np.frombuffer(data[begin:end], "<f4").reshape(value.shape), value)


def test_the_safetensors_package_reads_our_file_and_we_read_its(tmp_path):
    stn = pytest.importorskip("safetensors.numpy")
    model = VAE(9, (6,), 2, dtype="float64", seed=4)
    ours = model.save(tmp_path / "ours.safetensors")
    tensors = stn.load_file(str(ours))
    assert set(tensors) == set(model.state_dict())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(tensors[name], value)
    from safetensors import safe_open
    with safe_open(str(ours), framework="numpy") as f:
        assert json.loads(f.metadata()["purevae"])["config"] == model.config()
    theirs = tmp_path / "theirs.safetensors"
    config = json.dumps({"format": "purevae", "format_version": 1, "config": model.config()})
    stn.save_file(model.state_dict(), str(theirs), metadata={"purevae": config})
    loaded = purevae.load(theirs)
    for name in model.params:
        np.testing.assert_array_equal(loaded.params[name], model.params[name])
    stn.save_file(model.state_dict(), str(tmp_path / "bare.safetensors"))
    with pytest.raises(ValueError, match="no purevae config in its __metadata__.*from_state_dict"):
        purevae.load(tmp_path / "bare.safetensors")
    built = VAE.from_state_dict(stn.load_file(str(tmp_path / "bare.safetensors")))
    np.testing.assert_array_equal(built.params["encoder.0.weight"], model.params["encoder.0.weight"])


@pytest.mark.parametrize("corrupt, match", [
    (lambda raw: raw[:5], "shorter than its 8-byte header length"),
    (lambda raw: (10**9).to_bytes(8, "little") + raw[8:], "its header claims 1000000000 bytes"),
    (lambda raw: raw[:-4], "outside the data"),
    (lambda raw: raw.replace(b'"F64"', b'"I64"', 1), "purevae reads F32 and F64"),
    (lambda raw: raw[:8] + b"[" + raw[9:], "not JSON"),
])
def test_a_corrupt_safetensors_file_is_a_value_error_naming_it(tmp_path, corrupt, match):
    path = VAE(5, (3,), 2, dtype="float64").save(tmp_path / "m.safetensors")
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ValueError, match=match) as info:
        purevae.load(path)
    assert "m.safetensors" in str(info.value)
