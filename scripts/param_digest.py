"""Print a SHA-256 digest of the parameters that a fixed set of seeded training runs ends with.

Run it before and after a refactor that must not change any number: equal digests mean bit-identical
parameters; the training and validation loss histories are digested apart from them. Each run trains on the first 1,000
bundled Fashion-MNIST images for 2 epochs; the configurations cover both backends, both dtypes, every
likelihood, two activations and depths, SGD, KL warm-up, dynamic binarization, a k-sample step and a
checkpoint resumed in the middle of an epoch.

    python scripts/param_digest.py            # one line per run: backend dtype config -> digest
"""
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np

import purevae
from purevae.data import load_dataset, scale_pixels

RUNS = [
    ("bernoulli relu", dict(likelihood="bernoulli"), dict()),
    ("bernoulli tanh 2 layers, sgd, warm-up", dict(hidden=(64, 32), activation="tanh"),
     dict(optimizer="sgd", lr=1e-2, warmup_epochs=2)),
    ("bernoulli elu, dynamic binarization, beta 2", dict(activation="elu"), dict(binarize=True, beta=2.0)),
    ("gaussian learned variance", dict(likelihood="gaussian"), dict()),
    ("gaussian fixed variance, leaky_relu", dict(likelihood="gaussian", variance=0.1, activation="leaky_relu"),
     dict()),
]


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def model_digest(model) -> str:
    """params | training losses | validation losses: three digests, so that a change shows where it is."""
    return " ".join([digest(*model.params.values()), digest(np.asarray(model.history["loss"])),
                     digest(np.asarray(model.history["val_loss"], dtype=float))])


def main() -> int:
    data = load_dataset("bundled")
    for backend in purevae.backend.BACKENDS:
        if backend == "cython" and not purevae.cython_available():
            continue
        purevae.set_backend(backend)
        for dtype in ("float32", "float64"):
            x = scale_pixels(data.x_train[:1000], dtype)
            x_val = scale_pixels(data.x_test[:200], dtype)
            for name, model_kwargs, fit_kwargs in RUNS:
                kwargs = {"hidden": (48,), "n_latent": 8, **model_kwargs}
                m = purevae.VAE(n_input=784, dtype=dtype, seed=3, **kwargs)
                m.fit(x, epochs=2, batch_size=96, validation_data=x_val, **{"lr": 1e-3, **fit_kwargs})
                print(f"{backend:6s} {dtype}  {name:45s} {model_digest(m)}")
            # a k-sample step and its gradients
            m = purevae.VAE(n_input=784, hidden=(48,), n_latent=8, dtype=dtype, seed=4)
            eps = np.random.default_rng(5).standard_normal((3, 64, 8))
            loss, grads = m.loss_and_grads(x[:64], eps=eps)
            print(f"{backend:6s} {dtype}  {'k=3 loss_and_grads':45s} {digest(np.float64(loss), *grads.values())}")
            # a checkpoint written in the middle of an epoch, loaded and continued
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "ckpt.npz"
                m = purevae.VAE(n_input=784, hidden=(48,), n_latent=8, dtype=dtype, seed=6)
                m.fit(x, epochs=1, batch_size=96, checkpoint=path, checkpoint_every=4)
                m.fit(x, epochs=1, batch_size=96, checkpoint=path, checkpoint_every=7)
                resumed = purevae.load(path)   # the last mid-epoch checkpoint was at step 7 of epoch 2
                resumed.fit(x, epochs=1, batch_size=96)
                print(f"{backend:6s} {dtype}  {'checkpoint resumed mid-epoch':45s} {model_digest(resumed)}")
            # evaluation numbers
            m = purevae.VAE(n_input=784, hidden=(48,), n_latent=8, dtype=dtype, seed=7)
            m.fit(x, epochs=1, batch_size=96)
            print(f"{backend:6s} {dtype}  {'elbo k=2, log_likelihood k=50':45s} "
                  f"{digest(m.elbo(x_val, k=2), m.log_likelihood(x_val[:50], k=50))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
