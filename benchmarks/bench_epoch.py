"""Examples per second over full training epochs of real data, for each backend, with ``VAE.fit``.

    python benchmarks/bench_epoch.py                    # full Fashion-MNIST when installed, else the bundled set
    python benchmarks/bench_epoch.py --data bundled     # the 10,000 bundled images
    python benchmarks/bench_epoch.py --quick            # bundled set, one timed epoch per backend
    python benchmarks/bench_epoch.py --backends cython --epochs 7    # the Cython backend alone

The model is the classic 784-400-20 ReLU Bernoulli VAE with Adam (lr 1e-3), batch 128, float32 unless
``--dtype`` says otherwise. Each backend trains one untimed epoch first (warm-up: workspaces, BLAS buffers,
Adam's state past its first steps), then ``--epochs`` timed epochs; the backends alternate epoch by epoch
and the median epoch time is reported, with examples/s = n_train / time. ``fit`` times itself too
(``history["examples_per_sec"]``): that is the number printed, so it includes shuffling and batch copies.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine_info  # noqa: E402

import purevae  # noqa: E402
from purevae import backend  # noqa: E402
from purevae.data import load_bundled, load_fashion_mnist, scale_pixels  # noqa: E402


def load(name: str):
    if name in ("auto", "fashion-mnist"):
        try:
            return "fashion-mnist (60,000 train images)", load_fashion_mnist()
        except (FileNotFoundError, OSError, ValueError) as exc:
            if name == "fashion-mnist":
                raise
            print(f"full Fashion-MNIST not available ({exc}); using the bundled subset")
    return "bundled Fashion-MNIST subset", load_bundled()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["auto", "bundled", "fashion-mnist"], default=None)
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs per backend (default 3; quick 1)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--backends", nargs="+", choices=["numpy", "cython"], default=["numpy", "cython"],
                        help="which backends to time (default both)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    data_name = args.data or ("bundled" if args.quick else "auto")
    epochs = args.epochs or (1 if args.quick else 3)
    print(machine_info())
    label, dataset = load(data_name)
    x = scale_pixels(dataset.x_train, args.dtype)
    impls = [impl for impl in args.backends if impl == "numpy" or backend.cython_available()]
    if "cython" in args.backends and "cython" not in impls:
        print("the Cython extension is not built: numpy only (pip install -e .)")
    models = {impl: purevae.VAE(784, (400,), 20, dtype=args.dtype, seed=0) for impl in impls}
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    print(f"\n{label}: {x.shape[0]} examples, batch {args.batch_size}, {args.dtype}; 1 warm-up epoch + {epochs} timed "
          f"epochs per backend, alternating")
    for epoch in range(epochs + 1):
        for impl in impls:
            backend.set_backend(impl)
            history = models[impl].fit(x, epochs=1, batch_size=args.batch_size, lr=1e-3)
            seconds = x.shape[0] / history["examples_per_sec"][-1]
            if epoch > 0:
                times[impl].append(seconds)
            print(f"  epoch {epoch}{' (warm-up)' if epoch == 0 else ''}  {impl:6s} {seconds:7.2f} s  "
                  f"loss {history['loss'][-1]:.2f}", flush=True)
    med = {impl: statistics.median(t) for impl, t in times.items()}
    print()
    for impl in impls:
        print(f"{impl:6s}  median epoch {med[impl]:7.2f} s   {x.shape[0] / med[impl]:9.0f} examples/s   "
              f"(fastest {min(times[impl]):.2f} s, slowest {max(times[impl]):.2f} s)")
    if "cython" in med and "numpy" in med:
        pairs = statistics.median(a / b for a, b in zip(times["numpy"], times["cython"]))
        print(f"numpy/cython = {pairs:.2f}x (median over epochs of the ratio within each pair of epochs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
