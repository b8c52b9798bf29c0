r"""The latent seam: q(z|x) = N(mu, diag e^logvar), the prior N(0, I), reparameterization and the KL.

The encoder's last layer gives ``mu_logvar`` (batch, 2 L): ``mu`` in the first L columns, ``logvar`` (the
log of the *variance*) in the last L, clamped to [-30, 30] (``ops.LOGVAR_LIMIT``) wherever it is used.
``GaussianLatent`` is the one object that knows that layout; training, evaluation and diagnostics call it:

===================  =================================================  =================================
method               computes                                           the formula lives in
===================  =================================================  =================================
``draw_eps``         eps ~ N(0, I), drawn in float64, then cast         (numpy.random.Generator)
``forward``          z = mu + e^(logvar/2) eps and KL per example       kern.reparameterize_kl_forward
``backward``         grad of ``[mu | logvar]`` through z and beta KL    kern.reparameterize_kl_backward
``iwae_weights``     -IWAE_k per example, normalised weights            kern.iwae_weights
``iwae_backward``    grad of ``[mu | logvar]`` of the IWAE loss         kern.iwae_backward
``sample``           z for eps of any leading shape (evaluation)        ops.reparameterize
``kl``               KL per example, float64 (evaluation)               ops.kl_divergence
``log_prior``        log p(z), float64 (the two densities apart)        ops.log_prior
``log_posterior``    log q(z|x), float64                                ops.log_posterior
===================  =================================================  =================================

``kern`` is ``backend.kernels()``: the Cython kernels or their NumPy twins in ``ops`` (which call
``ops.reparameterize`` and ``ops.kl_divergence`` themselves). Derivations: docs/derivations.md#reparameterization,
docs/derivations.md#kl and docs/derivations.md#iwae.
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
    """Diagonal Gaussian posterior with a standard normal prior, for ``n_latent`` dimensions.

    Parameters
    ----------
    n_latent : int
        The number of latent dimensions L (taken as ``int(n_latent)``, not validated: ``VAE`` validates it).
    """

    def __init__(self, n_latent: int) -> None:
        self.n_latent = int(n_latent)

    def split(self, mu_logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split ``[mu | logvar]`` into mu and the clamped logvar.

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (..., 2 L)
            The encoder's output: mu in the first L columns, logvar in the last L.

        Returns
        -------
        mu : numpy.ndarray, shape (..., L)
            A view of the first L columns.
        logvar : numpy.ndarray, shape (..., L)
            The last L columns clamped to [-30, 30] (``ops.clamp_logvar``), a new array.
        """
        n = self.n_latent
        return mu_logvar[..., :n], ops.clamp_logvar(mu_logvar[..., n:])

    def draw_eps(self, shape: tuple[int, ...], dtype: DTypeLike, rng: np.random.Generator,
                 ws: ArraySource = FRESH) -> np.ndarray:
        """Draw standard normal noise of ``shape``, in float64 and then cast to ``dtype``.

        Drawn in float64 whatever the dtype, so float32 and float64 models with the same generator see the
        same noise. Derivation: docs/derivations.md#reparameterization.

        Parameters
        ----------
        shape : tuple of int
            The shape of the noise: (batch, L), or (k, batch, L) for k draws per example.
        dtype : data-type
            The dtype of the result (the model's, float32 or float64).
        rng : numpy.random.Generator
            The generator drawn from (``rng.standard_normal``).
        ws : ArraySource, default FRESH
            Where the arrays come from: key ``eps64`` for the float64 draw, ``eps`` for its cast.

        Returns
        -------
        numpy.ndarray
            The noise eps ~ N(0, I), of ``shape`` and ``dtype``: the float64 draw itself when ``dtype`` is
            float64.
        """
        eps64 = rng.standard_normal(out=ws.array("eps64", shape, np.float64))
        if np.dtype(dtype) == np.float64:
            return eps64
        eps = ws.array("eps", shape, dtype)
        np.copyto(eps, eps64, casting="same_kind")
        return eps

    # ---- training: the fused kernels -----------------------------------------------------------
    def forward(self, mu_logvar: np.ndarray, eps: np.ndarray, kern: ModuleType, ws: ArraySource = FRESH
                ) -> tuple[np.ndarray, np.ndarray]:
        """Compute z = mu + e^(logvar/2) eps and the closed-form KL per row, in one pass of the kernel.

        The KL is KL(q(z|x_b) ``||`` N(0, I)), logvar clamped to [-30, 30] (``kern.reparameterize_kl_forward``).
        Derivations: docs/derivations.md#reparameterization and docs/derivations.md#kl.

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (batch, 2 L)
            ``[mu | logvar]``, C-contiguous, of the model's dtype.
        eps : numpy.ndarray, shape (batch, L)
            The standard normal noise, of the same dtype.
        kern : module
            The kernels, ``backend.kernels()``.
        ws : ArraySource, default FRESH
            Where the results come from (keys ``z`` and ``kl``).

        Returns
        -------
        z : numpy.ndarray, shape (batch, L)
            The latent codes, of mu_logvar's dtype.
        kl : numpy.ndarray, shape (batch,)
            KL(q(z|x_b) ``||`` N(0, I)) of each row, in nats, of mu_logvar's dtype.
        """
        z = ws.array("z", eps.shape, mu_logvar.dtype)
        kl = ws.array("kl", (eps.shape[0],), mu_logvar.dtype)
        kern.reparameterize_kl_forward(mu_logvar, eps, z, kl)
        return z, kl

    def backward(self, mu_logvar: np.ndarray, eps: np.ndarray, grad_z: np.ndarray, beta: float | np.ndarray,
                 scale: float, kern: ModuleType, ws: ArraySource = FRESH) -> np.ndarray:
        """Compute d loss / d ``[mu | logvar]`` through z and through the KL term scale * sum_b sum_k beta_k KL_bk.

        Derivations: docs/derivations.md#reparameterization, docs/derivations.md#full-chain and
        docs/derivations.md#free-bits.

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (batch, 2 L)
            ``[mu | logvar]``, as given to ``forward``.
        eps : numpy.ndarray, shape (batch, L)
            The noise given to ``forward``.
        grad_z : numpy.ndarray, shape (batch, L)
            The gradient d loss / d z from the decoder.
        beta : float or numpy.ndarray
            One float, the KL weight of every dimension (the ELBO), or a float64 (L,) array of per-dimension
            weights (free bits: 0 for the dimensions whose KL is held at its floor).
        scale : float
            The factor of every example's term (1 / rows for the mean).
        kern : module
            The kernels, ``backend.kernels()``.
        ws : ArraySource, default FRESH
            Where the result comes from (key ``mu_logvar.grad``; key ``beta`` for a float ``beta`` spread
            over the L dimensions).

        Returns
        -------
        numpy.ndarray, shape (batch, 2 L)
            The gradient d loss / d ``[mu | logvar]``, of mu_logvar's dtype; 0 in the logvar entries beyond
            the clamp [-30, 30].
        """
        if not isinstance(beta, np.ndarray):
            weights = ws.array("beta", (self.n_latent,), np.float64)
            weights.fill(beta)
            beta = weights
        grad_mu_logvar = ws.array("mu_logvar.grad", mu_logvar.shape, mu_logvar.dtype)
        kern.reparameterize_kl_backward(mu_logvar, eps, grad_z, beta, scale, grad_mu_logvar)
        return grad_mu_logvar

    def kl_per_dimension(self, mu_logvar: np.ndarray) -> np.ndarray:
        """Compute KL_j, the mean over the rows of dimension j's KL, in float64 (``ops.kl_terms``).

        What the free-bits floor compares with (docs/derivations.md#free-bits).

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (batch, 2 L)
            ``[mu | logvar]``; logvar is clamped to [-30, 30] first.

        Returns
        -------
        numpy.ndarray, shape (L,)
            KL_j in nats, float64.
        """
        mu, logvar = self.split(mu_logvar)
        return np.mean(ops.kl_terms(mu.astype(np.float64), logvar.astype(np.float64)), axis=0)

    # ---- the IWAE training objective: the fused kernels --------------------------------------
    def iwae_weights(self, nll: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, beta: float,
                     scale: float, kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray]:
        """Compute -IWAE_k of each example and scale times the normalised weights of its k samples.

        One pass of ``kern.iwae_weights`` (docs/derivations.md#iwae-training), sums in float64::

            log w_ib   = -nll_ib + beta * (log p(z_ib) - log q(z_ib | x_b))
            loss_b     = log k - logsumexp_i log w_ib
            weights_ib = scale * exp(log w_ib - logsumexp_i log w_ib)

        Parameters
        ----------
        nll : numpy.ndarray, shape (k, B)
            -log p(x_b | z_ib), the likelihood's value.
        mu_logvar : numpy.ndarray, shape (B, 2 L)
            ``[mu | logvar]`` of the B examples.
        eps : numpy.ndarray, shape (k, B, L)
            The noise of the k samples.
        z : numpy.ndarray, shape (k, B, L)
            The samples z = mu + e^(logvar/2) eps.
        beta : float
            The weight of log p(z) - log q(z|x) in each log-weight (1 gives the bound).
        scale : float
            The factor of the weights (1 / B for the batch mean).
        kern : module
            The kernels, ``backend.kernels()``.
        ws : ArraySource, default FRESH
            Where the results come from (keys ``iwae.loss`` and ``iwae.weights``).

        Returns
        -------
        loss : numpy.ndarray, shape (B,)
            -IWAE_k of each example, in nats, float64.
        weights : numpy.ndarray, shape (k, B)
            The scale times the softmax over the k samples of log w, float64: d mean loss / d (-log w_ib).
        """
        k, n = nll.shape
        loss, weights = ws.array("iwae.loss", (n,), np.float64), ws.array("iwae.weights", (k, n), np.float64)
        kern.iwae_weights(nll, mu_logvar, eps, z, beta, scale, loss, weights)
        return loss, weights

    def iwae_backward(self, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, grad_z: np.ndarray,
                      weights: np.ndarray, beta: float, kern: ModuleType, ws: ArraySource = FRESH) -> np.ndarray:
        """Compute d loss / d ``[mu | logvar]`` of the IWAE loss, summed over the k samples.

        One call of ``kern.iwae_backward``, from the decoder's grad_z and the weights of ``iwae_weights``.
        Derivation: docs/derivations.md#iwae-training.

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (B, 2 L)
            ``[mu | logvar]`` of the B examples.
        eps : numpy.ndarray, shape (k, B, L)
            The noise of the k samples.
        z : numpy.ndarray, shape (k, B, L)
            The samples z = mu + e^(logvar/2) eps.
        grad_z : numpy.ndarray, shape (k, B, L)
            The gradient d loss / d z from the decoder (through -log p(x|z)).
        weights : numpy.ndarray, shape (k, B)
            The float64 weights ``iwae_weights`` returned.
        beta : float
            The weight given to ``iwae_weights``.
        kern : module
            The kernels, ``backend.kernels()``.
        ws : ArraySource, default FRESH
            Where the result comes from (key ``mu_logvar.grad``).

        Returns
        -------
        numpy.ndarray, shape (B, 2 L)
            The gradient d loss / d ``[mu | logvar]``, of mu_logvar's dtype; 0 in the logvar entries beyond
            the clamp [-30, 30].
        """
        grad_mu_logvar = ws.array("mu_logvar.grad", mu_logvar.shape, mu_logvar.dtype)
        kern.iwae_backward(mu_logvar, eps, z, grad_z, weights, beta, grad_mu_logvar)
        return grad_mu_logvar

    # ---- evaluation: the NumPy formulas, any number of draws per example ---------------------
    def sample(self, mu_logvar: np.ndarray, eps: np.ndarray, ws: ArraySource = FRESH) -> np.ndarray:
        """Compute z = mu + e^(logvar/2) eps for eps of any leading shape (evaluation).

        ``ops.reparameterize`` on ``split(mu_logvar)``: logvar clamped to [-30, 30]. Derivations:
        docs/derivations.md#reparameterization and docs/derivations.md#iwae.

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (batch, 2 L)
            ``[mu | logvar]``; broadcasts against eps.
        eps : numpy.ndarray, shape (..., batch, L)
            The noise, e.g. (k, batch, L) for k draws per example.
        ws : ArraySource, default FRESH
            Where z comes from (key ``z.samples``).

        Returns
        -------
        numpy.ndarray
            The samples z, of eps's shape and dtype.
        """
        mu, logvar = self.split(mu_logvar)
        return ops.reparameterize(mu, logvar, eps, ws.array("z.samples", eps.shape, eps.dtype))

    def kl(self, mu_logvar: np.ndarray) -> np.ndarray:
        """Compute KL(q(z|x) ``||`` N(0, I)) per example in closed form, in float64 (evaluation).

        ``ops.kl_divergence`` on ``split(mu_logvar)`` cast to float64: logvar clamped to [-30, 30].
        Derivation: docs/derivations.md#kl.

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (batch, 2 L)
            ``[mu | logvar]``.

        Returns
        -------
        numpy.ndarray, shape (batch,)
            The KL of each example, in nats, float64.
        """
        mu, logvar = self.split(mu_logvar)
        return ops.kl_divergence(mu.astype(np.float64), logvar.astype(np.float64))

    def log_prior(self, z: np.ndarray) -> np.ndarray:
        """Compute log p(z) = log N(z; 0, I), in float64.

        Parameters
        ----------
        z : numpy.ndarray, shape (..., L)
            Latent codes.

        Returns
        -------
        numpy.ndarray, shape z.shape[:-1]
            The log-density log p(z) in nats, summed over the L dimensions, float64.
        """
        return ops.log_prior(z.astype(np.float64))

    def log_posterior(self, mu_logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """Compute log q(z|x) at z = sample(mu_logvar, eps), in float64.

        Only logvar (clamped to [-30, 30]) and eps enter: (z - mu)^2 / sigma^2 = eps^2 (``ops.log_posterior``).

        Parameters
        ----------
        mu_logvar : numpy.ndarray, shape (batch, 2 L)
            ``[mu | logvar]``; broadcasts against eps.
        eps : numpy.ndarray, shape (..., batch, L)
            The noise z was drawn with.

        Returns
        -------
        numpy.ndarray, shape eps.shape[:-1]
            The log-density log q(z|x) in nats, summed over the L dimensions, float64.
        """
        logvar = self.split(mu_logvar)[1].astype(np.float64)
        return ops.log_posterior(logvar, eps.astype(np.float64))
