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
        The hidden layers' activation: "identity", "relu", "tanh", "softplus", "leaky_relu" or "elu".
    alpha : float or None, default None
        The slope of leaky_relu or the scale of elu.
    decoder_hidden : tuple of int or None, default None
        Widths of the decoder's hidden layers; None mirrors ``hidden``.
    dtype : {"float64", "float32"}, default "float64"
        The model's precision; ``transform`` returns arrays of it.
    epochs : int, default 50
        Passes over the data; training settings are as ``VAE.fit`` takes them (``purevae.train.fit``).
    batch_size : int, default 64
        Examples per step. A ``batch_size`` larger than the data is clipped to its size, with a warning.
    lr : float, default 1e-3
        Learning rate.
    optimizer : {"adam", "sgd"}, default "adam"
        The update rule.
    beta : float, default 1.0
        Weight of the KL term once warm-up is over.
    warmup_epochs : int, default 0
        Epochs of linear KL warm-up (0: none).
    beta_schedule : callable (step, epoch) -> beta, or None, default None
        The KL weight of every step; replaces ``beta`` and ``warmup_epochs`` when given.
    objective : {"elbo", "iwae"}, default "elbo"
        The training loss: the negative ELBO or the negative importance-weighted bound.
    k : int, default 1
        Samples of z per example and step.
    free_bits : float, default 0.0
        "elbo" only: the KL floor of each latent dimension, in nats.
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
        The number of features (columns) of the X given to ``fit``.
    feature_names_in_ : ndarray of str
        When X had string column names (a pandas DataFrame).

    Notes
    -----
    ``score_samples`` draws one z per example from a stream fixed by the model's seed, so a call is repeatable,
    but the draw an example gets depends on its position in X: a subset or a permutation of X gets other
    draws, hence other (equally valid) Monte Carlo estimates. scikit-learn's two checks that a method gives the
    same numbers on a subset and in any order therefore do not apply to it; ``transform`` (no sampling) passes
    them. ``tests/test_sklearn.py`` runs ``check_estimator`` with exactly those two declared.

    Examples
    --------
    >>> from purevae.sklearn import VAEEstimator
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> est = VAEEstimator(hidden=(8,), n_latent=2, epochs=5, batch_size=20, random_state=0)
    >>> Z = est.fit_transform(X)                       # the posterior means of q(z|x)
    >>> Z.shape, Z.dtype
    ((100, 2), dtype('float64'))
    >>> est.get_feature_names_out()
    array(['vaeestimator0', 'vaeestimator1'], dtype=object)
    >>> est.inverse_transform(Z).shape, est.score_samples(X).shape, type(est.score(X))
    ((100, 5), (100,), <class 'float'>)
    >>> len(est.history_["loss"])
    5

    In a pipeline:

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> pipe = make_pipeline(StandardScaler(), VAEEstimator(n_latent=2, epochs=5, random_state=0))
    >>> pipe.fit_transform(X).shape
    (100, 2)
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
        """Build ``model_`` for X's width and train it on X (y is ignored).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The training data, at least one row; float32 and float64 are kept, other dtypes become float64.
        y : object, optional
            Ignored; scikit-learn's API takes it.

        Returns
        -------
        VAEEstimator
            ``self``, trained: ``model_``, ``history_``, ``n_features_in_`` are set.

        Raises
        ------
        ValueError
            X empty, not 2-D, or with NaN or inf (scikit-learn's ``validate_data``), or a setting ``VAE`` or
            ``VAE.fit`` refuses.
        TypeError
            A setting of the wrong type (``VAE`` and ``VAE.fit`` check them).
        purevae.TrainingDiverged
            The loss became NaN or inf.

        Warns
        -----
        UserWarning
            ``batch_size`` larger than the number of rows of X: clipped to it.
        """
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
        """Return the posterior means mu(x) of q(z|x), shape (n, n_latent), in the model's dtype.

        Parameters
        ----------
        X : array_like, shape (n, ``n_features_in_``)
            The data to encode.

        Returns
        -------
        ndarray, shape (n, n_latent)
            The posterior means mu(x), in the model's dtype.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` was not called.
        ValueError
            X of another width than the data of ``fit``, or with NaN or inf.
        """
        return self.model_.encode(self._check(X))[0]

    def inverse_transform(self, X: ArrayLike) -> FloatArray:
        """Return the means of p(x|z) for latent codes z (named X, scikit-learn's convention).

        Parameters
        ----------
        X : array_like, shape (n, n_latent)
            The latent codes z, cast to the model's dtype.

        Returns
        -------
        ndarray, shape (n, ``n_features_in_``)
            The means of p(x|z), in the model's dtype.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` was not called.
        ValueError
            X not convertible to the model's dtype, not of shape (n >= 1, n_latent), or not finite
            (``VAE.decode``).
        """
        check_is_fitted(self)
        z = np.asarray(X, dtype=self.model_.dtype)
        return self.model_.decode(z)

    def score_samples(self, X: ArrayLike) -> FloatArray:
        """Return the per-example ELBO in nats (one z per example from a fixed stream; see Notes).

        Parameters
        ----------
        X : array_like, shape (n, ``n_features_in_``)
            The data to score.

        Returns
        -------
        ndarray of float64, shape (n,)
            The ELBO of each row, nats (higher is better).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` was not called.
        ValueError
            X of another width than the data of ``fit``, or with NaN or inf.
        """
        return self.model_.elbo(self._check(X))

    def score(self, X: ArrayLike, y: object = None) -> float:
        """Return the mean ELBO over X, nats per example (higher is better, as scikit-learn's scores are).

        Parameters
        ----------
        X : array_like, shape (n, ``n_features_in_``)
            The data to score.
        y : object, optional
            Ignored; scikit-learn's API takes it.

        Returns
        -------
        float
            The mean of ``score_samples(X)``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` was not called.
        ValueError
            X of another width than the data of ``fit``, or with NaN or inf.
        """
        return float(np.mean(self.score_samples(X)))

    def sample(self, n_samples: int = 1, random_state: SeedLike = None) -> FloatArray:
        """Decode the means of p(x|z) for n_samples draws z ~ N(0, I).

        Parameters
        ----------
        n_samples : int, default 1
            The number of draws.
        random_state : None, int, or anything ``numpy.random.default_rng`` accepts, default None
            Seeds the draws; None uses a fixed stream derived from the model's seed (``VAE.sample``), so
            repeated calls give the same samples.

        Returns
        -------
        ndarray, shape (n_samples, ``n_features_in_``)
            The means of p(x|z), in the model's dtype.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` was not called.
        TypeError
            ``n_samples`` not an int.
        ValueError
            ``n_samples`` < 1.
        """
        check_is_fitted(self)
        rng = None if random_state is None else np.random.default_rng(random_state)
        return self.model_.sample(n_samples, rng=rng)

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
        """Return the output feature names, ``vaeestimator0`` .. ``vaeestimator{n_latent - 1}``.

        Parameters
        ----------
        input_features : array_like of str, optional
            The input's feature names; only checked against ``n_features_in_`` and ``feature_names_in_``, as
            scikit-learn does: the output names do not depend on them.

        Returns
        -------
        ndarray of object, shape (n_latent,)
            The names, str.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            ``fit`` was not called.
        ValueError
            ``input_features`` that do not match the input's features.
        """
        return super().get_feature_names_out(input_features)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        return tags
