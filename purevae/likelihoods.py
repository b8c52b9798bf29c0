r"""The decoder's distribution p(x|z): -log p(x|z) per example and its gradient, one family at a time.

Each likelihood reads the decoder's last dense output ``out`` (batch, n_input) as its parameter:

==============================  =======================  ======================================
likelihood                      ``out`` means            extra parameters
==============================  =======================  ======================================
``Bernoulli()``                 logits l, p = sigmoid(l)  none
``Gaussian(variance=s2)``       mean m, fixed variance    none (log s2 is a constant)
``Gaussian()`` (learned)        mean m                    ``decoder.logvar`` (n_input,), shared
                                                          by all examples, initialised to 0
==============================  =======================  ======================================

The formulas live in ``ops.bernoulli_nll_grad`` and ``ops.gaussian_nll_grad`` (and their Cython
twins); derivations in docs/derivations.md#bernoulli and #gaussian.
"""
from __future__ import annotations

from types import ModuleType

import numpy as np
import scipy.special

from .ops import LOG_2PI, LOGVAR_LIMIT, bernoulli_nll_grad, clamp_logvar, gaussian_nll_grad  # noqa: F401  (re-exported for readers)

__all__ = ["Likelihood", "Bernoulli", "Gaussian", "make_likelihood", "bernoulli_nll_grad", "gaussian_nll_grad"]


class _FreshArrays:
    """``array(key, shape, dtype)`` -> a new array: the default when no workspace is given."""

    @staticmethod
    def array(key: str, shape: tuple, dtype) -> np.ndarray:
        return np.empty(shape, dtype)


_FRESH = _FreshArrays()


class Likelihood:
    """Interface of p(x|z). Subclasses implement the methods below for ``out`` of shape (..., n_input)."""

    name = "likelihood"

    def extra_params(self, n_input: int, dtype: np.dtype) -> dict[str, np.ndarray]:
        """Trainable parameters the likelihood adds to the model (name -> initial array)."""
        return {}

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        """Raise ValueError when x is outside the support of p(x|z)."""

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict, scale: float, kern: ModuleType,
                 ws=None) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(nll (batch,), grad_out (batch, n_input), gradients of extra parameters), for validated arrays.

        ``ws``: where the outputs come from, an object with ``array(key, shape, dtype)`` (the model's
        per-batch workspace during ``fit``); None makes new arrays.
        """
        raise NotImplementedError

    def log_prob(self, x: np.ndarray, out: np.ndarray, params: dict) -> np.ndarray:
        """log p(x|z) summed over pixels, shape out.shape[:-1]; plain NumPy, any leading dimensions."""
        raise NotImplementedError

    def mean(self, out: np.ndarray, params: dict) -> np.ndarray:
        """The mean of p(x|z), shape of out."""
        raise NotImplementedError

    def config(self) -> dict:
        """JSON-able description, so that ``make_likelihood(**config)`` rebuilds it."""
        return {"likelihood": self.name}


class Bernoulli(Likelihood):
    r"""Independent Bernoulli pixels on logits: log p(x|z) = sum_j x_j l_j - log(1 + e^l_j).

    Targets may be any value in [0, 1] (grey images), the usual cross-entropy setup of VAE papers;
    for grey targets this is then a cross-entropy, not a normalised density over grey values.
    """

    name = "bernoulli"

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"{argname} must lie in [0, 1] for the Bernoulli likelihood, "
                             f"found values in [{x.min()}, {x.max()}] (scale pixels with purevae.data.scale_pixels)")

    def nll_grad(self, x, out, params, scale, kern, ws=None):
        ws = ws or _FRESH
        nll, grad_out = ws.array("nll", (x.shape[0],), x.dtype), ws.array("grad_out", out.shape, x.dtype)
        kern.bernoulli_nll_grad(x, out, scale, nll, grad_out)
        return nll, grad_out, {}

    def log_prob(self, x, out, params):
        # -(log(1 + e^l) - x l) with log(1 + e^l) = max(l, 0) + log1p(e^-|l|), in place on one scratch
        # array: about 5x faster than np.logaddexp, which dominates the importance-weighted estimate
        nll = np.abs(out)
        np.negative(nll, out=nll)
        np.exp(nll, out=nll)
        np.log1p(nll, out=nll)
        nll += np.maximum(out, 0)
        nll -= x * out
        return -np.sum(nll, axis=-1)

    def mean(self, out, params):
        return scipy.special.expit(out)


class Gaussian(Likelihood):
    r"""Independent Gaussian pixels: log p(x|z) = -0.5 sum_j (log 2 pi + logvar_j + (x_j - m_j)^2 e^-logvar_j).

    Parameters
    ----------
    variance : float or None
        A fixed variance shared by every pixel, or None (default) to learn a per-pixel log-variance
        ``decoder.logvar`` of shape (n_input,), shared by all examples and initialised to 0 (variance 1).
    """

    name = "gaussian"

    def __init__(self, variance: float | None = None):
        if variance is not None:
            variance = float(variance)
            if not np.isfinite(variance) or variance <= 0:
                raise ValueError(f"variance must be a finite number > 0 or None (learned), got {variance}")
            if abs(np.log(variance)) > LOGVAR_LIMIT:
                raise ValueError(f"variance must lie in [e^-{LOGVAR_LIMIT:g}, e^{LOGVAR_LIMIT:g}] (log-variances are "
                                 f"clamped to that range), got {variance}")
        self.variance = variance

    @property
    def learned(self) -> bool:
        return self.variance is None

    def extra_params(self, n_input, dtype):
        return {"decoder.logvar": np.zeros(n_input, dtype)} if self.learned else {}

    def _logvar(self, params: dict, n_input: int, dtype) -> np.ndarray:
        if self.learned:
            return params["decoder.logvar"]
        return np.full(n_input, np.log(self.variance), dtype=dtype)

    def nll_grad(self, x, out, params, scale, kern, ws=None):
        ws = ws or _FRESH
        logvar = self._logvar(params, out.shape[1], out.dtype)
        nll, grad_out = ws.array("nll", (x.shape[0],), x.dtype), ws.array("grad_out", out.shape, x.dtype)
        grad_logvar = ws.array("decoder.logvar.grad", logvar.shape, x.dtype)
        kern.gaussian_nll_grad(x, out, logvar, scale, nll, grad_out, grad_logvar)
        return nll, grad_out, ({"decoder.logvar": grad_logvar} if self.learned else {})

    def log_prob(self, x, out, params):
        logvar = clamp_logvar(self._logvar(params, out.shape[-1], out.dtype))
        diff = x - out
        return -0.5 * np.sum(LOG_2PI + logvar + diff * diff * np.exp(-logvar), axis=-1)

    def mean(self, out, params):
        return out

    def config(self):
        return {"likelihood": self.name, "variance": self.variance}


LIKELIHOODS = ("bernoulli", "gaussian")


def make_likelihood(likelihood: str | Likelihood = "bernoulli", variance: float | None = None) -> Likelihood:
    """Build a likelihood from its name: ``"bernoulli"`` or ``"gaussian"`` (``variance=None`` learns it)."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    if likelihood == "bernoulli":
        if variance is not None:
            raise ValueError("variance applies only to likelihood='gaussian'")
        return Bernoulli()
    if likelihood == "gaussian":
        return Gaussian(variance)
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
