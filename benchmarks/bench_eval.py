"""Evaluation against its GEMM floor and PyTorch: the importance-weighted log-likelihood and the ELBO.

    python benchmarks/bench_eval.py              # k=5000 on 10 images, ELBO on 2,000; float32 + float64; 9 rounds
    python benchmarks/bench_eval.py --quick      # k=1000, float32 only, 5 rounds: ~20 s
    python benchmarks/bench_eval.py --breakdown  # the float32 log_likelihood's time per kernel and GEMM shape

The model is the classic one (784-400-20, decoder 20-400-784, ReLU, Bernoulli on logits), trained for one
epoch on the bundled Fashion-MNIST subset (pixels in [0, 1]) so that its weights are a trained model's; the
images are the bundled test images. Every case is timed in alternating rounds; the ratios printed are medians
over rounds of two cases' times within the same round (a shared machine's slow spells hit both alike).

Cases
-----
ll           ``model.log_likelihood(x, k)`` with its defaults (batch_size 100, max_rows 4096), Cython backend
ll floor     the matrix products of that call alone, same shapes and chunking, preallocated outputs, NumPy's
             BLAS: the encoder's two per chunk of examples, the decoder's two per chunk of samples
ll float64   the same call on a float64 copy of the model (same weights), same rounds: the float64/float32 ratio
ll numpy     the same call on the NumPy backend (the readable reference)
elbo         ``model.elbo(x)`` (k=1, batch_size 1000) on ``--n-elbo`` images; ``elbo floor`` its four GEMMs
             per chunk
torch        (when importable) the same estimator written plainly in PyTorch under ``torch.no_grad()``: the
             same weights, the same chunking, eps drawn per chunk, log w summed in float64 and one
             ``logsumexp`` per chunk of examples; in a child process that takes its turn in every round
             (loaded into one process, two thread pools spin against each other on a 2-core machine)

Threads: BLAS keeps its default (all cores unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say otherwise);
torch gets ``torch.set_num_threads`` with the same count. Printed at the top.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import HIDDEN, N_INPUT, N_LATENT, Peer, interleaved_rounds, machine_info, print_breakdown, serve_rounds  # noqa: E402
from bench_step import blas_threads  # noqa: E402

import purevae  # noqa: E402
from purevae import backend  # noqa: E402
from purevae.data import load_bundled, scale_pixels  # noqa: E402

LAYERS = ("encoder.0", "encoder.out", "decoder.0", "decoder.out")


def trained_params(seed: int = 0) -> dict[str, np.ndarray]:
    """The classic model's parameters after one epoch on the bundled training images (float64 copies)."""
    backend.set_backend("cython" if backend.cython_available() else "numpy")
    model = purevae.VAE(N_INPUT, (HIDDEN,), N_LATENT, seed=seed)
    model.fit(scale_pixels(load_bundled().x_train), epochs=1)
    return {name: np.array(value, dtype=np.float64) for name, value in model.params.items()}


def model_with(params: dict, dtype: str) -> purevae.VAE:
    model = purevae.VAE(N_INPUT, (HIDDEN,), N_LATENT, dtype=dtype, seed=0)
    for name, value in params.items():
        model.params[name][...] = value
    return model


def chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(n, start + size)) for start in range(0, n, size)]


def ll_shapes(n: int, k: int, batch_size: int = 100, max_rows: int = 4096) -> list[tuple[int, list[int]]]:
    """(examples, [decoder rows per sample chunk]) for each chunk of examples: log_likelihood's chunking."""
    shapes = []
    for start, stop in chunks(n, batch_size):
        b = stop - start
        shapes.append((b, [(s1 - s0) * b for s0, s1 in chunks(k, max(1, max_rows // b))]))
    return shapes


class GemmFloor:
    """The encoder's two and the decoder's two matrix products of an evaluation, on random arrays of their
    shapes, with outputs preallocated once per shape (as the workspaces are): ``np.matmul(..., out=)``."""

    def __init__(self, shapes: list[tuple[int, list[int]]], dtype: str):
        rng = np.random.default_rng(0)
        r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
        w = [r(N_INPUT, HIDDEN), r(HIDDEN, 2 * N_LATENT), r(N_LATENT, HIDDEN), r(HIDDEN, N_INPUT)]
        cache: dict[tuple, tuple] = {}

        def encoder(b):
            if ("e", b) not in cache:
                cache["e", b] = (r(b, N_INPUT), r(b, HIDDEN), r(b, 2 * N_LATENT))
            x, h, ml = cache["e", b]
            return [(x, w[0], h), (h, w[1], ml)]

        def decoder(rows):
            if ("d", rows) not in cache:
                cache["d", rows] = (r(rows, N_LATENT), r(rows, HIDDEN), r(rows, N_INPUT))
            z, g, out = cache["d", rows]
            return [(z, w[2], g), (g, w[3], out)]

        self.calls = []
        for b, decoder_rows in shapes:
            self.calls += encoder(b)
            for rows in decoder_rows:
                self.calls += decoder(rows)

    def __call__(self):
        for a, b, out in self.calls:
            np.matmul(a, b, out=out)


class Purevae:
    def __init__(self, impl: str, model: purevae.VAE, x: np.ndarray, what: str, k: int):
        self.impl, self.model, self.x, self.what, self.k = impl, model, x, what, k

    def __call__(self):
        backend.set_backend(self.impl)
        if self.what == "ll":
            return self.model.log_likelihood(self.x, k=self.k, rng=0)
        return self.model.elbo(self.x, rng=0)


def torch_log_likelihood(params: dict, x: np.ndarray, k: int, threads: int, batch_size: int = 100,
                         max_rows: int = 4096, numpy_seed: int | None = None):
    """``log_likelihood`` written plainly in PyTorch (no_grad): same weights, chunking and float64 logsumexp.

    eps from ``torch.randn``; with ``numpy_seed``, from NumPy's generator of that seed instead, drawn in float64
    and cast in the order ``log_likelihood`` draws them: the same noise as ``log_likelihood(rng=numpy_seed)``,
    so the two estimates agree to float32 round-off (the check that this is the same estimator).
    """
    import math

    import torch
    torch.set_num_threads(threads)
    w = {name: torch.from_numpy(v.astype(x.dtype)) for name, v in params.items()}
    xt = torch.from_numpy(x)
    dtype = xt.dtype
    if numpy_seed is None:
        gen = torch.Generator().manual_seed(0)
        draw = lambda shape: torch.randn(shape, generator=gen, dtype=dtype)  # noqa: E731
    else:
        rng = np.random.default_rng(numpy_seed)
        draw = lambda shape: torch.from_numpy(rng.standard_normal(shape).astype(x.dtype))  # noqa: E731

    def linear(h, name):
        return torch.addmm(w[f"{name}.bias"], h, w[f"{name}.weight"])

    def run() -> np.ndarray:
        result = torch.empty(len(x), dtype=torch.float64)
        with torch.no_grad():
            for start, stop in chunks(len(x), batch_size):
                xb, b = xt[start:stop], stop - start
                mu_logvar = linear(torch.relu(linear(xb, "encoder.0")), "encoder.out")
                mu, logvar = mu_logvar[:, :N_LATENT], mu_logvar[:, N_LATENT:]
                std = torch.exp(0.5 * logvar)
                log_w = torch.empty((k, b), dtype=torch.float64)
                for s0, s1 in chunks(k, max(1, max_rows // b)):
                    eps = draw((s1 - s0, b, N_LATENT))
                    z = mu + std * eps
                    logits = linear(torch.relu(linear(z.reshape(-1, N_LATENT), "decoder.0")), "decoder.out")
                    log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
                        logits.reshape(s1 - s0, b, N_INPUT), xb.expand(s1 - s0, b, N_INPUT),
                        reduction="none").sum(-1)
                    log_w[s0:s1] = log_px + 0.5 * torch.sum(logvar + eps * eps - z * z, dim=-1)
                result[start:stop] = torch.logsumexp(log_w, dim=0) - math.log(k)
        return result.numpy()
    return run


def peer_main(args, threads: int) -> int:
    """Child process: the torch estimator on the same weights and images, one timed call per round."""
    params = trained_params()
    x = scale_pixels(load_bundled().x_test[:args.n]).astype("float32")
    run = torch_log_likelihood(params, x, args.k, threads)
    start = time.perf_counter()
    run()
    print(time.perf_counter() - start, flush=True)
    same_noise = torch_log_likelihood(params, x, args.k, threads, numpy_seed=0)()
    print(" ".join(repr(float(v)) for v in same_noise), flush=True)   # the parent compares them with its own
    serve_rounds(run, 1, min_calls=0)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="k=1000, float32 only, 5 rounds")
    parser.add_argument("--k", type=int, default=None, help="importance samples (default 5000; quick 1000)")
    parser.add_argument("--n", type=int, default=10, help="test images for log_likelihood (default 10)")
    parser.add_argument("--n-elbo", type=int, default=2000, help="test images for elbo (default 2000)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9; quick 5)")
    parser.add_argument("--no-peers", action="store_true", help="skip torch even when importable")
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy backend's case")
    parser.add_argument("--breakdown", action="store_true",
                        help="the float32 log_likelihood's and elbo's time per kernel and GEMM shape instead")
    parser.add_argument("--peer", choices=["torch"], help=argparse.SUPPRESS)   # the child process mode
    args = parser.parse_args(argv)
    args.k = args.k or (1000 if args.quick else 5000)
    args.rounds = args.rounds or (5 if args.quick else 9)
    threads = blas_threads()
    if args.peer:
        return peer_main(args, threads)
    print(machine_info())
    if not backend.cython_available():
        print("the Cython extension is not built (pip install -e .): nothing to measure")
        return 1
    params = trained_params()
    x_test = scale_pixels(load_bundled().x_test)
    m32, m64 = model_with(params, "float32"), model_with(params, "float64")
    x32, x64 = x_test[:args.n].astype("float32"), x_test[:args.n].astype("float64")
    xe = x_test[:args.n_elbo].astype("float32")
    if args.breakdown:
        import scipy.special

        from purevae.latent import GaussianLatent
        also = ((GaussianLatent, "draw_eps"), (GaussianLatent, "sample"), (scipy.special, "logsumexp"))
        for what, model_x, label in (("ll", x32, f"log_likelihood calls, k={args.k}, {args.n} images"),
                                     ("elbo", xe, f"elbo calls, {args.n_elbo} images")):
            call = Purevae("cython", m32, model_x, what, args.k if what == "ll" else 1)
            call()
            print_breakdown(call, 5, f"{label}, float32, ms per call", also)
        return 0

    cases = {"ll": Purevae("cython", m32, x32, "ll", args.k), "ll floor": GemmFloor(ll_shapes(args.n, args.k),
                                                                                    "float32")}
    if not args.quick:
        cases["ll float64"] = Purevae("cython", m64, x64, "ll", args.k)
    if not args.no_numpy:
        cases["ll numpy"] = Purevae("numpy", m32, x32, "ll", args.k)
    cases["elbo"] = Purevae("cython", m32, xe, "elbo", 1)
    cases["elbo floor"] = GemmFloor([(b1 - b0, [b1 - b0]) for b0, b1 in chunks(args.n_elbo, 1000)], "float32")
    for case in cases.values():      # warm: workspaces and BLAS buffers exist before timing
        case()
    ours = cases["ll"]()
    peers = []
    if not args.no_peers:
        try:
            import torch
            print(f"torch {torch.__version__}; threads: BLAS {threads}, torch {threads}")
            peer = Peer("torch", [sys.executable, os.path.abspath(__file__), "--peer", "torch", "--n", str(args.n),
                                  "--k", str(args.k)])
            peer.estimate = np.array(peer._read().split(), dtype=float)
            peers.append(peer)
        except ImportError:
            print("torch is not importable: no torch case")
        except RuntimeError as exc:
            print(f"  {exc}")
    samples = interleaved_rounds(cases, peers, args.rounds, 1, min_calls=0)

    def ratio(a: str, b: str) -> float:
        return statistics.median(p / q for p, q in zip(samples[a], samples[b]))

    print(f"\nlog_likelihood k={args.k} on {args.n} test images, elbo on {args.n_elbo}; median seconds of "
          f"{args.rounds} interleaved rounds")
    print("  " + "   ".join(f"{name} {statistics.median(s):.3f}" for name, s in samples.items()))
    for p in peers:
        gap = float(np.max(np.abs(p.estimate - ours) / np.abs(ours)))
        print(f"  the same estimator: on the same noise, {p.name}'s log p(x) of the {args.n} images equal ours to "
              f"{gap:.1e} relative (mean -log p(x) {-ours.mean():.3f} nats)")
    spread = [a / b for a, b in zip(samples["ll"], samples["ll floor"])]
    rows = [("log_likelihood / its GEMM floor", ratio("ll", "ll floor"), 1.3, "<="),
            ("elbo / its GEMM floor", ratio("elbo", "elbo floor"), 1.3, "<=")]
    if "torch" in samples:
        rows.append(("log_likelihood / torch no_grad", ratio("ll", "torch"), 0.6, "<="))
    if "ll float64" in samples:
        rows.append(("log_likelihood float64 / float32", ratio("ll float64", "ll"), 2.2, "<="))
    if "ll numpy" in samples:
        rows.append(("log_likelihood numpy backend / cython", ratio("ll numpy", "ll"), None, ""))
    for label, value, target, _ in rows:
        verdict = "" if target is None else f"   target <= {target}: {'met' if value <= target else 'MISSED'}"
        print(f"  {label + ' =':42s} {value:5.2f}x{verdict}")
    print(f"  (log_likelihood / floor ranged {min(spread):.2f}-{max(spread):.2f}x over the rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
