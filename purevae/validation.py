r"""Validation at the edge: every public entry point checks its arguments here and names the one at fault.

Arrays are checked for shape, dtype, finiteness and range, then cast *once* to the model's dtype as a
C-contiguous array (strided, transposed, negatively strided and Fortran-ordered inputs are copied, so the
kernels behind always see what they trust; a read-only array that is already C-contiguous and of the
model's dtype passes as it is, since the kernels take their inputs ``const``). Floating inputs of another
precision (float64 data for a float32 model) are cast silently, as documented; boolean, integer and float16
inputs are accepted and cast with a ``CastWarning`` that says so, pointing at the caller's line (the
first frame outside the purevae package, whatever the entry point); complex, object, string and
other dtypes are refused with ``TypeError``. ``LazyRows``, which reads large data a batch at a time, casts
without the warning.
"""
from __future__ import annotations

import numbers
import os
import sys
import warnings
from pathlib import Path
from types import FrameType
from typing import Literal, overload

import numpy as np


class CastWarning(UserWarning):
    """An input array of a non-float (or float16) dtype was cast to the model's float dtype."""


# ---------------------------------------------------------------------------------------------
# Scalars. One rule for every public function (tests/test_argument_errors.py walks all of them):
#   wrong type (a float where an int is needed, a string, a bool, None where it is not allowed) -> TypeError
#   right type, wrong value (negative, zero, out of range, not finite, not one of the choices)   -> ValueError
# ---------------------------------------------------------------------------------------------
def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def integer(name: str, value, minimum: int | None = None) -> int:
    r"""Return ``value`` as an int (>= minimum when given); TypeError for a non-integer (bool and 2.0 included).

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : int
        The value to check: a Python or NumPy integer (not a bool).
    minimum : int or None, optional
        The smallest value allowed; None (the default) allows every integer.

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a bool, a float such as 2.0, a str, None).
    ValueError
        If ``value`` < ``minimum``.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def positive_int(name: str, value) -> int:
    r"""Return ``value`` as an int >= 1; TypeError for a non-integer (bool included), ValueError for < 1.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : int
        The value to check: a Python or NumPy integer (not a bool).

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a bool, a float, a str, None).
    ValueError
        If ``value`` < 1.
    """
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def nonnegative_int(name: str, value) -> int:
    r"""Return ``value`` as an int >= 0; TypeError for a non-integer (bool included), ValueError for < 0.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : int
        The value to check: a Python or NumPy integer (not a bool).

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a bool, a float, a str, None).
    ValueError
        If ``value`` < 0.
    """
    return integer(name, value, 0)


@overload
def seed(name: str, value, allow_none: Literal[False]) -> int: ...
@overload
def seed(name: str, value, allow_none: bool = True) -> int | None: ...
def seed(name: str, value, allow_none: bool = True) -> int | None:
    r"""Return a seed: an int >= 0 (or None when allowed); TypeError for another type, ValueError for < 0.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : int or None
        The seed: a Python or NumPy integer (not a bool), or None.
    allow_none : bool, optional
        Whether None is allowed (then returned as it is); default True.

    Returns
    -------
    int or None
        ``value`` as a Python int, or None.

    Raises
    ------
    TypeError
        If ``value`` is not an integer (a bool, a float, a str), or is None while ``allow_none`` is False.
    ValueError
        If ``value`` < 0.
    """
    if value is None and allow_none:
        return None
    if not _is_int(value):
        raise TypeError(f"{name} must be a non-negative integer{' or None' if allow_none else ''}, "
                        f"got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def finite_float(name: str, value, minimum: float | None = None, strict: bool = False,
                 maximum: float | None = None) -> float:
    r"""Return ``value`` as a finite float, optionally >= minimum (> minimum when strict) and <= maximum.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : float
        The value to check: a real number (a Python or NumPy int or float; not a bool).
    minimum : float or None, optional
        The lower bound; None (the default) sets none.
    strict : bool, optional
        Whether ``value`` must be strictly greater than ``minimum``; default False (>= minimum).
    maximum : float or None, optional
        The upper bound (``value`` <= maximum); None (the default) sets none.

    Returns
    -------
    float
        ``value`` as a Python float.

    Raises
    ------
    TypeError
        For a non-number (a string, a bool, None).
    ValueError
        For NaN, inf or a value out of range; the message says the range: "lr must be a finite number > 0, got
        -1.0".
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    value = float(value)
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if strict else '>='} {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    if not np.isfinite(value) or (minimum is not None and (value <= minimum if strict else value < minimum)) \
            or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be a finite number{' ' + ' and '.join(bounds) if bounds else ''}, got {value}")
    return value


def boolean(name: str, value) -> bool:
    r"""Return ``value`` as a bool; TypeError for anything else (0, 1, "yes", None).

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : bool
        The value to check: a Python bool or a ``numpy.bool_``.

    Returns
    -------
    bool
        ``value`` as a Python bool.

    Raises
    ------
    TypeError
        If ``value`` is not a bool (0, 1, "yes", None).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def choice(name: str, value, options, codes=None) -> str:
    r"""Return ``value`` as one of the strings ``options``; TypeError for a non-string, ValueError for another string.

    ``codes`` (a mapping option -> int, e.g. ``ops.ACTIVATIONS``) also accepts an int code of an option, returned
    as its name: then TypeError is for what is neither a string nor an int, ValueError for an unknown code.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : str or int
        The value to check: an option, or (with ``codes``) an int code of one.
    options : sequence of str
        The strings allowed.
    codes : mapping of str to int, optional
        The int code of each option; None (the default) accepts strings only.

    Returns
    -------
    str
        The option: ``value`` itself, or the name of its code.

    Raises
    ------
    TypeError
        If ``value`` is not a str (nor an int, when ``codes`` is given; a bool is not an int here).
    ValueError
        If ``value`` is a string not in ``options``, or an int that is not one of the ``codes``.
    """
    if codes is not None and _is_int(value):
        names = {code: option for option, code in codes.items()}
        if value not in names:
            raise ValueError(f"{name} code must be one of {sorted(names)}, got {value!r}")
        return names[value]
    if not isinstance(value, str):
        alternatives = " or an int code" if codes is not None else ""
        raise TypeError(f"{name} must be a string, one of {tuple(options)}{alternatives}, got {value!r} "
                        f"({type(value).__name__})")
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def fraction(name: str, value) -> float:
    r"""Return ``value`` as a float in [0, 1) (a momentum, an Adam beta); TypeError or ValueError otherwise.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : float
        The value to check: a real number (not a bool).

    Returns
    -------
    float
        ``value`` as a Python float, in [0, 1).

    Raises
    ------
    TypeError
        For a non-number (a string, a bool, None).
    ValueError
        For NaN, inf or a value outside [0, 1).
    """
    value = finite_float(name, value)
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


FLOAT_DTYPES = ("float32", "float64")


def float_dtype(name: str, value, options=FLOAT_DTYPES) -> np.dtype:
    r"""Return a float dtype from a name ("float32", "f8"), a numpy dtype or a scalar type (np.float32, float).

    TypeError for another kind of object (None, 3, True); ValueError for a dtype that is not one of ``options``
    ("float16", "int32", np.float16) or a string that names no dtype.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : str, numpy.dtype or type
        The dtype, by name, as a dtype or as a scalar type.
    options : sequence of str, optional
        The names of the dtypes allowed; default ``FLOAT_DTYPES``, ("float32", "float64").

    Returns
    -------
    numpy.dtype
        The dtype, one of ``options``.

    Raises
    ------
    TypeError
        If ``value`` is neither a str nor a numpy dtype nor a type (None, 3, True).
    ValueError
        If ``value`` names a dtype not in ``options``, or is a string that names no dtype.
    """
    if isinstance(value, str):
        try:
            dtype_name = np.dtype(value).name
        except TypeError:       # not a dtype name at all: a wrong value of the right type
            dtype_name = value
    elif isinstance(value, (np.dtype, type)):
        try:
            dtype_name = np.dtype(value).name
        except TypeError:
            raise TypeError(f"{name} must be one of {tuple(options)} (a str or numpy dtype), got {value!r}") from None
    else:
        raise TypeError(f"{name} must be one of {tuple(options)} (a str or numpy dtype), got {value!r} "
                        f"({type(value).__name__})")
    return np.dtype(choice(name, dtype_name, options))


def path(name: str, value, suffix: str | None = None) -> Path:
    r"""Return ``value`` (a str or os.PathLike) as a Path, ending in ``suffix`` when given.

    TypeError for another type (3, None), ValueError for another suffix: "path must end in .npz, got 'm.pkl'".

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : str or os.PathLike
        The path.
    suffix : str or None, optional
        The suffix the path must end in, dot included (".npz"); None (the default) allows any.

    Returns
    -------
    pathlib.Path
        ``value`` as a Path.

    Raises
    ------
    TypeError
        If ``value`` is neither a str nor an os.PathLike (3, None).
    ValueError
        If ``suffix`` is given and the path's suffix is another.
    """
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (a str or os.PathLike), got {value!r} ({type(value).__name__})")
    result = Path(value)
    if suffix is not None and result.suffix != suffix:
        raise ValueError(f"{name} must end in {suffix}, got {str(result)!r}")
    return result


def callable_or_none(name: str, value):
    r"""Return ``value`` when it is callable or None; TypeError for anything else.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : callable or None
        The value to check.

    Returns
    -------
    callable or None
        ``value`` itself.

    Raises
    ------
    TypeError
        If ``value`` is neither callable nor None.
    """
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable or None, got {value!r} ({type(value).__name__})")
    return value


def as_rng(rng, default_seed) -> np.random.Generator:
    r"""Return a Generator from anything ``numpy.random.default_rng`` accepts (SPEC 7).

    That is: a Generator (used as it is), a BitGenerator, a SeedSequence, an int >= 0 or a sequence of them;
    None gives ``default_rng(default_seed)``.

    TypeError for another type (a float, a str, a legacy RandomState), ValueError for a negative seed.

    Parameters
    ----------
    rng : numpy.random.Generator, numpy.random.BitGenerator, numpy.random.SeedSequence, int, sequence of int or None
        The generator or its seed.
    default_seed : int, sequence of int or None
        The seed of the generator returned for ``rng=None`` (purevae passes ``[model.seed, n]``).

    Returns
    -------
    numpy.random.Generator
        ``rng`` itself when it is a Generator, else a new one.

    Raises
    ------
    TypeError
        If ``rng`` is a bool, a float, a str, bytes, a legacy RandomState or another type ``default_rng`` refuses.
    ValueError
        If ``rng`` is a negative int or a seed ``default_rng`` refuses as a value (a sequence with a negative
        entry).
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(default_seed)
    if isinstance(rng, (bool, np.bool_, float, str, bytes, np.random.RandomState)):
        raise TypeError(f"rng must be a numpy.random.Generator, a seed (int >= 0, a sequence of them, a SeedSequence "
                        f"or a BitGenerator) or None, got {rng!r} ({type(rng).__name__})")
    if _is_int(rng) and rng < 0:
        raise ValueError(f"rng seed must be >= 0, got {rng}")
    try:
        return np.random.default_rng(rng)
    except TypeError as exc:
        raise TypeError(f"rng must be a numpy.random.Generator, a seed (int >= 0, a sequence of them, a SeedSequence "
                        f"or a BitGenerator) or None, got {rng!r} ({type(rng).__name__}): {exc}") from None
    except ValueError as exc:
        raise ValueError(f"rng is not a valid seed: {exc}") from None


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that makes a warning raised in the caller of this function name the user's line.

    Walks up from that caller to the first frame whose file is not inside the purevae package, so the level
    is right for every entry point, however many of purevae's own frames lie in between.
    """
    frame: FrameType | None = sys._getframe(1)
    level = 1                                # level 1 is the function that calls warnings.warn
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def as_float_array(name: str, value, dtype: np.dtype) -> np.ndarray:
    r"""Return ``value`` as an ndarray of ``dtype`` (C-contiguous, a copy when needed), refusing what cannot be cast.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages and the warning.
    value : array_like
        The array: booleans, integers or floats.
    dtype : numpy.dtype
        The dtype of the result (the model's).

    Returns
    -------
    ndarray
        ``value`` as a C-contiguous array of ``dtype``; its shape and values are not checked.

    Raises
    ------
    TypeError
        If ``value`` cannot be made an array (ragged nested lists), or its dtype is not real numbers (complex,
        object, string).

    Warns
    -----
    CastWarning
        If ``value`` holds booleans, integers or float16 (a float of another precision is cast silently).
    """
    if isinstance(value, np.ndarray):
        a = value
    else:
        try:
            a = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    kind = a.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}"
                        + (" (complex values have no meaning here)" if kind == "c" else ""))
    if kind in "biu" or a.dtype == np.float16:
        warnings.warn(f"{name} had dtype {a.dtype}; cast to {np.dtype(dtype)}", CastWarning,
                      stacklevel=_caller_stacklevel())
    return np.ascontiguousarray(a, dtype=dtype)


def check_data(name: str, value, n_features: int, dtype: np.dtype) -> np.ndarray:
    r"""Return a 2-D, non-empty, finite (n, n_features) array of ``dtype``, C-contiguous.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : array_like, shape (n, n_features)
        The data, cast as by ``as_float_array``.
    n_features : int
        The number of columns required.
    dtype : numpy.dtype
        The dtype of the result (the model's).

    Returns
    -------
    ndarray, shape (n, n_features)
        ``value`` as a C-contiguous array of ``dtype`` (a copy when needed).

    Raises
    ------
    TypeError
        If ``value`` is not an array of real numbers (see ``as_float_array``).
    ValueError
        If ``value`` is not 2-D, has another number of columns, has no rows, or holds NaN or inf.

    Warns
    -----
    CastWarning
        If ``value`` holds booleans, integers or float16.
    """
    x = as_float_array(name, value, dtype)
    if x.ndim != 2:
        hint = f" (for one example use {name}.reshape(1, -1))" if x.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_examples, {n_features}), got shape {x.shape}{hint}")
    if x.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features per example, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {x.shape}")
    # min and max propagate NaN and show an inf, without the (n, n_features) mask np.isfinite(x) would make
    if not (np.isfinite(x.min()) and np.isfinite(x.max())):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise ValueError(f"{name} contains NaN or inf ({bad} values)")
    return x


def is_sparse(value) -> bool:
    r"""Return whether ``value`` is a scipy.sparse matrix or array (scipy is imported only when it is already in use).

    Parameters
    ----------
    value : object
        Any object.

    Returns
    -------
    bool
        True for a scipy.sparse matrix or array; False for anything else, and whenever ``scipy.sparse`` has not
        been imported.
    """
    sparse = sys.modules.get("scipy.sparse")
    return sparse is not None and sparse.issparse(value)


def check_sparse(name: str, value, n_features: int, dtype: np.dtype):
    r"""Return a scipy.sparse matrix as a canonical CSR matrix (sorted indices, no duplicates) of ``dtype``.

    2-D, non-empty, ``n_features`` columns and finite stored values, as ``check_data`` requires of an array.
    Other sparse formats (COO, CSC, ...) are converted; integer and boolean values are cast with a CastWarning.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : scipy.sparse matrix or array, shape (n, n_features)
        The data, in any sparse format.
    n_features : int
        The number of columns required.
    dtype : numpy.dtype
        The dtype of the stored values of the result (the model's).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, n_features)
        The data in canonical CSR format, its values of ``dtype``.

    Raises
    ------
    TypeError
        If the stored values are not real numbers.
    ValueError
        If ``value`` is not 2-D, has another number of columns, has no rows, or stores NaN or inf.

    Warns
    -----
    CastWarning
        If the stored values are booleans, integers or float16.
    """
    import scipy.sparse
    if value.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_examples, {n_features}), got shape {value.shape}")
    if value.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} features per example, got shape {value.shape}")
    if value.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {value.shape}")
    kind = value.dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
    if kind in "biu" or value.dtype == np.float16:
        warnings.warn(f"{name} had dtype {value.dtype}; cast to {np.dtype(dtype)}", CastWarning,
                      stacklevel=_caller_stacklevel())
    x = scipy.sparse.csr_matrix(value, dtype=dtype)
    if not x.has_canonical_format:
        x = x.copy()
        x.sum_duplicates()          # sorts the indices too
    if not np.all(np.isfinite(x.data)):
        raise ValueError(f"{name} contains NaN or inf ({int(np.size(x.data) - np.count_nonzero(np.isfinite(x.data)))}"
                         f" values)")
    return x


def check_counts(name: str, value) -> None:
    r"""Raise ValueError unless every value is a count: a non-negative integer (stored as a float).

    The values checked are those of an array, or the stored values of a sparse matrix.

    Parameters
    ----------
    name : str
        The argument's name, for the error message.
    value : array_like or scipy.sparse matrix
        The word counts.

    Raises
    ------
    ValueError
        If a value is negative or not an integer (NaN included).
    """
    values = value.data if is_sparse(value) else np.asarray(value)
    if values.size == 0:
        return
    if values.min() < 0:
        raise ValueError(f"{name} must hold word counts (non-negative integers), found {values.min()}")
    fractional = values != np.floor(values)
    if fractional.any():
        raise ValueError(f"{name} must hold word counts (non-negative integers), found {int(fractional.sum())} "
                         f"non-integer value(s), e.g. {values[fractional][0]}")


def check_vocabulary(name: str, value, n_features: int) -> tuple[str, ...]:
    r"""Return a vocabulary: n_features distinct non-empty strings (the words of the columns), as a tuple.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : iterable of str
        The words, one per column.
    n_features : int
        The number of columns: of words required.

    Returns
    -------
    tuple of str
        The words, in their order.

    Raises
    ------
    TypeError
        If ``value`` is a str or bytes or is not iterable, or holds something else than str.
    ValueError
        If ``value`` does not have ``n_features`` words, or holds an empty or a repeated word.
    """
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of str (one word per column), got {type(value).__name__}")
    words = tuple(value)
    bad = [w for w in words if not isinstance(w, str)]
    if bad:
        raise TypeError(f"{name} must hold str, got {type(bad[0]).__name__} ({bad[0]!r})")
    if len(words) != n_features:
        raise ValueError(f"{name} must have one word per column: {n_features}, got {len(words)}")
    if any(not w for w in words) or len(set(words)) != len(words):
        raise ValueError(f"{name} must hold distinct non-empty words")
    return words


def check_labels(name: str, value, n: int, n_classes: int) -> np.ndarray:
    r"""Return class labels for n examples as a C-contiguous ``np.intp`` array (n,), each in 0 .. n_classes - 1.

    One integer stands for the same label on every example. TypeError for what is not integers (floats,
    bools, strings: cast with ``y.astype(int)`` first); ValueError for a wrong length or a label out of range.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : int or array_like of int, shape (n,)
        The labels: one per example, or one integer for all of them.
    n : int
        The number of examples.
    n_classes : int
        The number of classes.

    Returns
    -------
    ndarray of intp, shape (n,)
        The labels, C-contiguous.

    Raises
    ------
    TypeError
        If ``value`` does not hold integers (floats, bools, strings).
    ValueError
        If ``value`` is not of shape (n,), or a label is outside 0 .. n_classes - 1.
    """
    if _is_int(value):
        value = np.full(n, value, dtype=np.intp)
    a = value if isinstance(value, np.ndarray) else np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer class labels in 0..{n_classes - 1}, got dtype {a.dtype}"
                        + (" (cast with .astype(int))" if a.dtype.kind == "f" else ""))
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},): one label per example, got shape {a.shape}")
    if n and (a.min() < 0 or a.max() >= n_classes):
        bad = a[(a < 0) | (a >= n_classes)]
        raise ValueError(f"{name} must hold labels in 0..{n_classes - 1} (n_classes={n_classes}), got "
                         f"{bad.size} outside that range (e.g. {int(bad[0])})")
    return np.ascontiguousarray(a, dtype=np.intp)


def check_eps(value, batch: int, n_latent: int, dtype: np.dtype) -> np.ndarray:
    r"""Check the noise eps, of shape (batch, n_latent) or (k, batch, n_latent), and cast it to ``dtype``.

    Parameters
    ----------
    value : array_like, shape (batch, n_latent) or (k, batch, n_latent)
        Standard normal noise, of a float dtype; k >= 1 draws per example in the 3-D form.
    batch : int
        The number of examples.
    n_latent : int
        The number of latent dimensions.
    dtype : numpy.dtype
        The dtype of the result (the model's).

    Returns
    -------
    ndarray
        ``value`` as a C-contiguous array of ``dtype``, of its own shape.

    Raises
    ------
    TypeError
        If ``value`` is not of a float dtype (integers included).
    ValueError
        If ``value`` has another shape, or holds NaN or inf.
    """
    a = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if a.dtype.kind != "f":
        raise TypeError(f"eps must be a float array (standard normal noise), got dtype {a.dtype}")
    if not (a.shape == (batch, n_latent) or (a.ndim == 3 and a.shape[0] >= 1 and a.shape[1:] == (batch, n_latent))):
        raise ValueError(f"eps must have shape ({batch}, {n_latent}) or (k, {batch}, {n_latent}), got {a.shape}")
    eps = np.ascontiguousarray(a, dtype=dtype)
    if not np.all(np.isfinite(eps)):
        raise ValueError("eps contains NaN or inf")
    return eps


#: bytes of data validated (and cast) at a time for an array that is not copied whole (``LazyRows``)
LAZY_CHUNK_BYTES = 16 * 2**20


def is_lazy(value) -> bool:
    r"""Return whether ``value`` is data to read a batch at a time instead of copying it whole.

    That is an ``np.memmap``, or any object that is not an ndarray (nor a list, tuple, type or scipy.sparse
    matrix) but has ``shape``, ``dtype`` and row indexing (``x[rows]``, ``x[a:b]``).

    Parameters
    ----------
    value : object
        Any object.

    Returns
    -------
    bool
        True for such data (``LazyRows`` then takes it).
    """
    if isinstance(value, np.memmap):
        return True
    return (not isinstance(value, (np.ndarray, list, tuple, type)) and not is_sparse(value)
            and hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__getitem__"))


class LazyRows:
    r"""The rows of a large array (``is_lazy``), validated once in chunks and cast a batch at a time.

    ``rows[index]`` (a slice or an integer array of row indices) reads those rows only and returns them as a
    C-contiguous array of the model's dtype; ``take(rows, out)`` does the same into ``out``. ``digest`` is a
    hash of the data, computed during the validation pass (``purevae.parallel`` compares it across ranks).

    The validation pass reads the whole array once, ``LAZY_CHUNK_BYTES`` at a time: each chunk is cast to
    ``dtype``, checked to be finite, given to ``check`` and hashed. Values of another dtype (integers, booleans
    included) are cast without a ``CastWarning``.

    Parameters
    ----------
    name : str
        The argument's name, for the error messages.
    value : array-like object
        The data (an ``np.memmap``, or any object ``is_lazy`` accepts), of shape (n, n_features) with n >= 1
        and a real dtype.
    n_features : int
        The number of columns required.
    dtype : numpy.dtype
        The dtype of the rows returned (the model's).
    check : callable or None, optional
        Called as ``check(chunk, name)`` on every chunk (cast to ``dtype``) to check the data's support (the
        model passes its likelihood's ``check_data``); None (the default) checks finiteness only.

    Attributes
    ----------
    name : str
        The argument's name.
    value : array-like object
        The data, as given (not copied).
    shape : tuple of int
        Its shape, (n, n_features).
    dtype : numpy.dtype
        The dtype of the rows returned.
    step : int
        The rows per chunk of the validation pass.
    digest : str
        The hex digest (blake2b, 8 bytes) of the data cast to ``dtype``.

    Raises
    ------
    TypeError
        If the data's dtype is not real numbers.
    ValueError
        If the data is not 2-D, has another number of columns, has no rows, or holds NaN or inf (the message
        names the chunk's rows); and whatever ``check`` raises.
    """

    def __init__(self, name: str, value, n_features: int, dtype: np.dtype, check=None) -> None:
        shape = tuple(value.shape)
        if len(shape) != 2:
            raise ValueError(f"{name} must be 2-D (n_examples, {n_features}), got shape {shape}")
        if shape[1] != n_features:
            raise ValueError(f"{name} must have {n_features} features per example, got shape {shape}")
        if shape[0] == 0:
            raise ValueError(f"{name} is empty: shape {shape}")
        source = np.dtype(value.dtype)
        if source.kind not in "biuf":
            raise TypeError(f"{name} must be a real numeric array, got dtype {source}")
        self.name, self.value, self.shape, self.dtype = name, value, shape, np.dtype(dtype)
        self.step = max(1, LAZY_CHUNK_BYTES // max(1, n_features * max(source.itemsize, self.dtype.itemsize)))
        import hashlib
        h = hashlib.blake2b(digest_size=8)
        for begin in range(0, shape[0], self.step):          # once per call: finite, in the support, hashed
            chunk = self[begin:begin + self.step]
            if not (np.isfinite(chunk.min()) and np.isfinite(chunk.max())):
                raise ValueError(f"{name} contains NaN or inf (in rows {begin}..{begin + len(chunk) - 1})")
            if check is not None:
                check(chunk, name)
            h.update(chunk.tobytes())
        self.digest = h.hexdigest()

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(self.value[index]), dtype=self.dtype)

    def take(self, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        r"""Return the rows ``rows`` (in that order) in ``out`` (len(rows), n_features), reading only those rows.

        Parameters
        ----------
        rows : ndarray of int, shape (m,)
            The indices of the rows to read.
        out : ndarray, shape (m, n_features)
            Where to write them (cast to its dtype); overwritten.

        Returns
        -------
        ndarray, shape (m, n_features)
            ``out`` itself.
        """
        out[...] = np.asarray(self.value[rows])
        return out
