r"""The training-quality bar: full Fashion-MNIST, the classic VAE, compared with a PyTorch reference.

Setup (the classic one, as in PyTorch's examples/vae): 784-400-20 ReLU encoder and decoder, Bernoulli
likelihood on grey values (pixels / 255, no binarization), Adam lr 1e-3, batch 128, 10 epochs, float32,
the current backend. For each seed:

- after every epoch, the test negative ELBO (nats per image, mean over the 10,000 test images, one draw
  of z per image from a fixed stream: ``fit``'s validation number);
- after training, the importance-weighted bound -log p(x) with k=1000 on the first 2,000 test images
  (the reference's protocol), with its standard error std / sqrt(n) over images;
- with ``--full-k K`` (for the first seed only), the same with k=K on the whole test set.

Reference (PyTorch, same setup, same machine): test negative ELBO 244.12 / 244.65 / 244.40 nats for
seeds 1-3, IW bound (k=1000, first 2,000 test images) 241.3-241.7. purevae passes when its mean is
within 0.3 nats of the reference mean or lower.

    python benchmarks/train_quality.py --seeds 1 2 3 --json /tmp/quality.json
    python benchmarks/train_quality.py --seeds 1 --full-k 5000        # adds k=5000 on the full test set
    python benchmarks/train_quality.py --save-dir runs/quality         # keep the models (seed<N>.npz) ...
    python -m purevae evaluate runs/quality/seed1.npz --data fashion-mnist --k 5000   # ... score them later
    python benchmarks/train_quality.py --quick                        # 2 epochs, small k: a smoke test
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

import purevae
from purevae.data import load_dataset, scale_pixels

REFERENCE_ELBO = {1: 244.12, 2: 244.65, 3: 244.40}
REFERENCE_IW_RANGE = (241.3, 241.7)
TOLERANCE = 0.3


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))


def run_seed(seed: int, data, args) -> dict:
    x_train = scale_pixels(data.x_train, np.float32)
    x_test = scale_pixels(data.x_test, np.float32)
    model = purevae.VAE(n_input=784, hidden=(400,), n_latent=20, likelihood="bernoulli", activation="relu",
                        dtype="float32", seed=seed)
    test_nelbo = []

    def on_epoch(record: dict) -> None:
        test_nelbo.append(record["val_loss"])
        print(f"seed {seed}  epoch {record['epoch']:2d}  train {record['loss']:.3f}  test -ELBO "
              f"{record['val_loss']:.3f} (recon {record['val_recon']:.3f} + kl {record['val_kl']:.3f})  "
              f"{record['examples_per_sec']:.0f} ex/s  {record['time']:.0f} s", flush=True)

    start = time.perf_counter()
    model.fit(x_train, epochs=args.epochs, batch_size=128, lr=1e-3, validation_data=x_test, callback=on_epoch)
    train_seconds = time.perf_counter() - start
    if args.save_dir:
        model.save(os.path.join(args.save_dir, f"seed{seed}.npz"))   # for `purevae evaluate --k 5000` later
    result = {"seed": seed, "test_neg_elbo_per_epoch": test_nelbo, "final_test_neg_elbo": test_nelbo[-1],
              "train_seconds": train_seconds}

    start = time.perf_counter()
    nll = -model.log_likelihood(x_test[:args.iw_n], k=args.k, rng=np.random.default_rng([seed, 1000]))
    mean, se = _mean_se(nll)
    result.update(iw_k=args.k, iw_n=int(len(nll)), iw_nll=mean, iw_nll_se=se, iw_seconds=time.perf_counter() - start)
    print(f"seed {seed}  IW -log p(x), k={args.k}, first {len(nll)} test images: {mean:.3f} +- {se:.3f}  "
          f"({result['iw_seconds']:.0f} s)", flush=True)

    if args.full_k and seed == args.seeds[0]:
        start = time.perf_counter()
        nll = -model.log_likelihood(x_test, k=args.full_k, rng=np.random.default_rng([seed, 5000]))
        mean, se = _mean_se(nll)
        result.update(full_k=args.full_k, full_nll=mean, full_nll_se=se,
                      full_seconds=time.perf_counter() - start)
        print(f"seed {seed}  IW -log p(x), k={args.full_k}, all {len(nll)} test images: {mean:.3f} +- {se:.3f}  "
              f"({result['full_seconds']:.0f} s)", flush=True)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--k", type=int, default=1000, help="importance samples for the reference protocol")
    parser.add_argument("--iw-n", type=int, default=2000, help="first N test images for the IW bound")
    parser.add_argument("--full-k", type=int, default=0, help="also k=K on the full test set (first seed)")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--backend", choices=("cython", "numpy"), default=None)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--save-dir", help="save each trained model there as seed<N>.npz")
    parser.add_argument("--quick", action="store_true", help="2 epochs, k=50 on 200 images: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.k, args.iw_n, args.full_k = 2, 50, 200, 0
    if args.backend:
        purevae.set_backend(args.backend)
    data = load_dataset(args.data)
    print(f"purevae {purevae.__version__}, backend {purevae.get_backend()}, numpy {np.__version__}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; data {data.name} "
          f"{data.x_train.shape[0]}/{data.x_test.shape[0]}", flush=True)
    results = [run_seed(seed, data, args) for seed in args.seeds]

    elbo = np.array([r["final_test_neg_elbo"] for r in results])
    iw = np.array([r["iw_nll"] for r in results])
    ref = np.array([REFERENCE_ELBO[s] for s in args.seeds if s in REFERENCE_ELBO])
    print("\nseed  test -ELBO  reference  IW NLL (k=%d, %d images)" % (args.k, args.iw_n))
    for r in results:
        print(f"{r['seed']:4d}  {r['final_test_neg_elbo']:10.3f}  {REFERENCE_ELBO.get(r['seed'], float('nan')):9.2f}  "
              f"{r['iw_nll']:.3f} +- {r['iw_nll_se']:.3f}")
    summary = {"mean_test_neg_elbo": float(elbo.mean()), "mean_iw_nll": float(iw.mean())}
    if len(ref) and args.epochs == 10:
        gap = float(elbo.mean() - ref.mean())
        iw_gap = float(iw.mean() - np.mean(REFERENCE_IW_RANGE))
        summary.update(reference_mean_test_neg_elbo=float(ref.mean()), gap=gap, iw_gap_to_reference_middle=iw_gap,
                       passes=bool(gap <= TOLERANCE))
        print(f"mean test -ELBO {elbo.mean():.3f} vs reference {ref.mean():.3f}: {gap:+.3f} nats "
              f"({'PASS' if gap <= TOLERANCE else 'FAIL'}, bar +{TOLERANCE}); mean IW NLL {iw.mean():.3f} vs "
              f"reference {REFERENCE_IW_RANGE[0]}-{REFERENCE_IW_RANGE[1]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": " ".join([os.path.basename(sys.executable), *sys.argv]), "results": results,
                       "summary": summary, "backend": purevae.get_backend(), "numpy": np.__version__}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
