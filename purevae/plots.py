r"""Pictures of a VAE: image grids, latent traversals, a latent scatter, loss curves, the latent-health report.

The image grids show samples, reconstructions and class-conditional samples.

matplotlib is optional (the ``plot`` extra: ``pip install "purevae[plot]"``); it is imported inside the
functions, never when purevae is imported, and only through its Agg (file-only) machinery: image grids are
written with ``matplotlib.image.imsave`` and figures with ``matplotlib.figure.Figure`` + the Agg canvas,
so the global pyplot backend of a notebook is left alone.

Every ``save_*`` function takes arrays (or a model and arrays), writes one PNG and returns its path.
Images are rows of ``n_features = rows * cols`` values, batch first, shown as grey levels with 0 black
and 1 white (values outside [0, 1], e.g. a Gaussian decoder's means, are clipped).

Arguments follow the library's rule (``purevae.validation``): TypeError for a wrong type (2.5 or "8"
where an integer is needed, a string array), ValueError for a wrong value (0 columns, a negative pad).

Pixel size of an image grid of ``n`` images of ``rows x cols`` in ``ncols`` columns, with ``nrows =
ceil(n / ncols)``, a padding of ``pad`` pixels around and between images, and an integer ``scale``::

    height = scale * (nrows * rows + (nrows + 1) * pad)
    width  = scale * (ncols * cols + (ncols + 1) * pad)
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from . import ops
from .data import as_image_shape
from .typing import ArrayLike, DataLike, PathLike, SeedLike
from .validation import as_rng, finite_float, nonnegative_int, positive_int

if TYPE_CHECKING:      # for the annotations only: plots sits below purevae.model
    from .model import VAE

__all__ = ["PLOT_INSTALL", "FASHION_MNIST_CLASSES", "matplotlib_available", "grid_array", "image_grid",
           "save_samples", "save_reconstructions", "class_sample_images", "save_class_samples", "traversal_images",
           "kl_per_dimension", "save_traversals",
           "pca_2d", "save_latent_scatter", "save_top_words", "save_loss_curves", "save_latent_health"]

PLOT_INSTALL = 'pip install "purevae[plot]"'
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
PAD_VALUE = 0.5   # mid grey between images: a white garment and the black background both stand out


def matplotlib_available() -> bool:
    """Tell whether matplotlib can be imported (the pictures need it).

    Returns
    -------
    bool
        True when ``import matplotlib`` succeeds.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _require_matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"purevae's pictures need matplotlib: {PLOT_INSTALL}") from None
    return matplotlib


def _new_figure(width_in: float, height_in: float):
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend change)."""
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _float64_array(name: str, value) -> np.ndarray:
    """``value`` as a float64 ndarray; TypeError for what is not real numbers (strings, objects, complex)."""
    a = np.asarray(value)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _check_images(images, image_shape, name: str = "images") -> tuple[np.ndarray, tuple[int, int]]:
    images = np.asarray(images)
    if images.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {images.dtype}")
    rows, cols = as_image_shape(image_shape, "image_shape")
    if images.ndim == 3 and images.shape[1:] == (rows, cols):
        images = images.reshape(len(images), -1)
    if images.ndim != 2 or images.shape[1] != rows * cols or images.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n >= 1, {rows * cols}) for image_shape {(rows, cols)}, "
                         f"got {images.shape}")
    if images.dtype == np.uint8:
        images = images / 255.0
    return np.clip(images.astype(np.float64), 0.0, 1.0), (rows, cols)


def grid_array(images: ArrayLike, image_shape: Sequence[int], ncols: int = 8, pad: int = 2, scale: int = 1
               ) -> np.ndarray:
    r"""Tile images row by row into one 2-D array (values in [0, 1], grey padding); see the module docstring.

    Parameters
    ----------
    images : array_like, shape (n, rows * cols) or (n, rows, cols), n >= 1
        Floats in [0, 1] (clipped), bools, or uint8 0..255 (divided by 255).
    image_shape : (rows, cols)
        The size of one image.
    ncols : int >= 1, default 8
        Images per grid row (fewer when n < ncols).
    pad : int >= 0, default 2
        Pixels of padding around and between the images, grey (0.5).
    scale : int >= 1, default 1
        Every pixel becomes a scale x scale block.

    Returns
    -------
    ndarray of float64, shape (height, width)
        The grid, height and width as in the module docstring; a last row with fewer than ``ncols`` images
        is padded with grey.

    Raises
    ------
    TypeError
        ``images`` not real numbers, ``image_shape`` not two integers, or ``ncols``, ``pad``, ``scale`` not
        integers.
    ValueError
        ``images`` empty or of a shape that does not hold images of ``image_shape``, an ``image_shape`` entry
        < 1, ``ncols`` < 1, ``pad`` < 0 or ``scale`` < 1.
    """
    images, (rows, cols) = _check_images(images, image_shape)
    ncols = min(positive_int("ncols", ncols), len(images))
    scale = positive_int("scale", scale)
    pad = nonnegative_int("pad", pad)
    nrows = math.ceil(len(images) / ncols)
    grid = np.full((nrows * rows + (nrows + 1) * pad, ncols * cols + (ncols + 1) * pad), PAD_VALUE)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        top, left = pad + r * (rows + pad), pad + c * (cols + pad)
        grid[top:top + rows, left:left + cols] = image.reshape(rows, cols)
    if scale > 1:
        grid = np.repeat(np.repeat(grid, scale, axis=0), scale, axis=1)   # nearest neighbour: crisp pixels
    return grid


def image_grid(images: ArrayLike, image_shape: Sequence[int], path: PathLike, ncols: int = 8, pad: int = 2,
               scale: int = 2) -> Path:
    r"""Write ``images`` as one PNG grid (grey levels, 0 black, 1 white) and return the path.

    The PNG has exactly the pixel size of :func:`grid_array` (no axes, no margins).

    Parameters
    ----------
    images : array_like, shape (n, rows * cols) or (n, rows, cols)
        As :func:`grid_array` takes them.
    image_shape : (rows, cols)
        The size of one image.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    ncols : int >= 1, default 8
        Images per grid row.
    pad : int >= 0, default 2
        Pixels of padding around and between the images.
    scale : int >= 1, default 2
        Every pixel becomes a scale x scale block.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    ImportError
        matplotlib is not installed (:data:`PLOT_INSTALL`).
    TypeError, ValueError
        As :func:`grid_array` raises them.
    """
    _require_matplotlib()
    import matplotlib.image  # file writing only; no pyplot, no backend switch
    grid = grid_array(images, image_shape, ncols=ncols, pad=pad, scale=scale)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(os.fspath(path), grid, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return path


def save_samples(samples: ArrayLike, image_shape: Sequence[int], path: PathLike, ncols: int = 8, scale: int = 2
                 ) -> Path:
    """Write a grid of images decoded from the prior, e.g. ``model.sample(64)``, as a PNG.

    Parameters
    ----------
    samples : array_like, shape (n, rows * cols) or (n, rows, cols)
        The images, e.g. ``model.sample(64)``; as :func:`grid_array` takes them.
    image_shape : (rows, cols)
        The size of one image.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    ncols : int >= 1, default 8
        Images per grid row.
    scale : int >= 1, default 2
        Every pixel becomes a scale x scale block.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    ImportError
        matplotlib is not installed.
    TypeError, ValueError
        As :func:`grid_array` raises them.
    """
    return image_grid(samples, image_shape, path, ncols=ncols, scale=scale)


def class_sample_images(model: VAE, n_per_class: int = 8, rng: SeedLike = None) -> np.ndarray:
    r"""Decode a conditional model's samples, class by class, sharing their latent codes.

    Draws z_1 .. z_n ~ N(0, I) once and decodes every z_j with every label c = 0 .. C-1; row c of the
    picture (images c n .. c n + n - 1) is E[x | z_j, y = c]. A column keeps z fixed, so what changes down
    a column is the label alone, and what changes along a row is what z holds (the "style").
    ``rng`` as in ``VAE.sample``.

    Parameters
    ----------
    model : VAE
        A conditional model (``VAE(n_classes=C)``).
    n_per_class : int >= 1, default 8
        The number n of latent codes, hence of images per class.
    rng : numpy.random.Generator, int, or None, default None
        A Generator or a seed; None uses a fixed stream derived from the model's seed (as ``VAE.sample``).

    Returns
    -------
    ndarray, shape (C * n_per_class, n_input), the model's dtype
        The means E[x | z_j, y = c], class by class.

    Raises
    ------
    ValueError
        ``model`` not conditional, ``n_per_class`` < 1, or a negative seed.
    TypeError
        ``n_per_class`` not an int, or ``rng`` neither a Generator, a seed nor None.
    """
    n_classes = _n_classes(model)
    n_per_class = positive_int("n_per_class", n_per_class)
    rng = as_rng(rng, [model.seed, 1])
    z = model.latent.draw_eps((n_per_class, model.n_latent), model.dtype, rng)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    return model.decode(np.tile(z, (n_classes, 1)), labels)


def _n_classes(model: VAE) -> int:
    """The number of classes of a conditional model; ValueError for an unconditional one."""
    n_classes = getattr(model, "n_classes", None)
    if not getattr(model, "conditional", False) or n_classes is None:
        raise ValueError("class samples need a conditional model (VAE(n_classes=C)); use model.sample(n)")
    return int(n_classes)


def save_class_samples(model: VAE, image_shape: Sequence[int], path: PathLike, n_per_class: int = 8,
                       class_names: Sequence[str] | None = None, rng: SeedLike = None, scale: int = 2) -> Path:
    r"""Write one row per class of :func:`class_sample_images` as a PNG, the class name left of its row.

    ``class_names``: names indexed by label (default "class 0", "class 1", ...); e.g. ``FASHION_MNIST_CLASSES``.

    Parameters
    ----------
    model : VAE
        A conditional model (``VAE(n_classes=C)``).
    image_shape : (rows, cols)
        The size of one image.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    n_per_class : int >= 1, default 8
        Images per class: the columns of the grid.
    class_names : sequence of str, optional
        C names indexed by label.
    rng : numpy.random.Generator, int, or None, default None
        As in :func:`class_sample_images`.
    scale : int >= 1, default 2
        Every pixel becomes a scale x scale block.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    ValueError
        ``model`` not conditional, ``class_names`` not C names, or what :func:`class_sample_images` and
        :func:`grid_array` raise.
    TypeError
        A class name that is not a str, or what :func:`class_sample_images` and :func:`grid_array` raise.
    ImportError
        matplotlib is not installed.
    """
    images = class_sample_images(model, n_per_class, rng)
    n_classes = _n_classes(model)
    names = [f"class {c}" for c in range(n_classes)] if class_names is None else list(class_names)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"class_names must be strings, one per class, got {class_names!r}")
    if len(names) != n_classes:
        raise ValueError(f"class_names must be {n_classes} strings, one per class, got {len(names)}")
    pad = 2
    grid = grid_array(images, image_shape, ncols=n_per_class, pad=pad, scale=scale)
    rows = as_image_shape(image_shape, "image_shape")[0]
    height, width = grid.shape
    label_in = 1.3
    fig = _new_figure(width / 100 + label_in, height / 100 + 0.1)
    ax = fig.add_axes((label_in / (width / 100 + label_in), 0.0, (width / 100) / (width / 100 + label_in), 1.0))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    centres = [scale * (pad + c * (rows + pad) + rows / 2) for c in range(n_classes)]
    ax.set_yticks(centres, names)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(os.fspath(path), format="png")
    return path


def save_reconstructions(originals: ArrayLike, reconstructions: ArrayLike, image_shape: Sequence[int],
                         path: PathLike, ncols: int = 8, scale: int = 2) -> Path:
    r"""Write originals above their reconstructions as a PNG: grid rows alternate originals / reconstructions.

    ``originals`` and ``reconstructions`` have the same shape (n, rows * cols); with ``ncols`` images per
    row, a grid row of originals is followed by the row of their reconstructions (e.g.
    ``model.reconstruct(x)``), so each image sits directly above its reconstruction.

    Parameters
    ----------
    originals : array_like, shape (n, rows * cols) or (n, rows, cols)
        The images, as :func:`grid_array` takes them.
    reconstructions : array_like, the shape of ``originals``
        Their reconstructions, e.g. ``model.reconstruct(x)``.
    image_shape : (rows, cols)
        The size of one image.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    ncols : int >= 1, default 8
        Images per grid row (fewer when n < ncols).
    scale : int >= 1, default 2
        Every pixel becomes a scale x scale block.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    ValueError
        ``originals`` and ``reconstructions`` of different shapes, or what :func:`grid_array` raises.
    TypeError
        As :func:`grid_array` raises it.
    ImportError
        matplotlib is not installed.
    """
    originals, shape = _check_images(originals, image_shape, "originals")
    reconstructions, _ = _check_images(reconstructions, image_shape, "reconstructions")
    if originals.shape != reconstructions.shape:
        raise ValueError(f"originals {originals.shape} and reconstructions {reconstructions.shape} differ in shape")
    ncols = min(positive_int("ncols", ncols), len(originals))
    n_full = math.ceil(len(originals) / ncols) * ncols
    blank = np.full((n_full - len(originals), originals.shape[1]), PAD_VALUE)
    top, bottom = np.vstack([originals, blank]), np.vstack([reconstructions, blank])
    rows = [block for i in range(0, n_full, ncols) for block in (top[i:i + ncols], bottom[i:i + ncols])]
    return image_grid(np.vstack(rows), shape, path, ncols=ncols, scale=scale)


def kl_per_dimension(mu: ArrayLike, logvar: ArrayLike) -> np.ndarray:
    r"""Compute the average KL(q(z_k|x) || N(0, 1)) of each latent dimension over examples, in nats, in float64.

    With the model's clamp::

        KL_k = mean_b kl_terms(mu, clamp_logvar(logvar))_bk
             = mean_b 0.5 (mu_bk^2 + e^logvar_bk - logvar_bk - 1),   logvar clamped to [-30, 30]

    The library's one KL formula (``ops.kl_terms``), on the log-variances clamped as the model clamps
    them before use (``ops.clamp_logvar``, ``ops.LOGVAR_LIMIT``), so the numbers are the model's KL term
    split by dimension. Dimensions with KL near 0 are unused ("collapsed" to the prior); the large ones
    carry the information. Derivation: docs/derivations.md#kl (the KL per dimension:
    docs/derivations.md#latent-health).

    Parameters
    ----------
    mu, logvar : array_like, shape (batch, n_latent), batch >= 1
        The parameters of q(z|x), e.g. ``model.encode(x)``.

    Returns
    -------
    ndarray of float64, shape (n_latent,)
        KL_k for each dimension k.

    Raises
    ------
    TypeError
        ``mu`` or ``logvar`` not real numbers.
    ValueError
        ``mu`` not 2-D with at least one row, or ``logvar`` of another shape.
    """
    mu, logvar = _float64_array("mu", mu), _float64_array("logvar", logvar)
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ValueError(f"mu must be 2-D (batch >= 1, n_latent), got shape {mu.shape}")
    if logvar.shape != mu.shape:
        raise ValueError(f"logvar must have the shape of mu {mu.shape}, got {logvar.shape}")
    return np.mean(ops.kl_terms(mu, ops.clamp_logvar(logvar)), axis=0)


def traversal_images(model: VAE, x: DataLike, n_dims: int = 8, n_steps: int = 9, limit: float = 3.0, index: int = 0,
                     dims: Sequence[int] | np.ndarray | None = None, *,
                     y: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Decode latent traversals: one row per latent dimension, one column per value in [-limit, limit].

    The dimensions are those with the largest average KL over ``x`` (:func:`kl_per_dimension`), largest
    first, unless ``dims`` is given. Every other coordinate stays at the encoding mu of ``x[index]``::

        z_row(d), column j = mu(x[index]) with coordinate d set to v_j,  v = linspace(-limit, limit, n_steps)

    Parameters
    ----------
    model : VAE
        The model that encodes ``x`` and decodes the traversals.
    x : array_like, shape (n, n_input)
        The images whose encodings rank the dimensions.
    n_dims : int >= 1, default 8
        Dimensions shown when ``dims`` is None (at most n_latent).
    n_steps : int >= 1, default 9
        Values per dimension.
    limit : float > 0, default 3.0
        The values run from -limit to +limit.
    index : int, 0 <= index < n, default 0
        The example whose encoding fixes the other coordinates.
    dims : sequence of int in 0..n_latent - 1, optional
        The dimensions to show, in this order; default those of largest KL.
    y : array_like, optional
        A conditional model's labels of x (``VAE.encode``); the traversal keeps the label of ``x[index]``.

    Returns
    -------
    images : ndarray, shape (len(dims) * n_steps, n_input)
        Row-major: the rows of the grid one after another.
    dims : ndarray of int
        The dimensions shown, top to bottom.
    kl : ndarray of float64, shape (n_latent,)
        The average KL per dimension over x.

    Raises
    ------
    TypeError
        ``n_dims``, ``n_steps`` or ``index`` not an int, ``limit`` not a real number, ``dims`` not integers;
        and what ``model.encode`` raises for ``x`` and ``y``.
    ValueError
        ``n_dims`` or ``n_steps`` < 1, ``limit`` not a finite number > 0, ``index`` < 0 or >= n, ``dims`` empty,
        not 1-D or outside 0..n_latent - 1; and what ``model.encode`` raises for ``x`` and ``y``.
    """
    n_dims, n_steps = positive_int("n_dims", n_dims), positive_int("n_steps", n_steps)
    limit = finite_float("limit", limit, minimum=0.0, strict=True)
    index = nonnegative_int("index", index)
    if dims is not None:
        dims = np.asarray(dims)
        if dims.ndim != 1 or dims.size == 0:
            raise ValueError(f"dims must be a non-empty sequence of latent dimensions, got {dims.tolist()}")
        if dims.dtype.kind not in "iu":
            raise TypeError(f"dims must be integers (latent dimensions), got dtype {dims.dtype}")
    mu, logvar = model.encode(x, y)
    labels = model.check_labels(y, len(mu))
    kl = kl_per_dimension(mu, logvar)
    if dims is None:
        dims = np.argsort(-kl, kind="stable")[:min(n_dims, model.n_latent)]
    dims = dims.astype(int)
    if dims.min() < 0 or dims.max() >= model.n_latent:
        raise ValueError(f"dims must be latent dimensions in 0..{model.n_latent - 1}, got {dims.tolist()}")
    if index >= len(mu):
        raise ValueError(f"index must be in 0..{len(mu) - 1}, got {index}")
    values = np.linspace(-limit, limit, n_steps)
    z = np.repeat(mu[index][None, :], len(dims) * len(values), axis=0)
    for row, d in enumerate(dims):
        z[row * len(values):(row + 1) * len(values), d] = values
    return model.decode(z, None if labels is None else int(labels[index])), dims, kl


def save_traversals(model: VAE, x: DataLike, image_shape: Sequence[int], path: PathLike, n_dims: int = 8,
                    n_steps: int = 9, limit: float = 3.0, index: int = 0, scale: int = 2, *,
                    y: ArrayLike | None = None) -> Path:
    r"""Write latent traversals (see :func:`traversal_images`) as a PNG grid.

    Row i varies the i-th most used dimension from -limit (left) to +limit (right) with the others fixed at the
    encoding of ``x[index]``.

    Parameters
    ----------
    model : VAE
        The model that encodes ``x`` and decodes the traversals.
    x : array_like, shape (n, n_input)
        The images whose encodings rank the dimensions.
    image_shape : (rows, cols)
        The size of one image.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    n_dims : int >= 1, default 8
        Dimensions shown, those of largest KL (at most n_latent).
    n_steps : int >= 1, default 9
        Values per dimension: the columns of the grid.
    limit : float > 0, default 3.0
        The values run from -limit to +limit.
    index : int, 0 <= index < n, default 0
        The example whose encoding fixes the other coordinates.
    scale : int >= 1, default 2
        Every pixel becomes a scale x scale block.
    y : array_like, optional
        A conditional model's labels of x, as in :func:`traversal_images`.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError, ValueError
        As :func:`traversal_images` and :func:`grid_array` raise them.
    ImportError
        matplotlib is not installed.
    """
    images, _, _ = traversal_images(model, x, n_dims=n_dims, n_steps=n_steps, limit=limit, index=index, y=y)
    return image_grid(images, image_shape, path, ncols=n_steps, scale=scale)


def pca_2d(points: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    r"""Project points (n, d) onto their two principal axes, by the SVD of the centred data.

    The projection::

        X_c = X - mean(X) = U S V^T,    projection = X_c V[:, :2] = U[:, :2] S[:2]

    Returns the projection (n, 2) and the fraction of variance of each axis (2,). With d <= 2 the points
    are returned as they are (padded with zeros to two columns when d = 1), with fractions of NaN.

    Parameters
    ----------
    points : array_like, shape (n, d), n >= 1
        The points, real numbers.

    Returns
    -------
    projection : ndarray of float64, shape (n, 2)
        The coordinates on the two principal axes; when d <= 2 the points themselves (zero-padded when
        d = 1), and when n = 1 the point's first two coordinates.
    fraction : ndarray of float64, shape (2,)
        The fraction of the variance along each axis; NaN when d <= 2 or n = 1, zeros when all points are
        equal.

    Raises
    ------
    TypeError
        ``points`` not real numbers.
    ValueError
        ``points`` not 2-D with at least one row.
    """
    points = _float64_array("points", points)
    if points.ndim != 2 or points.shape[0] < 1:
        raise ValueError(f"points must be 2-D (n, d), got shape {points.shape}")
    if points.shape[1] <= 2 or points.shape[0] < 2:     # one point has no principal axes: shown as it is
        points = points[:, :2]
        out = np.zeros((points.shape[0], 2))
        out[:, :points.shape[1]] = points
        return out, np.full(2, np.nan)
    centred = points - points.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    total = np.sum(s ** 2)
    fraction = s[:2] ** 2 / total if total > 0 else np.zeros(2)
    return u[:, :2] * s[:2], fraction


def save_latent_scatter(mu: ArrayLike, path: PathLike, labels: ArrayLike | None = None,
                        class_names: Sequence[str] | None = None, title: str | None = None) -> Path:
    r"""Write a scatter of the latent means in 2-D (PCA of ``mu`` when n_latent > 2), coloured by label, as a PNG.

    Parameters
    ----------
    mu : array_like, shape (n, n_latent), n >= 1
        The latent means, e.g. ``model.encode(x)[0]``.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    labels : array_like of int, shape (n,), optional
        The class of each point; None (the default) draws every point in one colour.
    class_names : sequence of str, optional
        Names for the legend, indexed by label; a label without a name (and every label when None) is shown
        as its number.
    title : str, optional
        The figure's title; default a description of the projection.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError
        ``mu`` not real numbers, or ``title`` not a str.
    ValueError
        ``mu`` not 2-D with at least one row, or ``labels`` not one per row of ``mu``.
    ImportError
        matplotlib is not installed.
    """
    mu = _float64_array("mu", mu)
    if mu.ndim != 2:
        raise ValueError(f"mu must be 2-D (n, n_latent), got shape {mu.shape}")
    _check_title(title)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != mu.shape[0]:
            raise ValueError(f"labels has {labels.shape[0]} entries but mu has {mu.shape[0]} rows")
    xy, fraction = pca_2d(mu)
    fig = _new_figure(6.4, 5.6)
    ax = fig.add_subplot()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4, alpha=0.6, color="tab:blue", linewidths=0)
    else:
        classes = np.unique(labels)
        cmap = _colormap("tab10" if len(classes) <= 10 else "tab20")
        for i, cls in enumerate(classes):
            sel = labels == cls
            name = class_names[int(cls)] if class_names is not None and 0 <= int(cls) < len(class_names) \
                else str(cls)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, alpha=0.6, color=cmap(i % cmap.N), label=name, linewidths=0)
        ax.legend(markerscale=3, fontsize=8, loc="best", framealpha=0.8)
    if mu.shape[1] > 2:
        ax.set_xlabel(f"principal axis 1 ({100 * fraction[0]:.0f}% of variance)")
        ax.set_ylabel(f"principal axis 2 ({100 * fraction[1]:.0f}% of variance)")
        default = f"latent means ({mu.shape[1]}-D), PCA to 2-D"
    else:
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]" if mu.shape[1] == 2 else "(none)")
        default = "latent means"
    ax.set_title(title or default)
    return _save_figure(fig, path)


def save_top_words(words: Sequence[Sequence[str]], path: PathLike, rises: ArrayLike | None = None,
                   title: str | None = None, delta: float = 2.0) -> Path:
    r"""Write a table of words per latent direction, one row per dimension, as a PNG.

    The words are e.g. those of ``purevae.text.top_words``.

    Parameters
    ----------
    words : sequence of sequence of str
        One non-empty row of words per latent dimension.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    rises : array_like, shape (n_dims, n_words), optional
        The logit rise of each word (written after it when given); n_words is the longest row's length.
    title : str, optional
        The figure's title; default one that names ``delta``.
    delta : float, default 2.0
        The ``delta`` of ``top_words`` the table came from (for the default title).

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError
        A word that is not a str, ``rises`` not real numbers, or ``title`` not a str.
    ValueError
        No rows or an empty row, or ``rises`` of another shape.
    ImportError
        matplotlib is not installed.
    """
    _check_title(title)
    rows = [list(row) for row in words]
    if not rows or not all(rows):
        raise ValueError("words must be non-empty rows of str, one per latent dimension")
    if not all(isinstance(w, str) for row in rows for w in row):
        raise TypeError("words must be rows of str, one per latent dimension")
    if rises is not None:
        rises = _float64_array("rises", rises)
        if rises.shape != (len(rows), max(len(r) for r in rows)):
            raise ValueError(f"rises must have shape {(len(rows), max(len(r) for r in rows))}, got {rises.shape}")
    cells = [[f"{w} ({rises[i, j]:.1f})" if rises is not None else w for j, w in enumerate(row)]
             for i, row in enumerate(rows)]
    width = max(len(c) for row in cells for c in row)
    fig = _new_figure(min(16.0, 1.2 + 0.075 * width * max(len(r) for r in rows)), 0.6 + 0.28 * len(rows))
    ax = fig.add_subplot()
    ax.axis("off")
    table = ax.table(cellText=cells, rowLabels=[f"z[{i}]" for i in range(len(rows))], loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    ax.set_title(title or f"words whose logits rise most as z[j] goes from -{delta:g} to +{delta:g}", fontsize=10)
    return _save_figure(fig, path)


def _check_title(title) -> None:
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a str or None, got {title!r} ({type(title).__name__})")


def _colormap(name: str):
    from matplotlib import colormaps
    return colormaps[name]


def _save_figure(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(os.fspath(path), format="png")
    return path


def save_loss_curves(history: Mapping[str, Any], path: PathLike, title: str | None = None) -> Path:
    r"""Write the loss curves of a training history as a PNG.

    Train and validation negative ELBO per epoch (left), the KL term (middle), in nats per example, and
    the number of active latent units per epoch (right, when the history has them).

    ``history``: the dict returned by ``VAE.fit`` (keys ``epoch``, ``loss``, ``kl``, ``val_loss``, ``val_kl``,
    ``val_active_units``; validation entries may be None). The active units are those of the validation
    pass (Burda et al.'s count, ``purevae.diagnostics.posterior_health``); epochs without one are left out.

    Parameters
    ----------
    history : mapping
        The history ``VAE.fit`` returns; a curve with a missing or None entry is not drawn.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    title : str, optional
        The figure's title; default none.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError
        ``history`` not a mapping, or ``title`` not a str.
    ValueError
        ``history`` without epochs.
    ImportError
        matplotlib is not installed.
    """
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a dict (VAE.fit's history), got {type(history).__name__}")
    _check_title(title)
    epochs = np.asarray(history.get("epoch", []), dtype=float)
    if len(epochs) == 0:
        raise ValueError("history has no epochs to plot")

    def series(key):
        values = history.get(key) or []
        if len(values) != len(epochs) or any(v is None for v in values):
            return None
        return np.asarray(values, dtype=float)

    units = history.get("val_active_units") or []
    unit_epochs = [e for e, u in zip(epochs, units) if u is not None] if len(units) == len(epochs) else []
    panels = 3 if unit_epochs else 2
    fig = _new_figure(4.8 * panels, 3.8)
    from matplotlib.ticker import MaxNLocator
    for i, (label, train_key, val_key) in enumerate([("negative ELBO", "loss", "val_loss"),
                                                     ("KL(q(z|x) || p(z))", "kl", "val_kl")]):
        ax = fig.add_subplot(1, panels, i + 1)
        for key, name, style in ((train_key, "train", "o-"), (val_key, "validation", "s--")):
            values = series(key)
            if values is not None:
                ax.plot(epochs, values, style, markersize=4, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{label}, nats per example")
        ax.grid(alpha=0.3)
        ax.legend()
    if unit_epochs:
        ax = fig.add_subplot(1, panels, 3)
        ax.plot(unit_epochs, [u for u in units if u is not None], "s--", markersize=4, color="tab:green",
                label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        dims = [len(d) for d in history.get("val_kl_per_dimension") or [] if d is not None]
        ax.set_ylim(0, (max(dims) if dims else max(u for u in units if u is not None)) + 0.5)   # up to n_latent
        ax.set_ylabel("active units (Var_x mu_j > 0.01)")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save_figure(fig, path)


def save_latent_health(report: Mapping[str, Any], path: PathLike, title: str | None = None) -> Path:
    r"""Write the latent-health report as bars, in a PNG.

    Each dimension's KL (left) and Var_x(mu_j(x)) (right, log scale, with the active-unit threshold as a
    line); active dimensions in colour, inactive ones grey. Derivation: docs/derivations.md#latent-health.

    Parameters
    ----------
    report : mapping
        What ``purevae.diagnostics.latent_report`` returns (``kl_per_dimension``, ``variances``,
        ``active``, ``threshold``, ``active_units``, ``kl``, ``mutual_information``, ``n_examples``); the
        first four are needed.
    path : str or os.PathLike
        Where to write the PNG; its folder is made when missing.
    title : str, optional
        The figure's title; default the report's totals.

    Returns
    -------
    pathlib.Path
        ``path``, written.

    Raises
    ------
    TypeError
        ``report`` not a mapping, its arrays not real numbers, its threshold not a real number, or ``title``
        not a str.
    ValueError
        A needed key missing, ``kl_per_dimension``, ``variances`` and ``active`` empty or of different
        lengths, or a threshold that is not a finite number >= 0.
    ImportError
        matplotlib is not installed.
    """
    if not isinstance(report, Mapping):
        raise TypeError(f"report must be a dict (diagnostics.latent_report's), got {type(report).__name__}")
    missing = [key for key in ("kl_per_dimension", "variances", "active", "threshold") if key not in report]
    if missing:
        raise ValueError(f"report lacks {', '.join(missing)} (pass diagnostics.latent_report's dict)")
    _check_title(title)
    kl = _float64_array("report['kl_per_dimension']", report["kl_per_dimension"]).reshape(-1)
    variances = _float64_array("report['variances']", report["variances"]).reshape(-1)
    active = np.asarray(report["active"], dtype=bool).reshape(-1)
    if not len(kl) == len(variances) == len(active) or len(kl) == 0:
        raise ValueError(f"report's kl_per_dimension, variances and active must have one entry per latent "
                         f"dimension, got {len(kl)}, {len(variances)} and {len(active)}")
    threshold = finite_float("report['threshold']", report["threshold"], 0.0)
    dims = np.arange(len(kl))
    colours = np.where(active, "tab:blue", "lightgrey")
    fig = _new_figure(max(7.0, 0.45 * len(kl) + 3.0) * 1.6, 3.8)
    ax = fig.add_subplot(1, 2, 1)
    ax.bar(dims, kl, color=colours)
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color="tab:blue", label="active"), Patch(color="lightgrey", label="inactive")],
              loc="best", fontsize=8)
    ax.set_xlabel("latent dimension j")
    ax.set_ylabel("mean KL(q(z_j|x) || N(0, 1)), nats")
    ax.set_xticks(dims if len(dims) <= 32 else dims[::max(1, len(dims) // 16)])
    ax.grid(alpha=0.3, axis="y")
    ax = fig.add_subplot(1, 2, 2)
    floor = max(threshold, 1e-12) * 1e-3   # inactive variances can be exactly 0: keep them on the log axis
    ax.bar(dims, np.maximum(variances, floor), color=colours)
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension j")
    ax.set_ylabel("Var_x(mu_j(x))")
    ax.set_xticks(dims if len(dims) <= 32 else dims[::max(1, len(dims) // 16)])
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="best", fontsize=8)
    if title is None:
        parts = [f"{int(active.sum())} of {len(kl)} units active", f"KL {kl.sum():.2f} nats"]
        if "mutual_information" in report:
            parts.append(f"I(x; z) ~ {float(report['mutual_information']):.2f} nats")
        if "n_examples" in report:
            parts.append(f"{int(report['n_examples'])} examples")
        title = "latent health: " + ", ".join(parts)
    fig.suptitle(title)
    return _save_figure(fig, path)
