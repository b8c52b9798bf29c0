r"""Choose the implementation of the hot ops: the compiled Cython kernels or their NumPy twins.

``set_backend("cython")`` (the default when ``purevae._kernels`` is built) or ``set_backend("numpy")``
selects the module every model step calls. Both give the same numbers within float tolerance.

The public wrappers below validate their arrays (``as_kernel_arrays``), allocate the outputs and
call the chosen module; the kernels themselves trust their inputs. ``kernels()`` returns the
chosen module for callers (the model) that have already validated everything at their own edge.
"""
from __future__ import annotations

import os
import warnings
from types import ModuleType

import numpy as np
from numpy.typing import DTypeLike

from . import ops
from .typing import DataLike
from .validation import (
    check_counts,
    check_labels,
    check_sparse,
    choice,
    finite_float,
    fraction,
    is_sparse,
    positive_int,
)

_cython_kernels: ModuleType | None
try:  # the extension is optional: without it everything runs on NumPy
    from . import _kernels as _cython_kernels
except ImportError as exc:  # pragma: no cover - exercised only on a build without the extension
    _cython_kernels = None
    if os.environ.get("PUREVAE_QUIET_NO_EXTENSION", "") in ("", "0"):
        warnings.warn(f"purevae._kernels is not built ({exc}); using the NumPy backend", RuntimeWarning,
                      stacklevel=2)

__all__ = ["BACKENDS", "cython_available", "set_backend", "get_backend", "openmp_threads", "kernels",
           "as_kernel_arrays", "activation_code",
           "bias_activation_forward", "activation_backward_bias", "label_rows_forward", "label_rows_backward",
           "bernoulli_nll", "bernoulli_nll_grad", "continuous_bernoulli_nll", "continuous_bernoulli_nll_grad",
           "multinomial_nll", "multinomial_nll_grad", "gaussian_nll", "gaussian_nll_grad",
           "bernoulli_log_weights", "continuous_bernoulli_log_weights", "gaussian_log_weights",
           "reparameterize_kl_forward", "reparameterize_kl_backward", "iwae_weights", "iwae_backward",
           "adam_update", "sgd_momentum_update"]

BACKENDS = ("cython", "numpy")
_current = "cython" if _cython_kernels is not None else "numpy"


def cython_available() -> bool:
    """True when the compiled extension ``purevae._kernels`` was built and imports."""
    return _cython_kernels is not None


def set_backend(name: str) -> None:
    """Select the implementation used by every model: ``"cython"`` or ``"numpy"``."""
    global _current
    choice("backend", name, BACKENDS)
    if name == "cython" and _cython_kernels is None:
        raise ValueError("backend 'cython' is not available: the extension purevae._kernels is not built "
                         "(reinstall with `pip install -e .` and a C compiler)")
    _current = name


def openmp_threads() -> int:
    """Threads of the kernels' OpenMP loops (follows OMP_NUM_THREADS); 0 when built without OpenMP or without
    the extension."""
    return 0 if _cython_kernels is None else int(_cython_kernels.openmp_threads())


def get_backend() -> str:
    """The name of the backend in use: ``"cython"`` or ``"numpy"``."""
    return _current


def kernels(impl: str | None = None) -> ModuleType:
    """The module holding the kernels of ``impl`` (default: the current backend)."""
    name = _current if impl is None else choice("impl", impl, BACKENDS)
    if name == "cython":
        if _cython_kernels is None:
            raise ValueError("impl 'cython' is not available: purevae._kernels is not built")
        return _cython_kernels
    return ops


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------
def as_kernel_arrays(*, dtype: DTypeLike | None = None, **arrays: np.ndarray) -> list[np.ndarray]:
    """Check and convert arrays for a kernel: float32/float64, one common dtype, finite, C-contiguous.

    Strided, Fortran-ordered, negatively strided or read-only inputs are copied once into a
    C-contiguous array (read-only C-contiguous arrays pass as they are: kernels take them ``const``).
    Precision is never changed unasked: mixing float32 and float64 raises ``TypeError``.

    Raises
    ------
    TypeError
        an argument is not a floating array of float32/float64, or the dtypes differ.
    ValueError
        an argument holds NaN or inf.
    """
    out = []
    for name, value in arrays.items():
        a = np.asarray(value)
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
        if dtype is None:
            dtype = a.dtype
        elif a.dtype != dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but the other arguments are {np.dtype(dtype)}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or inf")
        out.append(np.ascontiguousarray(a))
    return out


def _as_real(name: str, value, dtype: np.dtype) -> np.ndarray:
    """Data (x) or a fixed parameter (logvar) cast to the dtype of the model's arrays; real numbers only."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(dtype, copy=False)


def _check_shape(name: str, a: np.ndarray, shape: tuple) -> None:
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {a.shape}")


def _check_3d(name: str, a: np.ndarray) -> None:
    if a.ndim != 3:
        raise ValueError(f"{name} must be 3-D (k, batch, n_latent), got shape {a.shape}")


def _check_2d(name: str, a: np.ndarray) -> None:
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, features), got shape {a.shape}")


def activation_code(activation: str | int, alpha: float | None) -> tuple[int, float]:
    """(code, alpha) of an activation (a name or a code of ``ops.ACTIVATIONS``) for the kernels; alpha defaults
    per activation and must suit it."""
    name = choice("activation", activation, tuple(ops.ACTIVATIONS), codes=ops.ACTIVATIONS)
    alpha = ops.DEFAULT_ALPHA[name] if alpha is None else finite_float("alpha", alpha)
    if name == "leaky_relu" and not alpha > 0:
        raise ValueError(f"alpha of leaky_relu must be > 0 (its derivative is read from the sign of h), got {alpha}")
    if name == "elu" and not alpha > 0:
        raise ValueError(f"alpha of elu must be > 0, got {alpha}")
    return ops.ACTIVATIONS[name], alpha


# ---------------------------------------------------------------------------------------------
# Validating wrappers: allocate, then call the chosen implementation
# ---------------------------------------------------------------------------------------------
def bias_activation_forward(pre: np.ndarray, bias: np.ndarray, activation: str | int, alpha: float | None = None,
                            *, impl: str | None = None) -> np.ndarray:
    """Return f(pre + bias) as a new array (the kernel itself works in place)."""
    pre, bias = as_kernel_arrays(pre=pre, bias=bias)
    _check_2d("pre", pre)
    _check_shape("bias", bias, (pre.shape[1],))
    code, alpha = activation_code(activation, alpha)
    h = pre.copy()
    kernels(impl).bias_activation_forward(h, bias, code, alpha)
    return h


def activation_backward_bias(grad_h: np.ndarray, h: np.ndarray, activation: str | int, alpha: float | None = None,
                             *, impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (grad_pre, grad_bias) from grad_h and the forward output h."""
    grad_h, h = as_kernel_arrays(grad_h=grad_h, h=h)
    _check_2d("h", h)
    _check_shape("grad_h", grad_h, h.shape)
    code, alpha = activation_code(activation, alpha)
    grad_pre, grad_bias = np.empty_like(h), np.empty(h.shape[1], h.dtype)
    kernels(impl).activation_backward_bias(grad_h, h, code, alpha, grad_pre, grad_bias)
    return grad_pre, grad_bias


def _label_arrays(labels, rows: int, label_weight_or_classes) -> np.ndarray:
    n_classes = (label_weight_or_classes.shape[0] if isinstance(label_weight_or_classes, np.ndarray)
                 else label_weight_or_classes)
    if np.ndim(labels) == 0:
        raise ValueError(f"labels must have shape ({rows},), one class per row, got a scalar")
    return check_labels("labels", labels, rows, n_classes)


def label_rows_forward(pre: np.ndarray, label_weight: np.ndarray, labels: np.ndarray, *, impl: str | None = None
                       ) -> np.ndarray:
    """Return pre + label_weight[labels] as a new array (the kernel itself works in place)."""
    pre, label_weight = as_kernel_arrays(pre=pre, label_weight=label_weight)
    _check_2d("pre", pre)
    _check_2d("label_weight", label_weight)
    if label_weight.shape[1] != pre.shape[1]:
        raise ValueError(f"label_weight must have shape (n_classes, {pre.shape[1]}), got {label_weight.shape}")
    labels = _label_arrays(labels, pre.shape[0], label_weight)
    h = pre.copy()
    kernels(impl).label_rows_forward(h, label_weight, labels)
    return h


def label_rows_backward(grad_pre: np.ndarray, labels: np.ndarray, n_classes: int, *, impl: str | None = None
                        ) -> np.ndarray:
    """Return the (n_classes, n_out) scatter-add of grad_pre's rows by label; see ``ops.label_rows_backward``."""
    grad_pre, = as_kernel_arrays(grad_pre=grad_pre)
    _check_2d("grad_pre", grad_pre)
    n_classes = positive_int("n_classes", n_classes)
    labels = _label_arrays(labels, grad_pre.shape[0], n_classes)
    out = np.empty((n_classes, grad_pre.shape[1]), grad_pre.dtype)
    kernels(impl).label_rows_backward(grad_pre, labels, out)
    return out


def per_dimension(name: str, value: float | np.ndarray, n: int) -> np.ndarray:
    """A kernel's float64 (n,) weights from one number or n of them (each finite and >= 0)."""
    if np.ndim(value) == 0:
        return np.full(n, finite_float(name, value, 0.0))
    a = np.asarray(value)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a number or a real array of shape ({n},), got dtype {a.dtype}")
    if a.shape != (n,):
        raise ValueError(f"{name} must be a number or have shape ({n},), got shape {a.shape}")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(a >= 0)):
        raise ValueError(f"{name} must be finite and >= 0")
    return a


def row_scale(scale: float | np.ndarray, n: int) -> np.ndarray:
    """The likelihood kernels' ``scale`` argument: a float64 (n,) array from one number or n of them (each >= 0)."""
    return per_dimension("scale", scale, n)


def _check_blocks(name: str, out: np.ndarray, x: np.ndarray) -> None:
    """out (R, D) must hold whole blocks of x's (B, D) rows: R = k B (k >= 1), or R = B = 0."""
    _check_2d(name, out)
    _check_2d("x", x)
    rows, batch = out.shape[0], x.shape[0]
    if x.shape[1] != out.shape[1] or (rows % batch if batch else rows) or (rows == 0 and batch):
        raise ValueError(f"x must have shape (B, {out.shape[1]}) with {name}'s {rows} rows a multiple k B of B "
                         f"(k >= 1), got x of shape {x.shape}")


def _bernoulli_arrays(x, logits) -> tuple[np.ndarray, np.ndarray]:
    return _unit_interval_arrays(x, logits, "Bernoulli")


def bernoulli_nll(x: np.ndarray, logits: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    """Return the nll per row of logits (R,), without the gradient; see ``ops.bernoulli_nll``.

    x (B, n_input) and logits (R, n_input) with R = k B: row r of logits goes with x[r % B] (k = 1: the
    same shape). The same holds for every likelihood wrapper below.
    """
    x, logits = _bernoulli_arrays(x, logits)
    nll = np.empty(logits.shape[0], x.dtype)
    kernels(impl).bernoulli_nll(x, logits, nll)
    return nll


def bernoulli_nll_grad(x: np.ndarray, logits: np.ndarray, scale: float | np.ndarray = 1.0, *,
                       impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (nll per example (batch,), grad_logits (batch, n_input)); see ``ops.bernoulli_nll_grad``.

    ``scale``: one number for every row, or one per row (batch,).
    """
    x, logits = _bernoulli_arrays(x, logits)
    scale = row_scale(scale, logits.shape[0])
    nll, grad_logits = np.empty(logits.shape[0], x.dtype), np.empty_like(logits)
    kernels(impl).bernoulli_nll_grad(x, logits, scale, nll, grad_logits)
    return nll, grad_logits


def _unit_interval_arrays(x, logits, what: str) -> tuple[np.ndarray, np.ndarray]:
    logits, = as_kernel_arrays(logits=logits)
    x, = as_kernel_arrays(dtype=logits.dtype, x=_as_real("x", x, logits.dtype))
    _check_blocks("logits", logits, x)
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1] for the {what} likelihood, found [{x.min()}, {x.max()}]")
    return x, logits


def continuous_bernoulli_nll(x: np.ndarray, logits: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    """Return the nll per row of logits (R,); see ``ops.continuous_bernoulli_nll``."""
    x, logits = _unit_interval_arrays(x, logits, "continuous Bernoulli")
    nll = np.empty(logits.shape[0], x.dtype)
    kernels(impl).continuous_bernoulli_nll(x, logits, nll)
    return nll


def continuous_bernoulli_nll_grad(x: np.ndarray, logits: np.ndarray, scale: float | np.ndarray = 1.0, *,
                                  impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (nll (R,), grad_logits (R, n_input)); see ``ops.continuous_bernoulli_nll_grad``."""
    x, logits = _unit_interval_arrays(x, logits, "continuous Bernoulli")
    scale = row_scale(scale, logits.shape[0])
    nll, grad_logits = np.empty(logits.shape[0], x.dtype), np.empty_like(logits)
    kernels(impl).continuous_bernoulli_nll_grad(x, logits, scale, nll, grad_logits)
    return nll, grad_logits


def _multinomial_arrays(x, logits):
    """(x, logits) for the multinomial kernels: x a dense array or a canonical CSR matrix of counts."""
    logits, = as_kernel_arrays(logits=logits)
    if is_sparse(x):
        _check_2d("logits", logits)
        x = check_sparse("x", x, logits.shape[1], logits.dtype)
        rows, batch = logits.shape[0], x.shape[0]
        if rows % batch:
            raise ValueError(f"x must have shape (B, {logits.shape[1]}) with logits's {rows} rows a multiple k B "
                             f"of B (k >= 1), got x of shape {x.shape}")
    else:
        x, = as_kernel_arrays(dtype=logits.dtype, x=_as_real("x", x, logits.dtype))
        _check_blocks("logits", logits, x)
    check_counts("x", x)
    return x, logits


def multinomial_nll(x: DataLike, logits: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    """Return the nll per row of logits (R,); see ``ops.multinomial_nll``. x: counts, an array or a scipy.sparse
    matrix (then the CSR kernel, ``ops.multinomial_nll_csr``)."""
    x, logits = _multinomial_arrays(x, logits)
    nll = np.empty(logits.shape[0], logits.dtype)
    if is_sparse(x):
        kernels(impl).multinomial_nll_csr(*ops.csr_parts(x), logits, nll)
    else:
        kernels(impl).multinomial_nll(x, logits, nll)
    return nll


def multinomial_nll_grad(x: DataLike, logits: np.ndarray, scale: float | np.ndarray = 1.0, *,
                         impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (nll (R,), grad_logits (R, V)); see ``ops.multinomial_nll_grad`` (and ``_csr`` for sparse x)."""
    x, logits = _multinomial_arrays(x, logits)
    scale = row_scale(scale, logits.shape[0])
    nll, grad_logits = np.empty(logits.shape[0], logits.dtype), np.empty_like(logits)
    if is_sparse(x):
        kernels(impl).multinomial_nll_grad_csr(*ops.csr_parts(x), logits, scale, nll, grad_logits)
    else:
        kernels(impl).multinomial_nll_grad(x, logits, scale, nll, grad_logits)
    return nll, grad_logits


def _gaussian_arrays(x, mean, logvar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean, = as_kernel_arrays(mean=mean)
    x, logvar = as_kernel_arrays(dtype=mean.dtype, x=_as_real("x", x, mean.dtype),
                                 logvar=_as_real("logvar", logvar, mean.dtype))
    _check_blocks("mean", mean, x)
    _check_shape("logvar", logvar, (mean.shape[1],))
    return x, mean, logvar


def gaussian_nll(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    """Return the nll per example (batch,), without the gradients; see ``ops.gaussian_nll``."""
    x, mean, logvar = _gaussian_arrays(x, mean, logvar)
    nll = np.empty(mean.shape[0], x.dtype)
    kernels(impl).gaussian_nll(x, mean, logvar, nll)
    return nll


def gaussian_nll_grad(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, scale: float | np.ndarray = 1.0, *,
                      impl: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (nll (batch,), grad_mean (batch, n_input), grad_logvar (n_input,)); see ``ops.gaussian_nll_grad``.

    ``scale``: one number for every row, or one per row (batch,).
    """
    x, mean, logvar = _gaussian_arrays(x, mean, logvar)
    scale = row_scale(scale, mean.shape[0])
    nll, grad_mean, grad_logvar = np.empty(mean.shape[0], x.dtype), np.empty_like(mean), np.empty_like(logvar)
    kernels(impl).gaussian_nll_grad(x, mean, logvar, scale, nll, grad_mean, grad_logvar)
    return nll, grad_mean, grad_logvar


def _latent_arrays(out: np.ndarray, x: np.ndarray, mu_logvar, eps, z) -> tuple[np.ndarray, ...]:
    mu_logvar, eps, z = as_kernel_arrays(dtype=out.dtype, mu_logvar=mu_logvar, eps=eps, z=z)
    _check_3d("eps", eps)
    s, n, n_latent = eps.shape
    _check_shape("z", z, eps.shape)
    _check_shape("mu_logvar", mu_logvar, (n, 2 * n_latent))
    _check_shape("x", x, (n, out.shape[1]))
    if out.shape[0] != s * n:
        raise ValueError(f"the decoder's output must have s * B = {s * n} rows (eps: {eps.shape}), got {out.shape[0]}")
    return mu_logvar, eps, z


def bernoulli_log_weights(x: np.ndarray, logits: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray,
                          *, impl: str | None = None) -> np.ndarray:
    """Return log w (s, B) in float64 for the Bernoulli likelihood; see ``ops.bernoulli_log_weights``."""
    x, logits = _bernoulli_arrays(x, logits)
    mu_logvar, eps, z = _latent_arrays(logits, x, mu_logvar, eps, z)
    log_w = np.empty(eps.shape[:2])
    kernels(impl).bernoulli_log_weights(x, logits, mu_logvar, eps, z, log_w)
    return log_w


def continuous_bernoulli_log_weights(x: np.ndarray, logits: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray,
                                     z: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    """Return log w (s, B) in float64 for the continuous Bernoulli; see ``ops.continuous_bernoulli_log_weights``."""
    x, logits = _unit_interval_arrays(x, logits, "continuous Bernoulli")
    mu_logvar, eps, z = _latent_arrays(logits, x, mu_logvar, eps, z)
    log_w = np.empty(eps.shape[:2])
    kernels(impl).continuous_bernoulli_log_weights(x, logits, mu_logvar, eps, z, log_w)
    return log_w


def gaussian_log_weights(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray,
                         z: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    """Return log w (s, B) in float64 for the Gaussian likelihood; see ``ops.gaussian_log_weights``."""
    x, mean, logvar = _gaussian_arrays(x, mean, logvar)
    mu_logvar, eps, z = _latent_arrays(mean, x, mu_logvar, eps, z)
    log_w = np.empty(eps.shape[:2])
    kernels(impl).gaussian_log_weights(x, mean, logvar, mu_logvar, eps, z, log_w)
    return log_w


def reparameterize_kl_forward(mu_logvar: np.ndarray, eps: np.ndarray, *, impl: str | None = None
                              ) -> tuple[np.ndarray, np.ndarray]:
    """Return (z (batch, L), kl (batch,)) from [mu | logvar] (batch, 2L) and eps (batch, L)."""
    mu_logvar, eps = as_kernel_arrays(mu_logvar=mu_logvar, eps=eps)
    _check_2d("eps", eps)
    _check_shape("mu_logvar", mu_logvar, (eps.shape[0], 2 * eps.shape[1]))
    z, kl = np.empty_like(eps), np.empty(eps.shape[0], eps.dtype)
    kernels(impl).reparameterize_kl_forward(mu_logvar, eps, z, kl)
    return z, kl


def reparameterize_kl_backward(mu_logvar: np.ndarray, eps: np.ndarray, grad_z: np.ndarray,
                               beta: float | np.ndarray = 1.0, scale: float = 1.0, *, impl: str | None = None
                               ) -> np.ndarray:
    """Return grad_mu_logvar (batch, 2L); see ``ops.reparameterize_kl_backward``.

    ``beta``: one KL weight for every latent dimension, or one per dimension (L,).
    """
    mu_logvar, eps, grad_z = as_kernel_arrays(mu_logvar=mu_logvar, eps=eps, grad_z=grad_z)
    _check_2d("eps", eps)
    _check_shape("mu_logvar", mu_logvar, (eps.shape[0], 2 * eps.shape[1]))
    _check_shape("grad_z", grad_z, eps.shape)
    beta, scale = per_dimension("beta", beta, eps.shape[1]), finite_float("scale", scale, 0.0)
    grad_mu_logvar = np.empty_like(mu_logvar)
    kernels(impl).reparameterize_kl_backward(mu_logvar, eps, grad_z, beta, scale, grad_mu_logvar)
    return grad_mu_logvar


def iwae_weights(nll: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, beta: float = 1.0,
                 scale: float = 1.0, *, impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return (loss (B,), weights (k, B)), both float64; see ``ops.iwae_weights``."""
    nll, mu_logvar, eps, z = as_kernel_arrays(nll=nll, mu_logvar=mu_logvar, eps=eps, z=z)
    _check_3d("eps", eps)
    k, n, n_latent = eps.shape
    _check_shape("z", z, eps.shape)
    _check_shape("nll", nll, (k, n))
    _check_shape("mu_logvar", mu_logvar, (n, 2 * n_latent))
    beta, scale = finite_float("beta", beta, 0.0), finite_float("scale", scale, 0.0)
    loss, weights = np.empty(n), np.empty((k, n))
    kernels(impl).iwae_weights(nll, mu_logvar, eps, z, beta, scale, loss, weights)
    return loss, weights


def iwae_backward(mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, grad_z: np.ndarray, weights: np.ndarray,
                  beta: float = 1.0, *, impl: str | None = None) -> np.ndarray:
    """Return grad_mu_logvar (B, 2L); see ``ops.iwae_backward``. ``weights`` (k, B) is float64."""
    mu_logvar, eps, z, grad_z = as_kernel_arrays(mu_logvar=mu_logvar, eps=eps, z=z, grad_z=grad_z)
    weights, = as_kernel_arrays(dtype=np.float64, weights=weights)
    _check_3d("eps", eps)
    k, n, n_latent = eps.shape
    for name, a in (("z", z), ("grad_z", grad_z)):
        _check_shape(name, a, eps.shape)
    _check_shape("weights", weights, (k, n))
    _check_shape("mu_logvar", mu_logvar, (n, 2 * n_latent))
    beta = finite_float("beta", beta, 0.0)
    grad_mu_logvar = np.empty_like(mu_logvar)
    kernels(impl).iwae_backward(mu_logvar, eps, z, grad_z, weights, beta, grad_mu_logvar)
    return grad_mu_logvar


def adam_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float, beta1: float = 0.9,
                beta2: float = 0.999, eps: float = 1e-8, step: int = 1, *, impl: str | None = None) -> None:
    """In-place Adam step on C-contiguous param, m, v of one dtype (any shape); see ``ops.adam_update``."""
    _check_inplace(param=param, m=m, v=v)
    grad, = as_kernel_arrays(dtype=param.dtype, grad=grad)
    for name, a in (("grad", grad), ("m", m), ("v", v)):
        _check_shape(name, a, param.shape)
    lr, eps = finite_float("lr", lr, 0.0, strict=True), finite_float("eps", eps, 0.0, strict=True)
    beta1, beta2 = fraction("beta1", beta1), fraction("beta2", beta2)
    step = positive_int("step", step)
    kernels(impl).adam_update(param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1), lr, beta1, beta2,
                              eps, step)


def sgd_momentum_update(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float, momentum: float = 0.9,
                        *, impl: str | None = None) -> None:
    """In-place SGD-with-momentum step; see ``ops.sgd_momentum_update``."""
    _check_inplace(param=param, velocity=velocity)
    grad, = as_kernel_arrays(dtype=param.dtype, grad=grad)
    for name, a in (("grad", grad), ("velocity", velocity)):
        _check_shape(name, a, param.shape)
    lr, momentum = finite_float("lr", lr, 0.0, strict=True), fraction("momentum", momentum)
    kernels(impl).sgd_momentum_update(param.reshape(-1), grad.reshape(-1), velocity.reshape(-1), lr, momentum)


def _check_inplace(**arrays: np.ndarray) -> None:
    """Arrays updated in place cannot be copied: they must already be right."""
    dtype = None
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array (it is updated in place), got {type(a).__name__}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got dtype {a.dtype}")
        dtype = a.dtype if dtype is None else dtype
        if a.dtype != dtype:
            raise TypeError(f"{name} has dtype {a.dtype} but the other arguments are {dtype}")
        if not a.flags.c_contiguous or not a.flags.writeable:
            raise ValueError(f"{name} must be C-contiguous and writeable (it is updated in place)")
