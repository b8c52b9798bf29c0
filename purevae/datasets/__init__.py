"""Data files shipped with purevae (see README.md here): ``fashion_mnist_subset.npz``, loaded by
``purevae.data.load_bundled()``, and ``wordnet_glosses.npz`` (with ``WORDNET_LICENSE.txt``), loaded by
``purevae.data.load_wordnet_bundled()``."""
