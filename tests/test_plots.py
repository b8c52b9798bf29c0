"""Pictures: grid geometry by hand, PNGs of the stated pixel size that are not constant, traversals, PCA."""
import math

import numpy as np
import pytest

import purevae
from purevae import plots

image = pytest.importorskip("matplotlib.image")   # the pictures need the optional `plot` extra


def _constant_images(values, shape=(3, 4)):
    """One image per value, every pixel equal to it: (n, rows * cols)."""
    return np.repeat(np.asarray(values, float)[:, None], shape[0] * shape[1], axis=1)


def test_grid_array_places_each_image_by_hand():
    images = _constant_images([0.0, 0.25, 0.75, 1.0, 0.5])
    grid = plots.grid_array(images, (3, 4), ncols=2, pad=1)
    # 3 grid rows x 2 columns of 3 x 4 images, 1 pixel of padding around and between
    assert grid.shape == (3 * 3 + 4 * 1, 2 * 4 + 3 * 1)
    for i, value in enumerate([0.0, 0.25, 0.75, 1.0, 0.5]):
        r, c = divmod(i, 2)
        top, left = 1 + r * 4, 1 + c * 5
        np.testing.assert_array_equal(grid[top:top + 3, left:left + 4], value)
    assert grid[0, 0] == plots.PAD_VALUE and grid[1, 5] == plots.PAD_VALUE    # padding, incl. between columns
    np.testing.assert_array_equal(grid[9:12, 6:10], plots.PAD_VALUE)         # the empty sixth cell


def test_grid_array_scale_clip_and_uint8():
    images = np.array([[0, 255, 128, 0]], dtype=np.uint8)
    grid = plots.grid_array(images, (2, 2), ncols=1, pad=0, scale=3)
    assert grid.shape == (6, 6)
    np.testing.assert_allclose(grid[:3, 3:], 1.0, rtol=0, atol=0)          # 255 -> 1, a 3 x 3 block
    np.testing.assert_allclose(grid[3:, :3], 128 / 255, rtol=1e-12, atol=0)
    clipped = plots.grid_array(np.array([[-1.0, 2.0]]), (1, 2), pad=0)
    np.testing.assert_array_equal(clipped, [[0.0, 1.0]])


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 11)), "images must have shape"),
    (np.zeros((0, 12)), "images must have shape"),
    (np.zeros(12), "images must have shape"),
])
def test_grid_array_rejects_wrong_shapes(bad, match):
    with pytest.raises(ValueError, match=match):
        plots.grid_array(bad, (3, 4))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"ncols": 2.5}, TypeError, "ncols must be a positive integer"),    # a ValueError before the rule
    ({"ncols": "a"}, TypeError, "ncols must be a positive integer"),    # a ValueError before the rule
    ({"ncols": True}, TypeError, "ncols must be a positive integer"),
    ({"ncols": 0}, ValueError, "ncols must be a positive integer, got 0"),
    ({"scale": 2.0}, TypeError, "scale must be a positive integer"),
    ({"scale": 0}, ValueError, "scale must be a positive integer, got 0"),
    ({"pad": 1.0}, TypeError, "pad must be an integer"),
    ({"pad": -1}, ValueError, "pad must be an integer >= 0, got -1"),
    ({"image_shape": (3, 4.0)}, TypeError, r"image_shape\[1\] must be a positive integer"),
    ({"image_shape": "3x4"}, TypeError, "image_shape must be two positive integers"),
    ({"image_shape": (3, 0)}, ValueError, r"image_shape\[1\] must be a positive integer, got 0"),
    ({"image_shape": (12,)}, ValueError, "image_shape must be two positive integers"),
    ({"images": np.array([["a"] * 12])}, TypeError, "images must be a numeric array"),
])
def test_grid_array_argument_errors_follow_the_type_value_rule(kwargs, error, match):
    arguments = {"images": np.zeros((2, 12)), "image_shape": (3, 4), **kwargs}
    with pytest.raises(error, match=match):
        plots.grid_array(**arguments)


def test_save_reconstructions_ncols_type_error(tmp_path):
    with pytest.raises(TypeError, match="ncols must be a positive integer"):
        plots.save_reconstructions(np.zeros((2, 12)), np.zeros((2, 12)), (3, 4), tmp_path / "r.png", ncols=1.5)


def test_image_grid_writes_a_png_of_the_computed_size(tmp_path):
    images = _constant_images(np.linspace(0, 1, 7))
    path = plots.image_grid(images, (3, 4), tmp_path / "grid.png", ncols=3, pad=2, scale=2)
    pixels = image.imread(path)
    assert pixels.shape == (2 * (3 * 3 + 4 * 2), 2 * (3 * 4 + 4 * 2), 4)
    np.testing.assert_allclose(pixels[4, 4, :3], 0.0, atol=1 / 255)          # first image black
    np.testing.assert_allclose(pixels[4 + 2 * 5, 4, :3], 0.5, atol=1 / 255)          # fourth image (row 2): 0.5
    np.testing.assert_allclose(pixels[4 + 2 * 5, 4 + 2 * 6, :3], 4 / 6, atol=1 / 255)  # fifth: 4/6
    assert pixels[..., :3].std() > 0.1


def test_save_reconstructions_puts_originals_above_reconstructions(tmp_path):
    originals = _constant_images([0.0] * 5)         # black
    reconstructions = _constant_images([1.0] * 5)   # white
    path = plots.save_reconstructions(originals, reconstructions, (3, 4), tmp_path / "rec.png", ncols=3, scale=1)
    pixels = image.imread(path)[..., 0]
    # grid rows: originals 0-2, their reconstructions, originals 3-4 (+ blank), their reconstructions
    assert pixels.shape == (4 * 3 + 5 * 2, 3 * 4 + 4 * 2)
    row_top = [2 + r * 5 for r in range(4)]
    for r, want in zip(row_top, [0.0, 1.0, 0.0, 1.0]):
        np.testing.assert_allclose(pixels[r:r + 3, 2:6], want, atol=1 / 255)
    np.testing.assert_allclose(pixels[row_top[2]:row_top[2] + 3, 14:18], plots.PAD_VALUE, atol=1 / 255)  # blank
    with pytest.raises(ValueError, match="differ in shape"):
        plots.save_reconstructions(originals, reconstructions[:4], (3, 4), tmp_path / "bad.png")


def test_kl_per_dimension_known_answers():
    mu = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
    logvar = np.array([[0.0, 0.0, np.log(2.0)], [0.0, 0.0, np.log(2.0)]])
    # 0.5 (mu^2 + e^logvar - logvar - 1): 0; 0.5; 0.5 (2 - log 2 - 1)
    np.testing.assert_allclose(plots.kl_per_dimension(mu, logvar), [0.0, 0.5, 0.5 * (1 - np.log(2.0))],
                               rtol=1e-12, atol=1e-15)


def test_kl_per_dimension_is_the_mean_over_the_batch_in_float64():
    mu = np.array([[2.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    logvar = np.array([[0.0, 1.0], [0.0, -1.0]], dtype=np.float32)
    kl = plots.kl_per_dimension(mu, logvar)
    # dimension 0: (0.5 * 4 + 0) / 2 = 1; dimension 1: 0.5 (e - 2) and 0.5 (1/e), averaged
    want = [1.0, 0.5 * (0.5 * (math.e - 1 - 1) + 0.5 * (math.exp(-1) + 1 - 1))]
    assert kl.dtype == np.float64 and kl.shape == (2,)
    np.testing.assert_allclose(kl, want, rtol=1e-7, atol=0)   # float32 inputs: their rounding, not the sum's


def test_kl_per_dimension_clamps_logvar_like_the_model():
    # the model clamps every log-variance to [-30, 30] (ops.LOGVAR_LIMIT) before use; so must the plots
    mu = np.array([[1.0, 1.0]])
    logvar = np.array([[100.0, -100.0]])
    want = [0.5 * (1.0 + math.exp(30.0) - 30.0 - 1.0),     # logvar 100 is used as 30
            0.5 * (1.0 + math.exp(-30.0) + 30.0 - 1.0)]    # logvar -100 is used as -30
    np.testing.assert_allclose(plots.kl_per_dimension(mu, logvar), want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("mu, logvar, error, match", [
    (np.zeros(3), np.zeros(3), ValueError, "mu must be 2-D"),
    (np.zeros((0, 3)), np.zeros((0, 3)), ValueError, "mu must be 2-D"),
    (np.zeros((2, 3)), np.zeros((2, 2)), ValueError, r"logvar must have the shape of mu \(2, 3\)"),
    (np.array([["a"]]), np.zeros((1, 1)), TypeError, "mu must be a real numeric array"),
    (np.zeros((1, 1)), np.array([[1j]]), TypeError, "logvar must be a real numeric array"),
])
def test_kl_per_dimension_argument_errors(mu, logvar, error, match):
    with pytest.raises(error, match=match):
        plots.kl_per_dimension(mu, logvar)


def test_traversal_images_vary_one_dimension_of_the_fixed_encoding(rng):
    model = purevae.VAE(n_input=12, hidden=(8,), n_latent=4, dtype="float64", seed=3)
    x = rng.random((20, 12))
    images, dims, kl = plots.traversal_images(model, x, n_dims=2, n_steps=3, limit=2.0, index=5)
    mu, logvar = model.encode(x)
    np.testing.assert_array_equal(dims, np.argsort(-plots.kl_per_dimension(mu, logvar))[:2])
    assert kl[dims[0]] >= kl[dims[1]] >= np.max(np.delete(kl, dims))
    z = np.repeat(mu[5][None], 6, axis=0)
    z[0:3, dims[0]] = [-2.0, 0.0, 2.0]
    z[3:6, dims[1]] = [-2.0, 0.0, 2.0]
    np.testing.assert_allclose(images, model.decode(z), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="index"):
        plots.traversal_images(model, x, index=20)
    images, dims, _ = plots.traversal_images(model, x, n_steps=2, dims=[3, 0])
    np.testing.assert_array_equal(dims, [3, 0])
    assert images.shape == (4, 12)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_dims": 2.5}, TypeError, "n_dims must be a positive integer"),
    ({"n_dims": 0}, ValueError, "n_dims must be a positive integer, got 0"),
    ({"n_steps": "9"}, TypeError, "n_steps must be a positive integer"),
    ({"n_steps": 0}, ValueError, "n_steps must be a positive integer, got 0"),
    ({"limit": "3"}, TypeError, "limit must be a real number"),
    ({"limit": 0.0}, ValueError, "limit must be .*> 0"),
    ({"limit": float("inf")}, ValueError, "limit must be (a )?finite"),
    ({"index": 1.0}, TypeError, "index must be an integer"),
    ({"index": -1}, ValueError, "index must be an integer >= 0, got -1"),
    ({"dims": [0.5]}, TypeError, "dims must be integers"),
    ({"dims": []}, ValueError, "dims must be a non-empty sequence"),
    ({"dims": [4]}, ValueError, r"dims must be latent dimensions in 0..3, got \[4\]"),
])
def test_traversal_images_argument_errors_follow_the_type_value_rule(rng, kwargs, error, match):
    model = purevae.VAE(n_input=12, hidden=(8,), n_latent=4, dtype="float64", seed=3)
    with pytest.raises(error, match=match):
        plots.traversal_images(model, rng.random((5, 12)), **kwargs)


def test_save_traversals_png(tmp_path, rng):
    model = purevae.VAE(n_input=16, hidden=(8,), n_latent=3, seed=0)
    path = plots.save_traversals(model, rng.random((30, 16)), (4, 4), tmp_path / "t.png", n_dims=5, n_steps=7)
    pixels = image.imread(path)
    assert pixels.shape[:2] == (2 * (3 * 4 + 4 * 2), 2 * (7 * 4 + 8 * 2))   # n_dims capped at n_latent = 3


def test_pca_2d_finds_the_line(rng):
    t = rng.normal(size=200)
    direction = np.array([1.0, 2.0, 2.0]) / 3.0
    points = 5.0 + t[:, None] * direction[None, :] + 1e-3 * rng.normal(size=(200, 3))
    projection, fraction = plots.pca_2d(points)
    assert fraction[0] > 0.9999 and fraction[1] < 1e-4
    centred = t - t.mean()
    sign = np.sign(projection[:, 0] @ centred)
    np.testing.assert_allclose(sign * projection[:, 0], centred, atol=1e-2)
    same, nan_fraction = plots.pca_2d(points[:, :1])       # 1-D: padded, not rotated
    np.testing.assert_array_equal(same[:, 0], points[:, 0])
    np.testing.assert_array_equal(same[:, 1], 0.0)
    assert np.all(np.isnan(nan_fraction))
    with pytest.raises(TypeError, match="points must be a real numeric array"):
        plots.pca_2d([["a", "b", "c"]])


@pytest.mark.parametrize("n_latent, labels", [(5, True), (2, True), (1, False)])
def test_save_latent_scatter_png(tmp_path, rng, n_latent, labels):
    mu = rng.normal(size=(300, n_latent))
    y = rng.integers(0, 10, 300) if labels else None
    path = plots.save_latent_scatter(mu, tmp_path / "latent.png", labels=y, class_names=plots.FASHION_MNIST_CLASSES)
    pixels = image.imread(path)
    assert pixels.shape[:2] == (560, 640)
    assert pixels[..., :3].std() > 0.05
    with pytest.raises(ValueError, match="labels has 3 entries"):
        plots.save_latent_scatter(mu, tmp_path / "bad.png", labels=np.zeros(3, dtype=int))
    with pytest.raises(TypeError, match="title must be a str"):
        plots.save_latent_scatter(mu, tmp_path / "bad.png", title=3)


def test_save_loss_curves_png(tmp_path):
    history = {"epoch": [1, 2, 3], "loss": [300.0, 280.0, 270.0], "kl": [10.0, 12.0, 13.0],
               "val_loss": [290.0, 279.0, 275.0], "val_kl": [11.0, 12.5, 13.1]}
    pixels = image.imread(plots.save_loss_curves(history, tmp_path / "curves.png", title="t"))
    assert pixels.shape[:2] == (380, 960)
    assert pixels[..., :3].std() > 0.05
    without_validation = dict(history, val_loss=[None] * 3, val_kl=[None] * 3)
    assert plots.save_loss_curves(without_validation, tmp_path / "c2.png").is_file()
    with pytest.raises(ValueError, match="no epochs"):
        plots.save_loss_curves({"epoch": []}, tmp_path / "c3.png")
    with pytest.raises(TypeError, match="history must be a dict"):
        plots.save_loss_curves([300.0, 280.0], tmp_path / "c4.png")


def test_save_loss_curves_adds_an_active_units_panel_when_the_history_has_them(tmp_path):
    history = {"epoch": [1, 2, 3], "loss": [300.0, 280.0, 270.0], "kl": [10.0, 12.0, 13.0],
               "val_loss": [290.0, 279.0, 275.0], "val_kl": [11.0, 12.5, 13.1],
               "val_active_units": [3, 5, 6], "val_kl_per_dimension": [[1.0] * 8] * 3}
    pixels = image.imread(plots.save_loss_curves(history, tmp_path / "curves.png"))
    assert pixels.shape[:2] == (380, 1440)          # three panels of 4.8 x 3.8 inches at 100 dpi
    partial = dict(history, val_active_units=[None, 5, 6])      # an epoch without a validation pass: left out
    assert image.imread(plots.save_loss_curves(partial, tmp_path / "c2.png")).shape[:2] == (380, 1440)
    none = dict(history, val_active_units=[None] * 3)
    assert image.imread(plots.save_loss_curves(none, tmp_path / "c3.png")).shape[:2] == (380, 960)


def _report(kl, variances, threshold=0.01):
    variances = np.asarray(variances, float)
    return {"kl_per_dimension": np.asarray(kl, float), "variances": variances, "active": variances > threshold,
            "threshold": threshold, "n_examples": 100, "mutual_information": 1.5}


def test_save_latent_health_png_colours_active_and_inactive_dimensions_apart(tmp_path):
    kl, variances = [2.0, 0.0, 1.0, 0.0], [0.5, 0.0, 0.2, 1e-5]
    pixels = image.imread(plots.save_latent_health(_report(kl, variances), tmp_path / "health.png"))
    assert pixels.shape[:2] == (380, 1120)          # max(7, 0.45 * 4 + 3) * 1.6 inches wide, at 100 dpi
    assert pixels[..., :3].std() > 0.05
    # the same bars with every dimension active: the grey of the inactive ones is gone
    everyone = dict(_report(kl, variances), active=np.ones(4, bool))
    from matplotlib.colors import to_rgb
    lightgrey = np.array(to_rgb("lightgrey"))
    other = image.imread(plots.save_latent_health(everyone, tmp_path / "all.png"))

    def count(img, rgb):
        return int(np.sum(np.all(np.abs(img[..., :3] - rgb) < 2 / 255, axis=-1)))
    assert count(pixels, lightgrey) > count(other, lightgrey) + 1000      # the two grey variance bars


@pytest.mark.parametrize("report, error, match", [
    ([1.0, 2.0], TypeError, "report must be a dict"),
    ({"kl_per_dimension": [1.0]}, ValueError, "report lacks variances, active, threshold"),
    (dict(_report([1.0, 2.0], [0.1, 0.2]), active=np.array([True])), ValueError, "one entry per latent"),
    (dict(_report([], [])), ValueError, "one entry per latent"),
    (dict(_report([1.0], [0.1]), threshold=-1.0), ValueError, "threshold"),
])
def test_save_latent_health_argument_errors(tmp_path, report, error, match):
    with pytest.raises(error, match=match):
        plots.save_latent_health(report, tmp_path / "bad.png")
