r"""Tests for purevae.data: IDX reading, folders, .npz, the bundled subset, pixel scaling, binarization, prepare.

Every IDX and .npz file but the bundled and the system Fashion-MNIST is written here, into tmp_path,
so each check knows the exact bytes it reads. Only ``purevae.data`` is imported (nothing compiled).
"""
import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from purevae import data

FULL_FASHION_MNIST = Path(data.FASHION_MNIST_DIR)
HAVE_FULL_FASHION_MNIST = all(
    (FULL_FASHION_MNIST / stem).is_file() or (FULL_FASHION_MNIST / (stem + ".gz")).is_file()
    for stem in data.IDX_FILES.values()
)
# purevae.data.arrays_sha256 of the bundled arrays, as printed by scripts/make_bundled_data.py
BUNDLED_SHA256 = "3697962fd25fe668259a734baf990bb7d98603a54815007223bcb383ec428a24"

TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


@pytest.fixture
def seed():
    value = 20240611
    print(f"seed = {value}")
    return value


@pytest.fixture
def rng(seed):
    return np.random.default_rng(seed)


def idx_bytes(array, type_code=None):
    """The IDX encoding of array: 00 00 type ndim, big-endian uint32 dims, big-endian payload."""
    array = np.asarray(array)
    code = TYPE_CODES[array.dtype.type] if type_code is None else type_code
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=False, type_code=None, append=b"", drop=0):
    payload = idx_bytes(array, type_code) + append
    if drop:
        payload = payload[:-drop]
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def path_match(path, pattern=""):
    """A match= regex: the file name written literally, then pattern."""
    return re.escape(str(path)) + pattern


def small_images(rng, n, rows=4, cols=3):
    return rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def write_idx_folder(folder, rng, n_train=6, n_test=4, gz=(False, True, False, True), labels=None):
    folder.mkdir(exist_ok=True)
    arrays = {
        "x_train": small_images(rng, n_train),
        "y_train": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "x_test": small_images(rng, n_test),
        "y_test": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    arrays.update(labels or {})
    for (role, stem), zipped in zip(data.IDX_FILES.items(), gz):
        write_idx(folder / (stem + ".gz" if zipped else stem), arrays[role], gz=zipped)
    return arrays


# --------------------------------------------------------------------------------------------------
# read_idx
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_uint8_images_round_trip(tmp_path, rng, gz):
    images = small_images(rng, 5, rows=7, cols=6)
    path = write_idx(tmp_path / "images-idx3-ubyte", images, gz=gz)
    got = data.read_idx(path)
    assert got.dtype == np.uint8
    assert got.shape == (5, 7, 6)
    np.testing.assert_array_equal(got, images)
    got[0, 0, 0] = 1  # a fresh writable array, not a view of the file's bytes
    assert got.flags.writeable


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_other_types_come_back_native_endian(tmp_path, rng, dtype):
    values = (rng.normal(0, 50, size=(3, 5))).astype(dtype)
    got = data.read_idx(write_idx(tmp_path / "values.idx", values))
    assert got.dtype == np.dtype(dtype)
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_read_idx_detects_gzip_by_magic_bytes_not_by_name(tmp_path, rng):
    labels = rng.integers(0, 10, size=11, dtype=np.uint8)
    zipped_without_suffix = write_idx(tmp_path / "labels-idx1-ubyte", labels, gz=True)
    raw_with_suffix = write_idx(tmp_path / "labels-idx1-ubyte.gz", labels, gz=False)
    np.testing.assert_array_equal(data.read_idx(zipped_without_suffix), labels)
    np.testing.assert_array_equal(data.read_idx(raw_with_suffix), labels)


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_read_idx_truncated_payload_names_file_and_byte_counts(tmp_path, rng, gz):
    images = small_images(rng, 3)  # 3 * 4 * 3 = 36 payload bytes
    path = write_idx(tmp_path / "short-idx3-ubyte", images, gz=gz, drop=1)
    with pytest.raises(ValueError, match=path_match(path, r": truncated payload.* need 36 bytes .*found 35")):
        data.read_idx(path)


def test_read_idx_trailing_bytes_name_file_and_byte_counts(tmp_path, rng):
    path = write_idx(tmp_path / "long-idx1-ubyte", rng.integers(0, 10, 8, dtype=np.uint8), append=b"\x00\x01\x02")
    with pytest.raises(ValueError, match=path_match(path, r": trailing bytes.* need 8 bytes .*found 11")):
        data.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "header-only"
    path.write_bytes(bytes([0, 0, 0x08, 3]) + struct.pack(">2I", 10, 28))  # 3 dims announced, 2 given
    with pytest.raises(ValueError, match=path_match(path, r": truncated header: expected 16 bytes.*found 12")):
        data.read_idx(path)


@pytest.mark.parametrize(
    "magic",
    [b"\x01\x00\x08\x01", b"\x00\x01\x08\x01", b"\x00\x00\x0a\x01", b"\x00\x00\x08\x00", b"\x00\x00\x08\x05"],
    ids=["first-byte", "second-byte", "type-code", "ndim-0", "ndim-5"],
)
def test_read_idx_wrong_magic_names_file(tmp_path, magic):
    path = tmp_path / "not-idx.bin"
    path.write_bytes(magic + struct.pack(">I", 2) + b"\x00\x00")
    with pytest.raises(ValueError, match=path_match(path, ": bad magic number " + magic.hex(" "))):
        data.read_idx(path)


def test_read_idx_too_short_for_magic(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match=path_match(path, ": only 2 bytes")):
        data.read_idx(path)


def test_read_idx_corrupt_gzip_names_file(tmp_path, rng):
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(idx_bytes(small_images(rng, 4)))[:-20])
    with pytest.raises(ValueError, match=path_match(path, ": corrupt gzip stream")):
        data.read_idx(path)


def test_read_idx_missing_file_names_it(tmp_path):
    path = tmp_path / "nowhere-idx3-ubyte"
    with pytest.raises(FileNotFoundError, match=path_match(path)):
        data.read_idx(path)


# --------------------------------------------------------------------------------------------------
# load_idx_folder
# --------------------------------------------------------------------------------------------------
def test_load_idx_folder_flattens_images_and_keeps_labels(tmp_path, rng):
    arrays = write_idx_folder(tmp_path / "digits", rng)  # two raw files, two gzipped
    got = data.load_idx_folder(tmp_path / "digits")
    assert got.name == "digits"
    assert got.image_shape == (4, 3)
    assert got.x_train.shape == (6, 12) and got.x_test.shape == (4, 12)
    np.testing.assert_array_equal(got.x_train, arrays["x_train"].reshape(6, 12))
    np.testing.assert_array_equal(got.x_test, arrays["x_test"].reshape(4, 12))
    np.testing.assert_array_equal(got.y_train, arrays["y_train"])
    np.testing.assert_array_equal(got.y_test, arrays["y_test"])
    np.testing.assert_array_equal(got.x_train[2].reshape(got.image_shape), arrays["x_train"][2])  # row-major fold


def test_load_idx_folder_labels_with_two_dims(tmp_path, rng):
    write_idx_folder(tmp_path, rng, labels={"y_train": np.zeros((6, 1), dtype=np.uint8)})
    label_file = tmp_path / "train-labels-idx1-ubyte.gz"  # write_idx_folder gzips the label files
    with pytest.raises(ValueError, match=path_match(label_file, r": labels must be 1-D \(n,\), got shape \(6, 1\)")):
        data.load_idx_folder(tmp_path)


def test_load_idx_folder_images_with_two_dims(tmp_path, rng):
    write_idx_folder(tmp_path, rng)
    image_file = write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((4, 12), dtype=np.uint8))
    with pytest.raises(ValueError, match=path_match(image_file, r": images must be 3-D")):
        data.load_idx_folder(tmp_path)


def test_load_idx_folder_label_count_differs_from_image_count(tmp_path, rng):
    write_idx_folder(tmp_path, rng, labels={"y_test": np.zeros(5, dtype=np.uint8)})  # 4 test images
    label_file = tmp_path / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(ValueError, match=path_match(label_file, " has 5 labels but .* has 4 images")):
        data.load_idx_folder(tmp_path)


def test_load_idx_folder_missing_files_lists_names_looked_for(tmp_path, rng):
    write_idx_folder(tmp_path, rng)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as info:
        data.load_idx_folder(tmp_path)
    message = str(info.value)
    for name in ("train-labels-idx1-ubyte or train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte or"):
        assert name in message
    assert "train-images" not in message  # only what is missing is listed


def test_load_idx_folder_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=path_match(tmp_path / "absent")):
        data.load_idx_folder(tmp_path / "absent")


# --------------------------------------------------------------------------------------------------
# load_npz, from_arrays, load_dataset
# --------------------------------------------------------------------------------------------------
def test_load_npz_flattens_3d_images_and_infers_image_shape(tmp_path, rng):
    x_train, x_test = small_images(rng, 5), small_images(rng, 2)
    y_train = np.arange(5, dtype=np.int64)
    path = tmp_path / "set.npz"
    np.savez(path, x_train=x_train, x_test=x_test, y_train=y_train, extra=np.ones(3))
    got = data.load_npz(path)
    assert got.name == "set"
    assert got.image_shape == (4, 3)
    np.testing.assert_array_equal(got.x_train, x_train.reshape(5, 12))
    np.testing.assert_array_equal(got.x_test, x_test.reshape(2, 12))
    np.testing.assert_array_equal(got.y_train, y_train)
    assert got.y_test is None


def test_load_npz_2d_with_image_shape_key(tmp_path, rng):
    path = tmp_path / "flat.npz"
    x_train = rng.random((3, 6)).astype(np.float32)
    np.savez_compressed(path, x_train=x_train, x_test=x_train[:1], image_shape=np.array([2, 3]))
    got = data.load_npz(path)
    assert got.image_shape == (2, 3)
    np.testing.assert_array_equal(got.x_train, x_train)


def test_load_npz_refuses_pickled_object_array(tmp_path):
    path = tmp_path / "pickled.npz"
    objects = np.array([{"a": 1}, None, "text"], dtype=object)
    np.savez(path, x_train=objects, x_test=np.zeros((1, 3)), allow_pickle=True)
    with pytest.raises(ValueError, match=path_match(path, ": array 'x_train' is an object array that needs pickle")):
        data.load_npz(path)


@pytest.mark.parametrize(
    "content", [b"this is not a zip file at all", b"PK\x03\x04" + b"\x00" * 40], ids=["text", "broken-zip"]
)
def test_load_npz_bad_archive_names_file(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=path_match(path, " is not a.* .npz")):
        data.load_npz(path)


def test_load_npz_truncated_archive_names_file(tmp_path, rng):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x_train=small_images(rng, 50), x_test=small_images(rng, 5))
    path = tmp_path / "cut.npz"
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=path_match(path)):
        data.load_npz(path)


def test_load_npz_refuses_single_npy(tmp_path):
    path = tmp_path / "one.npz"
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=path_match(path, " holds a single .npy array")):
        data.load_npz(path)


def test_load_npz_missing_required_key(tmp_path):
    path = tmp_path / "train-only.npz"
    np.savez(path, x_train=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=path_match(path, r" is missing key\(s\) \['x_test'\]")):
        data.load_npz(path)


def test_load_npz_wrong_label_count_names_file(tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(path, x_train=np.zeros((2, 3)), x_test=np.zeros((1, 3)), y_train=np.zeros(3))
    with pytest.raises(ValueError, match=path_match(path, ": y_train has 3 labels but x_train has 2 rows")):
        data.load_npz(path)


def test_load_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=path_match(tmp_path / "none.npz")):
        data.load_npz(tmp_path / "none.npz")


@pytest.mark.parametrize("shape, error, match", [
    ((2, 0), ValueError, r"image_shape\[1\] must be a positive integer, got 0"),
    ((2, 5, 1), ValueError, "got 3 values"),
    ((2.0, 5.0), TypeError, r"image_shape\[0\] must be a positive integer"),
    ((True, 10), TypeError, r"image_shape\[0\] must be a positive integer"),
    ("25", TypeError, "image_shape must be two positive integers"),
    (10, TypeError, "image_shape must be two positive integers"),
])
def test_image_shape_errors_follow_the_type_value_rule(rng, shape, error, match):
    images = small_images(rng, 4, rows=2, cols=5).reshape(4, 10)
    with pytest.raises(error, match=match):
        data.from_arrays(images, image_shape=shape)
    with pytest.raises(error, match=match):
        data.as_image_shape(shape)


def test_as_image_shape_normalizes_to_python_ints():
    got = data.as_image_shape(np.array([28, 14], dtype=np.int64))
    assert got == (28, 14) and all(type(v) is int for v in got)


def test_load_npz_image_shape_of_floats_is_a_bad_file(tmp_path):
    path = tmp_path / "floats.npz"
    np.savez(path, x_train=np.zeros((2, 6)), x_test=np.zeros((1, 6)), image_shape=np.array([2.0, 3.0]))
    with pytest.raises(ValueError, match=path_match(path, r"\[0\] must be a positive integer")):
        data.load_npz(path)


def test_from_arrays_flattens_and_validates(rng):
    images = small_images(rng, 4, rows=2, cols=5)
    got = data.from_arrays(images, y_train=np.arange(4))
    assert got.x_train.shape == (4, 10) and got.image_shape == (2, 5)
    assert got.x_test is None and got.y_test is None
    with pytest.raises(ValueError, match="x_train must be 2-D .* or 3-D"):
        data.from_arrays(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="x_test has 7 features per row but x_train has 10"):
        data.from_arrays(images, np.zeros((1, 7)))
    with pytest.raises(ValueError, match="y_train has 3 labels but x_train has 4 rows"):
        data.from_arrays(images, y_train=np.arange(3))
    with pytest.raises(ValueError, match=r"y_train must be 1-D"):
        data.from_arrays(images, y_train=np.zeros((4, 1)))
    with pytest.raises(ValueError, match=r"image_shape \(5, 2\) does not match x_train images of \(2, 5\)"):
        data.from_arrays(images, image_shape=(5, 2))
    with pytest.raises(ValueError, match=r"image_shape \(3, 3\) holds 9 pixels but x_train has 10"):
        data.from_arrays(images.reshape(4, 10), image_shape=(3, 3))
    with pytest.raises(TypeError, match="x_train must hold numbers"):
        data.from_arrays(np.array([["a", "b"]]))


def test_load_dataset_dispatches_and_lists_forms(tmp_path, rng):
    write_idx_folder(tmp_path / "folder", rng)
    assert data.load_dataset(tmp_path / "folder").x_train.shape == (6, 12)
    np.savez(tmp_path / "arrays.npz", x_train=np.zeros((2, 3)), x_test=np.zeros((1, 3)))
    assert data.load_dataset(str(tmp_path / "arrays.npz")).x_test.shape == (1, 3)
    assert data.load_dataset("bundled").name == "fashion-mnist-subset"
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*'bundled'.*'fashion-mnist'.*IDX.*.npz"):
        data.load_dataset("mnist")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="is a file but not an .npz file"):
        data.load_dataset(tmp_path / "notes.txt")
    with pytest.raises(TypeError, match="spec must be a str"):
        data.load_dataset(3)


# --------------------------------------------------------------------------------------------------
# The bundled subset and the full Fashion-MNIST
# --------------------------------------------------------------------------------------------------
def test_bundled_subset_shapes_dtypes_and_class_balance():
    bundled = data.load_bundled()
    assert bundled.name == "fashion-mnist-subset"
    assert bundled.image_shape == (28, 28)
    assert bundled.x_train.shape == (10000, 784) and bundled.x_test.shape == (2000, 784)
    for array in (bundled.x_train, bundled.y_train, bundled.x_test, bundled.y_test):
        assert array.dtype == np.uint8
    np.testing.assert_array_equal(np.bincount(bundled.y_train, minlength=10), np.full(10, 1000))
    np.testing.assert_array_equal(np.bincount(bundled.y_test, minlength=10), np.full(10, 200))
    assert bundled.y_train.max() == 9 and bundled.y_test.max() == 9
    assert bundled.x_train.min() == 0 and bundled.x_train.max() == 255


def test_bundled_subset_content_digest_matches_the_recorded_one():
    bundled = data.load_bundled()
    arrays = {"x_train": bundled.x_train, "y_train": bundled.y_train, "x_test": bundled.x_test,
              "y_test": bundled.y_test, "image_shape": np.array(bundled.image_shape, dtype=np.int64)}
    assert data.arrays_sha256(arrays) == BUNDLED_SHA256


def test_load_fashion_mnist_missing_folder_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape("apt-get install -y dataset-fashion-mnist")) as info:
        data.load_fashion_mnist(tmp_path / "no-such-folder")
    assert "--data PATH" in str(info.value)
    assert "/usr/share/datasets/fashion-mnist/" in str(info.value)


def test_load_fashion_mnist_folder_without_files_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=re.escape("apt-get update && apt-get install -y dataset-fashion-mnist")):
        data.load_fashion_mnist(tmp_path)


@pytest.mark.skipif(not HAVE_FULL_FASHION_MNIST, reason=f"Fashion-MNIST not installed in {data.FASHION_MNIST_DIR}")
def test_full_fashion_mnist_and_bundled_subset_is_reproducible_from_it():
    full = data.load_fashion_mnist()
    assert full.name == "fashion-mnist"
    assert full.x_train.shape == (60000, 784) and full.x_test.shape == (10000, 784)
    assert full.y_train.shape == (60000,) and full.y_test.shape == (10000,)
    assert full.image_shape == (28, 28)
    np.testing.assert_array_equal(np.bincount(full.y_train), np.full(10, 6000))
    # the recipe of scripts/make_bundled_data.py gives exactly the shipped arrays
    generator = np.random.default_rng(0)
    train_index = data.stratified_subset(full.y_train, 1000, generator)
    test_index = data.stratified_subset(full.y_test, 200, generator)
    bundled = data.load_bundled()
    np.testing.assert_array_equal(bundled.x_train, full.x_train[train_index])
    np.testing.assert_array_equal(bundled.y_train, full.y_train[train_index])
    np.testing.assert_array_equal(bundled.x_test, full.x_test[test_index])
    np.testing.assert_array_equal(bundled.y_test, full.y_test[test_index])


# --------------------------------------------------------------------------------------------------
# stratified_subset
# --------------------------------------------------------------------------------------------------
def test_stratified_subset_balanced_sorted_and_seeded(rng):
    y = rng.integers(0, 5, size=400)
    index = data.stratified_subset(y, 7, np.random.default_rng(3))
    assert index.shape == (35,)
    assert np.all(np.diff(index) > 0)  # sorted, no repeats
    np.testing.assert_array_equal(np.bincount(y[index], minlength=5), np.full(5, 7))
    np.testing.assert_array_equal(index, data.stratified_subset(y, 7, np.random.default_rng(3)))
    assert not np.array_equal(index, data.stratified_subset(y, 7, np.random.default_rng(4)))


def test_stratified_subset_errors():
    y = np.array([0, 0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match=r"fewer examples \(class: count\): \{1: 2, 2: 1\}"):
        data.stratified_subset(y, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_per_class must be a positive integer, got 0"):
        data.stratified_subset(y, 0, np.random.default_rng(0))
    for not_an_int in (2.0, True, "2"):   # a wrong type is a TypeError, not a ValueError
        with pytest.raises(TypeError, match="n_per_class must be a positive integer"):
            data.stratified_subset(y, not_an_int, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        data.stratified_subset(y, 1, 0)
    with pytest.raises(ValueError, match="y must be a non-empty 1-D"):
        data.stratified_subset(y.reshape(2, 3), 1, np.random.default_rng(0))


# --------------------------------------------------------------------------------------------------
# scale_pixels
# --------------------------------------------------------------------------------------------------
def test_scale_pixels_uint8_maps_0_255_onto_0_1():
    pixels = np.array([[0, 51, 128, 255]], dtype=np.uint8)
    scaled = data.scale_pixels(pixels)
    assert scaled.dtype == np.float32 and scaled.shape == (1, 4)
    assert scaled[0, 0] == 0.0 and scaled[0, 3] == 1.0  # exact ends
    np.testing.assert_allclose(scaled, [[0.0, 0.2, 128 / 255, 1.0]], rtol=1e-7, atol=0)
    scaled64 = data.scale_pixels(pixels, dtype=np.float64)
    assert scaled64.dtype == np.float64
    np.testing.assert_allclose(scaled64, pixels / 255.0, rtol=1e-15, atol=0)


def test_scale_pixels_float_in_range_is_cast_to_a_new_array():
    x = np.array([0.0, 0.25, 1.0])
    scaled = data.scale_pixels(x)
    assert scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, x.astype(np.float32))
    same_dtype = data.scale_pixels(x, dtype="float64")
    assert same_dtype is not x and not np.shares_memory(same_dtype, x)
    np.testing.assert_array_equal(data.scale_pixels(np.array([True, False])), [1.0, 0.0])


@pytest.mark.parametrize("bad, message", [
    (np.array([0.5, 1.5]), r"must lie in \[0, 1\], found values in \[0.5, 1.5\]"),
    (np.array([-0.1, 0.5]), r"must lie in \[0, 1\]"),
    (np.array([0.5, np.inf]), r"must lie in \[0, 1\]"),
    (np.array([0.5, np.nan]), "contains NaN"),
])
def test_scale_pixels_rejects_bad_floats(bad, message):
    with pytest.raises(ValueError, match=message):
        data.scale_pixels(bad)


def test_scale_pixels_rejects_ambiguous_dtypes():
    with pytest.raises(TypeError, match="x must be uint8 pixels.*int64"):
        data.scale_pixels(np.array([0, 255], dtype=np.int64))


@pytest.mark.parametrize("dtype", [np.int32, "int32", np.dtype(np.float16), "float128", "no-such-dtype"])
def test_scale_pixels_dtype_of_the_wrong_value_is_a_value_error(dtype):
    with pytest.raises(ValueError, match=r"dtype must be one of \('float32', 'float64'\)"):
        data.scale_pixels(np.zeros(2, dtype=np.uint8), dtype=dtype)


@pytest.mark.parametrize("dtype", [None, 3, 2.5, [np.float32]])
def test_scale_pixels_dtype_that_is_no_dtype_is_a_type_error(dtype):
    with pytest.raises(TypeError, match=r"dtype must be one of \(.float32., .float64.\)"):
        data.scale_pixels(np.zeros(2, dtype=np.uint8), dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "f4", np.float32, np.dtype("float32"), "float64", float])
def test_scale_pixels_accepts_every_spelling_of_the_two_dtypes(dtype):
    assert data.scale_pixels(np.zeros(2, dtype=np.uint8), dtype=dtype).dtype == np.dtype(dtype)


# --------------------------------------------------------------------------------------------------
# binarize, binarize_static
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binarize_mean_matches_probabilities(rng, dtype):
    probabilities = (0.5 * rng.random((200, 784))).astype(dtype)  # mean ~0.25: a flipped comparison gives ~0.75
    binary = data.binarize(probabilities, rng)
    assert binary.dtype == np.dtype(dtype) and binary.shape == probabilities.shape
    assert set(np.unique(binary).tolist()) == {0.0, 1.0}
    p = probabilities.astype(np.float64)
    # sum of independent Bernoulli(p_i): variance sum p_i (1 - p_i), so se of the mean = sqrt(that) / N
    standard_error = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(binary.mean(dtype=np.float64) - p.mean()) < 5 * standard_error


def test_binarize_per_pixel_frequencies(rng):
    p = np.array([0.0, 0.05, 0.5, 0.9, 1.0])
    n = 20000
    binary = data.binarize(np.tile(p, (n, 1)), rng)
    frequencies = binary.mean(axis=0)
    standard_error = np.sqrt(p * (1 - p) / n)
    assert frequencies[0] == 0.0 and frequencies[-1] == 1.0  # p = 0 and p = 1 are exact
    assert np.all(np.abs(frequencies - p) <= 5 * standard_error)


def test_binarize_reproducible_with_same_seed_and_fresh_each_call(seed):
    x = np.full((50, 30), 0.5)
    first = data.binarize(x, np.random.default_rng(seed))
    np.testing.assert_array_equal(first, data.binarize(x, np.random.default_rng(seed)))
    generator = np.random.default_rng(seed)
    epoch_1, epoch_2 = data.binarize(x, generator), data.binarize(x, generator)  # dynamic: new draw each epoch
    assert not np.array_equal(epoch_1, epoch_2)
    np.testing.assert_array_equal(data.binarize_static(x, seed), first)
    assert not np.array_equal(data.binarize_static(x, seed), data.binarize_static(x, seed + 1))


def test_binarize_errors(rng):
    with pytest.raises(TypeError, match="x must be floating.*scale_pixels"):
        data.binarize(np.array([0, 255], dtype=np.uint8), rng)
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        data.binarize(np.array([0.5]), 0)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        data.binarize(np.array([0.5, 2.0]), rng)
    with pytest.raises(ValueError, match="contains NaN"):
        data.binarize(np.array([np.nan]), rng)
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        data.binarize_static(np.array([0.5]), rng)


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (1.0, TypeError), (True, TypeError),
                                         (None, TypeError), ("1", TypeError)])
def test_binarize_static_seed_errors_follow_the_type_value_rule(seed, error):
    # a negative int has the right type and a wrong value: ValueError (it used to be a TypeError)
    with pytest.raises(error, match="seed must be a non-negative integer"):
        data.binarize_static(np.array([0.5]), seed)


def test_arrays_sha256_depends_on_content_dtype_and_shape():
    base = {"a": np.arange(6, dtype=np.uint8)}
    digest = data.arrays_sha256(base)
    assert digest == data.arrays_sha256({"a": np.arange(6, dtype=np.uint8)})
    assert digest != data.arrays_sha256({"a": np.arange(6, dtype=np.uint8).reshape(2, 3)})
    assert digest != data.arrays_sha256({"a": np.arange(6, dtype=np.int8)})
    assert digest != data.arrays_sha256({"b": np.arange(6, dtype=np.uint8)})


def test_arrays_sha256_errors():
    with pytest.raises(TypeError, match="arrays must be a mapping"):
        data.arrays_sha256([np.arange(3)])
    with pytest.raises(TypeError, match="arrays must have str keys"):
        data.arrays_sha256({1: np.arange(3)})
    with pytest.raises(TypeError, match="object array"):
        data.arrays_sha256({"a": np.array([None, 1], dtype=object)})


# --------------------------------------------------------------------------------------------------
# prepare: the data policy of `purevae train`
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def small_dataset(rng):
    """30 train and 12 test images of 4 x 3 uint8 pixels, with labels."""
    return data.from_arrays(small_images(rng, 30), small_images(rng, 12), y_train=rng.integers(0, 10, 30),
                            y_test=rng.integers(0, 10, 12), name="small")


def test_binarize_seeds_are_the_published_ones():
    # every binarized number purevae has reported was computed with these; changing one changes them all
    assert (data.TRAIN_BINARIZE_SEED, data.TEST_BINARIZE_SEED) == (1, 2)
    assert data.BINARIZE_MODES == ("none", "dynamic", "static")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepare_none_scales_and_cuts(small_dataset, dtype):
    got = data.prepare(small_dataset, "none", dtype=dtype, n_train=7, n_test=5)
    want_train = small_dataset.x_train[:7].astype(np.float64) / 255   # scale_pixels by hand
    want_test = small_dataset.x_test[:5].astype(np.float64) / 255
    assert got.x_train.dtype == got.x_test.dtype == np.dtype(dtype) == got.dtype
    np.testing.assert_allclose(got.x_train, want_train, rtol=np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(got.x_test, want_test, rtol=np.finfo(dtype).eps, atol=0)
    np.testing.assert_array_equal(got.y_train, small_dataset.y_train[:7])
    np.testing.assert_array_equal(got.y_test, small_dataset.y_test[:5])
    assert (got.name, got.image_shape, got.binarize, got.fit_binarize, got.n_features) == \
        ("small", (4, 3), "none", False, 12)


def test_prepare_static_binarizes_train_rows_and_the_whole_test_set(small_dataset):
    got = data.prepare(small_dataset, "static", n_train=7, n_test=5)
    scaled_train = data.scale_pixels(small_dataset.x_train[:7], np.float32)
    scaled_test = data.scale_pixels(small_dataset.x_test, np.float32)
    np.testing.assert_array_equal(got.x_train, data.binarize_static(scaled_train, data.TRAIN_BINARIZE_SEED))
    np.testing.assert_array_equal(got.x_test, data.binarize_static(scaled_test, data.TEST_BINARIZE_SEED)[:5])
    assert set(np.unique(got.x_train)) <= {0.0, 1.0} and set(np.unique(got.x_test)) <= {0.0, 1.0}
    assert got.x_train.dtype == got.x_test.dtype == np.float32
    assert got.fit_binarize is False                      # one fixed draw: fit must not draw again
    # the train and test draws use different seeds: the same grey image gets a different 0/1 image
    same = data.from_arrays(small_dataset.x_train, small_dataset.x_train)
    both = data.prepare(same, "static")
    assert not np.array_equal(both.x_train, both.x_test)


def test_prepare_dynamic_keeps_train_grey_and_scores_on_the_fixed_test_binarization(small_dataset):
    got = data.prepare(small_dataset, "dynamic", n_test=5)
    np.testing.assert_array_equal(got.x_train, data.scale_pixels(small_dataset.x_train, np.float32))
    whole = data.binarize_static(data.scale_pixels(small_dataset.x_test, np.float32), data.TEST_BINARIZE_SEED)
    np.testing.assert_array_equal(got.x_test, whole[:5])
    assert got.fit_binarize is True                       # VAE.fit(binarize=True) draws every epoch
    # both binarized modes are scored on the same test images, whatever n_test
    np.testing.assert_array_equal(got.x_test, data.prepare(small_dataset, "static", n_test=5).x_test)
    np.testing.assert_array_equal(data.prepare(small_dataset, "dynamic").x_test[:5], got.x_test)


def test_prepare_without_n_keeps_everything_and_n_beyond_the_data_is_all(small_dataset):
    everything = data.prepare(small_dataset)
    assert everything.x_train.shape == (30, 12) and everything.x_test.shape == (12, 12)
    beyond = data.prepare(small_dataset, "static", n_train=1000, n_test=1000)
    assert beyond.x_train.shape == (30, 12) and beyond.x_test.shape == (12, 12)
    assert len(beyond.y_train) == 30 and len(beyond.y_test) == 12


def test_prepare_include_train_false_prepares_the_test_set_only(small_dataset):
    test_only = data.prepare(small_dataset, "dynamic", n_test=4, include_train=False)
    assert test_only.x_train is None and test_only.y_train is None
    np.testing.assert_array_equal(test_only.x_test, data.prepare(small_dataset, "dynamic", n_test=4).x_test)
    assert test_only.n_features == 12


def test_prepare_dataset_without_test_set_gives_x_test_none(rng):
    train_only = data.from_arrays(small_images(rng, 6), y_train=np.arange(6))
    got = data.prepare(train_only, "static", n_test=3)
    assert got.x_test is None and got.y_test is None
    assert got.x_train.shape == (6, 12)


def test_prepare_loads_a_spec_like_load_dataset(tmp_path, small_dataset):
    path = tmp_path / "small.npz"
    np.savez(path, x_train=small_dataset.x_train, x_test=small_dataset.x_test)
    from_path = data.prepare(path, "static", n_train=4)
    from_dataset = data.prepare(small_dataset, "static", n_train=4)
    np.testing.assert_array_equal(from_path.x_train, from_dataset.x_train)
    np.testing.assert_array_equal(from_path.x_test, from_dataset.x_test)
    assert data.prepare(str(path)).name == "small" and from_path.y_train is None
    bundled = data.prepare("bundled", n_train=3, n_test=2, include_train=True)
    assert bundled.name == "fashion-mnist-subset" and bundled.x_train.shape == (3, 784)


def test_prepared_data_is_frozen_and_says_what_it_holds(small_dataset):
    got = data.prepare(small_dataset, "static", n_train=7)
    with pytest.raises(AttributeError):
        got.x_train = None
    assert repr(got) == ("PreparedData(name='small', binarize='static', x_train=<float32 (7, 12)>, "
                         "y_train=<int64 (7,)>, x_test=<float32 (12, 12)>, y_test=<int64 (12,)>, image_shape=(4, 3))")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"binarize": "yes"}, ValueError, r"binarize must be one of \('none', 'dynamic', 'static'\)"),
    ({"binarize": True}, TypeError, "binarize must be a string"),
    ({"n_train": 0}, ValueError, "n_train must be a positive integer"),
    ({"n_train": 2.0}, TypeError, "n_train must be a positive integer"),
    ({"n_train": True}, TypeError, "n_train must be a positive integer"),
    ({"n_test": -1}, ValueError, "n_test must be a positive integer"),
    ({"n_test": "5"}, TypeError, "n_test must be a positive integer"),
    ({"dtype": "int8"}, ValueError, "dtype must be one of"),
    ({"dtype": None}, TypeError, r"dtype must be one of \(.float32., .float64.\)"),
    ({"include_train": 1}, TypeError, "include_train must be True or False"),
    ({"dataset": 3}, TypeError, "dataset must be a Dataset, a str or an os.PathLike"),
    ({"dataset": "no-such-data"}, ValueError, "unknown dataset 'no-such-data'"),
])
def test_prepare_argument_errors_name_the_argument(small_dataset, kwargs, error, match):
    kwargs = {"dataset": small_dataset, **kwargs}
    with pytest.raises(error, match=match):
        data.prepare(**kwargs)
