r"""The decoder's distribution p(x|z): -log p(x|z) per example and its gradient, one family at a time.

Each likelihood reads the decoder's last dense output ``out`` (batch, n_input) as its parameter:

==============================  ==========================  ======================================
likelihood                      ``out`` means               extra parameters
==============================  ==========================  ======================================
``Bernoulli()``                 logits l, p = sigmoid(l)    none
``ContinuousBernoulli()``       logits l, on [0, 1]         none
``Gaussian(variance=s2)``       mean m, fixed variance      none (log s2 is a constant)
``Gaussian()`` (learned)        mean m                      ``decoder.logvar`` (n_input,), shared
                                                            by all examples, initialised to 0
``Multinomial()``               logits l over the words     none (x: word counts, dense or CSR)
==============================  ==========================  ======================================

The formulas live in ``ops.bernoulli_nll`` / ``ops.bernoulli_nll_grad``, ``ops.continuous_bernoulli_nll`` /
``ops.continuous_bernoulli_nll_grad``, ``ops.gaussian_nll`` / ``ops.gaussian_nll_grad`` and
``ops.multinomial_nll`` / ``ops.multinomial_nll_grad`` (with ``_csr`` variants for sparse counts), and their Cython
twins; each NumPy ``*_nll_grad`` computes its value with the ``*_nll`` beside it; derivations in
docs/derivations.md#bernoulli, #continuous-bernoulli, #gaussian and #multinomial. Training calls
``nll_grad``; evaluation (``log_prob``) and the IWAE training step's weights call ``nll``, the same formula
without the gradient; the IWAE estimate of log p(x) calls ``log_weights``.

The seam: a likelihood is an object with the attributes ``name`` and ``accepts_sparse`` and the methods
``extra_shapes``, ``extra_params``, ``check_data``, ``nll``, ``nll_grad``, ``log_weights``, ``log_prob``, ``mean``
and ``config`` (the ``Likelihood`` interface below); ``VAE`` holds one as ``model.likelihood``, and it and
``purevae.objectives`` use nothing else of it. Arrays come from the workspace ``ws`` (``purevae.workspace``).
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
        """Return the names and shapes of the trainable parameters the likelihood adds to the model.

        Parameters
        ----------
        n_input : int
            The number of pixels (or words) of an example.

        Returns
        -------
        dict of str to tuple of int
            Parameter name -> shape; empty here: the interface adds no parameter.
        """
        return {}

    def extra_params(self, n_input: int, dtype: np.dtype) -> dict[str, np.ndarray]:
        """Return the trainable parameters the likelihood adds to the model, initialised to zeros.

        Parameters
        ----------
        n_input : int
            The number of pixels (or words) of an example.
        dtype : numpy.dtype
            The dtype of the arrays (the model's).

        Returns
        -------
        dict of str to ndarray
            Parameter name -> a new array of zeros of the shape ``extra_shapes(n_input)`` gives it.
        """
        return {name: np.zeros(shape, dtype) for name, shape in self.extra_shapes(n_input).items()}

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        """Raise ValueError when x is outside the support of p(x|z); the interface itself accepts every x.

        Parameters
        ----------
        x : ndarray, shape (n, n_input)
            The data, already validated as an array of the model's dtype (``VAE.check_input``).
        argname : str, default "x"
            The name the error message gives to x.

        Raises
        ------
        ValueError
            In a subclass, when a value of x lies outside the support.
        """

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        """Return nll_r = -log p(x | out_r), shape (rows,), for validated C-ordered 2-d arrays.

        The value of ``nll_grad`` without the gradient (evaluation, and the IWAE bound's weights before
        its backward pass). ``out`` may hold k blocks of x's B rows (rows = k B, row i B + b goes with
        x[b]: the k samples of z per example); the kernels pair them, so x is never copied k times.

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output, C-contiguous: k blocks of B rows (rows = k B).
        params : dict of str to ndarray
            The model's parameters (a learned Gaussian reads ``decoder.logvar`` from them).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"nll"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.

        Raises
        ------
        ValueError
            In a subclass, when out does not hold whole blocks of x's rows.
        NotImplementedError
            Here: a subclass implements it.
        """
        raise NotImplementedError

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Return nll (rows,), grad_out (rows, n_input) and the extra parameters' gradients, for validated arrays.

        nll_r = -log p(x | out_r); grad_out_r = scale_r * d nll_r / d out_r, and the extra parameters'
        gradients are the scale-weighted sums over rows. ``out`` may hold k blocks of x's rows, as in ``nll``.

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output, C-contiguous: k blocks of B rows (rows = k B).
        params : dict of str to ndarray
            The model's parameters (a learned Gaussian reads ``decoder.logvar`` from them).
        scale : float or ndarray
            Each row's weight in the loss: one float for every row (1 / (k B) for the ELBO's mean over the
            rows) or a float64 (rows,) array (the IWAE bound's normalised weights / B).
        kern : module
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays (``"nll"``, ``"grad_out"``, ...), overwritten by its next use.

        Returns
        -------
        nll : ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.
        grad_out : ndarray, shape (rows, n_input)
            The gradient scale_r * d nll_r / d out_r, of out's dtype.
        grad_extra : dict of str to ndarray
            The gradient of each extra parameter (``extra_shapes``); empty when there is none.

        Raises
        ------
        ValueError
            In a subclass, when out does not hold whole blocks of x's rows.
        NotImplementedError
            Here: a subclass implements it.
        """
        raise NotImplementedError

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        """Return log w = log p(x|z) + log p(z) - log q(z|x), float64 (s, B), in one fused kernel (evaluation).

        x (B, n_input); out (s B, n_input), the decoder's output at z (s, B, L) = mu + e^(logvar/2) eps;
        mu_logvar (B, 2 L). docs/derivations.md#iwae.

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, C-contiguous and of out's dtype.
        out : ndarray, shape (s B, n_input)
            The decoder's output at z, row i B + b at z[i, b].
        mu_logvar : ndarray, shape (B, 2 L)
            The encoder's output [mu | logvar].
        eps : ndarray, shape (s, B, L)
            The standard normal noise.
        z : ndarray, shape (s, B, L)
            The samples, z = mu + e^(logvar/2) eps.
        params : dict of str to ndarray
            The model's parameters (a learned Gaussian reads ``decoder.logvar`` from them).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"log_w"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (s, B)
            The log-weight log w[i, b] of sample i of example b, float64.

        Raises
        ------
        ValueError
            In a subclass, when out does not hold whole blocks of x's rows.
        NotImplementedError
            Here: a subclass implements it.
        """
        raise NotImplementedError

    def log_prob(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
                 ws: ArraySource = FRESH) -> np.ndarray:
        """Return log p(x|z) summed over pixels, shape out.shape[:-1] (any leading dimensions).

        Minus ``nll``, the value kernel of the same twin (``kern``, default the NumPy one) whose formula
        ``nll_grad`` shares: evaluation and training use one formula. x and out: the same dtype and C
        order, and either the same shape or x of shape (B, n_input) with out (..., B, n_input) (x goes
        with every block of B rows).

        Parameters
        ----------
        x : ndarray, shape (B, n_input) or out's shape
            The data, C-contiguous and of out's dtype.
        out : ndarray, shape (..., B, n_input)
            The decoder's output, C-contiguous.
        params : dict of str to ndarray
            The model's parameters (a learned Gaussian reads ``decoder.logvar`` from them).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"nll"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape out.shape[:-1]
            The values log p(x|z), in nats, of out's dtype.

        Raises
        ------
        ValueError
            When x's rows do not pair with out's (``nll``).

        Notes
        -----
        Derivations: docs/derivations.md#bernoulli, docs/derivations.md#continuous-bernoulli,
        docs/derivations.md#gaussian, docs/derivations.md#multinomial.
        """
        shape = out.shape
        x2, out2 = x.reshape(-1, shape[-1]), out.reshape(-1, shape[-1])
        nll = self.nll(x2, out2, params, kern, ws)
        return np.negative(nll).reshape(shape[:-1])

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """Return the mean of p(x|z), shape of out.

        Parameters
        ----------
        out : ndarray, shape (..., n_input)
            The decoder's output.
        params : dict of str to ndarray
            The model's parameters.

        Returns
        -------
        ndarray
            The mean, of out's shape.

        Raises
        ------
        NotImplementedError
            Here: a subclass implements it.
        """
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Return a JSON-able description, so that ``make_likelihood(**config)`` rebuilds the likelihood.

        Returns
        -------
        dict of str to Any
            ``{"likelihood": name}``.
        """
        return {"likelihood": self.name}


class Bernoulli(Likelihood):
    r"""Independent Bernoulli pixels on logits: log p(x|z) = sum_j x_j l_j - log(1 + e^l_j).

    Targets may be any value in [0, 1] (grey images), the usual cross-entropy setup of VAE papers;
    for grey targets this is then a cross-entropy, not a normalised density over grey values.
    """

    name = "bernoulli"

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        """Raise ValueError unless every value of x lies in [0, 1] (grey values allowed).

        Parameters
        ----------
        x : ndarray, shape (n, n_input)
            The data, already validated as an array of the model's dtype (``VAE.check_input``).
        argname : str, default "x"
            The name the error message gives to x.

        Raises
        ------
        ValueError
            When a value of x is below 0 or above 1.
        """
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"{argname} must lie in [0, 1] for the Bernoulli likelihood, "
                             f"found values in [{x.min()}, {x.max()}] (scale pixels with purevae.data.scale_pixels)")

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        r"""Return nll_r = sum_j log(1 + e^l_rj) - x_bj l_rj per row, b = r mod B (``kern.bernoulli_nll``).

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The targets, values in [0, 1], C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the logits l), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (not used).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"nll"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#bernoulli.
        """
        check_blocks(x, out)
        nll = ws.array("nll", (out.shape[0],), out.dtype)
        kern.bernoulli_nll(x, out, nll)
        return nll

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        r"""Return nll_r and grad_out_r = scale_r * (sigmoid(l_r) - x_b) per row (``kern.bernoulli_nll_grad``).

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The targets, values in [0, 1], C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the logits l), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (not used).
        scale : float or ndarray
            Each row's weight in the loss: one float for every row, or a float64 (rows,) array.
        kern : module
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays (``"nll"``, ``"grad_out"``, ``"scale"``), overwritten by its next use.

        Returns
        -------
        nll : ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.
        grad_out : ndarray, shape (rows, n_input)
            The gradient scale_r * d nll_r / d out_r, of out's dtype.
        grad_extra : dict of str to ndarray
            Empty: the Bernoulli has no extra parameter.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#bernoulli.
        """
        check_blocks(x, out)
        nll, grad_out = ws.array("nll", (out.shape[0],), out.dtype), ws.array("grad_out", out.shape, out.dtype)
        kern.bernoulli_nll_grad(x, out, row_scale(scale, out.shape[0], ws), nll, grad_out)
        return nll, grad_out, {}

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        r"""Return log w = log p(x|z) + log p(z) - log q(z|x), float64 (s, B) (``kern.bernoulli_log_weights``).

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The targets, values in [0, 1], C-contiguous and of out's dtype.
        out : ndarray, shape (s B, n_input)
            The decoder's output (logits) at z, row i B + b at z[i, b].
        mu_logvar : ndarray, shape (B, 2 L)
            The encoder's output [mu | logvar].
        eps : ndarray, shape (s, B, L)
            The standard normal noise.
        z : ndarray, shape (s, B, L)
            The samples, z = mu + e^(logvar/2) eps.
        params : dict of str to ndarray
            The model's parameters (not used).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"log_w"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (s, B)
            The log-weight log w[i, b] of sample i of example b, float64.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#iwae.
        """
        check_blocks(x, out)
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        kern.bernoulli_log_weights(x, out, mu_logvar, eps, z, log_w)
        return log_w

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        r"""Return the mean of p(x|z), sigmoid(out), elementwise.

        Parameters
        ----------
        out : ndarray, shape (..., n_input)
            The decoder's output.
        params : dict of str to ndarray
            The model's parameters (not used).

        Returns
        -------
        ndarray
            The mean sigmoid(out), of out's shape and dtype.
        """
        return scipy.special.expit(out)


class ContinuousBernoulli(Likelihood):
    r"""The continuous Bernoulli on logits (Loaiza-Ganem & Cunningham 2019): a normalised density on [0, 1].

    Its log-density::

        log p(x|z) = sum_j x_j l_j - softplus(l_j) + log C(l_j),   C(l) = l / tanh(l / 2)   (C(0) = 2)

    is the Bernoulli cross-entropy plus the log-normaliser that makes it a density over grey values, so the
    numbers are proper log-densities (they may be positive: a density can exceed 1). Its mean, what
    ``decode``/``sample``/``reconstruct`` return, is sigmoid(l) - (1/l - 1/sinh(l)) (``ops.cb_mean``), not
    lambda = sigmoid(l). Formulas: ``ops.continuous_bernoulli_nll`` / ``_nll_grad``;
    docs/derivations.md#continuous-bernoulli.
    """

    name = "continuous_bernoulli"

    def check_data(self, x: np.ndarray, argname: str = "x") -> None:
        """Raise ValueError unless every value of x lies in [0, 1], the support of the density.

        Parameters
        ----------
        x : ndarray, shape (n, n_input)
            The data, already validated as an array of the model's dtype (``VAE.check_input``).
        argname : str, default "x"
            The name the error message gives to x.

        Raises
        ------
        ValueError
            When a value of x is below 0 or above 1.
        """
        if x.size and (x.min() < 0 or x.max() > 1):
            raise ValueError(f"{argname} must lie in [0, 1] for the continuous Bernoulli likelihood, found values "
                             f"in [{x.min()}, {x.max()}] (scale pixels with purevae.data.scale_pixels)")

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        r"""Return nll_r = -sum_j (x_bj l_rj - softplus(l_rj) + log C(l_rj)) per row, b = r mod B.

        The kernel is ``kern.continuous_bernoulli_nll``; nll_r may be negative (a density can exceed 1).

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, values in [0, 1], C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the logits l), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (not used).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"nll"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#continuous-bernoulli.
        """
        check_blocks(x, out)
        nll = ws.array("nll", (out.shape[0],), out.dtype)
        kern.continuous_bernoulli_nll(x, out, nll)
        return nll

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        r"""Return nll_r and grad_out_r = scale_r * d nll_r / d l_r per row (``kern.continuous_bernoulli_nll_grad``).

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, values in [0, 1], C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the logits l), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (not used).
        scale : float or ndarray
            Each row's weight in the loss: one float for every row, or a float64 (rows,) array.
        kern : module
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays (``"nll"``, ``"grad_out"``, ``"scale"``), overwritten by its next use.

        Returns
        -------
        nll : ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.
        grad_out : ndarray, shape (rows, n_input)
            The gradient scale_r * d nll_r / d out_r, of out's dtype.
        grad_extra : dict of str to ndarray
            Empty: the continuous Bernoulli has no extra parameter.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#continuous-bernoulli.
        """
        check_blocks(x, out)
        nll, grad_out = ws.array("nll", (out.shape[0],), out.dtype), ws.array("grad_out", out.shape, out.dtype)
        kern.continuous_bernoulli_nll_grad(x, out, row_scale(scale, out.shape[0], ws), nll, grad_out)
        return nll, grad_out, {}

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        r"""Return log w = log p(x|z) + log p(z) - log q(z|x), float64 (s, B), in one fused kernel.

        The kernel is ``kern.continuous_bernoulli_log_weights``.

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, values in [0, 1], C-contiguous and of out's dtype.
        out : ndarray, shape (s B, n_input)
            The decoder's output (logits) at z, row i B + b at z[i, b].
        mu_logvar : ndarray, shape (B, 2 L)
            The encoder's output [mu | logvar].
        eps : ndarray, shape (s, B, L)
            The standard normal noise.
        z : ndarray, shape (s, B, L)
            The samples, z = mu + e^(logvar/2) eps.
        params : dict of str to ndarray
            The model's parameters (not used).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"log_w"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (s, B)
            The log-weight log w[i, b] of sample i of example b, float64.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#continuous-bernoulli.
        """
        check_blocks(x, out)
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        kern.continuous_bernoulli_log_weights(x, out, mu_logvar, eps, z, log_w)
        return log_w

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        r"""Return the mean of p(x|z), sigmoid(l) - (1/l - 1/sinh(l)) (``ops.cb_mean``), elementwise.

        Parameters
        ----------
        out : ndarray, shape (..., n_input)
            The decoder's output.
        params : dict of str to ndarray
            The model's parameters (not used).

        Returns
        -------
        ndarray
            The mean, in (0, 1), of out's shape and dtype (computed in float64).

        Notes
        -----
        Derivation: docs/derivations.md#continuous-bernoulli.
        """
        return ops.cb_mean(out).astype(out.dtype)


class Gaussian(Likelihood):
    r"""Independent Gaussian pixels: log p(x|z) = -0.5 sum_j (log 2 pi + logvar_j + (x_j - m_j)^2 e^-logvar_j).

    Parameters
    ----------
    variance : float or None
        A fixed variance shared by every pixel, or None (default) to learn a per-pixel log-variance
        ``decoder.logvar`` of shape (n_input,), shared by all examples and initialised to 0 (variance 1).

    Raises
    ------
    TypeError
        When variance is not None and not a real number (a str, a bool).
    ValueError
        When variance is not finite, not > 0, or its log lies outside [-LOGVAR_LIMIT, LOGVAR_LIMIT] = [-30, 30]
        (log-variances are clamped to that range).

    Notes
    -----
    Derivation: docs/derivations.md#gaussian.
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
        """Whether the log-variance is a trained parameter, ``decoder.logvar`` (``variance`` is None)."""
        return self.variance is None

    def extra_shapes(self, n_input: int) -> dict[str, tuple[int, ...]]:
        """Return the names and shapes of the trainable parameters the likelihood adds to the model.

        Parameters
        ----------
        n_input : int
            The number of pixels of an example.

        Returns
        -------
        dict of str to tuple of int
            ``{"decoder.logvar": (n_input,)}`` when the variance is learned, else empty.
        """
        return {"decoder.logvar": (n_input,)} if self.learned else {}     # initialised to 0: unit variance

    def _logvar(self, params: dict[str, np.ndarray], n_input: int, dtype: DTypeLike) -> np.ndarray:
        if self.learned:
            return params["decoder.logvar"]
        assert self.variance is not None   # not learned: a fixed variance
        return np.full(n_input, np.log(self.variance), dtype=dtype)

    def nll(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        r"""Return nll_r = 0.5 sum_j (log 2 pi + logvar_j + (x_bj - m_rj)^2 e^-logvar_j) per row, b = r mod B.

        The kernel is ``kern.gaussian_nll``; logvar is ``decoder.logvar`` when learned, else log(variance), clamped
        to [-30, 30] (``LOGVAR_LIMIT``).

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the means m), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (a learned variance reads ``decoder.logvar``, (n_input,), from them).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"nll"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#gaussian.
        """
        check_blocks(x, out)
        nll = ws.array("nll", (out.shape[0],), out.dtype)
        kern.gaussian_nll(x, out, self._logvar(params, out.shape[1], out.dtype), nll)
        return nll

    def nll_grad(self, x: np.ndarray, out: np.ndarray, params: dict[str, np.ndarray], scale: float | np.ndarray,
                 kern: ModuleType, ws: ArraySource = FRESH) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        r"""Return nll_r, grad_out_r = scale_r * (m_r - x_b) e^-logvar and the log-variance's gradient, when learned.

        The kernel is ``kern.gaussian_nll_grad``.

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, C-contiguous and of out's dtype.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the means m), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (a learned variance reads ``decoder.logvar``, (n_input,), from them).
        scale : float or ndarray
            Each row's weight in the loss: one float for every row, or a float64 (rows,) array.
        kern : module
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays (``"nll"``, ``"grad_out"``, ``"decoder.logvar.grad"``, ``"scale"``), overwritten by its next use.

        Returns
        -------
        nll : ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.
        grad_out : ndarray, shape (rows, n_input)
            The gradient scale_r * d nll_r / d out_r, of out's dtype.
        grad_extra : dict of str to ndarray
            ``{"decoder.logvar": grad_logvar}`` (n_input,), sum_r scale_r * d nll_r / d logvar, of out's dtype,
            when the variance is learned; else empty.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#gaussian.
        """
        check_blocks(x, out)
        logvar = self._logvar(params, out.shape[1], out.dtype)
        nll, grad_out = ws.array("nll", (out.shape[0],), out.dtype), ws.array("grad_out", out.shape, out.dtype)
        grad_logvar = ws.array("decoder.logvar.grad", logvar.shape, out.dtype)
        kern.gaussian_nll_grad(x, out, logvar, row_scale(scale, out.shape[0], ws), nll, grad_out, grad_logvar)
        return nll, grad_out, ({"decoder.logvar": grad_logvar} if self.learned else {})

    def log_weights(self, x: np.ndarray, out: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                    params: dict[str, np.ndarray], kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        r"""Return log w = log p(x|z) + log p(z) - log q(z|x), float64 (s, B) (``kern.gaussian_log_weights``).

        Parameters
        ----------
        x : ndarray, shape (B, n_input)
            The data, C-contiguous and of out's dtype.
        out : ndarray, shape (s B, n_input)
            The decoder's output (means) at z, row i B + b at z[i, b].
        mu_logvar : ndarray, shape (B, 2 L)
            The encoder's output [mu | logvar].
        eps : ndarray, shape (s, B, L)
            The standard normal noise.
        z : ndarray, shape (s, B, L)
            The samples, z = mu + e^(logvar/2) eps.
        params : dict of str to ndarray
            The model's parameters (a learned variance reads ``decoder.logvar``, (n_input,), from them).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"log_w"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (s, B)
            The log-weight log w[i, b] of sample i of example b, float64.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#iwae.
        """
        check_blocks(x, out)
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        kern.gaussian_log_weights(x, out, self._logvar(params, out.shape[1], out.dtype), mu_logvar, eps, z, log_w)
        return log_w

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        r"""Return the mean of p(x|z): ``out`` itself.

        Parameters
        ----------
        out : ndarray, shape (..., n_input)
            The decoder's output.
        params : dict of str to ndarray
            The model's parameters (not used).

        Returns
        -------
        ndarray
            ``out``, the same array (not a copy).
        """
        return out

    def config(self) -> dict[str, Any]:
        """Return a JSON-able description, so that ``make_likelihood(**config)`` rebuilds the likelihood.

        Returns
        -------
        dict of str to Any
            ``{"likelihood": "gaussian", "variance": variance}``, variance a float or None (learned).
        """
        return {"likelihood": self.name, "variance": self.variance}


class Multinomial(Likelihood):
    r"""A multinomial over a vocabulary of V words on logits: the bag-of-words likelihood (NVDM, Miao et al. 2016).

    Its log-probability::

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
        """Raise ValueError unless every value of x (or every stored value of a CSR x) is a word count.

        Parameters
        ----------
        x : ndarray or scipy.sparse.csr_matrix, shape (n, n_input)
            The data, already validated as an array of the model's dtype (``VAE.check_input``).
        argname : str, default "x"
            The name the error message gives to x.

        Raises
        ------
        ValueError
            When a value is negative or not an integer (``validation.check_counts``).
        """
        check_counts(argname, x)

    def nll(self, x: np.ndarray | csr_matrix, out: np.ndarray, params: dict[str, np.ndarray], kern: ModuleType = ops,
            ws: ArraySource = FRESH) -> np.ndarray:
        r"""Return nll_r = N_b LSE(l_r) - x_b . l_r per row, b = r mod B, without the multinomial coefficient.

        The kernel is ``kern.multinomial_nll``, or ``kern.multinomial_nll_csr`` for a CSR x.

        Parameters
        ----------
        x : ndarray or scipy.sparse.csr_matrix, shape (B, n_input)
            The word counts, dense (C-contiguous, of out's dtype) or canonical CSR.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the logits l), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (not used).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"nll"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#multinomial.
        """
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
        r"""Return nll_r and grad_out_r = scale_r * (N_b softmax(l_r) - x_b) per row, b = r mod B.

        The kernel is ``kern.multinomial_nll_grad``, or ``kern.multinomial_nll_grad_csr`` for a CSR x.

        Parameters
        ----------
        x : ndarray or scipy.sparse.csr_matrix, shape (B, n_input)
            The word counts, dense (C-contiguous, of out's dtype) or canonical CSR.
        out : ndarray, shape (rows, n_input)
            The decoder's output (the logits l), C-contiguous: k blocks of B rows (rows = k B), row i B + b paired
            with x[b].
        params : dict of str to ndarray
            The model's parameters (not used).
        scale : float or ndarray
            Each row's weight in the loss: one float for every row, or a float64 (rows,) array.
        kern : module
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays (``"nll"``, ``"grad_out"``, ``"scale"``), overwritten by its next use.

        Returns
        -------
        nll : ndarray, shape (rows,)
            The values nll_r, in nats, of out's dtype.
        grad_out : ndarray, shape (rows, n_input)
            The gradient scale_r * d nll_r / d out_r, of out's dtype.
        grad_extra : dict of str to ndarray
            Empty: the multinomial has no extra parameter.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#multinomial.
        """
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
        r"""Return log w = -nll + log p(z) - log q(z|x): the value kernel, then ``ops.log_pz_minus_log_qz``.

        No fused kernel: ``nll`` (dense or CSR counts), then the L terms a row of log p(z) - log q(z|x).

        Parameters
        ----------
        x : ndarray or scipy.sparse.csr_matrix, shape (B, V)
            The word counts, dense (C-contiguous, of out's dtype) or canonical CSR.
        out : ndarray, shape (s B, V)
            The decoder's output (logits) at z, row i B + b at z[i, b].
        mu_logvar : ndarray, shape (B, 2 L)
            The encoder's output [mu | logvar].
        eps : ndarray, shape (s, B, L)
            The standard normal noise.
        z : ndarray, shape (s, B, L)
            The samples, z = mu + e^(logvar/2) eps.
        params : dict of str to ndarray
            The model's parameters (not used).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays (``"log_w"``, ``"nll"``), overwritten by its next use.

        Returns
        -------
        ndarray, shape (s, B)
            The log-weight log w[i, b] of sample i of example b, float64.

        Raises
        ------
        ValueError
            When out does not hold whole blocks of x's rows.

        Notes
        -----
        Derivation: docs/derivations.md#iwae.
        """
        log_w = ws.array("log_w", eps.shape[:2], np.float64)
        np.subtract(ops.log_pz_minus_log_qz(mu_logvar, eps, z), self.nll(x, out, params, kern, ws).reshape(log_w.shape),
                    out=log_w)
        return log_w

    def log_prob(self, x: np.ndarray | csr_matrix, out: np.ndarray, params: dict[str, np.ndarray],
                 kern: ModuleType = ops, ws: ArraySource = FRESH) -> np.ndarray:
        """Return log p(x|z) summed over the words, shape out.shape[:-1]: minus ``nll``.

        As ``Likelihood.log_prob``, except that x is never reshaped (a CSR matrix cannot be): it has shape
        (B, V), and out (..., B, V) is read as blocks of B rows paired with x.

        Parameters
        ----------
        x : ndarray or scipy.sparse.csr_matrix, shape (B, V)
            The word counts, dense (C-contiguous, of out's dtype) or canonical CSR.
        out : ndarray, shape (..., B, V)
            The decoder's output (logits), C-contiguous.
        params : dict of str to ndarray
            The model's parameters (not used).
        kern : module, default purevae.ops
            The kernel module: ``purevae.ops`` (NumPy) or ``purevae._kernels`` (Cython), as ``backend.kernels()``
            returns it.
        ws : ArraySource, default FRESH
            Where the results come from (``purevae.workspace``): new arrays (``FRESH``), or a ``Workspace``'s
            arrays ``"nll"``, overwritten by its next use.

        Returns
        -------
        ndarray, shape out.shape[:-1]
            The values log p(x|z), in nats, without the multinomial coefficient, of out's dtype.

        Raises
        ------
        ValueError
            When out's rows do not hold whole blocks of x's.

        Notes
        -----
        Derivation: docs/derivations.md#multinomial.
        """
        shape = out.shape
        return np.negative(self.nll(x, out.reshape(-1, shape[-1]), params, kern, ws)).reshape(shape[:-1])

    def mean(self, out: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
        """Return softmax(out) over the last axis: the distribution of one word (the mean of a one-word document).

        Parameters
        ----------
        out : ndarray, shape (..., V)
            The decoder's output, logits over the vocabulary.
        params : dict of str to ndarray
            The model's parameters (not used).

        Returns
        -------
        ndarray
            The probabilities softmax(out) along the last axis, of out's shape and dtype (computed in float64).
        """
        return scipy.special.softmax(out.astype(np.float64), axis=-1).astype(out.dtype)


LIKELIHOODS = ("bernoulli", "gaussian", "continuous_bernoulli", "multinomial")


def make_likelihood(likelihood: str | Likelihood = "bernoulli", variance: float | None = None) -> Likelihood:
    """Build a likelihood from its name, or return a given ``Likelihood`` as it is.

    Parameters
    ----------
    likelihood : str or Likelihood, default "bernoulli"
        ``"bernoulli"``, ``"continuous_bernoulli"``, ``"gaussian"`` or ``"multinomial"`` (``LIKELIHOODS``), or a
        ``Likelihood`` instance, returned unchanged (``variance`` is then not looked at).
    variance : float or None, default None
        ``"gaussian"`` only: a fixed variance shared by every pixel, or None to learn it (``Gaussian``).

    Returns
    -------
    Likelihood
        A new ``Bernoulli``, ``ContinuousBernoulli``, ``Gaussian`` or ``Multinomial``, or ``likelihood`` itself.

    Raises
    ------
    TypeError
        When likelihood is neither a str nor a ``Likelihood``, or variance is neither None nor a real number.
    ValueError
        When likelihood is not one of ``LIKELIHOODS``; when a variance is given for another likelihood than
        ``"gaussian"``; when ``Gaussian`` refuses the variance (not finite, not > 0, log outside [-30, 30]).
    """
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
