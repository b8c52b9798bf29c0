r"""purevae.sklearn.VAEEstimator inside a scikit-learn pipeline, against PCA of the same width (issue 13).

(StandardScaler, VAEEstimator(n_latent=L), LogisticRegression) and (StandardScaler, PCA(L), LogisticRegression)
on data sets scikit-learn ships, split 70/30 stratified with random_state 0; the VAE: 64 hidden ReLU units, the
Gaussian likelihood with learned variance, 100 epochs, batch 64, Adam 1e-3, one run per seed. Test accuracy.

    python benchmarks/sklearn_pipeline.py
"""
from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from purevae.sklearn import VAEEstimator

DATA = {"digits": (load_digits, 8), "breast_cancer": (load_breast_cancer, 2), "wine": (load_wine, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    print("| data | n, features, classes | L | VAE pipeline accuracy (seeds) | PCA pipeline accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for name, (loader, n_latent) in DATA.items():
        x, y = loader(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
        pca = make_pipeline(StandardScaler(), PCA(n_latent), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
        scores = []
        for seed in args.seeds:
            vae = make_pipeline(StandardScaler(),
                                VAEEstimator(n_latent=n_latent, epochs=args.epochs, random_state=seed),
                                LogisticRegression(max_iter=1000)).fit(x_train, y_train)
            scores.append(vae.score(x_test, y_test))
        scores = np.array(scores)
        print(f"| {name} | {len(x)}, {x.shape[1]}, {len(np.unique(y))} | {n_latent} | {scores.mean():.3f} "
              f"(min {scores.min():.3f}, max {scores.max():.3f}) | {pca.score(x_test, y_test):.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
