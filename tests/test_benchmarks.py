"""The benchmark scripts run on a fresh install and print their ratios (no timing is asserted: the
numbers belong to benchmarks/RESULTS.md, not to a unit test). Each runs as a user would, in a subprocess,
on the smallest settings."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest

from purevae import backend

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_cython = pytest.mark.skipif(not backend.cython_available(), reason="the Cython extension is not built")


def run_script(name: str, *args: str, timeout: int = 300) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", name), *args], capture_output=True,
                         text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def ratios(text: str, label: str) -> list[float]:
    values = [float(v) for v in re.findall(re.escape(label) + r"\s*=\s*([0-9.]+)x", text)]
    assert values, f"no '{label} = ...x' in the output:\n{text}"
    assert all(math.isfinite(v) and v > 0 for v in values), values
    return values


@needs_cython
def test_bench_step_prints_every_ratio():
    text = run_script("bench_step.py", "--batch", "8", "--dtype", "float32", "float64", "--warmup", "3",
                      "--rounds", "1", "--repeats", "1", "--no-peers")
    assert len(ratios(text, "numpy/cython")) == 2 and len(ratios(text, "cython/floor")) == 2
    assert len(ratios(text, "float64/float32 (cython)")) == 1
    assert "bytes allocated at the peak of one steady-state step" in text


@needs_cython
def test_bench_step_profile_names_the_step():
    text = run_script("bench_step.py", "--profile", "--batch", "8", "--dtype", "float32", "--warmup", "2",
                      "--rounds", "1", "--repeats", "2")
    assert "(step)" in text           # VAE.step, what fit calls, in the cProfile listing


@needs_cython
def test_bench_step_breakdown_accounts_for_the_step():
    text = run_script("bench_step.py", "--breakdown", "--batch", "8", "--dtype", "float32", "--warmup", "2",
                      "--rounds", "1", "--repeats", "1")
    assert "adam_update" in text and "matmul (8, 784) x (784, 400)" in text
    total, gemm, kern, rest = map(float, re.search(
        r"total ([0-9.]+) = GEMMs ([0-9.]+) \+ kernels ([0-9.]+) \+ Python and the rest (-?[0-9.]+)", text).groups())
    assert math.isclose(total, gemm + kern + rest, abs_tol=2e-3) and gemm > 0 and kern > 0


@needs_cython
def test_bench_epoch_quick_runs_both_backends():
    text = run_script("bench_epoch.py", "--quick", "--batch-size", "1000")
    assert re.search(r"numpy\s+median epoch", text) and re.search(r"cython\s+median epoch", text)
    ratios(text, "numpy/cython")


@needs_cython
def test_bench_kernels_checks_agreement_first():
    text = run_script("bench_kernels.py", "--quick")
    assert len(ratios(text, "numpy/cython")) >= 5


def test_bench_blas_builds_its_module_and_agrees():
    pytest.importorskip("Cython", reason="bench_blas.py compiles its comparison module with Cython")
    text = run_script("bench_blas.py", "--batch", "8", "--dtype", "float32", "float64", "--rounds", "1",
                      "--repeats", "1")
    assert text.count("all 11") == 2                       # one table per dtype, after the agreement check


@needs_cython
def test_bench_step_times_the_iwae_step_against_its_own_floor():
    text = run_script("bench_step.py", "--batch", "8", "--dtype", "float32", "--warmup", "3", "--rounds", "1",
                      "--repeats", "1", "--objective", "iwae", "--k", "3")
    assert "objective iwae, k=3" in text
    assert len(ratios(text, "cython/floor")) == 1


def test_train_objectives_quick_prints_the_table():
    text = run_script("train_objectives.py", "--quick", "--configs", "vae", "iwae5", "vae_free_bits")
    rows = [line for line in text.splitlines() if line.startswith("| vae") or line.startswith("| iwae")]
    assert [row.split(" | ")[0] for row in rows] == ["| vae", "| iwae5", "| vae_free_bits"]
    nll = [float(row.split(" | ")[2]) for row in rows]
    assert all(100 < v < 800 for v in nll), nll          # nats per image of a 784-pixel binary image


@needs_cython
def test_bench_eval_prints_every_ratio_and_checks_the_estimator():
    text = run_script("bench_eval.py", "--k", "40", "--n", "3", "--n-elbo", "50", "--rounds", "1")
    for label in ("log_likelihood / its GEMM floor", "elbo / its GEMM floor", "log_likelihood float64 / float32",
                  "log_likelihood numpy backend / cython"):
        assert len(ratios(text, label)) == 1
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    ratios(text, "log_likelihood / torch no_grad")
    gap = float(re.search(r"equal ours to ([0-9.e+-]+) relative", text).group(1))
    assert gap < 1e-5                                  # the same estimator on the same noise, float32 round-off


@needs_cython
def test_bench_eval_breakdown_accounts_for_the_call():
    text = run_script("bench_eval.py", "--breakdown", "--k", "40", "--n", "3", "--n-elbo", "50")
    assert "bernoulli_log_weights" in text and "bernoulli_nll" in text and "(draw_eps)" in text
    for total, gemm, kern, rest in re.findall(
            r"total ([0-9.]+) = GEMMs ([0-9.]+) \+ kernels ([0-9.]+) \+ Python and the rest (-?[0-9.]+)", text):
        assert math.isclose(float(total), float(gemm) + float(kern) + float(rest), abs_tol=2e-3)


def test_train_likelihoods_quick_prints_both_rows_and_the_picture(tmp_path):
    text = run_script("train_likelihoods.py", "--quick", "--seeds", "1", "--pictures", str(tmp_path))
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| bernoulli")
            or line.startswith("| continuous_bernoulli")]
    assert [r[0] for r in rows] == ["| bernoulli", "| continuous_bernoulli"]
    bernoulli_nll, cb_nll = float(rows[0][3]), float(rows[1][3])
    assert bernoulli_nll > 0 > cb_nll        # a cross-entropy of grey pixels vs a log-density that exceeds 1
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "likelihood_samples.png").stat().st_size > 1000


def test_train_conditional_quick_prints_both_models_and_a_classifier(tmp_path):
    out = tmp_path / "c.json"
    text = run_script("train_conditional.py", "--quick", "--seeds", "1", "--json", str(out),
                      "--pictures", str(tmp_path))
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| unconditional")
            or line.startswith("| conditional")]
    assert [r[0] for r in rows] == ["| unconditional", "| conditional (n_classes=10)"]
    import json
    result = json.loads(out.read_text())
    plain, cond = result["rows"]
    assert plain["conditional"] is False and cond["conditional"] is True
    # the table shows the json's numbers; the classifier does better than chance (0.1) even after one epoch
    assert float(rows[0][3]) == pytest.approx(plain["nll"], abs=0.006)
    assert float(rows[1][4]) == pytest.approx(cond["nll"], abs=0.006)
    assert 0.1 < cond["accuracy"] <= 1 and 0 < cond["mixture_nll"] < cond["neg_elbo"] + 50
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "conditional_samples.png").stat().st_size > 1000


def test_train_text_quick_prints_the_perplexity_table_and_a_speed_ratio(tmp_path):
    out = tmp_path / "t.json"
    text = run_script("train_text.py", "--quick", "--seeds", "1", "--speed", "--json", str(out))
    import json
    result = json.loads(out.read_text())
    rows = {line.split(" | ")[0]: line.split(" | ")[1] for line in text.splitlines() if line.startswith("| ")}
    assert float(rows["| unigram, add-one"]) == pytest.approx(result["unigram"], abs=0.06)
    assert float(rows["| VAE, IW k=10"]) == pytest.approx(result["rows"][0]["vae_perplexity"], abs=0.06)
    # the IW estimate is the tighter of the VAE's two bounds (k = 10 samples against 1, on average)
    assert result["rows"][0]["vae_perplexity"] <= result["rows"][0]["vae_perplexity_elbo"] * 1.01
    assert ratios(text, "dense/sparse per epoch")


def test_the_lda_topic_word_term_is_scikit_learns():
    """train_text.py swaps this part of LDA's bound, so it must be the term scikit-learn adds. scikit-learn's score
    of one empty document is that term alone: no words to score, and its q(theta) is the prior, whose KL is 0."""
    from sklearn.decomposition import LatentDirichletAllocation
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        from train_text import lda_topic_word_term
    finally:
        sys.path.pop(0)
    import numpy as np
    x = np.random.default_rng(0).poisson(0.5, (200, 30))
    lda = LatentDirichletAllocation(5, random_state=0, max_iter=5).fit(x)
    assert lda_topic_word_term(lda) == pytest.approx(lda.score(np.zeros((1, 30))), rel=1e-9)


def test_sklearn_pipeline_prints_both_accuracies_per_data_set():
    text = run_script("sklearn_pipeline.py", "--seeds", "0", "--epochs", "5")
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r[0] for r in rows] == ["| digits", "| breast_cancer", "| wine"]
    for row in rows:
        assert 0 < float(row[3].split()[0]) <= 1 and 0 < float(row[4].rstrip(" |")) <= 1


def test_bench_mpi_quick_times_both_layouts_and_prints_the_cost_model():
    pytest.importorskip("mpi4py", reason="the [mpi] extra is not installed")
    text = run_script("bench_mpi.py", "--quick")
    rows = [line.split() for line in text.splitlines() if line.strip().startswith(("128 ", "1024 "))]
    assert len(rows) == 2 and all(float(r[5]) > 0 for r in rows), text      # the A/B ratio of each batch
    table = [line for line in text.splitlines() if "Gb/s" in line]
    assert len(table) == 6 and all(len(line.split()) == 2 + 1 + 6 for line in table), text
    assert "fit: t_c(b) =" in text


def test_the_cost_model_is_amdahl_with_a_ring_allreduce():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    try:
        import bench_mpi
    finally:
        sys.path.pop(0)
    # a step of pure compute (no fixed cost) on an infinitely fast network speeds up p times, minus latency
    table = bench_mpi.cost_table(0.0, 1e-3, 0.0).splitlines()
    p2 = float(table[1].split()[3])
    expected = 128e-3 / (128e-3 / 2 + 2 * 1 * bench_mpi.LATENCY)
    assert abs(p2 - round(expected, 1)) < 1e-9
    # with a 1 s allreduce, nothing scales
    assert all(float(v) < 1 for v in bench_mpi.cost_table(0.0, 1e-6, 1.25e9 * 2).splitlines()[1].split()[3:])
