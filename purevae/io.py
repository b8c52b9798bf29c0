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
a file with ``read_npz`` + ``read_meta``, builds ``VAE(**meta["config"])`` and hands it to ``restore``, which
checks and copies the arrays, the counters and a checkpoint's optimizer and position.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from .optim import make_optimizer
from .typing import PathLike
from .validation import path as check_path
from .version import __version__

if TYPE_CHECKING:      # model imports this module: the name is for the annotations only
    from .model import VAE

__all__ = ["FORMAT", "FORMAT_VERSION", "read_meta", "read_npz", "read_safetensors", "read_safetensors_model",
           "restore", "save", "save_checkpoint", "save_safetensors", "write_atomic", "write_npz_atomic"]

FORMAT = "purevae"
FORMAT_VERSION = 1
_META = "__purevae__"


def _json_array(obj: Mapping[str, Any]) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def write_npz_atomic(path: PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` (an .npz) through a temporary file + fsync + rename."""
    path = check_path("path", path, ".npz")   # model files end in .npz
    # the keys are array names ("encoder.0.weight", ...), never savez's own keyword allow_pickle
    return write_atomic(path, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(f)`` on a temporary file in path's folder, fsync it and rename it over ``path``."""
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
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
    """Save the model's architecture and parameters to ``path``: an ``.npz`` (this module's format) or a
    ``.safetensors`` file (``save_safetensors``). Returns the path."""
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
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024     # the format's own limit on the JSON header


def save_safetensors(model: VAE, path: PathLike) -> Path:
    """Write ``model.state_dict()`` and the config to ``path`` (.safetensors), atomically. Returns the path."""
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


def read_safetensors(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The tensors (name -> ndarray, F32/F64 only) and ``__metadata__`` of a .safetensors file.

    Every failure is a ValueError naming the file: a header longer than the file or than the format's limit,
    JSON that is not an object, offsets that are not contiguous, in order and inside the data, a byte count
    that does not match dtype and shape, another dtype. Nothing is read past what the header promises.
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {str(path)!r}")
    size = path.stat().st_size

    def bad(why: str) -> ValueError:
        return ValueError(f"{str(path)!r} is not a readable .safetensors file: {why}")
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise bad("shorter than its 8-byte header length")
        n = int.from_bytes(raw, "little")
        if n > min(SAFETENSORS_MAX_HEADER, size - 8):
            raise bad(f"its header claims {n} bytes, the file has {size - 8} after the length")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad(f"its header is not JSON ({exc})") from None
        if not isinstance(header, dict):
            raise bad("its header is not a JSON object")
        metadata = header.pop("__metadata__", {}) or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise bad("__metadata__ must map names to strings")
        data_size, expected_begin, entries = size - 8 - n, 0, []
        for name, entry in sorted(header.items(), key=lambda kv: (kv[1].get("data_offsets", [0])[0]
                                                                   if isinstance(kv[1], dict) else 0)):
            if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
                raise bad(f"entry {name!r} must have exactly dtype, shape and data_offsets")
            dtype = SAFETENSORS_DTYPES.get(entry["dtype"])
            if dtype is None:
                raise bad(f"tensor {name!r} has dtype {entry['dtype']!r}; purevae reads F32 and F64")
            shape, offsets = entry["shape"], entry["data_offsets"]
            if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                    and isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
                raise bad(f"tensor {name!r} has a malformed shape or data_offsets")
            begin, end = offsets
            if begin != expected_begin or end < begin or end > data_size:
                raise bad(f"tensor {name!r} has data_offsets {offsets}, outside the data or not contiguous")
            if end - begin != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize:
                raise bad(f"tensor {name!r} holds {end - begin} bytes, its shape {shape} needs "
                          f"{int(np.prod(shape)) * dtype.itemsize}")
            entries.append((name, dtype, tuple(shape), end - begin))
            expected_begin = end
        tensors = {}
        for name, dtype, shape, nbytes in entries:          # in file order: one read each, never past the header
            tensors[name] = np.frombuffer(f.read(nbytes), dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    return tensors, metadata


def read_safetensors_model(path: PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, state_dict) of a purevae .safetensors file: ``__metadata__["purevae"]`` parsed as in ``read_meta``."""
    tensors, metadata = read_safetensors(path)
    if "purevae" not in metadata:
        raise ValueError(f"{str(path)!r} has no purevae config in its __metadata__: build the model from its "
                         f"tensors with purevae.VAE.from_state_dict(...)")
    meta = read_meta(path, {_META: np.frombuffer(metadata["purevae"].encode("utf-8"), dtype=np.uint8)})
    return meta, tensors


def save_checkpoint(model: VAE, path: PathLike, position: Mapping[str, Any] | None = None) -> Path:
    """Save parameters, optimizer state, generator state, counters and history (see the module docstring).

    ``position`` (written by ``fit``) describes a stop inside an epoch: the generator state at the
    epoch's start, the epoch's permutation, the steps done and the running sums. Refuses to write
    parameters that are not finite, so a diverged run never overwrites a good checkpoint.
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


def read_npz(path: PathLike) -> dict[str, np.ndarray]:
    """All arrays of an .npz, with allow_pickle=False; every failure is a ValueError naming the file.

    TypeError when ``path`` is not a str or os.PathLike; FileNotFoundError when there is no such file.
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"no such model file: {str(path)!r}")
    try:  # open the file ourselves: np.load leaves it open when the archive is corrupt
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
                raise ValueError("it does not start like a zip archive")
            f.seek(0)
            data = np.load(f, allow_pickle=False)
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an .npz archive")
            with data:
                return {key: data[key] for key in data.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ValueError(f"{str(path)!r} holds a pickled object array, which purevae never writes and "
                             f"refuses to load") from None
        raise ValueError(f"{str(path)!r} is not a readable .npz file ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable .npz file (truncated or corrupted?): {exc}") from None


def read_meta(path: PathLike, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    if _META not in arrays:
        raise ValueError(f"{str(path)!r} is not a purevae file (no {_META} entry)")
    try:
        meta = json.loads(arrays[_META].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(path)!r} has a corrupted {_META} entry: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a purevae file")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{str(path)!r} has format_version {meta.get('format_version')!r}; this purevae reads "
                         f"version {FORMAT_VERSION}")
    return meta


def restore(model: VAE, path: PathLike, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> None:
    """Copy a file's parameters, counters and checkpoint state into ``model``, built from ``meta["config"]``.

    Raises ValueError, naming the file, when the arrays do not match the architecture (names, shapes,
    dtypes) or are not finite, or when the checkpoint section is malformed.
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
    training = meta.get("training", {})
    model.epochs_trained = int(training.get("epochs_trained", 0))
    model.steps_trained = int(training.get("steps_trained", 0))
    if "checkpoint" in meta:
        _restore_checkpoint(path, model, meta["checkpoint"], arrays)


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
            model.resume_position = {**ckpt["position"], "order": arrays["fit/order"]}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{str(path)!r} has an invalid checkpoint section: {exc}") from None
