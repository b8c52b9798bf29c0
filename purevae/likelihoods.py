r"""The decoder's distribution p(x|z): -log p(x|z) per example and its gradient, one family at a time.

Each likelihood reads the decoder's last dense output ``out`` (batch, n_input) as its parameter:

==============================  =======================  ======================================
likelihood                      ``out`` means            extra parameters
==============================  =======================  ======================================
``Bernoulli()``                 logits l, p = sigmoid(l)  none
``ContinuousBernoulli()``       logits l, on [0, 1]       none
``Gaussian(variance=s2)``       mean m, fixed variance    none (log s2 is a constant)
``Gaussian()`` (learned)        mean m                    ``decoder.logvar`` (n_input,), shared
                                                          by all examples, initialised to 0
``Multinomial()``               logits l over the words   none (x: word counts, dense or CSR)
==============================  =======================  ======================================

The formulas live in ``ops.bernoulli_nll`` / ``ops.bernoulli_nll_grad``, ``ops.continuous_bernoulli_nll`` /
``ops.continuous_bernoulli_nll_grad``, ``ops.gaussian_nll`` / ``ops.gaussian_nll_grad`` and
``ops.multinomial_nll`` / ``ops.multinomial_nll_grad`` (with ``_csr`` variants for sparse counts), and their Cython
twins; each NumPy ``*_nll_grad`` computes its value with the ``*_nll`` beside it; derivations in
docs/derivations.md#bernoulli, #continuous-bernoulli, #gaussian and #multinomial. Training calls
``nll_grad``; evaluation (``log_prob``) and the IWAE weights call ``nll``, the same formula without the
gradient.

The seam: a likelihood is an object with ``extra_params``, ``check_data``, ``nll``, ``nll_grad``, ``log_weights``,
``log_prob``, ``mean`` and ``config`` (the ``Likelihood`` interface below); ``VAE`` holds one as ``model.likelihood``
and calls nothing else of it. Arrays come from the workspace ``ws`` (``purevae.workspace``).
"""
from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.special
from numpy.typing import DTypeLike

from . import ops
from .ops import LOGVAR_LIMIT, bernoulli_nll, bernoulli_nll_grad, gaussian_nll, gaussian_nll_grad  # noqa: F401
from .typing import ArraySource
from .validation import check_counts, choice, finite_float, is_sparse
from .workspace import FRESH

if TYPE_CHECKING:      # the multinomial's x may be a canonical CSR matrix of counts
    from scipy.sparse import csr_matrix

__all__ = ["Likelihood", "Bernoulli", "ContinuousBernoulli", "Gaussian", "Multinomial", "LIKELIHOODS",
           "make_likelihood", "bernoulli_nll", "bernoulli_nll_grad", "gaussian_nll", "gaussian_nll_grad"]


def check_blocks(x: np.ndarray, out: np.ndarray) -> None:
    """Raise ValueError unless out (R, D) holds whole blocks of x's rows (R = k B, k >= 1, or R = 0)."""
    batch = x.shape[0]
    if x.ndim != 2 or out.ndim != 2 or x.shape[1] != out.shape[1] or (out.shape[0] % batch if batch else out.shape[0]):
        raise ValueError(f"out of shape {out.shape} does not hold whole blocks of x's shape {x.shape}")


def row_scale(scale: float | np.ndarray, n: int, ws: ArraySource = FRESH) -> np.ndarray:
    """The kernels' per-row ``scale`` (float64, (n,)): ``scale`` itself when it is an array, else filled with it."""
    if isinstance(scale, np.ndarray):
        return scale
    rows = ws.array("scale", (n,), np.float64)
    rows.fill(scale)
    return rows


class Likelihood:
    """Interface of p(x|z) for ``out`` of shape (..., n_input).

    A subclass implements ``nll``, ``nll_grad``, ``log_weights`` (a kernel call each) and ``mean``, and where
    they apply ``extra_params``, ``check_data`` and ``config``; ``log_prob`` is built on ``nll``.
    """

    name = "likelihood"
    #: whether ``nll``, ``nll_grad`` and ``log_weights`` take x as a scipy.sparse CSR matrix (else x is dense)
    accepts_sparse = False

    def extra_shapes(self, n_input: int) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the trainable parameters the likelihood adds to the model."""
        return {}

    def extra_params(self, n_input: int, dtype: np.dtype) -> dict[str, np.ndarray]:
        """Trainable parameters the likelihood adds to the model (name -> initial array: zeros)."""
        return {name: np.zeros(shape, dtype) for name, shape in self.extra_shapes(n_input).items()}

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        """Raise ValueError when x is outside the support of p(x|z)."""

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        """nll_r = -log p(x | out_r), shape (rows,), for validated C-ordered 2-d arrays.

        The value of ``nll_grad`` without the gradient (evaluation, and the IWAE bound's weights before
        its backward pass). ``out`` may hold k blocks of x's B rows (rows = k B, row i B + b goes with
        x[b]: the k samples of z per example); the kernels pair them, so x is never copied k times.
        """
        raise NotImplementedError

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(nll (rows,), grad_out (rows, n_input), gradients of extra parameters), for validated arrays.

        nll_r = -log p(x | out_r); grad_out_r = scale_r * d nll_r / d out_r, and the extra parameters'
        gradients are the scale-weighted sums over rows. ``scale``: one float for every row (1/B for the
        ELBO's batch mean) or a float64 (rows,) array (the IWAE bound's normalised weights / B).
        ``out`` may hold k blocks of x's rows, as in ``nll``.
        ``kern``: the kernel module (``backend.kernels()``). ``ws``: where the outputs come from.
        """
        raise NotImplementedError

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        """log w = log p(x|z) + log p(z) - log q(z|x), float64 (s, B), in one fused kernel (evaluation).

        x (B, n_input); out (s B, n_input), the decoder's output at z (s, B, L) = mu + e^(logvar/2) eps;
        mu_logvar (B, 2 L). docs/derivations.md#iwae.
        """
        raise NotImplementedError

    def log_prob(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
                 ws: ArraySource = FRESH) -> np.ndarray:
        """log p(x|z) summed over pixels, shape out.shape[:-1] (any leading dimensions).

        Minus ``nll``, the value kernel of the same twin (``kern``, default the NumPy one) whose formula
        ``nll_grad`` shares: evaluation and training use one formula. x and out: the same dtype and C
        order, and either the same shape or x of shape (B, n_input) with out (..., B, n_input) (x goes
        with every block of B rows).
        """
        shape = out.shape
        x2, out2 = x.reshape(-1, shape[-1]), out.reshape(-1, shape[-1])
        nll = self.nll(x2, out2, params, kern, ws)
        return np.negative(nll).reshape(shape[:-1])

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """The mean of p(x|z), shape of out."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
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

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        check_blocks(x, out)
        nll = ws.array("nll", (out.shape[0],), out.dtype)
        kern.bernoulli_nll(x, out, nll)
        return nll

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        check_blocks(x, out)
        nll, grad_out = ws.array("nll", (out.shape[0],), out.dtype), ws.array("grad_out", out.shape, out.dtype)
        kern.bernoulli_nll_grad(x, out, row_scale(scale, out.shape[0], ws), nll, grad_out)
        return nll, grad_out, {}

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        check_blocks(x, out)
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        kern.bernoulli_log_weights(x, out, mu_logvar, eps, z, log_w)
        return log_w

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        return scipy.special.expit(out)


class ContinuousBernoulli(Likelihood):
    r"""The continuous Bernoulli on logits (Loaiza-Ganem & Cunningham 2019): a normalised density on [0, 1],

        log p(x|z) = sum_j x_j l_j - softplus(l_j) + log C(l_j),   C(l) = l / tanh(l / 2)   (C(0) = 2)

    the Bernoulli cross-entropy plus the log-normaliser that makes it a density over grey values, so the
    numbers are proper log-densities (they may be positive: a density can exceed 1). Its mean, what
    ``decode``/``sample``/``reconstruct`` return, is sigmoid(l) - (1/l - 1/sinh(l)) (``ops.cb_mean``), not
    lambda = sigmoid(l). Formulas: ``ops.continuous_bernoulli_nll`` / ``_nll_grad``;
    docs/derivations.md#continuous-bernoulli.
    """

    name = "continuous_bernoulli"

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"{argname} must lie in [0, 1] for the continuous Bernoulli likelihood, found values "
                             f"in [{x.min()}, {x.max()}] (scale pixels with purevae.data.scale_pixels)")

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        check_blocks(x, out)
        nll = ws.array("nll", (out.shape[0],), out.dtype)
        kern.continuous_bernoulli_nll(x, out, nll)
        return nll

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        check_blocks(x, out)
        nll, grad_out = ws.array("nll", (out.shape[0],), out.dtype), ws.array("grad_out", out.shape, out.dtype)
        kern.continuous_bernoulli_nll_grad(x, out, row_scale(scale, out.shape[0], ws), nll, grad_out)
        return nll, grad_out, {}

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        check_blocks(x, out)
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        kern.continuous_bernoulli_log_weights(x, out, mu_logvar, eps, z, log_w)
        return log_w

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        return ops.cb_mean(out).astype(out.dtype)


class Gaussian(Likelihood):
    r"""Independent Gaussian pixels: log p(x|z) = -0.5 sum_j (log 2 pi + logvar_j + (x_j - m_j)^2 e^-logvar_j).

    Parameters
    ----------
    variance : float or None
        A fixed variance shared by every pixel, or None (default) to learn a per-pixel log-variance
        ``decoder.logvar`` of shape (n_input,), shared by all examples and initialised to 0 (variance 1).
    """

    name = "gaussian"

    def __init__(self, variance: float | None = None) -> None:
        if variance is not None:   # None: learned
            variance = finite_float("variance", variance, 0.0, strict=True)
            if abs(np.log(variance)) > LOGVAR_LIMIT:
                raise ValueError(f"variance must lie in [e^-{LOGVAR_LIMIT:g}, e^{LOGVAR_LIMIT:g}] (log-variances are "
                                 f"clamped to that range), got {variance}")
        self.variance = variance

    @property
    def learned(self) -> bool:
        return self.variance is None

    def extra_shapes(self, n_input: int) -> dict[str, tuple[int, ...]]:
        return {"decoder.logvar": (n_input,)} if self.learned else {}     # initialised to 0: unit variance

    def _logvar(self, params: dict[str, np.ndarray], n_input: int, dtype: DTypeLike) -> np.ndarray:
        if self.learned:
            return params["decoder.logvar"]
        assert self.variance is not None   # not learned: a fixed variance
        return np.full(n_input, np.log(self.variance), dtype=dtype)

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        check_blocks(x, out)
        nll = ws.array("nll", (out.shape[0],), out.dtype)
        kern.gaussian_nll(x, out, self._logvar(params, out.shape[1], out.dtype), nll)
        return nll

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        check_blocks(x, out)
        logvar = self._logvar(params, out.shape[1], out.dtype)
        nll, grad_out = ws.array("nll", (out.shape[0],), out.dtype), ws.array("grad_out", out.shape, out.dtype)
        grad_logvar = ws.array("decoder.logvar.grad", logvar.shape, out.dtype)
        kern.gaussian_nll_grad(x, out, logvar, row_scale(scale, out.shape[0], ws), nll, grad_out, grad_logvar)
        return nll, grad_out, ({"decoder.logvar": grad_logvar} if self.learned else {})

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        check_blocks(x, out)
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        kern.gaussian_log_weights(x, out, self._logvar(params, out.shape[1], out.dtype), mu_logvar, eps, z, log_w)
        return log_w

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        return out

    def config(self) -> dict[str, Any]:
        return {"likelihood": self.name, "variance": self.variance}


class Multinomial(Likelihood):
    r"""A multinomial over a vocabulary of V words on logits: the bag-of-words likelihood (NVDM, Miao et al. 2016),

        log p(x|z) = sum_w x_w log softmax(l)_w = x . l - N LSE(l),   N = sum_w x_w

    x holds word counts (n_docs, V): non-negative integers, as a dense array or a scipy.sparse matrix (kept as
    CSR: the first layer is then a sparse product and the x-weighted sums visit the nonzeros only). The
    multinomial coefficient log N! - sum_w log x_w!, a constant of the data, is not included: the numbers are
    log-probabilities of the document's words in a given order, what per-word perplexities use. ``decode`` /
    ``sample`` / ``reconstruct`` return softmax(l), the distribution of one word (the mean of a one-word
    document; of N words, N times it). Formulas: ``ops.multinomial_nll`` / ``_nll_grad`` (and ``_csr``);
    docs/derivations.md#multinomial.
    """

    name = "multinomial"
    accepts_sparse = True

    def check_data(self, x: np.ndarray | csr_matrix, argname: str = "x") -> None:
        check_counts(argname, x)

    def nll(self, x: np.ndarray | csr_matrix, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        check_blocks(x, out)
        nll = ws.array("nll", (out.shape[0],), out.dtype)
        if is_sparse(x):
            kern.multinomial_nll_csr(*ops.csr_parts(x), out, nll)
        else:
            kern.multinomial_nll(x, out, nll)
        return nll

    def nll_grad(self, x: np.ndarray | csr_matrix, out: np.ndarray, params: dict[str, np.ndarray],
                 scale: float | np.ndarray, kern: ModuleType, ws: ArraySource = FRESH
                 ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        check_blocks(x, out)
        nll, grad_out = ws.array("nll", (out.shape[0],), out.dtype), ws.array("grad_out", out.shape, out.dtype)
        scale = row_scale(scale, out.shape[0], ws)
        if is_sparse(x):
            kern.multinomial_nll_grad_csr(*ops.csr_parts(x), out, scale, nll, grad_out)
        else:
            kern.multinomial_nll_grad(x, out, scale, nll, grad_out)
        return nll, grad_out, {}

    def log_weights(self, x: np.ndarray | csr_matrix, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray,
                    z: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH
                    ) -> np.ndarray:
        """-nll + log p(z) - log q(z|x): the value kernel, then ``ops.log_pz_minus_log_qz`` (L terms a row)."""
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        np.subtract(ops.log_pz_minus_log_qz(mu_logvar, eps, z), self.nll(x, out, params, kern, ws).reshape(log_w.shape),
                    out=log_w)
        return log_w

    def log_prob(self, x: np.ndarray | csr_matrix, out: np.ndarray, params: dict[str, np.ndarray],
                 kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        shape = out.shape
        return np.negative(self.nll(x, out.reshape(-1, shape[-1]), params, kern, ws)).reshape(shape[:-1])

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        return scipy.special.softmax(out.astype(np.float64), axis=-1).astype(out.dtype)


LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli", "multinomial")


def make_likelihood(likelihood: str | Likelihood = "bernoulli", variance: float | None = None) -> Likelihood:
    """Build a likelihood from its name: ``"bernoulli"``, ``"continuous_bernoulli"``, ``"gaussian"``
    (``variance=None`` learns it) or ``"multinomial"``."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    choice("likelihood", likelihood, LIKELIHOODS)
    if likelihood in ("bernoulli", "continuous_bernoulli", "multinomial"):
        if variance is not None:
            finite_float("variance", variance)   # a variance of the wrong type is a TypeError here too
            raise ValueError("variance applies only to likelihood='gaussian'")
        return {"bernoulli": Bernoulli, "continuous_bernoulli": ContinuousBernoulli,
                "multinomial": Multinomial}[likelihood]()
    if likelihood == "gaussian":
        return Gaussian(variance)
    raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
