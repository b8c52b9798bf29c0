"""Each Cython kernel against its NumPy twin, on the same arrays, in one process.

    python benchmarks/bench_kernels.py [--quick] [--batch 128 1024] [--dtype float32 float64]

First checks that both implementations agree on the inputs it times (float tolerance of the dtype);
then times the raw kernels (``backend.kernels("cython")`` vs ``backend.kernels("numpy")``, outputs
preallocated, no validation) in alternating rounds and prints one row per case, ratio first:

    numpy/cython =  12.3x  bernoulli_nll_grad       float32  (128, 784)   cython 0.081 ms  numpy 1.00 ms

The Adam and SGD rows update the parameters of the 784-400-20 model (all arrays, one call each).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import interleaved_medians, machine_info  # noqa: E402

from purevae import backend, ops  # noqa: E402

TOL = {np.float32: 1e-4, np.float64: 1e-10}   # agreement check before timing (loose: sums over 784 terms)
MODEL_SHAPES = [(784, 400), (400,), (400, 40), (40,), (20, 400), (400,), (400, 784), (784,)]


def cases(batch: int, dtype, rng: np.random.Generator) -> dict[str, tuple[tuple, callable]]:
    """name -> (shape, fn(module)) for one batch size and dtype; fn returns the outputs to compare."""
    def arr(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    pre, bias, grad_h = arr(batch, 400), arr(400), arr(batch, 400)
    x = (rng.random((batch, 784)) < 0.3).astype(dtype)
    logits, mean, logvar = arr(batch, 784, scale=3), arr(batch, 784), arr(784, scale=0.3)
    mu_logvar, eps, grad_z = arr(batch, 40), arr(batch, 20), arr(batch, 20)
    h_relu = np.maximum(pre, 0)
    work = {name: np.empty((batch, 400), dtype) for name in ("h", "gp")}
    gb = np.empty(400, dtype)
    nll, gl = np.empty(batch, dtype), np.empty((batch, 784), dtype)
    glv = np.empty(784, dtype)
    z, kl, gml = np.empty((batch, 20), dtype), np.empty(batch, dtype), np.empty((batch, 40), dtype)
    params = [arr(*s, scale=0.05).reshape(-1) for s in MODEL_SHAPES]
    grads = [arr(*s, scale=1e-3).reshape(-1) for s in MODEL_SHAPES]
    state = {}

    def forward(k, code):
        def fn():
            np.copyto(work["h"], pre)
            k.bias_activation_forward(work["h"], bias, code, ops.DEFAULT_ALPHA[ops.activation_name(code)])
            return [work["h"]]
        return fn

    def backward(k, code, h):
        def fn():
            k.activation_backward_bias(grad_h, h, code, ops.DEFAULT_ALPHA[ops.activation_name(code)], work["gp"], gb)
            return [work["gp"], gb]
        return fn

    def adam(k):
        key = ("adam", k.__name__)
        if key not in state:   # each implementation keeps its own copy of the state
            state[key] = ([p.copy() for p in params], [np.zeros_like(p) for p in params],
                          [np.zeros_like(p) for p in params], [0])
        ps, ms, vs, t = state[key]
        t[0] += 1
        for p, g, m, v in zip(ps, grads, ms, vs):
            k.adam_update(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, t[0])
        return ps

    def sgd(k):
        key = ("sgd", k.__name__)
        if key not in state:
            state[key] = ([p.copy() for p in params], [np.zeros_like(p) for p in params])
        ps, vs = state[key]
        for p, g, v in zip(ps, grads, vs):
            k.sgd_momentum_update(p, g, v, 1e-2, 0.9)
        return ps

    n_params = sum(int(np.prod(s)) for s in MODEL_SHAPES)
    scale = np.full(batch, 1 / batch)        # the likelihood kernels' per-row weight (1/B: the ELBO's mean)
    out = {
        "bias_activation_forward relu": ((batch, 400), lambda k: forward(k, 1)()),
        "bias_activation_forward identity": ((batch, 400), lambda k: forward(k, 0)()),
        "bias_activation_forward tanh": ((batch, 400), lambda k: forward(k, 2)()),
        "activation_backward_bias relu": ((batch, 400), lambda k: backward(k, 1, h_relu)()),
        "activation_backward_bias identity": ((batch, 400), lambda k: backward(k, 0, pre)()),
        "bernoulli_nll_grad": ((batch, 784), lambda k: (k.bernoulli_nll_grad(x, logits, scale, nll, gl),
                                                        [nll, gl])[1]),
        "bernoulli_nll": ((batch, 784), lambda k: (k.bernoulli_nll(x, logits, nll), [nll])[1]),
        "continuous_bernoulli_nll_grad": ((batch, 784), lambda k: (k.continuous_bernoulli_nll_grad(
            x, logits, scale, nll, gl), [nll, gl])[1]),
        "continuous_bernoulli_nll": ((batch, 784), lambda k: (k.continuous_bernoulli_nll(x, logits, nll),
                                                              [nll])[1]),
        "gaussian_nll": ((batch, 784), lambda k: (k.gaussian_nll(x, mean, logvar, nll), [nll])[1]),
        "gaussian_nll_grad": ((batch, 784), lambda k: (k.gaussian_nll_grad(x, mean, logvar, scale, nll, gl,
                                                                           glv), [nll, gl, glv])[1]),
        "reparameterize_kl_forward": ((batch, 20), lambda k: (k.reparameterize_kl_forward(mu_logvar, eps, z, kl),
                                                              [z, kl])[1]),
        "reparameterize_kl_backward": ((batch, 20), lambda k: (k.reparameterize_kl_backward(
            mu_logvar, eps, grad_z, np.ones(20), 1 / batch, gml), [gml])[1]),
        "adam_update (8 arrays)": ((n_params,), adam),
        "sgd_momentum_update (8 arrays)": ((n_params,), sgd),
    }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (~15 s)")
    parser.add_argument("--batch", type=int, nargs="+", default=[128, 1024])
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"])
    args = parser.parse_args(argv)
    print(machine_info())
    if not backend.cython_available():
        print("\nthe Cython extension is not built (purevae._kernels does not import): the cython column is empty; "
              "build it with `pip install -e .`")
        return 0
    cy, npy = backend.kernels("cython"), backend.kernels("numpy")
    rounds, repeats = (5, 3) if args.quick else (15, 5)
    print(f"\nmedian of {rounds} interleaved rounds x {repeats} calls; OMP threads {backend.openmp_threads()}\n")
    for dtype_name in args.dtype:
        dtype = np.dtype(dtype_name).type
        for batch in args.batch:
            rng = np.random.default_rng(0)
            for name, (shape, fn) in cases(batch, dtype, rng).items():
                got, want = fn(cy), fn(npy)            # first call: the agreement check (Adam: step 1 of each)
                for g, w in zip(got, want):
                    np.testing.assert_allclose(g, w, rtol=TOL[dtype], atol=TOL[dtype], err_msg=name)
                t = interleaved_medians({"cython": lambda fn=fn: fn(cy), "numpy": lambda fn=fn: fn(npy)},
                                        rounds, repeats)
                print(f"numpy/cython = {t['numpy'] / t['cython']:6.1f}x  {name:34s} {dtype_name}  {str(shape):12s}"
                      f"  cython {t['cython'] * 1e3:7.3f} ms  numpy {t['numpy'] * 1e3:7.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
