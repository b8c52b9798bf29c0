r"""The fit loop: shuffled minibatches, KL warm-up, per-epoch history. Calling it again continues.

Reproducibility: every random draw of training (shuffling, eps, dynamic binarization) comes from the
model's ``numpy.random.Generator`` ``model.rng``, seeded from ``model.seed`` (the validation pass draws
from a fixed stream of its own, also derived from ``model.seed``); the same seed, data, backend and
thread count give bit-identical parameters. (BLAS may order its sums differently with another
thread count or CPU, and the two backends round differently: those change the last bits.)
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

import numpy as np

from . import backend, io
from .diagnostics import posterior_health
from .objectives import OBJECTIVES, elbo_terms_and_posteriors
from .optim import OPTIMIZERS, make_optimizer
from .parallel import Parallel, make_parallel
from .schedules import check_beta, per_epoch_linear
from .validation import (
    LazyRows,
    boolean,
    callable_or_none,
    choice,
    finite_float,
    is_sparse,
    nonnegative_int,
    positive_int,
)
from .validation import path as check_path

HISTORY_KEYS = ("epoch", "beta", "loss", "recon", "kl", "val_loss", "val_recon", "val_kl", "val_kl_per_dimension",
                "val_active_units", "examples_per_sec", "time")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or inf; the model keeps the parameters from before the failing step."""


def fit(model, x, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, validation_data=None, *,
        y=None, optimizer: str = "adam", beta: float = 1.0, warmup_epochs: int = 0, shuffle: bool = True,
        binarize: bool = False, verbose: bool = False,
        callback: Callable[[dict], None] | None = None, checkpoint=None,
        checkpoint_every: int | None = None, objective: str = "elbo", k: int = 1, free_bits: float = 0.0,
        beta_schedule: Callable[[int, int], float] | None = None, comm: Any = None) -> dict[str, list]:
    r"""Train ``model`` on x by minibatch gradient descent on the negative ELBO (or the IWAE bound).

    Parameters
    ----------
    model : VAE
        Trained in place: its ``params``, ``optimizer``, ``rng``, counters and ``history`` change.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        Training data, cast once to the model's dtype (values in [0, 1] for Bernoulli). An ``np.memmap`` (or
        any row-indexable array, ``validation.is_lazy``) is not copied: it is validated in chunks once, then
        read and cast a batch at a time (``validation.LazyRows``).
    epochs : int, default 10
        Epochs to run in this call (training continues from the current parameters, optimizer
        state and epoch count when ``fit`` is called again).
    batch_size : int, default 128
        Examples per step (1 <= batch_size <= n); the last batch of an epoch may be smaller.
    lr : float, default 1e-3
        Learning rate, > 0 (updates the existing optimizer's rate when continuing).
    validation_data : array_like of shape (m, n_input), tuple (x_val, y_val), or None, default None
        Evaluated after each epoch: negative ELBO with beta = 1, one draw of z per example from a
        fixed stream, so the numbers of two epochs are comparable. A conditional model needs the tuple.
    y : array_like of int, shape (n,), or None, default None
        A conditional model's labels of x (``VAE(n_classes=C)``), each in 0..C-1; they follow x through
        the shuffling. Required for a conditional model, refused by an unconditional one.
    optimizer : {"adam", "sgd"}, default "adam"
        Adam (PyTorch's defaults) or SGD with momentum 0.9. Changing it on a later call starts a
        fresh optimizer state.
    beta : float, default 1.0
        Weight of the KL term once warm-up is over, finite and >= 0.
    warmup_epochs : int, default 0
        Linear KL warm-up: beta rises as beta * min(1, (epoch + 1) / warmup_epochs), counted over all
        epochs the model has trained (0 = no warm-up).
    shuffle : bool, default True
        Draw a new permutation of x every epoch.
    binarize : bool, default False
        Dynamic binarization: every epoch trains on a fresh Bernoulli draw with probabilities x (not for a
        memory-mapped or sparse x).
    verbose : bool, default False
        Print one line per epoch to stderr.
    callback : callable(record) or None, default None
        Called after every epoch with that epoch's record (a dict with the keys of the history).
    checkpoint : path (str or os.PathLike, ending in .npz) or None, default None
        Where to save a checkpoint (``purevae.io.save_checkpoint``: parameters, optimizer state,
        generator state, counters, history), atomically, at the end of every epoch and every
        ``checkpoint_every`` steps. ``purevae.load(checkpoint)`` then ``fit`` with the same data and
        arguments continues bit-identically to a run that was never interrupted, even from the
        middle of an epoch.
    checkpoint_every : int or None, default None
        Also checkpoint every this many optimizer steps (None: only at the end of each epoch); needs
        ``checkpoint``.
    objective : {"elbo", "iwae"}, default "elbo"
        The loss of every step (``VAE.loss_and_grads``): the negative ELBO, averaged over ``k`` samples
        of z per example, or the negative importance-weighted bound with ``k`` samples (Burda et al. 2016).
        For "iwae", beta (and warm-up) weight log p(z) - log q(z|x) inside each log-weight.
    k : int, default 1
        Samples of z per example and step, >= 1.
    free_bits : float, default 0.0
        "elbo" only, >= 0 (Kingma et al. 2016): the KL term of each step becomes sum_j max(free_bits, KL_j),
        KL_j the batch mean of latent dimension j's KL, so no dimension is pushed below free_bits nats.
    beta_schedule : callable (step, epoch) -> beta, or None, default None
        The KL weight of every step, from the model's step and epoch counters (``purevae.schedules``:
        ``constant``, ``linear`` per step, ``cyclical``, or your own function). It replaces ``beta`` and
        ``warmup_epochs``, which give ``schedules.per_epoch_linear(warmup_epochs, beta)`` when it is None
        and must be left at 1 and 0 when it is given. A returned beta that is negative or not finite raises
        ValueError naming the step, before the step (``schedules.check_beta``).
    comm : mpi4py communicator or None, default None
        Data-parallel training over its ranks (``purevae.parallel``): every rank is given the same x, model and
        arguments (checked at the start: ValueError on every rank naming what differs); ``batch_size`` is the
        global batch, of which each rank computes its share; one Allreduce per step sums the gradients, and
        every rank applies the same step. Only rank 0 writes the checkpoint and prints. With ``free_bits`` the
        floor compares the global batch's per-dimension KL (one more small Allreduce and an encoder pass).

    Returns
    -------
    dict of str to list
        The model's ``history`` (``model.history`` itself), accumulated over every call, one value per
        epoch under each key: epoch, beta (the epoch's KL weight; the mean over its steps when a schedule
        changed it within the epoch), loss / recon / kl (training negative ELBO with beta = 1 and its two
        terms, mean over the epoch's examples, nats per example; for objective "iwae", loss is the mean of
        the steps' negative bounds at their beta, recon the mean -log p(x|z) over the k samples and kl the
        closed-form KL), val_loss / val_recon / val_kl, val_kl_per_dimension (a list of n_latent floats:
        each dimension's mean KL, nats) and val_active_units (Burda et al.'s count, threshold 0.01;
        ``purevae.diagnostics``), all from one pass over the validation data (None without it, or for
        epochs trained before they were recorded; the last two also None with fewer than 2 validation
        examples), examples_per_sec, time (s: the training time so far, summed over
        every epoch of every call).

    Raises
    ------
    TrainingDiverged
        When a step's loss is NaN or inf (the parameters are those before that step), or when the validation
        loss is (the parameters, counters and history are the epoch's, the checkpoint is not written).
    TypeError
        When an argument has the wrong type (an int argument given a float or a bool, a flag that is not a
        bool, a callback or beta_schedule that is not callable, a schedule that returns no number, ...).
    ValueError
        When an argument has a wrong value: out of range, ``batch_size`` larger than n (or smaller than the
        number of ranks), ``binarize`` with a memory-mapped or sparse x, ``free_bits`` with "iwae",
        ``beta_schedule`` with ``beta`` or ``warmup_epochs`` changed, ``checkpoint_every`` without
        ``checkpoint``, ranks that disagree, a checkpoint resumed inside an epoch with other data, batch
        size or shuffling, or a schedule's beta that is negative or not finite.

    Notes
    -----
    Derivations: docs/derivations.md#elbo (the loss), docs/derivations.md#kl-schedules (beta),
    docs/derivations.md#adam (the optimizers), docs/derivations.md#data-parallel-training (``comm``).
    """
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    x = model.check_input(x, lazy=True)        # a memmap stays on disk: validated in chunks, read a batch at a time
    if binarize and isinstance(x, LazyRows):
        raise ValueError("binarize=True draws the whole epoch's 0/1 images at once; x is memory-mapped: write "
                         "binarized images to the file instead")
    if binarize and is_sparse(x):
        raise ValueError("binarize=True draws 0/1 images from grey values; x is a sparse matrix of counts")
    if batch_size > x.shape[0]:
        raise ValueError(f"batch_size ({batch_size}) is larger than the number of examples ({x.shape[0]})")
    y = model.check_labels(y, x.shape[0])
    x_val, y_val = _validation_data(model, validation_data)
    warmup_epochs = nonnegative_int("warmup_epochs", warmup_epochs)
    beta = finite_float("beta", beta, 0.0)
    lr = finite_float("lr", lr, 0.0, strict=True)
    optimizer = choice("optimizer", optimizer, tuple(OPTIMIZERS))
    objective = choice("objective", objective, OBJECTIVES)
    k = positive_int("k", k)
    free_bits = finite_float("free_bits", free_bits, 0.0)
    if free_bits > 0 and objective != "elbo":
        raise ValueError(f"free_bits applies to objective 'elbo', got objective={objective!r}")
    if beta_schedule is None:
        beta_schedule = per_epoch_linear(warmup_epochs, beta)
    else:
        beta_schedule = callable_or_none("beta_schedule", beta_schedule)
        if warmup_epochs != 0 or beta != 1.0:
            raise ValueError("beta_schedule replaces beta and warmup_epochs: give the schedule its own beta "
                             "(e.g. purevae.schedules.linear(warmup_steps, beta)) and leave these at 1 and 0")
    shuffle, binarize, verbose = boolean("shuffle", shuffle), boolean("binarize", binarize), boolean("verbose", verbose)
    callback = callable_or_none("callback", callback)
    checkpoint = None if checkpoint is None else check_path("checkpoint", checkpoint, ".npz")
    if checkpoint_every is not None:
        checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
        if checkpoint is None:
            raise ValueError("checkpoint_every needs a checkpoint path")
    par = make_parallel(comm)
    if par is not None:
        if batch_size < par.size:
            raise ValueError(f"batch_size ({batch_size}) must be at least the number of ranks ({par.size})")
        par.agree("fit", data=_data_digest(x), labels=y, config=model.config(), parameters=model.params,
                  state=[model.epochs_trained, model.steps_trained, model.rng.bit_generator.state,
                         None if model.optimizer is None else [model.optimizer.config(), model.optimizer.t]],
                  arguments=[epochs, batch_size, lr, optimizer, beta, warmup_epochs, shuffle, binarize, objective,
                             k, checkpoint is None, checkpoint_every, None if x_val is None else _data_digest(x_val)])
    writer = par is None or par.rank == 0              # who writes checkpoints and prints
    if model.optimizer is None or model.optimizer.name != optimizer:   # every argument is valid: change the model
        model.optimizer = make_optimizer(optimizer, lr)
    else:
        model.optimizer.lr = lr
    epochs_recorded = len(model.history.get("epoch", []))
    for key in HISTORY_KEYS:                  # a key new since earlier epochs were recorded: None for those
        model.history.setdefault(key, [None] * epochs_recorded)

    n = x.shape[0]
    n_steps = -(-n // batch_size)
    for _ in range(epochs):
        epoch = model.epochs_trained
        start = time.perf_counter()
        resume, model.resume_position = model.resume_position, None
        epoch_rng_state = resume["epoch_rng_state"] if resume else model.rng.bit_generator.state
        model.rng.bit_generator.state = epoch_rng_state
        order = model.rng.permutation(n) if shuffle else np.arange(n)
        data = x
        if binarize:
            data = (model.rng.random(x.shape) < x).astype(model.dtype)   # (refused for sparse x above)
        # recon, kl, loss weighted by batch size; the sum, min and max of the steps' betas
        sums = np.zeros(6)
        first_step, elapsed_before = 0, 0.0
        if resume:  # continue inside an epoch, as saved by a checkpoint
            if len(resume["order"]) != n or not np.array_equal(resume["order"], order) \
                    or resume["batch_size"] != batch_size:
                raise ValueError("this checkpoint stopped inside an epoch of other data, batch size or shuffling: "
                                 "resume it with the same x, batch_size and shuffle")
            model.rng.bit_generator.state = resume["rng_state"]
            first_step, elapsed_before = resume["step"], resume["elapsed"]
            sums[:len(resume["sums"])] = resume["sums"]        # older checkpoints kept the first two
        for step in range(first_step, n_steps):
            first = step * batch_size
            rows = order[first:first + batch_size]
            # gather the batch into an array that the step's workspace keeps: no new array per step
            # (mode="clip": with the default "raise" NumPy gathers into a temporary first; the rows are valid)
            ws = model.workspace(len(rows))
            mine = rows if par is None else rows[par.share(len(rows))]     # data-parallel: this rank's share only
            if is_sparse(data):           # CSR counts: a row gather makes a new (small) CSR matrix
                batch = data[mine]
            elif isinstance(data, LazyRows):   # read only these rows from the file, cast into the workspace
                batch = data.take(mine, ws.array("batch", (len(mine), data.shape[1]), model.dtype))
            else:
                batch = np.take(data, mine, axis=0, mode="clip",
                                out=ws.array("batch", (len(mine), data.shape[1]), data.dtype))
            labels = None if y is None else np.take(y, mine, mode="clip", out=ws.array("batch.labels", mine.shape,
                                                                                       np.intp))
            # a diverging step overflows (exp, matmul) on its way to a NaN/inf loss: TrainingDiverged below
            # reports it, instead of NumPy RuntimeWarnings that -W error would turn into the wrong exception
            beta_t = check_beta(beta_schedule(model.steps_trained, epoch), model.steps_trained)
            with np.errstate(over="ignore", invalid="ignore"):
                if par is None:
                    loss, recon, kl, grads = model.step(batch, None, beta_t, ws, y=labels, objective=objective,
                                                        k=k, free_bits=free_bits)
                else:
                    loss, recon, kl, grads = _parallel_step(model, par, batch, len(rows), labels, beta_t,
                                                            objective, k, free_bits, ws)
            if not np.isfinite(loss):
                raise TrainingDiverged(f"the loss became {loss} at epoch {epoch + 1}, step {step + 1}; the model "
                                       f"keeps the parameters from before this step (lower the learning rate?)")
            model.optimizer.step(model.params, grads)
            model.steps_trained += 1
            if par is not None:
                par.check_in_step(model.params, model.steps_trained)
            sums[:4] += (recon * len(rows), kl * len(rows), loss * len(rows), beta_t)
            sums[4], sums[5] = (beta_t, beta_t) if step == 0 else (min(sums[4], beta_t), max(sums[5], beta_t))
            if (writer and checkpoint_every is not None and model.steps_trained % checkpoint_every == 0
                    and step + 1 < n_steps):
                io.save_checkpoint(model, checkpoint, {
                    "epoch_rng_state": epoch_rng_state, "rng_state": model.rng.bit_generator.state,
                    "order": order, "step": step + 1, "sums": sums.tolist(), "batch_size": batch_size,
                    "elapsed": elapsed_before + time.perf_counter() - start})
        elapsed = elapsed_before + time.perf_counter() - start
        recon, kl, step_loss = (float(v) for v in sums[:3] / n)
        # the beta of the epoch: its one value, or the mean over its steps when a schedule changed it within
        beta_e = float(sums[4]) if sums[4] == sums[5] else float(sums[3] / n_steps)
        # "elbo": the negative ELBO at beta = 1 (recon + kl); "iwae": the mean of the steps' bounds
        record = {"epoch": epoch + 1, "beta": beta_e, "loss": recon + kl if objective == "elbo" else step_loss,
                  "recon": recon, "kl": kl,
                  "val_loss": None, "val_recon": None, "val_kl": None, "val_kl_per_dimension": None,
                  "val_active_units": None, "examples_per_sec": n / elapsed,
                  "time": (model.history["time"][-1] if model.history["time"] else 0.0) + elapsed}
        if x_val is not None:
            with np.errstate(over="ignore", invalid="ignore"):       # a non-finite loss is reported below
                log_px_z, kl_val, mu, logvar = elbo_terms_and_posteriors(model, x_val, y=y_val,
                                                                         rng=np.random.default_rng([model.seed, 4]),
                                                                         comm=comm)
                record.update(val_recon=float(-log_px_z.mean()), val_kl=float(kl_val.mean()))
                record["val_loss"] = record["val_recon"] + record["val_kl"]
                if x_val.shape[0] >= 2:                              # a variance needs two examples
                    kl_dims, units = posterior_health(mu, logvar)
                    record.update(val_kl_per_dimension=[float(v) for v in kl_dims], val_active_units=units.count)
        model.epochs_trained += 1
        for key in HISTORY_KEYS:
            model.history[key].append(record[key])
        if record["val_loss"] is not None and not np.isfinite(record["val_loss"]):
            raise TrainingDiverged(f"the validation loss became {record['val_loss']} after epoch {epoch + 1} "
                                   f"(training loss {record['loss']:.6g}); the model keeps this epoch's parameters "
                                   f"and history" + ("" if checkpoint is None else
                                                     ", and the checkpoint was not overwritten"))
        if checkpoint is not None and writer:
            io.save_checkpoint(model, checkpoint)
        if verbose and writer:
            val = "" if x_val is None else f"  val {record['val_loss']:.3f}"
            print(f"epoch {record['epoch']:3d}  loss {record['loss']:.3f} (recon {recon:.3f} + kl {kl:.3f}){val}"
                  f"  {record['examples_per_sec']:.0f} ex/s", file=sys.stderr, flush=True)
        if callback is not None:
            callback(record)
    return model.history


def _validation_data(model, validation_data) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(x_val, y_val) from ``fit``'s validation_data: an array, or (x_val, y_val) for a conditional model."""
    if validation_data is None:
        return None, None
    if isinstance(validation_data, tuple):
        if len(validation_data) != 2:
            raise ValueError(f"validation_data must be an array or a tuple (x_val, y_val), got a tuple of "
                             f"{len(validation_data)}")
        x_val, y_val = validation_data
        x_val = model.check_input(x_val, "validation_data")
        return x_val, model.check_labels(y_val, x_val.shape[0], "validation_data's labels")
    if model.conditional:
        raise ValueError(f"validation_data must be a tuple (x_val, y_val) for a conditional model "
                         f"(n_classes={model.n_classes}): it needs the labels of the validation examples")
    return model.check_input(validation_data, "validation_data"), None


def _data_digest(x: Any) -> Any:
    """What ``Parallel.agree`` compares of the data: the array, or a CSR matrix's three arrays."""
    if is_sparse(x):
        return {"data": x.data, "indices": x.indices, "indptr": x.indptr}
    if isinstance(x, LazyRows):
        return [x.shape, x.digest]
    return x


def _parallel_step(model: Any, par: Parallel, batch: Any, n: int, labels: np.ndarray | None, beta: float,
                   objective: str, k: int, free_bits: float, ws: Any
                   ) -> tuple[float, float, float, dict[str, np.ndarray]]:
    """One data-parallel step on a global batch of ``n`` rows, of which ``batch`` (and ``labels``) are this
    rank's share (``Parallel.share(n)``), then one Allreduce (module ``purevae.parallel``). Returns the global
    batch's (loss, recon, kl, gradients), the same on every rank.

    With free bits, the floor sum_j max(lam, KL_j) needs the global batch's KL_j: one more (small) Allreduce of
    the shares' per-dimension KL sums first, from an extra encoder pass on the share; given those, the KL
    term's gradient is again a sum over examples, and the weighted shares add up to the global one.
    """
    shape = (n, model.n_latent) if k == 1 and objective == "elbo" else (k, n, model.n_latent)
    eps = model.latent.draw_eps(shape, model.dtype, model.rng, ws)      # the global batch's noise, on every rank
    mine = par.share(n)
    n_mine = mine.stop - mine.start
    names = list(model.params)
    sizes = [model.params[name].size for name in names]
    flat = ws.array("parallel.flat", (sum(sizes) + 3,), np.float64)     # every gradient, then the loss sums
    flat[:] = 0.0
    local_ws = model.workspace(n_mine) if n_mine else None
    kl_dims = None
    if free_bits > 0:                                # the global batch's mean KL of each latent dimension
        kl_dims = np.zeros(model.n_latent)
        if n_mine:
            mu_logvar = model.encoder.forward(model.params, batch, backend.kernels(), local_ws, labels)[-1]
            kl_dims[:] = model.latent.kl_per_dimension(mu_logvar) * n_mine
        par.sum_inplace(kl_dims)
        kl_dims /= n
    if n_mine:
        local_eps = np.ascontiguousarray(eps[mine] if eps.ndim == 2 else eps[:, mine])
        loss, recon, kl, grads = model.step(batch, local_eps, beta, local_ws, y=labels,
                                            objective=objective, k=k, free_bits=free_bits, kl_dims=kl_dims)
        weight = n_mine / n                          # the share's mean, weighted: the sum is the global mean
        offset = 0
        for name, size in zip(names, sizes):
            np.multiply(grads[name].reshape(-1), weight, out=flat[offset:offset + size])
            offset += size
        flat[-3:] = (loss * n_mine, recon * n_mine, kl * n_mine)
    par.sum_inplace(flat)
    out, offset = {}, 0
    for name, size in zip(names, sizes):
        target = ws.array(f"parallel.grad.{name}", model.params[name].shape, model.dtype)
        target.reshape(-1)[...] = flat[offset:offset + size]
        out[name] = target
        offset += size
    return float(flat[-3] / n), float(flat[-2] / n), float(flat[-1] / n), out
