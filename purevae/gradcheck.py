r"""Central-difference gradient checker for a whole VAE, public: ``purevae.gradcheck(model, x, eps=eps)``.

For every parameter entry theta_i checked:

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
    """|a - n| / max(|a| + |n|, floor), elementwise."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    return np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), floor)


def numeric_gradient(f: Callable[[], float], array: np.ndarray, indices: Sequence[int] | IntArray, h: float = 1e-4
                     ) -> FloatArray:
    r"""Fourth-order central differences of the scalar f() w.r.t. array.flat[i] for i in indices.

        g_i ~= (8 (f(+h) - f(-h)) - (f(+2h) - f(-2h))) / (12 h)      truncation error O(h^4 f^(5))

    Cancelling the h^2 term of the plain (f(+h) - f(-h)) / 2h lets h be large (1e-4), which shrinks
    the round-off error u |f| / h; so even gradient entries of 1e-5 come out with ~1e-7 relative error.
    ``array`` is changed in place during the evaluation and restored.
    """
    flat = array.reshape(-1)  # a view: array is C-contiguous
    out = np.empty(len(indices))
    for j, i in enumerate(indices):
        original = flat[i]
        values = []
        for step in (h, -h, 2 * h, -2 * h):
            flat[i] = original + step
            values.append(f())
        flat[i] = original
        out[j] = (8 * (values[0] - values[1]) - (values[2] - values[3])) / (12 * h)
    return out


def gradcheck(model: VAE, x: DataLike, eps: ArrayLike | None = None, beta: float = 1.0, h: float = 1e-4,
              max_entries: int = 200, seed: int = 0, *, y: ArrayLike | None = None, objective: str = "elbo",
              k: int | None = None, free_bits: float = 0.0) -> OrderedDict[str, float]:
    r"""Max relative error between ``loss_and_grads`` and central differences, per parameter name.

    Parameters
    ----------
    model : VAE
        Checked through a float64 copy; the model itself is not modified.
    x : array (batch, n_input)
    eps : array (batch, n_latent) or (k, batch, n_latent), optional
        Fixed noise; drawn once from ``seed`` when omitted ((k, batch, n_latent) when k is given).
    beta : float
        KL weight of the loss being checked.
    y : array of int (batch,) or int, optional
        The labels of a conditional model (``VAE(n_classes=C)``); its ``label_weight`` rows are checked too.
    objective : "elbo" or "iwae"
        The loss being checked (``VAE.loss_and_grads``).
    k : int >= 1, optional
        Samples per example when eps is drawn here; must agree with eps when both are given.
    free_bits : float >= 0
        The free-bits floor of the loss being checked ("elbo"); keep every KL_j away from it (a kink).
    h : float
        Step of the fourth-order central difference (see ``numeric_gradient``). The step must not cross a
        kink of relu / leaky_relu: keep every hidden pre-activation farther than 2 h |x| from 0.
    max_entries : int
        Entries checked per parameter: all of them when the parameter has at most this many, otherwise
        a random subset drawn from ``seed``.

    Returns
    -------
    OrderedDict name -> max relative error (a well-implemented gradient gives ~1e-8 or less; above
    1e-6 means a bug, a kink of relu hit by the step h, or an entry too small to resolve: the
    differences carry an absolute round-off of roughly u |loss| / h, ~1e-12 |loss| at h = 1e-4, so an
    entry below ~1e-6 |loss| cannot show a relative error under 1e-6, right or wrong. A correct
    784-input model with a loss of ~545 nats shows up to ~1e-4 on the weights of dim pixels; a
    larger h, or a smaller model, brings that down where a wrong gradient would stay.)
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
    """A two-column Markdown table: parameter | max relative error."""
    width = max(len(name) for name in errors)
    lines = [f"| {'parameter':<{width}} | max relative error |", f"|{'-' * (width + 2)}|{'-' * 20}|"]
    lines += [f"| {name:<{width}} | {err:18.2e} |" for name, err in errors.items()]
    return "\n".join(lines)
