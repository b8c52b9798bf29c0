"""Peak memory of the importance-weighted log-likelihood estimate, measured with tracemalloc.

    python benchmarks/bench_memory.py            # k=5000 on 10,000 images (the docstring's case), ~minutes
    python benchmarks/bench_memory.py --quick    # k=500 on 1,000 images

NumPy reports its allocations to tracemalloc, so the peak covers every array the estimate makes
(BLAS scratch space outside NumPy is not counted). The classic model (784-400-20, float32) is used;
its weights are random: memory does not depend on training. Prints the peak and the time.
"""
import argparse
import time
import tracemalloc

import numpy as np

import purevae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--k", type=int, default=None)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    k = args.k or (500 if args.quick else 5000)
    n = args.n or (1000 if args.quick else 10000)
    model = purevae.VAE(784, (400,), 20, dtype=args.dtype, seed=0)
    x = np.random.default_rng(0).random((n, 784)).astype(args.dtype)
    input_bytes = x.nbytes
    tracemalloc.start()
    start = time.perf_counter()
    estimate = model.log_likelihood(x, k=k)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"log_likelihood  k={k}  n={n}  {args.dtype}  backend={purevae.get_backend()}  "
          f"peak traced memory {peak / 2**20:.1f} MiB (input itself {input_bytes / 2**20:.1f} MiB, not counted)  "
          f"time {elapsed:.1f} s  mean {estimate.mean():.2f} nats")


if __name__ == "__main__":
    main()
