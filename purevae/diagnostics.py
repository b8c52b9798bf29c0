r"""Latent health: is the latent space in use, or did the posterior collapse onto the prior?

``active_units(model, x, threshold=0.01)`` counts the latent dimensions whose posterior mean moves with
the data: dimension j is *active* when

    A_j = Cov_x( E_q[z_j | x] ) = Var_x( mu_j(x) ) > threshold

(Burda, Grosse & Salakhutdinov 2016, Sec. 5.2, with their threshold 0.01). A dimension whose mean is
the same for every x carries no information about x, whatever its KL. ``kl_per_dimension`` gives each
dimension's average KL(q(z_j|x) || N(0, 1)) over x (the same formula as the training loss,
``ops.kl_terms``, on the clamped log-variance).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import ops
from .validation import finite_float

__all__ = ["ActiveUnits", "active_units", "kl_per_dimension"]


class ActiveUnits(NamedTuple):
    """What ``active_units`` returns."""

    count: int                  #: the number of active dimensions
    variances: np.ndarray       #: A_j = Var_x(mu_j(x)), float64, shape (n_latent,)
    active: np.ndarray          #: A_j > threshold, bool, shape (n_latent,)


def active_units(model, x, threshold: float = 0.01, batch_size: int = 1000) -> ActiveUnits:
    r"""The latent dimensions in use: A_j = Var_x(mu_j(x)) > threshold (Burda et al. 2016).

    Parameters
    ----------
    model : VAE
    x : array (n, n_input), n >= 2
    threshold : float >= 0, default 0.01 (Burda et al.'s)
    batch_size : int, examples encoded at a time

    Returns
    -------
    ActiveUnits(count, variances, active)
    """
    threshold = finite_float("threshold", threshold, 0.0)
    x = model.check_input(x, support=False)
    if x.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 examples to measure a variance, got {x.shape[0]}")
    mu = np.concatenate([model.encode(x[i:i + batch_size])[0] for i in range(0, len(x), batch_size)])
    variances = np.var(mu.astype(np.float64), axis=0)      # Var over x of the posterior mean (ddof 0, as a Cov_x)
    active = variances > threshold
    return ActiveUnits(int(active.sum()), variances, active)


def kl_per_dimension(model, x) -> np.ndarray:
    """The average over x of KL(q(z_j|x) || N(0, 1)) for each latent dimension j, nats, float64 (n_latent,)."""
    mu, logvar = model.encode(x)
    return np.mean(ops.kl_terms(mu.astype(np.float64), ops.clamp_logvar(logvar).astype(np.float64)), axis=0)
