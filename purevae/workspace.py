r"""Workspaces: where a step's arrays come from, passed explicitly to every piece of the model.

Every piece of a step (``MLP.forward`` / ``MLP.backward``, ``GaussianLatent.forward`` / ``backward``, a
likelihood's ``nll_grad``) asks its ``ws`` argument for the arrays it writes, by a key that names them::

    out = ws.array("encoder.0.out", (batch, 400), np.float32)

Two kinds of workspace answer that call:

===============  ======================================================================================
workspace        what ``ws.array(key, shape, dtype)`` returns
===============  ======================================================================================
``FRESH``        a new array on every call: results the caller owns (``VAE.loss_and_grads``, evaluation).
``Workspace()``  the array stored under the key, made on first request and handed out again on every
                 later one (a new one only when the shape or dtype changed). ``fit`` gives each batch
                 size one (``WorkspaceCache``), so a steady-state step allocates no large array
                 (benchmarks/bench_step.py reports the bytes per step); the arrays a step returns are
                 then overwritten by the next step with the same workspace.
===============  ======================================================================================

Both have the one method of the protocol ``purevae.typing.ArraySource``, which every ``ws`` argument is
annotated with; any object with that method will do.

Validation is a separate matter: ``VAE.check_input`` validates and casts the data once at the edge;
whichever workspace a step uses, it trusts its inputs.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["FRESH", "FreshArrays", "Workspace", "WorkspaceCache"]


class Workspace:
    """Arrays of one step, made on first request and handed out again on every later one.

    The arrays are kept in the dict ``arrays`` (key -> ndarray); a workspace takes no arguments.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, key: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        """Return the array stored under ``key``, made anew when absent or of another shape or dtype.

        Parameters
        ----------
        key : str
            The name of the array in this workspace (``"encoder.0.out"``).
        shape : tuple of int
            The shape the caller needs.
        dtype : data-type
            The dtype the caller needs.

        Returns
        -------
        numpy.ndarray
            The stored array, of that shape and dtype. A new one (stored under ``key``, replacing one of
            another shape or dtype) is uninitialised (``np.empty``); a stored one holds what was last
            written into it.
        """
        a = self.arrays.get(key)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            a = self.arrays[key] = np.empty(shape, dtype)
        return a


class FreshArrays:
    """A workspace that keeps nothing: ``array(key, shape, dtype)`` returns a new array every time."""

    @staticmethod
    def array(key: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        """Return a new uninitialised array of ``shape`` and ``dtype``; ``key`` is ignored.

        Parameters
        ----------
        key : str
            The name the caller gives the array (unused: nothing is kept).
        shape : tuple of int
            The shape of the new array.
        dtype : data-type
            The dtype of the new array.

        Returns
        -------
        numpy.ndarray
            A new array (``np.empty``) that the caller owns.
        """
        return np.empty(shape, dtype)


FRESH = FreshArrays()


class WorkspaceCache:
    """One ``Workspace`` per batch size, for the ``capacity`` sizes used most recently.

    An epoch uses two sizes (the full batches and the last one); a k-sample step a third.

    Parameters
    ----------
    capacity : int, default 4
        How many batch sizes keep their workspace; at least 1 (not checked: with 0, ``get`` of a new size
        fails).
    """

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.workspaces: OrderedDict[int, Workspace] = OrderedDict()

    def get(self, batch: int) -> Workspace:
        """Return the workspace of ``batch`` rows, made on first use; forget the least recently used size.

        Parameters
        ----------
        batch : int
            The number of rows of the step: the key of its workspace.

        Returns
        -------
        Workspace
            The same ``Workspace`` as the last call with this ``batch`` while it is among the ``capacity``
            sizes used most recently, else a new empty one (the least recently used size is then dropped
            when ``capacity`` sizes are held).
        """
        ws = self.workspaces.pop(batch, None)
        if ws is None:
            ws = Workspace()
            while len(self.workspaces) >= self.capacity:
                self.workspaces.popitem(last=False)
        self.workspaces[batch] = ws        # most recently used last
        return ws

    def sizes(self) -> list[int]:
        """Return the batch sizes held, least recently used first.

        Returns
        -------
        list of int
            The keys of the workspaces held, from the least to the most recently used.
        """
        return list(self.workspaces)
