"""Data files shipped with purevae: ``fashion_mnist_subset.npz`` (see README.md here); load it with
``purevae.data.load_bundled()``."""
