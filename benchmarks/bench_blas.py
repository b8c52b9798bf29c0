"""Which GEMM path the step should use: NumPy ``matmul(..., out=)`` or ``scipy.linalg.cython_blas`` from Cython.

    python benchmarks/bench_blas.py                  # batch 32 / 128 / 1024, float32 and float64
    python benchmarks/bench_blas.py --batch 128 --dtype float32 --rounds 21

The 11 matrix products of one training step of the classic model (784-400-20, decoder 20-400-784: 4
forward, 4 weight gradients, 3 input gradients), same shapes, transposes and preallocated outputs as
``model.py``, called through each path. Both give the same numbers (checked first). The Cython side is
``benchmarks/_cython_blas_gemm.pyx``, compiled by this script into a temporary folder (it needs Cython
and a C compiler, which installing purevae from source needs anyway); it is not part of the package.

NumPy's and SciPy's wheels each bundle their own OpenBLAS (versions printed at the top), each with its
own thread pool: the script pauses 0.25 s whenever it switches library, so that the other pool's threads
have stopped spinning. Times are medians over interleaved rounds; ratios are medians of same-round ratios.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import GAP, machine_info, step_products  # noqa: E402


def build_cython_gemm():
    """Compile _cython_blas_gemm.pyx into a temporary folder and import it."""
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
    except ImportError as exc:
        raise SystemExit(f"bench_blas.py needs Cython and setuptools to build its comparison module: {exc}") from exc
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_cython_blas_gemm.pyx")
    build = tempfile.mkdtemp(prefix="purevae-bench-blas-")
    ext = Extension("_cython_blas_gemm", [source], extra_compile_args=["-O3"])
    dist = Distribution({"ext_modules": cythonize([ext], build_dir=build, quiet=True, force=True),
                         "script_name": "bench_blas.py"})
    cmd = dist.get_command_obj("build_ext")
    cmd.build_lib = cmd.build_temp = build
    cmd.ensure_finalized()
    cmd.run()
    sys.path.insert(0, build)
    import _cython_blas_gemm
    return _cython_blas_gemm


def numpy_call(a, b, out, ta, tb):
    np.matmul(a.T if ta else a, b.T if tb else b, out=out)


def run(batch: int, dtype: str, args, cy) -> None:
    prods = step_products(batch, dtype)
    for name, a, b, out, ta, tb in prods:               # same numbers first
        numpy_call(a, b, out, ta, tb)
        want = out.copy()
        cy.gemm(a, b, out, ta, tb)
        tol = 1e-4 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(out, want, rtol=tol, atol=tol * np.abs(want).max(), err_msg=name)
    paths = {"numpy": numpy_call, "cython_blas": cy.gemm}

    def whole(call):
        for _, a, b, out, ta, tb in prods:
            call(a, b, out, ta, tb)
    samples = {(p, name): [] for p in paths for name in [q[0] for q in prods] + ["all 11"]}
    for _path, call in paths.items():                    # warm-up: thread pools, buffers
        for _ in range(20):
            whole(call)
    for _ in range(args.rounds):
        for path, call in paths.items():
            time.sleep(GAP)
            for _ in range(3):
                whole(call)
            for name, a, b, out, ta, tb in prods:
                t0 = time.perf_counter()
                for _ in range(args.repeats):
                    call(a, b, out, ta, tb)
                samples[(path, name)].append((time.perf_counter() - t0) / args.repeats)
            t0 = time.perf_counter()
            for _ in range(args.repeats):
                whole(call)
            samples[(path, "all 11")].append((time.perf_counter() - t0) / args.repeats)
    print(f"\nbatch {batch}  {dtype}  (median of {args.rounds} rounds x {args.repeats} calls; ms)")
    print(f"  {'product':10s} {'shape (m, k) x (k, n)':>24s} {'numpy':>9s} {'cython_blas':>12s} "
          f"{'numpy/cython_blas':>18s}")
    for name, a, _b, out, ta, _tb in [*prods, ("all 11", None, None, None, None, None)]:
        tn = statistics.median(samples[("numpy", name)])
        tc = statistics.median(samples[("cython_blas", name)])
        ratio = statistics.median(n / c for n, c in zip(samples[("numpy", name)], samples[("cython_blas", name)]))
        shape = "" if a is None else f"({out.shape[0]}, {a.shape[0] if ta else a.shape[1]}) x (.., {out.shape[1]})"
        print(f"  {name:10s} {shape:>24s} {tn * 1e3:9.4f} {tc * 1e3:12.4f} {ratio:18.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128, 1024])
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    print(machine_info())
    cy = build_cython_gemm()
    for dtype in args.dtype:
        for batch in args.batch:
            run(batch, dtype, args, cy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
