r"""Data-parallel training and evaluation over MPI (``purevae.parallel``), under ``mpiexec -n 2`` and ``-n 3``.

The equivalence bound. One data-parallel step computes the gradient of the global batch mean, (1/B) sum_i g_i,
as sum_r (n_r / B) (1/n_r) sum_{i in r} g_i: the same terms summed in another order, plus one rounding of each
weight product and p - 1 additions across ranks. Each entry therefore differs from the one-process gradient by
at most dg = (B + p + 1) u G, u = 2**-53 the float64 unit round-off and G the largest per-example gradient
entry (first order in u; ``mpi_worker.per_example_grad_max``). Adam's step lr m/(sqrt(v) + eps) moves by at most
3 lr dg / eps per perturbed gradient (|m| <= sqrt(v) for its bias-corrected averages, whose weights add up to 1:
the m term contributes lr dg / eps, the v term at most 2 lr dg / eps); SGD with momentum m moves by at most
lr dg / (1 - m). Over T steps, to first order (ignoring the feedback of a parameter difference into later
gradients, which is of order dg times the loss's curvature), the parameters differ by at most T times that.
The test asserts the measured difference is below this bound; measured differences are ~1e-17.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from purevae import VAE

mpi4py = pytest.importorskip("mpi4py", reason="the [mpi] extra is not installed")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
WORKER = Path(__file__).with_name("mpi_worker.py")


def run(n: int, scenario: str, tmp_path: Path, *extra: str, timeout: int = 300):
    if MPIEXEC is None:
        pytest.fail("mpi4py is installed but mpiexec is not on PATH (pip install mpich)")
    out = tmp_path / f"{scenario}-{n}.json"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, str(WORKER), scenario, str(out), *extra],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("n", [2, 3])
def test_p_ranks_train_to_the_parameters_of_one_within_the_round_off_bound(tmp_path, n):
    results = run(n, "equivalence", tmp_path)
    assert len(results) == 14
    for r in results:
        assert r["same_on_all_ranks"], r["name"]
        assert r["diff"] <= r["bound"], r
        assert r["history_equal"], r["name"]


@pytest.mark.parametrize("n", [2, 3])
def test_elbo_and_log_likelihood_with_comm_are_the_one_process_numbers_on_every_rank(tmp_path, n):
    r = run(n, "evaluation", tmp_path)
    assert r["same_on_all_ranks"]
    assert r["parallel"] == r["serial"]                  # bit for bit: the same noise, the same chunks


def test_a_checkpoint_written_by_rank_0_resumes_bit_identically_on_every_rank(tmp_path):
    r = run(2, "checkpoint", tmp_path, str(tmp_path))
    assert r["identical"] == [True, True] and r["epochs"] == 2


@pytest.mark.parametrize("what, names", [("seed", "config, parameters, state"), ("data", "data")])
def test_ranks_given_different_things_all_raise_naming_them(tmp_path, what, names):
    messages = run(2, "mismatch", tmp_path, what, timeout=120)
    for message in messages:
        assert "fit: the 2 ranks were given different " + names in message, messages


def test_drifting_parameters_raise_on_every_rank(tmp_path):
    messages = run(2, "drift", tmp_path)
    assert all("the parameters drifted apart" in m and "parameters" in m for m in messages), messages


# ------------------------------------------------------------------------------------------------
# bad input, in this process
# ------------------------------------------------------------------------------------------------
def test_comm_must_be_a_communicator():
    with pytest.raises(TypeError, match="comm must be an mpi4py communicator"):
        VAE(4, hidden=(3,), n_latent=2).fit(np.random.rand(8, 4), epochs=1, batch_size=4, comm="world")


def test_comm_without_mpi4py_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)       # import mpi4py now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "purevae\[mpi\]"'):
        VAE(4, hidden=(3,), n_latent=2).elbo(np.random.rand(8, 4), comm=object())


def test_one_rank_comm_self_is_the_one_process_run():
    from mpi4py import MPI
    x = np.random.default_rng(0).random((20, 4))
    a, b = VAE(4, hidden=(3,), n_latent=2, seed=0), VAE(4, hidden=(3,), n_latent=2, seed=0)
    a.fit(x, epochs=2, batch_size=8, comm=MPI.COMM_SELF)
    b.fit(x, epochs=2, batch_size=8)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])


# ------------------------------------------------------------------------------------------------
# the command line under mpiexec
# ------------------------------------------------------------------------------------------------
def test_mpiexec_purevae_train_mpi_trains_data_parallel_and_only_rank_0_speaks(tmp_path):
    args = ["train", "--hidden", "16", "--latent", "2", "--n-train", "256", "--n-test", "64", "--batch-size", "64",
            "--epochs", "2", "--no-plots", "--dtype", "float64"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    parallel = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "-m", "purevae", *args, "--mpi", "--out",
                               str(tmp_path / "p")], capture_output=True, text=True, timeout=300, env=env,
                              cwd=tmp_path)
    serial = subprocess.run([sys.executable, "-m", "purevae", *args, "--out", str(tmp_path / "s")],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert parallel.returncode == 0 and serial.returncode == 0, parallel.stderr + serial.stderr
    assert "data-parallel over 2 MPI ranks" in parallel.stderr
    assert parallel.stdout.count("test negative ELBO") == 1             # rank 0 alone prints
    assert parallel.stderr.count("training ") == 1
    from purevae import load
    p, s = load(tmp_path / "p" / "model.npz"), load(tmp_path / "s" / "model.npz")
    for name in s.params:        # float64, 8 steps: the equivalence test measures ~1e-17 for such runs
        np.testing.assert_allclose(p.params[name], s.params[name], rtol=0, atol=1e-12)
    metrics_p = json.loads((tmp_path / "p" / "metrics.json").read_text())["final"]
    metrics_s = json.loads((tmp_path / "s" / "metrics.json").read_text())["final"]
    assert abs(metrics_p["test_neg_elbo"] - metrics_s["test_neg_elbo"]) < 1e-9
