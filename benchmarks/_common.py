"""Shared helpers of the benchmark scripts: machine description and interleaved median timing.

Not a module of the package: the scripts put this folder on sys.path themselves (they are run as
``python benchmarks/bench_<topic>.py``).
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from typing import Callable

import numpy as np


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info() -> str:
    """The BLAS library, its kernel (architecture) and thread count; threadpoolctl when importable."""
    try:
        import threadpoolctl  # optional, never a dependency
        info = threadpoolctl.threadpool_info()
        rows = [f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
                f"threads={i.get('num_threads')}" for i in info if i.get("user_api") == "blas"]
        openmp = [f"{i.get('internal_api')} threads={i.get('num_threads')}"
                  for i in info if i.get("user_api") == "openmp"]
        if rows:
            return "; ".join(rows + openmp)
    except ImportError:
        pass
    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (install threadpoolctl to see the kernel and threads)"
    except Exception:  # noqa: BLE001 - show_config's layout differs between NumPy versions
        return "unknown (install threadpoolctl)"


def machine_info() -> str:
    import scipy

    import purevae
    from purevae import backend
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE",
                                      "OPENBLAS_L2_SIZE", "XLA_FLAGS", "OMP_WAIT_POLICY") if k in os.environ}
    lines = [
        f"cpu: {cpu_model()}, {os.cpu_count()} logical cores; load average {os.getloadavg()[0]:.2f} at start",
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"purevae {purevae.__version__} (cython extension built: {backend.cython_available()}, "
        f"openmp: {backend.openmp_threads() if backend.cython_available() else 'n/a'})",
        f"blas: {blas_info()}",
        f"env: {env or '(no thread / BLAS variables set)'}",
    ]
    return "\n".join(lines)


def interleaved_medians(cases: dict[str, Callable[[], object]], rounds: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of each case, timed in alternating rounds so that drift hits all alike.

    Every round calls each case ``repeats`` times back to back and records the mean of that round.
    """
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(repeats):
                fn()
            samples[name].append((time.perf_counter() - start) / repeats)
    return {name: statistics.median(values) for name, values in samples.items()}


N_INPUT, HIDDEN, N_LATENT = 784, 400, 20


def step_products(batch: int, dtype: str, k: int = 1
                  ) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, bool, bool]]:
    """(name, a, b, out, transpose a, transpose b) for the 11 GEMMs of one training step of the classic model
    (784-400-20, decoder 20-400-784): 4 forward, 4 weight gradients, 3 input gradients, in model.py's order,
    on random arrays of those shapes with preallocated outputs. With k samples per example (the k-sample ELBO,
    the IWAE bound) the encoder's products have ``batch`` rows and the decoder's ``k * batch``."""
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    rows = k * batch
    x, z = r(batch, N_INPUT), r(rows, N_LATENT)
    w0, w1, w2, w3 = r(N_INPUT, HIDDEN), r(HIDDEN, 2 * N_LATENT), r(N_LATENT, HIDDEN), r(HIDDEN, N_INPUT)
    h, ml, g, out = r(batch, HIDDEN), r(batch, 2 * N_LATENT), r(rows, HIDDEN), r(rows, N_INPUT)
    gh, gz, gh2 = r(rows, HIDDEN), r(rows, N_LATENT), r(batch, HIDDEN)
    e = np.empty_like
    return [
        ("x W0", x, w0, h, False, False), ("h W1", h, w1, ml, False, False),
        ("z W2", z, w2, g, False, False), ("g W3", g, w3, out, False, False),
        ("g^T dout", g, out, e(w3), True, False), ("dout W3^T", out, w3, gh, False, True),
        ("z^T dg", z, gh, e(w2), True, False), ("dg W2^T", gh, w2, gz, False, True),
        ("h^T dml", h, ml, e(w1), True, False), ("dml W1^T", ml, w1, gh2, False, True),
        ("x^T dh", x, gh2, e(w0), True, False),
    ]


GAP = 0.25  # seconds of idling before every case's turn: the other process's BLAS/OpenMP/XLA threads stop spinning

REWARM_SECONDS = 0.3  # untimed calls opening every round, for this long (at least ``min_calls``): after an idle
# gap, XLA needed ~0.3 s of steps to regain its continuous pace (batch 32: 2.7 ms per step after 0.02 s of them,
# 1.6 ms after 0.3 s, 1.6 ms when never idle); every case gets the same re-warm, ours included


def time_round(call: Callable[[], object], repeats: int, min_calls: int = 3) -> float:
    """Seconds per call of ``call``: ``REWARM_SECONDS`` (and at least ``min_calls``) untimed, then ``repeats`` timed."""
    start, n = time.perf_counter(), 0
    while n < min_calls or time.perf_counter() - start < REWARM_SECONDS:
        call()
        n += 1
    t0 = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - t0) / repeats


def interleaved_rounds(cases: dict[str, Callable[[], object]], peers: list["Peer"], rounds: int, repeats: int,
                       min_calls: int = 3) -> dict[str, list[float]]:
    """Seconds per call of every case and peer, one sample per round: each round times every case in turn
    (``time_round``, after a ``GAP`` pause) then asks each peer for its round. The peers are closed at the end."""
    samples: dict[str, list[float]] = {name: [] for name in [*cases, *(p.name for p in peers)]}
    try:
        for _ in range(rounds):
            for name, call in cases.items():
                time.sleep(GAP)          # every case, ours too, starts its turn the same way: after a pause
                samples[name].append(time_round(call, repeats, min_calls))
            for peer in peers:
                time.sleep(GAP)
                samples[peer.name].append(peer.round())
    finally:
        for peer in peers:
            peer.close()
    return samples


def serve_rounds(call: Callable[[], object], repeats: int, min_calls: int = 3) -> None:
    """The child side of ``Peer``: one ``time_round`` of ``call`` per ``round`` line on stdin, its seconds on
    stdout, until anything else arrives."""
    import sys
    for line in sys.stdin:
        if line.strip() != "round":
            break
        seconds = time_round(call, repeats, min_calls)
        time.sleep(GAP)              # let this process's threads go idle before the parent runs again
        print(seconds, flush=True)


class Peer:
    """A child process (``cmd``) timing one peer: it prints its warm-up seconds, then one round's seconds per
    ``round`` line on its stdin, until ``quit``.

    The parent and the children take turns, so the cases of one round run within a few seconds of each
    other: a per-round ratio never compares a shared machine's slow minute with its fast one.
    """

    def __init__(self, name: str, cmd: list[str]):
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.warm = float(self._read())

    def _read(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip().splitlines()
            raise RuntimeError(f"{self.name} failed: {err[-1] if err else 'no output'}")
        return line.strip()

    def round(self) -> float:
        self.proc.stdin.write("round\n")
        return float(self._read())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def print_breakdown(call: Callable[[], object], n: int, what: str, also: tuple = ()) -> None:
    """Milliseconds per call of ``call`` in each Cython kernel and each GEMM shape, over ``n`` calls.

    ``also``: (owner, attribute name) pairs of further functions to time the same way (e.g. the noise draw);
    their time is counted under their name and in "the rest".
    ``numpy.matmul`` and the kernel module (``purevae.backend.kernels``) are replaced by timing wrappers for
    the measured calls (about a microsecond per call of overhead, counted in "Python and the rest"), then
    restored. Prints one line per kernel or GEMM shape, then the total split into GEMMs, kernels and the rest.
    """
    import collections

    from purevae import backend
    spent: dict[str, float] = collections.defaultdict(float)
    real_kernels, real_matmul = backend.kernels, np.matmul
    module = real_kernels("cython")

    class Timed:
        def __getattr__(self, name):
            fn = getattr(module, name)

            def timed(*a, **kw):
                t0 = time.perf_counter()
                out = fn(*a, **kw)
                spent[name] += time.perf_counter() - t0
                return out
            return timed

    def matmul(a, b, **kw):
        t0 = time.perf_counter()
        out = real_matmul(a, b, **kw)
        spent[f"matmul {a.shape} x {b.shape}"] += time.perf_counter() - t0
        return out

    def wrapped(owner, name):
        fn = getattr(owner, name)

        def timed(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            spent[f"({name})"] += time.perf_counter() - t0
            return out
        return timed

    timed_module = Timed()
    saved = [(owner, name, getattr(owner, name)) for owner, name in also]
    backend.kernels, np.matmul = (lambda impl=None: timed_module), matmul
    for owner, name, _ in saved:
        setattr(owner, name, wrapped(owner, name))
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        total = time.perf_counter() - t0
    finally:
        backend.kernels, np.matmul = real_kernels, real_matmul
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    print(f"\nbreakdown of {n} {what}")
    for name, sec in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:48s} {sec / n * 1e3:8.4f}")
    gemm = sum(v for k, v in spent.items() if k.startswith("matmul"))
    kern = sum(v for k, v in spent.items() if not k.startswith(("matmul", "(")))
    print(f"  total {total / n * 1e3:.3f} = GEMMs {gemm / n * 1e3:.3f} + kernels {kern / n * 1e3:.3f} "
          f"+ Python and the rest {(total - gemm - kern) / n * 1e3:.3f}"
          + (" (the rest includes the names in parentheses)" if also else ""))
