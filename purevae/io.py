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
from pathlib import Path

import numpy as np

from .optim import make_optimizer
from .validation import path as check_path
from .version import __version__

FORMAT = "purevae"
FORMAT_VERSION = 1
_META = "__purevae__"


def _json_array(obj: dict) -> np.ndarray:
    return np.frombuffer(json.dumps(obj, sort_keys=True).encode("utf-8"), dtype=np.uint8)


def write_npz_atomic(path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` (an .npz) through a temporary file + fsync + rename."""
    path = check_path("path", path, ".npz")   # model files end in .npz
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
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


def _model_arrays(model, extra_meta: dict | None = None) -> dict[str, np.ndarray]:
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "purevae_version": __version__,
            "config": model.config(),
            "training": {"epochs_trained": model.epochs_trained, "steps_trained": model.steps_trained}}
    meta.update(extra_meta or {})
    arrays = {_META: _json_array(meta)}
    arrays.update({f"params/{name}": value for name, value in model.params.items()})
    return arrays


def save(model, path) -> Path:
    """Save the model's architecture and parameters to ``path`` (.npz). Returns the path."""
    return write_npz_atomic(path, _model_arrays(model))


def save_checkpoint(model, path, position: dict | None = None) -> Path:
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


def read_npz(path) -> dict[str, np.ndarray]:
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


def read_meta(path, arrays: dict[str, np.ndarray]) -> dict:
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


def restore(model, path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
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


def _restore_checkpoint(path, model, ckpt: dict, arrays: dict[str, np.ndarray]) -> None:
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
