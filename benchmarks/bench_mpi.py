"""Data-parallel training over MPI on this machine, and a cost model of one step for many ranks.

    python benchmarks/bench_mpi.py                  # full Fashion-MNIST if installed (else the bundled subset)
    python benchmarks/bench_mpi.py --quick          # 2,000 images, 1 round: a smoke run of a few seconds

Part 1, measured: one epoch of the classic model (784-400-20, ReLU, Bernoulli, float32, Adam) with
  A = 1 process, 2 BLAS threads (``fit`` without ``comm``), and
  B = ``mpiexec -n 2``, 1 BLAS thread per rank (``fit(comm=MPI.COMM_WORLD)``),
at the same global batch (128 and 1024), run in alternating rounds (A B A B ...); the ratio is the median over
rounds of A's epoch time / B's. Each B run also times its Allreduce calls (wall time inside ``Allreduce``,
rank 0), which gives the allreduce's time per step and its share of the step.

Part 2, on paper: the step of p ranks at global batch B costs
    T(p) = t_c(B / p) + t_ar(p),    t_ar(p) = 2 (p - 1) / p * bytes / bandwidth + 2 (p - 1) * latency
(a ring allreduce: p - 1 reduce-scatter and p - 1 all-gather steps, each moving bytes / p), with t_c(b) the
measured time of one rank's step on b examples with 1 thread, fitted as t_c(b) = t0 + t1 b (least squares of
the relative error over b = 16 .. 8192, 1 thread, this machine), bytes = the flat float64 gradient buffer
purevae reduces (8 * 652,824 parameters = 5.2 MB; a float32 buffer would halve it), latency 5 us per
message (a typical MPI latency on Ethernet/RoCE; an assumption, not a measurement), bandwidth 10 or
100 Gbit/s. The predicted speed-up is
T(1) / T(p) with T(1) = t_c(B). It assumes one core per rank and ignores the per-step Python overhead
outside the step and the drift check (one small allreduce every 50 steps).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LATENCY = 5e-6


def load_images(quick: bool) -> np.ndarray:
    from purevae import data
    try:
        dataset = data.load_dataset("fashion-mnist") if not quick else data.load_dataset("bundled")
    except (ValueError, OSError):
        dataset = data.load_dataset("bundled")
    x = data.prepare(dataset, "none").x_train
    return x[:2000] if quick else x


def worker(batch: int, quick: bool, out: str) -> None:
    """One epoch, timed; under mpiexec with comm, its Allreduce calls timed too (written by rank 0)."""
    from purevae import VAE, parallel
    x = load_images(quick)
    comm, timing = None, {"seconds": 0.0, "calls": 0}
    if int(os.environ.get("PMI_SIZE", os.environ.get("OMPI_COMM_WORLD_SIZE", "1"))) > 1:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        original = parallel.Parallel.sum_inplace

        def timed(self, buffer):
            start = time.perf_counter()
            result = original(self, buffer)
            timing["seconds"] += time.perf_counter() - start
            timing["calls"] += 1
            return result
        parallel.Parallel.sum_inplace = timed
    model = VAE(784, hidden=(400,), n_latent=20, dtype="float32", seed=0)
    model.fit(x[:batch * 4], epochs=1, batch_size=batch, comm=comm)         # warm-up: workspaces, page cache
    timing.update(seconds=0.0, calls=0)
    start = time.perf_counter()
    model.fit(x, epochs=1, batch_size=batch, comm=comm)
    epoch = time.perf_counter() - start
    if comm is None or comm.Get_rank() == 0:
        Path(out).write_text(json.dumps({"epoch": epoch, "steps": -(-x.shape[0] // batch), **timing,
                                         "n": int(x.shape[0])}))


def step_times(quick: bool) -> list[tuple[int, float]]:
    """(b, seconds) of one single-thread training step (forward, backward, Adam) at several batch sizes."""
    from purevae import VAE
    x = load_images(True)
    out = []
    for b in ([16, 128, 1024] if quick else [16, 64, 128, 512, 1024, 2048, 4096, 8192]):
        model = VAE(784, hidden=(400,), n_latent=20, dtype="float32", seed=0)
        from purevae.optim import make_optimizer
        model.optimizer = make_optimizer("adam", 1e-3)
        rows = np.resize(np.arange(x.shape[0]), b)
        batch = np.ascontiguousarray(x[rows])
        ws = model.workspace(b)
        times = []
        for i in range(3 if quick else 8):
            start = time.perf_counter()
            _, _, _, grads = model.step(batch, None, 1.0, ws)
            model.optimizer.step(model.params, grads)
            if i:
                times.append(time.perf_counter() - start)
        out.append((b, statistics.median(times)))
    return out


def run(cmd: list[str], env: dict) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--steps", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker(args.worker, args.quick, args.out)
    if args.steps:
        Path(args.out).write_text(json.dumps(step_times(args.quick)))
        return None

    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if mpiexec is None:
        raise SystemExit('mpiexec not found: pip install "purevae[mpi]"')
    rounds = 1 if args.quick else args.rounds
    quick = ["--quick"] if args.quick else []
    import tempfile
    folder = Path(tempfile.mkdtemp())
    print(f"data: {'2000 bundled images' if args.quick else 'Fashion-MNIST train (60,000 if installed)'}; "
          f"model 784-400-20 float32 Adam; {os.cpu_count()} cores; {rounds} round(s)")
    print(f"{'batch':>6}  {'1 rank x 2 thr':>14}  {'2 ranks x 1 thr':>15}  {'ratio A/B':>9}  "
          f"{'allreduce/step':>14}  {'share':>6}")
    for batch in (128, 1024):
        a_times, b_times, ratios, ar, shares = [], [], [], [], []
        for r in range(rounds):
            out_a, out_b = folder / f"a{batch}{r}.json", folder / f"b{batch}{r}.json"
            base = [sys.executable, str(Path(__file__)), "--worker", str(batch), *quick]
            run([*base, "--out", str(out_a)], {**os.environ, "OPENBLAS_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"})
            run([mpiexec, "-n", "2", *base, "--out", str(out_b)],
                {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
            a, b = json.loads(out_a.read_text()), json.loads(out_b.read_text())
            a_times.append(a["epoch"])
            b_times.append(b["epoch"])
            ratios.append(a["epoch"] / b["epoch"])
            ar.append(b["seconds"] / b["calls"])
            shares.append(b["seconds"] / b["epoch"])
        print(f"{batch:>6}  {statistics.median(a_times):>12.2f} s  {statistics.median(b_times):>13.2f} s  "
              f"{statistics.median(ratios):>9.2f}  {1e3 * statistics.median(ar):>11.3f} ms  "
              f"{100 * statistics.median(shares):>5.1f}%")

    out_steps = folder / "steps.json"                          # in a child: BLAS reads its thread count at load
    run([sys.executable, str(Path(__file__)), "--steps", *quick, "--out", str(out_steps)],
        {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    measured = [tuple(row) for row in json.loads(out_steps.read_text())]
    b_arr = np.array([b for b, _ in measured], float)
    t_arr = np.array([t for _, t in measured])
    t1, t0 = np.polyfit(b_arr, t_arr, 1, w=1 / t_arr)         # relative least squares: small b fitted too
    print("\none rank's step (1 BLAS thread), measured: " +
          ", ".join(f"b={b}: {1e3 * t:.2f} ms" for b, t in measured))
    print(f"fit: t_c(b) = {1e3 * t0:.3f} ms + {1e6 * t1:.3f} us * b")
    n_params = 784 * 400 + 400 + 400 * 40 + 40 + 20 * 400 + 400 + 400 * 784 + 784
    nbytes = 8 * n_params
    print(f"allreduce of {nbytes / 1e6:.1f} MB (float64), ring, latency {LATENCY * 1e6:.0f} us per message\n")
    print(cost_table(t0, t1, nbytes))


def cost_table(t0: float, t1: float, nbytes: float) -> str:
    """The predicted speed-up T(1)/T(p) table (module docstring, part 2)."""
    ps = [2, 4, 8, 16, 32, 64]
    lines = [f"{'network':>9} {'batch':>6} " + " ".join(f"{'p=' + str(p):>6}" for p in ps)]
    for gbit in (10, 100):
        bandwidth = gbit * 1e9 / 8
        for batch in (128, 1024, 8192):
            base = t0 + t1 * batch
            cells = []
            for p in ps:
                t = t0 + t1 * batch / p + 2 * (p - 1) / p * nbytes / bandwidth + 2 * (p - 1) * LATENCY
                cells.append(f"{base / t:>6.1f}")
            lines.append(f"{gbit:>5} Gb/s {batch:>6} " + " ".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
