r"""Objectives and evaluation: the ELBO, KL warm-up, and the importance-weighted log-likelihood estimate.

For one example x, with q(z|x) = N(mu, diag e^logvar), p(z) = N(0, I)::

    ELBO(x)  = E_q[log p(x|z)] - KL(q(z|x) || p(z))                          <= log p(x)
    IWAE_k(x) = E[ log (1/k) sum_i p(x, z_i) / q(z_i|x) ],  z_i ~ q(z|x)       (Burda et al. 2016)

IWAE_1 = ELBO, IWAE_k increases with k and tends to log p(x). Derivations: docs/derivations.md#elbo, #iwae.
"""
from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from . import backend, ops
from .parallel import make_parallel
from .schedules import per_epoch_linear
from .typing import ArrayLike, ArraySource, DataLike, FloatArray, SeedLike
from .validation import as_rng, nonnegative_int, positive_int
from .workspace import FRESH, WorkspaceCache

if TYPE_CHECKING:      # model imports this module: the name is for the annotations only
    from .model import VAE

__all__ = ["OBJECTIVES", "warmup_beta", "elbo_terms", "elbo_terms_and_posteriors", "elbo_per_example",
           "log_likelihood", "perplexity"]

OBJECTIVES = ("elbo", "iwae")   # the training objectives of VAE.step, loss_and_grads and fit


def warmup_beta(epoch: int, warmup_epochs: int, beta: float = 1.0) -> float:
    r"""Return the linear KL warm-up's weight of epoch e: beta_e = beta * min(1, (e + 1) / warmup_epochs).

    With ``warmup_epochs = 0`` the weight is ``beta`` from the start. (Bowman et al. 2016; Sønderby et al. 2016.)
    The formula is ``purevae.schedules.per_epoch_linear``, the schedule ``fit(warmup_epochs=)`` uses.

    Parameters
    ----------
    epoch : int
        The epoch e >= 0, counted from 0.
    warmup_epochs : int
        The number of epochs >= 0 over which the weight rises to beta (0: no warm-up).
    beta : float, default 1.0
        The weight once warm-up is over, finite and >= 0.

    Returns
    -------
    float
        The KL weight beta_e of epoch e.

    Raises
    ------
    TypeError
        When epoch or warmup_epochs is not an int (a bool, a float), or beta is not a real number.
    ValueError
        When epoch or warmup_epochs is negative, or beta is negative or not finite.
    """
    epoch = nonnegative_int("epoch", epoch)
    return per_epoch_linear(warmup_epochs, beta)(0, epoch)


def _decode_samples(model: VAE, mu_logvar: np.ndarray, eps: np.ndarray, kern: ModuleType, ws: ArraySource,
                    y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """z = mu + sigma eps for eps of shape (s, b, L), and the decoder's output at the s * b rows (row i b + j).

    ``y``: a conditional model's labels of the b examples (the rows take them tiled), else None.
    """
    s, b, n_latent = eps.shape
    z = model.latent.sample(mu_logvar, eps, ws)                             # (s, b, L)
    out = model.decoder.forward(model.params, z.reshape(s * b, n_latent), kern, ws, model.label_rows(y, s, ws))[-1]
    return z, out


def _sample_log_px(model: VAE, x: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, kern: ModuleType,
                   ws: ArraySource = FRESH, y: np.ndarray | None = None) -> np.ndarray:
    """log p(x|z) of shape (s, b) in float64 for eps of shape (s, b, L).

    The decoder runs once on the s * b rows; log p(x|z) is minus the likelihood's value kernel, whose formula
    the training step's kernel shares; x pairs with each of the s blocks of b rows (no copy).
    """
    _, out = _decode_samples(model, mu_logvar, eps, kern, ws, y)
    return model.likelihood.log_prob(x, out, model.params, kern, ws).reshape(eps.shape[:2]).astype(np.float64)


def _log_weights(model: VAE, x: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, kern: ModuleType,
                 ws: ArraySource = FRESH, y: np.ndarray | None = None) -> np.ndarray:
    r"""log w = log p(x|z) + log p(z) - log q(z|x) for eps of shape (s, b, L); returns (s, b) in float64.

        log p(z) - log q(z|x) = 0.5 sum_k (logvar_k + eps_k^2 - z_k^2)   (ops.log_pz_minus_log_qz; z - mu = sigma eps)

    one fused kernel of the likelihood over the decoder's output (``Likelihood.log_weights``).
    """
    z, out = _decode_samples(model, mu_logvar, eps, kern, ws, y)
    return model.likelihood.log_weights(x, out, mu_logvar, eps, z, model.params, kern, ws)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def elbo_terms(model: VAE, x: DataLike, k: int = 1, rng: SeedLike = None, batch_size: int = 1000, *,
               y: ArrayLike | None = None, comm: Any = None) -> tuple[FloatArray, FloatArray]:
    r"""Return the two terms of the per-example ELBO, in nats: (1/k) sum_i log p(x|z_i) and KL(q(z|x) || N(0, I)).

    z_i ~ q(z|x); the KL is in closed form. Both have shape (n,), float64.

    Parameters
    ----------
    model : VAE
        The model to evaluate.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples, validated by ``VAE.check_input`` (in their support); an ``np.memmap`` is read a chunk at
        a time.
    k : int, default 1
        The number of draws of z per example, >= 1.
    rng : numpy.random.Generator, int seed or None, default None
        Where the noise comes from: a Generator, a seed, or None for a fixed stream derived from the model's
        seed (the same answer on every call).
    batch_size : int, default 1000
        The number of examples per chunk (encoder and decoder pass), >= 1: the memory knob.
    y : array_like of int, shape (n,), or None
        A conditional model's labels (``VAE.check_labels``): the terms of log p(x|y)'s bound.
    comm : mpi4py communicator or None
        The chunks are shared out over its ranks and every rank returns the full result, bit-identical to one
        process's (``purevae.parallel``); None: one process.

    Returns
    -------
    log_px_z : ndarray, shape (n,)
        The reconstruction term (1/k) sum_i log p(x|z_i), float64.
    kl : ndarray, shape (n,)
        The closed-form KL(q(z|x) || N(0, I)), float64.

    Raises
    ------
    TypeError
        When k or batch_size is not an int, rng is not a Generator or seed, comm is not a communicator, or x
        or y has the wrong type or dtype.
    ValueError
        When k or batch_size is < 1, rng is a negative seed, or x or y is invalid (shape, values, support;
        labels given to an unconditional model or missing for a conditional one).

    Notes
    -----
    Derivation: docs/derivations.md#elbo.
    """
    return elbo_terms_and_posteriors(model, x, k=k, rng=rng, batch_size=batch_size, y=y, comm=comm)[:2]


def elbo_terms_and_posteriors(model: VAE, x: DataLike, k: int = 1, rng: SeedLike = None, batch_size: int = 1000, *,
                              y: ArrayLike | None = None, comm: Any = None
                              ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    r"""Return ``elbo_terms`` and the posteriors it encoded on the way: (log_px_z, kl, mu, logvar).

    mu and logvar (n, n_latent) in the model's dtype, as ``VAE.encode`` gives them; ``fit`` takes its
    per-epoch latent health (``diagnostics.posterior_health``) from them, without a second encoder pass.

    Parameters
    ----------
    model : VAE
        The model to evaluate.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples, validated by ``VAE.check_input`` (in their support); an ``np.memmap`` is read a chunk at
        a time.
    k : int, default 1
        The number of draws of z per example, >= 1.
    rng : numpy.random.Generator, int seed or None, default None
        Where the noise comes from: a Generator, a seed, or None for a fixed stream derived from the model's
        seed (the same answer on every call).
    batch_size : int, default 1000
        The number of examples per chunk (encoder and decoder pass), >= 1: the memory knob.
    y : array_like of int, shape (n,), or None
        A conditional model's labels (``VAE.check_labels``): the terms of log p(x|y)'s bound.
    comm : mpi4py communicator or None
        The chunks are shared out over its ranks and every rank returns the full result, bit-identical to one
        process's (``purevae.parallel``); None: one process.

    Returns
    -------
    log_px_z : ndarray, shape (n,)
        The reconstruction term (1/k) sum_i log p(x|z_i), float64.
    kl : ndarray, shape (n,)
        The closed-form KL(q(z|x) || N(0, I)), float64.
    mu : ndarray, shape (n, n_latent)
        The means of q(z|x), in the model's dtype.
    logvar : ndarray, shape (n, n_latent)
        The log-variances of q(z|x), as the encoder outputs them (not clamped), in the model's dtype.

    Raises
    ------
    TypeError
        When k or batch_size is not an int, rng is not a Generator or seed, comm is not a communicator, or x
        or y has the wrong type or dtype.
    ValueError
        When k or batch_size is < 1, rng is a negative seed, or x or y is invalid (shape, values, support;
        labels given to an unconditional model or missing for a conditional one).

    Notes
    -----
    Derivations: docs/derivations.md#elbo, docs/derivations.md#data-parallel-training (with ``comm``).
    """
    k = positive_int("k", k)
    batch_size = positive_int("batch_size", batch_size)
    x = model.check_input(x, lazy=True)             # a memmap: read a chunk at a time
    y = model.check_labels(y, x.shape[0])
    rng = as_rng(rng, [model.seed, 2])
    par = make_parallel(comm)
    kern = backend.kernels()
    # one float64 table, (n, 2 + 2L): log p(x|z), KL, mu, logvar; zeros where another rank computes
    table = np.zeros((x.shape[0], 2 + 2 * model.n_latent)) if par else None
    log_px_z, kl = np.empty(x.shape[0]), np.empty(x.shape[0])
    posteriors = np.empty((x.shape[0], 2 * model.n_latent), model.dtype)
    workspaces = WorkspaceCache()                              # one per chunk shape: no allocation per chunk
    for i, sl in enumerate(_chunks(x.shape[0], batch_size)):
        ws = workspaces.get(sl.stop - sl.start)
        if par and not par.mine(i):                            # another rank's chunk: keep the noise stream
            model.latent.draw_eps((k, sl.stop - sl.start, model.n_latent), model.dtype, rng, ws)
            continue
        y_sl, x_sl = None if y is None else y[sl], x[sl]
        mu_logvar = model.encoder.forward(model.params, x_sl, kern, ws, y_sl)[-1]
        posteriors[sl] = mu_logvar
        eps = model.latent.draw_eps((k, sl.stop - sl.start, model.n_latent), model.dtype, rng, ws)
        log_px_z[sl] = _sample_log_px(model, x_sl, mu_logvar, eps, kern, ws, y_sl).mean(axis=0)
        kl[sl] = model.latent.kl(mu_logvar)                    # closed form, float64
        if table is not None:
            table[sl, 0], table[sl, 1], table[sl, 2:] = log_px_z[sl], kl[sl], posteriors[sl]
    if par and table is not None:                              # x + 0 is exact: the sum is the one-process table
        par.sum_inplace(table)
        log_px_z, kl = table[:, 0].copy(), table[:, 1].copy()
        posteriors = table[:, 2:].astype(model.dtype)           # float32 -> float64 -> float32 is exact
    return log_px_z, kl, posteriors[:, :model.n_latent], posteriors[:, model.n_latent:]


def elbo_per_example(model: VAE, x: DataLike, k: int = 1, rng: SeedLike = None, batch_size: int = 1000, *,
                     y: ArrayLike | None = None, comm: Any = None) -> FloatArray:
    r"""Return the per-example ELBO in nats, shape (n,): (1/k) sum_i log p(x|z_i) - KL(q(z|x) || N(0, I)).

    z_i ~ q(z|x). The KL is in closed form (lower variance than averaging log w). ``rng``, ``y``, ``comm`` as
    in ``elbo_terms``.

    Parameters
    ----------
    model : VAE
        The model to evaluate.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples, validated by ``VAE.check_input`` (in their support); an ``np.memmap`` is read a chunk at
        a time.
    k : int, default 1
        The number of draws of z per example, >= 1.
    rng : numpy.random.Generator, int seed or None, default None
        Where the noise comes from: a Generator, a seed, or None for a fixed stream derived from the model's
        seed (the same answer on every call).
    batch_size : int, default 1000
        The number of examples per chunk (encoder and decoder pass), >= 1: the memory knob.
    y : array_like of int, shape (n,), or None
        A conditional model's labels (``VAE.check_labels``): the terms of log p(x|y)'s bound.
    comm : mpi4py communicator or None
        The chunks are shared out over its ranks and every rank returns the full result, bit-identical to one
        process's (``purevae.parallel``); None: one process.

    Returns
    -------
    ndarray, shape (n,)
        The ELBO of each example, float64.

    Raises
    ------
    TypeError
        When k or batch_size is not an int, rng is not a Generator or seed, comm is not a communicator, or x
        or y has the wrong type or dtype.
    ValueError
        When k or batch_size is < 1, rng is a negative seed, or x or y is invalid (shape, values, support;
        labels given to an unconditional model or missing for a conditional one).

    Notes
    -----
    Derivation: docs/derivations.md#elbo.
    """
    log_px_z, kl = elbo_terms(model, x, k=k, rng=rng, batch_size=batch_size, y=y, comm=comm)
    return log_px_z - kl


def log_likelihood(model: VAE, x: DataLike, k: int = 5000, rng: SeedLike = None, batch_size: int = 100,
                   max_rows: int = 4096, *, y: ArrayLike | None = None, comm: Any = None) -> FloatArray:
    r"""Return the importance-weighted estimate of log p(x) per example, in nats, shape (n,).

    ::

        log p(x) ~= log (1/k) sum_{i=1..k} p(x | z_i) p(z_i) / q(z_i | x),   z_i ~ q(z|x)

    computed as ``logsumexp(log w, axis=0) - log k`` in float64. Its expectation is a lower bound on
    log p(x) that rises with k towards log p(x) (Burda et al. 2016, Theorem 1).

    Memory does not grow with n: examples are taken ``batch_size`` at a time and, for each such chunk,
    samples ``max(1, max_rows // batch_size)`` at a time, so the decoder sees at most ``max_rows`` rows
    at once (``batch_size`` rows when batch_size > max_rows). The (k, batch_size) float64 log-weights of
    a chunk are kept for one log-mean-exp, computed in place: 8 k batch_size bytes, 4 MB at k=5000 and the
    defaults, the one part that grows with k (docs/derivations.md#iwae).
    Measured with tracemalloc for the classic model (784-400-20, float32), k=5000 on 10,000 images
    and the defaults: peak of 27 MiB above the input, in 176 s on 2 cores (``benchmarks/bench_memory.py``).

    Parameters
    ----------
    model : VAE
        The model to evaluate.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples, validated by ``VAE.check_input`` (in their support); an ``np.memmap`` is read a chunk at
        a time.
    k : int, default 5000
        The number of importance samples per example, >= 1.
    rng : numpy.random.Generator, int seed or None, default None
        Where the noise comes from: a Generator, a seed, or None for a fixed stream derived from the model's
        seed.
    batch_size : int, default 100
        The number of examples per chunk, >= 1: a memory knob (above).
    max_rows : int, default 4096
        The most rows the decoder sees at once (at least one chunk's), >= 1: a memory knob (above).
    y : array_like of int, shape (n,), or None
        A conditional model's labels (``VAE.check_labels``): the estimate is then of log p(x|y), with
        q(z|x, y) as the proposal and p(x|z, y) p(z) in the weights.
    comm : mpi4py communicator or None
        The chunks of ``batch_size`` examples are dealt round-robin over its ranks, and every rank returns the
        full result, bit-identical to one process's (``purevae.parallel``); None: one process.

    Returns
    -------
    ndarray, shape (n,)
        The estimate of log p(x) (of log p(x|y) with labels) of each example, float64.

    Raises
    ------
    TypeError
        When k, batch_size or max_rows is not an int, rng is not a Generator or seed, comm is not a
        communicator, or x or y has the wrong type or dtype.
    ValueError
        When k, batch_size or max_rows is < 1, rng is a negative seed, or x or y is invalid (shape, values,
        support; labels given to an unconditional model or missing for a conditional one).

    Notes
    -----
    With ``comm``: docs/derivations.md#data-parallel-training.
    """
    k = positive_int("k", k)
    batch_size = positive_int("batch_size", batch_size)
    max_rows = positive_int("max_rows", max_rows)
    x = model.check_input(x, lazy=True)             # a memmap: read a chunk at a time
    y = model.check_labels(y, x.shape[0])
    rng = as_rng(rng, [model.seed, 3])
    par = make_parallel(comm)
    kern = backend.kernels()
    result = np.zeros(x.shape[0])                             # zeros where another rank computes (comm=)
    encoders, decoders = WorkspaceCache(), WorkspaceCache()   # one per chunk shape: no allocation per chunk
    for i, sl in enumerate(_chunks(x.shape[0], batch_size)):
        b = sl.stop - sl.start
        if par and not par.mine(i):                           # another rank's chunk: draw its noise, unused
            for ks in _chunks(k, max(1, max_rows // b)):
                model.latent.draw_eps((ks.stop - ks.start, b, model.n_latent), model.dtype, rng,
                                      decoders.get((ks.stop - ks.start) * b))
            continue
        y_sl, x_sl = None if y is None else y[sl], x[sl]
        mu_logvar = model.encoder.forward(model.params, x_sl, kern, encoders.get(b), y_sl)[-1]
        log_w = np.empty((k, b))
        for ks in _chunks(k, max(1, max_rows // b)):
            ws = decoders.get((ks.stop - ks.start) * b)
            eps = model.latent.draw_eps((ks.stop - ks.start, b, model.n_latent), model.dtype, rng, ws)
            log_w[ks] = _log_weights(model, x_sl, mu_logvar, eps, kern, ws, y_sl)
        result[sl] = ops.log_mean_exp_inplace(log_w)
    return result if par is None else par.sum_inplace(result)


def perplexity(log_px: ArrayLike, n_words: ArrayLike) -> float:
    r"""Return the per-word perplexity of documents: exp(-sum_d log p(x_d) / sum_d N_d).

    With the importance-weighted estimate of log p(x) (a lower bound in expectation), an upper bound on the
    model's perplexity. docs/derivations.md#multinomial

    Parameters
    ----------
    log_px : array_like, shape (n,)
        The log-probabilities of the documents' words, nats (e.g. ``VAE.log_likelihood`` of a multinomial
        model, whose numbers leave out the multinomial coefficient); any shape, flattened.
    n_words : array_like, shape (n,)
        Their word counts N_d (``x.sum(axis=1)``), as many as log_px; any shape, flattened.

    Returns
    -------
    float
        The perplexity exp(-sum_d log p(x_d) / sum_d N_d).

    Raises
    ------
    TypeError
        When log_px or n_words does not hold real numbers (a bool, complex, str or object dtype).
    ValueError
        When they do not have the same number of values, or the word counts add up to 0 or less (or NaN).
    """
    log_px, n_words = np.asarray(log_px), np.asarray(n_words)
    for name, a in (("log_px", log_px), ("n_words", n_words)):
        if a.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
    log_px, n_words = log_px.astype(np.float64).reshape(-1), n_words.astype(np.float64).reshape(-1)
    if log_px.shape != n_words.shape:
        raise ValueError(f"log_px and n_words must have the same length, got {log_px.shape[0]} and {n_words.shape[0]}")
    total = float(np.sum(n_words))
    if not total > 0:
        raise ValueError(f"n_words must add up to more than 0 words, got {total}")
    return float(np.exp(-np.sum(log_px) / total))
