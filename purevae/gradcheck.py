r"""Central-difference gradient checker for a whole VAE, public: ``purevae.gradcheck(model, x, eps=eps)``.

For every parameter entry theta_i checked::

    numeric_i  = (8 (L(+h) - L(-h)) - (L(+2h) - L(-2h))) / (12 h)        (L(d) = loss(theta + d e_i))
    rel_err_i  = |analytic_i - numeric_i| / max(|analytic_i| + |numeric_i|, 1e-12)

always in float64 (a float32 model is checked through a float64 copy: the round-off of float32,
u ~ 6e-8, would swamp the difference). The noise eps is fixed for every evaluation, so the loss is
a deterministic function of the parameters. Derivation of the step size: docs/derivations.md#numerics.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .typing import ArrayLike, DataLike, FloatArray, IntArray
from .validation import finite_float, positive_int
from .validation import seed as check_seed
from .workspace import Workspace

if TYPE_CHECKING:      # for the annotations only: gradcheck sits below purevae.model and never imports it
    from .model import VAE

__all__ = ["gradcheck", "numeric_gradient", "relative_error", "format_table"]


def relative_error(analytic: ArrayLike, numeric: ArrayLike, floor: float = 1e-12) -> FloatArray:
    r"""Return ``|a - n| / max(|a| + |n|, floor)``, elementwise.

    The measure of the gradient check (docs/derivations.md#gradient-check): a is the analytic gradient, n the
    numeric one.

    Parameters
    ----------
    analytic : array_like
        The analytic gradient a.
    numeric : array_like
        The numeric gradient n; it broadcasts against analytic.
    floor : float, optional
        The smallest denominator (default 1e-12), so that a = n = 0 gives 0.

    Returns
    -------
    ndarray float64
        The relative error, of the broadcast shape of analytic and numeric.
    """
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)


def numeric_gradient(f: Callable[[], float], array: np.ndarray, indices: Sequence[int] | IntArray, h: float = 1e-4
                     ) -> FloatArray:
    r"""Compute fourth-order central differences of the scalar f() w.r.t. array.flat[i] for i in indices.

    ::

        g_i ~= (8 (f(+h) - f(-h)) - (f(+2h) - f(-2h))) / (12 h)      truncation error O(h^4 f^(5))

    Cancelling the h^2 term of the plain (f(+h) - f(-h)) / 2h lets h be large (1e-4), which shrinks
    the round-off error ``u |f| / h``; so even gradient entries of 1e-5 come out with ~1e-7 relative error.
    ``array`` is changed in place during the evaluation and restored, also when f raises.

    Parameters
    ----------
    f : callable
        Takes no argument and returns the scalar (float) computed from the current ``array``.
    array : ndarray
        The array differentiated against, C-contiguous: its entries are moved through ``array.reshape(-1)``,
        which must be a view of it.
    indices : sequence of int or ndarray of int
        The flat indices i of the entries to differentiate.
    h : float, optional
        The step (default 1e-4).

    Returns
    -------
    ndarray float64, shape (len(indices),)
        The numeric derivative g_i of each entry.

    Raises
    ------
    TypeError
        If ``array`` is not a NumPy array.
    ValueError
        If ``array`` is not C-contiguous or not writeable (a perturbation through a copy would never reach
        f, and every derivative would silently come out 0).

    Notes
    -----
    Derivation: docs/derivations.md#gradient-check (the step size: docs/derivations.md#numerics)
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"array must be a numpy.ndarray, got {type(array).__name__}")
    if not (array.flags.c_contiguous and array.flags.writeable):
        raise ValueError("array must be C-contiguous and writeable: its entries are perturbed in place "
                         "through array.reshape(-1), which must be a view of it")
    flat = array.reshape(-1)  # a view: array is C-contiguous
    out = np.empty(len(indices))
    for j, i in enumerate(indices):
        original = flat[i]
        values = []
        try:
            for step in (h, -h, 2 * h, -2 * h):
                flat[i] = original + step
                values.append(f())
        finally:
            flat[i] = original
        out[j] = (8 * (values[0] - values[1]) - (values[2] - values[3])) / (12 * h)
    return out


def gradcheck(model: VAE, x: DataLike, eps: ArrayLike | None = None, beta: float = 1.0, h: float = 1e-4,
              max_entries: int = 200, seed: int = 0, *, y: ArrayLike | None = None, objective: str = "elbo",
              k: int | None = None, free_bits: float = 0.0) -> OrderedDict[str, float]:
    r"""Return the max relative error between ``loss_and_grads`` and central differences, per parameter name.

    Parameters
    ----------
    model : VAE
        Checked through a float64 copy (``VAE.astype``); the model itself is not modified.
    x : array_like or scipy.sparse matrix, shape (batch, n_input)
        The batch the loss is computed on (validated by ``VAE.check_input``).
    eps : array_like, shape (batch, n_latent) or (k, batch, n_latent), optional
        Fixed noise; drawn once from ``seed`` when omitted ((k, batch, n_latent) when k is given).
    beta : float, optional
        KL weight of the loss being checked (>= 0, default 1).
    h : float, optional
        Step of the fourth-order central difference (> 0, default 1e-4; see ``numeric_gradient``). The step
        must not cross a kink of relu / leaky_relu: keep every hidden pre-activation farther than
        ``2 h |x|`` from 0.
    max_entries : int, optional
        Entries checked per parameter (>= 1, default 200): all of them when the parameter has at most this
        many, otherwise a random subset drawn from ``seed``.
    seed : int, optional
        Seeds the draw of eps and of the subsets of entries (an int >= 0, default 0).
    y : array_like of int, shape (batch,), or int, optional
        The labels of a conditional model (``VAE(n_classes=C)``); its ``label_weight`` rows are checked too.
    objective : {"elbo", "iwae"}, optional
        The loss being checked (``VAE.loss_and_grads``); default "elbo".
    k : int, optional
        Samples per example (>= 1) when eps is drawn here; must agree with eps when both are given.
    free_bits : float, optional
        The free-bits floor of the loss being checked ("elbo" only; >= 0, default 0); keep every KL_j away
        from it (a kink).

    Returns
    -------
    OrderedDict[str, float]
        Parameter name -> max relative error, in the order of ``model.params``. A well-implemented gradient
        gives ~1e-8 or less; above 1e-6 means a bug, a kink of relu hit by the step h, or an entry too small
        to resolve: the differences carry an absolute round-off of roughly ``u |loss| / h``,
        ~1e-12 ``|loss|`` at h = 1e-4, so an entry below ~1e-6 ``|loss|`` cannot show a relative error under
        1e-6, right or wrong. A correct 784-input model with a loss of ~545 nats shows up to ~1e-4 on the
        weights of dim pixels; a larger h, or a smaller model, brings that down where a wrong gradient would
        stay.

    Raises
    ------
    TypeError
        If beta, h or free_bits is not a real number, max_entries, seed or k not an integer, objective not
        a str, or x, eps or y not of a type the model takes.
    ValueError
        If beta, h or free_bits is out of range or not finite, max_entries or k < 1, seed < 0, objective
        neither "elbo" nor "iwae", free_bits > 0 with "iwae", k disagrees with eps, or x, eps or y has a wrong
        shape or value (y is also refused by an unconditional model and required by a conditional one).

    Notes
    -----
    Derivation: docs/derivations.md#gradient-check

    Examples
    --------
    A float32 model (checked through a float64 copy); tanh has no kink for the step h to cross:

    >>> from purevae import VAE, gradcheck
    >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, activation="tanh", seed=0)
    >>> x = np.random.default_rng(0).random((4, 16))
    >>> errors = gradcheck(model, x)                  # parameter name -> max relative error
    >>> list(errors)[:3]
    ['encoder.0.weight', 'encoder.0.bias', 'encoder.out.weight']
    >>> bool(max(errors.values()) < 1e-6)             # a correct gradient: ~1e-8 or less
    True
    """
    beta = finite_float("beta", beta, 0.0)
    h = finite_float("h", h, 0.0, strict=True)
    max_entries = positive_int("max_entries", max_entries)
    seed = check_seed("seed", seed, allow_none=False)
    model64 = model.astype("float64")
    x = model64.check_input(x)
    y = model64.check_labels(y, x.shape[0])
    rng = np.random.default_rng(seed)
    if eps is None:
        k_draw = 1 if k is None else positive_int("k", k)
        shape = (x.shape[0], model64.n_latent) if k is None else (k_draw, x.shape[0], model64.n_latent)
        eps = rng.standard_normal(shape)
    eps = model64.check_eps(eps, x.shape[0])
    _, grads = model64.loss_and_grads(x, eps=eps, beta=beta, y=y, objective=objective, k=k, free_bits=free_bits)
    ws = Workspace()   # the loss is evaluated 4 times per entry: reuse one set of arrays

    def loss() -> float:
        return model64.step(x, eps, beta, ws, y=y, objective=objective, free_bits=free_bits).loss

    result: OrderedDict[str, float] = OrderedDict()
    for name, param in model64.params.items():
        size = param.size
        indices = np.arange(size) if size <= max_entries else np.sort(rng.choice(size, max_entries, replace=False))
        numeric = numeric_gradient(loss, param, indices, h)
        result[name] = float(np.max(relative_error(grads[name].reshape(-1)[indices], numeric)))
    return result


def format_table(errors: Mapping[str, float]) -> str:
    r"""Return a two-column Markdown table: parameter | max relative error.

    Parameters
    ----------
    errors : Mapping[str, float]
        Parameter name -> max relative error, as ``gradcheck`` returns.

    Returns
    -------
    str
        A header, a rule and one row per entry of errors, the errors written as ``1.23e-08``.

    Raises
    ------
    ValueError
        If errors is empty.
    """
    width = max(len(name) for name in errors)
    lines = [f"| {'parameter':<{width}} | max relative error |", f"|{'-' * (width + 2)}|{'-' * 20}|"]
    lines += [f"| {name:<{width}} | {err:18.2e} |" for name, err in errors.items()]
    return "\n".join(lines)
