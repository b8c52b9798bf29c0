r"""A scikit-learn estimator around ``purevae.VAE``: ``VAEEstimator``, a transformer X -> posterior means.

Needs scikit-learn (``pip install "purevae[sklearn]"``); ``import purevae`` itself does not. Use it wherever
scikit-learn takes a transformer::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.linear_model import LogisticRegression
    from purevae.sklearn import VAEEstimator

    clf = make_pipeline(StandardScaler(), VAEEstimator(n_latent=8, random_state=0), LogisticRegression())
    clf.fit(X_train, y_train).score(X_test, y_test)

The constructor takes scikit-learn's parameters only, under the names of ``VAE`` and ``VAE.fit``; ``fit`` builds
the model (``model_``) and trains it. ``transform`` gives the means of q(z|x), ``inverse_transform`` the means of
p(x|z), ``score_samples`` the per-example ELBO in nats.
"""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:    # one line that says what to install
    raise ImportError(f'purevae.sklearn needs scikit-learn >= 1.6 ({exc}): pip install "purevae[sklearn]"') from None

from .model import VAE
from .typing import ArrayLike, FloatArray, SeedLike

__all__ = ["VAEEstimator"]


class VAEEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    r"""A Variational Autoencoder as a scikit-learn transformer: ``transform(X)`` is the posterior mean of z.

    Parameters
    ----------
    hidden : tuple of int, default (64,)
        Widths of the encoder's hidden layers (the decoder mirrors them unless ``decoder_hidden``).
    n_latent : int, default 2
        Dimension of z: the number of output features of ``transform``.
    likelihood : {"gaussian", "bernoulli", "continuous_bernoulli", "multinomial"}, default "gaussian"
        p(x|z). The default, a Gaussian with a learned per-feature variance, suits standardised tabular data;
        "bernoulli" suits images in [0, 1].
    variance : float or None, default None
        Gaussian only: a fixed variance instead of the learned one.
    activation : str, default "relu"
    alpha : float or None, default None
        The slope of leaky_relu or the scale of elu.
    decoder_hidden : tuple of int or None, default None
    dtype : {"float64", "float32"}, default "float64"
        The model's precision; ``transform`` returns arrays of it.
    epochs, batch_size, lr, optimizer, beta, warmup_epochs, beta_schedule, objective, k, free_bits
        Training settings, as ``VAE.fit`` takes them (defaults 50, 64, 1e-3, "adam", 1.0, 0, None, "elbo", 1,
        0.0). A ``batch_size`` larger than the data is clipped to its size, with a warning.
    random_state : None, int, or anything ``numpy.random.default_rng`` accepts
        An int becomes the model's seed; anything else seeds one drawn from it; None draws a fresh one each fit.
    verbose : bool, default False
        One line per epoch on stderr.

    Attributes
    ----------
    model_ : purevae.VAE
        The trained model.
    history_ : dict of lists
        ``model_.history``: the per-epoch losses.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had string column names (a pandas DataFrame).

    Notes
    -----
    ``score_samples`` draws one z per example from a stream fixed by the model's seed, so a call is repeatable,
    but the draw an example gets depends on its position in X: a subset or a permutation of X gets other
    draws, hence other (equally valid) Monte Carlo estimates. scikit-learn's two checks that a method gives the
    same numbers on a subset and in any order therefore do not apply to it; ``transform`` (no sampling) passes
    them. ``tests/test_sklearn.py`` runs ``check_estimator`` with exactly those two declared.
    """

    def __init__(self, hidden: Sequence[int] = (64,), n_latent: int = 2, likelihood: str = "gaussian",
                 variance: float | None = None, activation: str = "relu", alpha: float | None = None,
                 decoder_hidden: Sequence[int] | None = None, dtype: str = "float64", epochs: int = 50,
                 batch_size: int = 64, lr: float = 1e-3, optimizer: str = "adam", beta: float = 1.0,
                 warmup_epochs: int = 0, beta_schedule: Callable[[int, int], float] | None = None,
                 objective: str = "elbo", k: int = 1, free_bits: float = 0.0, random_state: SeedLike = None,
                 verbose: bool = False) -> None:
        self.hidden = hidden
        self.n_latent = n_latent
        self.likelihood = likelihood
        self.variance = variance
        self.activation = activation
        self.alpha = alpha
        self.decoder_hidden = decoder_hidden
        self.dtype = dtype
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.beta = beta
        self.warmup_epochs = warmup_epochs
        self.beta_schedule = beta_schedule
        self.objective = objective
        self.k = k
        self.free_bits = free_bits
        self.random_state = random_state
        self.verbose = verbose

    def _seed(self) -> int | None:
        state = self.random_state
        if state is None:
            return None
        if isinstance(state, numbers.Integral) and not isinstance(state, (bool, np.bool_)) and int(state) >= 0:
            return int(state)
        return int(np.random.default_rng(state).integers(0, 2**32))

    def fit(self, X: ArrayLike, y: object = None) -> VAEEstimator:
        """Build ``model_`` for X's width and train it on X (y is ignored). Returns self."""
        data = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=1)
        batch_size = self.batch_size
        if isinstance(batch_size, numbers.Integral) and batch_size > data.shape[0]:
            warnings.warn(f"batch_size {batch_size} is larger than the {data.shape[0]} examples: clipped to "
                          f"{data.shape[0]}", UserWarning, stacklevel=2)
            batch_size = data.shape[0]
        self.model_ = VAE(data.shape[1], hidden=self.hidden, n_latent=self.n_latent, likelihood=self.likelihood,
                          variance=self.variance, activation=self.activation, alpha=self.alpha,
                          decoder_hidden=self.decoder_hidden, dtype=self.dtype, seed=self._seed())
        self.model_.fit(data, epochs=self.epochs, batch_size=batch_size, lr=self.lr, optimizer=self.optimizer,
                        beta=self.beta, warmup_epochs=self.warmup_epochs, beta_schedule=self.beta_schedule,
                        objective=self.objective, k=self.k, free_bits=self.free_bits, verbose=self.verbose)
        self.history_ = self.model_.history
        self._n_features_out = self.model_.n_latent
        return self

    def _check(self, X: ArrayLike) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)

    def transform(self, X: ArrayLike) -> FloatArray:
        """The posterior means mu(x) of q(z|x), shape (n, n_latent), in the model's dtype."""
        return self.model_.encode(self._check(X))[0]

    def inverse_transform(self, X: ArrayLike) -> FloatArray:
        """The means of p(x|z) for latent codes z (named X, scikit-learn's convention): shape (n, n_features_in_)."""
        check_is_fitted(self)
        z = np.asarray(X, dtype=self.model_.dtype)
        return self.model_.decode(z)

    def score_samples(self, X: ArrayLike) -> FloatArray:
        """The per-example ELBO in nats (one z per example from a fixed stream; see Notes), float64 (n,)."""
        return self.model_.elbo(self._check(X))

    def score(self, X: ArrayLike, y: object = None) -> float:
        """The mean ELBO over X, nats per example (higher is better, as scikit-learn's scores are)."""
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1, random_state: SeedLike = None) -> FloatArray:
        """Means of p(x|z) for n_samples draws z ~ N(0, I): shape (n_samples, n_features_in_)."""
        check_is_fitted(self)
        rng = None if random_state is None else np.random.default_rng(random_state)
        return self.model_.sample(n_samples, rng=rng)

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """The output feature names, ``vaeestimator0`` .. ``vaeestimator{n_latent - 1}`` (object array)."""
        return super().get_feature_names_out(input_features)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        return tags
