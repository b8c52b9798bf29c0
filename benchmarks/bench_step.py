"""Median time of one full training step (forward, backward, Adam): NumPy vs Cython backend vs the GEMM floor,
and PyTorch / JAX when they are importable. All cases interleaved round by round, in steady state.

    python benchmarks/bench_step.py                 # batch 32 / 128 / 1024, float32 + float64, 1500 warm-up steps
    python benchmarks/bench_step.py --quick         # batch 128, float32, 150 warm-up steps, 7 rounds: under a minute
    python benchmarks/bench_step.py --batch 128 --dtype float32 --warmup 1500 --rounds 15
    python benchmarks/bench_step.py --profile --batch 128 --dtype float32   # where the Cython step's time goes
    python benchmarks/bench_step.py --breakdown --batch 128 --dtype float32 # the same, per kernel and GEMM shape
    python benchmarks/bench_step.py --objective iwae --k 5 --batch 128 --dtype float32   # the IWAE step

The model is the classic one: 784-400-20 (decoder 20-400-784), ReLU, Bernoulli on logits, Adam (lr 1e-3),
trained on the bundled Fashion-MNIST subset scaled to [0, 1]. Every case first trains ``--warmup`` steps
(Adam's second moments of dead units decay into subnormal floats after ~1,000 steps, which slows a plain
NumPy step down 2x: a fresh model is not the steady state), then the cases are timed in alternating rounds
of ``--repeats`` steps; the median over rounds is reported.

Cases
-----
floor   the step's matrix products alone (11 GEMMs, same shapes, preallocated outputs, NumPy's BLAS)
numpy   ``purevae.set_backend("numpy")``: the plain readable reference
cython  ``purevae.set_backend("cython")``: the fused kernels and the workspace
cython float64   (float32 rows, when float64 is also asked for) the float64 Cython step in the same rounds,
        which gives the float64/float32 ratio
torch   PyTorch eager, same model, same initial weights, ``torch.optim.Adam`` (if importable); for
        ``--objective iwae`` the same bound through autograd (its loss and gradients equal ours to 5e-14
        relative on the same noise: ``python scripts/torch_agreement.py``)
jax     JAX ``jit`` of the whole step with a hand-written Adam (if importable; the ELBO with k = 1 only)

Threads: BLAS keeps its default (all cores, or OPENBLAS_NUM_THREADS / OMP_NUM_THREADS); torch gets
``torch.set_num_threads`` with the same count; XLA uses its own pool (all cores), except that with 1 thread
the jax child is pinned to one core (XLA_FLAGS did not hold it to one). Printed at the top.

torch and jax run in child processes of this script (same warm-up, data and steps per round): loaded into
one process, their thread pools and OpenBLAS's threads spin against each other on a 2-core machine and every
case slows down 5-20x (measured; see benchmarks/RESULTS.md). The processes take turns round by round, with
a quarter-second pause before every case's turn (so that the last one's threads have stopped spinning, and
every case starts from the same idle machine), then ``REWARM_SECONDS`` of untimed steps, then the timed
ones: each round times floor, numpy, cython, torch and jax within a few seconds of each other. A shared
machine has slow and fast spells; the ratios printed are therefore medians over rounds of the ratio within
a round.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (  # noqa: E402
    HIDDEN,
    N_INPUT,
    N_LATENT,
    Peer,
    interleaved_rounds,
    machine_info,
    print_breakdown,
    serve_rounds,
    step_products,
)

import purevae  # noqa: E402
from purevae import backend  # noqa: E402
from purevae.data import load_bundled, scale_pixels  # noqa: E402
from purevae.optim import Adam  # noqa: E402


def blas_threads() -> int:
    try:
        import threadpoolctl
        counts = [i["num_threads"] for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if counts:
            return int(counts[0])
    except ImportError:
        pass
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return os.cpu_count() or 1


def make_batches(x: np.ndarray, batch: int, dtype, count: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [np.ascontiguousarray(x[rng.choice(len(x), batch, replace=False)], dtype=dtype) for _ in range(count)]


# ---------------------------------------------------------------------------------------------
# the cases: each is a callable doing one step on the next batch
# ---------------------------------------------------------------------------------------------
class PurevaeStep:
    def __init__(self, impl: str, batches: list[np.ndarray], dtype: str, objective: str = "elbo", k: int = 1):
        self.impl, self.batches, self.i = impl, batches, 0
        self.objective, self.k = objective, k
        self.model = purevae.VAE(N_INPUT, (HIDDEN,), N_LATENT, dtype=dtype, seed=0)
        self.model.optimizer = Adam(1e-3)

    def __call__(self):
        backend.set_backend(self.impl)
        x = self.batches[self.i % len(self.batches)]
        self.i += 1
        grads = self.model.step(x, None, 1.0, self.model.workspace(len(x)), objective=self.objective,
                                k=self.k).grads   # what fit calls
        self.model.optimizer.step(self.model.params, grads)


class GemmFloor:
    """The 11 matrix products of the step, alone (``_common.step_products``: the shapes, transposes and
    preallocated outputs of model.py), through ``np.matmul(..., out=)`` as the Cython step calls them."""

    def __init__(self, batch: int, dtype: str, k: int = 1):
        self.calls = [(a.T if ta else a, b.T if tb else b, out)
                      for _, a, b, out, ta, tb in step_products(batch, dtype, k)]

    def __call__(self):
        for a, b, out in self.calls:
            np.matmul(a, b, out=out)


def torch_step(batches, dtype: str, params: dict, threads: int, objective: str = "elbo", k: int = 1):
    """The same model and Adam in PyTorch eager; objective "iwae" is the bound of VAE.step written with autograd
    (the encoder on B rows, the decoder on the k B rows z_ib, the logsumexp over the k samples)."""
    import math

    import torch
    torch.set_num_threads(threads)
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    enc1, enc2 = torch.nn.Linear(N_INPUT, HIDDEN), torch.nn.Linear(HIDDEN, 2 * N_LATENT)
    dec1, dec2 = torch.nn.Linear(N_LATENT, HIDDEN), torch.nn.Linear(HIDDEN, N_INPUT)
    layers = {"encoder.0": enc1, "encoder.out": enc2, "decoder.0": dec1, "decoder.out": dec2}
    with torch.no_grad():
        for name, layer in layers.items():     # the same initial weights: ours are (n_in, n_out), torch's (out, in)
            layer.to(tdtype)
            layer.weight.copy_(torch.from_numpy(params[f"{name}.weight"].T.astype(dtype)))
            layer.bias.copy_(torch.from_numpy(params[f"{name}.bias"].astype(dtype)))
    modules = torch.nn.ModuleList(layers.values())
    opt = torch.optim.Adam(modules.parameters(), lr=1e-3)
    xs = [torch.from_numpy(b) for b in batches]
    gen = torch.Generator().manual_seed(0)
    state = {"i": 0}

    def step():
        x = xs[state["i"] % len(xs)]
        state["i"] += 1
        mu_logvar = enc2(torch.relu(enc1(x)))
        mu, logvar = mu_logvar[:, :N_LATENT], mu_logvar[:, N_LATENT:]
        if objective == "iwae":
            batch = x.shape[0]
            eps = torch.randn((k, batch, N_LATENT), generator=gen, dtype=tdtype)
            z = mu + torch.exp(0.5 * logvar) * eps                                        # (k, B, L)
            logits = dec2(torch.relu(dec1(z.reshape(k * batch, N_LATENT)))).reshape(k, batch, N_INPUT)
            log_px = -torch.nn.functional.binary_cross_entropy_with_logits(
                logits, x.expand(k, batch, N_INPUT), reduction="none").sum(-1)
            log_pz_minus_log_qz = 0.5 * torch.sum(logvar + eps * eps - z * z, dim=-1)    # the log 2 pi cancel
            loss = torch.mean(math.log(k) - torch.logsumexp(log_px + log_pz_minus_log_qz, dim=0))
        else:
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen, dtype=tdtype)
            logits = dec2(torch.relu(dec1(z)))
            nll = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
            kl = 0.5 * torch.sum(mu * mu + torch.exp(logvar) - logvar - 1) / x.shape[0]
            loss = nll + kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def jax_step(batches, dtype: str, params: dict):
    import jax
    import jax.numpy as jnp
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    p = {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}
    m = {k: jnp.zeros_like(v) for k, v in p.items()}
    v = {k: jnp.zeros_like(val) for k, val in p.items()}

    def loss_fn(p, x, eps):
        h = jax.nn.relu(x @ p["encoder.0.weight"] + p["encoder.0.bias"])
        mu_logvar = h @ p["encoder.out.weight"] + p["encoder.out.bias"]
        mu, logvar = mu_logvar[:, :N_LATENT], mu_logvar[:, N_LATENT:]
        z = mu + jnp.exp(0.5 * logvar) * eps
        g = jax.nn.relu(z @ p["decoder.0.weight"] + p["decoder.0.bias"])
        logits = g @ p["decoder.out.weight"] + p["decoder.out.bias"]
        nll = jnp.sum(jax.nn.softplus(logits) - x * logits, axis=1)
        kl = 0.5 * jnp.sum(mu * mu + jnp.exp(logvar) - logvar - 1, axis=1)
        return jnp.mean(nll + kl)

    @jax.jit
    def train_step(p, m, v, t, x, key):
        key, sub = jax.random.split(key)
        eps = jax.random.normal(sub, (x.shape[0], N_LATENT), dtype=x.dtype)
        loss, grads = jax.value_and_grad(loss_fn)(p, x, eps)
        b1, b2, lr, e = 0.9, 0.999, 1e-3, 1e-8
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        p = jax.tree_util.tree_map(lambda w, a, b: w - lr * (a / c1) / (jnp.sqrt(b / c2) + e), p, m, v)
        return p, m, v, key, loss

    xs = [jnp.asarray(b) for b in batches]
    state = {"p": p, "m": m, "v": v, "t": 0, "key": jax.random.PRNGKey(0)}

    def step():
        state["t"] += 1
        x = xs[state["t"] % len(xs)]
        state["p"], state["m"], state["v"], state["key"], loss = train_step(
            state["p"], state["m"], state["v"], jnp.asarray(state["t"], dtype=dtype), x, state["key"])
        loss.block_until_ready()
    return step


def bytes_per_step(step) -> int:
    """Peak bytes above the starting level that one step allocates (tracemalloc: NumPy reports its buffers)."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def warm_up(cases: dict, args) -> float:
    start = time.perf_counter()
    for name, step in cases.items():
        for _ in range(args.warmup if name != "floor" else 20):
            step()
    return time.perf_counter() - start


def start_peer(peer: str, batch: int, dtype: str, args) -> Peer:
    return Peer(peer, [sys.executable, os.path.abspath(__file__), "--peer", peer, "--batch", str(batch),
                       "--dtype", dtype, "--warmup", str(args.warmup), "--repeats", str(args.repeats),
                       "--objective", args.objective, "--k", str(args.k)])


def pin_to_one_core() -> None:
    """Keep this process on one core. XLA's CPU pool takes every core whatever XLA_FLAGS say (measured with
    jax 0.10.2: 3.6 ms per batch-128 step with the flags, below the 1-thread GEMM floor of 4.5 ms), so with
    1 thread asked for, the jax child is pinned instead."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def peer_main(args, x_all: np.ndarray, threads: int) -> int:
    """Child process: build one peer on one (batch, dtype), warm it up, then time one round per request."""
    batch, dtype = args.batch[0], args.dtype[0]
    if args.peer == "jax" and threads == 1:
        pin_to_one_core()
    batches = make_batches(x_all, batch, dtype)
    params = purevae.VAE(N_INPUT, (HIDDEN,), N_LATENT, dtype=dtype, seed=0).params
    step = (torch_step(batches, dtype, params, threads, args.objective, args.k) if args.peer == "torch"
            else jax_step(batches, dtype, params))
    print(warm_up({args.peer: step}, args), flush=True)
    serve_rounds(step, args.repeats)
    return 0


def start_peers(batch: int, dtype: str, args) -> list[Peer]:
    peers = []
    if args.no_peers:
        return peers
    names = {("elbo", True): ("torch", "jax"), ("iwae", True): ("torch",), ("iwae", False): ("torch",)}.get(
        (args.objective, args.k == 1), ())                                      # what each peer implements
    for name in names:
        try:
            __import__(name)
        except ImportError:
            continue
        try:
            peers.append(start_peer(name, batch, dtype, args))
        except RuntimeError as exc:
            print(f"  {exc}")
    return peers


def run(batch: int, dtype: str, args, x_all: np.ndarray, threads: int) -> dict[str, float]:
    batches = make_batches(x_all, batch, dtype)
    objective = dict(objective=args.objective, k=args.k)
    cases = {"floor": GemmFloor(batch, dtype, args.k), "numpy": PurevaeStep("numpy", batches, dtype, **objective)}
    if backend.cython_available():
        cases["cython"] = PurevaeStep("cython", batches, dtype, **objective)
        if dtype == "float32" and "float64" in args.dtype:   # the float64 step in the same rounds, for the ratio
            cases["cython float64"] = PurevaeStep("cython", make_batches(x_all, batch, "float64"), "float64",
                                                  **objective)
    warm = warm_up(cases, args)
    alloc = {name: bytes_per_step(cases[name]) for name in ("numpy", "cython") if name in cases}
    peers = start_peers(batch, dtype, args)
    samples = interleaved_rounds(cases, peers, args.rounds, args.repeats)
    med = {name: statistics.median(s) for name, s in samples.items()}
    row = " ".join(f"{name} {med[name] * 1e3:7.3f} ms" for name in med)
    what = "" if (args.objective, args.k) == ("elbo", 1) else f"  objective {args.objective}, k={args.k}"
    print(f"\nbatch {batch:5d}  {dtype}{what}  (warm-up {args.warmup} steps, {warm:.0f} s for floor/numpy/cython; "
          f"median of {args.rounds} rounds x {args.repeats} steps, peers interleaved round by round)\n  {row}")
    if "cython" in med:
        def ratio(a: str, b: str) -> float:
            """Median over rounds of a/b: both measured in the same round, seconds apart."""
            return statistics.median(x / y for x, y in zip(samples[a], samples[b]))
        print(f"  numpy/cython = {ratio('numpy', 'cython'):5.2f}x   cython/floor = {ratio('cython', 'floor'):5.2f}x   "
              f"numpy/floor = {ratio('numpy', 'floor'):5.2f}x")
        text = "   ".join(f"{p}/cython = {ratio(p, 'cython'):5.2f}x (cython/{p} = {ratio('cython', p):5.2f}x)"
                          for p in ("torch", "jax") if p in med)
        if text:
            print("  " + text)
        if "cython float64" in med:
            print(f"  float64/float32 (cython) = {ratio('cython float64', 'cython'):5.2f}x")
        spread = [c / f for c, f in zip(samples["cython"], samples["floor"])]
        print(f"  (ratios: median over rounds of the two cases' times in the same round; cython/floor ranged "
              f"{min(spread):.2f}-{max(spread):.2f}x over the rounds)")
    print("  bytes allocated at the peak of one steady-state step (tracemalloc): "
          + ", ".join(f"{k} {v:,d}" for k, v in alloc.items()))
    return med


def profile(batch: int, dtype: str, args, x_all: np.ndarray) -> None:
    """cProfile of the Cython step in steady state: where the time goes (GEMMs = numpy.matmul)."""
    import cProfile
    import pstats
    step = PurevaeStep("cython", make_batches(x_all, batch, dtype), dtype, objective=args.objective, k=args.k)
    for _ in range(args.warmup):
        step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.rounds * args.repeats):
        step()
    profiler.disable()
    print(f"\nprofile of {args.rounds * args.repeats} Cython steps, batch {batch}, {dtype} (after {args.warmup} "
          f"warm-up steps); tottime = time inside the function itself")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def breakdown(batch: int, dtype: str, args, x_all: np.ndarray) -> None:
    """Milliseconds per Cython step in each kernel and each GEMM shape (``_common.print_breakdown``)."""
    step = PurevaeStep("cython", make_batches(x_all, batch, dtype), dtype, objective=args.objective, k=args.k)
    for _ in range(args.warmup):
        step()
    print_breakdown(step, args.rounds * args.repeats * 4,
                    f"Cython steps, batch {batch}, {dtype} (after {args.warmup} warm-up steps), ms per step")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 128, float32, 150 warm-up steps, 7 rounds")
    parser.add_argument("--batch", type=int, nargs="+", default=None, help="default 32 128 1024; quick 128")
    parser.add_argument("--dtype", nargs="+", default=None)
    parser.add_argument("--warmup", type=int, default=None, help="steps before timing (default 1500; quick 150)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 15; quick 7)")
    parser.add_argument("--repeats", type=int, default=5, help="steps per case per round")
    parser.add_argument("--no-peers", action="store_true", help="skip torch and jax even when importable")
    parser.add_argument("--objective", choices=["elbo", "iwae"], default="elbo",
                        help="the step's loss (torch implements elbo with k=1 and iwae; jax elbo with k=1 only)")
    parser.add_argument("--k", type=int, default=1, help="samples per example: the floor's decoder GEMMs get k B rows")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the Cython step instead")
    parser.add_argument("--breakdown", action="store_true",
                        help="print the Cython step's time per kernel and per GEMM shape instead")
    parser.add_argument("--peer", choices=["torch", "jax"], help=argparse.SUPPRESS)   # the child process mode
    args = parser.parse_args(argv)
    args.batch = args.batch or ([128] if args.quick else [32, 128, 1024])
    args.dtype = args.dtype or (["float32"] if args.quick else ["float32", "float64"])
    args.warmup = args.warmup if args.warmup is not None else (150 if args.quick else 1500)
    args.rounds = args.rounds or (7 if args.quick else 15)
    threads = blas_threads()
    if args.peer:
        return peer_main(args, scale_pixels(load_bundled().x_train), threads)
    print(machine_info())
    versions = []
    for mod in ("torch", "jax"):
        try:
            versions.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            versions.append(f"{mod} not installed")
    xla = "XLA pinned to one core" if threads == 1 and hasattr(os, "sched_setaffinity") else "XLA default pool"
    print(f"peers: {', '.join(versions)}; threads: BLAS {threads}, torch {threads}, {xla}")
    if not backend.cython_available():
        print("the Cython extension is not built: the cython column is empty (pip install -e .)")
    x_all = scale_pixels(load_bundled().x_train)
    if args.profile or args.breakdown:
        for dtype in args.dtype:
            for batch in args.batch:
                (profile if args.profile else breakdown)(batch, dtype, args, x_all)
        return 0
    for dtype in args.dtype:
        for batch in args.batch:
            run(batch, dtype, args, x_all, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
