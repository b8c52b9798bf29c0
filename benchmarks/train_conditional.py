r"""The conditional VAE next to the unconditional one of the same size, on grey Fashion-MNIST.

Setup (issue 11): the full Fashion-MNIST (60,000 training images, pixels / 255, no binarization), 784-400-20
ReLU, Bernoulli likelihood (a cross-entropy of grey values), Adam 1e-3, batch 128, 10 epochs, float32, for
each seed an unconditional model and a conditional one (``n_classes=10``, the labels in the first layer of
encoder and decoder). Reported on the 10,000 test images:

- test -ELBO: the bound on -log p(x) (unconditional) and on -log p(x|y) with the true label (conditional);
- -log p(x) and -log p(x|y) by the importance-weighted estimate with ``--k`` samples (5000);
- on the first ``--n-mix`` test images (2000), with ``--k-mix`` samples (1000) per image and label: the
  conditional model's own -log p(x) = -log sum_y p(y) p(x|y), p(y) the training set's class frequencies (the
  estimate of p(x|y) is unbiased, so the mixture's is an unbiased estimate of p(x) and its log a stochastic
  lower bound, like the unconditional model's, which is given on the same images with the same k), and the
  accuracy of the conditional model as a classifier, argmax_y p(y) p(x|y).

E[-log p(x|y)] = E[-log p(x)] - I(x; y), and I(x; y) <= log 10 = 2.30 nats: the conditional numbers are lower
partly because the model is told something, so only the mixture column compares the two models.

With ``--pictures DIR`` it writes ``DIR/conditional_samples.png`` from the first seed's conditional model: one
row per class, 10 latent codes z ~ N(0, I) decoded with every label (``purevae.plots.save_class_samples``).

    python benchmarks/train_conditional.py               # 3 seeds x 2 models, ~25 minutes on 2 cores
    python benchmarks/train_conditional.py --seeds 1 --k 1 --k-mix 1 --pictures docs   # the picture only
    python benchmarks/train_conditional.py --quick       # bundled data, 1 epoch, small k: a smoke test
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import scipy.special

import purevae
from purevae.data import load_bundled, load_dataset, scale_pixels


def mixture_log_px(model, x, class_log_prior, k, rng) -> tuple[np.ndarray, np.ndarray]:
    """(log sum_y p(y) p(x|y), log p(x|y) for every y): the (n,) mixture and the (n, C) per-label estimates."""
    per_label = np.column_stack([model.log_likelihood(x, c, k=k, rng=rng) for c in range(model.n_classes)])
    return scipy.special.logsumexp(per_label + class_log_prior, axis=1), per_label


def se(v) -> float:
    v = np.asarray(v, float)
    return float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=5000, help="importance samples for -log p(x) and -log p(x|y)")
    parser.add_argument("--n-test", type=int, default=None, help="first N test images (default: all)")
    parser.add_argument("--n-mix", type=int, default=2000, help="test images of the mixture and the accuracy")
    parser.add_argument("--k-mix", type=int, default=1000, help="importance samples per image and label there")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--pictures", default=None, metavar="DIR", help="write conditional_samples.png there")
    parser.add_argument("--quick", action="store_true", help="bundled data, 1 epoch, k=20, 200 test images")
    args = parser.parse_args(argv)
    if args.quick:
        data, args.epochs, args.k, args.n_test = load_bundled(), 1, 20, args.n_test or 200
        args.n_mix, args.k_mix = min(args.n_mix, 100), min(args.k_mix, 10)
    else:
        data = load_dataset("fashion-mnist")
    x_train, y_train = scale_pixels(data.x_train), data.y_train
    x_test, y_test = scale_pixels(data.x_test[:args.n_test]), data.y_test[:args.n_test]
    n_mix = min(args.n_mix, len(x_test))
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    class_log_prior = np.log(np.bincount(y_train, minlength=n_classes) / len(y_train))
    print(f"{data.name}: {len(x_train)} train, {len(x_test)} test images, grey values; 784-400-20 relu, bernoulli, "
          f"{args.epochs} epochs, batch 128, Adam 1e-3; k={args.k} on the test set, k={args.k_mix} per label on "
          f"the first {n_mix}; backend {purevae.get_backend()}")
    rows, first_conditional = [], None
    for seed in args.seeds:
        for conditional in (False, True):
            model = purevae.VAE(784, (400,), 20, seed=seed, n_classes=n_classes if conditional else None)
            y = y_train if conditional else None
            model.fit(x_train, y=y, epochs=args.epochs, batch_size=128)
            labels = y_test if conditional else None
            rng = np.random.default_rng([seed, 50])
            elbo = model.elbo(x_test, labels, rng=rng)
            log_px = model.log_likelihood(x_test, labels, k=args.k, rng=rng)
            row = {"conditional": conditional, "seed": seed, "neg_elbo": float(-elbo.mean()),
                   "nll": float(-log_px.mean()), "nll_se": se(log_px)}
            if conditional:
                first_conditional = first_conditional or model
                mix, per_label = mixture_log_px(model, x_test[:n_mix], class_log_prior, args.k_mix, rng)
                row["mixture_nll"] = float(-mix.mean())
                row["accuracy"] = float(np.mean(np.argmax(per_label + class_log_prior, axis=1) == y_test[:n_mix]))
            else:
                row["mixture_nll"] = float(-model.log_likelihood(x_test[:n_mix], k=args.k_mix, rng=rng).mean())
                row["accuracy"] = None
            rows.append(row)
            name = "conditional" if conditional else "unconditional"
            print(f"  {name:13s} seed {seed}: -ELBO {row['neg_elbo']:8.2f}  -log p(x{'|y' if conditional else ''}) "
                  f"{row['nll']:8.2f} +- {row['nll_se']:.2f}  -log p(x) on {n_mix}: {row['mixture_nll']:8.2f}"
                  + (f"  accuracy {row['accuracy']:.3f}" if conditional else ""), flush=True)

    print(f"\n| model | seeds | test -ELBO | test -log p(x), k={args.k} | test -log p(x\\|y), k={args.k} | "
          f"-log p(x), first {n_mix}, k={args.k_mix} | accuracy of argmax_y p(y) p(x\\|y) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for conditional in (False, True):
        mine = [r for r in rows if r["conditional"] == conditional]

        def stat(key, digits=2, mine=mine):
            v = np.array([r[key] for r in mine], float)
            return f"{v.mean():.{digits}f}" + (f" +- {se(v):.{digits}f}" if len(v) > 1 else "")
        nll = stat("nll")
        print(f"| {'conditional (n_classes=10)' if conditional else 'unconditional'} | {len(mine)} | "
              f"{stat('neg_elbo')} | {'—' if conditional else nll} | {nll if conditional else '—'} | "
              f"{stat('mixture_nll')} | {stat('accuracy', 3) if conditional else '—'} |")
    gains = [u["neg_elbo"] - c["neg_elbo"] for u, c in zip(rows[::2], rows[1::2])]
    print(f"\n-ELBO lower with the label by {np.mean(gains):.2f} nats (seeds: "
          f"{', '.join(f'{g:.2f}' for g in gains)}); for exact densities the gain would be "
          f"I(x; y) <= log C = {np.log(n_classes):.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "epochs": args.epochs, "k": args.k, "n_test": len(x_test), "n_mix": n_mix,
                       "k_mix": args.k_mix}, f, indent=2)
    if args.pictures:
        from purevae import plots
        names = plots.FASHION_MNIST_CLASSES if n_classes == len(plots.FASHION_MNIST_CLASSES) else None
        path = plots.save_class_samples(first_conditional, (28, 28), f"{args.pictures}/conditional_samples.png",
                                        n_per_class=10, class_names=names, rng=0)
        print(f"wrote {path}: one row per class, the same 10 latent codes in every row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
