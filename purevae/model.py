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

==================  ======================================  ==================================================
attribute           object                                   does
==================  ======================================  ==================================================
``encoder``         ``purevae.mlp.MLP``                      x -> [mu | logvar]: ``forward`` / ``backward``
``latent``          ``purevae.latent.GaussianLatent``        eps, z = mu + sigma eps, the KL, log p(z), log q(z|x)
``decoder``         ``purevae.mlp.MLP``                      z -> the likelihood's parameters
``likelihood``      ``purevae.likelihoods.Likelihood``       -log p(x|z) and its gradient; the mean of p(x|z)
``workspaces``      ``purevae.workspace.WorkspaceCache``     one ``Workspace`` per batch size, for ``fit``
==================  ======================================  ==================================================

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
    """What one training step returns (``VAE.step``)."""

    loss: float                 #: recon + beta * kl, nats per example
    recon: float                #: mean over the batch of -log p(x|z)
    kl: float                   #: mean over the batch of KL(q(z|x) || N(0, I))
    grads: "OrderedDict[str, np.ndarray]"  #: d loss / d param, the names and order of ``params``


class VAE:
    r"""A Variational Autoencoder with MLP encoder and decoder, written by hand in NumPy.

    Parameters
    ----------
    n_input : int
        Number of features of one example (784 for 28 x 28 images).
    hidden : sequence of int
        Widths of the encoder's hidden layers; ``()`` makes the encoder a linear map.
    n_latent : int
        Dimension of z.
    likelihood : "bernoulli", "continuous_bernoulli", "gaussian" or "multinomial"
        p(x|z). Bernoulli reads the decoder output as logits (targets in [0, 1]: for grey values a
        cross-entropy, not a density); the continuous Bernoulli as logits of a normalised density on [0, 1]
        (Loaiza-Ganem & Cunningham 2019); Gaussian as a mean; the multinomial as logits over a vocabulary, for
        x of word counts (dense or scipy.sparse; Miao et al. 2016).
    variance : float or None
        Gaussian only: a fixed pixel variance, or None to learn a per-pixel log-variance.
    activation : str
        Hidden non-linearity: relu, tanh, softplus, leaky_relu, elu (or identity).
    alpha : float or None
        Slope of leaky_relu (default 0.01) or scale of elu (default 1.0).
    decoder_hidden : sequence of int or None
        Widths of the decoder's hidden layers; None mirrors ``hidden``.
    dtype : "float32" or "float64"
        The precision of every parameter and computation; inputs are cast once at the edge.
    seed : int or None
        Seeds the model's ``numpy.random.Generator`` (initialisation, shuffling, eps). None draws one
        and stores it in ``self.seed``.
    vocabulary : sequence of str or None
        The words of the n_input columns, for a bag-of-words model (``likelihood="multinomial"``): kept in the
        config (and so in the model file), so that ``purevae.text.encode_texts`` can turn new texts into counts.
    n_classes : int or None
        None (default): an unconditional VAE. C >= 1: a conditional VAE (Sohn, Lee & Yan 2015) whose encoder
        q(z|x, y) and decoder p(x|z, y) both see a label y in 0..C-1; every method that takes data then needs
        ``y`` (one integer label per example, or one integer for all of them).

    Notes
    -----
    Initialisation is PyTorch's ``nn.Linear`` default: every weight and bias uniform in
    +-1/sqrt(fan_in), drawn in float64 from the seeded generator (then cast), so float32 and float64
    models with the same seed start from the same point.
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
        """The name and shape of every parameter, in the order of ``params`` (encoder, decoder, likelihood)."""
        shapes = self.encoder.param_shapes()
        shapes.update(self.decoder.param_shapes())
        shapes.update(self.likelihood.extra_shapes(self.n_input))
        return shapes

    @classmethod
    def param_shapes_of(cls, config: Mapping[str, Any], layout: str = "params"
                        ) -> tuple[OrderedDict[str, tuple[int, ...]], np.dtype]:
        """(shapes, dtype) of the parameters ``VAE(**config)`` would have, without allocating any of them.

        ``config`` is validated as ``VAE()`` validates its arguments, limits included (``MAX_PARAMETERS``,
        ``MAX_LAYERS``, ``MAX_WIDTH``): TypeError or ValueError naming the argument. ``layout="params"`` gives
        ``params``' shapes, ``"state_dict"`` those of ``state_dict()`` (dense weights as (n_out, n_in)).
        ``purevae.load`` compares a file's arrays with these before reading any of them.
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
        """The JSON-able architecture, enough to rebuild the model with ``VAE(**config)``."""
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
        """A copy of the model (parameters cast, no optimizer state) in another dtype ("float32" or "float64")."""
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
        """x as a validated (n, n_input) C-contiguous array of the model's dtype (``validation.check_data``).

        A scipy.sparse matrix becomes a canonical CSR matrix of the model's dtype (``validation.check_sparse``)
        for a likelihood that takes one (the multinomial), else a dense array.
        ``support``: also check that x lies where p(x|z) has mass (e.g. [0, 1] for Bernoulli).
        ``lazy``: an ``np.memmap`` (or any row-indexable array, ``validation.is_lazy``) is not copied but
        validated in chunks and returned as a ``validation.LazyRows``, read and cast a batch at a time (``fit``,
        ``elbo``, ``log_likelihood`` and ``encode`` take one); without it, it is copied whole.
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
        """z as a validated (n, n_latent) C-contiguous array of the model's dtype."""
        return check_data(name, z, self.n_latent, self.dtype)

    @property
    def conditional(self) -> bool:
        """True for a conditional VAE (``n_classes`` given): its methods need the labels ``y``."""
        return self.n_classes is not None

    def check_labels(self, y: ArrayLike | None, n: int, name: str = "y") -> IntArray | None:
        """The labels of n examples as a validated ``np.intp`` array (n,), or None for an unconditional model.

        A conditional model needs y (one integer in 0..n_classes-1 per example, or one for all); an
        unconditional one refuses it (ValueError), so a label is never silently ignored.
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
        """The labels of the decoder's k B rows (sample-major: row i B + b has y[b]); y itself when k = 1."""
        if y is None or k == 1:
            return y
        rows = ws.array("labels.rows", (k * y.shape[0],), np.intp)
        rows.reshape(k, y.shape[0])[...] = y
        return rows

    def check_eps(self, eps: ArrayLike, batch: int) -> FloatArray:
        """eps of shape (batch, n_latent) or (k, batch, n_latent), validated and cast to the model's dtype."""
        return check_eps(eps, batch, self.n_latent, self.dtype)

    def workspace(self, batch: int) -> Workspace:
        """The ``Workspace`` of a step of ``batch`` rows (``self.workspaces``; made on first use)."""
        return self.workspaces.get(batch)

    # -----------------------------------------------------------------------------------------
    # one training step
    # -----------------------------------------------------------------------------------------
    def loss_and_grads(self, x: DataLike, eps: ArrayLike | None = None, beta: float = 1.0, *,
                       y: ArrayLike | None = None, objective: str = "elbo",
                       k: int | None = None, free_bits: float = 0.0) -> tuple[float, dict[str, np.ndarray]]:
        r"""The loss of a batch, in nats per example, and its gradient for every parameter.

        objective "elbo" (default), the mean negative ELBO, with the KL in closed form:

            loss = (1/B) sum_b [ (1/k) sum_i -log p(x_b | z_ib) + beta * KL(q(z|x_b) || N(0, I)) ],
            z_ib = mu_b + exp(logvar_b / 2) * eps_ib

        objective "iwae", the negative importance-weighted bound of Burda et al. (2016), k samples each:

            loss = (1/B) sum_b -log (1/k) sum_i w_ib,
            log w_ib = log p(x_b | z_ib) + beta * (log p(z_ib) - log q(z_ib | x_b))

        (beta = 1 gives the bound; k = 1 gives the ELBO with the KL sampled instead of closed form.)

        Parameters
        ----------
        x : array, shape (B, n_input)
        eps : array, shape (B, n_latent) or (k, B, n_latent), optional
            The noise of the reparameterization. Default: drawn from the model's generator (``self.rng``).
        beta : float
            Weight of the KL term (1 gives the ELBO or the bound; warm-up ramps it).
        y : array of int, shape (B,), or int
            The labels of a conditional model (``n_classes``): then every term is conditioned on y,
            q(z|x, y) and p(x|z, y). Required for a conditional model, refused by an unconditional one.
        objective : "elbo" or "iwae"
        k : int >= 1, optional
            Samples per example; must agree with eps's k when both are given. Default: eps's k, else 1.
        free_bits : float >= 0
            "elbo" only: the KL term becomes sum_j max(free_bits, KL_j), KL_j the batch mean of dimension
            j's KL (Kingma et al. 2016); 0 (default) is the plain ELBO.

        Returns
        -------
        loss : float
        grads : dict name -> ndarray, same names and shapes as ``self.params``; new arrays the caller owns
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
        r"""One step on validated arrays: ``StepResult(loss, recon, kl, grads)``; what ``fit`` and ``gradcheck`` call.

        ``x`` comes from ``check_input`` and ``eps`` from ``check_eps``: (B, L), or (k, B, L) for k samples per
        example; None draws (B, L) from ``self.rng``, or (k, B, L) when ``k > 1`` or for "iwae". ``y``: a
        conditional model's labels (B,) (``check_labels``); the decoder's k B rows take them tiled (``label_rows``).
        ``ws`` is where every array of the step comes from (``purevae.workspace``): ``FRESH`` makes new ones
        (what ``loss_and_grads`` uses); a ``Workspace`` (``self.workspace(batch)``, what ``fit`` uses) hands
        out the same arrays on every call, so a steady-state step allocates no large array and the returned
        gradients are overwritten by the next step with that workspace.

        objective "elbo": loss = (1/B) sum_b [ (1/k) sum_i -log p(x_b | z_ib) + beta KL_b ]
        objective "iwae": loss = (1/B) sum_b [ log k - logsumexp_i log w_ib ],
                          log w_ib = log p(x_b | z_ib) + beta (log p(z_ib) - log q(z_ib | x_b))
        The encoder runs once on the B rows; the decoder on the k B rows z_ib (sample-major: row i B + b).
        ``recon`` and ``kl`` are the batch means of -log p(x|z) (over the k samples) and of the closed-form KL;
        for "elbo" loss = recon + beta kl, for "iwae" loss is the bound. ``free_bits`` = lam > 0 ("elbo" only,
        Kingma et al. 2016) replaces the KL term by sum_j max(lam, KL_j), KL_j the batch mean of dimension j's
        KL: dimensions below lam get no KL gradient. ``kl_dims`` (n_latent,) replaces this batch's KL_j in that
        term (its value and which dimensions sit on the floor): a data-parallel step passes the global batch's,
        of which ``x`` is one rank's share (``purevae.parallel``). Derivations: docs/derivations.md#elbo,
        #free-bits and #iwae-training.
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
        """The parameters of q(z|x) (q(z|x, y) for a conditional model): ``mu`` and ``logvar``, each (n, n_latent)."""
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
        """The mean of p(x|z) (p(x|z, y) for a conditional model) for latent codes z (n, n_latent): (n, n_input)."""
        z = self.check_latent(z)
        y = self.check_labels(y, z.shape[0])
        out = self.decoder.forward(self.params, z, backend.kernels(), labels=y)[-1]
        return self.likelihood.mean(out, self.params)

    def reconstruct(self, x: DataLike, y: ArrayLike | None = None) -> FloatArray:
        """decode(mu(x)): the mean of p(x|z) at the mean of q(z|x), shape (n, n_input); y as in ``encode``."""
        x = self.check_input(x, support=False)
        y = self.check_labels(y, x.shape[0])
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    def sample(self, n: int, rng: SeedLike = None, *, y: ArrayLike | None = None) -> FloatArray:
        """Means of p(x|z) (p(x|z, y) for a conditional model) for n draws z ~ N(0, I), shape (n, n_input).

        ``rng``: a Generator or a seed; None uses a fixed stream derived from the model's seed, so the
        same call gives the same images (the training generator is left untouched). ``y``: a conditional
        model's label, one integer for all n images or an array of n.
        """
        n = positive_int("n", n)
        y = self.check_labels(y, n)
        rng = as_rng(rng, [self.seed, 1])
        return self.decode(self.latent.draw_eps((n, self.n_latent), self.dtype, rng), y)

    def elbo(self, x: DataLike, y: ArrayLike | None = None, k: int = 1, rng: SeedLike = None, batch_size: int = 1000,
             *, comm: Any = None) -> FloatArray:
        """Per-example ELBO in nats, shape (n,): E_q[log p(x|z)] - KL, averaged over k draws of z.

        For a conditional model, the bound on log p(x|y) with labels ``y`` (as in ``encode``).
        ``rng`` as in ``sample``; None gives the same answer on every call. ``comm``: an mpi4py communicator
        whose ranks share the examples out and each return the full result (``purevae.parallel``).
        """
        return objectives.elbo_per_example(self, x, k=k, rng=rng, batch_size=batch_size, y=y, comm=comm)

    def log_likelihood(self, x: DataLike, y: ArrayLike | None = None, k: int = 5000, rng: SeedLike = None,
                       batch_size: int = 100, max_rows: int = 4096, *, comm: Any = None) -> FloatArray:
        """Per-example importance-weighted estimate of log p(x) in nats (Burda et al. 2016), shape (n,).

        For a conditional model, of log p(x|y) with labels ``y`` (as in ``encode``).
        See ``purevae.objectives.log_likelihood`` for the estimator, its memory use and ``comm``.
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
        """Train with minibatches of the negative ELBO; calling it again continues training.

        The parameters and what they mean: ``purevae.train.fit`` (this method calls it with the same
        arguments). Returns the history, a dict of lists accumulated over every call.
        """
        return train.fit(self, x, epochs=epochs, batch_size=batch_size, lr=lr, validation_data=validation_data,
                         y=y, optimizer=optimizer, beta=beta, warmup_epochs=warmup_epochs, shuffle=shuffle,
                         binarize=binarize, verbose=verbose, callback=callback, checkpoint=checkpoint,
                         checkpoint_every=checkpoint_every, objective=objective, k=k, free_bits=free_bits,
                         beta_schedule=beta_schedule, comm=comm)

    def save(self, path: PathLike) -> Path:
        """Write parameters + JSON config atomically to an ``.npz``, or to a ``.safetensors`` file (the tensors of
        ``state_dict``, the config in its ``__metadata__``); see ``purevae.io``. Returns the path."""
        return io.save(self, path)

    # -----------------------------------------------------------------------------------------
    # weights for other frameworks
    # -----------------------------------------------------------------------------------------
    @staticmethod
    def _is_dense_weight(name: str) -> bool:
        return name.endswith(".weight") and not name.endswith(".label_weight")

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """The parameters under their names, every dense weight in ``torch.nn.Linear``'s (n_out, n_in) layout.

        New C-contiguous arrays (the transpose of ``params[name]`` for ``<layer>.weight``; ``label_weight``
        (n_classes, n_out) is ``torch.nn.Embedding``'s layout already, and biases and ``decoder.logvar`` are as
        they are). A torch module whose submodules are named like the layers (``encoder.0``, ``encoder.out``,
        ``decoder.0``, ``decoder.out``, a parameter ``decoder.logvar``) loads it with
        ``load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)``.
        """
        return OrderedDict((name, np.array(value.T if self._is_dense_weight(name) else value, order="C", copy=True))
                           for name, value in self.params.items())

    def load_state_dict(self, state_dict: Mapping[str, ArrayLike]) -> None:
        """Copy a ``state_dict`` (names and layout of ``state_dict()``) into the parameters, cast to the model's dtype.

        Values may be NumPy arrays or anything with ``__array__`` (a CPU torch tensor: ``.detach()`` it first).
        ValueError naming the entry for a missing or unexpected name, a wrong shape, or NaN / inf.
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
        """A model built from a ``state_dict`` (``state_dict()``'s names and layout), its sizes read from the shapes.

        ``n_input``, ``hidden``, ``n_latent``, ``decoder_hidden`` and ``n_classes`` come from the arrays; the rest
        are ``options``, as ``VAE`` takes them (``activation``, ``likelihood``, ``dtype``, ``alpha``, ``seed``,
        ...). ``likelihood`` defaults to "gaussian" (learned variance) when the dict has ``decoder.logvar``, else
        to "bernoulli"; ``dtype`` to the arrays' when they are float32 or float64.
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

    An ``.npz`` (purevae's format, models and checkpoints) or a ``.safetensors`` file written by ``VAE.save``.
    Raises FileNotFoundError for a missing file and ValueError, naming the file, for a corrupt, foreign,
    hostile or mismatched one: the file is checked against its config before any array is read, and nothing
    larger than the file justifies is allocated (see ``purevae.io``).
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
