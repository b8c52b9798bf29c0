r"""Print the gradient-check table (parameter -> max relative error) of classic-ish small VAEs.

    python benchmarks/gradcheck_table.py [--batch 4] [--h 1e-4]

One table per likelihood (Bernoulli, Gaussian with learned variance, Gaussian with fixed variance 0.1)
for a relu VAE with two hidden layers on real images made small: the bundled Fashion-MNIST subset,
average-pooled 7 x 7 to 4 x 4 = 16 pixels and binarized at 1/2 (the classic binarized setup);
16 -> 16 -> 8 -> 2 x 3 latent, decoder mirrored, one eps per example. ``purevae.gradcheck`` compares
``loss_and_grads`` with fourth-order central differences (step h) in float64 on every entry of every
parameter; the relative error is |a - n| / max(|a| + |n|, 1e-12). Below 1e-6 passes.

Two things the numbers depend on:

* relu has a kink at 0 that a difference step must not cross: the script draws (batch, eps) until
  every hidden pre-activation lies farther than 1e-3 from 0 (a step moves one by at most ~2h |input|,
  a few 1e-4) and prints that margin.
* Round-off: the differences carry an absolute error of roughly u |loss| / h (u = 1.1e-16; measured
  ~2e-12 at a loss of 3.6 and ~4e-9 at 545), so an entry far smaller than the typical one shows a
  relative error far above 1e-8 without any bug: on 784 grey pixels (loss ~545 nats, entries of
  ~1e-7 from dim pixels) the same check reports up to ~1e-4 at h = 1e-4, falling tenfold at h = 1e-3.
  Small models and binary pixels keep every entry resolvable; tests/test_model.py draws its cases
  with the same care (see its docstring).
"""
from __future__ import annotations

import argparse
import platform

import numpy as np

import purevae
from purevae import ops
from purevae.data import load_bundled, scale_pixels
from purevae.gradcheck import format_table

MODELS = [("bernoulli", None), ("gaussian", None), ("gaussian", 0.1)]
KINK_MARGIN = 1e-3


def smallest_hidden_preactivation(model, x, eps) -> float:
    """min |pre| over the hidden layers of encoder and decoder for this x and eps (replayed with ops, float64)."""
    p = {name: value.astype(np.float64) for name, value in model.params.items()}
    smallest = np.inf

    def mlp(layers, h):
        nonlocal smallest
        for name, code in layers:
            pre = ops.dense_forward(h, p[f"{name}.weight"], p[f"{name}.bias"])
            if code != ops.ACTIVATIONS["identity"]:
                smallest = min(smallest, float(np.min(np.abs(pre))))
            h = ops.activation_forward(pre, code, model.alpha)
        return h

    mu_logvar = mlp(model.encoder.layers, x)
    n_latent = model.n_latent
    mlp(model.decoder.layers, ops.reparameterize(mu_logvar[:, :n_latent], mu_logvar[:, n_latent:], eps))
    return smallest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--h", type=float, default=1e-4, help="step of the central differences")
    args = parser.parse_args()

    images = scale_pixels(load_bundled().x_train, dtype=np.float64)
    images = images.reshape(-1, 4, 7, 4, 7).mean(axis=(2, 4)).reshape(-1, 16)    # 7 x 7 average pooling
    images = (images > 0.5).astype(np.float64)
    print(f"purevae {purevae.__version__}, backend {purevae.get_backend()}, numpy {np.__version__}, "
          f"python {platform.python_version()}, h = {args.h:g}")
    worst = 0.0
    for likelihood, variance in MODELS:
        model = purevae.VAE(16, hidden=(16, 8), n_latent=3, likelihood=likelihood, variance=variance,
                            activation="relu", dtype="float64", seed=0)
        for draw in range(10_000):
            rng = np.random.default_rng([0, draw])
            x = images[rng.choice(len(images), args.batch, replace=False)]
            eps = rng.standard_normal((args.batch, model.n_latent))
            margin = smallest_hidden_preactivation(model, x, eps)
            if margin > KINK_MARGIN:
                break
        else:
            raise SystemExit("no draw kept every relu pre-activation away from its kink")
        errors = purevae.gradcheck(model, x, eps=eps, h=args.h, max_entries=10_000)
        worst = max(worst, max(errors.values()))
        loss = model.loss_and_grads(x, eps=eps)[0]
        label = "bernoulli" if likelihood == "bernoulli" else (
            "gaussian, learned variance" if variance is None else f"gaussian, fixed variance {variance}")
        print(f"\n{label}: 16-16-8-3 relu, batch {args.batch}, draw {draw}, loss {loss:.1f} nats, "
              f"smallest |hidden pre-activation| {margin:.1e}\n")
        print(format_table(errors))
    print(f"\nworst relative error over all tables: {worst:.2e}")


if __name__ == "__main__":
    main()
