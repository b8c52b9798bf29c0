r"""Run under ``mpiexec -n P python tests/mpi_worker.py SCENARIO OUT.json`` by ``tests/test_mpi.py``.

Every rank runs the scenario; rank 0 writes what the test asserts to OUT.json. Each scenario also trains or
evaluates the same model in one process (no communicator) on rank 0, so the comparison is against an
independent computation: the one-process path, which the rest of the suite checks against numeric gradients.
"""
import json
import sys

import numpy as np
import scipy.sparse
from mpi4py import MPI

from purevae import VAE, load, parallel
from purevae.schedules import cyclical

comm = MPI.COMM_WORLD
U = 2.0**-53           # float64 unit round-off


def per_example_grad_max(model, x, y, objective, k):
    """max over examples and entries of |gradient of one example's loss| (its eps fixed): the G of the bound."""
    rng = np.random.default_rng(7)
    g = 0.0
    for i in range(x.shape[0]):
        shape = (1, model.n_latent) if k == 1 and objective == "elbo" else (k, 1, model.n_latent)
        eps = rng.standard_normal(shape)
        grads = model.loss_and_grads(x[i:i + 1], eps=eps, y=None if y is None else y[i:i + 1],
                                     objective=objective, k=k)[-1]
        g = max(g, max(float(np.max(np.abs(v))) for v in grads.values()))
    return g


CASES = [
    # (name, VAE kwargs, fit kwargs, data kind)
    ("elbo bernoulli", {"likelihood": "bernoulli"}, {}, "grey"),
    ("elbo bernoulli k=2, cyclical beta", {"likelihood": "bernoulli"},
     {"k": 2, "beta_schedule": cyclical(beta=1.0, n_cycles=2, ratio=0.5, total_steps=8)}, "grey"),
    ("elbo bernoulli, dynamic binarization", {"likelihood": "bernoulli"}, {"binarize": True}, "grey"),
    ("iwae k=4 bernoulli", {"likelihood": "bernoulli"}, {"objective": "iwae", "k": 4}, "grey"),
    ("elbo continuous_bernoulli", {"likelihood": "continuous_bernoulli"}, {}, "grey"),
    ("iwae k=3 continuous_bernoulli", {"likelihood": "continuous_bernoulli"}, {"objective": "iwae", "k": 3}, "grey"),
    ("elbo gaussian learned", {"likelihood": "gaussian"}, {"warmup_epochs": 2}, "real"),
    ("iwae k=3 gaussian fixed", {"likelihood": "gaussian", "variance": 0.5}, {"objective": "iwae", "k": 3}, "real"),
    ("elbo multinomial, CSR counts", {"likelihood": "multinomial"}, {}, "counts"),
    ("iwae k=2 multinomial", {"likelihood": "multinomial"}, {"objective": "iwae", "k": 2}, "counts"),
    ("elbo conditional bernoulli", {"likelihood": "bernoulli", "n_classes": 3}, {}, "grey"),
    ("elbo bernoulli, sgd", {"likelihood": "bernoulli"}, {"optimizer": "sgd", "lr": 0.05}, "grey"),
    ("elbo bernoulli, free bits 0.04", {"likelihood": "bernoulli"}, {"free_bits": 0.04}, "grey"),
    ("elbo gaussian, free bits 0.05, k=2", {"likelihood": "gaussian"}, {"free_bits": 0.05, "k": 2}, "real"),
]


def data(kind, n=50, d=12):
    rng = np.random.default_rng(0)
    if kind == "grey":
        return rng.random((n, d))
    if kind == "real":
        return rng.standard_normal((n, d))
    return scipy.sparse.csr_matrix(rng.poisson(1.0, (n, d)).astype(float))


def equivalence():
    results = []
    batch_size, epochs = 16, 1
    for name, model_kwargs, fit_kwargs, kind in CASES:
        x = data(kind)
        y = np.arange(x.shape[0]) % 3 if model_kwargs.get("n_classes") else None
        kwargs = {"epochs": epochs, "batch_size": batch_size, "y": y, **fit_kwargs}
        lr = kwargs.setdefault("lr", 1e-3)
        parallel_model = VAE(12, hidden=(7,), n_latent=3, dtype="float64", seed=1, **model_kwargs)
        parallel_model.fit(x, comm=comm, **kwargs)
        digests = comm.allgather(parallel._digest(parallel_model.params))
        if comm.rank == 0:
            serial = VAE(12, hidden=(7,), n_latent=3, dtype="float64", seed=1, **model_kwargs)
            serial.fit(x, **kwargs)
            diff = max(float(np.max(np.abs(parallel_model.params[p] - serial.params[p]))) for p in serial.params)
            steps = serial.steps_trained
            g = per_example_grad_max(serial, x, y, kwargs.get("objective", "elbo"), kwargs.get("k", 1))
            # the bound (tests/test_mpi.py): 3 T lr (B + p + 1) u G / eps_adam, or T lr (B + p + 1) u G / (1 - m)
            gradient_error = (batch_size + comm.size + 1) * U * g
            if kwargs.get("optimizer") == "sgd":
                bound = steps * lr * gradient_error / (1 - 0.9)
            else:
                bound = 3 * steps * lr * gradient_error / 1e-8
            results.append({"name": name, "diff": diff, "bound": bound, "same_on_all_ranks": len(set(digests)) == 1,
                            "history_equal": np.allclose(parallel_model.history["loss"], serial.history["loss"],
                                                         rtol=1e-12, atol=0)})
    return results


def evaluation():
    x = data("grey", n=45)
    model = VAE(12, hidden=(7,), n_latent=3, dtype="float32", seed=2)
    model.fit(x, epochs=1, batch_size=9)
    out = {
        "elbo": model.elbo(x, k=3, batch_size=8, comm=comm).tolist(),
        "log_likelihood": model.log_likelihood(x, k=40, batch_size=7, max_rows=60, comm=comm).tolist(),
    }
    gathered = comm.allgather(out)
    if comm.rank == 0:
        return {"parallel": out, "serial": {"elbo": model.elbo(x, k=3, batch_size=8).tolist(),
                                            "log_likelihood": model.log_likelihood(x, k=40, batch_size=7,
                                                                                   max_rows=60).tolist()},
                "same_on_all_ranks": all(g == out for g in gathered)}
    return None


def checkpoint(folder):
    x = data("grey")
    args = {"batch_size": 8, "checkpoint_every": 3}
    full = VAE(12, hidden=(7,), n_latent=3, dtype="float64", seed=3)
    full.fit(x, epochs=2, comm=comm, batch_size=8)
    stopped = VAE(12, hidden=(7,), n_latent=3, dtype="float64", seed=3)
    stopped.fit(x, epochs=1, comm=comm, checkpoint=f"{folder}/ckpt.npz", **args)
    comm.Barrier()                                           # rank 0 has written the file
    resumed = load(f"{folder}/ckpt.npz")
    resumed.fit(x, epochs=1, comm=comm, checkpoint=f"{folder}/ckpt.npz", **args)
    identical = all(np.array_equal(resumed.params[p], full.params[p]) for p in full.params)
    return {"identical": comm.allgather(identical), "epochs": resumed.epochs_trained}


def mismatch():
    x = data("grey", n=50 + (comm.rank if sys.argv[3] == "data" else 0))
    seed = comm.rank if sys.argv[3] == "seed" else 0
    model = VAE(12, hidden=(7,), n_latent=3, dtype="float64", seed=seed)
    try:
        model.fit(x, epochs=1, batch_size=16, comm=comm)
        message = "trained"
    except ValueError as exc:
        message = str(exc)
    return comm.gather(message)


def drift():
    model = VAE(12, hidden=(7,), n_latent=3, dtype="float64", seed=0)
    if comm.rank == 1:
        model.params["decoder.out.bias"][0] += 1e-12
    try:
        parallel.Parallel(comm).check_in_step(model.params, parallel.DRIFT_CHECK_EVERY)
        message = "no error"
    except ValueError as exc:
        message = str(exc)
    return comm.gather(message)


if __name__ == "__main__":
    scenario, out = sys.argv[1], sys.argv[2]
    result = {"equivalence": equivalence, "evaluation": evaluation, "mismatch": mismatch, "drift": drift,
              "checkpoint": lambda: checkpoint(sys.argv[3])}[scenario]()
    if comm.rank == 0:
        with open(out, "w") as f:
            json.dump(result, f)
