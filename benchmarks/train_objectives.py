r"""VAE against IWAE (k = 5, 50), and the posterior-collapse remedies, on dynamically binarized Fashion-MNIST.

Setup (Burda, Grosse & Salakhutdinov 2016, one stochastic layer): encoder 784-200-200-50 tanh, decoder
mirrored (50-200-200-784), Bernoulli likelihood, Adam (lr 1e-3), batch 100, float32, the full Fashion-MNIST
training set binarized afresh every epoch (``--binarize dynamic``: ``purevae.data.prepare`` +
``fit(binarize=True)``), scored on the fixed binarization of the test set. Every configuration trains the
same number of epochs (``--epochs``). For each run, on the first ``--n-test`` test images:

- test -log p(x): the importance-weighted estimate with k = ``--k-eval`` (5000 by default), nats per image;
- test -ELBO (one draw of z per image, the closed-form KL);
- active units: latent dimensions with Var_x(E_q[z_j | x]) > 0.01 (``purevae.diagnostics.active_units``,
  Burda et al.'s criterion), counted on the same test images;
- seconds per epoch, and their ratio to the VAE's (same seed; the runs are sequential, not interleaved: on a
  shared machine the ratio carries the noise of a few minutes).

Configurations: ``vae`` (objective "elbo"), ``iwae5``, ``iwae50`` (objective "iwae", k = 5, 50), and for the
first seed only ``vae_free_bits`` (free bits 0.25 nats per dimension, Kingma et al. 2016) and
``vae_cyclical`` (4 cyclical KL ramps over the run, ratio 0.5, Fu et al. 2019).

    python benchmarks/train_objectives.py --epochs 20 --seeds 1 2 3 --json /tmp/objectives.json
    python benchmarks/train_objectives.py --quick                # bundled data, 1 epoch, small k: a smoke test

Means over seeds are printed with their standard error (std / sqrt(n_seeds)).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

import purevae
from purevae import diagnostics, schedules
from purevae.data import prepare

CONFIGS = {
    "vae": dict(objective="elbo", k=1),
    "iwae5": dict(objective="iwae", k=5),
    "iwae50": dict(objective="iwae", k=50),
    "vae_free_bits": dict(objective="elbo", k=1, free_bits=0.25),
    "vae_cyclical": dict(objective="elbo", k=1, cyclical=True),
}
FIRST_SEED_ONLY = ("vae_free_bits", "vae_cyclical")


def run(name: str, seed: int, data, args) -> dict:
    cfg = dict(CONFIGS[name])
    model = purevae.VAE(n_input=data.n_features, hidden=(200, 200), n_latent=50, likelihood="bernoulli",
                        activation="tanh", dtype="float32", seed=seed)
    steps_per_epoch = math.ceil(len(data.x_train) / args.batch_size)
    fit_kwargs = dict(objective=cfg["objective"], k=cfg["k"], free_bits=cfg.get("free_bits", 0.0))
    if cfg.get("cyclical"):
        fit_kwargs["beta_schedule"] = schedules.cyclical(4, 0.5, args.epochs * steps_per_epoch, 1.0)
    start = time.perf_counter()
    model.fit(data.x_train, epochs=args.epochs, batch_size=args.batch_size, lr=1e-3, binarize=data.fit_binarize,
              **fit_kwargs)
    seconds = time.perf_counter() - start
    x_test = data.x_test
    rng = np.random.default_rng([seed, 100])
    elbo = model.elbo(x_test, rng=rng)
    log_px = model.log_likelihood(x_test, k=args.k_eval, rng=rng)
    units = diagnostics.active_units(model, x_test)
    result = {"config": name, "seed": seed, "epochs": args.epochs, **{k: v for k, v in cfg.items()},
              "test_nll": float(-log_px.mean()),
              "test_nll_se_images": float(log_px.std(ddof=1) / math.sqrt(len(log_px))),
              "test_neg_elbo": float(-elbo.mean()), "active_units": units.count,
              "seconds_per_epoch": seconds / args.epochs, "train_loss_last_epoch": model.history["loss"][-1]}
    print(f"  {name:14s} seed {seed}: -log p(x) {result['test_nll']:.2f}  -ELBO {result['test_neg_elbo']:.2f}  "
          f"active {units.count:2d}/50  {result['seconds_per_epoch']:.1f} s/epoch", flush=True)
    return result


def summarize(results: list[dict]) -> list[str]:
    lines = ["| configuration | seeds | test -log p(x), k=K | test -ELBO | active units | s/epoch vs VAE |",
             "| --- | --- | --- | --- | --- | --- |"]
    vae_time = {r["seed"]: r["seconds_per_epoch"] for r in results if r["config"] == "vae"}
    for name in CONFIGS:
        rows = [r for r in results if r["config"] == name]
        if not rows:
            continue

        def stat(key, rows=rows):
            v = np.array([r[key] for r in rows], float)
            return f"{v.mean():.2f}" + (f" +- {v.std(ddof=1) / math.sqrt(len(v)):.2f}" if len(v) > 1 else "")
        ratio = [r["seconds_per_epoch"] / vae_time[r["seed"]] for r in rows if r["seed"] in vae_time]
        lines.append(f"| {name} | {len(rows)} | {stat('test_nll')} | {stat('test_neg_elbo')} | "
                     f"{stat('active_units')} | {np.mean(ratio):.2f}x |" if ratio else "| - |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=None, help="score on the first N test images (default: all)")
    parser.add_argument("--k-eval", type=int, default=5000)
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true",
                        help="bundled data, 1 epoch, k-eval 50, 1 seed, 200 test images")
    args = parser.parse_args(argv)
    if args.quick:
        args.data, args.epochs, args.seeds, args.k_eval, args.n_test = "bundled", 1, args.seeds[:1], 50, 200
        args.configs = [c for c in args.configs if c != "iwae50"]
    data = prepare(args.data, binarize="dynamic", dtype="float32", n_test=args.n_test)
    print(f"{data.name}: {len(data.x_train)} train images (binarized afresh every epoch), {len(data.x_test)} test "
          f"images (one fixed binarization); 784-200-200-50 tanh, batch {args.batch_size}, {args.epochs} epochs, "
          f"Adam 1e-3; -log p(x) with k={args.k_eval}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, purevae {purevae.__version__}, backend "
          f"{purevae.get_backend()}, {os.cpu_count()} cores", flush=True)
    results = []
    for seed in args.seeds:
        for name in args.configs:
            if name in FIRST_SEED_ONLY and seed != args.seeds[0]:
                continue
            results.append(run(name, seed, data, args))
    print("\n".join(summarize(results)).replace("k=K", f"k={args.k_eval}"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
