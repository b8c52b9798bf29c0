r"""The VAE: parameters, encoder, reparameterization, decoder, and ``loss_and_grads``. Wiring only.

Data flow of one step (the formulas live in ``ops``, ``likelihoods`` and their Cython twins)::

    x --[dense + f]*--> h --dense--> [mu | logvar] --reparam(eps)--> z --[dense + f]*--> g --dense--> out
    loss = mean_b( -log p(x_b | z_b)  +  beta * KL(q(z|x_b) || N(0, I)) )        (nats per example)

Parameters live in one ordered dict ``params``; a dense layer called ``name`` has
``name.weight`` of shape (n_in, n_out) (so that it computes ``x @ weight + bias``) and ``name.bias``
of shape (n_out,). Layers: ``encoder.0 ... encoder.{n-1}`` (hidden), ``encoder.out`` (n_in, 2 n_latent)
whose first n_latent outputs are ``mu`` and last n_latent ``logvar``; ``decoder.0 ...``, ``decoder.out``
(n_in, n_input); the learned-variance Gaussian adds ``decoder.logvar`` (n_input,). A conditional model
(``n_classes`` = C, Sohn et al. 2015) adds ``encoder.0.label_weight`` and ``decoder.0.label_weight`` (C, n_out)
to the first layer of each side (``encoder.out`` / ``decoder.out`` when that side has no hidden layer): the
label y of each example enters as pre = h W + b + label_weight[y] (docs/derivations.md#conditional-vae).

The seams ``VAE`` composes, and that training, evaluation, gradcheck and io use (never underscore names):

================  ======================================  =======================================================
attribute         object                                  does
================  ======================================  =======================================================
``encoder``       ``purevae.mlp.MLP``                     x -> ``[mu | logvar]``: ``forward`` / ``backward``
``latent``        ``purevae.latent.GaussianLatent``       eps, z = mu + sigma eps, the KL, log p(z), log q(z|x)
``decoder``       ``purevae.mlp.MLP``                     z -> the likelihood's parameters
``likelihood``    ``purevae.likelihoods.Likelihood``      -log p(x|z) and its gradient; the mean of p(x|z)
``workspaces``    ``purevae.workspace.WorkspaceCache``    one ``Workspace`` per batch size, for ``fit``
================  ======================================  =======================================================

and the methods ``check_input`` / ``check_latent`` / ``check_eps`` (validation at the edge: cast once) and
``step(x, eps, beta, ws)`` (one training step on validated arrays, writing into the workspace ``ws``).
"""
from __future__ import annotations

import inspect
import math
import numbers
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Sequence, Union

import numpy as np

from . import backend, io, objectives, train
from .latent import GaussianLatent
from .likelihoods import Likelihood, make_likelihood
from .mlp import MLP
from .objectives import OBJECTIVES
from .ops import ACTIVATIONS, DEFAULT_ALPHA
from .optim import Optimizer
from .typing import ArrayLike, ArraySource, DataLike, FloatArray, IntArray, PathLike, SeedLike
from .validation import (
    LazyRows,
    as_rng,
    check_data,
    check_eps,
    check_labels,
    check_sparse,
    check_vocabulary,
    choice,
    finite_float,
    float_dtype,
    is_lazy,
    is_sparse,
    positive_int,
)
from .validation import seed as check_seed
from .workspace import FRESH, Workspace, WorkspaceCache

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["VAE", "StepResult", "load", "DTYPES"]

DTYPES = ("float32", "float64")
#: a validated batch: a C-contiguous ndarray of the model's dtype, or a canonical CSR matrix (multinomial counts)
Batch = Union[np.ndarray, "csr_matrix"]
WORKSPACE_SIZES = 4  # batch sizes whose step arrays a model keeps (an epoch uses two: full and last batch)
#: the largest architecture a VAE may have (and so a model file may ask for): parameters in all, hidden layers
#: per side, and any one width (n_input, a hidden width, n_latent, n_classes). 2**28 parameters are 1 GiB in
#: float32; a wider model is outside what NumPy on a CPU trains, and a file asking for one is refused before
#: anything is allocated (``purevae.load``).
MAX_PARAMETERS = 2**28
MAX_LAYERS = 64
MAX_WIDTH = 2**24


class StepResult(NamedTuple):
    """What one training step returns (``VAE.step``).

    Parameters
    ----------
    loss : float
        The step's loss in nats per example: recon + beta * kl for "elbo" (the KL term floored per
        dimension with free bits), the negative bound, averaged over the batch, for "iwae".
    recon : float
        The mean over the batch (and the k samples) of -log p(x|z).
    kl : float
        The mean over the batch of the closed-form KL(q(z|x) ``||`` N(0, I)).
    grads : collections.OrderedDict of str to numpy.ndarray
        The gradient d loss / d param of every parameter, with the names and in the order of ``params``.
    """

    loss: float                 #: the loss: recon + beta * kl ("elbo"), the negative bound ("iwae"); nats per example
    recon: float                #: mean over the batch (and the k samples) of -log p(x|z)
    kl: float                   #: mean over the batch of the closed-form KL(q(z|x) || N(0, I))
    grads: "OrderedDict[str, np.ndarray]"  #: d loss / d param, the names and order of ``params``


class VAE:
    r"""A Variational Autoencoder with MLP encoder and decoder, written by hand in NumPy.

    Parameters
    ----------
    n_input : int
        Number of features of one example (784 for 28 x 28 images).
    hidden : sequence of int or int, default (400,)
        Widths of the encoder's hidden layers (one int: one layer); ``()`` makes the encoder a linear map.
    n_latent : int, default 20
        Dimension of z.
    likelihood : {"bernoulli", "continuous_bernoulli", "gaussian", "multinomial"} or Likelihood, default "bernoulli"
        The family of p(x|z), by name or as a ``purevae.likelihoods.Likelihood`` (used as it is). Bernoulli
        reads the decoder output as logits (targets in [0, 1]: for grey values a cross-entropy, not a density);
        the continuous Bernoulli as logits of a normalised density on [0, 1] (Loaiza-Ganem & Cunningham 2019);
        Gaussian as a mean; the multinomial as logits over a vocabulary, for x of word counts (dense or
        scipy.sparse; Miao et al. 2016).
    activation : str, default "relu"
        Hidden non-linearity: relu, tanh, softplus, leaky_relu, elu (or identity).
    dtype : {"float32", "float64"}, default "float32"
        The precision of every parameter and computation; inputs are cast once at the edge. A NumPy dtype
        or scalar type (``np.float64``) naming one of the two is accepted too.
    seed : int or None, default 0
        Seeds the model's ``numpy.random.Generator`` (initialisation, shuffling, eps), an int >= 0. None draws
        one and stores it in ``self.seed``.
    variance : float or None, default None
        Gaussian only: a fixed pixel variance (> 0), or None to learn a per-pixel log-variance.
    alpha : float or None, default None
        Slope of leaky_relu (default 0.01) or scale of elu (default 1.0), > 0 for those two; unused by the
        other activations.
    decoder_hidden : sequence of int or int or None, default None
        Widths of the decoder's hidden layers; None mirrors ``hidden`` (its widths in reverse order).
    n_classes : int or None, default None
        None: an unconditional VAE. C >= 1: a conditional VAE (Sohn, Lee & Yan 2015) whose encoder
        q(z|x, y) and decoder p(x|z, y) both see a label y in 0..C-1; every method that takes data then needs
        ``y`` (one integer label per example, or one integer for all of them).
    vocabulary : sequence of str or None, default None
        The words of the n_input columns (n_input distinct non-empty strings), for a bag-of-words model
        (``likelihood="multinomial"``): kept in the config (and so in the model file), so that
        ``purevae.text.encode_texts`` can turn new texts into counts.

    Raises
    ------
    TypeError
        When an argument has the wrong type (a float or a bool for an int, a string for a number, a
        string for a sequence of widths, words that are not strings).
    ValueError
        When an argument has a wrong value: a size < 1, an unknown likelihood, activation or dtype, a
        ``variance`` with a likelihood other than "gaussian", an ``alpha`` <= 0 for leaky_relu or elu, a
        negative seed, a vocabulary of the wrong length or with repeated words, or an architecture beyond
        ``MAX_LAYERS``, ``MAX_WIDTH`` or ``MAX_PARAMETERS``.

    Notes
    -----
    Initialisation is PyTorch's ``nn.Linear`` default: every weight and bias uniform in
    +-1/sqrt(fan_in), drawn in float64 from the seeded generator (then cast), so float32 and float64
    models with the same seed start from the same point.

    Examples
    --------
    A tiny model on random data in [0, 1]: 16 features, a 2-D latent space.

    >>> from purevae import VAE
    >>> x = np.random.default_rng(0).random((64, 16))
    >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
    >>> model
    VAE(n_input=16, hidden=(8,), n_latent=2, likelihood='bernoulli', activation='relu', dtype='float32', seed=0)
    >>> model.params["encoder.out.weight"].shape      # (n_in, n_out): 2 n_latent outputs, [mu | logvar]
    (8, 4)
    >>> history = model.fit(x, epochs=2, batch_size=16)
    >>> history["epoch"], model.epochs_trained
    ([1, 2], 2)
    >>> mu, logvar = model.encode(x)
    >>> mu.shape, mu.dtype
    ((64, 2), dtype('float32'))
    >>> model.sample(3).shape
    (3, 16)
    """

    def __init__(self, n_input: int, hidden: Sequence[int] = (400,), n_latent: int = 20,
                 likelihood: str | Likelihood = "bernoulli", activation: str = "relu", dtype: str = "float32",
                 seed: int | None = 0, *, variance: float | None = None, alpha: float | None = None,
                 decoder_hidden: Sequence[int] | None = None, n_classes: int | None = None,
                 vocabulary: Sequence[str] | None = None) -> None:
        self._configure(n_input, hidden, n_latent, likelihood, activation, dtype, seed, variance=variance,
                        alpha=alpha, decoder_hidden=decoder_hidden, n_classes=n_classes, vocabulary=vocabulary)
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.params.update(self.encoder.init_params(self.rng, self.dtype))
        self.params.update(self.decoder.init_params(self.rng, self.dtype))
        self.params.update(self.likelihood.extra_params(self.n_input, self.dtype))
        self.optimizer: Optimizer | None = None
        self.workspaces = WorkspaceCache(WORKSPACE_SIZES)
        self.epochs_trained = 0
        self.steps_trained = 0
        self.history: dict[str, list] = {}
        #: where ``fit`` resumes inside an epoch: set by ``load`` of a checkpoint written in the middle of
        #: an epoch (the generator states, the epoch's permutation, the steps done), consumed by the next fit
        self.resume_position: dict | None = None

    def _configure(self, n_input: int, hidden: Sequence[int], n_latent: int, likelihood: str | Likelihood,
                   activation: str, dtype: str, seed: int | None, *, variance: float | None, alpha: float | None,
                   decoder_hidden: Sequence[int] | None, n_classes: int | None,
                   vocabulary: Sequence[str] | None) -> None:
        """Validate the arguments and build the pieces (no parameter allocated yet): everything but ``params``."""
        self.n_input = positive_int("n_input", n_input)
        self.n_latent = positive_int("n_latent", n_latent)
        self.hidden = self._widths("hidden", hidden)
        self.decoder_hidden = self.hidden[::-1] if decoder_hidden is None else self._widths("decoder_hidden",
                                                                                             decoder_hidden)
        self.activation = choice("activation", activation, tuple(ACTIVATIONS))
        self.alpha = DEFAULT_ALPHA[activation] if alpha is None else finite_float("alpha", alpha)
        backend.activation_code(activation, self.alpha)  # validates alpha for this activation
        self.dtype = float_dtype("dtype", dtype, DTYPES)   # np.float32 and np.dtype("float32") name a dtype too
        self.likelihood = make_likelihood(likelihood, variance)
        self.n_classes = None if n_classes is None else positive_int("n_classes", n_classes)
        self.vocabulary = None if vocabulary is None else check_vocabulary("vocabulary", vocabulary, self.n_input)
        seed = check_seed("seed", seed)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.seed = seed
        self.rng = np.random.default_rng(self.seed)

        classes = self.n_classes or 0
        self.encoder = MLP("encoder", [self.n_input, *self.hidden, 2 * self.n_latent], activation, self.alpha,
                           classes)
        self.latent = GaussianLatent(self.n_latent)
        self.decoder = MLP("decoder", [self.n_latent, *self.decoder_hidden, self.n_input], activation, self.alpha,
                           classes)
        for name, width in (("n_input", self.n_input), ("n_latent", self.n_latent), ("n_classes", classes)):
            if width > MAX_WIDTH:
                raise ValueError(f"{name} = {width} is larger than purevae's limit MAX_WIDTH = {MAX_WIDTH}")
        n_params = sum(math.prod(shape) for shape in self.param_shapes().values())
        if n_params > MAX_PARAMETERS:
            raise ValueError(f"this architecture has {n_params} parameters, more than purevae's limit "
                             f"MAX_PARAMETERS = {MAX_PARAMETERS}")

    def param_shapes(self) -> "OrderedDict[str, tuple[int, ...]]":
        """Return the name and shape of every parameter, in the order of ``params`` (encoder, decoder, likelihood).

        Returns
        -------
        collections.OrderedDict of str to tuple of int
            ``MLP.param_shapes`` of the encoder, then of the decoder, then the likelihood's own parameters
            (``decoder.logvar`` (n_input,) for the learned-variance Gaussian).
        """
        shapes = self.encoder.param_shapes()
        shapes.update(self.decoder.param_shapes())
        shapes.update(self.likelihood.extra_shapes(self.n_input))
        return shapes

    @classmethod
    def param_shapes_of(cls, config: Mapping[str, Any], layout: str = "params"
                        ) -> tuple[OrderedDict[str, tuple[int, ...]], np.dtype]:
        """Return the shapes and the dtype of the parameters ``VAE(**config)`` would have, allocating none of them.

        ``purevae.load`` compares a file's arrays with these before reading any of them.

        Parameters
        ----------
        config : mapping
            ``VAE``'s arguments by name (``VAE.config()``), validated as ``VAE()`` validates them, limits
            included (``MAX_PARAMETERS``, ``MAX_LAYERS``, ``MAX_WIDTH``); missing ones take ``VAE``'s defaults.
        layout : {"params", "state_dict"}, default "params"
            "params" gives ``params``' shapes, "state_dict" those of ``state_dict()`` (dense weights as
            (n_out, n_in)).

        Returns
        -------
        shapes : collections.OrderedDict of str to tuple of int
            The name and shape of every parameter, in the order of ``param_shapes``.
        dtype : numpy.dtype
            The parameters' dtype.

        Raises
        ------
        TypeError
            When ``config`` is not a mapping, lacks ``n_input`` or has a name ``VAE`` does not take, or an
            argument (``layout`` included) has the wrong type, as ``VAE()`` would raise it.
        ValueError
            When ``layout`` is not one of the two, or an argument has a wrong value, as ``VAE()`` would raise it.
        """
        layout = choice("layout", layout, ("params", "state_dict"))
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a mapping of VAE's arguments, got {type(config).__name__}")
        skeleton = cls.__new__(cls)
        # VAE()'s arguments with VAE()'s defaults (an unknown or missing one is a TypeError), then its validation
        arguments = inspect.signature(cls.__init__).bind(skeleton, **config)
        arguments.apply_defaults()
        cls._configure(*arguments.args, **arguments.kwargs)
        shapes = skeleton.param_shapes()
        if layout == "state_dict":
            shapes = OrderedDict((name, shape[::-1] if cls._is_dense_weight(name) else shape)
                                 for name, shape in shapes.items())
        return shapes, skeleton.dtype

    @staticmethod
    def _widths(name: str, widths) -> tuple[int, ...]:
        if isinstance(widths, numbers.Integral):
            widths = (widths,)
        try:
            widths = tuple(widths)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of positive integers, got {widths!r}") from None
        if len(widths) > MAX_LAYERS:
            raise ValueError(f"{name} has {len(widths)} layers, more than purevae's limit MAX_LAYERS = {MAX_LAYERS}")
        widths = tuple(positive_int(f"{name}[{i}]", w) for i, w in enumerate(widths))
        for i, w in enumerate(widths):
            if w > MAX_WIDTH:
                raise ValueError(f"{name}[{i}] = {w} is larger than purevae's limit MAX_WIDTH = {MAX_WIDTH}")
        return widths

    # -----------------------------------------------------------------------------------------
    # configuration
    # -----------------------------------------------------------------------------------------
    def config(self) -> dict:
        """Return the JSON-able architecture, enough to rebuild the model with ``VAE(**config)``.

        Returns
        -------
        dict
            Every argument of ``VAE`` by name: ``n_input``, ``hidden`` (a list), ``n_latent``, ``likelihood``
            (its name), ``variance``, ``activation``, ``alpha`` (the value in use), ``decoder_hidden`` (a
            list), ``dtype`` (its name), ``seed`` (the one in use), ``n_classes`` and ``vocabulary`` (a list
            or None).
        """
        lik = self.likelihood.config()
        return {"n_input": self.n_input, "hidden": list(self.hidden), "n_latent": self.n_latent,
                "likelihood": lik["likelihood"], "variance": lik.get("variance"), "activation": self.activation,
                "alpha": self.alpha, "decoder_hidden": list(self.decoder_hidden), "dtype": self.dtype.name,
                "seed": self.seed, "n_classes": self.n_classes,
                "vocabulary": None if self.vocabulary is None else list(self.vocabulary)}

    def __repr__(self) -> str:
        c = self.config()
        return (f"VAE(n_input={c['n_input']}, hidden={tuple(c['hidden'])}, n_latent={c['n_latent']}, "
                f"likelihood={c['likelihood']!r}, activation={c['activation']!r}, dtype={c['dtype']!r}, "
                f"seed={c['seed']}" + ("" if self.n_classes is None else f", n_classes={self.n_classes}") + ")")

    def astype(self, dtype: str) -> "VAE":
        """Return a copy of the model in another dtype, its parameters cast.

        What ``purevae.gradcheck`` checks a float32 model's gradients with (docs/derivations.md#gradient-check).

        Parameters
        ----------
        dtype : {"float32", "float64"}
            The copy's dtype; a NumPy dtype or scalar type naming one of the two is accepted too.

        Returns
        -------
        VAE
            A new model with the same config (seed included) and the parameters cast to ``dtype``; no
            optimizer state, counters at 0, no history, and a generator restarted from the seed.

        Raises
        ------
        TypeError
            When ``dtype`` is not a dtype, a name or a scalar type (None, 3, True).
        ValueError
            When ``dtype`` is another dtype ("float16", "int32") or a string that names none.
        """
        cfg = self.config()
        cfg["dtype"] = float_dtype("dtype", dtype, DTYPES).name
        other = VAE(**cfg)
        for name, value in self.params.items():
            other.params[name][...] = value
        return other

    # -----------------------------------------------------------------------------------------
    # validation at the edge (the documented internal API of training, evaluation and gradcheck)
    # -----------------------------------------------------------------------------------------
    def check_input(self, x: DataLike, name: str = "x", *, support: bool = True, lazy: bool = False) -> Batch:
        """Return x as a validated (n, n_input) C-contiguous array of the model's dtype (``validation.check_data``).

        The first step of ``loss_and_grads`` (docs/derivations.md#full-chain): the data is validated and
        cast once, at the edge, and the step trusts it.

        Parameters
        ----------
        x : array_like or scipy.sparse matrix, shape (n, n_input)
            The data. A scipy.sparse matrix becomes a canonical CSR matrix of the model's dtype
            (``validation.check_sparse``) for a likelihood that takes one (the multinomial), else a dense array.
        name : str, default "x"
            The argument's name in error messages.
        support : bool, default True
            Also check that x lies where p(x|z) has mass (e.g. [0, 1] for Bernoulli).
        lazy : bool, default False
            An ``np.memmap`` (or any row-indexable array, ``validation.is_lazy``) is then not copied but
            validated in chunks and returned as a ``validation.LazyRows``, read and cast a batch at a time
            (``fit``, ``elbo``, ``log_likelihood`` and ``encode`` take one); without it, it is copied whole.

        Returns
        -------
        numpy.ndarray or scipy.sparse.csr_matrix or validation.LazyRows
            The validated data; x itself when it already is a C-contiguous ndarray of the model's dtype.

        Raises
        ------
        TypeError
            When x does not hold real numbers (complex, object or string values).
        ValueError
            When x is not 2-D with n_input columns, is empty, holds NaN or inf, or (with ``support``) lies
            outside the support of p(x|z).

        Warns
        -----
        validation.CastWarning
            When x (an array or a sparse matrix) is boolean, integer or float16, and so is cast.
        """
        if lazy and is_lazy(x):
            return LazyRows(name, x, self.n_input, self.dtype, self.likelihood.check_data if support else None)
        if is_sparse(x):       # counts as a scipy.sparse matrix: kept as CSR where the likelihood takes it
            x = check_sparse(name, x, self.n_input, self.dtype)
            if not self.likelihood.accepts_sparse:
                x = x.toarray()
        else:
            x = check_data(name, x, self.n_input, self.dtype)
        if support:
            self.likelihood.check_data(x, name)
        return x

    def check_latent(self, z: ArrayLike, name: str = "z") -> FloatArray:
        """Return z as a validated (n, n_latent) C-contiguous array of the model's dtype.

        Parameters
        ----------
        z : array_like, shape (n, n_latent)
            Latent codes.
        name : str, default "z"
            The argument's name in error messages.

        Returns
        -------
        numpy.ndarray, shape (n, n_latent)
            The codes, C-contiguous, of the model's dtype; z itself when it already is such an ndarray.

        Raises
        ------
        TypeError
            When z does not hold real numbers.
        ValueError
            When z is not 2-D with n_latent columns, is empty, or holds NaN or inf.

        Warns
        -----
        validation.CastWarning
            When z is boolean, integer or float16, and so is cast.
        """
        return check_data(name, z, self.n_latent, self.dtype)

    @property
    def conditional(self) -> bool:
        """True for a conditional VAE (``n_classes`` given): its methods need the labels ``y``."""
        return self.n_classes is not None

    def check_labels(self, y: ArrayLike | None, n: int, name: str = "y") -> IntArray | None:
        """Return the labels of n examples as a validated ``np.intp`` array (n,), or None for an unconditional model.

        A conditional model needs y (one integer in 0..n_classes-1 per example, or one for all); an
        unconditional one refuses it (ValueError), so a label is never silently ignored.
        Derivation: docs/derivations.md#conditional-vae.

        Parameters
        ----------
        y : array_like of int, int or None
            The labels, one per example, or one integer for all of them.
        n : int
            The number of examples.
        name : str, default "y"
            The argument's name in error messages.

        Returns
        -------
        numpy.ndarray of numpy.intp, shape (n,), or None
            The labels, C-contiguous; None for an unconditional model.

        Raises
        ------
        TypeError
            When a conditional model's y does not hold integers (floats, bools, strings).
        ValueError
            When y is given to an unconditional model, is missing for a conditional one, has another
            shape than (n,), or holds a label outside 0..n_classes-1.
        """
        if not self.conditional:
            if y is not None:
                hint = (f" (did you mean k={y}? pass k by keyword)" if np.ndim(y) == 0 and not isinstance(y, bool)
                        else "")
                raise ValueError(f"{name} was given, but this model is not conditional (n_classes=None): it has no "
                                 f"use for labels{hint}")
            return None
        assert self.n_classes is not None   # conditional
        if y is None:
            raise ValueError(f"{name} is required: this model is conditional (n_classes={self.n_classes}); pass one "
                             f"label in 0..{self.n_classes - 1} per example (or one integer for all)")
        return check_labels(name, y, n, self.n_classes)

    def label_rows(self, y: np.ndarray | None, k: int, ws: ArraySource = FRESH) -> np.ndarray | None:
        """Return the labels of the decoder's k B rows (sample-major: row i B + b has y[b]).

        Derivation: docs/derivations.md#conditional-vae.

        Parameters
        ----------
        y : numpy.ndarray of numpy.intp, shape (B,), or None
            Validated labels (``check_labels``), or None for an unconditional model.
        k : int
            The samples of z per example.
        ws : ArraySource, default FRESH
            Where the tiled labels come from (key ``labels.rows``).

        Returns
        -------
        numpy.ndarray of numpy.intp, shape (k B,), or None
            The labels y tiled k times; y itself when k = 1 or y is None.
        """
        if y is None or k == 1:
            return y
        rows = ws.array("labels.rows", (k * y.shape[0],), np.intp)
        rows.reshape(k, y.shape[0])[...] = y
        return rows

    def check_eps(self, eps: ArrayLike, batch: int) -> FloatArray:
        """Return eps of shape (batch, n_latent) or (k, batch, n_latent), validated and cast to the model's dtype.

        Called by ``loss_and_grads`` on the noise it is given (docs/derivations.md#full-chain).

        Parameters
        ----------
        eps : array_like
            Standard normal noise, of a float dtype, shape (batch, n_latent) or (k, batch, n_latent), k >= 1.
        batch : int
            The number of examples.

        Returns
        -------
        numpy.ndarray
            The noise, C-contiguous, of the model's dtype; eps itself when it already is such an ndarray.

        Raises
        ------
        TypeError
            When eps is not of a float dtype (integer noise is refused, not cast).
        ValueError
            When eps has another shape, or holds NaN or inf.
        """
        return check_eps(eps, batch, self.n_latent, self.dtype)

    def workspace(self, batch: int) -> Workspace:
        """Return the ``Workspace`` of a step of ``batch`` rows (``self.workspaces``; made on first use).

        Parameters
        ----------
        batch : int
            The number of rows of the step.

        Returns
        -------
        Workspace
            The workspace of that size, kept for the ``WORKSPACE_SIZES`` sizes used most recently.
        """
        return self.workspaces.get(batch)

    # -----------------------------------------------------------------------------------------
    # one training step
    # -----------------------------------------------------------------------------------------
    def loss_and_grads(self, x: DataLike, eps: ArrayLike | None = None, beta: float = 1.0, *,
                       y: ArrayLike | None = None, objective: str = "elbo",
                       k: int | None = None, free_bits: float = 0.0) -> tuple[float, dict[str, np.ndarray]]:
        r"""Return the loss of a batch, in nats per example, and its gradient for every parameter.

        objective "elbo" (default), the mean negative ELBO, with the KL in closed form::

            loss = (1/B) sum_b [ (1/k) sum_i -log p(x_b | z_ib) + beta * KL(q(z|x_b) || N(0, I)) ],
            z_ib = mu_b + exp(logvar_b / 2) * eps_ib

        objective "iwae", the negative importance-weighted bound of Burda et al. (2016), k samples each::

            loss = (1/B) sum_b -log (1/k) sum_i w_ib,
            log w_ib = log p(x_b | z_ib) + beta * (log p(z_ib) - log q(z_ib | x_b))

        (beta = 1 gives the bound; k = 1 gives the ELBO with the KL sampled instead of closed form.)
        It validates its arguments (``check_input``, ``check_labels``, ``check_eps``), then runs ``step``
        with new arrays (``FRESH``). Derivations: docs/derivations.md#full-chain (the whole chain, forward
        and backward) and docs/derivations.md#gradient-check (how its gradients are checked).

        Parameters
        ----------
        x : array_like or scipy.sparse matrix, shape (B, n_input)
            The batch, validated and cast by ``check_input`` (its support checked).
        eps : array_like, shape (B, n_latent) or (k, B, n_latent), optional
            The noise of the reparameterization. Default: drawn from the model's generator (``self.rng``).
        beta : float, default 1.0
            Weight of the KL term, >= 0 (1 gives the ELBO or the bound; warm-up ramps it).
        y : array_like of int, shape (B,), or int, optional
            The labels of a conditional model (``n_classes``): then every term is conditioned on y,
            q(z|x, y) and p(x|z, y). Required for a conditional model, refused by an unconditional one.
        objective : {"elbo", "iwae"}, default "elbo"
            The loss: the negative ELBO or the negative importance-weighted bound, as above.
        k : int >= 1, optional
            Samples per example; must agree with eps's k when both are given. Default: eps's k, else 1.
        free_bits : float >= 0, default 0.0
            "elbo" only: the KL term becomes sum_j max(free_bits, KL_j), KL_j the batch mean of dimension
            j's KL (Kingma et al. 2016); 0 (default) is the plain ELBO.

        Returns
        -------
        loss : float
            The loss, in nats per example.
        grads : dict of str to numpy.ndarray
            The gradient d loss / d param, with the same names (in the same order) and shapes as
            ``self.params``, of the model's dtype; new arrays the caller owns.

        Raises
        ------
        TypeError
            When an argument has the wrong type (see ``check_input``, ``check_labels`` and ``check_eps``; a
            float for ``k``, a string for ``beta``).
        ValueError
            When an argument has a wrong value: x, y or eps fails its check, ``k`` < 1 or disagrees with eps,
            ``beta`` or ``free_bits`` is negative or not finite, ``objective`` is unknown, or ``free_bits`` > 0
            comes with "iwae".

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> x = np.random.default_rng(0).random((8, 16))
        >>> loss, grads = model.loss_and_grads(x)          # eps drawn from model.rng
        >>> type(loss)
        <class 'float'>
        >>> list(grads) == list(model.params)
        True
        >>> all(grads[name].shape == p.shape for name, p in model.params.items())
        True

        Given the noise, the loss is a deterministic function of the parameters (what ``gradcheck`` relies on):

        >>> eps = np.random.default_rng(1).standard_normal((8, 2))
        >>> loss_a, _ = model.loss_and_grads(x, eps=eps)
        >>> loss_b, _ = model.loss_and_grads(x, eps=eps)
        >>> bool(abs(loss_a - loss_b) < 1e-6)
        True
        >>> loss, grads = model.loss_and_grads(x, objective="iwae", k=5)    # the IWAE bound, 5 samples each
        >>> grads["decoder.out.weight"].shape
        (8, 16)
        """
        x = self.check_input(x)
        y = self.check_labels(y, x.shape[0])
        objective = choice("objective", objective, OBJECTIVES)
        if k is not None:
            k = positive_int("k", k)
        if eps is not None:
            eps = self.check_eps(eps, x.shape[0])
            eps_k = eps.shape[0] if eps.ndim == 3 else 1
            if k is not None and k != eps_k:
                raise ValueError(f"k is {k} but eps holds {eps_k} sample(s) per example (shape {eps.shape})")
        result = self.step(x, eps, beta, FRESH, y=y, objective=objective, k=1 if k is None else k,
                           free_bits=free_bits)
        return result.loss, result.grads

    def step(self, x: Batch, eps: np.ndarray | None = None, beta: float = 1.0, ws: ArraySource = FRESH, *,
             y: np.ndarray | None = None, objective: str = "elbo", k: int = 1, free_bits: float = 0.0,
             kl_dims: np.ndarray | None = None) -> StepResult:
        r"""Run one training step on validated arrays: the loss, its two terms and every parameter's gradient.

        What ``fit`` and ``gradcheck`` call; ``loss_and_grads`` validates its arguments and calls it. The loss
        of each objective::

            "elbo":  loss = (1/B) sum_b [ (1/k) sum_i -log p(x_b | z_ib) + beta KL_b ]
            "iwae":  loss = (1/B) sum_b [ log k - logsumexp_i log w_ib ],
                     log w_ib = log p(x_b | z_ib) + beta (log p(z_ib) - log q(z_ib | x_b))

        The encoder runs once on the B rows; the decoder on the k B rows z_ib (sample-major: row i B + b).
        ``free_bits`` = lam > 0 ("elbo" only, Kingma et al. 2016) replaces the KL term by sum_j max(lam, KL_j),
        KL_j the batch mean of dimension j's KL: dimensions below lam get no KL gradient. Derivations:
        docs/derivations.md#elbo, docs/derivations.md#full-chain, docs/derivations.md#free-bits,
        docs/derivations.md#iwae-training and docs/derivations.md#conditional-vae.

        Parameters
        ----------
        x : numpy.ndarray or scipy.sparse.csr_matrix, shape (B, n_input)
            The batch, from ``check_input``.
        eps : numpy.ndarray or None, default None
            The noise, from ``check_eps``: (B, L), or (k, B, L) for k samples per example. None draws (B, L)
            from ``self.rng``, or (k, B, L) when ``k > 1`` or for "iwae".
        beta : float, default 1.0
            Weight of the KL term (of log p(z) - log q(z|x) for "iwae"), >= 0.
        ws : ArraySource, default FRESH
            Where every array of the step comes from (``purevae.workspace``): ``FRESH`` makes new ones (what
            ``loss_and_grads`` uses); a ``Workspace`` (``self.workspace(batch)``, what ``fit`` uses) hands out
            the same arrays on every call, so a steady-state step allocates no large array and the returned
            gradients are overwritten by the next step with that workspace.
        y : numpy.ndarray of numpy.intp, shape (B,), or None
            A conditional model's labels (``check_labels``, called again here); the decoder's k B rows take
            them tiled (``label_rows``).
        objective : {"elbo", "iwae"}, default "elbo"
            The loss, as above.
        k : int, default 1
            Samples per example when eps is None (ignored when eps is given: its shape says k).
        free_bits : float, default 0.0
            The free-bits floor lam >= 0 of every latent dimension's KL ("elbo" only); 0 is the plain ELBO.
        kl_dims : numpy.ndarray, shape (n_latent,), optional
            Replaces this batch's KL_j in the free-bits term (its value and which dimensions sit on the
            floor): a data-parallel step passes the global batch's, of which ``x`` is one rank's share
            (``purevae.parallel``). Used only when ``free_bits`` > 0.

        Returns
        -------
        StepResult
            ``(loss, recon, kl, grads)``: ``recon`` and ``kl`` are the batch means of -log p(x|z) (over the
            k samples) and of the closed-form KL; for "elbo" loss = recon + beta kl (with the free-bits term
            when ``free_bits`` > 0), for "iwae" loss is the negative bound; ``grads`` has the names and order
            of ``params``.

        Raises
        ------
        TypeError
            When ``beta``, ``free_bits``, ``objective`` or (eps None) ``k`` has the wrong type, or y does not
            hold integers.
        ValueError
            When ``beta`` or ``free_bits`` is negative or not finite, ``objective`` is unknown, ``free_bits`` > 0
            comes with "iwae", (eps None) ``k`` < 1, or y is wrong for the model (see ``check_labels``).
        """
        beta = finite_float("beta", beta, 0.0)
        objective = choice("objective", objective, OBJECTIVES)
        free_bits = finite_float("free_bits", free_bits, 0.0)
        if free_bits > 0 and objective != "elbo":
            raise ValueError(f"free_bits applies to objective 'elbo' (the {objective} bound has no KL term to "
                             f"floor), got free_bits={free_bits}")
        batch, n_latent = x.shape[0], self.n_latent
        y = self.check_labels(y, batch)                             # O(B): the kernels trust the labels
        if eps is None:
            k = positive_int("k", k)
            shape = (batch, n_latent) if k == 1 and objective == "elbo" else (k, batch, n_latent)
            eps = self.latent.draw_eps(shape, self.dtype, self.rng, ws)
        eps3 = eps if eps.ndim == 3 else eps.reshape(1, batch, n_latent)       # (k, B, L), a view
        k = eps3.shape[0]
        rows = k * batch
        eps_rows = eps3.reshape(rows, n_latent)                                   # row i B + b: sample i of b
        kern = backend.kernels()

        # ---- forward --------------------------------------------------------------------------
        y_rows = self.label_rows(y, k, ws)                          # the label of each decoder row (None: none)
        enc = self.encoder.forward(self.params, x, kern, ws, y)     # enc[-1]: (B, 2L) = [mu | logvar]
        mu_logvar = enc[-1]
        mu_logvar_rows = mu_logvar                                  # the likelihood pairs x with each block of B rows
        if k > 1:                                                   # a copy, not compute: k (B, 2L) arrays
            mu_logvar_rows = ws.array("mu_logvar.rows", (rows, 2 * n_latent), self.dtype)
            mu_logvar_rows.reshape(k, batch, 2 * n_latent)[...] = mu_logvar
        z, kl = self.latent.forward(mu_logvar_rows, eps_rows, kern, ws)  # z = mu + e^(logvar/2) eps; KL closed form
        dec = self.decoder.forward(self.params, z, kern, ws, y_rows)

        if objective == "elbo":
            scale = 1.0 / rows                                      # a mean over the B examples and k samples
            nll, grad_out, lik_grads = self.likelihood.nll_grad(x, dec[-1], self.params, scale, kern, ws)
            recon, kl_mean = float(np.mean(nll, dtype=np.float64)), float(np.mean(kl, dtype=np.float64))
            kl_weight: float | np.ndarray = beta                    # one weight, or one per dimension (free bits)
            if free_bits > 0:                                       # KL term: sum_j max(lam, KL_j)
                if kl_dims is None:           # given: the global batch's, when this batch is a rank's share of it
                    kl_dims = self.latent.kl_per_dimension(mu_logvar)
                loss = recon + beta * float(np.sum(np.maximum(kl_dims, free_bits)))
                kl_weight = kl_per_dim = ws.array("beta.free_bits", (n_latent,), np.float64)
                np.copyto(kl_per_dim, np.where(kl_dims > free_bits, beta, 0.0))   # 0: the floor is flat
            else:
                loss = recon + beta * kl_mean
            # ---- backward, top to bottom ------------------------------------------------------
            decoder_grads, grad_z = self.decoder.backward(self.params, dec, grad_out, kern, ws, need_input_grad=True,
                                                          labels=y_rows)
            assert grad_z is not None                               # need_input_grad=True
            grad_mu_logvar = self.latent.backward(mu_logvar_rows, eps_rows, grad_z, kl_weight, scale, kern, ws)
            if k > 1:                                               # a repeated array's gradient: the sum over copies
                grad_mu_logvar = np.sum(grad_mu_logvar.reshape(k, batch, 2 * n_latent), axis=0,
                                        out=ws.array("mu_logvar.grad.sum", mu_logvar.shape, self.dtype))
        else:
            nll = self.likelihood.nll(x, dec[-1], self.params, kern, ws)    # the values first, no gradient
            loss_b, weights = self.latent.iwae_weights(nll.reshape(k, batch), mu_logvar, eps3,
                                                       z.reshape(k, batch, n_latent), beta, 1.0 / batch, kern, ws)
            recon, kl_mean = float(np.mean(nll, dtype=np.float64)), float(np.mean(kl, dtype=np.float64))
            loss = float(np.mean(loss_b))
            # ---- backward: each sample's gradient weighted by its normalised weight / B ----------
            nll, grad_out, lik_grads = self.likelihood.nll_grad(x, dec[-1], self.params, weights.reshape(rows),
                                                                kern, ws)
            decoder_grads, grad_z = self.decoder.backward(self.params, dec, grad_out, kern, ws, need_input_grad=True,
                                                          labels=y_rows)
            assert grad_z is not None                               # need_input_grad=True
            grad_mu_logvar = self.latent.iwae_backward(mu_logvar, eps3, z.reshape(k, batch, n_latent),
                                                       grad_z.reshape(k, batch, n_latent), weights, beta, kern, ws)
        encoder_grads, _ = self.encoder.backward(self.params, enc, grad_mu_logvar, kern, ws, labels=y)
        grads = {**decoder_grads, **encoder_grads, **lik_grads}
        return StepResult(loss, recon, kl_mean, OrderedDict((name, grads[name]) for name in self.params))

    # -----------------------------------------------------------------------------------------
    # inference
    # -----------------------------------------------------------------------------------------
    def encode(self, x: DataLike, y: ArrayLike | None = None) -> tuple[FloatArray, FloatArray]:
        """Return the parameters of q(z|x) (q(z|x, y) for a conditional model): ``mu`` and ``logvar``.

        Parameters
        ----------
        x : array_like or scipy.sparse matrix, shape (n, n_input)
            The data (``check_input``, support not checked); an ``np.memmap`` is read a chunk at a time.
        y : array_like of int, shape (n,), or int, optional
            A conditional model's labels, one per example or one for all; refused by an unconditional model.

        Returns
        -------
        mu : numpy.ndarray, shape (n, n_latent)
            The means, of the model's dtype.
        logvar : numpy.ndarray, shape (n, n_latent)
            The log-variances as the encoder outputs them (not clamped: the model clamps them to [-30, 30]
            where it uses them), of the model's dtype.

        Raises
        ------
        TypeError
            When x or y has the wrong type (see ``check_input`` and ``check_labels``).
        ValueError
            When x or y has a wrong value or shape (see ``check_input`` and ``check_labels``).

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> x = np.random.default_rng(0).random((5, 16))
        >>> mu, logvar = model.encode(x)                   # q(z|x) = N(mu, diag(exp(logvar)))
        >>> mu.shape, logvar.shape, mu.dtype
        ((5, 2), (5, 2), dtype('float32'))
        >>> z = mu + np.exp(logvar / 2) * np.random.default_rng(1).standard_normal(mu.shape)   # a draw of z
        >>> model.decode(z).shape
        (5, 16)
        """
        x = self.check_input(x, support=False, lazy=True)
        y = self.check_labels(y, x.shape[0])
        if isinstance(x, LazyRows):         # a chunk at a time: memory bounded by the chunk, not by n
            mu, logvar = np.empty((x.shape[0], self.n_latent), self.dtype), np.empty((x.shape[0], self.n_latent),
                                                                                      self.dtype)
            for begin in range(0, x.shape[0], x.step):
                sl = slice(begin, begin + x.step)
                out = self.encoder.forward(self.params, x[sl], backend.kernels(),
                                           labels=None if y is None else y[sl])[-1]
                mu[sl], logvar[sl] = out[:, :self.n_latent], out[:, self.n_latent:]
            return mu, logvar
        mu_logvar = self.encoder.forward(self.params, x, backend.kernels(), labels=y)[-1]
        return mu_logvar[:, :self.n_latent].copy(), mu_logvar[:, self.n_latent:].copy()

    def decode(self, z: ArrayLike, y: ArrayLike | None = None) -> FloatArray:
        """Return the mean of p(x|z) (p(x|z, y) for a conditional model) for latent codes z.

        Parameters
        ----------
        z : array_like, shape (n, n_latent)
            Latent codes (``check_latent``).
        y : array_like of int, shape (n,), or int, optional
            A conditional model's labels, one per code or one for all; refused by an unconditional model.

        Returns
        -------
        numpy.ndarray, shape (n, n_input)
            The mean of p(x|z), of the model's dtype: the probabilities for the Bernoulli, the mean of the
            continuous Bernoulli, the Gaussian's mean, the word probabilities for the multinomial.

        Raises
        ------
        TypeError
            When z or y has the wrong type (see ``check_latent`` and ``check_labels``).
        ValueError
            When z or y has a wrong value or shape (see ``check_latent`` and ``check_labels``).

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> probs = model.decode(np.zeros((3, 2)))         # at the prior's mean z = 0
        >>> probs.shape, probs.dtype
        ((3, 16), dtype('float32'))
        >>> bool(np.all((probs > 0) & (probs < 1)))        # Bernoulli: the mean of p(x|z) is a probability
        True
        >>> x = np.random.default_rng(0).random((5, 16))
        >>> mu, _ = model.encode(x)
        >>> np.allclose(model.decode(mu), model.reconstruct(x))
        True
        """
        z = self.check_latent(z)
        y = self.check_labels(y, z.shape[0])
        out = self.decoder.forward(self.params, z, backend.kernels(), labels=y)[-1]
        return self.likelihood.mean(out, self.params)

    def reconstruct(self, x: DataLike, y: ArrayLike | None = None) -> FloatArray:
        """Return decode(mu(x)), the mean of p(x|z) at the mean of q(z|x).

        Parameters
        ----------
        x : array_like or scipy.sparse matrix, shape (n, n_input)
            The data (``check_input``, support not checked; an ``np.memmap`` is copied whole).
        y : array_like of int, shape (n,), or int, optional
            A conditional model's labels, as in ``encode``.

        Returns
        -------
        numpy.ndarray, shape (n, n_input)
            The reconstructions, of the model's dtype.

        Raises
        ------
        TypeError
            When x or y has the wrong type (see ``check_input`` and ``check_labels``).
        ValueError
            When x or y has a wrong value or shape (see ``check_input`` and ``check_labels``).
        """
        x = self.check_input(x, support=False)
        y = self.check_labels(y, x.shape[0])
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    def sample(self, n: int, rng: SeedLike = None, *, y: ArrayLike | None = None) -> FloatArray:
        """Draw n codes z ~ N(0, I) and return the means of p(x|z) (p(x|z, y) for a conditional model).

        Parameters
        ----------
        n : int
            The number of samples, >= 1.
        rng : numpy.random.Generator, seed or None, default None
            A Generator or a seed; None uses a fixed stream derived from the model's seed, so the same call
            gives the same images (the training generator is left untouched).
        y : array_like of int, shape (n,), or int, optional
            A conditional model's label, one integer for all n images or an array of n.

        Returns
        -------
        numpy.ndarray, shape (n, n_input)
            ``decode(z, y)`` of the n draws, of the model's dtype.

        Raises
        ------
        TypeError
            When n is not an integer, rng is not a Generator or a seed, or y does not hold integers.
        ValueError
            When n < 1, rng is a negative seed, or y is wrong for the model (see ``check_labels``).

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> images = model.sample(4)
        >>> images.shape, images.dtype
        ((4, 16), dtype('float32'))
        >>> np.allclose(images, model.sample(4))           # rng=None: a fixed stream, the same images
        True
        >>> np.allclose(images, model.sample(4, rng=1))    # another seed, other draws
        False
        """
        n = positive_int("n", n)
        y = self.check_labels(y, n)
        rng = as_rng(rng, [self.seed, 1])
        return self.decode(self.latent.draw_eps((n, self.n_latent), self.dtype, rng), y)

    def elbo(self, x: DataLike, y: ArrayLike | None = None, k: int = 1, rng: SeedLike = None, batch_size: int = 1000,
             *, comm: Any = None) -> FloatArray:
        """Compute the per-example ELBO in nats: E_q[log p(x|z)] - KL, averaged over k draws of z.

        The KL is in closed form; ``purevae.objectives.elbo_per_example`` computes it, ``batch_size``
        examples at a time. Derivation: docs/derivations.md#elbo.

        Parameters
        ----------
        x : array_like or scipy.sparse matrix, shape (n, n_input)
            The data (``check_input``); an ``np.memmap`` is read a chunk at a time.
        y : array_like of int, shape (n,), or int, optional
            For a conditional model, the labels: the bound is then on log p(x|y) (as in ``encode``).
        k : int, default 1
            Draws of z per example, >= 1.
        rng : numpy.random.Generator, seed or None, default None
            As in ``sample``; None gives the same answer on every call.
        batch_size : int, default 1000
            Examples per encoder and decoder pass (memory, not the result).
        comm : mpi4py communicator or None, default None
            Its ranks share the examples out and each return the full result (``purevae.parallel``).

        Returns
        -------
        numpy.ndarray, shape (n,)
            The ELBO of each example, in nats, float64.

        Raises
        ------
        TypeError
            When an argument has the wrong type (see ``check_input``, ``check_labels``; a float for ``k``).
        ValueError
            When an argument has a wrong value (``k`` or ``batch_size`` < 1, x or y fails its check).

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> x = np.random.default_rng(0).random((5, 16))
        >>> elbo = model.elbo(x)                           # one value per example, nats
        >>> elbo.shape, elbo.dtype
        ((5,), dtype('float64'))
        >>> bool(np.all(elbo < 0))                         # Bernoulli: log p(x|z) <= 0 and KL >= 0
        True
        >>> np.allclose(elbo, model.elbo(x))               # rng=None: the same draws of z on every call
        True
        >>> model.elbo(x, k=10).shape                      # averaged over 10 draws of z per example
        (5,)
        """
        return objectives.elbo_per_example(self, x, k=k, rng=rng, batch_size=batch_size, y=y, comm=comm)

    def log_likelihood(self, x: DataLike, y: ArrayLike | None = None, k: int = 5000, rng: SeedLike = None,
                       batch_size: int = 100, max_rows: int = 4096, *, comm: Any = None) -> FloatArray:
        """Compute the per-example importance-weighted estimate of log p(x) in nats (Burda et al. 2016).

        See ``purevae.objectives.log_likelihood`` for the estimator, its memory use and ``comm``.
        Derivation: docs/derivations.md#iwae.

        Parameters
        ----------
        x : array_like or scipy.sparse matrix, shape (n, n_input)
            The data (``check_input``); an ``np.memmap`` is read a chunk at a time.
        y : array_like of int, shape (n,), or int, optional
            For a conditional model, the labels: the estimate is then of log p(x|y) (as in ``encode``).
        k : int, default 5000
            Importance samples per example, >= 1.
        rng : numpy.random.Generator, seed or None, default None
            As in ``sample``; None gives the same answer on every call.
        batch_size : int, default 100
            Examples per encoder pass.
        max_rows : int, default 4096
            The most decoder rows at once (``max(1, max_rows // batch_size)`` samples of a chunk at a time).
        comm : mpi4py communicator or None, default None
            Its ranks share the chunks out and each return the full result (``purevae.parallel``).

        Returns
        -------
        numpy.ndarray, shape (n,)
            The estimate of each example, in nats, float64.

        Raises
        ------
        TypeError
            When an argument has the wrong type (see ``check_input``, ``check_labels``; a float for ``k``).
        ValueError
            When an argument has a wrong value (``k``, ``batch_size`` or ``max_rows`` < 1, x or y fails its
            check).

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> x = np.random.default_rng(0).random((64, 16))
        >>> log_px = model.log_likelihood(x, k=100)        # 100 importance samples per example
        >>> log_px.shape, log_px.dtype
        ((64,), dtype('float64'))
        >>> bool(log_px.mean() > model.elbo(x, k=100).mean())    # on average a tighter bound than the ELBO
        True
        """
        return objectives.log_likelihood(self, x, k=k, rng=rng, batch_size=batch_size, max_rows=max_rows, y=y,
                                         comm=comm)

    # -----------------------------------------------------------------------------------------
    # training and files
    # -----------------------------------------------------------------------------------------
    def fit(self, x: DataLike, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3,
            validation_data: DataLike | tuple[DataLike, ArrayLike] | None = None, *,
            y: ArrayLike | None = None, optimizer: str = "adam", beta: float = 1.0, warmup_epochs: int = 0,
            shuffle: bool = True, binarize: bool = False, verbose: bool = False,
            callback: Callable[[dict], None] | None = None, checkpoint: PathLike | None = None,
            checkpoint_every: int | None = None, objective: str = "elbo", k: int = 1, free_bits: float = 0.0,
            beta_schedule: Callable[[int, int], float] | None = None, comm: Any = None) -> dict[str, list]:
        """Train with minibatches of the negative ELBO (or the IWAE bound); calling it again continues training.

        This method calls ``purevae.train.fit`` with the same arguments; its docstring says in full what each
        one means and what the history holds.

        Parameters
        ----------
        x : array_like or scipy.sparse matrix, shape (n, n_input)
            Training data, cast once to the model's dtype (values in [0, 1] for Bernoulli); an ``np.memmap``
            is validated in chunks, then read a batch at a time.
        epochs : int, default 10
            Epochs to run in this call.
        batch_size : int, default 128
            Examples per step (1 <= batch_size <= n); the last batch of an epoch may be smaller.
        lr : float, default 1e-3
            Learning rate, > 0 (updates the existing optimizer's rate when continuing).
        validation_data : array_like, tuple (x_val, y_val) or None, default None
            Evaluated after each epoch (negative ELBO with beta = 1); a tuple for a conditional model.
        y : array_like of int, shape (n,), optional
            A conditional model's labels of x; required for a conditional model, refused by an
            unconditional one.
        optimizer : {"adam", "sgd"}, default "adam"
            Adam (PyTorch's defaults) or SGD with momentum 0.9; changing it starts a fresh optimizer state.
        beta : float, default 1.0
            Weight of the KL term once warm-up is over, >= 0.
        warmup_epochs : int, default 0
            Linear KL warm-up over this many epochs (0: none).
        shuffle : bool, default True
            Draw a new permutation of x every epoch.
        binarize : bool, default False
            Dynamic binarization: every epoch trains on a fresh Bernoulli draw with probabilities x.
        verbose : bool, default False
            Print one line per epoch to stderr.
        callback : callable or None, default None
            Called after every epoch with that epoch's record (a dict with the keys of the history).
        checkpoint : str or os.PathLike or None, default None
            Where to save a checkpoint (ending in .npz) at the end of every epoch (and every
            ``checkpoint_every`` steps); ``purevae.load`` of it then ``fit`` continues bit-identically.
        checkpoint_every : int or None, default None
            Also checkpoint every this many optimizer steps (needs ``checkpoint``).
        objective : {"elbo", "iwae"}, default "elbo"
            The loss of every step (``VAE.loss_and_grads``).
        k : int, default 1
            Samples of z per example and step, >= 1.
        free_bits : float, default 0.0
            "elbo" only: the free-bits floor of every latent dimension's KL, in nats (0: none).
        beta_schedule : callable or None, default None
            ``(step, epoch) -> beta``, the KL weight of every step (``purevae.schedules``); it replaces
            ``beta`` and ``warmup_epochs``, which must then be left at 1 and 0.
        comm : mpi4py communicator or None, default None
            Data-parallel training over its ranks (``purevae.parallel``); ``batch_size`` is the global batch.

        Returns
        -------
        dict of str to list
            The history (``self.history``), accumulated over every call: one entry per epoch under each key
            (epoch, beta, loss, recon, kl, the validation numbers, examples_per_sec, time).

        Raises
        ------
        purevae.train.TrainingDiverged
            When a step's loss, or the validation loss, is NaN or inf.
        TypeError
            When an argument has the wrong type.
        ValueError
            When an argument has a wrong value (``batch_size`` larger than n, ``free_bits`` > 0 with "iwae",
            ``checkpoint_every`` without ``checkpoint``, a ``beta_schedule`` with ``beta`` or
            ``warmup_epochs`` changed, a schedule's beta negative or not finite, ...).

        Examples
        --------
        >>> from purevae import VAE
        >>> rng = np.random.default_rng(0)
        >>> x_train, x_val = rng.random((64, 16)), rng.random((32, 16))
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> history = model.fit(x_train, epochs=2, batch_size=16, validation_data=x_val)
        >>> sorted(history)
        ['beta', 'epoch', 'examples_per_sec', 'kl', 'loss', 'recon', 'time', 'val_active_units', 'val_kl',
         'val_kl_per_dimension', 'val_loss', 'val_recon']
        >>> history["epoch"], len(history["loss"]), len(history["val_loss"])
        ([1, 2], 2, 2)
        >>> bool(np.isclose(history["loss"][-1], history["recon"][-1] + history["kl"][-1]))   # nats per example
        True

        Calling ``fit`` again continues training, and the history:

        >>> history = model.fit(x_train, epochs=1, batch_size=16)
        >>> history["epoch"], model.epochs_trained, model.steps_trained
        ([1, 2, 3], 3, 12)
        """
        return train.fit(self, x, epochs=epochs, batch_size=batch_size, lr=lr, validation_data=validation_data,
                         y=y, optimizer=optimizer, beta=beta, warmup_epochs=warmup_epochs, shuffle=shuffle,
                         binarize=binarize, verbose=verbose, callback=callback, checkpoint=checkpoint,
                         checkpoint_every=checkpoint_every, objective=objective, k=k, free_bits=free_bits,
                         beta_schedule=beta_schedule, comm=comm)

    def save(self, path: PathLike) -> Path:
        """Write the parameters, the JSON config and the training counters to a file, atomically.

        An ``.npz`` (purevae's format), or a ``.safetensors`` file (the tensors of ``state_dict``, the config in
        its ``__metadata__``); see ``purevae.io``. ``purevae.load`` reads either back.

        Parameters
        ----------
        path : str or os.PathLike
            The file, ending in ``.npz`` or ``.safetensors``; its folder is made when missing.

        Returns
        -------
        pathlib.Path
            The path written.

        Raises
        ------
        TypeError
            When ``path`` is not a str or os.PathLike.
        ValueError
            When ``path`` ends in neither ``.npz`` nor ``.safetensors``.
        OSError
            When writing fails (the previous file, if any, is left as it was).

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import purevae
        >>> model = purevae.VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = model.save(Path(tmp) / "model.npz")
        ...     restored = purevae.load(path)
        >>> path.name
        'model.npz'
        >>> all(np.array_equal(restored.params[name], model.params[name]) for name in model.params)
        True
        """
        return io.save(self, path)

    # -----------------------------------------------------------------------------------------
    # weights for other frameworks
    # -----------------------------------------------------------------------------------------
    @staticmethod
    def _is_dense_weight(name: str) -> bool:
        return name.endswith(".weight") and not name.endswith(".label_weight")

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Return the parameters under their names, every dense weight in ``torch.nn.Linear``'s (n_out, n_in) layout.

        A torch module whose submodules are named like the layers (``encoder.0``, ``encoder.out``,
        ``decoder.0``, ``decoder.out``, a parameter ``decoder.logvar``) loads it with
        ``load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)``.

        Returns
        -------
        collections.OrderedDict of str to numpy.ndarray
            New C-contiguous arrays in the order of ``params``: the transpose of ``params[name]`` for
            ``<layer>.weight``; ``label_weight`` (n_classes, n_out) is ``torch.nn.Embedding``'s layout already,
            and biases and ``decoder.logvar`` are as they are.

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
        >>> sd = model.state_dict()
        >>> list(sd) == list(model.params)
        True
        >>> sd["encoder.0.weight"].shape, model.params["encoder.0.weight"].shape   # torch's (n_out, n_in)
        ((8, 16), (16, 8))
        >>> np.array_equal(sd["encoder.0.weight"], model.params["encoder.0.weight"].T)
        True
        """
        return OrderedDict((name, np.array(value.T if self._is_dense_weight(name) else value, order="C", copy=True))
                           for name, value in self.params.items())

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike]) -> None:
        """Copy a ``state_dict`` (names and layout of ``state_dict()``) into the parameters, cast to the model's dtype.

        Every entry is checked before any is copied, so on an error the parameters are unchanged.

        Parameters
        ----------
        state_dict : mapping of str to array_like
            Values may be NumPy arrays or anything with ``__array__`` (a CPU torch tensor: ``.detach()`` it
            first), of real numbers (integers are cast too).

        Raises
        ------
        TypeError
            When ``state_dict`` is not a mapping, a key is not a str, or a value is not convertible to an
            array of real numbers.
        ValueError
            Naming the entry, for a missing or unexpected name, a wrong shape, or NaN / inf.
        """
        arrays = _state_arrays(state_dict)
        expected = self.state_dict()
        missing, unexpected = sorted(set(expected) - set(arrays)), sorted(set(arrays) - set(expected))
        if missing or unexpected:
            raise ValueError(f"state_dict does not match the model: missing {missing}, unexpected {unexpected}")
        for name, want in expected.items():
            value = arrays[name]
            if value.shape != want.shape:
                raise ValueError(f"state_dict[{name!r}] has shape {value.shape}, expected {want.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"state_dict[{name!r}] contains NaN or inf")
        for name, target in self.params.items():
            value = arrays[name]
            target[...] = value.T if self._is_dense_weight(name) else value

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, ArrayLike], **options: Any) -> "VAE":
        """Build a model from a ``state_dict`` (``state_dict()``'s names and layout), its sizes read from the shapes.

        ``n_input``, ``hidden``, ``n_latent``, ``decoder_hidden`` and ``n_classes`` come from the arrays; the rest
        are ``options``. ``likelihood`` defaults to "gaussian" (learned variance) when the dict has
        ``decoder.logvar``, else to "bernoulli"; ``dtype`` to the arrays' when they all are float32 or all
        float64 (else to ``VAE``'s default).

        Parameters
        ----------
        state_dict : mapping of str to array_like
            The arrays, as ``load_state_dict`` takes them.
        **options
            ``VAE``'s other arguments, as it takes them (``activation``, ``likelihood``, ``dtype``, ``alpha``,
            ``seed``, ...).

        Returns
        -------
        VAE
            A new model holding the arrays' values.

        Raises
        ------
        TypeError
            When ``options`` holds one of the sizes read from the arrays, or an argument or array has the
            wrong type (as ``VAE`` and ``load_state_dict`` raise it).
        ValueError
            When the arrays are not those of a purevae model (no ``<side>.out.weight``, weights that are not
            2-D, an odd number of encoder outputs, a ``label_weight`` on one side only, a decoder that does
            not fit the encoder), or as ``VAE`` and ``load_state_dict`` raise it.

        Examples
        --------
        >>> from purevae import VAE
        >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, activation="tanh", seed=0)
        >>> copy = VAE.from_state_dict(model.state_dict(), activation="tanh")    # what the shapes cannot say
        >>> copy
        VAE(n_input=16, hidden=(8,), n_latent=2, likelihood='bernoulli', activation='tanh', dtype='float32', seed=0)
        >>> all(np.array_equal(copy.params[name], model.params[name]) for name in model.params)
        True
        """
        arrays = _state_arrays(state_dict)
        sizes: dict = {}
        for side in ("encoder", "decoder"):
            depth = 0
            while f"{side}.{depth}.weight" in arrays:
                depth += 1
            if f"{side}.out.weight" not in arrays:
                raise ValueError(f"state_dict has no {side}.out.weight: not a purevae state dict")
            layers = [f"{side}.{i}" for i in range(depth)] + [f"{side}.out"]
            shapes = [arrays[f"{name}.weight"].shape for name in layers]
            if any(len(shape) != 2 for shape in shapes):
                raise ValueError(f"state_dict: the {side}'s weights must be 2-D (n_out, n_in), got {shapes}")
            sizes[side] = [shapes[0][1]] + [shape[0] for shape in shapes]
            label = f"{layers[0]}.label_weight"
            sizes[f"{side}.classes"] = arrays[label].shape[0] if label in arrays else None
        enc, dec = sizes["encoder"], sizes["decoder"]
        if enc[-1] % 2:
            raise ValueError(f"state_dict: encoder.out.weight has {enc[-1]} outputs, not 2 n_latent")
        if sizes["encoder.classes"] != sizes["decoder.classes"]:
            raise ValueError("state_dict: a label_weight on one side only (a conditional model has one on each)")
        options = dict(options)
        options.setdefault("likelihood", "gaussian" if "decoder.logvar" in arrays else "bernoulli")
        dtypes = {a.dtype for a in arrays.values()}
        if "dtype" not in options and len(dtypes) == 1 and dtypes <= {np.dtype(np.float32), np.dtype(np.float64)}:
            options["dtype"] = dtypes.pop().name
        for fixed in ("n_input", "hidden", "n_latent", "decoder_hidden", "n_classes"):
            if fixed in options:
                raise TypeError(f"from_state_dict reads {fixed} from the arrays; it is not an option")
        model = cls(enc[0], hidden=tuple(enc[1:-1]), n_latent=enc[-1] // 2, decoder_hidden=tuple(dec[1:-1]),
                    n_classes=sizes["encoder.classes"], **options)
        if dec[0] != model.n_latent or dec[-1] != model.n_input:
            raise ValueError(f"state_dict: the decoder maps {dec[0]} -> {dec[-1]}, the encoder {enc[0]} -> "
                             f"{enc[-1] // 2} latent dimensions")
        model.load_state_dict(arrays)
        return model


def _state_arrays(state_dict: object) -> dict[str, np.ndarray]:
    """name -> ndarray from a mapping of arrays or array-likes; TypeError for what is not one."""
    if not hasattr(state_dict, "items"):
        raise TypeError(f"state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"state_dict keys must be str, got {name!r}")
        try:
            a = np.asarray(value)
        except (TypeError, ValueError, RuntimeError) as exc:   # e.g. a torch tensor that requires grad
            raise TypeError(f"state_dict[{name!r}] is not convertible to an array ({exc}); for torch tensors "
                            f"pass .detach().cpu()") from None
        if a.dtype.kind not in "iuf":
            raise TypeError(f"state_dict[{name!r}] must hold real numbers, got dtype {a.dtype}")
        arrays[name] = a
    return arrays


def load(path: PathLike) -> VAE:
    """Load a model (or a checkpoint) saved by ``VAE.save`` / ``fit(checkpoint=)``: ``purevae.load``.

    The file is checked against its config before any array is read, and nothing larger than the file
    justifies is allocated (see ``purevae.io``).

    Parameters
    ----------
    path : str or os.PathLike
        An ``.npz`` (purevae's format, models and checkpoints) or a ``.safetensors`` file written by
        ``VAE.save``.

    Returns
    -------
    VAE
        The model, with its parameters and training counters; from a checkpoint also its optimizer state,
        generator state, history and the position where ``fit`` resumes.

    Raises
    ------
    TypeError
        When ``path`` is not a str or os.PathLike.
    FileNotFoundError
        When there is no such file.
    ValueError
        Naming the file, for a corrupt, foreign, hostile or mismatched one.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from purevae.model import VAE, load
    >>> model = VAE(n_input=16, hidden=(8,), n_latent=2, seed=0)
    >>> history = model.fit(np.random.default_rng(0).random((64, 16)), epochs=2, batch_size=16)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     restored = load(model.save(Path(tmp) / "model.npz"))
    >>> restored
    VAE(n_input=16, hidden=(8,), n_latent=2, likelihood='bernoulli', activation='relu', dtype='float32', seed=0)
    >>> restored.epochs_trained, restored.config() == model.config()
    (2, True)
    >>> z = np.zeros((1, 2))
    >>> np.allclose(restored.decode(z), model.decode(z))
    True
    """
    if isinstance(path, (str, os.PathLike)) and Path(path).suffix == ".safetensors":
        meta, tensors = io.read_safetensors_model(path, lambda c: VAE.param_shapes_of(c, layout="state_dict"))
        try:
            model = VAE(**meta["config"])
            model.load_state_dict(tensors)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{str(path)!r} does not hold a valid model: {exc}") from None
        io.restore_counters(model, path, meta)
        return model
    meta, arrays = io.read_model_npz(path, VAE.param_shapes_of)
    try:
        model = VAE(**meta["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{str(path)!r} has an invalid config: {exc}") from None
    io.restore(model, path, meta, arrays)
    return model
