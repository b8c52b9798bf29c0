r"""Data-parallel training and evaluation over MPI: ``fit(..., comm=)``, ``elbo(..., comm=)``, ...

Needs mpi4py and an MPI (``pip install "purevae[mpi]"``); ``import purevae`` does not. The semantics:

- every rank is given the same data and the same model (same seed, same parameters); ``start`` checks it with
  one small allreduce of a fingerprint and raises on every rank, naming what differs;
- training: the global permutation and the global batch's noise are drawn identically on every rank (the
  model's generator runs the same on all of them); rank r takes its contiguous share of each global batch
  (``share``), computes the mean loss and gradient of that share, and scales them by n_r / N; one Allreduce
  of a single flat float64 buffer (every gradient, then the three loss sums) adds them up, so that every
  rank holds exactly the gradient of the global batch mean, up to the order of the sums; every rank applies
  the same optimizer step, so the parameters stay identical (``check_in_step`` verifies it every
  ``DRIFT_CHECK_EVERY`` steps);
- evaluation: the examples' chunks are dealt round-robin; every rank draws the noise of every chunk (so the
  stream is the one-process stream) and computes its own chunks; an Allreduce of the per-example results,
  zero where another rank computes, gives every rank the full result, bit-identical to one process's.

Derivation and the round-off bound: docs/derivations.md#data-parallel-training.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

__all__ = ["Parallel", "make_parallel", "world", "DRIFT_CHECK_EVERY"]

DRIFT_CHECK_EVERY = 50      #: steps between the checks that every rank's parameters are still identical


def _mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(f'comm= needs mpi4py and an MPI ({exc}): pip install "purevae[mpi]"') from None
    return MPI


class Parallel:
    r"""One communicator's view of a data-parallel computation (see the module docstring).

    Every rank of ``comm`` makes one, with the same arguments; the collectives (``sum_inplace``, ``agree``,
    ``check_in_step``) must then be called by every rank in the same order.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        An intracommunicator: ``mpi4py.MPI.COMM_WORLD`` or one split from it.

    Attributes
    ----------
    MPI : module
        The ``mpi4py.MPI`` module.
    comm : mpi4py.MPI.Comm
        The communicator given.
    rank : int
        This process's rank r in ``comm``, 0 .. size - 1.
    size : int
        The number p of ranks in ``comm``.

    Raises
    ------
    ImportError
        If mpi4py (or an MPI library) is not installed.
    TypeError
        If ``comm`` is not an mpi4py communicator, or is an intercommunicator.
    """

    def __init__(self, comm: Any) -> None:
        MPI = _mpi()
        if not isinstance(comm, MPI.Comm):
            raise TypeError(f"comm must be an mpi4py communicator (e.g. mpi4py.MPI.COMM_WORLD), got "
                            f"{type(comm).__name__}")
        if comm.Is_inter():
            raise TypeError("comm must be an intracommunicator (COMM_WORLD or one split from it)")
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

    # -- the data each rank takes ---------------------------------------------------------------
    def share(self, n: int) -> slice:
        r"""Return rank r's contiguous share of n rows: [n r / p, n (r + 1) / p), both ends rounded down.

        The p shares cover 0 .. n - 1 in order, without overlap; their sizes differ by at most one.
        Derivation: docs/derivations.md#data-parallel-training.

        Parameters
        ----------
        n : int
            The number of rows to share out (a global batch).

        Returns
        -------
        slice
            The rows of this rank, ``slice(n * rank // size, n * (rank + 1) // size)``.
        """
        return slice(n * self.rank // self.size, n * (self.rank + 1) // self.size)

    def mine(self, chunk_index: int) -> bool:
        r"""Return whether this rank computes evaluation chunk ``chunk_index`` (dealt round-robin).

        Derivation: docs/derivations.md#data-parallel-training.

        Parameters
        ----------
        chunk_index : int
            The index i >= 0 of the chunk.

        Returns
        -------
        bool
            True when i mod p is this rank.
        """
        return chunk_index % self.size == self.rank

    # -- collectives ------------------------------------------------------------------------------
    def sum_inplace(self, buffer: np.ndarray) -> np.ndarray:
        r"""Sum a C-contiguous float64 buffer over the ranks, in place, on every rank (Allreduce SUM).

        A collective: every rank must call it, with a buffer of the same shape and dtype.
        Derivation: docs/derivations.md#data-parallel-training.

        Parameters
        ----------
        buffer : ndarray
            A C-contiguous array (float64 in every purevae call): this rank's terms, overwritten with the sum.

        Returns
        -------
        ndarray
            ``buffer`` itself, now holding the sum over the ranks.
        """
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        return buffer

    def agree(self, what: str, **fields: Any) -> None:
        r"""Raise ValueError on every rank when the ranks were given different ``fields`` (one small allreduce).

        Each field is reduced to a 63-bit digest of its JSON (arrays: of their bytes); the minimum and the
        maximum over the ranks differ exactly where some rank disagrees. A collective: every rank must call it,
        with the same field names.

        Parameters
        ----------
        what : str
            What is being checked, the start of the error message (e.g. ``"fit"``).
        **fields : object
            The values to compare, by name: JSON-serialisable values (others by their ``repr``), ndarrays (their
            shape, dtype and bytes) or dicts of ndarrays (their names and bytes).

        Raises
        ------
        ValueError
            On every rank, if some field's digest is not the same on every rank; the message names those fields.
        """
        names = sorted(fields)
        digests = np.array([_digest(fields[name]) for name in names], dtype=np.int64)
        low, high = digests.copy(), digests.copy()
        self.comm.Allreduce(self.MPI.IN_PLACE, low, op=self.MPI.MIN)
        self.comm.Allreduce(self.MPI.IN_PLACE, high, op=self.MPI.MAX)
        differ = [name for name, a, b in zip(names, low, high) if a != b]
        if differ:
            raise ValueError(f"{what}: the {self.size} ranks were given different {', '.join(differ)} "
                             f"(every rank must be given the same data, seed and arguments)")

    def check_in_step(self, params: dict[str, np.ndarray], step: int) -> None:
        r"""Every ``DRIFT_CHECK_EVERY`` steps, raise on every rank if the parameters differ between ranks.

        A collective on those steps (``agree``); every other step returns at once.

        Parameters
        ----------
        params : dict of str to ndarray
            The model's parameters.
        step : int
            The number of the step just taken: the check runs when it is a multiple of ``DRIFT_CHECK_EVERY``.

        Raises
        ------
        ValueError
            On every rank, if the parameters are not the same on every rank at a checked step.
        """
        if step % DRIFT_CHECK_EVERY == 0:
            self.agree(f"after step {step}, the parameters drifted apart", parameters=params)


def _digest(value: Any) -> int:
    h = hashlib.blake2b(digest_size=8)
    if isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values()):
        for name, array in value.items():
            h.update(name.encode())
            h.update(np.ascontiguousarray(array).tobytes())
    elif isinstance(value, np.ndarray):
        h.update(str((value.shape, value.dtype.str)).encode())
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(json.dumps(value, sort_keys=True, default=repr).encode())
    return int.from_bytes(h.digest(), "little") >> 1          # a non-negative int64


def world() -> Any:
    r"""Return ``mpi4py.MPI.COMM_WORLD``: what ``--mpi`` uses.

    Returns
    -------
    mpi4py.MPI.Intracomm
        The communicator of every process of the MPI job.

    Raises
    ------
    ImportError
        If mpi4py (or an MPI library) is not installed; the message says what to install.
    """
    return _mpi().COMM_WORLD


def make_parallel(comm: Any) -> Parallel | None:
    r"""Return None for ``comm=None`` (one process), else a ``Parallel``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm or None
        The communicator, or None for one process.

    Returns
    -------
    Parallel or None
        ``Parallel(comm)``, or None when ``comm`` is None.

    Raises
    ------
    ImportError
        If ``comm`` is given and mpi4py is not installed.
    TypeError
        If ``comm`` is not an mpi4py intracommunicator (see ``Parallel``).
    """
    return None if comm is None else Parallel(comm)
