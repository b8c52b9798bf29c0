r"""Types of purevae's public API, for annotations in purevae and in the code that calls it.

``numpy.typing`` names what NumPy accepts and returns; the aliases below name what purevae's arguments mean:

=================  ==========================================================================================
``ArrayLike``      anything ``numpy.asarray`` takes (``numpy.typing.ArrayLike``): the data, the noise, labels
``DataLike``       the data ``x``: an ``ArrayLike`` or a SciPy sparse matrix (the multinomial likelihood's counts)
``FloatArray``     an ndarray of float32 or float64 (the model's dtype): what purevae returns
``IntArray``       an ndarray of integers: labels, counts, indices
``SeedLike``       what ``numpy.random.default_rng`` accepts (SPEC 7): None, an int >= 0, a sequence of ints,
                   a ``SeedSequence``, a ``BitGenerator`` or a ``Generator``
``PathLike``       a path: ``str`` or ``os.PathLike``
``ArraySource``    the protocol of a workspace (``purevae.workspace``): ``array(key, shape, dtype)``
=================  ==========================================================================================
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

if TYPE_CHECKING:      # SciPy is a run-time dependency, but importing scipy.sparse here for a type is not needed
    from scipy.sparse import sparray, spmatrix

__all__ = ["ArrayLike", "ArraySource", "DTypeLike", "DataLike", "FloatArray", "IntArray", "NDArray", "PathLike",
           "SeedLike"]

FloatArray = NDArray[np.floating[Any]]
IntArray = NDArray[np.integer[Any]]
SeedLike = Union[None, int, np.integer[Any], Sequence[int], np.random.SeedSequence, np.random.BitGenerator,
                 np.random.Generator]
PathLike = Union[str, os.PathLike[str]]
DataLike = Union[ArrayLike, "spmatrix", "sparray"]


@runtime_checkable
class ArraySource(Protocol):
    r"""Where a step's arrays come from: ``FRESH`` (new arrays) or a ``Workspace`` (arrays kept for reuse).

    Every piece of a step asks its ``ws`` argument for the arrays it writes; any object with this method will do
    (``tests/test_typing.py`` passes one that records every request).

    Parameters
    ----------
    *args, **kwargs : object
        None are taken: a protocol is not instantiated (``ArraySource()`` raises TypeError); it is implemented
        by any class with the method ``array``, such as ``purevae.workspace.Workspace``.
    """

    def array(self, key: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        r"""Return an array of ``shape`` and ``dtype`` for the result named ``key``; its contents are undefined.

        Parameters
        ----------
        key : str
            The name of the result (a ``Workspace`` hands out the same array again for the same key, shape and dtype).
        shape : tuple of int
            The shape of the array.
        dtype : data-type
            The dtype of the array.

        Returns
        -------
        ndarray
            An array of that shape and dtype, to be overwritten by the caller.
        """
        ...
