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
twins); derivations in docs/derivations.md#bernoulli and #gaussian. Training (``nll_grad``) and
evaluation (``log_prob``) call the same twin: ``log_prob`` is minus the ``nll`` that ``nll_grad`` returns.

The seam: a likelihood is an object with ``extra_params``, ``check_data``, ``nll_grad``, ``log_prob``,
``mean`` and ``config`` (the ``Likelihood`` interface below); ``VAE`` holds one as ``model.likelihood``
and calls nothing else of it. Arrays come from the workspace ``ws`` (``purevae.workspace``).
"""
from __future__ import annotations

from types import ModuleType

import numpy as np
import scipy.special

from . import ops
from .ops import LOGVAR_LIMIT, bernoulli_nll_grad, gaussian_nll_grad  # noqa: F401  (re-exported for readers)
from .validation import choice, finite_float
from .workspace import FRESH

__all__ = ["Likelihood", "Bernoulli", "Gaussian", "LIKELIHOODS", "make_likelihood", "bernoulli_nll_grad",
           "gaussian_nll_grad"]


def row_scale(scale, n: int, ws=FRESH) -> np.ndarray:
    """The kernels' per-row ``scale`` (float64, (n,)): ``scale`` itself when it is an array, else filled with it."""
    if isinstance(scale, np.ndarray):
        return scale
    rows = ws.array("scale", (n,), np.float64)
    rows.fill(scale)
    return rows


class Likelihood:
    """Interface of p(x|z). Subclasses implement the methods below for ``out`` of shape (..., n_input)."""

    name = "likelihood"

    def extra_params(self, n_input: int, dtype: np.dtype) -> dict[str, np.ndarray]:
        """Trainable parameters the likelihood adds to the model (name -> initial array)."""
        return {}

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        """Raise ValueError when x is outside the support of p(x|z)."""

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict, scale, kern: ModuleType,
                 ws=FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(nll (batch,), grad_out (batch, n_input), gradients of extra parameters), for validated arrays.

        nll_b = -log p(x_b | out_b); grad_out_b = scale_b * d nll_b / d out_b, and the extra parameters'
        gradients are the scale-weighted sums over rows. ``scale``: one float for every row (1/B for the
        ELBO's batch mean) or a float64 (batch,) array (the IWAE bound's normalised weights / B).
        ``kern``: the kernel module (``backend.kernels()``). ``ws``: where the outputs come from.
        """
        raise NotImplementedError

    def log_prob(self, x: np.ndarray, out: np.ndarray, params: dict, kern: ModuleType = ops, ws=FRESH
                 ) -> np.ndarray:
        """log p(x|z) summed over pixels, shape out.shape[:-1] (any leading dimensions).

        Minus the ``nll`` of ``nll_grad``, computed by the same kernel twin (``kern``, default the NumPy
        one): evaluation and training use one formula. x and out: same shape, dtype and C order.
        """
        shape = out.shape
        x2, out2 = x.reshape(-1, shape[-1]), out.reshape(-1, shape[-1])
        nll = self.nll_grad(x2, out2, params, 1.0, kern, ws)[0]
        return np.negative(nll).reshape(shape[:-1])

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

    def nll_grad(self, x, out, params, scale, kern, ws=FRESH):
        nll, grad_out = ws.array("nll", (x.shape[0],), x.dtype), ws.array("grad_out", out.shape, x.dtype)
        kern.bernoulli_nll_grad(x, out, row_scale(scale, x.shape[0], ws), nll, grad_out)
        return nll, grad_out, {}

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
        if variance is not None:   # None: learned
            variance = finite_float("variance", variance, 0.0, strict=True)
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

    def nll_grad(self, x, out, params, scale, kern, ws=FRESH):
        logvar = self._logvar(params, out.shape[1], out.dtype)
        nll, grad_out = ws.array("nll", (x.shape[0],), x.dtype), ws.array("grad_out", out.shape, x.dtype)
        grad_logvar = ws.array("decoder.logvar.grad", logvar.shape, x.dtype)
        kern.gaussian_nll_grad(x, out, logvar, row_scale(scale, x.shape[0], ws), nll, grad_out, grad_logvar)
        return nll, grad_out, ({"decoder.logvar": grad_logvar} if self.learned else {})

    def mean(self, out, params):
        return out

    def config(self):
        return {"likelihood": self.name, "variance": self.variance}


LIKELIHOODS = ("bernoulli", "gaussian")


def make_likelihood(likelihood: str | Likelihood = "bernoulli", variance: float | None = None) -> Likelihood:
    """Build a likelihood from its name: ``"bernoulli"`` or ``"gaussian"`` (``variance=None`` learns it)."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    choice("likelihood", likelihood, LIKELIHOODS)
    if likelihood == "bernoulli":
        if variance is not None:
            finite_float("variance", variance)   # a variance of the wrong type is a TypeError here too
            raise ValueError("variance applies only to likelihood='gaussian'")
        return Bernoulli()
    if likelihood == "gaussian":
        return Gaussian(variance)
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
