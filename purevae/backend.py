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
    r"""Return whether the compiled extension ``purevae._kernels`` was built and imports.

    Returns
    -------
    bool
        True when the Cython kernels can be used (then ``set_backend("cython")`` is allowed).
    """
    return _cython_kernels is not None


def set_backend(name: str) -> None:
    r"""Select the implementation used by every model: ``"cython"`` or ``"numpy"``.

    Parameters
    ----------
    name : {"cython", "numpy"}
        The compiled kernels of ``purevae._kernels`` or their NumPy twins in ``purevae.ops``.

    Raises
    ------
    TypeError
        If ``name`` is not a str.
    ValueError
        If ``name`` is another string, or is ``"cython"`` while the extension is not built.
    """
    global _current
    choice("backend", name, BACKENDS)
    if name == "cython" and _cython_kernels is None:
        raise ValueError("backend 'cython' is not available: the extension purevae._kernels is not built "
                         "(reinstall with `pip install -e .` and a C compiler)")
    _current = name


def openmp_threads() -> int:
    r"""Return the number of threads of the kernels' OpenMP loops (it follows ``OMP_NUM_THREADS``).

    Returns
    -------
    int
        What ``omp_get_max_threads()`` gives now; 0 when the extension is built without OpenMP or not built.
    """
    return 0 if _cython_kernels is None else int(_cython_kernels.openmp_threads())


def get_backend() -> str:
    r"""Return the name of the backend in use.

    Returns
    -------
    {"cython", "numpy"}
        The backend that ``kernels()`` returns the module of when no ``impl`` is given.
    """
    return _current


def kernels(impl: str | None = None) -> ModuleType:
    r"""Return the module holding the kernels of ``impl`` (default: the current backend).

    Parameters
    ----------
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the one ``get_backend()`` names.

    Returns
    -------
    module
        ``purevae._kernels`` for ``"cython"``, ``purevae.ops`` for ``"numpy"``.

    Raises
    ------
    TypeError
        If ``impl`` is neither None nor a str.
    ValueError
        If ``impl`` is another string, or is ``"cython"`` while the extension is not built.
    """
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
    r"""Check and convert arrays for a kernel: float32/float64, one common dtype, finite, C-contiguous.

    Strided, Fortran-ordered, negatively strided or read-only inputs are copied once into a
    C-contiguous array (read-only C-contiguous arrays pass as they are: kernels take them ``const``).
    Precision is never changed unasked: mixing float32 and float64 raises ``TypeError``.

    Parameters
    ----------
    dtype : data-type or None, optional
        The dtype every array must have; None (the default) takes the dtype of the first array.
    **arrays : array_like
        The arrays, by the names the error messages use (``logits=logits``).

    Returns
    -------
    list of ndarray
        The arrays in the order they were passed, each C-contiguous (a 0-d input comes back with shape (1,),
        as from ``numpy.ascontiguousarray``).

    Raises
    ------
    TypeError
        An argument is not a floating array of float32/float64, or the dtypes differ.
    ValueError
        An argument holds NaN or inf.
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
    r"""Return the kernels' (code, alpha) of an activation given by name or by code of ``ops.ACTIVATIONS``.

    Parameters
    ----------
    activation : str or int
        A name of ``ops.ACTIVATIONS`` (``"relu"``) or its int code.
    alpha : float or None
        The activation's parameter (the slope of leaky_relu, the scale of elu for a negative input); None gives
        the activation's default, ``ops.DEFAULT_ALPHA``. It must suit the activation: > 0 for leaky_relu and elu.

    Returns
    -------
    code : int
        The activation's code, a value of ``ops.ACTIVATIONS``.
    alpha : float
        The given alpha, or the activation's default.

    Raises
    ------
    TypeError
        If ``activation`` is neither a str nor an int, or ``alpha`` is not a real number (None aside).
    ValueError
        If ``activation`` is an unknown name or code, ``alpha`` is NaN or inf, or ``alpha`` <= 0 for leaky_relu
        or elu.
    """
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
    r"""Return f(pre + bias) as a new array (the kernel itself works in place).

    Parameters
    ----------
    pre : ndarray, shape (batch, n_out)
        The layer's product x @ W, float32 or float64.
    bias : ndarray, shape (n_out,)
        Of the dtype of ``pre``.
    activation : str or int
        A name or code of ``ops.ACTIVATIONS`` (see ``activation_code``).
    alpha : float or None, optional
        The activation's parameter; None (the default) gives its default.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (batch, n_out)
        The activation h = f(pre + bias), of the dtype of ``pre``.

    Raises
    ------
    TypeError
        If an array is not float32/float64 or the two dtypes differ, or ``activation``, ``alpha`` or ``impl``
        is of a wrong type.
    ValueError
        If an array holds NaN or inf, ``pre`` is not 2-D, ``bias`` is not (n_out,), or ``activation``,
        ``alpha`` or ``impl`` has a wrong value (see ``activation_code`` and ``kernels``).

    Notes
    -----
    Derivation: docs/derivations.md#activations.
    """
    pre, bias = as_kernel_arrays(pre=pre, bias=bias)
    _check_2d("pre", pre)
    _check_shape("bias", bias, (pre.shape[1],))
    code, alpha = activation_code(activation, alpha)
    h = pre.copy()
    kernels(impl).bias_activation_forward(h, bias, code, alpha)
    return h


def activation_backward_bias(grad_h: np.ndarray, h: np.ndarray, activation: str | int, alpha: float | None = None,
                             *, impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Return (grad_pre, grad_bias) from grad_h and the forward output h.

    Parameters
    ----------
    grad_h : ndarray, shape (batch, n_out)
        The gradient d loss / d h, of the dtype of ``h``.
    h : ndarray, shape (batch, n_out)
        The forward output f(pre), float32 or float64.
    activation : str or int
        A name or code of ``ops.ACTIVATIONS`` (see ``activation_code``).
    alpha : float or None, optional
        The activation's parameter; None (the default) gives its default.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    grad_pre : ndarray, shape (batch, n_out)
        The gradient grad_h * f'(pre), of the dtype of ``h``.
    grad_bias : ndarray, shape (n_out,)
        The sum of grad_pre over the batch.

    Raises
    ------
    TypeError
        If an array is not float32/float64 or the two dtypes differ, or ``activation``, ``alpha`` or ``impl``
        is of a wrong type.
    ValueError
        If an array holds NaN or inf, ``h`` is not 2-D, ``grad_h`` has another shape, or ``activation``,
        ``alpha`` or ``impl`` has a wrong value (see ``activation_code`` and ``kernels``).

    Notes
    -----
    Derivation: docs/derivations.md#activations.
    """
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
    r"""Return pre + label_weight[labels] as a new array (the kernel itself works in place).

    Parameters
    ----------
    pre : ndarray, shape (rows, n_out)
        The first layer's product x @ W, float32 or float64.
    label_weight : ndarray, shape (n_classes, n_out)
        The label rows T, of the dtype of ``pre``.
    labels : ndarray of int, shape (rows,)
        One class per row, each in 0 .. n_classes - 1.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (rows, n_out)
        The sum pre + T[labels], of the dtype of ``pre``.

    Raises
    ------
    TypeError
        If ``pre`` or ``label_weight`` is not float32/float64 or their dtypes differ, or ``labels`` does not
        hold integers.
    ValueError
        If ``pre`` or ``label_weight`` holds NaN or inf or is not 2-D, ``label_weight`` has another number of
        columns, ``labels`` is a scalar or not (rows,), or a label is out of range.

    Notes
    -----
    Derivation: docs/derivations.md#conditional-vae.
    """
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
    r"""Return the (n_classes, n_out) scatter-add of grad_pre's rows by label; see ``ops.label_rows_backward``.

    Parameters
    ----------
    grad_pre : ndarray, shape (rows, n_out)
        The gradient d loss / d pre of the first layer, float32 or float64.
    labels : ndarray of int, shape (rows,)
        One class per row, each in 0 .. n_classes - 1.
    n_classes : int, >= 1
        The number of classes: the rows of the result.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (n_classes, n_out)
        Row c is the sum of grad_pre[r] over the rows r with labels[r] = c (0 for a class no row has), of the
        dtype of ``grad_pre``.

    Raises
    ------
    TypeError
        If ``grad_pre`` is not float32/float64, ``n_classes`` is not an int, or ``labels`` does not hold
        integers.
    ValueError
        If ``grad_pre`` holds NaN or inf or is not 2-D, ``n_classes`` < 1, ``labels`` is a scalar or not
        (rows,), or a label is out of range.

    Notes
    -----
    Derivation: docs/derivations.md#conditional-vae.
    """
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
    r"""Return the nll per row of logits (R,), without the gradient; see ``ops.bernoulli_nll``.

    x (B, n_input) and logits (R, n_input) with R = k B: row r of logits goes with x[r % B] (k = 1: the
    same shape). The same holds for every likelihood wrapper below.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        Targets in [0, 1] (grey values allowed), of any real dtype: cast to the dtype of ``logits``.
    logits : ndarray, shape (R, n_input)
        The decoder's output, float32 or float64; R = k B with k >= 1 (or R = B = 0).
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (R,)
        The value -log p(x[r % B] | logits[r]) per row, of the dtype of ``logits``.

    Raises
    ------
    TypeError
        If ``logits`` is not float32/float64 or ``x`` is not real numbers.
    ValueError
        If an array holds NaN or inf or is not 2-D, the shapes do not pair up as above, or ``x`` leaves [0, 1].

    Notes
    -----
    Derivation: docs/derivations.md#bernoulli.
    """
    x, logits = _bernoulli_arrays(x, logits)
    nll = np.empty(logits.shape[0], x.dtype)
    kernels(impl).bernoulli_nll(x, logits, nll)
    return nll


def bernoulli_nll_grad(x: np.ndarray, logits: np.ndarray, scale: float | np.ndarray = 1.0, *,
                       impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Return (nll per row (R,), grad_logits (R, n_input)); see ``ops.bernoulli_nll_grad``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        Targets in [0, 1] (grey values allowed), of any real dtype: cast to the dtype of ``logits``.
    logits : ndarray, shape (R, n_input)
        The decoder's output, float32 or float64; R = k B with k >= 1 (R = B in the ELBO step).
    scale : float or ndarray, shape (R,), optional
        Each row's weight in the loss (finite, >= 0): one number for every row, or one per row; default 1.0.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    nll : ndarray, shape (R,)
        The value -log p(x[r % B] | logits[r]) per row, of the dtype of ``logits``.
    grad_logits : ndarray, shape (R, n_input)
        The gradient scale_r * (sigmoid(logits[r]) - x[r % B]) of sum_r scale_r nll_r.

    Raises
    ------
    TypeError
        If ``logits`` is not float32/float64, ``x`` is not real numbers, or ``scale`` is not a real number or
        array.
    ValueError
        If an array holds NaN or inf or is not 2-D, the shapes do not pair up (``bernoulli_nll``), ``x`` leaves
        [0, 1], or ``scale`` is negative, not finite or not (R,).

    Notes
    -----
    Derivation: docs/derivations.md#bernoulli.
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
    r"""Return the nll per row of logits (R,); see ``ops.continuous_bernoulli_nll``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        Values in [0, 1], of any real dtype: cast to the dtype of ``logits``.
    logits : ndarray, shape (R, n_input)
        The decoder's output, float32 or float64; R = k B with k >= 1 (or R = B = 0).
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (R,)
        The value -log p(x[r % B] | logits[r]) per row, of the dtype of ``logits``.

    Raises
    ------
    TypeError
        If ``logits`` is not float32/float64 or ``x`` is not real numbers.
    ValueError
        If an array holds NaN or inf or is not 2-D, the shapes do not pair up (``bernoulli_nll``), or ``x``
        leaves [0, 1].

    Notes
    -----
    Derivation: docs/derivations.md#continuous-bernoulli.
    """
    x, logits = _unit_interval_arrays(x, logits, "continuous Bernoulli")
    nll = np.empty(logits.shape[0], x.dtype)
    kernels(impl).continuous_bernoulli_nll(x, logits, nll)
    return nll


def continuous_bernoulli_nll_grad(x: np.ndarray, logits: np.ndarray, scale: float | np.ndarray = 1.0, *,
                                  impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Return (nll (R,), grad_logits (R, n_input)); see ``ops.continuous_bernoulli_nll_grad``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        Values in [0, 1], of any real dtype: cast to the dtype of ``logits``.
    logits : ndarray, shape (R, n_input)
        The decoder's output, float32 or float64; R = k B with k >= 1.
    scale : float or ndarray, shape (R,), optional
        Each row's weight in the loss (finite, >= 0): one number for every row, or one per row; default 1.0.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    nll : ndarray, shape (R,)
        The value -log p(x[r % B] | logits[r]) per row, of the dtype of ``logits``.
    grad_logits : ndarray, shape (R, n_input)
        The gradient scale_r * (E[x | logits[r]] - x[r % B]) of sum_r scale_r nll_r: the mean minus the data.

    Raises
    ------
    TypeError
        If ``logits`` is not float32/float64, ``x`` is not real numbers, or ``scale`` is not a real number or
        array.
    ValueError
        If an array holds NaN or inf or is not 2-D, the shapes do not pair up (``bernoulli_nll``), ``x`` leaves
        [0, 1], or ``scale`` is negative, not finite or not (R,).

    Notes
    -----
    Derivation: docs/derivations.md#continuous-bernoulli.
    """
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
    r"""Return the nll per row of logits (R,); see ``ops.multinomial_nll``.

    A scipy.sparse ``x`` goes to the CSR kernel, ``ops.multinomial_nll_csr``.

    Parameters
    ----------
    x : array_like or scipy.sparse matrix, shape (B, V)
        Word counts (non-negative integers): a dense array of any real dtype (cast to the dtype of ``logits``),
        or a sparse matrix of any format (converted to canonical CSR of that dtype; integer and boolean values
        with a ``CastWarning``; it must not be empty).
    logits : ndarray, shape (R, V)
        The decoder's output, float32 or float64; R = k B with k >= 1.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (R,)
        The value -log p(x[r % B] | logits[r]) per row without the multinomial coefficient, of the dtype of
        ``logits``.

    Raises
    ------
    TypeError
        If ``logits`` is not float32/float64 or ``x`` is not real numbers.
    ValueError
        If an array holds NaN or inf or is not 2-D, the shapes do not pair up (``bernoulli_nll``), a sparse
        ``x`` has no rows, or ``x`` holds a negative or non-integer value.

    Notes
    -----
    Derivation: docs/derivations.md#multinomial.
    """
    x, logits = _multinomial_arrays(x, logits)
    nll = np.empty(logits.shape[0], logits.dtype)
    if is_sparse(x):
        kernels(impl).multinomial_nll_csr(*ops.csr_parts(x), logits, nll)
    else:
        kernels(impl).multinomial_nll(x, logits, nll)
    return nll


def multinomial_nll_grad(x: DataLike, logits: np.ndarray, scale: float | np.ndarray = 1.0, *,
                         impl: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Return (nll (R,), grad_logits (R, V)); see ``ops.multinomial_nll_grad`` (and ``_csr`` for sparse x).

    Parameters
    ----------
    x : array_like or scipy.sparse matrix, shape (B, V)
        Word counts, dense or sparse, as in ``multinomial_nll``.
    logits : ndarray, shape (R, V)
        The decoder's output, float32 or float64; R = k B with k >= 1.
    scale : float or ndarray, shape (R,), optional
        Each row's weight in the loss (finite, >= 0): one number for every row, or one per row; default 1.0.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    nll : ndarray, shape (R,)
        The value -log p(x[r % B] | logits[r]) per row without the multinomial coefficient, of the dtype of
        ``logits``.
    grad_logits : ndarray, shape (R, V)
        The gradient scale_r * (N_b softmax(logits[r]) - x[b]) of sum_r scale_r nll_r, b = r % B, N_b the word
        count of x[b].

    Raises
    ------
    TypeError
        If ``logits`` is not float32/float64, ``x`` is not real numbers, or ``scale`` is not a real number or
        array.
    ValueError
        As ``multinomial_nll``, or ``scale`` is negative, not finite or not (R,).

    Notes
    -----
    Derivation: docs/derivations.md#multinomial.
    """
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
    r"""Return the nll per row of mean (R,), without the gradients; see ``ops.gaussian_nll``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        The data, of any real dtype: cast to the dtype of ``mean``.
    mean : ndarray, shape (R, n_input)
        The decoder's output, float32 or float64; R = k B with k >= 1 (or R = B = 0).
    logvar : array_like, shape (n_input,)
        The log-variance of each pixel, shared by every row; of any real dtype, cast to the dtype of ``mean``.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (R,)
        The value -log p(x[r % B] | mean[r]) per row, of the dtype of ``mean``.

    Raises
    ------
    TypeError
        If ``mean`` is not float32/float64, or ``x`` or ``logvar`` is not real numbers.
    ValueError
        If an array holds NaN or inf, ``x`` or ``mean`` is not 2-D, the shapes do not pair up
        (``bernoulli_nll``), or ``logvar`` is not (n_input,).

    Notes
    -----
    Derivation: docs/derivations.md#gaussian.
    """
    x, mean, logvar = _gaussian_arrays(x, mean, logvar)
    nll = np.empty(mean.shape[0], x.dtype)
    kernels(impl).gaussian_nll(x, mean, logvar, nll)
    return nll


def gaussian_nll_grad(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, scale: float | np.ndarray = 1.0, *,
                      impl: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Return (nll (R,), grad_mean (R, n_input), grad_logvar (n_input,)); see ``ops.gaussian_nll_grad``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        The data, of any real dtype: cast to the dtype of ``mean``.
    mean : ndarray, shape (R, n_input)
        The decoder's output, float32 or float64; R = k B with k >= 1.
    logvar : array_like, shape (n_input,)
        The log-variance of each pixel, fixed or the learned ``decoder.logvar``; cast to the dtype of ``mean``.
    scale : float or ndarray, shape (R,), optional
        Each row's weight in the loss (finite, >= 0): one number for every row, or one per row; default 1.0.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    nll : ndarray, shape (R,)
        The value -log p(x[r % B] | mean[r]) per row, of the dtype of ``mean``.
    grad_mean : ndarray, shape (R, n_input)
        The gradient d (sum_r scale_r nll_r) / d mean.
    grad_logvar : ndarray, shape (n_input,)
        The gradient d (sum_r scale_r nll_r) / d logvar (0 where logvar is beyond the clamp ``ops.LOGVAR_LIMIT``).

    Raises
    ------
    TypeError
        If ``mean`` is not float32/float64, ``x`` or ``logvar`` is not real numbers, or ``scale`` is not a real
        number or array.
    ValueError
        As ``gaussian_nll``, or ``scale`` is negative, not finite or not (R,).

    Notes
    -----
    Derivation: docs/derivations.md#gaussian.
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
    r"""Return log w (s, B) in float64 for the Bernoulli likelihood; see ``ops.bernoulli_log_weights``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        Targets in [0, 1], of any real dtype: cast to the dtype of ``logits``.
    logits : ndarray, shape (s B, n_input)
        The decoder's output, float32 or float64: row i B + b at z[i, b].
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's [mu | logvar], of the dtype of ``logits``.
    eps : ndarray, shape (s, B, L)
        The standard normal noise, of the dtype of ``logits``.
    z : ndarray, shape (s, B, L)
        The samples mu + exp(logvar / 2) * eps, of the dtype of ``logits``.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray of float64, shape (s, B)
        The log-weights log w[i, b] = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b).

    Raises
    ------
    TypeError
        If an array is not float32/float64 or not of the dtype of ``logits``, or ``x`` is not real numbers.
    ValueError
        If an array holds NaN or inf, ``x`` leaves [0, 1], or a shape is not the one above.

    Notes
    -----
    Derivation: docs/derivations.md#iwae.
    """
    x, logits = _bernoulli_arrays(x, logits)
    mu_logvar, eps, z = _latent_arrays(logits, x, mu_logvar, eps, z)
    log_w = np.empty(eps.shape[:2])
    kernels(impl).bernoulli_log_weights(x, logits, mu_logvar, eps, z, log_w)
    return log_w


def continuous_bernoulli_log_weights(x: np.ndarray, logits: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray,
                                     z: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    r"""Return log w (s, B) in float64 for the continuous Bernoulli; see ``ops.continuous_bernoulli_log_weights``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        Values in [0, 1], of any real dtype: cast to the dtype of ``logits``.
    logits : ndarray, shape (s B, n_input)
        The decoder's output, float32 or float64: row i B + b at z[i, b].
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's [mu | logvar], of the dtype of ``logits``.
    eps : ndarray, shape (s, B, L)
        The standard normal noise, of the dtype of ``logits``.
    z : ndarray, shape (s, B, L)
        The samples mu + exp(logvar / 2) * eps, of the dtype of ``logits``.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray of float64, shape (s, B)
        The log-weights log w[i, b] = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b).

    Raises
    ------
    TypeError
        If an array is not float32/float64 or not of the dtype of ``logits``, or ``x`` is not real numbers.
    ValueError
        If an array holds NaN or inf, ``x`` leaves [0, 1], or a shape is not the one above.

    Notes
    -----
    Derivation: docs/derivations.md#iwae and docs/derivations.md#continuous-bernoulli.
    """
    x, logits = _unit_interval_arrays(x, logits, "continuous Bernoulli")
    mu_logvar, eps, z = _latent_arrays(logits, x, mu_logvar, eps, z)
    log_w = np.empty(eps.shape[:2])
    kernels(impl).continuous_bernoulli_log_weights(x, logits, mu_logvar, eps, z, log_w)
    return log_w


def gaussian_log_weights(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray,
                         z: np.ndarray, *, impl: str | None = None) -> np.ndarray:
    r"""Return log w (s, B) in float64 for the Gaussian likelihood; see ``ops.gaussian_log_weights``.

    Parameters
    ----------
    x : array_like, shape (B, n_input)
        The data, of any real dtype: cast to the dtype of ``mean``.
    mean : ndarray, shape (s B, n_input)
        The decoder's output, float32 or float64: row i B + b at z[i, b].
    logvar : array_like, shape (n_input,)
        The log-variance of each pixel; of any real dtype, cast to the dtype of ``mean``.
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's [mu | logvar], of the dtype of ``mean``.
    eps : ndarray, shape (s, B, L)
        The standard normal noise, of the dtype of ``mean``.
    z : ndarray, shape (s, B, L)
        The samples mu + exp(logvar / 2) * eps, of the dtype of ``mean``.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray of float64, shape (s, B)
        The log-weights log w[i, b] = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b).

    Raises
    ------
    TypeError
        If an array is not float32/float64 or not of the dtype of ``mean``, or ``x`` or ``logvar`` is not real
        numbers.
    ValueError
        If an array holds NaN or inf, or a shape is not the one above.

    Notes
    -----
    Derivation: docs/derivations.md#iwae.
    """
    x, mean, logvar = _gaussian_arrays(x, mean, logvar)
    mu_logvar, eps, z = _latent_arrays(mean, x, mu_logvar, eps, z)
    log_w = np.empty(eps.shape[:2])
    kernels(impl).gaussian_log_weights(x, mean, logvar, mu_logvar, eps, z, log_w)
    return log_w


def reparameterize_kl_forward(mu_logvar: np.ndarray, eps: np.ndarray, *, impl: str | None = None
                              ) -> tuple[np.ndarray, np.ndarray]:
    r"""Return (z (batch, L), kl (batch,)) from [mu | logvar] (batch, 2L) and eps (batch, L).

    Parameters
    ----------
    mu_logvar : ndarray, shape (batch, 2 L)
        The encoder's [mu | logvar], float32 or float64 (logvar is clamped to [-30, 30], ``ops.LOGVAR_LIMIT``).
    eps : ndarray, shape (batch, L)
        The standard normal noise, of the dtype of ``mu_logvar``.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    z : ndarray, shape (batch, L)
        The samples mu + exp(logvar / 2) * eps, of the dtype of ``eps``.
    kl : ndarray, shape (batch,)
        The divergence KL(q(z|x) || N(0, I)) per example, 0.5 * sum_k (mu^2 + e^logvar - logvar - 1).

    Raises
    ------
    TypeError
        If an array is not float32/float64 or the two dtypes differ.
    ValueError
        If an array holds NaN or inf, ``eps`` is not 2-D, or ``mu_logvar`` is not (batch, 2 L).

    Notes
    -----
    Derivation: docs/derivations.md#reparameterization and docs/derivations.md#kl.
    """
    mu_logvar, eps = as_kernel_arrays(mu_logvar=mu_logvar, eps=eps)
    _check_2d("eps", eps)
    _check_shape("mu_logvar", mu_logvar, (eps.shape[0], 2 * eps.shape[1]))
    z, kl = np.empty_like(eps), np.empty(eps.shape[0], eps.dtype)
    kernels(impl).reparameterize_kl_forward(mu_logvar, eps, z, kl)
    return z, kl


def reparameterize_kl_backward(mu_logvar: np.ndarray, eps: np.ndarray, grad_z: np.ndarray,
                               beta: float | np.ndarray = 1.0, scale: float = 1.0, *, impl: str | None = None
                               ) -> np.ndarray:
    r"""Return grad_mu_logvar (batch, 2L); see ``ops.reparameterize_kl_backward``.

    The gradient of the loss w.r.t. [mu | logvar], through z and through scale * sum_b sum_k beta_k kl_bk.

    Parameters
    ----------
    mu_logvar : ndarray, shape (batch, 2 L)
        The encoder's [mu | logvar], float32 or float64.
    eps : ndarray, shape (batch, L)
        The noise of the forward pass, of the dtype of ``mu_logvar``.
    grad_z : ndarray, shape (batch, L)
        The gradient d loss / d z through the decoder, of the dtype of ``mu_logvar``.
    beta : float or ndarray, shape (L,), optional
        The KL weight (finite, >= 0): one for every latent dimension, or one per dimension (L,); default 1.0.
    scale : float, optional
        The weight of every example's KL (finite, >= 0; 1 / batch for a batch mean); default 1.0.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (batch, 2 L)
        The gradient grad_mu_logvar, of the dtype of ``mu_logvar``.

    Raises
    ------
    TypeError
        If an array is not float32/float64 or the dtypes differ, or ``beta`` or ``scale`` is not a real number
        (or, for ``beta``, a real array).
    ValueError
        If an array holds NaN or inf, ``eps`` is not 2-D, ``mu_logvar`` or ``grad_z`` has a wrong shape, or
        ``beta`` or ``scale`` is negative or not finite (or ``beta`` is an array not of shape (L,)).

    Notes
    -----
    Derivation: docs/derivations.md#reparameterization and docs/derivations.md#kl.
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
    r"""Return (loss (B,), weights (k, B)), both float64; see ``ops.iwae_weights``.

    Parameters
    ----------
    nll : ndarray, shape (k, B)
        The likelihood's value -log p(x_b | z_ib), float32 or float64.
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's [mu | logvar], of the dtype of ``nll``.
    eps : ndarray, shape (k, B, L)
        The standard normal noise, of the dtype of ``nll``.
    z : ndarray, shape (k, B, L)
        The samples mu + exp(logvar / 2) * eps, of the dtype of ``nll``.
    beta : float, optional
        The weight of log p(z) - log q(z|x) in each log-weight (finite, >= 0); default 1.0 (the IWAE bound).
    scale : float, optional
        The weight of every example's loss (finite, >= 0; 1 / B for the batch mean); default 1.0.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    loss : ndarray of float64, shape (B,)
        The negative bound -IWAE_k(x_b) per example (with beta = 1).
    weights : ndarray of float64, shape (k, B)
        The normalised importance weights (a softmax over the k samples) times ``scale``.

    Raises
    ------
    TypeError
        If an array is not float32/float64 or the dtypes differ, or ``beta`` or ``scale`` is not a real number.
    ValueError
        If an array holds NaN or inf, ``eps`` is not 3-D, a shape is not the one above, or ``beta`` or
        ``scale`` is negative or not finite.

    Notes
    -----
    Derivation: docs/derivations.md#iwae-training.
    """
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
    r"""Return grad_mu_logvar (B, 2L) of the IWAE loss; see ``ops.iwae_backward``.

    Parameters
    ----------
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's [mu | logvar], float32 or float64.
    eps : ndarray, shape (k, B, L)
        The standard normal noise, of the dtype of ``mu_logvar``.
    z : ndarray, shape (k, B, L)
        The samples mu + exp(logvar / 2) * eps, of the dtype of ``mu_logvar``.
    grad_z : ndarray, shape (k, B, L)
        The gradient d loss / d z through the decoder, of the dtype of ``mu_logvar``.
    weights : ndarray of float64, shape (k, B)
        The weights from ``iwae_weights``; float64 whatever the dtype of the other arrays.
    beta : float, optional
        The weight of log p(z) - log q(z|x), as given to ``iwae_weights`` (finite, >= 0); default 1.0.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Returns
    -------
    ndarray, shape (B, 2 L)
        The gradient grad_mu_logvar, of the dtype of ``mu_logvar``.

    Raises
    ------
    TypeError
        If an array is not float32/float64, the dtypes of ``mu_logvar``, ``eps``, ``z`` and ``grad_z`` differ,
        ``weights`` is not float64, or ``beta`` is not a real number.
    ValueError
        If an array holds NaN or inf, ``eps`` is not 3-D, a shape is not the one above, or ``beta`` is negative
        or not finite.

    Notes
    -----
    Derivation: docs/derivations.md#iwae-training.
    """
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
    r"""Take one Adam step in place on C-contiguous param, m, v of one dtype (not 0-d); see ``ops.adam_update``.

    Parameters
    ----------
    param : ndarray
        The parameter, float32 or float64, C-contiguous and writeable: updated in place.
    grad : array_like
        Its gradient, of the shape and dtype of ``param`` (copied once when not C-contiguous).
    m : ndarray
        The first-moment estimate, of the shape and dtype of ``param``, C-contiguous and writeable: updated in
        place.
    v : ndarray
        The second-moment estimate, as ``m``: updated in place.
    lr : float
        The learning rate, finite and > 0.
    beta1 : float, optional
        The decay of ``m``, in [0, 1); default 0.9.
    beta2 : float, optional
        The decay of ``v``, in [0, 1); default 0.999.
    eps : float, optional
        Added to sqrt(v_hat) in the denominator, finite and > 0; default 1e-8.
    step : int, optional
        The number t >= 1 of this step, for the bias correction; default 1.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Raises
    ------
    TypeError
        If ``param``, ``m`` or ``v`` is not an ndarray, an array is not float32/float64 or not of the dtype of
        ``param``, ``lr``, ``eps``, ``beta1`` or ``beta2`` is not a real number, or ``step`` is not an int.
    ValueError
        If ``param``, ``m`` or ``v`` is not C-contiguous and writeable, ``grad`` holds NaN or inf, an array's
        shape is not that of ``param``, ``lr`` or ``eps`` is not finite and > 0, ``beta1`` or ``beta2`` is
        outside [0, 1), or ``step`` < 1.

    Notes
    -----
    Only ``grad`` is checked for NaN and inf; ``param``, ``m`` and ``v`` are used as they are. A 0-d ``param``
    is refused (ValueError): ``as_kernel_arrays`` returns a 0-d ``grad`` with shape (1,).
    Derivation: docs/derivations.md#adam.
    """
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
    r"""Take one SGD-with-momentum step in place on param and velocity; see ``ops.sgd_momentum_update``.

    Parameters
    ----------
    param : ndarray
        The parameter, float32 or float64, C-contiguous and writeable: updated in place.
    grad : array_like
        Its gradient, of the shape and dtype of ``param`` (copied once when not C-contiguous).
    velocity : ndarray
        The velocity, of the shape and dtype of ``param``, C-contiguous and writeable: updated in place.
    lr : float
        The learning rate, finite and > 0.
    momentum : float, optional
        The decay of the velocity, in [0, 1); default 0.9.
    impl : {"cython", "numpy"} or None, optional
        The implementation; None (the default) is the current backend (``kernels``).

    Raises
    ------
    TypeError
        If ``param`` or ``velocity`` is not an ndarray, an array is not float32/float64 or not of the dtype of
        ``param``, or ``lr`` or ``momentum`` is not a real number.
    ValueError
        If ``param`` or ``velocity`` is not C-contiguous and writeable, ``grad`` holds NaN or inf, an array's
        shape is not that of ``param``, ``lr`` is not finite and > 0, or ``momentum`` is outside [0, 1).

    Notes
    -----
    Only ``grad`` is checked for NaN and inf; ``param`` and ``velocity`` are used as they are. A 0-d ``param``
    is refused (ValueError): ``as_kernel_arrays`` returns a 0-d ``grad`` with shape (1,).
    Derivation: docs/derivations.md#adam (its last part derives this step).
    """
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
