r"""Latent health: whether the latent space is in use, or the posterior collapsed onto the prior.

``active_units(model, x, threshold=0.01)`` counts the latent dimensions whose posterior mean moves with
the data: dimension j is *active* when::

    A_j = Cov_x( E_q[z_j | x] ) = Var_x( mu_j(x) ) > threshold

(Burda, Grosse & Salakhutdinov 2016, Sec. 5.2, with their threshold 0.01). A dimension whose mean is
the same for every x carries no information about x, whatever its KL. ``kl_per_dimension`` gives each
dimension's average KL(q(z_j|x) || N(0, 1)) over x (the same formula as the training loss,
``ops.kl_terms``, on the clamped log-variance).

``mutual_information(model, x)`` estimates I(x; z) under the aggregate posterior q(z) = (1/N) sum_n q(z|x_n)
(Hoffman & Johnson 2016, "ELBO surgery"; the estimator of He et al. 2019, "Lagging inference networks")::

    I(x; z) = E_x E_q(z|x) [ log q(z|x) ] - E_x E_q(z|x) [ log q(z) ]

with the first term in closed form (minus the entropy of a diagonal Gaussian) and the second from one draw
z_i ~ q(z|x_i) per example, log q(z_i) ~= logsumexp_n log q(z_i | x_n) - log N. Its cost is N^2 L (matrix
products, in chunks). The sum over n includes n = i, so q(z_i) is never below q(z_i|x_i) / N and the
estimate never exceeds log N: it is biased low when I(x; z) is not small against log N, and consistent as
N grows. ``latent_report`` gives all of them in one call. Derivations: docs/derivations.md#latent-health.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import scipy.special

from . import ops
from .typing import ArrayLike, DataLike, SeedLike
from .validation import as_rng, finite_float, positive_int

if TYPE_CHECKING:      # for the annotations only: diagnostics sits below purevae.model
    from .model import VAE

__all__ = ["ActiveUnits", "active_units", "kl_per_dimension", "posterior_health", "mutual_information",
           "latent_report"]


class ActiveUnits(NamedTuple):
    r"""What ``active_units`` returns.

    Parameters
    ----------
    count : int
        The number of active dimensions.
    variances : ndarray
        The variances A_j = Var_x(mu_j(x)), float64, shape (n_latent,).
    active : ndarray
        Whether A_j > threshold, bool, shape (n_latent,).
    """

    #: the number of active dimensions
    count: int  # type: ignore[assignment]  # the field shadows tuple.count (public API, on purpose)
    variances: np.ndarray       #: A_j = Var_x(mu_j(x)), float64, shape (n_latent,)
    active: np.ndarray          #: A_j > threshold, bool, shape (n_latent,)


def active_units(model: VAE, x: DataLike, threshold: float = 0.01, batch_size: int = 1000, *,
                 y: ArrayLike | None = None) -> ActiveUnits:
    r"""Return the latent dimensions in use: A_j = Var_x(mu_j(x)) > threshold (Burda et al. 2016).

    Parameters
    ----------
    model : VAE
        The model whose encoder q(z|x) is measured.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples, n >= 2 (any values: the likelihood's support is not checked).
    threshold : float, optional
        The threshold on A_j (>= 0); default 0.01 (Burda et al.'s).
    batch_size : int, optional
        Examples encoded at a time (>= 1, default 1000).
    y : array_like of int, shape (n,), or int, optional
        A conditional model's labels of x (then of q(z|x, y)), as in ``VAE.encode``.

    Returns
    -------
    ActiveUnits
        ``ActiveUnits(count, variances, active)``, the variances over x with ddof 0.

    Raises
    ------
    TypeError
        If threshold is not a real number, batch_size not an integer, or x or y not of a type the model takes.
    ValueError
        If threshold is negative or not finite, batch_size < 1, x holds fewer than 2 examples or has a wrong
        shape or a non-finite value, or y is wrong, missing (conditional model) or given (unconditional one).

    Notes
    -----
    Derivation: docs/derivations.md#latent-health
    """
    threshold = finite_float("threshold", threshold, 0.0)
    x, y = _examples(model, x, y, "to measure a variance")
    batch_size = positive_int("batch_size", batch_size)
    mu, _ = _posteriors(model, x, batch_size, y)
    return _active_units(mu, threshold)


def _examples(model, x, y, purpose: str) -> tuple[np.ndarray, np.ndarray | None]:
    """x checked by the model (any values: the likelihood's support is not needed), with at least 2 rows, and
    its labels (``VAE.check_labels``)."""
    x = model.check_input(x, support=False)
    if x.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 examples {purpose}, got {x.shape[0]}")
    return x, model.check_labels(y, x.shape[0])


def _active_units(mu: np.ndarray, threshold: float) -> ActiveUnits:
    variances = np.var(mu, axis=0)                         # Var over x of the posterior mean (ddof 0, as a Cov_x)
    active = variances > threshold
    return ActiveUnits(int(active.sum()), variances, active)


def posterior_health(mu: np.ndarray, logvar: np.ndarray, threshold: float = 0.01) -> tuple[np.ndarray, ActiveUnits]:
    r"""Return (KL per dimension, active units) from posteriors already computed: mu and logvar (n, n_latent).

    What ``fit`` records each epoch from its validation pass, without encoding the data again; the same
    formulas as ``kl_per_dimension`` and ``active_units``. Nothing is validated here: n >= 2 and a
    threshold >= 0 are the caller's to ensure.

    Parameters
    ----------
    mu : array_like, shape (n, n_latent)
        The means of q(z|x) of n examples, n >= 2.
    logvar : array_like, shape (n, n_latent)
        Their log-variances (clamped here, ``ops.clamp_logvar``).
    threshold : float, optional
        The active-unit threshold on Var_x(mu_j(x)) (default 0.01).

    Returns
    -------
    kl : ndarray float64, shape (n_latent,)
        The mean over the n examples of KL(q(z_j|x) || N(0, 1)), nats.
    units : ActiveUnits
        As ``active_units`` returns.

    Notes
    -----
    Derivation: docs/derivations.md#latent-health
    """
    mu, logvar = np.asarray(mu, dtype=np.float64), ops.clamp_logvar(np.asarray(logvar, dtype=np.float64))
    return _kl_per_dimension(mu, logvar), _active_units(mu, threshold)


def kl_per_dimension(model: VAE, x: DataLike, *, y: ArrayLike | None = None) -> np.ndarray:
    r"""Return the average over x of KL(q(z_j|x) || N(0, 1)) for each latent dimension j, in nats.

    The log-variance is clamped as in training (``ops.clamp_logvar``); x is encoded in one pass.

    Parameters
    ----------
    model : VAE
        The model whose encoder q(z|x) is measured.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples (validated by ``VAE.encode``).
    y : array_like of int, shape (n,), or int, optional
        A conditional model's labels of x, as in ``VAE.encode``.

    Returns
    -------
    ndarray float64, shape (n_latent,)
        The mean over x of each dimension's KL, nats.

    Raises
    ------
    TypeError
        If x or y is not of a type the model takes (``VAE.encode``).
    ValueError
        If x has a wrong shape or a non-finite value, or y is wrong, missing or refused (``VAE.encode``).

    Notes
    -----
    Derivation: docs/derivations.md#latent-health
    """
    mu, logvar = model.encode(x, y)
    return _kl_per_dimension(mu.astype(np.float64), ops.clamp_logvar(logvar.astype(np.float64)))


def _kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    return np.mean(ops.kl_terms(mu, logvar), axis=0)


def _posteriors(model, x, batch_size: int, y=None) -> tuple[np.ndarray, np.ndarray]:
    """mu and the clamped logvar of q(z|x) (q(z|x, y)) for every example, float64, ``batch_size`` at a time."""
    parts = [model.encode(x[i:i + batch_size], None if y is None else y[i:i + batch_size])
             for i in range(0, x.shape[0], batch_size)]
    mu = np.concatenate([p[0] for p in parts]).astype(np.float64)
    logvar = ops.clamp_logvar(np.concatenate([p[1] for p in parts]).astype(np.float64))
    return mu, logvar


def _mutual_information(mu: np.ndarray, logvar: np.ndarray, rng: np.random.Generator, chunk: int = 256
                        ) -> float:
    r"""The estimate of ``mutual_information`` from the posteriors' mu and (clamped) logvar, (N, L) float64.

    log q(z_i | x_n) = -0.5 sum_l [log 2 pi + lv_nl + (z_il - mu_nl)^2 e^-lv_nl], expanded as
    -0.5 [ (z_i^2) . e^-lv_n  - 2 z_i . (mu_n e^-lv_n)  +  sum_l (mu_nl^2 e^-lv_nl + lv_nl + log 2 pi) ],
    three matrix products for a chunk of i against every n.
    """
    n, n_latent = mu.shape
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal(mu.shape)          # one z_i ~ q(z|x_i) each
    neg_entropy = np.mean(-0.5 * np.sum(ops.LOG_2PI + logvar + 1.0, axis=1))   # E_x E_q log q(z|x), closed form
    precision = np.exp(-logvar)                                            # (N, L)
    weighted_mu = mu * precision
    const = np.sum(mu * weighted_mu + logvar + ops.LOG_2PI, axis=1)        # (N,)
    log_qz = np.empty(n)
    for start in range(0, n, chunk):
        zi = z[start:start + chunk]
        log_q = -0.5 * ((zi * zi) @ precision.T - 2.0 * (zi @ weighted_mu.T) + const)   # (chunk, N)
        log_qz[start:start + chunk] = scipy.special.logsumexp(log_q, axis=1) - np.log(n)
    return float(neg_entropy - np.mean(log_qz))


def mutual_information(model: VAE, x: DataLike, rng: SeedLike = None, batch_size: int = 1000, *,
                       y: ArrayLike | None = None) -> float:
    r"""Estimate I(x; z) in nats under the aggregate posterior of the examples x (Hoffman & Johnson 2016).

    One draw z_i ~ q(z|x_i) per example; I ~= mean_i [ E_q log q(z|x_i) - log (1/N) sum_n q(z_i|x_n) ].
    The estimate is at most log N (the sum includes n = i) and is biased low when I(x; z) approaches log N;
    it costs N^2 L operations and O(256 N) memory. See the module docstring and
    docs/derivations.md#latent-health.

    Parameters
    ----------
    model : VAE
        The model whose encoder q(z|x) is measured.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples, n >= 2 (any values: the likelihood's support is not checked).
    rng : numpy.random.Generator, int, or None, optional
        The draws z_i: a Generator (used as it is), a seed (anything ``numpy.random.default_rng`` takes), or
        None (default) for a fixed stream derived from the model's seed.
    batch_size : int, optional
        Examples encoded at a time (>= 1, default 1000).
    y : array_like of int, shape (n,), or int, optional
        A conditional model's labels of x: the aggregate posterior is then of the q(z|x_n, y_n).

    Returns
    -------
    float
        The estimate of I(x; z), nats.

    Raises
    ------
    TypeError
        If batch_size is not an integer, rng not a Generator, a seed or None, or x or y not of a type the model
        takes.
    ValueError
        If batch_size < 1, rng is a negative or invalid seed, x holds fewer than 2 examples or has a wrong shape or a
        non-finite value, or y is wrong, missing (conditional model) or given (unconditional one).
    """
    batch_size = positive_int("batch_size", batch_size)
    x, y = _examples(model, x, y, "to estimate the mutual information")
    rng = as_rng(rng, [model.seed, 4])
    mu, logvar = _posteriors(model, x, batch_size, y)
    return _mutual_information(mu, logvar, rng)


def latent_report(model: VAE, x: DataLike, threshold: float = 0.01, rng: SeedLike = None, batch_size: int = 1000,
                  *, y: ArrayLike | None = None) -> dict[str, Any]:
    r"""Return the health of the latent space on the examples x, in one call (one encoder pass).

    Parameters
    ----------
    model : VAE
        The model whose encoder q(z|x) is measured.
    x : array_like or scipy.sparse matrix, shape (n, n_input)
        The examples, n >= 2 (any values: the likelihood's support is not checked).
    threshold : float, optional
        The active-unit threshold on Var_x(mu_j(x)), >= 0 (default 0.01, Burda et al. 2016's).
    rng : numpy.random.Generator, int, or None, optional
        The draws of the mutual-information estimate (see ``mutual_information``).
    batch_size : int, optional
        Examples encoded at a time (>= 1, default 1000).
    y : array_like of int, shape (n,), or int, optional
        A conditional model's labels of x (the posteriors are then q(z|x, y)), as in ``VAE.encode``.

    Returns
    -------
    dict
        With the keys:

        - ``n_examples`` (int): n.
        - ``kl_per_dimension`` (ndarray float64 (n_latent,)): the mean over x of KL(q(z_j|x) || N(0, 1)), nats.
        - ``kl`` (float): their sum, the mean KL term of the ELBO, nats.
        - ``active_units`` (int): the number of dimensions with Var_x(mu_j(x)) > threshold.
        - ``active`` (ndarray bool (n_latent,)): which ones.
        - ``variances`` (ndarray float64 (n_latent,)): Var_x(mu_j(x)).
        - ``threshold`` (float): the threshold.
        - ``mutual_information`` (float): the estimate of I(x; z), nats.
        - ``mutual_information_max`` (float): log n, the most the estimate can report.

    Raises
    ------
    TypeError
        If threshold is not a real number, batch_size not an integer, rng not a Generator, a seed or None,
        or x or y not of a type the model takes.
    ValueError
        If threshold is negative or not finite, batch_size < 1, rng is a negative or invalid seed, x holds fewer than 2
        examples or has a wrong shape or a non-finite value, or y is wrong, missing (conditional model) or
        given (unconditional one).

    Notes
    -----
    Derivation: docs/derivations.md#latent-health

    Examples
    --------
    >>> from purevae import VAE
    >>> from purevae.diagnostics import latent_report
    >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
    >>> x = np.random.default_rng(0).random((64, 16))
    >>> report = latent_report(model, x)
    >>> sorted(report)
    ['active', 'active_units', 'kl', 'kl_per_dimension', 'mutual_information', 'mutual_information_max',
     'n_examples', 'threshold', 'variances']
    >>> report["n_examples"], report["kl_per_dimension"].shape, report["active"].dtype
    (64, (2,), dtype('bool'))
    >>> report["active_units"]                         # untrained: no posterior mean moves with x yet
    0
    >>> bool(np.isclose(report["kl"], report["kl_per_dimension"].sum()))
    True
    >>> bool(report["mutual_information"] <= report["mutual_information_max"])    # at most log n
    True
    """
    threshold = finite_float("threshold", threshold, 0.0)
    batch_size = positive_int("batch_size", batch_size)
    x, y = _examples(model, x, y, "for a latent report")
    rng = as_rng(rng, [model.seed, 4])
    mu, logvar = _posteriors(model, x, batch_size, y)
    kl = _kl_per_dimension(mu, logvar)
    units = _active_units(mu, threshold)
    return {"n_examples": int(x.shape[0]), "kl_per_dimension": kl, "kl": float(kl.sum()),
            "active_units": units.count, "active": units.active, "variances": units.variances,
            "threshold": threshold, "mutual_information": _mutual_information(mu, logvar, rng),
            "mutual_information_max": float(np.log(x.shape[0]))}
