r"""Data for purevae: the IDX (MNIST-format) reader, the bundled Fashion-MNIST subset, binarization.

Every loader returns a :class:`Dataset` whose images are flattened to rows, batch first::

    x_train : (n_train, n_features)    e.g. (10000, 784), uint8 pixels 0..255 as stored
    y_train : (n_train,) or None       integer class labels
    x_test  : (n_test, n_features) or None
    y_test  : (n_test,) or None
    image_shape : (rows, cols) or None  rows * cols == n_features; for plotting only

Pixels stay as they were stored (uint8 for IDX files); turn them into probabilities with
:func:`scale_pixels`, then into 0/1 data with :func:`binarize` (dynamic) or :func:`binarize_static`.
:func:`prepare` does all of it the way ``purevae train`` does (scaling, subsets, the binarization
protocol and its fixed seeds) and returns a :class:`PreparedData` ready for ``VAE.fit``.

.. rubric:: Where the data come from

===================  =========================================================================================
``"bundled"``        :func:`load_bundled`: 10,000 train + 2,000 test Fashion-MNIST images shipped in
                     ``purevae/datasets/`` (balanced classes; see its README.md)
``"fashion-mnist"``  :func:`load_fashion_mnist`: the full 60,000 + 10,000 set from the Debian package
                     ``dataset-fashion-mnist`` (files under ``/usr/share/datasets/fashion-mnist/``)
a folder             :func:`load_idx_folder`: the four IDX files of MNIST, Fashion-MNIST, KMNIST, ...
an ``.npz`` file     :func:`load_npz`: ``x_train``, ``x_test`` [, ``y_train``, ``y_test``, ``image_shape``]
arrays               :func:`from_arrays`
===================  =========================================================================================

:func:`load_dataset` dispatches on those forms. Nothing here unpickles: IDX payloads are read with
``np.frombuffer`` and ``.npz`` files with ``allow_pickle=False``. Only NumPy, ``scipy.sparse`` (the text
corpora) and the standard library are used.

Text corpora (issue 17) come as a :class:`TextCorpus`: bag-of-words counts as ``scipy.sparse.csr_matrix``
(n_docs, V) float32, category labels (n_docs,) int64, the texts and the vocabulary (made by
:mod:`purevae.text`). :func:`load_text_dataset` dispatches on these forms:

==================  ==========================================================================================
``"wordnet"``       :func:`load_wordnet_bundled`: 32,400 train + 3,600 held-out WordNet 3.0 glosses shipped in
                    ``purevae/datasets/`` (see its README.md; licence in ``WORDNET_LICENSE.txt``)
``"wordnet-full"``  :func:`load_wordnet_glosses`: every gloss, from the Debian package ``wordnet-base``
                    (files under ``/usr/share/wordnet/``)
an ``.npz`` file    :func:`load_text_npz`: the bundled format (:func:`text_corpus_arrays`), no pickle
==================  ==========================================================================================

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/)::

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     ndim
    then        ndim dimensions, big-endian uint32 each
    then        prod(dims) values of that type, big-endian, C order (last index fastest)
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import math
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from .text import build_vocabulary, count_matrix, tokenize
from .validation import boolean, choice, float_dtype, fraction, positive_int
from .validation import path as check_path
from .validation import seed as _seed

__all__ = [
    "BINARIZE_MODES",
    "to_memmap",
    "Dataset",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_INSTALL",
    "IDX_FILES",
    "PreparedData",
    "TEST_BINARIZE_SEED",
    "TEXT_NPZ_KEYS",
    "TRAIN_BINARIZE_SEED",
    "TextCorpus",
    "WORDNET_BUNDLED_FILE",
    "WORDNET_DIR",
    "WORDNET_FILES",
    "WORDNET_INSTALL",
    "WORDNET_LEXNAMES",
    "WORDNET_MIN_DF",
    "arrays_sha256",
    "as_image_shape",
    "binarize",
    "binarize_static",
    "from_arrays",
    "load_bundled",
    "load_dataset",
    "load_fashion_mnist",
    "load_idx_folder",
    "load_npz",
    "load_text_dataset",
    "load_text_npz",
    "load_wordnet_bundled",
    "load_wordnet_glosses",
    "prepare",
    "read_idx",
    "read_wordnet_glosses",
    "scale_pixels",
    "stratified_subset",
    "text_corpus_arrays",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_INSTALL = "apt-get update && apt-get install -y dataset-fashion-mnist"
BUNDLED_PATH = Path(__file__).resolve().parent / "datasets" / "fashion_mnist_subset.npz"

# How :func:`prepare` (and so ``purevae train``) turns grey images into 0/1 data; ``--binarize`` takes these.
BINARIZE_MODES = ("none", "dynamic", "static")
# The seeds of the two static binarizations. They are fixed, and independent of the model's seed, so that
# every model trained with binarize="static" sees the same 0/1 training images whatever its seed, and every
# binarized run ("dynamic" or "static") is scored on the same 0/1 test images: test numbers stay comparable
# across seeds and runs. Two different seeds, so that the train and test draws are not the same stream.
TRAIN_BINARIZE_SEED = 1
TEST_BINARIZE_SEED = 2

# The four files of an MNIST-format folder, by role; each may also carry a ".gz" suffix.
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

# IDX type code -> big-endian dtype of the payload.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_MAX_NDIM = 4
_GZIP_MAGIC = b"\x1f\x8b"


# --------------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------------
def _describe_array(a: np.ndarray | None) -> str:
    """How the reprs of Dataset and PreparedData show an array: its dtype and shape."""
    return "None" if a is None else f"<{a.dtype} {a.shape}>"


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    r"""A train/test split of flattened images, with optional labels.

    Each parameter is also the attribute of the same name.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_features)
        Pixels as stored (uint8 0..255 for MNIST-format IDX files and the bundled data); any numeric or
        bool dtype is accepted.
    y_train : ndarray, shape (n_train,), or None
        Class labels of the rows of ``x_train`` (any dtype but object), or None without labels.
    x_test : ndarray, shape (n_test, n_features), or None
        None only for data made by :func:`from_arrays` without a test set.
    y_test : ndarray, shape (n_test,), or None
        Class labels of the rows of ``x_test``; must be None when ``x_test`` is None.
    name : str
        Where the data came from, e.g. ``"fashion-mnist-subset"``.
    image_shape : tuple (rows, cols), or None, default None
        How to fold a row of ``x`` back into an image; ``rows * cols == n_features``. Stored as a tuple of
        two Python ints (:func:`as_image_shape`).

    Raises
    ------
    TypeError
        An x or y that is not an ndarray, an x that holds neither numbers nor bools, an object-dtype y,
        ``name`` not a str, or an ``image_shape`` that is not two integers.
    ValueError
        An x that is not 2-D, ``x_test`` of another width than ``x_train``, ``y_test`` given without
        ``x_test``, a y that is not 1-D or whose length differs from its x's rows, or an ``image_shape``
        with an entry < 1 or whose ``rows * cols`` is not ``n_features``; the message names the field.

    Notes
    -----
    The dataclass is frozen (the fields cannot be rebound) but the arrays are ordinary NumPy arrays:
    the file loaders return fresh ones, while :func:`from_arrays` keeps the caller's (no copy).
    Construction checks the shapes above and raises, naming the field.
    """

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    name: str
    image_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        _check_x(self.x_train, "x_train")
        n_features = self.x_train.shape[1]
        if self.x_test is not None:
            _check_x(self.x_test, "x_test")
            if self.x_test.shape[1] != n_features:
                raise ValueError(
                    f"x_test has {self.x_test.shape[1]} features per row but x_train has {n_features}"
                )
        elif self.y_test is not None:
            raise ValueError("y_test is given but x_test is None")
        for y_name, x_name in (("y_train", "x_train"), ("y_test", "x_test")):
            y, x = getattr(self, y_name), getattr(self, x_name)
            if y is not None:
                _check_y(y, y_name, n_rows=x.shape[0], x_name=x_name)
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")
        if self.image_shape is not None:
            shape = as_image_shape(self.image_shape, "image_shape")
            if shape[0] * shape[1] != n_features:
                raise ValueError(
                    f"image_shape {shape} holds {shape[0] * shape[1]} pixels but x_train has "
                    f"{n_features} features per row"
                )
            object.__setattr__(self, "image_shape", shape)  # normalized to a tuple of Python ints

    @property
    def n_features(self) -> int:
        """Number of columns of ``x_train`` (784 for 28 x 28 images)."""
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={_describe_array(self.x_train)}, "
            f"y_train={_describe_array(self.y_train)}, x_test={_describe_array(self.x_test)}, "
            f"y_test={_describe_array(self.y_test)}, image_shape={self.image_shape})"
        )


def _check_x(x: object, name: str) -> None:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_examples, n_features), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")


def _check_y(y: object, name: str, n_rows: int, x_name: str) -> None:
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or None, got {type(y).__name__}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_examples,), got shape {y.shape}")
    if y.dtype == object:
        raise TypeError(f"{name} must not be an object array")
    if y.shape[0] != n_rows:
        raise ValueError(f"{name} has {y.shape[0]} labels but {x_name} has {n_rows} rows")


def as_image_shape(shape: Any, name: str = "image_shape") -> tuple[int, int]:
    r"""Return ``shape`` as (rows, cols), two Python ints >= 1: the one check of an ``image_shape`` argument.

    Accepts any length-2 sequence of integers (a tuple, a list, an integer ndarray). TypeError for a
    non-sequence (an int, a str) or a non-integer entry (2.5, True, "28"); ValueError for another length
    or an entry < 1. The messages name ``name`` (``image_shape[0]`` for an entry).

    Parameters
    ----------
    shape : sequence of two int
        The (rows, cols) to check.
    name : str, default "image_shape"
        The argument's name, for the error messages.

    Returns
    -------
    tuple of (int, int)
        (rows, cols) as Python ints.

    Raises
    ------
    TypeError
        ``shape`` not a sequence (an int, a str, bytes), or an entry that is not an integer (2.5, True, "28").
    ValueError
        ``shape`` of another length than 2, or an entry < 1.
    """
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
        raise TypeError(f"{name} must be two positive integers (rows, cols), got {shape!r} ({type(shape).__name__})")
    if len(shape) != 2:
        raise ValueError(f"{name} must be two positive integers (rows, cols), got {len(shape)} values: {shape!r}")
    return positive_int(f"{name}[0]", shape[0]), positive_int(f"{name}[1]", shape[1])


def _flatten_images(x: np.ndarray, name: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """(n, rows, cols) -> (n, rows * cols) and (rows, cols); 2-D passes through with None."""
    if x.ndim == 3:
        return x.reshape(x.shape[0], x.shape[1] * x.shape[2]), (int(x.shape[1]), int(x.shape[2]))
    if x.ndim == 2:
        return x, None
    raise ValueError(f"{name} must be 2-D (n, n_features) or 3-D (n, rows, cols), got shape {x.shape}")


# --------------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------------
def read_idx(path: str | os.PathLike) -> np.ndarray:
    r"""Read one IDX file (the MNIST format), raw or gzip-compressed.

    Compression is detected from the first two bytes (gzip's magic ``1f 8b``), not from the name.
    The header is checked field by field and the payload must hold exactly ``prod(dims)`` values::

        magic = 00 00 <type code> <ndim>,   dims = ndim big-endian uint32,   payload = prod(dims) * itemsize bytes

    Parameters
    ----------
    path : str or os.PathLike
        The file, e.g. ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    ndarray, shape dims
        Native byte order, a fresh writable array: uint8, int8, int16, int32, float32 or float64 as the
        type code says. MNIST images come back as (n, 28, 28) uint8 and labels as (n,) uint8.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not a regular file (a folder), a bad gzip stream, a file shorter than its header, a wrong
        magic number (type code, ndim), or a payload whose size is not ``prod(dims) * itemsize`` bytes
        (truncated, or with trailing bytes); the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise ValueError(f"IDX path {path} is not a regular file")
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError; truncated: EOFError
            raise ValueError(f"IDX file {path}: corrupt gzip stream ({error})") from error
    if len(raw) < 4:
        raise ValueError(f"IDX file {path}: only {len(raw)} bytes, too short for the 4-byte magic number")
    zero0, zero1, type_code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_DTYPES or not 1 <= ndim <= _IDX_MAX_NDIM:
        raise ValueError(
            f"IDX file {path}: bad magic number {raw[:4].hex(' ')}; expected 00 00, a type code in "
            f"{{{', '.join(f'{c:02x}' for c in _IDX_DTYPES)}}} and ndim in 1..{_IDX_MAX_NDIM} "
            "(is this an IDX file?)"
        )
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(
            f"IDX file {path}: truncated header: expected {header_size} bytes for {ndim} dimensions, "
            f"found {len(raw)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(dims) * dtype.itemsize
    found = len(raw) - header_size
    if found != expected:
        what = "truncated payload" if found < expected else "trailing bytes after the payload"
        raise ValueError(
            f"IDX file {path}: {what}: dims {dims} of {dtype.newbyteorder('=').name} need "
            f"{expected} bytes after the {header_size}-byte header, found {found}"
        )
    values = np.frombuffer(raw, dtype=dtype, count=math.prod(dims), offset=header_size)
    # astype makes a native-endian, writable copy (frombuffer over bytes is read-only)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_idx_folder(folder: str | os.PathLike, name: str | None = None) -> Dataset:
    r"""Load the four IDX files of an MNIST-format folder.

    The folder holds (each name with or without ``.gz``; the raw file wins when both exist)::

        train-images-idx3-ubyte   (n_train, rows, cols)
        train-labels-idx1-ubyte   (n_train,)
        t10k-images-idx3-ubyte    (n_test, rows, cols)
        t10k-labels-idx1-ubyte    (n_test,)

    Parameters
    ----------
    folder : str or os.PathLike
        The folder that holds the four files.
    name : str, optional
        The dataset's name; default the folder's name.

    Returns
    -------
    Dataset
        ``x_train`` (n_train, rows * cols), ``x_test`` (n_test, rows * cols) in the files' dtype (uint8
        for MNIST), labels (n,), ``image_shape`` (rows, cols).

    Raises
    ------
    FileNotFoundError
        The folder, or any of the four files, is missing; the message lists every name looked for.
    ValueError
        A file is not valid IDX (see :func:`read_idx`), images are not 3-D, labels not 1-D, the label and
        image counts differ, or train and test images differ in size; the message names the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"IDX folder not found: {folder} (expected a folder holding "
            f"{', '.join(IDX_FILES.values())}, each optionally with .gz)"
        )
    paths = {role: _find_idx_file(folder, stem) for role, stem in IDX_FILES.items()}
    missing = [stem for role, stem in IDX_FILES.items() if paths[role] is None]
    if missing:
        looked_for = "; ".join(f"{stem} or {stem}.gz" for stem in missing)
        raise FileNotFoundError(f"IDX folder {folder} is missing files: looked for {looked_for}")

    arrays = {role: read_idx(path) for role, path in paths.items() if path is not None}   # all found (checked above)
    image_shape = None
    for x_role, y_role in (("x_train", "y_train"), ("x_test", "y_test")):
        images, labels = arrays[x_role], arrays[y_role]
        if images.ndim != 3:
            raise ValueError(
                f"IDX file {paths[x_role]}: images must be 3-D (n, rows, cols), got shape {images.shape}"
            )
        if labels.ndim != 1:
            raise ValueError(f"IDX file {paths[y_role]}: labels must be 1-D (n,), got shape {labels.shape}")
        if labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"IDX file {paths[y_role]} has {labels.shape[0]} labels but {paths[x_role]} has "
                f"{images.shape[0]} images"
            )
        if image_shape is None:
            image_shape = images.shape[1:]
        elif images.shape[1:] != image_shape:
            raise ValueError(
                f"IDX file {paths[x_role]}: images are {images.shape[1:]} but the training images "
                f"are {image_shape}"
            )
    x_train, shape = _flatten_images(arrays["x_train"], "x_train")
    x_test, _ = _flatten_images(arrays["x_test"], "x_test")
    return Dataset(
        x_train=x_train,
        y_train=arrays["y_train"],
        x_test=x_test,
        y_test=arrays["y_test"],
        name=folder.name if name is None else name,
        image_shape=shape,
    )


# --------------------------------------------------------------------------------------------------
# .npz files and arrays
# --------------------------------------------------------------------------------------------------
_NPZ_REQUIRED = ("x_train", "x_test")
_NPZ_OPTIONAL = ("y_train", "y_test", "image_shape")


def load_npz(path: str | os.PathLike, name: str | None = None) -> Dataset:
    r"""Load a dataset from an ``.npz`` archive, never unpickling.

    Keys: ``x_train``, ``x_test`` (required; (n, n_features) or (n, rows, cols)), ``y_train``, ``y_test``
    ((n,), optional) and ``image_shape`` (two integers, optional; taken from 3-D images when absent).
    Other keys are ignored. 3-D images are flattened to (n, rows * cols).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file (any name: the content is checked, not the suffix).
    name : str, optional
        The dataset's name; default the file name without ``.npz``.

    Returns
    -------
    Dataset
        The arrays as stored (3-D images flattened), made by :func:`from_arrays`.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` not a regular file, not a zip archive (a ``.npy`` or a corrupt file), a required key
        missing, an array that would need pickle (object dtype), an ``image_shape`` that is not two positive
        integers, or arrays of the wrong shape; the message names the file.
    TypeError
        An ``x_train`` or ``x_test`` that does not hold numbers (a string array); the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise ValueError(f"npz path {path} is not a regular file")
        raise FileNotFoundError(f"npz file not found: {path}")
    arrays: dict[str, np.ndarray] = {}
    # Open the file here, not in np.load, so that it is closed on every error path too.
    with open(path, "rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError) as error:
            raise ValueError(f"npz file {path} is not a valid .npz (zip) archive: {error}") from error
        except ValueError as error:  # neither zip nor .npy: numpy would have to unpickle it
            raise ValueError(
                f"npz file {path} is not an .npz archive (numpy: {error}); purevae never unpickles"
            ) from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"npz file {path} holds a single .npy array, not an .npz archive of named arrays")
        with archive:
            found = sorted(archive.files)
            missing = [key for key in _NPZ_REQUIRED if key not in found]
            if missing:
                raise ValueError(
                    f"npz file {path} is missing key(s) {missing}; found {found} "
                    f"(required {list(_NPZ_REQUIRED)}, optional {list(_NPZ_OPTIONAL)})"
                )
            for key in _NPZ_REQUIRED + _NPZ_OPTIONAL:
                if key not in found:
                    continue
                try:
                    arrays[key] = archive[key]
                except ValueError as error:
                    if "allow_pickle" in str(error):  # numpy: "Object arrays cannot be loaded when allow_pickle=False"
                        raise ValueError(
                            f"npz file {path}: array {key!r} is an object array that needs pickle to load; "
                            "purevae never unpickles: store plain numeric arrays"
                        ) from error
                    raise ValueError(f"npz file {path}: cannot read array {key!r}: {error}") from error
                except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
                    raise ValueError(f"npz file {path}: corrupt member {key!r}: {error}") from error

    image_shape: tuple[int, int] | None = None
    stored_shape = arrays.pop("image_shape", None)
    if stored_shape is not None:
        try:
            image_shape = as_image_shape(stored_shape, f"image_shape in {path}")
        except TypeError as error:   # the file's content is wrong, not the caller's argument
            raise ValueError(str(error)) from None
    try:
        return from_arrays(
            arrays["x_train"],
            arrays["x_test"],
            arrays.get("y_train"),
            arrays.get("y_test"),
            image_shape=image_shape,
            name=path.stem if name is None else name,
        )
    except (ValueError, TypeError) as error:
        raise type(error)(f"npz file {path}: {error}") from error


def from_arrays(
    x_train: np.ndarray,
    x_test: np.ndarray | None = None,
    y_train: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    image_shape: tuple[int, int] | None = None,
    name: str = "arrays",
) -> Dataset:
    r"""Wrap arrays the caller already has into a :class:`Dataset`.

    Parameters
    ----------
    x_train : array_like, shape (n_train, n_features) or (n_train, rows, cols)
        The training images, numbers or bools.
    x_test : array_like, shape (n_test, n_features) or (n_test, rows, cols), optional
        The test images; None (the default) for data without a test set.
    y_train : array_like, shape (n_train,), optional
        Labels of the training images.
    y_test : array_like, shape (n_test,), optional
        Labels of the test images; only with ``x_test``.
    image_shape : (rows, cols), optional
        Taken from 3-D ``x_train`` (else 3-D ``x_test``) when not given; must match them when both are.
    name : str, default "arrays"
        The dataset's name.

    Returns
    -------
    Dataset
        3-D images flattened to (n, rows * cols); arrays are not copied when already ndarrays.

    Raises
    ------
    ValueError
        An x that is not 2-D or 3-D, 3-D x_train and x_test of different image sizes, x_train and x_test of
        different widths, ``y_test`` without ``x_test``, labels that are not 1-D or whose count differs from
        the rows of their x, or an image_shape with an entry < 1 or that does not fit.
    TypeError
        A non-numeric x (object or string arrays), object-dtype labels, ``name`` not a str, or an
        ``image_shape`` that is not two integers.
    """
    x_train_flat, train_shape = _flatten_images(np.asarray(x_train), "x_train")
    x_test_flat, test_shape = (None, None)
    if x_test is not None:
        x_test_flat, test_shape = _flatten_images(np.asarray(x_test), "x_test")
    if train_shape is not None and test_shape is not None and train_shape != test_shape:
        raise ValueError(f"x_train images are {train_shape} but x_test images are {test_shape}")
    if image_shape is not None:
        image_shape = as_image_shape(image_shape, "image_shape")
        for inferred, x_name in ((train_shape, "x_train"), (test_shape, "x_test")):
            if inferred is not None and inferred != image_shape:
                raise ValueError(f"image_shape {image_shape} does not match {x_name} images of {inferred}")
    else:
        image_shape = train_shape if train_shape is not None else test_shape
    return Dataset(
        x_train=x_train_flat,
        y_train=None if y_train is None else np.asarray(y_train),
        x_test=x_test_flat,
        y_test=None if y_test is None else np.asarray(y_test),
        name=name,
        image_shape=image_shape,
    )


# --------------------------------------------------------------------------------------------------
# Named datasets
# --------------------------------------------------------------------------------------------------
def load_bundled() -> Dataset:
    r"""Load the Fashion-MNIST subset shipped with purevae (no download, no extra package).

    10,000 training images (1,000 per class) and 2,000 test images (200 per class), drawn stratified by
    class with seed 0 from Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747; MIT licence,
    Copyright (c) 2017 Zalando SE) by ``scripts/make_bundled_data.py``; ``purevae/datasets/README.md``
    says how.

    Returns
    -------
    Dataset
        Named ``"fashion-mnist-subset"``; ``x_train`` (10000, 784) uint8, ``y_train`` (10000,) uint8,
        ``x_test`` (2000, 784) uint8, ``y_test`` (2000,) uint8, ``image_shape`` (28, 28).

    Raises
    ------
    FileNotFoundError
        The file is missing from this installation.
    """
    if not BUNDLED_PATH.is_file():
        raise FileNotFoundError(
            f"the bundled dataset {BUNDLED_PATH} is missing from this installation of purevae; reinstall "
            "the package, or rebuild the file with `python scripts/make_bundled_data.py` from a source checkout"
        )
    return load_npz(BUNDLED_PATH, name="fashion-mnist-subset")


def _fashion_mnist_help(reason: str) -> str:
    return (
        f"Fashion-MNIST not found: {reason}. Install it with `{FASHION_MNIST_INSTALL}` "
        f"(files under {FASHION_MNIST_DIR}/), or pass `--data PATH` with a folder of IDX files or an .npz "
        "file (in Python: purevae.data.load_dataset(PATH)); the bundled subset needs nothing "
        "(`--data bundled`)."
    )


def load_fashion_mnist(folder: str | os.PathLike = FASHION_MNIST_DIR) -> Dataset:
    r"""Load the full Fashion-MNIST (60,000 train, 10,000 test, 28 x 28 grey levels, 10 classes).

    The files come from the Debian package ``dataset-fashion-mnist``::

        apt-get update && apt-get install -y dataset-fashion-mnist

    which puts the four gzipped IDX files under ``/usr/share/datasets/fashion-mnist/``.
    Fashion-MNIST: Xiao, Rasul & Vollgraf (2017), arXiv:1708.07747, MIT licence, (c) 2017 Zalando SE.

    Parameters
    ----------
    folder : str or os.PathLike
        Default :data:`FASHION_MNIST_DIR`.

    Returns
    -------
    Dataset
        Named ``"fashion-mnist"``; ``x_train`` (60000, 784) uint8, ``x_test`` (10000, 784) uint8,
        labels uint8 in 0..9, ``image_shape`` (28, 28).

    Raises
    ------
    FileNotFoundError
        The folder or a file is missing; the message gives the install command above.
    ValueError
        A file that is not valid IDX, or files that do not fit together (see :func:`load_idx_folder`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(_fashion_mnist_help(f"no folder {folder}"))
    try:
        return load_idx_folder(folder, name="fashion-mnist")
    except FileNotFoundError as error:
        raise FileNotFoundError(_fashion_mnist_help(str(error))) from error


_DATASET_FORMS = (
    "'bundled' (the Fashion-MNIST subset shipped with purevae), 'fashion-mnist' (the full set from the "
    f"Debian package dataset-fashion-mnist, in {FASHION_MNIST_DIR}), a folder of IDX files "
    "(train-images-idx3-ubyte[.gz], ...), or a path to an .npz file"
)


def load_dataset(spec: str | os.PathLike = "bundled") -> Dataset:
    r"""Load a dataset named by a string or a path; the form ``--data`` takes on the command line.

    Parameters
    ----------
    spec : str or os.PathLike, default "bundled"
        ``"bundled"`` -> :func:`load_bundled`; ``"fashion-mnist"`` -> :func:`load_fashion_mnist`;
        an existing folder -> :func:`load_idx_folder`; an existing ``.npz`` file -> :func:`load_npz`.
        The two names win over folders of the same name: write ``./bundled`` for such a folder.

    Returns
    -------
    Dataset
        What the loader of that form returns.

    Raises
    ------
    ValueError
        ``spec`` is none of those forms (the message lists them), or what the loader raises for a file it
        cannot read.
    TypeError
        ``spec`` is not a str or path.
    FileNotFoundError
        The bundled file or the Fashion-MNIST files are missing (see :func:`load_bundled`,
        :func:`load_fashion_mnist`).
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"spec must be a str or os.PathLike, got {type(spec).__name__}")
    if isinstance(spec, str):
        if spec == "bundled":
            return load_bundled()
        if spec == "fashion-mnist":
            return load_fashion_mnist()
    path = Path(spec)
    if path.is_dir():
        return load_idx_folder(path)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_npz(path)
    if path.is_file():
        reason = f"{path} is a file but not an .npz file"
    else:
        reason = f"no file or folder named {str(spec)!r}"
    raise ValueError(f"unknown dataset {str(spec)!r}: {reason}; expected {_DATASET_FORMS}")


# --------------------------------------------------------------------------------------------------
# Pixels, binarization, subsets
# --------------------------------------------------------------------------------------------------
_FLOAT_DTYPES = ("float32", "float64")


def _check_probabilities(x: np.ndarray, name: str) -> None:
    """x is floating; raise ValueError if it holds NaN or values outside [0, 1]."""
    if x.size == 0:
        return
    if np.isnan(x).any():
        raise ValueError(f"{name} contains NaN")
    low, high = x.min(), x.max()
    if low < 0 or high > 1:
        raise ValueError(
            f"{name} must lie in [0, 1], found values in [{low}, {high}] "
            "(uint8 pixels 0..255 go through scale_pixels first)"
        )


def scale_pixels(x: np.ndarray, dtype: object = np.float32) -> np.ndarray:
    r"""Turn pixels into intensities in [0, 1].

    By the dtype of ``x``::

        uint8:   x_scaled = x / 255          (0 -> 0.0, 255 -> 1.0 exactly)
        bool:    x_scaled = 1.0 where True, else 0.0
        float:   x_scaled = x                (must already lie in [0, 1]; only cast)

    Parameters
    ----------
    x : array_like, any shape
        The pixels: uint8, bool or floating. Other integer types are refused: 0..255 and 0/1 data cannot be
        told apart.
    dtype : float32 or float64, default float32
        Dtype of the result: a name, a numpy dtype or a scalar type.

    Returns
    -------
    ndarray, shape of x, dtype ``dtype``
        ``x_scaled``, always a new array.

    Raises
    ------
    ValueError
        Floating ``x`` with NaN, or with values outside [0, 1] (inf included); ``dtype`` a dtype other
        than float32/float64 (``"int32"``, ``np.float16``) or a string that names no dtype.
    TypeError
        ``x`` of another dtype, or ``dtype`` not a dtype at all (None, a number).
    """
    dtype = float_dtype("dtype", dtype)
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(dtype) / dtype.type(255)
    if x.dtype == np.bool_:
        return x.astype(dtype)
    if np.issubdtype(x.dtype, np.floating):
        _check_probabilities(x, "x")
        return x.astype(dtype, copy=True)
    raise TypeError(
        f"x must be uint8 pixels (0..255), bool, or floating in [0, 1]; got dtype {x.dtype} "
        "(cast 0..255 data to uint8 first)"
    )


def binarize(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    r"""Draw one binary image per row: each pixel is 1 with probability x.

    Elementwise::

        u ~ Uniform[0, 1) elementwise,    x_binary = 1 if u < x else 0,    so P(x_binary = 1) = x

    Call it on the training set at the start of every epoch with the training Generator: this is
    *dynamic* (stochastic) binarization, a fresh 0/1 sample of each image each time it is seen, the
    protocol of e.g. Burda, Grosse & Salakhutdinov (2016), "Importance Weighted Autoencoders", ICLR,
    for MNIST; it acts as a regularizer. For a fixed 0/1 dataset (the test set, or the *static*
    protocol) use :func:`binarize_static`. Reported log-likelihoods under the two protocols are not
    comparable.

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64 (float16 too), values in [0, 1]
        Probabilities, e.g. ``scale_pixels(images)``.
    rng : numpy.random.Generator
        Consumed: the next call gives a new draw. Uniforms are drawn in float32 for float32 ``x``
        (half the memory), in float64 otherwise.

    Returns
    -------
    ndarray, shape of x, dtype of x
        ``x_binary``, a new array of values 0 and 1.

    Raises
    ------
    TypeError
        ``x`` not floating (scale uint8 pixels with :func:`scale_pixels` first), or ``rng`` not a Generator.
    ValueError
        ``x`` with NaN or outside [0, 1].
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be floating probabilities in [0, 1], got dtype {x.dtype}; use scale_pixels first")
    _check_probabilities(x, "x")
    uniform_dtype = np.float32 if x.dtype == np.float32 else np.float64
    uniform = rng.random(x.shape, dtype=uniform_dtype)
    return (uniform < x).astype(x.dtype)  # u < 0 never, u < 1 always: p = 0 and p = 1 stay exact


def binarize_static(x: np.ndarray, seed: int) -> np.ndarray:
    r"""Draw one seeded Bernoulli sample of x, the same for the same seed: *static* binarization.

    That is::

        x_binary = binarize(x, np.random.default_rng(seed))

    The static protocol fixes one binarization of the data and reuses it every epoch, as in the
    binarized MNIST of Larochelle & Murray (2011), "The Neural Autoregressive Distribution Estimator",
    AISTATS (following Salakhutdinov & Murray 2008). Use it to fix a test set too, so that every model
    is scored on the same 0/1 images.

    Parameters
    ----------
    x : ndarray, any shape, floating, values in [0, 1]
        Probabilities, e.g. ``scale_pixels(images)``.
    seed : int, >= 0
        Its own stream, independent of the training Generator.

    Returns
    -------
    ndarray, shape of x, dtype of x
        ``x_binary``, a new array of values 0 and 1.

    Raises
    ------
    TypeError
        ``seed`` not an int (a float, a bool, None, a Generator), or ``x`` as in :func:`binarize`.
    ValueError
        ``seed`` < 0, or ``x`` as in :func:`binarize`.
    """
    seed = _seed("seed", seed, allow_none=False)
    return binarize(x, np.random.default_rng(seed))


def stratified_subset(y: np.ndarray, n_per_class: int, rng: np.random.Generator) -> np.ndarray:
    r"""Pick ``n_per_class`` examples of every class, without replacement, and return their indices sorted.

    Classes are visited in sorted order (``np.unique(y)``) and each draws ``rng.choice(indices_of_class,
    n_per_class, replace=False)``, so a seeded Generator gives the same subset every time. The result is
    sorted, which keeps the subset in the original order of the data.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Class labels.
    n_per_class : int, >= 1
        Examples drawn from every class.
    rng : numpy.random.Generator
        The stream the draws come from; consumed.

    Returns
    -------
    ndarray of intp, shape (n_classes * n_per_class,)
        The chosen indices into ``y``, increasing.

    Raises
    ------
    ValueError
        ``n_per_class`` < 1, ``y`` not 1-D or empty, or a class with fewer than ``n_per_class`` examples
        (named in the message).
    TypeError
        ``n_per_class`` not an int (a float, a bool), or ``rng`` not a Generator.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    n_per_class = positive_int("n_per_class", n_per_class)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels, got shape {y.shape}")
    classes, counts = np.unique(y, return_counts=True)
    short = {cls.item(): int(c) for cls, c in zip(classes, counts) if c < n_per_class}
    if short:
        raise ValueError(f"n_per_class={n_per_class} but these classes have fewer examples (class: count): {short}")
    chosen = [rng.choice(np.flatnonzero(y == cls), size=n_per_class, replace=False) for cls in classes]
    return np.sort(np.concatenate(chosen)).astype(np.intp, copy=False)


def arrays_sha256(arrays: Mapping[str, np.ndarray]) -> str:
    r"""Return the SHA-256 of named arrays' contents: a fingerprint that does not depend on how they were stored.

    For each key in sorted order the digest takes ``key``, the dtype (``dtype.str``, byte order
    included), the shape and the C-order bytes. The digest of an ``.npz`` file's bytes also depends on
    how zlib compressed it; this one depends only on the arrays.

    Parameters
    ----------
    arrays : mapping str -> ndarray
        The named arrays (anything ``np.ascontiguousarray`` takes as a value).

    Returns
    -------
    str
        The hex digest, 64 hex characters.

    Raises
    ------
    TypeError
        ``arrays`` not a mapping, a key not a str, or an object array.
    """
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a mapping of names to arrays, got {type(arrays).__name__}")
    digest = hashlib.sha256()
    for key in arrays:
        if not isinstance(key, str):
            raise TypeError(f"arrays must have str keys, got {key!r} ({type(key).__name__})")
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        if array.dtype == object:
            raise TypeError(f"arrays[{key!r}] is an object array; only plain arrays can be hashed")
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------------
# Preparation: the data policy of `purevae train`, for Python users too
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class PreparedData:
    r"""Images ready for a model: scaled, subset and binarized by :func:`prepare` (the policy of ``purevae train``).

    Made by :func:`prepare`, which checks its arguments; the constructor itself checks nothing. Each parameter
    is also the attribute of the same name.

    Parameters
    ----------
    x_train : ndarray, shape (n_train, n_features), dtype ``dtype``, or None
        Intensities in [0, 1] ("none", "dynamic") or 0/1 ("static"). None when prepared with
        ``include_train=False``.
    y_train : ndarray, shape (n_train,), or None
        The labels of those rows (a view of the dataset's), None without labels or without x_train.
    x_test : ndarray, shape (n_test, n_features), dtype ``dtype``, or None
        Intensities in [0, 1] ("none") or 0/1 (the fixed test binarization, "dynamic" and "static").
        None when the dataset has no test set.
    y_test : ndarray, shape (n_test,), or None
        The labels of the x_test rows (a view of the dataset's), None without labels or without x_test.
    name : str
        The dataset's name, e.g. ``"fashion-mnist-subset"``.
    image_shape : tuple (rows, cols), or None
        The dataset's ``image_shape``: how to fold a row back into an image.
    binarize : str
        One of :data:`BINARIZE_MODES`: how the arrays above were made.
    dtype : numpy.dtype
        The dtype of x_train and x_test: float32 or float64.
    n_features : int
        Columns of the images (784 for 28 x 28): the model's ``n_input``.

    Notes
    -----
    Use it as ``VAE(n_input=p.n_features, ...).fit(p.x_train, validation_data=p.x_test,
    binarize=p.fit_binarize)``. The dataclass is frozen; the x arrays are new arrays, the y arrays views of
    the dataset's labels.
    """

    x_train: np.ndarray | None
    y_train: np.ndarray | None
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    name: str
    image_shape: tuple[int, int] | None
    binarize: str
    dtype: np.dtype
    n_features: int

    @property
    def fit_binarize(self) -> bool:
        """What to pass to ``VAE.fit(binarize=...)``: True for "dynamic" (a fresh draw of x_train every epoch)."""
        return self.binarize == "dynamic"

    def __repr__(self) -> str:
        return (
            f"PreparedData(name={self.name!r}, binarize={self.binarize!r}, x_train={_describe_array(self.x_train)}, "
            f"y_train={_describe_array(self.y_train)}, x_test={_describe_array(self.x_test)}, "
            f"y_test={_describe_array(self.y_test)}, image_shape={self.image_shape})"
        )


def prepare(
    dataset: Dataset | str | os.PathLike,
    binarize: str = "none",
    dtype: object = "float32",
    n_train: int | None = None,
    n_test: int | None = None,
    include_train: bool = True,
) -> PreparedData:
    r"""Turn a dataset into model-ready arrays exactly as ``purevae train`` does (and evaluate, reconstruct, ...).

    With ``s = scale_pixels`` (uint8 -> x / 255) in ``dtype`` and ``B(x, seed) = binarize_static(x, seed)``::

        binarize    x_train                                         x_test
        "none"      s(x_train[:n_train])                            s(x_test)[:n_test]
        "dynamic"   s(x_train[:n_train])  (grey: fit draws 0/1)     B(s(x_test), TEST_BINARIZE_SEED)[:n_test]
        "static"    B(s(x_train[:n_train]), TRAIN_BINARIZE_SEED)    B(s(x_test), TEST_BINARIZE_SEED)[:n_test]

    - "dynamic" keeps x_train grey: ``VAE.fit(binarize=True)`` (``fit_binarize``) draws a fresh 0/1 sample of
      it every epoch from the model's Generator (Burda et al. 2016); "static" fixes one draw (Larochelle &
      Murray 2011). See :func:`binarize` and :func:`binarize_static`.
    - The training rows are cut first, then binarized. The test set is binarized *whole*, then cut, so that
      the first n test images are the same 0/1 images for every ``n_test``: a run on 500 test images is
      scored on the first 500 of the images a full run is scored on.
    - Both binarized modes score on the same fixed test binarization, so their test numbers are comparable
      with each other (not with "none", which scores the grey values). The seeds
      :data:`TRAIN_BINARIZE_SEED` and :data:`TEST_BINARIZE_SEED` are fixed, independent of the model's seed.

    Parameters
    ----------
    dataset : Dataset, str or os.PathLike
        The data, or a spec for :func:`load_dataset` (``"bundled"``, a folder, an .npz).
    binarize : {"none", "dynamic", "static"}, default "none"
        One of :data:`BINARIZE_MODES`.
    dtype : float32 or float64, default float32
        Of x_train and x_test (a name, a numpy dtype or a scalar type).
    n_train, n_test : int >= 1, or None, default None
        Keep the first n training / test images (all of them when None or when n exceeds their number).
    include_train : bool, default True
        False leaves x_train and y_train None (no work on the training set): for evaluation and pictures.

    Returns
    -------
    PreparedData
        Its x_test and y_test are None when the dataset has no test set (:func:`from_arrays` without x_test);
        a caller that needs test images checks that (``purevae train`` refuses such data with one line).

    Raises
    ------
    TypeError
        ``dataset`` neither a Dataset nor a str/path; ``binarize`` not a str; ``n_train``/``n_test`` not an
        int (a float, a bool); ``include_train`` not a bool; ``dtype`` not a dtype; images of a dtype
        :func:`scale_pixels` refuses (an integer type other than uint8).
    ValueError
        ``binarize`` not one of :data:`BINARIZE_MODES`; ``n_train``/``n_test`` < 1; ``dtype`` not
        float32/float64; and what :func:`load_dataset` and :func:`scale_pixels` raise.
    FileNotFoundError
        A ``dataset`` spec whose files are missing (:func:`load_dataset`).

    Examples
    --------
    >>> from purevae.data import prepare
    >>> data = prepare("bundled", n_train=300, n_test=100)
    >>> data
    PreparedData(name='fashion-mnist-subset', binarize='none', x_train=<float32 (300, 784)>, y_train=<uint8 (300,)>,
                 x_test=<float32 (100, 784)>, y_test=<uint8 (100,)>, image_shape=(28, 28))
    >>> float(data.x_train.min()), float(data.x_train.max()), data.n_features
    (0.0, 1.0, 784)
    >>> static = prepare("bundled", binarize="static", n_train=300, n_test=100)
    >>> np.unique(static.x_train), static.fit_binarize
    (array([0., 1.], dtype=float32), False)

    Then train as ``purevae train`` does:

    >>> from purevae import VAE
    >>> model = VAE(n_input=data.n_features, hidden=(16,), n_latent=2, seed=0)
    >>> history = model.fit(data.x_train, epochs=1, batch_size=100, validation_data=data.x_test,
    ...                     binarize=data.fit_binarize)
    >>> len(history["val_loss"])
    1
    """
    binarize = choice("binarize", binarize, BINARIZE_MODES)
    dtype = float_dtype("dtype", dtype)
    n_train = None if n_train is None else positive_int("n_train", n_train)
    n_test = None if n_test is None else positive_int("n_test", n_test)
    include_train = boolean("include_train", include_train)
    if not isinstance(dataset, Dataset):
        if not isinstance(dataset, (str, os.PathLike)):
            raise TypeError(f"dataset must be a Dataset, a str or an os.PathLike, got {type(dataset).__name__}")
        dataset = load_dataset(dataset)

    x_train = y_train = None
    if include_train:
        x_train = scale_pixels(dataset.x_train[:n_train], dtype)     # [:None] keeps every row
        if binarize == "static":
            x_train = binarize_static(x_train, TRAIN_BINARIZE_SEED)
        y_train = None if dataset.y_train is None else dataset.y_train[:len(x_train)]

    x_test = y_test = None
    if dataset.x_test is not None:
        if binarize == "none":
            x_test = scale_pixels(dataset.x_test[:n_test], dtype)
        else:   # one fixed binarization of the whole test set, then its first rows
            x_test = binarize_static(scale_pixels(dataset.x_test, dtype), TEST_BINARIZE_SEED)
            if n_test is not None and n_test < len(x_test):
                x_test = x_test[:n_test].copy()   # a copy: the view would keep the whole binarized set alive
        y_test = None if dataset.y_test is None else dataset.y_test[:len(x_test)]

    return PreparedData(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, name=dataset.name,
                        image_shape=dataset.image_shape, binarize=binarize, dtype=dtype,
                        n_features=dataset.n_features)


# --------------------------------------------------------------------------------------------------
# Text corpora: bag-of-words counts of WordNet glosses (issue 17)
# --------------------------------------------------------------------------------------------------
WORDNET_DIR = "/usr/share/wordnet"
WORDNET_INSTALL = "apt-get install wordnet-base"   # as root, after apt-get update (Debian/Ubuntu)
# The four data files of a WordNet 3.0 database, in the order their synsets are read.
WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")
# WordNet's 45 lexicographer files, index = lex_filenum (the second field of a data line): lexnames(5WN).
WORDNET_LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
    "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
    "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant",
    "noun.possession", "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state",
    "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition", "verb.communication",
    "verb.competition", "verb.consumption", "verb.contact", "verb.creation", "verb.emotion", "verb.motion",
    "verb.perception", "verb.possession", "verb.social", "verb.stative", "verb.weather", "adj.ppl",
)
WORDNET_BUNDLED_FILE = "wordnet_glosses.npz"
# The vocabulary rule of load_wordnet_glosses: a word must occur in at least this many training glosses.
WORDNET_MIN_DF = 2


def _describe_csr(x: scipy.sparse.csr_matrix) -> str:
    return f"<{x.dtype} {x.shape} nnz={x.nnz}>"


def _check_strings(value: object, name: str, unique: bool) -> None:
    if not isinstance(value, tuple):
        raise TypeError(f"{name} must be a tuple of str, got {type(value).__name__}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(item).__name__}")
    if unique and len(set(value)) != len(value):
        duplicates = sorted(item for item, count in Counter(value).items() if count > 1)
        raise ValueError(f"{name} has duplicates: {duplicates[:5]}")


def _check_counts(x: object, name: str, n_columns: int) -> None:
    if not isinstance(x, scipy.sparse.csr_matrix):
        raise TypeError(f"{name} must be a scipy.sparse.csr_matrix, got {type(x).__name__}")
    if x.dtype != np.float32:
        raise TypeError(f"{name} must hold float32 counts, got dtype {x.dtype}")
    if x.shape[1] != n_columns:
        raise ValueError(f"{name} has {x.shape[1]} columns but the vocabulary has {n_columns} words")
    if not x.has_canonical_format:
        raise ValueError(f"{name} must be canonical CSR (sorted indices, no duplicates): call sum_duplicates()")
    if x.nnz and not (np.isfinite(x.data).all() and x.data.min() > 0):
        raise ValueError(f"{name} must store positive finite counts only (no explicit zeros, no NaN)")


@dataclass(frozen=True, eq=False, repr=False)
class TextCorpus:
    r"""Documents as bag-of-words counts, with a category per document and the texts they came from.

    The counts::

        x_train[d, w] = number of times vocabulary[w] occurs in purevae.text.tokenize(texts_train[d])

    Each parameter is also the attribute of the same name.

    Parameters
    ----------
    x_train : scipy.sparse.csr_matrix, shape (n_train, V), float32
        Word counts; canonical CSR (sorted indices, no duplicates), every stored value positive and finite
        (construction checks > 0; the counts the loaders make are whole numbers >= 1).
    y_train : ndarray of int64, shape (n_train,)
        Category of each document: an index into ``categories``.
    x_test : scipy.sparse.csr_matrix, shape (n_test, V), float32
        The held-out documents (n_test may be 0).
    y_test : ndarray of int64, shape (n_test,)
        Category of each held-out document.
    texts_train, texts_test : tuple of str, lengths n_train and n_test
        The original texts, row-aligned with ``x_train`` and ``x_test``.
    vocabulary : tuple of str, length V
        Column order: column w counts ``vocabulary[w]``. No duplicates.
    categories : tuple of str
        Category names; for WordNet the 45 lexicographer files, index = lex_filenum (:data:`WORDNET_LEXNAMES`).
    name : str
        Where the corpus came from, e.g. ``"wordnet-glosses-subset"``.

    Raises
    ------
    TypeError
        A field of another type than above: x not a ``csr_matrix`` or not float32, y not an int64 ndarray,
        texts, vocabulary or categories not a tuple of str, ``name`` not a str.
    ValueError
        An x whose column count is not the vocabulary's length, that is not canonical CSR or that stores a
        value that is not a positive finite number; a y whose shape is not (rows of its x,) or with a value
        outside 0..len(categories) - 1; texts whose count is not the rows of their x; a duplicate in
        ``vocabulary`` or ``categories``. The message names the field.

    Notes
    -----
    The dataclass is frozen (the fields cannot be rebound), the sparse matrices and label arrays are ordinary
    mutable objects. Construction checks the types above (TypeError) and the shapes and their consistency
    (ValueError), naming the field.
    """

    x_train: scipy.sparse.csr_matrix
    y_train: np.ndarray
    x_test: scipy.sparse.csr_matrix
    y_test: np.ndarray
    texts_train: tuple[str, ...]
    texts_test: tuple[str, ...]
    vocabulary: tuple[str, ...]
    categories: tuple[str, ...]
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"name must be a str, got {type(self.name).__name__}")
        _check_strings(self.vocabulary, "vocabulary", unique=True)
        _check_strings(self.categories, "categories", unique=True)
        for split in ("train", "test"):
            x, y, texts = (getattr(self, f"{field}_{split}") for field in ("x", "y", "texts"))
            _check_counts(x, f"x_{split}", len(self.vocabulary))
            n_rows = x.shape[0]
            if not isinstance(y, np.ndarray):
                raise TypeError(f"y_{split} must be a numpy array, got {type(y).__name__}")
            if y.dtype != np.int64:
                raise TypeError(f"y_{split} must be int64 category indices, got dtype {y.dtype}")
            if y.shape != (n_rows,):
                raise ValueError(f"y_{split} must have shape ({n_rows},) like the rows of x_{split}, got {y.shape}")
            if n_rows and (y.min() < 0 or y.max() >= len(self.categories)):
                raise ValueError(f"y_{split} must hold category indices in 0..{len(self.categories) - 1}, "
                                 f"found values in [{y.min()}, {y.max()}]")
            _check_strings(texts, f"texts_{split}", unique=False)
            if len(texts) != n_rows:
                raise ValueError(f"texts_{split} has {len(texts)} texts but x_{split} has {n_rows} rows")

    @property
    def n_features(self) -> int:
        """Number of columns of ``x_train``: the vocabulary size V (the model's ``n_input``)."""
        return len(self.vocabulary)

    def __repr__(self) -> str:
        return (f"TextCorpus(name={self.name!r}, x_train={_describe_csr(self.x_train)}, "
                f"x_test={_describe_csr(self.x_test)}, n_features={self.n_features}, "
                f"n_categories={len(self.categories)})")


def _wordnet_help(reason: str) -> str:
    return (
        f"WordNet not found: {reason}. Install it with `{WORDNET_INSTALL}` (Debian/Ubuntu, as root after "
        f"`apt-get update`; files under {WORDNET_DIR}/), or use the bundled subset, which needs nothing: "
        "purevae.data.load_wordnet_bundled() (load_text_dataset('wordnet'))."
    )


def read_wordnet_glosses(folder: str | os.PathLike = WORDNET_DIR) -> tuple[tuple[str, ...], np.ndarray]:
    r"""Read every synset's gloss and lexicographer file from the four data files of a WordNet 3.0 database.

    Each synset is one line of ``data.noun``, ``data.verb``, ``data.adj``, ``data.adv`` (read in that order,
    lines in file order), wndb(5WN)::

        synset_offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt [ptr ...] [frames ...] | gloss

    Lines starting with two spaces are the licence header and are skipped. The gloss is all the text after
    the first ``" | "``, stripped (definition and examples, e.g. ``a member of the genus Canis ...; "the dog
    barked all night"``); the category is ``lex_filenum``, an index into :data:`WORDNET_LEXNAMES`.

    Parameters
    ----------
    folder : str or os.PathLike
        Default :data:`WORDNET_DIR` (the Debian package ``wordnet-base``).

    Returns
    -------
    glosses : tuple of str, length n_synsets
        The glosses in reading order; n_synsets is 117,659 for WordNet 3.0.
    lex_filenums : ndarray of int64, shape (n_synsets,)
        The category of each gloss, in 0..44: an index into :data:`WORDNET_LEXNAMES`.

    Raises
    ------
    FileNotFoundError
        The folder or a data file is missing; the message says ``apt-get install wordnet-base`` and that
        :func:`load_wordnet_bundled` needs nothing.
    ValueError
        A line with no ``" | "``, too few fields or a lex_filenum that is not two digits in 00..44, or a file
        that is not ASCII/UTF-8 text; the message names the file and line.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(_wordnet_help(f"no folder {folder}"))
    missing = [stem for stem in WORDNET_FILES if not (folder / stem).is_file()]
    if missing:
        raise FileNotFoundError(_wordnet_help(f"{folder} is missing {', '.join(missing)}"))
    glosses: list[str] = []
    lex_filenums: list[int] = []
    for stem in WORDNET_FILES:
        path = folder / stem
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"WordNet file {path} is not UTF-8 text: {error}") from error
        for line_number, line in enumerate(text.splitlines(), start=1):
            if line.startswith("  ") or not line.strip():    # the licence header (and a stray blank line)
                continue
            head, separator, gloss = line.partition(" | ")
            fields = head.split()
            if not separator or len(fields) < 4:
                raise ValueError(f"WordNet file {path}, line {line_number}: expected 'synset_offset lex_filenum "
                                 f"ss_type w_cnt ... | gloss', got {line[:80]!r}")
            lex_filenum = fields[1]
            if len(lex_filenum) != 2 or not lex_filenum.isdigit() or int(lex_filenum) >= len(WORDNET_LEXNAMES):
                raise ValueError(f"WordNet file {path}, line {line_number}: lex_filenum must be two digits "
                                 f"00..{len(WORDNET_LEXNAMES) - 1}, got {lex_filenum!r}")
            glosses.append(gloss.strip())
            lex_filenums.append(int(lex_filenum))
    return tuple(glosses), np.array(lex_filenums, dtype=np.int64)


def load_wordnet_glosses(
    folder: str | os.PathLike = WORDNET_DIR,
    vocabulary_size: int = 2000,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> TextCorpus:
    r"""Load WordNet 3.0's glosses as a bag-of-words corpus labelled by lexicographer file (45 categories).

    The recipe, in this order:

    1. Read every synset's gloss and ``lex_filenum`` with :func:`read_wordnet_glosses` (n = 117,659 synsets
       of WordNet 3.0: nouns, verbs, adjectives, adverbs in that order).
    2. Split: ``perm = numpy.random.default_rng(seed).permutation(n)``; the first
       ``n_test = round(test_fraction * n)`` (Python's ``round``) documents of ``perm`` are the held-out split,
       the rest the training split, both in the order of ``perm``.
    3. Vocabulary from the *training* split only: ``purevae.text.build_vocabulary(tokens, vocabulary_size,
       min_df=2)`` over ``tokenize(gloss)``; the held-out glosses never influence it.
    4. ``purevae.text.count_matrix`` of each split over that vocabulary.
    5. Drop the documents with no vocabulary word (empty rows), in both splits: a bag-of-words model has
       nothing to reconstruct from them.

    Each synset is one document, also when its gloss is word for word another synset's: WordNet 3.0 has 376
    such glosses, shared by 1,002 synsets, so a few identical texts (of different synsets) can sit in both splits.

    With the defaults on WordNet 3.0 (the Debian package ``wordnet-base``, 1:3.0-37): 105,893 training and
    11,766 held-out synsets before step 5; step 5 drops 4,092 training and 459 held-out glosses, leaving
    101,801 training and 11,307 held-out documents over 2,000 words. ``purevae/datasets/README.md`` records
    these numbers as ``scripts/make_wordnet_subset.py`` printed them, and tests/test_text_data.py checks them.

    Parameters
    ----------
    folder : str or os.PathLike, default :data:`WORDNET_DIR`
        The WordNet database; install it with ``apt-get install wordnet-base`` (Debian/Ubuntu).
    vocabulary_size : int, >= 1, default 2000
        The number of words kept (fewer if fewer training words occur in 2 glosses or more).
    test_fraction : float in [0, 1), default 0.1
        Share of the synsets held out, before step 5.
    seed : int, >= 0, default 0
        Of the split's permutation.

    Returns
    -------
    TextCorpus
        Named ``"wordnet-glosses"``; ``categories`` the 45 :data:`WORDNET_LEXNAMES`; float32 counts.

    Raises
    ------
    FileNotFoundError
        The folder or a data file is missing; the message gives ``apt-get install wordnet-base`` and says that
        :func:`load_wordnet_bundled` needs nothing.
    TypeError
        ``vocabulary_size`` or ``seed`` not an int, ``test_fraction`` not a real number.
    ValueError
        ``vocabulary_size`` < 1, ``seed`` < 0, ``test_fraction`` outside [0, 1), no training word in 2 glosses
        or more; and what :func:`read_wordnet_glosses` raises for a malformed file.
    """
    vocabulary_size = positive_int("vocabulary_size", vocabulary_size)
    test_fraction = fraction("test_fraction", test_fraction)
    seed = _seed("seed", seed, allow_none=False)
    glosses, lex_filenums = read_wordnet_glosses(folder)
    n = len(glosses)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    splits = {"test": perm[:n_test], "train": perm[n_test:]}
    texts = {split: tuple(glosses[i] for i in index) for split, index in splits.items()}
    vocabulary = build_vocabulary((tokenize(t) for t in texts["train"]), vocabulary_size, min_df=WORDNET_MIN_DF)
    if not vocabulary:
        raise ValueError(f"no word occurs in {WORDNET_MIN_DF} or more of the {n - n_test} training glosses "
                         f"(test_fraction={test_fraction}): the vocabulary is empty")
    fields: dict[str, Any] = {}
    for split, index in splits.items():
        x = count_matrix(texts[split], vocabulary, dtype=np.float32)
        keep = np.flatnonzero(np.diff(x.indptr) > 0)          # documents with at least one vocabulary word
        fields[f"x_{split}"] = x[keep]
        fields[f"y_{split}"] = lex_filenums[index[keep]]
        fields[f"texts_{split}"] = tuple(texts[split][i] for i in keep)
    return TextCorpus(**fields, vocabulary=vocabulary, categories=WORDNET_LEXNAMES, name="wordnet-glosses")


# The bundled format: every array a plain number array (no pickle, no object arrays).
#   x_<split>_data (uint counts), x_<split>_indices, x_<split>_indptr (uint), x_<split>_shape (int64 (2,))
#   y_<split> (uint)
#   texts_<split>_blob, vocabulary_blob, categories_blob: uint8, the UTF-8 bytes of the strings one after another
#   texts_<split>_offsets, ...: int64 (n + 1,): string i is blob[offsets[i]:offsets[i + 1]]
_TEXT_SPLITS = ("train", "test")
_STRING_FIELDS = ("texts_train", "texts_test", "vocabulary", "categories")
TEXT_NPZ_KEYS = tuple(sorted(
    [f"x_{s}_{part}" for s in _TEXT_SPLITS for part in ("data", "indices", "indptr", "shape")]
    + [f"y_{s}" for s in _TEXT_SPLITS]
    + [f"{field}_{part}" for field in _STRING_FIELDS for part in ("blob", "offsets")]
))


def _smallest_uint(max_value: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"{max_value} does not fit in 64 bits")


def _narrow(values: np.ndarray) -> np.ndarray:
    """Non-negative integers in the smallest unsigned dtype holding their maximum (uint8 when empty)."""
    return values.astype(_smallest_uint(int(values.max()) if values.size else 0))


def _encode_strings(strings: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    joined = b"".join(encoded)
    blob = np.frombuffer(joined, dtype=np.uint8).copy() if joined else np.zeros(0, dtype=np.uint8)
    return blob, offsets


def _decode_strings(blob: np.ndarray, offsets: np.ndarray, key: str) -> tuple[str, ...]:
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ValueError(f"{key}_blob must be a 1-D uint8 array, got {blob.dtype} {blob.shape}")
    if offsets.dtype != np.int64 or offsets.ndim != 1 or offsets.size == 0:
        raise ValueError(f"{key}_offsets must be a non-empty 1-D int64 array, got {offsets.dtype} {offsets.shape}")
    if offsets[0] != 0 or offsets[-1] != blob.size or (np.diff(offsets) < 0).any():
        raise ValueError(f"{key}_offsets must rise from 0 to the blob's {blob.size} bytes")
    raw = blob.tobytes()
    bounds = offsets.tolist()
    try:
        return tuple(raw[start:stop].decode("utf-8") for start, stop in zip(bounds[:-1], bounds[1:]))
    except UnicodeDecodeError as error:
        raise ValueError(f"{key}_blob is not UTF-8 between its offsets: {error}") from error


def text_corpus_arrays(corpus: TextCorpus) -> dict[str, np.ndarray]:
    r"""Return the plain arrays that store ``corpus`` in the bundled ``.npz`` format (:func:`load_text_npz` reads it).

    For each split s in (train, test), and with "uint" meaning the smallest of uint8/16/32/64 that holds the
    largest value (so the dtypes, like the values, follow from the corpus alone)::

        x_s_data      uint  (nnz,)      the counts, x_s.data              (must be whole numbers)
        x_s_indices   uint  (nnz,)      x_s.indices                       (canonical CSR: sorted in each row)
        x_s_indptr    uint  (n_s + 1,)  x_s.indptr
        x_s_shape     int64 (2,)        x_s.shape
        y_s           uint  (n_s,)      category indices
        <strings>_blob     uint8 (n_bytes,)  the UTF-8 bytes of the strings one after another
        <strings>_offsets  int64 (m + 1,)    string i = blob[offsets[i]:offsets[i + 1]].decode("utf-8")

    for the strings texts_train, texts_test, vocabulary and categories. No object arrays: the file loads with
    ``allow_pickle=False``. ``purevae.data.arrays_sha256(text_corpus_arrays(corpus))`` is the checksum the
    README records for the bundled file.

    Parameters
    ----------
    corpus : TextCorpus
        The corpus to store; its counts must be whole numbers.

    Returns
    -------
    dict of str to ndarray
        The arrays by name, keys :data:`TEXT_NPZ_KEYS`; ``np.savez(path, **arrays)`` writes the file.

    Raises
    ------
    TypeError
        ``corpus`` not a TextCorpus.
    ValueError
        A count that is not a whole number (the format stores counts).
    """
    if not isinstance(corpus, TextCorpus):
        raise TypeError(f"corpus must be a TextCorpus, got {type(corpus).__name__}")
    arrays: dict[str, np.ndarray] = {}
    for split in _TEXT_SPLITS:
        x = getattr(corpus, f"x_{split}")
        if (x.data != np.round(x.data)).any():
            raise ValueError(f"x_{split} holds values that are not whole numbers; the format stores counts")
        arrays[f"x_{split}_data"] = _narrow(x.data)
        arrays[f"x_{split}_indices"] = _narrow(x.indices)
        arrays[f"x_{split}_indptr"] = _narrow(x.indptr)
        arrays[f"x_{split}_shape"] = np.array(x.shape, dtype=np.int64)
        arrays[f"y_{split}"] = _narrow(getattr(corpus, f"y_{split}"))
    for field in _STRING_FIELDS:
        arrays[f"{field}_blob"], arrays[f"{field}_offsets"] = _encode_strings(getattr(corpus, field))
    return arrays


def load_text_npz(path: str | os.PathLike, name: str | None = None) -> TextCorpus:
    r"""Load a :class:`TextCorpus` from an ``.npz`` file in the bundled format, never unpickling.

    The keys are :data:`TEXT_NPZ_KEYS`, laid out as :func:`text_corpus_arrays` says; other keys are ignored.
    Counts come back as float32, category indices as int64, CSR indices as int32 (int64 when large).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file (any name: the content is checked, not the suffix).
    name : str, optional
        The corpus's name; default the file name without ``.npz``.

    Returns
    -------
    TextCorpus
        The corpus the arrays describe, checked as :class:`TextCorpus` checks its fields.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not an ``.npz`` archive, a key missing, an object array, or arrays that do not make a valid corpus
        (offsets, CSR structure, shapes, label range); the message names the file and the key or field.
    """
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise ValueError(f"npz path {path} is not a regular file")
        raise FileNotFoundError(f"npz file not found: {path}")
    arrays: dict[str, np.ndarray] = {}
    with open(path, "rb") as handle:
        try:
            archive = np.load(handle, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
            raise ValueError(f"npz file {path} is not a valid .npz archive ({error}); purevae never unpickles") \
                from error
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"npz file {path} holds a single .npy array, not an .npz archive of named arrays")
        with archive:
            missing = [key for key in TEXT_NPZ_KEYS if key not in archive.files]
            if missing:
                raise ValueError(f"npz file {path} is missing key(s) {missing}; a text corpus file has "
                                 f"{list(TEXT_NPZ_KEYS)}")
            for key in TEXT_NPZ_KEYS:
                try:
                    arrays[key] = archive[key]
                except ValueError as error:   # numpy: "Object arrays cannot be loaded when allow_pickle=False"
                    raise ValueError(f"npz file {path}: cannot read array {key!r} without pickle: {error}") \
                        from error
                except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
                    raise ValueError(f"npz file {path}: corrupt member {key!r}: {error}") from error
    try:
        fields: dict[str, Any] = {f: _decode_strings(arrays[f"{f}_blob"], arrays[f"{f}_offsets"], f)
                                  for f in _STRING_FIELDS}
        for split in _TEXT_SPLITS:
            parts = {part: arrays[f"x_{split}_{part}"] for part in ("data", "indices", "indptr", "shape")}
            for part in ("indices", "indptr", "shape"):
                if not np.issubdtype(parts[part].dtype, np.integer):
                    raise ValueError(f"x_{split}_{part} must hold integers, got dtype {parts[part].dtype}")
            if not (np.issubdtype(parts["data"].dtype, np.integer) or np.issubdtype(parts["data"].dtype, np.floating)):
                raise ValueError(f"x_{split}_data must hold numbers, got dtype {parts['data'].dtype}")
            if parts["shape"].shape != (2,) or (parts["shape"] < 0).any():
                raise ValueError(f"x_{split}_shape must be two non-negative integers, got {parts['shape']!r}")
            index_dtype = np.int32 if parts["data"].size <= np.iinfo(np.int32).max else np.int64
            x = scipy.sparse.csr_matrix(
                (parts["data"].astype(np.float32), parts["indices"].astype(index_dtype),
                 parts["indptr"].astype(index_dtype)),
                shape=tuple(int(n) for n in parts["shape"]))
            try:
                x.check_format(full_check=True)       # indices in range, indptr consistent with nnz
            except ValueError as error:
                raise ValueError(f"x_{split}_indices/x_{split}_indptr do not make a valid CSR matrix: {error}") \
                    from error
            fields[f"x_{split}"] = x
            y = arrays[f"y_{split}"]
            if not np.issubdtype(y.dtype, np.integer):
                raise ValueError(f"y_{split} must hold integer category indices, got dtype {y.dtype}")
            fields[f"y_{split}"] = y.astype(np.int64)
        return TextCorpus(**fields, name=path.stem if name is None else name)
    except (ValueError, TypeError) as error:   # the file's content is wrong, not the caller's argument
        raise ValueError(f"npz file {path}: {error}") from error


def load_wordnet_bundled() -> TextCorpus:
    r"""Load the WordNet gloss corpus shipped with purevae (no download, no extra package).

    A uniform random subset of :func:`load_wordnet_glosses` with its defaults (vocabulary 2,000, held-out
    fraction 0.1, seed 0), made by ``scripts/make_wordnet_subset.py``: 32,400 training documents drawn from
    its training split and 3,600 held-out documents drawn from its held-out split, so the vocabulary never saw
    a held-out gloss. ``purevae/datasets/README.md`` gives the recipe, the counts and the checksums. WordNet 3.0
    Copyright 2006 by Princeton University; its licence is ``purevae/datasets/WORDNET_LICENSE.txt``.

    Returns
    -------
    TextCorpus
        Named ``"wordnet-glosses-subset"``; ``x_train`` (32400, 2000) and ``x_test`` (3600, 2000) float32
        counts, labels int64 in 0..44, ``categories`` the 45 :data:`WORDNET_LEXNAMES`; no empty document.

    Raises
    ------
    FileNotFoundError
        The file is missing from this installation.
    """
    resource = importlib.resources.files("purevae.datasets").joinpath(WORDNET_BUNDLED_FILE)
    if not resource.is_file():
        raise FileNotFoundError(
            f"the bundled corpus {WORDNET_BUNDLED_FILE} is missing from this installation of purevae "
            "(purevae.datasets); reinstall the package, or rebuild it with `python scripts/make_wordnet_subset.py` "
            "from a source checkout (needs the Debian package wordnet-base)"
        )
    with importlib.resources.as_file(resource) as path:
        return load_text_npz(path, name="wordnet-glosses-subset")


_TEXT_DATASET_FORMS = (
    "'wordnet' (the WordNet gloss subset shipped with purevae), 'wordnet-full' (every gloss, from the Debian "
    f"package wordnet-base in {WORDNET_DIR}), or a path to an .npz file in the bundled text format"
)


def load_text_dataset(spec: str | os.PathLike = "wordnet") -> TextCorpus:
    r"""Load a text corpus named by a string or a path.

    Parameters
    ----------
    spec : str or os.PathLike, default "wordnet"
        ``"wordnet"`` -> :func:`load_wordnet_bundled`; ``"wordnet-full"`` -> :func:`load_wordnet_glosses`
        (defaults); an existing ``.npz`` file -> :func:`load_text_npz`. The names win over files of the same
        name: write ``./wordnet`` for such a file.

    Returns
    -------
    TextCorpus
        What the loader of that form returns.

    Raises
    ------
    TypeError
        ``spec`` is not a str or path.
    ValueError
        ``spec`` is none of those forms (the message lists them), or the file is not in the bundled format.
    FileNotFoundError
        The bundled file or the WordNet files are missing (see :func:`load_wordnet_bundled`,
        :func:`load_wordnet_glosses`).
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"spec must be a str or os.PathLike, got {type(spec).__name__}")
    if isinstance(spec, str):
        if spec == "wordnet":
            return load_wordnet_bundled()
        if spec == "wordnet-full":
            return load_wordnet_glosses()
    path = Path(spec)
    if path.is_file() and path.suffix.lower() == ".npz":
        return load_text_npz(path)
    reason = f"{path} is not an .npz file" if path.exists() else f"no file named {str(spec)!r}"
    raise ValueError(f"unknown text dataset {str(spec)!r}: {reason}; expected {_TEXT_DATASET_FORMS}")


def to_memmap(path: str | os.PathLike, data: Dataset | str | os.PathLike = "bundled", split: str = "train",
              dtype: object = np.float32, chunk: int = 4096) -> np.memmap:
    r"""Write a split's images, scaled to [0, 1] (:func:`scale_pixels`), to a ``.npy`` file; return it memory-mapped.

    The file is an ordinary ``.npy`` (``np.load(path, mmap_mode="r")`` opens it), written ``chunk`` rows at a
    time through a temporary file renamed over ``path`` (so memory stays bounded by a chunk, and an
    interrupted write leaves no half file). ``fit``, ``elbo``, ``log_likelihood`` and ``encode`` take the
    returned read-only memmap without copying it (``purevae.validation.LazyRows``).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write, ending in ``.npy``; its folder is made when missing.
    data : Dataset, str or os.PathLike, default "bundled"
        The data, or a :func:`load_dataset` spec ("bundled", "fashion-mnist", a folder or an .npz).
    split : {"train", "test"}, default "train"
        Which images to write: ``x_train`` or ``x_test``.
    dtype : float32 or float64, default float32
        Dtype of the file (a name, a numpy dtype or a scalar type).
    chunk : int >= 1, default 4096
        Rows scaled and written at a time.

    Returns
    -------
    numpy.memmap, shape (n, n_features), dtype ``dtype``
        The written file, opened read-only (``np.load(path, mmap_mode="r")``).

    Raises
    ------
    TypeError
        ``path`` or ``data`` not a str or path (nor a Dataset for ``data``), ``split`` not a str, ``chunk`` not
        an int, ``dtype`` not a dtype, or images of a dtype :func:`scale_pixels` refuses.
    ValueError
        ``path`` not ending in ``.npy``, ``split`` neither "train" nor "test", the data without that split,
        ``dtype`` not float32/float64, ``chunk`` < 1, floating images outside [0, 1]; and what
        :func:`load_dataset` raises.
    FileNotFoundError
        A ``data`` spec whose files are missing (:func:`load_dataset`).
    OSError
        Writing failed (a full disk); the previous file at ``path``, if any, is left as it was.
    """
    from .io import write_atomic
    path = check_path("path", path, ".npy")
    dataset = data if isinstance(data, Dataset) else load_dataset(data)
    split = choice("split", split, ("train", "test"))
    x = dataset.x_train if split == "train" else dataset.x_test
    if x is None:
        raise ValueError(f"the data {dataset.name!r} has no {split} split")
    dtype = float_dtype("dtype", dtype)
    chunk = positive_int("chunk", chunk)

    def write(f) -> None:
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                 "fortran_order": False, "shape": tuple(x.shape)})
        for begin in range(0, x.shape[0], chunk):
            f.write(scale_pixels(x[begin:begin + chunk], dtype).tobytes())
    write_atomic(path, write)
    return np.load(path, mmap_mode="r")
