"""Shared helpers of the benchmark scripts: machine description and interleaved median timing.

Not a module of the package: the scripts put this folder on sys.path themselves (they are run as
``python benchmarks/bench_<topic>.py``).
"""
from __future__ import annotations

import os
import platform
import statistics
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
