r"""The Bernoulli cross-entropy and the continuous Bernoulli on grey Fashion-MNIST, side by side.

Setup (issue 11): the full Fashion-MNIST (60,000 training images, pixels / 255, no binarization), the
classic 784-400-20 ReLU VAE, Adam 1e-3, batch 128, 10 epochs, float32; for each likelihood and seed, the
test negative ELBO and -log p(x) by the importance-weighted bound with k=5000 on the 10,000 test images,
and the active units. The two likelihoods' numbers are *different quantities*: the Bernoulli's is a
cross-entropy of grey values (not the log of a normalised density, so not a log-likelihood of the images),
the continuous Bernoulli's a log-density on [0, 1]^784 (which can be negative). The table shows both
because users compare them, not so that they can be compared.

With ``--pictures DIR`` it writes ``DIR/likelihood_samples.png``: 16 samples of z ~ N(0, I) from the first
seed's models, decoded by the Bernoulli (row 1: sigmoid(l), its mean), by the continuous Bernoulli as its
mean (row 2: what ``decode``/``sample`` return) and as lambda = sigmoid(l) (row 3: not its mean), the same z
in every column.

    python benchmarks/train_likelihoods.py                       # 2 likelihoods x 3 seeds, ~25 minutes on 2 cores
    python benchmarks/train_likelihoods.py --seeds 1 --pictures docs
    python benchmarks/train_likelihoods.py --quick               # bundled data, 1 epoch, k=20: a smoke test
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import purevae
from purevae import diagnostics
from purevae.data import load_bundled, load_dataset, scale_pixels

LIKELIHOODS = ("bernoulli", "continuous_bernoulli")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=None, help="first N test images (default: all)")
    parser.add_argument("--pictures", default=None, metavar="DIR", help="write likelihood_samples.png there")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--quick", action="store_true", help="bundled data, 1 epoch, k=20, 200 test images")
    args = parser.parse_args(argv)
    if args.quick:
        data, args.epochs, args.k, args.n_test = load_bundled(), 1, 20, args.n_test or 200
    else:
        data = load_dataset("fashion-mnist")
    x_train, x_test = scale_pixels(data.x_train), scale_pixels(data.x_test[:args.n_test])
    print(f"{data.name}: {len(x_train)} train, {len(x_test)} test images, grey values; 784-400-20 relu, "
          f"{args.epochs} epochs, batch 128, Adam 1e-3; -log p(x) with k={args.k}; backend {purevae.get_backend()}")
    rows, models = [], {}
    for likelihood in LIKELIHOODS:
        for seed in args.seeds:
            model = purevae.VAE(784, (400,), 20, likelihood=likelihood, seed=seed)
            start = time.perf_counter()
            model.fit(x_train, epochs=args.epochs, batch_size=128)
            train_s = time.perf_counter() - start
            rng = np.random.default_rng([seed, 40])
            elbo = model.elbo(x_test, rng=rng)
            log_px = model.log_likelihood(x_test, k=args.k, rng=rng)
            units = diagnostics.active_units(model, x_test).count
            row = {"likelihood": likelihood, "seed": seed, "neg_elbo": float(-elbo.mean()),
                   "nll": float(-log_px.mean()), "nll_se": float(log_px.std(ddof=1) / np.sqrt(len(log_px))),
                   "active_units": units, "train_seconds": train_s,
                   "eval_seconds": time.perf_counter() - start - train_s}
            rows.append(row)
            models.setdefault(likelihood, model)
            print(f"  {likelihood:21s} seed {seed}: -ELBO {row['neg_elbo']:8.2f}  -log p(x) {row['nll']:8.2f} "
                  f"+- {row['nll_se']:.2f}  active {units:2d}  train {train_s:5.1f} s  "
                  f"eval {row['eval_seconds']:5.1f} s", flush=True)
    print("\n| likelihood | what the nats are | seeds | test -log p(x), k=%d | test -ELBO | active units |" % args.k)
    print("| --- | --- | --- | --- | --- | --- |")
    meaning = {"bernoulli": "cross-entropy of grey values", "continuous_bernoulli": "log-density on [0, 1]^784"}
    for likelihood in LIKELIHOODS:
        mine = [r for r in rows if r["likelihood"] == likelihood]

        def stat(key, mine=mine):
            v = np.array([r[key] for r in mine], float)
            se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
            return f"{v.mean():.2f}" + (f" +- {se:.2f}" if len(v) > 1 else "")
        print(f"| {likelihood} | {meaning[likelihood]} | {len(mine)} | {stat('nll')} | {stat('neg_elbo')} | "
              f"{stat('active_units')} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "epochs": args.epochs, "k": args.k, "n_test": len(x_test)}, f, indent=2)
    if args.pictures:
        import scipy.special

        from purevae import ops, plots
        z = np.random.default_rng(0).standard_normal((16, 20)).astype(np.float32)
        bern, cb = models["bernoulli"], models["continuous_bernoulli"]
        logits = cb.decoder.forward(cb.params, z, ops)[-1]
        images = np.vstack([bern.decode(z), cb.decode(z), scipy.special.expit(logits.astype(np.float64))])
        path = plots.image_grid(images, (28, 28), f"{args.pictures}/likelihood_samples.png", ncols=16)
        print(f"wrote {path}: rows = Bernoulli mean, continuous Bernoulli mean, continuous Bernoulli lambda")
    return 0


if __name__ == "__main__":
    sys.exit(main())
