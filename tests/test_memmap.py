r"""Data larger than memory: ``fit``, ``elbo``, ``log_likelihood`` and ``encode`` read an ``np.memmap`` (or any
row-indexable array) a batch at a time, validating it in chunks, never copying it whole.

The memory tests run in a subprocess whose limit is below the file's size: ``RLIMIT_DATA`` (the memory the
process may allocate; a read-only file mapping is not counted) for an ``np.memmap``, and ``RLIMIT_AS`` (the
whole address space, which a mapping would count) for a row reader that reads with ``pread``. Each child first
proves the limit bites: copying the data whole must be a MemoryError.
"""
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

from purevae import VAE, data
from purevae.validation import LazyRows, is_lazy

resource = pytest.importorskip("resource")


def memmap_of(x: np.ndarray, path) -> np.memmap:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=x.dtype, shape=x.shape)
    out[:] = x
    out.flush()
    del out
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("likelihood, dtype", [("bernoulli", np.float32), ("gaussian", np.float64),
                                               ("bernoulli", np.uint8)])
def test_a_memmap_gives_the_numbers_of_the_array_in_memory(tmp_path, likelihood, dtype):
    rng = np.random.default_rng(0)
    x = (rng.random((300, 20)) > 0.5).astype(dtype) if dtype == np.uint8 else rng.random((300, 20)).astype(dtype)
    m = memmap_of(x, tmp_path / "x.npy")
    a = VAE(20, hidden=(8,), n_latent=2, likelihood=likelihood, dtype="float64", seed=0)
    b = VAE(20, hidden=(8,), n_latent=2, likelihood=likelihood, dtype="float64", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # uint8 in memory is cast with a CastWarning
        a.fit(m, epochs=2, batch_size=32, validation_data=x[:50])
        b.fit(x, epochs=2, batch_size=32, validation_data=x[:50])
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])
        np.testing.assert_array_equal(a.elbo(m), b.elbo(x))
        np.testing.assert_array_equal(a.log_likelihood(m, k=20, batch_size=64), b.log_likelihood(x, k=20,
                                                                                                  batch_size=64))
        for u, v in zip(a.encode(m), b.encode(x)):
            np.testing.assert_array_equal(u, v)


def test_a_memmap_is_checked_in_chunks_with_errors_naming_the_rows(tmp_path, monkeypatch):
    monkeypatch.setattr("purevae.validation.LAZY_CHUNK_BYTES", 20 * 8 * 16)      # 16 rows per chunk
    x = np.random.default_rng(0).random((100, 20))
    x[57, 3] = np.nan
    m = memmap_of(x, tmp_path / "nan.npy")
    model = VAE(20, hidden=(8,), n_latent=2, dtype="float64")
    with pytest.raises(ValueError, match=r"x contains NaN or inf \(in rows 48\.\.63\)"):
        model.fit(m, epochs=1, batch_size=10)
    y = np.random.default_rng(0).random((100, 20)) * 2
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.elbo(memmap_of(y, tmp_path / "range.npy"))
    with pytest.raises(ValueError, match="must have 20 features per example, got shape \\(100, 21\\)"):
        model.fit(memmap_of(np.zeros((100, 21)), tmp_path / "wide.npy"), epochs=1)
    with pytest.raises(ValueError, match="binarize=True .* memory-mapped"):
        model.fit(memmap_of(x[:10] * 0, tmp_path / "b.npy"), epochs=1, batch_size=5, binarize=True)


def test_what_counts_as_lazy(tmp_path):
    assert is_lazy(memmap_of(np.zeros((3, 2)), tmp_path / "m.npy"))
    assert not is_lazy(np.memmap) and not is_lazy(np.zeros((3, 2))) and not is_lazy([[0.0, 1.0]])


def test_to_memmap_writes_the_scaled_split(tmp_path):
    m = data.to_memmap(tmp_path / "bundled.npy", "bundled", chunk=3000)
    assert isinstance(m, np.memmap) and m.dtype == np.float32 and not m.flags.writeable
    expected = data.prepare(data.load_dataset("bundled"), "none").x_train
    np.testing.assert_array_equal(np.asarray(m), expected)
    assert sorted(os.listdir(tmp_path)) == ["bundled.npy"]
    with pytest.raises(ValueError, match=r"path must end in \.npy"):
        data.to_memmap(tmp_path / "x.bin")
    with pytest.raises(ValueError, match="split must be one of"):
        data.to_memmap(tmp_path / "x.npy", split="validation")


# ------------------------------------------------------------------------------------------------
# larger than the memory the process may use
# ------------------------------------------------------------------------------------------------
ROWS, FEATURES = 200_000, 784        # 627 MB of float32, limits of 400 MB (data) and 512 MB (address space)

CHILD = r"""
import os, resource, sys
import numpy as np
kind, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
which = resource.RLIMIT_DATA if kind == "memmap" else resource.RLIMIT_AS
import purevae
from purevae import VAE
resource.setrlimit(which, (limit, limit))


class RowFile:
    # rows of a raw float32 file, read with pread: no mapping, nothing but the rows asked for
    def __init__(self, path, n, d, offset):
        self.fd, self.shape, self.dtype, self.offset = os.open(path, os.O_RDONLY), (n, d), np.dtype(np.float32), offset
        self.row_bytes = d * 4

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, _ = index.indices(self.shape[0])
            raw = os.pread(self.fd, (stop - start) * self.row_bytes, self.offset + start * self.row_bytes)
            return np.frombuffer(raw, np.float32).reshape(stop - start, self.shape[1])
        rows = np.asarray(index)
        out = np.empty((len(rows), self.shape[1]), np.float32)
        for i, r in enumerate(rows):
            out[i] = np.frombuffer(os.pread(self.fd, self.row_bytes, self.offset + int(r) * self.row_bytes), np.float32)
        return out


if kind == "memmap":
    x = np.load(path, mmap_mode="r")
else:
    with open(path, "rb") as f:          # where the data starts: after the .npy header
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        header = f.tell()
    x = RowFile(path, %(rows)d, %(features)d, header)
try:                                      # the limit bites: the data does not fit in memory whole
    np.ones(x.shape, np.float32)
    print("copy fitted")
except MemoryError:
    print("copy refused")
model = VAE(%(features)d, hidden=(16,), n_latent=2, seed=0)
model.fit(x, epochs=1, batch_size=2000)
elbo = model.elbo(x[0:4000] if kind != "memmap" else x, batch_size=2000)
mu, _ = model.encode(x)
print("trained", model.steps_trained, elbo.shape[0], mu.shape[0],
      int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024, "MB peak")
""" % {"rows": ROWS, "features": FEATURES}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(ROWS, FEATURES))
    rng = np.random.default_rng(0)
    for begin in range(0, ROWS, 20_000):
        out[begin:begin + 20_000] = rng.random((20_000, FEATURES), dtype=np.float32)
    out.flush()
    del out
    assert path.stat().st_size > 590 * 2**20
    return path


@pytest.mark.parametrize("kind, limit", [("memmap", 400 * 2**20), ("pread", 512 * 2**20)])
def test_training_on_a_file_larger_than_the_memory_limit(big_file, kind, limit):
    assert big_file.stat().st_size > limit
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(big_file), str(limit)], capture_output=True,
                          text=True, timeout=600, env=env, cwd=big_file.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "copy refused", lines          # the limit is real
    words = lines[1].split()
    assert words[:4] == ["trained", str(ROWS // 2000), str(ROWS if kind == "memmap" else 4000), str(ROWS)], lines


def test_lazy_rows_reads_only_the_rows_asked_for():
    class Counting:
        shape, dtype = (1000, 4), np.dtype(np.float64)

        def __init__(self):
            self.rows_read = 0
            self.x = np.random.default_rng(0).random(self.shape)

        def __getitem__(self, index):
            out = self.x[index]
            self.rows_read += len(out)
            return out
    source = Counting()
    rows = LazyRows("x", source, 4, np.dtype(np.float32))
    assert source.rows_read == 1000                   # one validation pass
    batch = rows.take(np.array([5, 1, 999]), np.empty((3, 4), np.float32))
    assert source.rows_read == 1003
    np.testing.assert_array_equal(batch, source.x[[5, 1, 999]].astype(np.float32))


# ------------------------------------------------------------------------------------------------
# the command line: --data FILE.npy
# ------------------------------------------------------------------------------------------------
def test_train_takes_a_memmap_file_and_holds_out_its_last_rows(tmp_path, capsys, monkeypatch):
    import json

    from purevae import cli, load
    from purevae import train as train_module
    path = data.to_memmap(tmp_path / "train.npy", "bundled").filename
    seen = {}
    real_fit = train_module.fit

    def spy(model, x, **kwargs):                    # what fit is given: the memmap itself, not a copy
        seen["type"], seen["rows"] = type(x), x.shape[0]
        return real_fit(model, x, **kwargs)
    monkeypatch.setattr(train_module, "fit", spy)
    status = cli.main(["train", "--data", str(path), "--hidden", "16", "--latent", "2", "--epochs", "1",
                       "--batch-size", "500", "--no-plots", "--out", str(tmp_path / "run")])
    assert status == 0, capsys.readouterr().err
    assert seen == {"type": np.memmap, "rows": 10_000 - 1_666}
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["data"]["n_train"] == 8_334 and metrics["data"]["n_test"] == 1_666
    assert load(tmp_path / "run" / "model.npz").epochs_trained == 1


@pytest.mark.parametrize("extra, make, match", [
    (["--binarize", "dynamic"], lambda p: memmap_of(np.zeros((10, 4)), p), "--binarize draws from images in memory"),
    ([], lambda p: memmap_of(np.zeros(10), p), "must hold floating-point images in \\[0, 1\\], one per row"),
    ([], lambda p: memmap_of(np.zeros((10, 4), np.int64), p), "must hold floating-point images"),
    (["--n-test", "10"], lambda p: memmap_of(np.zeros((10, 4)), p), "--n-test 10 leaves no training rows"),
])
def test_a_bad_memmap_file_is_one_line_naming_it(tmp_path, capsys, extra, make, match):
    from purevae import cli
    make(tmp_path / "bad.npy")
    status = cli.main(["train", "--data", str(tmp_path / "bad.npy"), *extra, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1 and re.search(match, err[0]), err
