r"""The latent seam: q(z|x) = N(mu, diag e^logvar), the prior N(0, I), reparameterization and the KL.

The encoder's last layer gives ``mu_logvar`` (batch, 2 L): ``mu`` in the first L columns, ``logvar`` (the
log of the *variance*) in the last L, clamped to [-30, 30] (``ops.LOGVAR_LIMIT``) wherever it is used.
``GaussianLatent`` is the one object that knows that layout; training, evaluation and diagnostics call it:

=====================  ============================================  ===================================
method                 computes                                      the formula lives in
=====================  ============================================  ===================================
``draw_eps``           eps ~ N(0, I), drawn in float64, then cast     (numpy.random.Generator)
``forward``            z = mu + e^(logvar/2) eps and KL per example   kern.reparameterize_kl_forward
``backward``           grad of [mu | logvar] through z and beta KL    kern.reparameterize_kl_backward
``iwae_weights``       -IWAE_k per example, normalised weights        kern.iwae_weights
``iwae_backward``      grad of [mu | logvar] of the IWAE loss         kern.iwae_backward
``sample``             z for eps of any leading shape (evaluation)   ops.reparameterize
``kl``                 KL per example, float64 (evaluation)          ops.kl_divergence
``log_prior``          log p(z), float64 (the two densities apart)  ops.log_prior
``log_posterior``      log q(z|x), float64                           ops.log_posterior
=====================  ============================================  ===================================

``kern`` is ``backend.kernels()``: the Cython kernels or their NumPy twins in ``ops`` (which call
``ops.reparameterize`` and ``ops.kl_divergence`` themselves). Derivations: docs/derivations.md#reparameterization,
#kl and #iwae.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np
from numpy.typing import DTypeLike

from . import ops
from .typing import ArraySource
from .workspace import FRESH

__all__ = ["GaussianLatent"]


class GaussianLatent:
    """Diagonal Gaussian posterior with a standard normal prior, for ``n_latent`` dimensions."""

    def __init__(self, n_latent: int) -> None:
        self.n_latent = int(n_latent)

    def split(self, mu_logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mu, logvar) from [mu | logvar] (..., 2 L): mu a view, logvar clamped to [-30, 30] (a new array)."""
        n = self.n_latent
        return mu_logvar[..., :n], ops.clamp_logvar(mu_logvar[..., n:])

    def draw_eps(self, shape: tuple[int, ...], dtype: DTypeLike, rng: np.random.Generator,
                 ws: ArraySource = FRESH) -> np.ndarray:
        """Standard normal noise of ``shape``, drawn in float64 and then cast, so float32 and float64 models
        with the same generator see the same noise. Arrays from ``ws`` (keys ``eps64``, ``eps``)."""
        eps64 = rng.standard_normal(out=ws.array("eps64", shape, np.float64))
        if np.dtype(dtype) == np.float64:
            return eps64
        eps = ws.array("eps", shape, dtype)
        np.copyto(eps, eps64, casting="same_kind")
        return eps

    # ---- training: the fused kernels -----------------------------------------------------------
    def forward(self, mu_logvar: np.ndarray, eps: np.ndarray, kern: ModuleType, ws: ArraySource = FRESH
                ) -> tuple[np.ndarray, np.ndarray]:
        """z (batch, L) and KL(q(z|x_b) || N(0, I)) per example (batch,), in one pass of the kernel."""
        z = ws.array("z", eps.shape, mu_logvar.dtype)
        kl = ws.array("kl", (eps.shape[0],), mu_logvar.dtype)
        kern.reparameterize_kl_forward(mu_logvar, eps, z, kl)
        return z, kl

    def backward(self, mu_logvar: np.ndarray, eps: np.ndarray, grad_z: np.ndarray, beta: float | np.ndarray,
                 scale: float, kern: ModuleType, ws: ArraySource = FRESH) -> np.ndarray:
        """d loss / d [mu | logvar] (batch, 2 L), through z and through scale * sum_b sum_k beta_k KL_bk.

        ``beta``: one float (the ELBO), or a float64 (L,) array of per-dimension weights (free bits: 0 for
        the dimensions whose KL is held at its floor).
        """
        if not isinstance(beta, np.ndarray):
            weights = ws.array("beta", (self.n_latent,), np.float64)
            weights.fill(beta)
            beta = weights
        grad_mu_logvar = ws.array("mu_logvar.grad", mu_logvar.shape, mu_logvar.dtype)
        kern.reparameterize_kl_backward(mu_logvar, eps, grad_z, beta, scale, grad_mu_logvar)
        return grad_mu_logvar

    def kl_per_dimension(self, mu_logvar: np.ndarray) -> np.ndarray:
        """KL_j: the mean over the rows of dimension j's KL, float64, shape (L,) (``ops.kl_terms``)."""
        mu, logvar = self.split(mu_logvar)
        return np.mean(ops.kl_terms(mu.astype(np.float64), logvar.astype(np.float64)), axis=0)

    # ---- the IWAE training objective: the fused kernels --------------------------------------
    def iwae_weights(self, nll: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, beta: float,
                     scale: float, kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray]:
        """(loss (B,), weights (k, B)) float64: -IWAE_k per example and scale * the normalised weights.

        nll (k, B), eps and z (k, B, L), mu_logvar (B, 2 L); ``kern.iwae_weights`` (docs/derivations.md#iwae-training).
        """
        k, n = nll.shape
        loss, weights = ws.array("iwae.loss", (n,), np.float64), ws.array("iwae.weights", (k, n), np.float64)
        kern.iwae_weights(nll, mu_logvar, eps, z, beta, scale, loss, weights)
        return loss, weights

    def iwae_backward(self, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, grad_z: np.ndarray,
                      weights: np.ndarray, beta: float, kern: ModuleType, ws: ArraySource = FRESH) -> np.ndarray:
        """d loss / d [mu | logvar] (B, 2 L) of the IWAE loss, summed over the k samples (``kern.iwae_backward``)."""
        grad_mu_logvar = ws.array("mu_logvar.grad", mu_logvar.shape, mu_logvar.dtype)
        kern.iwae_backward(mu_logvar, eps, z, grad_z, weights, beta, grad_mu_logvar)
        return grad_mu_logvar

    # ---- evaluation: the NumPy formulas, any number of draws per example ---------------------
    def sample(self, mu_logvar: np.ndarray, eps: np.ndarray, ws: ArraySource = FRESH) -> np.ndarray:
        """z = mu + e^(logvar/2) eps for eps of shape (..., batch, L) (mu_logvar (batch, 2 L) broadcasts).

        z comes from ``ws`` (key ``z.samples``)."""
        mu, logvar = self.split(mu_logvar)
        return ops.reparameterize(mu, logvar, eps, ws.array("z.samples", eps.shape, eps.dtype))

    def kl(self, mu_logvar: np.ndarray) -> np.ndarray:
        """KL(q(z|x) || N(0, I)) per example, computed in float64, shape (batch,)."""
        mu, logvar = self.split(mu_logvar)
        return ops.kl_divergence(mu.astype(np.float64), logvar.astype(np.float64))

    def log_prior(self, z: np.ndarray) -> np.ndarray:
        """log p(z) = log N(z; 0, I) in float64, shape z.shape[:-1]."""
        return ops.log_prior(z.astype(np.float64))

    def log_posterior(self, mu_logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """log q(z|x) in float64 at z = sample(mu_logvar, eps), shape eps.shape[:-1]."""
        logvar = self.split(mu_logvar)[1].astype(np.float64)
        return ops.log_posterior(logvar, eps.astype(np.float64))
