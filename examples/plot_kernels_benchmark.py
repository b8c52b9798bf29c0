r"""
The Cython kernels against their NumPy twins and against PyTorch, reading a benchmark
=====================================================================================

Every hot loop of purevae exists twice: a NumPy function in ``purevae.ops``, written to be read next to its
equation, and a compiled Cython twin in the extension (``purevae.backend.kernels()`` while the Cython backend is
active) with the same name, arguments and results.
``purevae.set_backend("numpy")`` or ``purevae.set_backend("cython")`` chooses which one every model calls.

This page first checks that the two backends compute the same loss and gradients, then times one training
step on each, in the same run, the way the scripts in ``benchmarks/`` do: as a *ratio* against a baseline
measured seconds apart, with the cases interleaved round by round and the median taken over the rounds.
Last, it reads the comparison with PyTorch and JAX from ``benchmarks/RESULTS.md`` instead of re-running it
(the machine that builds these pages need not have either), and says which script and command produced it.
The step being timed is the :ref:`derivations-full-chain` followed by an :ref:`derivations-adam` update.
"""

# %%
# Which backends this build has
# -----------------------------
# ``purevae.cython_available()`` says whether the compiled extension was built and imports. Without it
# purevae still works, on NumPy alone, and this page skips every comparison that needs the extension.

import ast
import os
import re
import statistics
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import purevae
from purevae import backend, data
from purevae.optim import Adam

HAVE_CYTHON = purevae.cython_available()
START_BACKEND = purevae.get_backend()
print(f"purevae {purevae.__version__}, numpy {np.__version__}; Cython extension built: {HAVE_CYTHON}; "
      f"backend in use: {START_BACKEND}")
try:                                          # the BLAS NumPy was built with: it does every matrix product
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    blas = f"{blas.get('name')} {blas.get('version')}"
except (KeyError, TypeError, ValueError):     # show_config's layout differs between NumPy versions
    blas = "unknown"
threads = {k: v for k, v in os.environ.items() if k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
print(f"{os.cpu_count()} logical cores; BLAS {blas}; thread variables: {threads or 'none set (BLAS default)'}")

# %%
# Same numbers from both backends
# -------------------------------
# A benchmark of two implementations is only worth reading if they compute the same thing. With the noise
# of the reparameterisation passed in (``eps=``), ``loss_and_grads`` is a deterministic function of the
# parameters and the batch, so the two backends can be compared entry by entry. They are not expected to
# agree bit for bit: the Cython kernels fuse loops and sum in another order, so the last bits of a sum
# differ. The agreement to expect is the dtype's round-off, amplified a little by sums over hundreds of
# terms. The tolerances below are the numbers ``benchmarks/bench_kernels.py`` uses before it times anything,
# applied here to the largest difference relative to the largest entry (that script checks element by element
# with ``assert_allclose``).

x_all = data.prepare("bundled", dtype="float64", n_train=2048).x_train
TOLERANCE = {"float32": 1e-4, "float64": 1e-10}


def largest_relative_difference(a, b):
    """max |a - b| / max |b|: the difference measured against the size of the array's entries."""
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(np.float64).tiny))


agreement = {}
if HAVE_CYTHON:
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        model = purevae.VAE(784, (400,), 20, dtype=dtype, seed=0)
        x_batch = x_all[:64].astype(dtype)
        eps = rng.standard_normal((64, 20)).astype(dtype)
        results = {}
        for impl in ("numpy", "cython"):
            purevae.set_backend(impl)
            results[impl] = model.loss_and_grads(x_batch, eps=eps)
        (loss_n, grads_n), (loss_c, grads_c) = results["numpy"], results["cython"]
        worst = max(largest_relative_difference(grads_c[name], grads_n[name]) for name in grads_n)
        agreement[dtype] = worst
        verdict = "within" if worst <= TOLERANCE[dtype] and abs(loss_c - loss_n) <= TOLERANCE[dtype] * abs(loss_n) \
            else "OUTSIDE"
        print(f"{dtype}: loss numpy {loss_n:.10g}, cython {loss_c:.10g} (relative difference "
              f"{abs(loss_c - loss_n) / abs(loss_n):.1e}); largest relative gradient difference over the "
              f"{len(grads_n)} parameters {worst:.1e}: {verdict} the tolerance {TOLERANCE[dtype]:g}")
    purevae.set_backend(START_BACKEND)
else:
    print("no Cython extension: nothing to compare the NumPy backend with")

# %%
# How to time two implementations on a shared machine
# ---------------------------------------------------
# A single wall-clock time says as much about the machine at that minute as about the code: other processes,
# the CPU's clock, the memory bandwidth left over by neighbours all move it, sometimes by a factor of two
# (``benchmarks/RESULTS.md`` measured such slow spells on the machine its numbers come from). Three habits
# make a comparison survive that noise:
#
# - **A ratio in the same run.** Time the baseline and the candidate in the same process, on the same
#   arrays, and report candidate / baseline. A slow minute slows both, and the ratio keeps most of what the
#   code decides.
# - **Interleaved rounds.** Alternate the cases: one short round of each, then again, many times, flipping
#   the order every round so that neither always runs first. Each round's ratio compares two times taken
#   seconds apart.
# - **Medians.** Take the median of the per-round ratios. A round that was hit by a burst of load is an
#   outlier, and the median ignores a few of those where a mean would not.
#
# The cases below are one training step of the classic model (784-400-20, ReLU, Bernoulli likelihood,
# float32, batch 128) as ``fit`` takes it: ``model.step`` into the model's reused workspace, then the Adam
# update, on each backend; and the *GEMM floor*, the same step's eleven matrix products alone, through NumPy's
# BLAS into preallocated outputs. Neither backend can be faster than its matrix products, so
# ``cython / floor`` says how much of the step is spent outside BLAS. Every case gets a few untimed calls
# first. The rounds stop once a time budget is spent or after 15 rounds (after at least five of them, and
# always after an odd number, so that the median is one of the measured ratios). ``benchmarks/bench_step.py``
# warms up for far longer, because a step's speed changes as training goes on: Adam's second moments of dead
# units decay into subnormal floats after about 1,000 steps, and arithmetic on subnormals is slow on many
# CPUs. It also times more rounds; this page keeps to a few seconds.

BATCH, HIDDEN, LATENT, N_INPUT = 128, 400, 20, 784
batches = [np.ascontiguousarray(x_all[i * BATCH:(i + 1) * BATCH], dtype=np.float32) for i in range(8)]


class TrainingStep:
    """One step of ``fit``'s loop on the next batch, on the backend ``impl``."""

    def __init__(self, impl):
        self.impl, self.count = impl, 0
        self.model = purevae.VAE(N_INPUT, (HIDDEN,), LATENT, dtype="float32", seed=0)
        self.model.optimizer = Adam(1e-3)

    def __call__(self):
        purevae.set_backend(self.impl)
        x = batches[self.count % len(batches)]
        self.count += 1
        result = self.model.step(x, None, 1.0, self.model.workspace(len(x)))
        self.model.optimizer.step(self.model.params, result.grads)


def gemm_floor(batch):
    """The eleven matrix products of a step of the 784-400-20 model, as (a, b, out) triples."""
    r = np.random.default_rng(1)

    def arr(*shape):
        return r.standard_normal(shape).astype(np.float32)
    x, h, mu_logvar, z = arr(batch, N_INPUT), arr(batch, HIDDEN), arr(batch, 2 * LATENT), arr(batch, LATENT)
    g, logits = arr(batch, HIDDEN), arr(batch, N_INPUT)
    w_in, w_mu, w_z, w_out = arr(N_INPUT, HIDDEN), arr(HIDDEN, 2 * LATENT), arr(LATENT, HIDDEN), arr(HIDDEN, N_INPUT)
    forward = [(x, w_in), (h, w_mu), (z, w_z), (g, w_out)]
    backward = [(g.T, logits), (logits, w_out.T), (z.T, g), (g, w_z.T), (h.T, mu_logvar), (mu_logvar, w_mu.T),
                (x.T, h)]
    return [(a, b, np.empty((a.shape[0], b.shape[1]), np.float32)) for a, b in forward + backward]


FLOOR_PRODUCTS = gemm_floor(BATCH)


def floor_step():
    for a, b, out in FLOOR_PRODUCTS:
        np.matmul(a, b, out=out)


cases = {"floor": floor_step, "numpy": TrainingStep("numpy")}
if HAVE_CYTHON:
    cases["cython"] = TrainingStep("cython")
for step in cases.values():                   # untimed warm-up: first-call costs, workspaces, Adam state
    for _ in range(10):
        step()

MAX_ROUNDS, MIN_ROUNDS, BUDGET, REPEATS, PAUSE = 15, 5, 10.0, 6, 0.05   # BUDGET: seconds of rounds at most
seconds = {name: [] for name in cases}
began = time.perf_counter()
for round_index in range(MAX_ROUNDS):
    order = list(cases) if round_index % 2 == 0 else list(cases)[::-1]
    for name in order:
        time.sleep(PAUSE)                     # let the previous case's BLAS threads go idle first
        cases[name]()                         # one untimed step: back in cache after the pause
        start = time.perf_counter()
        for _ in range(REPEATS):
            cases[name]()
        seconds[name].append((time.perf_counter() - start) / REPEATS)
    done = round_index + 1
    if done >= MIN_ROUNDS and done % 2 == 1 and time.perf_counter() - began > BUDGET:
        break                                 # an odd number of rounds, so that the median is one of them
ROUNDS = len(seconds["floor"])
purevae.set_backend(START_BACKEND)


def per_round(a, b):
    return [x / y for x, y in zip(seconds[a], seconds[b])]


# Two checks that the machine let the comparison happen. The floor is the same eleven products every round,
# so its time should barely move: a round in which it took much longer than in its fastest round was a
# round in which the machine was busy. And the floor's arithmetic rate says whether the products ran at
# the speed of a BLAS at all: when other processes hold the cores, every product waits for its threads to
# be scheduled, every case then takes about as long as the floor, and no ratio says anything about the code.
floor_fastest = min(seconds["floor"])
clean = sum(t < 1.5 * floor_fastest for t in seconds["floor"])
flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in FLOOR_PRODUCTS)
rate = flops / statistics.median(seconds["floor"]) / 1e9
load = f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"      # runnable processes, 1 minute
print(f"{ROUNDS} rounds of {REPEATS} steps per case; {clean} of them ran the GEMM floor within 1.5x of its "
      f"fastest round; the floor's {flops / 1e6:.0f} million floating-point operations ran at {rate:.1f} "
      f"GFLOP/s (median, this run); load average {load} on {os.cpu_count()} cores")
if clean <= ROUNDS // 2 or rate < 5:
    print("WARNING: most rounds were slowed down, or the matrix products crawled: other work held this machine's "
          "cores (or NumPy's BLAS is very slow). The ratios below then say more about that than about the "
          "code; rerun on an idle machine before reading them.")

measured = {}
if HAVE_CYTHON:
    for a, b in (("numpy", "cython"), ("cython", "floor"), ("numpy", "floor")):
        ratios = per_round(a, b)
        measured[f"{a}/{b}"] = statistics.median(ratios)
        print(f"{a}/{b} = {measured[f'{a}/{b}']:.2f}  (median of {ROUNDS} rounds; the rounds ranged "
              f"{min(ratios):.2f}-{max(ratios):.2f})")
else:
    ratios = per_round("numpy", "floor")
    measured["numpy/floor"] = statistics.median(ratios)
    print(f"numpy/floor = {measured['numpy/floor']:.2f} (median of {ROUNDS} rounds)")

# %%
# Why the ratio, and not the milliseconds
# ---------------------------------------
# The left panel shows each case's time per step in every round of this run, on whatever machine built this
# page and whatever else it was doing meanwhile: these are not properties of the code, and another run
# will give others. The right panel shows the per-round ratios, with their median as a line. The script
# compares how widely each one wandered: the spread of a case's times over the rounds (slowest / fastest)
# against the spread of the ratio. Interleaving protects against slow changes, a neighbour's job that runs
# for minutes: both cases of a round feel it, and their ratio barely moves. It cannot help when a short
# burst hits one case of one round only; that round's ratio is then an outlier, which is what the median is
# for. The printout says which of the two this run saw more of.

fig, (ax_time, ax_ratio) = plt.subplots(1, 2, figsize=(11, 4))
rounds = np.arange(1, ROUNDS + 1)
for name, style in (("floor", "s:"), ("numpy", "o--"), ("cython", "o-")):
    if name in seconds:
        ax_time.plot(rounds, np.array(seconds[name]) * 1e3, style, label=name)
ax_time.set_xlabel("round")
ax_time.set_ylabel("ms per step (this run, this machine)")
ax_time.set_ylim(bottom=0)
ax_time.set_title("absolute times wander with the machine")
ax_time.legend()
for (a, b), colour in zip((("numpy", "cython"), ("cython", "floor")), ("tab:blue", "tab:orange")):
    if a in seconds and b in seconds:
        r = per_round(a, b)
        ax_ratio.plot(rounds, r, "o-", color=colour, label=f"{a}/{b}")
        ax_ratio.axhline(statistics.median(r), color=colour, linestyle="--", linewidth=1)
if not HAVE_CYTHON:
    ax_ratio.plot(rounds, per_round("numpy", "floor"), "o-", label="numpy/floor")
ax_ratio.axhline(1.0, color="grey", linewidth=0.8)
ax_ratio.set_xlabel("round")
ax_ratio.set_ylabel("ratio within the round")
ax_ratio.set_ylim(bottom=0)
ax_ratio.set_title("ratios within a round, and their medians (dashed)")
ax_ratio.legend()
fig.tight_layout()

for name in seconds:
    print(f"{name:6s}: slowest round / fastest round = {max(seconds[name]) / min(seconds[name]):.2f}")
if HAVE_CYTHON:
    r = per_round("numpy", "cython")
    ratio_spread = max(r) / min(r)
    time_spread = min(max(seconds[n]) / min(seconds[n]) for n in ("numpy", "cython"))
    if max(ratio_spread, time_spread) < 1.25:
        reading = "a quiet run: neither the times nor their ratio moved by much"
    elif ratio_spread < time_spread:
        reading = "narrower than either backend's own times: the load changed slowly and hit both cases alike"
    else:
        reading = "not narrower than the times: the noise came in bursts that hit one case at a time"
    print(f"numpy/cython: largest round / smallest round = {ratio_spread:.2f}; {reading}")

# %%
# Where the stored numbers live
# -----------------------------
# The scripts' results are kept in ``benchmarks/RESULTS.md``, with the machine, the date, the command and
# the protocol of every table. This page reads the tables it needs from that file as it is in this checkout,
# so the numbers it shows are always the file's, together with the command that produced each one.
# The repository root is the folder above this script's. Run as ``python examples/plot_kernels_benchmark.py``
# the script finds its folder from ``__file__``; sphinx-gallery does not define ``__file__``, but it runs
# every block of an example from the example's own folder, so there the current directory is that folder.

try:
    HERE = Path(__file__).resolve().parent
except NameError:                            # under sphinx-gallery: the current directory is examples/
    HERE = Path.cwd().resolve()
ROOT = next((folder for folder in (HERE, *HERE.parents) if (folder / "benchmarks" / "RESULTS.md").is_file()),
            HERE.parent)
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else ""
print(f"reading {RESULTS.relative_to(ROOT)}" if text else f"{RESULTS} is not in this checkout: nothing to read")


def section(heading_start):
    """The lines of the Markdown section whose heading starts with ``heading_start``, up to the next heading."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#") and line.lstrip("#").strip().startswith(heading_start):
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("#")), len(lines))
            return lines[i:end]
    raise ValueError(f"benchmarks/RESULTS.md has no section whose heading starts with {heading_start!r}")


def first_table(lines):
    """The first Markdown table in ``lines``: its header and its rows, as lists of cells (bold marks removed)."""
    rows = [[cell.strip().strip("*").strip() for cell in line.strip().strip("|").split("|")]
            for line in lines if line.lstrip().startswith("|")]
    return rows[0], rows[2:]     # rows[1] is the | --- | separator


def command_of(lines):
    """The first ``python benchmarks/...`` command written in backticks in the section (heading included)."""
    match = re.search(r"`(python benchmarks/[^`]+)`", "\n".join(lines))
    return match.group(1) if match else "(no command named in the section)"


# %%
# What a ratio depends on: what exactly is timed
# ----------------------------------------------
# The same comparison one level down: one kernel, the Bernoulli likelihood with its gradient (derived in
# :ref:`derivations-bernoulli`), through the public wrapper ``purevae.backend.bernoulli_nll_grad(x, logits,
# scale, impl=...)``. The wrapper first checks its inputs (dtype, shape, that every value is finite and every
# pixel in [0, 1]) and allocates the outputs; that work is the same NumPy code whichever implementation
# runs after it, so it adds the same time to both sides of the ratio and pulls the ratio towards 1.
# ``benchmarks/bench_kernels.py`` calls the raw kernels on preallocated outputs, with no checks. The two
# ratios measure different things, and the script prints both: a ratio is only comparable with a ratio of
# the same thing.

if HAVE_CYTHON:
    logits = np.random.default_rng(2).normal(0.0, 3.0, (BATCH, N_INPUT)).astype(np.float32)
    kernel_seconds = {"numpy": [], "cython": []}
    for round_index in range(ROUNDS):
        for impl in (("numpy", "cython") if round_index % 2 == 0 else ("cython", "numpy")):
            start = time.perf_counter()
            for _ in range(10):
                backend.bernoulli_nll_grad(batches[0], logits, 1.0 / BATCH, impl=impl)
            kernel_seconds[impl].append((time.perf_counter() - start) / 10)
    kernel_ratio = statistics.median(x / y for x, y in zip(kernel_seconds["numpy"], kernel_seconds["cython"]))
    measured["bernoulli_nll_grad, wrapper"] = kernel_ratio
    nll_n, grad_n = backend.bernoulli_nll_grad(batches[0], logits, 1.0 / BATCH, impl="numpy")
    nll_c, grad_c = backend.bernoulli_nll_grad(batches[0], logits, 1.0 / BATCH, impl="cython")
    print(f"bernoulli_nll_grad float32 {logits.shape} through the checking wrapper, this run: numpy/cython = "
          f"{kernel_ratio:.1f} (median of {ROUNDS} rounds); the implementations agree to "
          f"{largest_relative_difference(nll_c, nll_n):.1e} (nll) and "
          f"{largest_relative_difference(grad_c, grad_n):.1e} "
          f"(gradient)")
    if text:
        kernel_section = section("Kernels, each against its NumPy twin")
        header, rows = first_table(kernel_section)
        for row in rows:
            cells = dict(zip(header, row))
            if (cells["kernel"], cells["dtype"], cells["shape"]) == ("bernoulli_nll_grad", "float32", "(128, 784)"):
                print(f"the raw kernels, RESULTS.md ({command_of(kernel_section)}): numpy/cython = "
                      f"{cells['numpy/cython']}")

# %%
# Reading the stored comparison with PyTorch and JAX
# --------------------------------------------------
# This page does not time the peers: torch and JAX are not dependencies of purevae, and the machine that
# builds these pages need not have them. ``benchmarks/bench_step.py`` times them when it finds them, each in
# a child process that takes its turn in the same interleaved rounds, and ``RESULTS.md`` keeps what it
# printed. The code below reads the float32 training-step table and the machine it was measured on.

stored = {}
if text:
    step_section = section("Training step, float32, 2 threads")
    header, rows = first_table(step_section)
    print(step_section[0].lstrip("# "))
    print(f"produced by: {command_of(step_section)}")
    for row in rows:
        print("  " + "  ".join(f"{h}={v}" for h, v in zip(header, row)))
        stored[int(row[header.index("batch")])] = {h: float(v) for h, v in zip(header, row) if "/" in h}
    machine = {row[0]: row[1] for row in first_table(section("Machine"))[1]}
    for key in ("CPU", "BLAS"):
        print(f"{key} of that machine: {machine.get(key, '(not stated)')}")

# %%
# Every ratio in that table is, like the ones measured above, a median over rounds of a ratio within one
# round. So the columns can be turned around without going back to the milliseconds: the median of the
# inverses of an odd number of ratios is the inverse of their median. The figure puts every implementation
# on one scale, its step time divided by the Cython step's, so 1 is the Cython step, lower is faster, and
# the GEMM floor is the lowest any of them could go. The markers are this run's own two ratios at batch
# 128; they come from a much shorter run than the table, on whatever machine built this page, so read them
# as "the same kind of number", not as a check of the file.

if stored:
    columns = [("GEMM floor", lambda r: 1 / r["cython/floor"]), ("numpy", lambda r: r["numpy/cython"]),
               ("torch eager", lambda r: r["torch/cython"]), ("JAX jit", lambda r: 1 / r["cython/JAX"])]
    batch_sizes = sorted(stored)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(columns)
    for i, (name, relative) in enumerate(columns):
        values = [relative(stored[b]) for b in batch_sizes]
        positions = np.arange(len(batch_sizes)) + (i - (len(columns) - 1) / 2) * width
        bars = ax.bar(positions, values, width, label=f"{name} (RESULTS.md)")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(1.0, color="black", linewidth=1, label="the Cython step")
    if "numpy/cython" in measured and 128 in stored:
        centre = batch_sizes.index(128)
        ax.plot(centre - 1.5 * width, 1 / measured["cython/floor"], "k*", markersize=12,
                label="this run, batch 128")
        ax.plot(centre - 0.5 * width, measured["numpy/cython"], "k*", markersize=12)
    ax.set_xticks(range(len(batch_sizes)), [f"batch {b}" for b in batch_sizes])
    ax.set_ylabel("step time / the Cython step's (median ratio)")
    ax.set_title(f"RESULTS.md: {step_section[0].lstrip('# ')}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()

    for b in batch_sizes:
        r = stored[b]
        faster = [name for name, relative in columns[1:] if relative(r) > 1]
        slower = [name for name, relative in columns[1:] if relative(r) < 1]
        print(f"batch {b}: the Cython step was faster than {', '.join(faster) or 'none'}"
              + (f", slower than {', '.join(slower)}" if slower else "")
              + f"; it took {r['cython/floor']:.2f} times its GEMM floor")

# %%
# The benchmark scripts, and how to run them
# ------------------------------------------
# Each script in ``benchmarks/`` is run from the repository root as ``python benchmarks/<name>.py``, and
# ``--help`` lists its options. The ``bench_*`` scripts measure speed or memory; the timing ones print the
# machine first (CPU, BLAS and its thread count, the load average at the start) and then ratios measured in
# that run. The others (``train_*``, ``sklearn_pipeline.py``, ``gradcheck_table.py``) measure quality: nats,
# accuracies, perplexities, gradient errors, several seeds each. Below, the first paragraph of each script's
# docstring, read from the files without running them, then the ``Commands`` section of ``RESULTS.md``: the
# invocations behind its speed tables.

for script in sorted((ROOT / "benchmarks").glob("[!_]*.py")):
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    summary = " ".join(doc.split("\n\n")[0].split())       # the docstring's first paragraph, on one line
    print(f"python benchmarks/{script.name}\n    {summary}")
if text:
    commands = section("Commands")
    block = commands[commands.index("```") + 1:]
    print("\nfrom RESULTS.md, 'Commands':")
    print("\n".join(block[:block.index("```")]))

# %%
# A checklist for reading any benchmark, these included:
#
# - **What is timed?** A whole step, a kernel through its checking wrapper and the raw kernel can give quite
#   different ratios for the same code (compare the printouts above). So can steady state and a fresh
#   model, float32 and float64, one thread and two.
# - **Against what, in the same run?** A ratio between cases timed seconds apart in one process; never two
#   absolute times from different runs, sessions or machines.
# - **How noisy?** The number of rounds, the median, and the spread over the rounds (``bench_step.py`` prints
#   how far ``cython/floor`` ranged; a wide range marks a slow spell).
# - **On what?** The CPU, the BLAS and its thread count, the versions: the ``Machine`` table of
#   ``RESULTS.md``, and the first lines every script prints.
# - **Which command?** Every table of ``RESULTS.md`` names the script and arguments that made it, so it can be
#   re-run, and a claim of speed elsewhere in the project names the script and ratio behind it.
