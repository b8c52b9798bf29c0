r"""Workspaces: where a step's arrays come from, passed explicitly to every piece of the model.

Every piece of a step (``MLP.forward`` / ``MLP.backward``, ``GaussianLatent.forward`` / ``backward``, a
likelihood's ``nll_grad``) asks its ``ws`` argument for the arrays it writes, by a key that names them::

    out = ws.array("encoder.0.out", (batch, 400), np.float32)

Two kinds of workspace answer that call:

``FRESH``        a new array on every call: results the caller owns (``VAE.loss_and_grads``, evaluation).
``Workspace()``  the array stored under the key, made on first request and handed out again on every
                 later one (a new one only when the shape or dtype changed). ``fit`` gives each batch
                 size one (``WorkspaceCache``), so a steady-state step allocates no large array
                 (benchmarks/bench_step.py reports the bytes per step); the arrays a step returns are
                 then overwritten by the next step with the same workspace.

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
    """Arrays of one step, made on first request and handed out again on every later one."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, key: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        """The array stored under ``key``; a new one (uninitialised) when absent or of another shape or dtype."""
        a = self.arrays.get(key)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            a = self.arrays[key] = np.empty(shape, dtype)
        return a


class FreshArrays:
    """A workspace that keeps nothing: ``array(key, shape, dtype)`` returns a new array every time."""

    @staticmethod
    def array(key: str, shape: tuple[int, ...], dtype: DTypeLike) -> np.ndarray:
        return np.empty(shape, dtype)


FRESH = FreshArrays()


class WorkspaceCache:
    """One ``Workspace`` per batch size, for the ``capacity`` sizes used most recently.

    An epoch uses two sizes (the full batches and the last one); a k-sample step a third.
    """

    def __init__(self, capacity: int = 4) -> None:
        self.capacity = capacity
        self.workspaces: OrderedDict[int, Workspace] = OrderedDict()

    def get(self, batch: int) -> Workspace:
        """The workspace of ``batch`` rows (made on first use); forgets the least recently used size."""
        ws = self.workspaces.pop(batch, None)
        if ws is None:
            ws = Workspace()
            while len(self.workspaces) >= self.capacity:
                self.workspaces.popitem(last=False)
        self.workspaces[batch] = ws        # most recently used last
        return ws

    def sizes(self) -> list[int]:
        """The batch sizes held, least recently used first."""
        return list(self.workspaces)
