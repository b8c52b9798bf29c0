r"""Model files: an ``.npz`` of the parameter arrays plus a JSON config entry. No pickle, written atomically.

Layout of a file (``format_version`` 1)::

    __purevae__          uint8 array: UTF-8 JSON {"format": "purevae", "format_version": 1,
                          "config": VAE(**config) arguments, "purevae_version": ..., "training": {...}}
    params/<name>         one array per parameter, e.g. params/encoder.0.weight

A *checkpoint* (``save_checkpoint``, written by ``fit(..., checkpoint=PATH)``) is the same file plus
``optimizer/<state>/<name>`` arrays, ``fit/order`` (the epoch's permutation) and, in the JSON, the
optimizer's settings and step count, the generator's state, the position inside the epoch and the
history: ``load`` of a checkpoint gives a model whose next ``fit`` continues exactly where it stopped.

The file is written to a temporary file in the same folder, flushed to disk (fsync) and renamed
over the target, so a crash leaves either the old file or the new one, never half of one.
Loading uses ``allow_pickle=False``: nothing in a file can execute code.

This module is the file format and knows nothing of ``VAE``: ``purevae.load`` (``purevae.model.load``) reads
a file with ``read_model_npz`` (or ``read_safetensors_model``), passing it ``VAE.param_shapes_of`` (the parameter
shapes of the config's architecture), then builds ``VAE(**meta["config"])`` and hands it to ``restore``, which
copies the arrays, the counters and a checkpoint's optimizer and position (a ``.safetensors`` file gets
``VAE.load_state_dict`` and ``restore_counters`` instead).

A file may come from anyone, so reading one never allocates more than the file justifies: the JSON entry is
bounded (``MAX_META_BYTES``, ``MAX_JSON_DEPTH``) before it is parsed; the config is checked against the model's
limits (``purevae.model.MAX_PARAMETERS``, ``MAX_LAYERS``, ``MAX_WIDTH``) and turned into the exact shapes of the
arrays it implies; the archive's entries are listed (at most ``MAX_ENTRIES``), a missing or unexpected one refused
by name, and each entry's .npy header compared with its expected shape and dtype and with the entry's real
stored and compressed sizes (a deflated entry may inflate ``MAX_INFLATION`` times) before any data is read; then
exactly the promised bytes are read. Every failure is a ValueError naming the file.
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from .optim import OPTIMIZERS, make_optimizer
from .typing import PathLike
from .validation import path as check_path
from .version import __version__

if TYPE_CHECKING:      # model imports this module: the name is for the annotations only
    from .model import VAE

__all__ = ["FORMAT", "FORMAT_VERSION", "MAX_ENTRIES", "MAX_INFLATION", "MAX_INFLATION_SLACK", "MAX_JSON_DEPTH",
           "MAX_META_BYTES", "MAX_NPY_HEADER", "read_model_npz", "read_safetensors",
           "read_safetensors_model", "restore", "restore_counters", "save", "save_checkpoint", "save_safetensors",
           "write_atomic", "write_npz_atomic"]

FORMAT = "purevae"
FORMAT_VERSION = 1
_META = "__purevae__"


# ---------------------------------------------------------------------------------------------
# Reading a file from a stranger. Nothing is allocated that the file does not justify: the JSON entry is
# bounded in size and nesting before it is parsed, the config is checked against the model's limits and turned
# into the exact parameter shapes (``VAE.param_shapes``, the one formula) before any array is read, every entry
# is listed and its .npy header compared with those shapes and with the entry's real sizes, and only then are
# exactly the promised bytes read. Every failure is a ValueError naming the file.
# ---------------------------------------------------------------------------------------------
MAX_META_BYTES = 16 * 2**20    #: the JSON entry (config, history, generator state; a long run's is ~100 KB)
MAX_JSON_DEPTH = 32            #: nesting of that JSON (purevae's is 4 deep)
MAX_ENTRIES = 4096             #: archive entries (a checkpoint of the largest architecture has 3 * 263 + 2)
MAX_NPY_HEADER = 4096          #: bytes of one .npy header (purevae's are 128)
MAX_INFLATION = 16             #: inflation of deflated entries, per entry and in all (+ MAX_INFLATION_SLACK):
MAX_INFLATION_SLACK = 2**20    #: purevae stores entries uncompressed and float parameters deflate by < 2x, so
                               #: more is a mostly constant array: a compression bomb, refused unread
_CHUNK = 2**20                 #: bytes read at a time into a preallocated array


def _json_array(obj: Mapping[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def write_npz_atomic(path: PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` (an .npz) through a temporary file + fsync + rename.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write, ending in ``.npz``; its folder is made when missing.
    arrays : mapping of str to ndarray
        The arrays by name (``np.savez``'s keywords), e.g. ``"params/encoder.0.weight"``.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    ValueError
        ``path`` not ending in ``.npz``.
    OSError
        Writing failed (see :func:`write_atomic`); the previous file, if any, is unchanged.
    """
    path = check_path("path", path, ".npz")   # model files end in .npz
    # the keys are array names ("encoder.0.weight", ...), never savez's own keyword allow_pickle
    return write_atomic(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(f)`` on a temporary file in path's folder, fsync it and rename it over ``path``.

    The temporary file has a unique name (``mkstemp``), so processes writing the same path at once never touch
    each other's; the rename is atomic, so a reader (or a crash, even SIGKILL) sees the old file or the new one.
    When writing fails (a full disk: ENOSPC, a quota: EDQUOT, any OSError) the temporary file is removed, the
    previous file is left as it was, and the OSError names the path and keeps its errno.

    Parameters
    ----------
    path : pathlib.Path
        The file to write (a ``Path``, not a str); its folder is made when missing. The file gets the
        permissions ``open()`` would give it (0666 less the umask).
    write : callable
        ``write(f)`` writes the whole content to ``f``, a binary file object open for writing.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    OSError
        Writing, flushing or renaming failed; the message names the path, the errno is kept. Any other
        exception of ``write`` propagates as it is, after the temporary file is removed.
    """
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno is not None:
            reason = exc.strerror or str(exc)
            raise OSError(exc.errno, f"could not write {str(path)!r} ({reason}); the previous file, if any, is "
                                     f"unchanged") from exc
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on a folder
        pass
    return path


def _model_arrays(model: VAE, extra_meta: Mapping[str, Any] | None = None) -> dict[str, np.ndarray]:
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "purevae_version": __version__,
            "config": model.config(),
            "training": {"epochs_trained": model.epochs_trained, "steps_trained": model.steps_trained}}
    meta.update(extra_meta or {})
    arrays = {_META: _json_array(meta)}
    arrays.update({f"params/{name}": value for name, value in model.params.items()})
    return arrays


def save(model: VAE, path: PathLike) -> Path:
    """Save the model's architecture and parameters to ``path``, an ``.npz`` or a ``.safetensors`` file.

    An ``.npz`` is this module's format (see the module docstring), a ``.safetensors`` file is written by
    ``save_safetensors``; both atomically.

    Parameters
    ----------
    model : VAE
        The model to save.
    path : str or os.PathLike
        The file, ending in ``.npz`` or ``.safetensors``; its folder is made when missing.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    ValueError
        ``path`` ending in neither ``.npz`` nor ``.safetensors``.
    OSError
        Writing failed; the previous file, if any, is unchanged.
    """
    path = check_path("path", path)
    if path.suffix == ".safetensors":
        return save_safetensors(model, path)
    return write_npz_atomic(path, _model_arrays(model))


# ---------------------------------------------------------------------------------------------
# safetensors, written and read here (no dependency): an 8-byte little-endian header length N, N bytes of JSON
# {name: {"dtype": "F32" | "F64", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
# then the tensors' raw little-endian bytes, row-major, at those offsets of the data that follows the header.
# The tensors are ``VAE.state_dict()`` (torch.nn.Linear's (n_out, n_in) weights), so torch's
# ``safetensors.torch.load_file`` gives a state dict that a module named like purevae's layers loads;
# ``__metadata__["purevae"]`` holds this module's JSON (the config, the counters).
# ---------------------------------------------------------------------------------------------
SAFETENSORS_DTYPES: dict[str, np.dtype] = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
SAFETENSORS_MAX_HEADER = MAX_META_BYTES   # the format allows 100 MB; purevae's headers are a few KB


def save_safetensors(model: VAE, path: PathLike) -> Path:
    """Write ``model.state_dict()`` and the config to ``path`` (.safetensors), atomically.

    Parameters
    ----------
    model : VAE
        The model to save; ``__metadata__["purevae"]`` holds its config and counters as JSON.
    path : str or os.PathLike
        The file, ending in ``.safetensors``; its folder is made when missing.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    ValueError
        ``path`` not ending in ``.safetensors``.
    OSError
        Writing failed; the previous file, if any, is unchanged.
    """
    path = check_path("path", path, ".safetensors")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "purevae_version": __version__,
            "config": model.config(),
            "training": {"epochs_trained": model.epochs_trained, "steps_trained": model.steps_trained}}
    tensors = model.state_dict()
    header, offset = {}, 0
    for name, value in tensors.items():
        code = next(c for c, d in SAFETENSORS_DTYPES.items() if d == value.dtype.newbyteorder("<"))
        header[name] = {"dtype": code, "shape": list(value.shape), "data_offsets": [offset, offset + value.nbytes]}
        offset += value.nbytes
    header["__metadata__"] = {"purevae": json.dumps(meta, sort_keys=True)}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)           # pad the header with spaces to a multiple of 8 (the format allows it)

    def write(f: BinaryIO) -> None:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for value in tensors.values():
            f.write(np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes())
    return write_atomic(path, write)


def _begin(entry: object) -> int:
    """Where a safetensors entry's data begins, for sorting (-1 when malformed: the check below names it)."""
    offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
    ok = isinstance(offsets, list) and offsets and isinstance(offsets[0], int) and not isinstance(offsets[0], bool)
    return offsets[0] if ok else -1      # type: ignore[index]


def _read_safetensors(path: PathLike,
                     expected: Callable[[dict[str, str]], Mapping[str, tuple[tuple[int, ...], np.dtype]]] | None = None
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """See ``read_safetensors``."""
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {str(path)!r}")
    size = path.stat().st_size

    def bad(why: str) -> ValueError:
        return _Bad(f"{str(path)!r} is not a readable .safetensors file: {why}")
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise bad("shorter than its 8-byte header length")
        n = int.from_bytes(raw, "little")
        if n > min(SAFETENSORS_MAX_HEADER, size - 8):
            raise bad(f"its header claims {n} bytes; the file has {size - 8} after the length and purevae reads "
                      f"at most SAFETENSORS_MAX_HEADER = {SAFETENSORS_MAX_HEADER}")
        try:
            text = f.read(n).decode("utf-8")
            depth = _json_depth(text)
            if depth > MAX_JSON_DEPTH:
                raise bad(f"its header nests {depth} deep, more than MAX_JSON_DEPTH = {MAX_JSON_DEPTH}")
            header = json.loads(text)
        except _Bad:
            raise
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise bad(f"its header is not JSON ({exc})") from None
        if not isinstance(header, dict):
            raise bad("its header is not a JSON object")
        metadata = header.pop("__metadata__", {}) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise bad("__metadata__ must map names to strings")
        data_size, expected_begin, entries = size - 8 - n, 0, []
        for name, entry in sorted(header.items(), key=lambda kv: _begin(kv[1])):
            if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
                raise bad(f"entry {name!r} must have exactly dtype, shape and data_offsets")
            dtype = SAFETENSORS_DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
            if dtype is None:
                raise bad(f"tensor {name!r} has dtype {entry['dtype']!r}; purevae reads F32 and F64")
            shape, offsets = entry["shape"], entry["data_offsets"]
            if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                    and isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
                raise bad(f"tensor {name!r} has a malformed shape or data_offsets")
            begin, end = offsets
            if begin != expected_begin or end < begin or end > data_size:
                raise bad(f"tensor {name!r} has data_offsets {offsets}, outside the data or not contiguous")
            if end - begin != math.prod(shape) * dtype.itemsize:
                raise bad(f"tensor {name!r} holds {end - begin} bytes, its shape {shape} needs "
                          f"{math.prod(shape) * dtype.itemsize}")
            entries.append((name, dtype, tuple(shape), end - begin))
            expected_begin = end
        if expected is not None:                             # compared before any data is read
            wanted = expected(metadata)
            found = {name for name, *_ in entries}
            if found != set(wanted):
                raise _Bad(f"{str(path)!r} does not match its config: missing tensors {sorted(set(wanted) - found)}, "
                           f"unexpected {sorted(found - set(wanted))}")
            for name, dtype, shape, _ in entries:
                want_shape, want_dtype = wanted[name]
                if shape != tuple(want_shape) or dtype != np.dtype(want_dtype).newbyteorder("<"):
                    raise _Bad(f"{str(path)!r}: tensor {name!r} is {dtype.name} {shape}, the config implies "
                               f"{np.dtype(want_dtype).name} {tuple(want_shape)}")
        tensors = {}
        for name, dtype, shape, nbytes in entries:          # in file order: one read each, never past the header
            out = np.empty(shape, dtype.newbyteorder("="))
            data = f.read(nbytes)
            if len(data) != nbytes:
                raise bad(f"tensor {name!r} is truncated")
            out.reshape(-1)[...] = np.frombuffer(data, dtype=dtype)
            tensors[name] = out
    return tensors, metadata


def read_safetensors(path: PathLike,
                     expected: Callable[[dict[str, str]], Mapping[str, tuple[tuple[int, ...], np.dtype]]] | None = None
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read the tensors (name -> ndarray, F32/F64 only) and ``__metadata__`` of a .safetensors file.

    ``expected(metadata)``, when given, is called once the header is parsed and before any data is read; it
    returns the names, shapes and dtypes the file must hold, and anything else is refused. Every failure is a
    ValueError naming the file: a header longer than the file or than ``SAFETENSORS_MAX_HEADER``, nested deeper
    than ``MAX_JSON_DEPTH``, JSON that is not an object, offsets that are not contiguous, in order and inside the
    data, a byte count that does not match dtype and shape, another dtype, a mismatch with ``expected``. Nothing
    is read past what the header promises.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.safetensors`` file.
    expected : callable, optional
        ``expected(metadata)`` -> mapping of tensor name to (shape, dtype); None (the default) accepts any
        F32/F64 tensors.

    Returns
    -------
    tensors : dict of str to ndarray
        Each tensor in native byte order, a new array, in file order.
    metadata : dict of str to str
        The header's ``__metadata__`` (empty when absent).

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    FileNotFoundError
        No such file.
    ValueError
        Any of the failures above; the message names the file.
    """
    try:
        return _read_safetensors(path, expected)
    except _Bad as exc:
        raise ValueError(str(exc)) from None


def read_safetensors_model(path: PathLike, shapes_of: ShapesOf) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the (meta, state_dict) of a purevae .safetensors file, its ``__metadata__["purevae"]`` JSON checked.

    ``shapes_of(config)`` gives the tensors' shapes (``state_dict``'s layout) and dtype that the config implies;
    the header is compared with them before any tensor is read. The JSON is parsed and checked as the ``.npz``
    format's entry is (``MAX_META_BYTES``, ``MAX_JSON_DEPTH``, ``format``, ``format_version``).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.safetensors`` file, written by ``save_safetensors``.
    shapes_of : callable
        ``shapes_of(config)`` -> (mapping of tensor name to shape, dtype); ``purevae.load`` passes
        ``VAE.param_shapes_of`` with ``layout="state_dict"``. Its TypeError, ValueError or KeyError becomes
        a ValueError naming the file.

    Returns
    -------
    meta : dict
        The parsed JSON: ``format``, ``format_version``, ``config``, ``purevae_version``, ``training``.
    state_dict : dict of str to ndarray
        The tensors, in ``VAE.state_dict()``'s layout.

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    FileNotFoundError
        No such file.
    ValueError
        The file fails a check of :func:`read_safetensors`, has no purevae config in its ``__metadata__``,
        a corrupt or foreign JSON entry, an invalid config, or tensors that do not match it; the message names
        the file.
    """
    path = check_path("path", path)
    found: dict[str, Any] = {}

    def expected(metadata: dict[str, str]) -> Mapping[str, tuple[tuple[int, ...], np.dtype]]:
        if "purevae" not in metadata:
            raise _Bad(f"{str(path)!r} has no purevae config in its __metadata__: build the model from its "
                       f"tensors with purevae.VAE.from_state_dict(...)")
        found["meta"] = meta = _parse_meta(path, metadata["purevae"].encode("utf-8"))
        shapes, dtype = _shapes(path, shapes_of, meta)
        return {name: (shape, dtype) for name, shape in shapes.items()}
    try:
        tensors, _ = _read_safetensors(path, expected)
    except _Bad as exc:
        raise ValueError(str(exc)) from None
    return found["meta"], tensors


def save_checkpoint(model: VAE, path: PathLike, position: Mapping[str, Any] | None = None) -> Path:
    """Save parameters, optimizer state, generator state, counters and history (see the module docstring).

    ``position`` (written by ``fit``) describes a stop inside an epoch: the generator state at the
    epoch's start, the epoch's permutation, the steps done and the running sums. Refuses to write
    parameters that are not finite, so a diverged run never overwrites a good checkpoint.

    Parameters
    ----------
    model : VAE
        The model, with its optimizer (None before the first ``fit``), generator, counters and history.
    path : str or os.PathLike
        The file, ending in ``.npz``; its folder is made when missing.
    position : mapping, optional
        The stop inside an epoch, as ``fit`` writes it; its ``"order"`` (the permutation) is stored as the
        ``fit/order`` array, the rest in the JSON. None (the default) for a checkpoint at an epoch's end.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    ValueError
        A parameter that is not finite (nothing is written), or ``path`` not ending in ``.npz``.
    TypeError
        ``path`` not a str or os.PathLike.
    OSError
        Writing failed; the previous file, if any, is unchanged.
    """
    for name, value in model.params.items():
        if not np.all(np.isfinite(value)):
            raise ValueError(f"parameter {name} is not finite: refusing to write a checkpoint to {str(path)!r}")
    opt = model.optimizer
    position = dict(position or {})
    order = position.pop("order", None)
    extra = {"checkpoint": {"rng_state": model.rng.bit_generator.state, "history": model.history,
                            "optimizer": None if opt is None else {**opt.config(), "t": opt.t},
                            "position": position or None}}
    arrays = _model_arrays(model, extra)
    if opt is not None:
        arrays.update({f"optimizer/{k}": v for k, v in opt.state_arrays().items()})
    if order is not None:
        arrays["fit/order"] = np.asarray(order, dtype=np.int64)
    return write_npz_atomic(path, arrays)



#: (parameter shapes, dtype) of a file's config, from ``VAE.param_shapes_of``; raises TypeError/ValueError/KeyError
ShapesOf = Callable[[Any], tuple[Mapping[str, tuple[int, ...]], np.dtype]]


class _Bad(ValueError):
    """A file that fails a check: the message names the file (``_fail``)."""


def _fail(path: Path, why: str) -> _Bad:
    return _Bad(f"{str(path)!r} is not a readable .npz file: {why}")


def _json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text, strings ignored, in chunks (no allocation ~ the text)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text).encode("utf-8")
    depth = deepest = 0
    for begin in range(0, len(stripped), _CHUNK):
        b = np.frombuffer(stripped, np.uint8, count=min(_CHUNK, len(stripped) - begin), offset=begin)
        steps = (b == 91).astype(np.int32) + (b == 123) - (b == 93) - (b == 125)   # [ { ] }
        if steps.size:
            levels = depth + np.cumsum(steps)
            deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
    return deepest


def _parse_meta(path: Path, raw: bytes) -> dict[str, Any]:
    """The JSON entry of a purevae file, parsed under ``MAX_META_BYTES`` and ``MAX_JSON_DEPTH``, format checked."""
    if len(raw) > MAX_META_BYTES:
        raise _Bad(f"{str(path)!r} has a corrupted {_META} entry: {len(raw)} bytes, more than MAX_META_BYTES = "
                   f"{MAX_META_BYTES}")
    try:
        text = raw.decode("utf-8")
        depth = _json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise _Bad(f"{str(path)!r} has a corrupted {_META} entry: it nests {depth} deep, more than "
                       f"MAX_JSON_DEPTH = {MAX_JSON_DEPTH}")
        meta = json.loads(text)
    except _Bad:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:   # JSONDecodeError, int digit limit
        raise _Bad(f"{str(path)!r} has a corrupted {_META} entry: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a purevae file (its {_META} entry is not purevae's)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format_version {meta.get('format_version')!r}; this purevae reads "
                         f"version {FORMAT_VERSION}")
    return meta


def _shapes(path: Path, shapes_of: ShapesOf, meta: Mapping[str, Any]
            ) -> tuple[Mapping[str, tuple[int, ...]], np.dtype]:
    try:
        return shapes_of(meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _Bad(f"{str(path)!r} has an invalid config: {exc}") from None


def _expected_entries(path: Path, meta: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]], dtype: np.dtype
                      ) -> dict[str, tuple[tuple[int, ...] | None, np.dtype]]:
    """Every array the file must hold, name -> (shape, or None for any 1-D length; dtype)."""
    expected: dict[str, tuple[tuple[int, ...] | None, np.dtype]] = {
        f"params/{name}": (shape, dtype) for name, shape in shapes.items()}
    ckpt = meta.get("checkpoint")
    if ckpt is None:
        return expected
    if not isinstance(ckpt, dict):
        raise _fail(path, "its checkpoint section is not a JSON object")
    opt = ckpt.get("optimizer")
    if opt is not None:
        if not isinstance(opt, dict) or opt.get("optimizer") not in OPTIMIZERS:
            raise _fail(path, f"its checkpoint names an unknown optimizer ({opt!r})")
        t = opt.get("t")
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise _fail(path, f"its checkpoint has an invalid optimizer step count t = {t!r}")
        if t > 0:                               # the state exists for every parameter once a step was taken
            for state in OPTIMIZERS[opt["optimizer"]].STATES:
                expected.update({f"optimizer/{state}/{name}": (shape, dtype) for name, shape in shapes.items()})
    if ckpt.get("position") is not None:
        expected["fit/order"] = (None, np.dtype(np.int64))
    return expected


def _zip_entries(path: Path, archive: zipfile.ZipFile, size: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by array name, each checked against what it really occupies in the file."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _fail(path, f"it has {len(infos)} entries, more than MAX_ENTRIES = {MAX_ENTRIES}")
    entries: dict[str, zipfile.ZipInfo] = {}
    compressed = inflated = 0
    for info in infos:
        name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        if name in entries:
            raise _fail(path, f"entry {info.filename!r} appears twice")
        if info.flag_bits & 0x1:
            raise _fail(path, f"entry {info.filename!r} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise _fail(path, f"stored entry {info.filename!r} claims {info.file_size} bytes in "
                                  f"{info.compress_size}")
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            inflated += info.file_size
            if max(info.file_size - MAX_INFLATION * info.compress_size,
                   inflated - MAX_INFLATION * size) > MAX_INFLATION_SLACK:
                raise _fail(path, f"entry {info.filename!r} inflates {info.compress_size} bytes to "
                                  f"{info.file_size} ({inflated} in all from a {size}-byte file), more than "
                                  f"MAX_INFLATION = {MAX_INFLATION} times: a compression bomb?")
        else:
            raise _fail(path, f"entry {info.filename!r} uses compression method {info.compress_type}; purevae "
                              f"reads stored and deflated entries")
        compressed += info.compress_size
        if info.header_offset + info.compress_size > size or compressed > size:
            raise _fail(path, f"entry {info.filename!r} claims more bytes than the file's {size}")
        entries[name] = info
    return entries


def _npy_header(path: Path, archive: zipfile.ZipFile, name: str, info: zipfile.ZipInfo,
                shape: tuple[int, ...] | None, dtype: np.dtype) -> tuple[tuple[int, ...], int, bool]:
    """(shape, data offset, Fortran order) of an entry's .npy header, compared with the expected shape and dtype
    and with the entry's size, without reading its data."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(member, max_header_size=MAX_NPY_HEADER)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(member, max_header_size=MAX_NPY_HEADER)
            else:
                raise _fail(path, f"entry {name!r} has .npy format version {version}")
        except _Bad:
            raise
        except (ValueError, SyntaxError, TypeError) as exc:
            raise _fail(path, f"entry {name!r} has no valid .npy header ({' '.join(str(exc).split())})") from None
        offset = member.tell()
    found, fortran, found_dtype = header
    if found_dtype.hasobject:
        raise _Bad(f"{str(path)!r} holds a pickled object array (entry {name!r}), which purevae never writes and "
                   f"refuses to load")
    if found_dtype != dtype:
        raise _Bad(f"{str(path)!r} does not match its config: entry {name!r} has dtype {found_dtype}, expected "
                   f"{dtype}")
    if shape is None:
        if len(found) != 1:
            raise _fail(path, f"entry {name!r} has shape {found}, expected a 1-D array")
    elif tuple(found) != tuple(shape):
        raise _Bad(f"{str(path)!r} does not match its config: entry {name!r} has shape {tuple(found)}, the config "
                   f"implies {tuple(shape)}")
    nbytes = math.prod(found) * dtype.itemsize
    if info.file_size != offset + nbytes:
        raise _fail(path, f"entry {name!r} promises {nbytes} bytes of data after its header, the entry holds "
                          f"{info.file_size - offset}")
    return tuple(found), offset, bool(fortran)


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, shape: tuple[int, ...], offset: int,
                fortran: bool, dtype: np.dtype) -> np.ndarray:
    """Exactly the promised data of a checked entry, read in chunks into one preallocated array (C order)."""
    out = np.empty(shape[::-1] if fortran else shape, dtype)     # Fortran order: the transpose's C layout
    view = out.reshape(-1).view(np.uint8).data
    with archive.open(info) as member:
        member.read(offset)
        done = 0
        while done < len(view):
            chunk = member.read(min(_CHUNK, len(view) - done))
            if not chunk:
                raise EOFError(f"entry {info.filename!r} ended after {done} of {len(view)} bytes")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        if member.read(1):                                  # reading to the end checks the CRC too
            raise EOFError(f"entry {info.filename!r} holds more than its header promised")
    return np.ascontiguousarray(out.T) if fortran else out


def _read_model_npz(path: PathLike, shapes_of: ShapesOf) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """See ``read_model_npz``."""
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {str(path)!r}")
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":                 # every .npz is a zip archive
                raise _fail(path, "it does not start like a zip archive (.npz)")
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                entries = _zip_entries(path, archive, size)
                if _META not in entries:
                    raise _Bad(f"{str(path)!r} is not a purevae file (no {_META} entry)")
                meta_shape, meta_offset, _ = _npy_header(path, archive, _META, entries[_META], None,
                                                         np.dtype(np.uint8))
                if meta_shape[0] > MAX_META_BYTES:
                    raise _fail(path, f"its {_META} entry has {meta_shape[0]} bytes, more than MAX_META_BYTES = "
                                      f"{MAX_META_BYTES}")
                raw = _read_entry(archive, entries[_META], meta_shape, meta_offset, False, np.dtype(np.uint8))
                meta = _parse_meta(path, raw.tobytes())
                shapes, dtype = _shapes(path, shapes_of, meta)
                expected = _expected_entries(path, meta, shapes, dtype)
                found = set(entries) - {_META}
                if found != set(expected):
                    raise _Bad(f"{str(path)!r} does not match its config: missing entries "
                                     f"{sorted(set(expected) - found)}, unexpected {sorted(found - set(expected))}")
                headers = {name: _npy_header(path, archive, name, entries[name], *expected[name])
                           for name in expected}          # every header checked before any data is read
                arrays = {name: _read_entry(archive, entries[name], *headers[name], expected[name][1])
                          for name in expected}
    except _Bad:
        raise
    except (PermissionError, IsADirectoryError):
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, OSError, ValueError, OverflowError) as exc:
        # zipfile's own complaints about a corrupt archive (a bad seek is an OSError or a ValueError there)
        raise ValueError(f"{str(path)!r} is not a readable .npz file (truncated or corrupted?): "
                         f"{' '.join(str(exc).split())}") from None
    return meta, arrays


def read_model_npz(path: PathLike, shapes_of: ShapesOf) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read the (meta, arrays) of a purevae .npz model or checkpoint, checked as the module docstring says.

    ``shapes_of(config)`` gives the parameter shapes and the dtype a config implies (``purevae.load`` passes
    ``VAE.param_shapes_of``: the shapes of the config's architecture, built without parameters). TypeError when
    ``path`` is not a str or os.PathLike, FileNotFoundError when there is no such file, ValueError naming the file
    otherwise.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file, written by ``save`` or ``save_checkpoint``.
    shapes_of : callable
        ``shapes_of(config)`` -> (mapping of parameter name to shape, dtype). Its TypeError, ValueError or
        KeyError becomes a ValueError naming the file.

    Returns
    -------
    meta : dict
        The parsed JSON entry (``config``, ``training``, and a checkpoint's ``checkpoint`` section).
    arrays : dict of str to ndarray
        Every array but the JSON entry, by entry name (``params/<name>``, ``optimizer/<state>/<name>``,
        ``fit/order``), C-contiguous.

    Raises
    ------
    TypeError
        ``path`` not a str or os.PathLike.
    FileNotFoundError
        No such file.
    ValueError
        A corrupt, foreign, hostile or mismatched file; the message names the file.
    PermissionError
        The file cannot be opened for reading.
    """
    try:
        return _read_model_npz(path, shapes_of)
    except _Bad as exc:
        raise ValueError(str(exc)) from None


def restore(model: VAE, path: PathLike, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Copy a file's parameters, counters and checkpoint state into ``model``, built from ``meta["config"]``.

    Raises ValueError, naming the file, when the arrays do not match the architecture (names, shapes,
    dtypes) or are not finite, or when the checkpoint section is malformed.

    Parameters
    ----------
    model : VAE
        The model to fill, built with ``VAE(**meta["config"])``; changed in place.
    path : str or os.PathLike
        The file the arrays came from, for the error messages.
    meta : mapping
        The file's JSON entry, as :func:`read_model_npz` returns it.
    arrays : mapping of str to ndarray
        The file's arrays, as :func:`read_model_npz` returns them.

    Raises
    ------
    ValueError
        Parameters missing or unexpected, of another shape or dtype, or not finite; an invalid training
        section; a malformed checkpoint section (generator state, history, optimizer, position).
    """
    expected = set(model.params)
    found = {key[len("params/"):] for key in arrays if key.startswith("params/")}
    if found != expected:
        raise ValueError(f"{str(path)!r} does not match its architecture: missing {sorted(expected - found)}, "
                         f"unexpected {sorted(found - expected)}")
    for name, target in model.params.items():
        value = arrays[f"params/{name}"]
        if value.shape != target.shape:
            raise ValueError(f"{str(path)!r}: parameter {name} has shape {value.shape}, expected {target.shape}")
        if value.dtype != target.dtype:
            raise ValueError(f"{str(path)!r}: parameter {name} has dtype {value.dtype}, expected {target.dtype}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{str(path)!r}: parameter {name} contains NaN or inf")
        target[...] = value
    restore_counters(model, path, meta)
    if "checkpoint" in meta:
        _restore_checkpoint(path, model, meta["checkpoint"], arrays)


def restore_counters(model: VAE, path: PathLike, meta: Mapping[str, Any]) -> None:
    """Set ``model.epochs_trained`` and ``model.steps_trained`` from a file's ``training`` section (0 when absent).

    Parameters
    ----------
    model : VAE
        The model whose counters are set.
    path : str or os.PathLike
        The file ``meta`` came from, for the error messages.
    meta : mapping
        The file's JSON entry.

    Raises
    ------
    ValueError
        A ``training`` section that is not an object, or a counter that is not an int >= 0.
    """
    training = meta.get("training", {})
    if not isinstance(training, dict):
        raise ValueError(f"{str(path)!r} has an invalid training section: {training!r}")
    for key in ("epochs_trained", "steps_trained"):
        value = training.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{str(path)!r} has an invalid training.{key}: {value!r}")
        setattr(model, key, value)


def _restore_checkpoint(path, model, ckpt: dict, arrays: Mapping[str, np.ndarray]) -> None:
    try:
        model.rng.bit_generator.state = ckpt["rng_state"]
        model.history = {k: list(v) for k, v in ckpt["history"].items()}
        if ckpt["optimizer"] is not None:
            settings = dict(ckpt["optimizer"])
            name, t = settings.pop("optimizer"), settings.pop("t")
            model.optimizer = make_optimizer(name, **settings)
            state = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
            model.optimizer.load_state_arrays(state, t)
            for key, value in state.items():
                name_ = key.split("/", 1)[1]
                if name_ not in model.params or value.shape != model.params[name_].shape \
                        or value.dtype != model.dtype:
                    raise ValueError(f"optimizer state {key} does not match the parameters")
        if ckpt["position"] is not None:
            model.resume_position = {**_check_position(ckpt["position"]), "order": arrays["fit/order"]}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{str(path)!r} has an invalid checkpoint section: {exc}") from None


def _check_position(position: Any) -> dict[str, Any]:
    """A checkpoint's position inside an epoch, checked field by field (``fit`` trusts it)."""
    if not isinstance(position, dict):
        raise TypeError(f"position must be an object, got {type(position).__name__}")
    for key in ("epoch_rng_state", "rng_state"):           # a generator state the model's generator accepts
        np.random.default_rng(0).bit_generator.state = position[key]
    for key in ("step", "batch_size"):
        value = position[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "step" else 1):
            raise ValueError(f"position.{key} must be an integer >= {0 if key == 'step' else 1}, got {value!r}")
    sums, elapsed = position["sums"], position["elapsed"]
    if not (isinstance(sums, list) and len(sums) <= 6 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                              for v in sums)):
        raise ValueError(f"position.sums must be at most 6 finite numbers, got {str(sums)[:80]}")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)) or not elapsed >= 0:
        raise ValueError(f"position.elapsed must be a number >= 0, got {elapsed!r}")
    return position
