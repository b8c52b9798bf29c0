r"""Make purevae/datasets/fashion_mnist_subset.npz, the small Fashion-MNIST subset shipped with purevae.

    python scripts/make_bundled_data.py            # from /usr/share/datasets/fashion-mnist/

The source is the full Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747; MIT licence,
Copyright (c) 2017 Zalando SE) as installed by the Debian package:

    apt-get update && apt-get install -y dataset-fashion-mnist

The subset is drawn stratified by class with one numpy Generator seeded 0: first 1,000 training images
of each of the 10 classes (classes in order 0..9), then 200 test images of each, with
``purevae.data.stratified_subset``; the chosen indices are sorted, so the subset keeps the original
order. Arrays written (``np.savez_compressed``):

    x_train      uint8 (10000, 784)    y_train  uint8 (10000,)
    x_test       uint8 (2000, 784)     y_test   uint8 (2000,)
    image_shape  int64 (2,) = [28, 28]

The script prints the SHA-256 of the arrays' contents (``purevae.data.arrays_sha256``), which is the
same on every run and is what tests/test_data.py checks, and the SHA-256 of the file. The file's bytes
are stable too with a given NumPy and zlib (the zip entries carry the fixed date 1980-01-01), but another
zlib may compress differently, so the content digest is the one to compare.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from purevae.data import (  # noqa: E402  (after the sys.path line, so a source checkout needs no install)
    FASHION_MNIST_DIR,
    IDX_FILES,
    arrays_sha256,
    load_fashion_mnist,
    load_npz,
    stratified_subset,
)

DEFAULT_OUT = ROOT / "purevae" / "datasets" / "fashion_mnist_subset.npz"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=FASHION_MNIST_DIR, help="folder of the four Fashion-MNIST IDX files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .npz to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--test-per-class", type=int, default=200)
    args = parser.parse_args(argv)

    source = Path(args.source)
    full = load_fashion_mnist(source)
    print(f"source {source}:")
    for stem in IDX_FILES.values():
        for path in (source / stem, source / (stem + ".gz")):
            if path.is_file():
                print(f"  {file_sha256(path)}  {path.name}")
    print(f"  {full}")

    rng = np.random.default_rng(args.seed)
    train_index = stratified_subset(full.y_train, args.train_per_class, rng)   # draws first
    test_index = stratified_subset(full.y_test, args.test_per_class, rng)      # then from the same stream
    arrays = {
        "x_train": np.ascontiguousarray(full.x_train[train_index], dtype=np.uint8),
        "y_train": np.ascontiguousarray(full.y_train[train_index], dtype=np.uint8),
        "x_test": np.ascontiguousarray(full.x_test[test_index], dtype=np.uint8),
        "y_test": np.ascontiguousarray(full.y_test[test_index], dtype=np.uint8),
        "image_shape": np.array(full.image_shape, dtype=np.int64),
    }

    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    with open(partial, "wb") as handle:   # a file object: savez adds no suffix
        np.savez_compressed(handle, **arrays)
    os.replace(partial, args.out)          # atomic: a reader never sees half a file

    reloaded = load_npz(args.out)          # the file reads back through the package's own loader
    again = {"x_train": reloaded.x_train, "y_train": reloaded.y_train,
             "x_test": reloaded.x_test, "y_test": reloaded.y_test,
             "image_shape": np.array(reloaded.image_shape, dtype=np.int64)}
    digest = arrays_sha256(arrays)
    if arrays_sha256(again) != digest:
        raise SystemExit(f"{args.out} does not read back to the arrays written")

    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes), seed {args.seed}")
    for split in ("train", "test"):
        labels = arrays[f"y_{split}"]
        counts = np.bincount(labels, minlength=10)
        print(f"  x_{split} {arrays[f'x_{split}'].dtype} {arrays[f'x_{split}'].shape}, "
              f"per class: {counts.tolist()}")
    print(f"arrays sha256 (purevae.data.arrays_sha256): {digest}")
    print(f"file sha256: {file_sha256(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
