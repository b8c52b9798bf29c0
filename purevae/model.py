r"""The VAE: parameters, encoder, reparameterization, decoder, and ``loss_and_grads``. Wiring only.

Data flow of one step (the formulas live in ``ops``, ``likelihoods`` and their Cython twins)::

    x --[dense + f]*--> h --dense--> [mu | logvar] --reparam(eps)--> z --[dense + f]*--> g --dense--> out
    loss = mean_b( -log p(x_b | z_b)  +  beta * KL(q(z|x_b) || N(0, I)) )        (nats per example)

Parameters live in one ordered dict ``params``; a dense layer called ``name`` has
``name.weight`` of shape (n_in, n_out) (so that it computes ``x @ weight + bias``) and ``name.bias``
of shape (n_out,). Layers: ``encoder.0 ... encoder.{n-1}`` (hidden), ``encoder.out`` (n_in, 2 n_latent)
whose first n_latent outputs are ``mu`` and last n_latent ``logvar``; ``decoder.0 ...``, ``decoder.out``
(n_in, n_input); the learned-variance Gaussian adds ``decoder.logvar`` (n_input,).
"""
from __future__ import annotations

import numbers
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from . import backend
from .likelihoods import _FRESH, Likelihood, make_likelihood
from .ops import ACTIVATIONS, DEFAULT_ALPHA
from .validation import as_rng as _as_rng
from .validation import check_data, check_eps
from .validation import positive_int as _positive_int

DTYPES = ("float32", "float64")
_MAX_WORKSPACES = 4  # batch sizes whose step arrays a model keeps (an epoch uses two: full and last batch)


class _Workspace:
    """Arrays of one training step, made on first request and handed out again on every later one.

    ``array(key, shape, dtype)`` returns the array stored under ``key`` (a new one when the shape or dtype
    changed). The Cython step of ``fit`` writes every intermediate and gradient into these, so that a
    steady-state step allocates no large array (benchmarks/bench_step.py reports the bytes per step).
    """

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, key: str, shape: tuple, dtype) -> np.ndarray:
        a = self.arrays.get(key)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            a = self.arrays[key] = np.empty(shape, dtype)
        return a


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
    likelihood : "bernoulli" or "gaussian"
        p(x|z). Bernoulli reads the decoder output as logits (targets in [0, 1]); Gaussian as a mean.
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

    Notes
    -----
    Initialisation is PyTorch's ``nn.Linear`` default: every weight and bias uniform in
    +-1/sqrt(fan_in), drawn in float64 from the seeded generator (then cast), so float32 and float64
    models with the same seed start from the same point.
    """

    def __init__(self, n_input: int, hidden: Sequence[int] = (400,), n_latent: int = 20,
                 likelihood: str | Likelihood = "bernoulli", activation: str = "relu", dtype: str = "float32",
                 seed: int | None = 0, *, variance: float | None = None, alpha: float | None = None,
                 decoder_hidden: Sequence[int] | None = None):
        self.n_input = _positive_int("n_input", n_input)
        self.n_latent = _positive_int("n_latent", n_latent)
        self.hidden = self._widths("hidden", hidden)
        self.decoder_hidden = self.hidden[::-1] if decoder_hidden is None else self._widths("decoder_hidden",
                                                                                             decoder_hidden)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.alpha = DEFAULT_ALPHA[activation] if alpha is None else float(alpha)
        backend._activation_code(activation, self.alpha)  # validates alpha
        if str(dtype) not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        self.dtype = np.dtype(str(dtype))
        self.likelihood = make_likelihood(likelihood, variance)
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

        code = ACTIVATIONS[activation]
        enc_sizes = [self.n_input, *self.hidden]
        self._encoder = [(f"encoder.{i}", code) for i in range(len(self.hidden))] + [("encoder.out", 0)]
        dec_sizes = [self.n_latent, *self.decoder_hidden]
        self._decoder = [(f"decoder.{i}", code) for i in range(len(self.decoder_hidden))] + [("decoder.out", 0)]
        shapes = list(zip(enc_sizes, [*self.hidden, 2 * self.n_latent]))
        shapes += list(zip(dec_sizes, [*self.decoder_hidden, self.n_input]))
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        for (name, _), (n_in, n_out) in zip(self._encoder + self._decoder, shapes):
            bound = 1.0 / np.sqrt(n_in)  # PyTorch nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            self.params[f"{name}.weight"] = self.rng.uniform(-bound, bound, (n_in, n_out)).astype(self.dtype)
            self.params[f"{name}.bias"] = self.rng.uniform(-bound, bound, n_out).astype(self.dtype)
        self.params.update(self.likelihood.extra_params(self.n_input, self.dtype))
        self.optimizer = None
        self._workspaces: OrderedDict[int, _Workspace] = OrderedDict()  # batch size -> arrays of a step
        self.epochs_trained = 0
        self.steps_trained = 0
        self.history: dict[str, list] = {}

    @staticmethod
    def _widths(name: str, widths) -> tuple[int, ...]:
        if isinstance(widths, numbers.Integral):
            widths = (widths,)
        try:
            widths = tuple(widths)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of positive integers, got {widths!r}") from None
        return tuple(_positive_int(f"{name}[{i}]", w) for i, w in enumerate(widths))

    # -----------------------------------------------------------------------------------------
    # configuration
    # -----------------------------------------------------------------------------------------
    def config(self) -> dict:
        """The JSON-able architecture, enough to rebuild the model with ``VAE(**config)``."""
        lik = self.likelihood.config()
        return {"n_input": self.n_input, "hidden": list(self.hidden), "n_latent": self.n_latent,
                "likelihood": lik["likelihood"], "variance": lik.get("variance"), "activation": self.activation,
                "alpha": self.alpha, "decoder_hidden": list(self.decoder_hidden), "dtype": self.dtype.name,
                "seed": self.seed}

    def __repr__(self) -> str:
        c = self.config()
        return (f"VAE(n_input={c['n_input']}, hidden={tuple(c['hidden'])}, n_latent={c['n_latent']}, "
                f"likelihood={c['likelihood']!r}, activation={c['activation']!r}, dtype={c['dtype']!r}, "
                f"seed={c['seed']})")

    def astype(self, dtype: str) -> "VAE":
        """A copy of the model (parameters cast, no optimizer state) in another dtype."""
        cfg = self.config()
        cfg["dtype"] = str(dtype)
        other = VAE(**cfg)
        for name, value in self.params.items():
            other.params[name][...] = value
        return other

    # -----------------------------------------------------------------------------------------
    # validation at the edge
    # -----------------------------------------------------------------------------------------
    def _check_data(self, x, name: str = "x", n_features: int | None = None, support: bool = True) -> np.ndarray:
        """Cast x once to the model dtype, C-contiguous, after checking shape, dtype, values (``validation``)."""
        x = check_data(name, x, self.n_input if n_features is None else n_features, self.dtype)
        if support:
            self.likelihood.check_data(x, name)
        return x

    def _check_eps(self, eps, batch: int) -> np.ndarray:
        return check_eps(eps, batch, self.n_latent, self.dtype)

    def _draw_eps(self, shape: tuple, rng: np.random.Generator, ws: "_Workspace | None" = None) -> np.ndarray:
        # drawn in float64 then cast, so that float32 and float64 models see the same noise
        ws = _FRESH if ws is None else ws
        eps64 = rng.standard_normal(out=ws.array("eps64", shape, np.float64))
        if self.dtype == np.float64:
            return eps64
        eps = ws.array("eps", shape, self.dtype)
        np.copyto(eps, eps64, casting="same_kind")
        return eps

    # -----------------------------------------------------------------------------------------
    # forward and backward through an MLP (validated arrays only)
    # -----------------------------------------------------------------------------------------
    def _mlp_forward(self, layers, h: np.ndarray, kern, ws: "_Workspace | None" = None) -> list[np.ndarray]:
        """outputs[0] = input, outputs[i + 1] = f(outputs[i] @ W_i + b_i); arrays from ``ws`` (default: new)."""
        ws = _FRESH if ws is None else ws
        outputs = [h]
        for name, code in layers:
            weight = self.params[f"{name}.weight"]
            out = ws.array(f"{name}.out", (h.shape[0], weight.shape[1]), h.dtype)
            h = np.matmul(h, weight, out=out)                        # GEMM (BLAS): h W, the bias comes next
            kern.bias_activation_forward(h, self.params[f"{name}.bias"], code, self.alpha)  # in place: f(h W + b)
            outputs.append(h)
        return outputs

    def _mlp_backward(self, layers, outputs: list[np.ndarray], grad_out: np.ndarray, grads: dict, kern,
                      need_input_grad: bool, ws: "_Workspace | None" = None) -> np.ndarray | None:
        """Walk the layers backwards from grad_out = d loss / d outputs[-1]; fill grads; return grad of the input.

        grad_out is overwritten: it becomes grad_pre of the last layer.
        """
        ws = _FRESH if ws is None else ws
        grad_h = grad_out
        for i in range(len(layers) - 1, -1, -1):
            name, code = layers[i]
            h, layer_input = outputs[i + 1], outputs[i]
            weight = self.params[f"{name}.weight"]
            grad_weight = ws.array(f"{name}.weight.grad", weight.shape, h.dtype)
            grad_bias = ws.array(f"{name}.bias.grad", (h.shape[1],), h.dtype)
            kern.activation_backward_bias(grad_h, h, code, self.alpha, grad_h, grad_bias)  # grad_h <- grad_pre
            grads[f"{name}.weight"] = np.matmul(layer_input.T, grad_h, out=grad_weight)  # x^T grad_pre
            grads[f"{name}.bias"] = grad_bias                                           # column sums of grad_pre
            if i > 0 or need_input_grad:
                grad_input = ws.array(f"{name}.input.grad", layer_input.shape, h.dtype)
                grad_h = np.matmul(grad_h, weight.T, out=grad_input)                    # grad_pre W^T
        return grad_h if need_input_grad else None

    def _encode_raw(self, x: np.ndarray, kern, ws: "_Workspace | None" = None) -> list[np.ndarray]:
        return self._mlp_forward(self._encoder, x, kern, ws)

    def _decode_raw(self, z: np.ndarray, kern, ws: "_Workspace | None" = None) -> list[np.ndarray]:
        return self._mlp_forward(self._decoder, z, kern, ws)

    def _workspace(self, batch: int) -> "_Workspace":
        """The arrays of a training step of ``batch`` rows (made on first use; the last few sizes are kept)."""
        ws = self._workspaces.pop(batch, None)
        if ws is None:
            ws = _Workspace()
            while len(self._workspaces) >= _MAX_WORKSPACES:          # forget the least recently used size
                self._workspaces.popitem(last=False)
        self._workspaces[batch] = ws                                 # most recently used last
        return ws

    # -----------------------------------------------------------------------------------------
    # one training step
    # -----------------------------------------------------------------------------------------
    def loss_and_grads(self, x, eps=None, beta: float = 1.0) -> tuple[float, dict[str, np.ndarray]]:
        r"""Mean negative ELBO of a batch, in nats per example, and its gradient for every parameter.

            loss = (1/B) sum_b [ -log p(x_b | z_b) + beta * KL(q(z|x_b) || N(0, I)) ],
            z_b = mu_b + exp(logvar_b / 2) * eps_b

        Parameters
        ----------
        x : array, shape (B, n_input)
        eps : array, shape (B, n_latent) or (k, B, n_latent), optional
            The noise of the reparameterization. With k samples the loss averages over them too.
            Default: drawn from the model's generator (``self.rng``).
        beta : float
            Weight of the KL term (1 gives the ELBO; warm-up ramps it).

        Returns
        -------
        loss : float
        grads : dict name -> ndarray, same names and shapes as ``self.params``
        """
        loss, _, _, grads = self._loss_and_grads(x, eps, beta)
        return loss, grads

    def _loss_and_grads(self, x, eps=None, beta: float = 1.0, checked: bool = False):
        """(loss, recon, kl, grads): the step behind ``loss_and_grads`` and ``fit``.

        With ``checked=True`` (``fit``, ``gradcheck``: x already validated) on the Cython backend, the step
        writes into this batch size's workspace: a steady-state step allocates no large array, and the
        returned gradients are workspace arrays, overwritten by the next such call (``fit`` hands them to
        the optimizer first). Otherwise, and always on the NumPy backend, every array is new.
        """
        if not checked:
            x = self._check_data(x)
        beta = float(beta)
        if not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta}")
        batch = x.shape[0]
        reuse = checked and backend.get_backend() == "cython"
        ws = self._workspace(batch) if reuse else _FRESH
        eps = self._draw_eps((batch, self.n_latent), self.rng, ws) if eps is None else self._check_eps(eps, batch)
        if eps.ndim == 3:  # k samples per example: the mean over k*B tiled examples is the mean over both
            x = np.tile(x, (eps.shape[0], 1))
            eps = eps.reshape(-1, self.n_latent)
            ws = self._workspace(x.shape[0]) if reuse else _FRESH
        kern = backend.kernels()
        n = x.shape[0]
        scale = 1.0 / n  # the loss is a mean over the batch

        # ---- forward --------------------------------------------------------------------------
        enc = self._encode_raw(x, kern, ws)
        mu_logvar = enc[-1]                                           # (n, 2L): [mu | logvar]
        z, kl = ws.array("z", eps.shape, self.dtype), ws.array("kl", (n,), self.dtype)
        kern.reparameterize_kl_forward(mu_logvar, eps, z, kl)       # z = mu + e^(logvar/2) eps; KL closed form
        dec = self._decode_raw(z, kern, ws)
        nll, grad_out, lik_grads = self.likelihood.nll_grad(x, dec[-1], self.params, scale, kern, ws)
        recon, kl_mean = float(np.mean(nll, dtype=np.float64)), float(np.mean(kl, dtype=np.float64))
        loss = recon + beta * kl_mean

        # ---- backward, top to bottom ----------------------------------------------------------
        grads: dict[str, np.ndarray] = {}
        grad_z = self._mlp_backward(self._decoder, dec, grad_out, grads, kern, need_input_grad=True, ws=ws)
        grad_mu_logvar = ws.array("mu_logvar.grad", mu_logvar.shape, self.dtype)
        kern.reparameterize_kl_backward(mu_logvar, eps, grad_z, beta, scale, grad_mu_logvar)  # through z, + KL
        self._mlp_backward(self._encoder, enc, grad_mu_logvar, grads, kern, need_input_grad=False, ws=ws)
        grads.update(lik_grads)
        return loss, recon, kl_mean, OrderedDict((name, grads[name]) for name in self.params)

    # -----------------------------------------------------------------------------------------
    # inference
    # -----------------------------------------------------------------------------------------
    def encode(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The parameters of q(z|x): ``mu`` and ``logvar`` (log-variance), each (n, n_latent)."""
        x = self._check_data(x, support=False)
        mu_logvar = self._encode_raw(x, backend.kernels())[-1]
        return mu_logvar[:, :self.n_latent].copy(), mu_logvar[:, self.n_latent:].copy()

    def decode(self, z) -> np.ndarray:
        """The mean of p(x|z) for latent codes z of shape (n, n_latent): (n, n_input)."""
        z = self._check_data(z, "z", self.n_latent, support=False)
        return self.likelihood.mean(self._decode_raw(z, backend.kernels())[-1], self.params)

    def reconstruct(self, x) -> np.ndarray:
        """decode(mu(x)): the mean of p(x|z) at the mean of q(z|x), shape (n, n_input)."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Means of p(x|z) for n draws z ~ N(0, I), shape (n, n_input).

        ``rng``: a Generator or a seed; None uses a fixed stream derived from the model's seed, so the
        same call gives the same images (the training generator is left untouched).
        """
        n = _positive_int("n", n)
        rng = _as_rng(rng, [self.seed, 1])
        return self.decode(self._draw_eps((n, self.n_latent), rng))

    def elbo(self, x, k: int = 1, rng: np.random.Generator | int | None = None, batch_size: int = 1000
             ) -> np.ndarray:
        """Per-example ELBO in nats, shape (n,): E_q[log p(x|z)] - KL, averaged over k draws of z.

        ``rng`` as in ``sample``; None gives the same answer on every call.
        """
        from .objectives import elbo_per_example
        return elbo_per_example(self, x, k=k, rng=rng, batch_size=batch_size)

    def log_likelihood(self, x, k: int = 5000, rng: np.random.Generator | int | None = None,
                       batch_size: int = 100, max_rows: int = 4096) -> np.ndarray:
        """Per-example importance-weighted estimate of log p(x) in nats (Burda et al. 2016), shape (n,).

        See ``purevae.objectives.log_likelihood`` for the estimator and its memory use.
        """
        from .objectives import log_likelihood
        return log_likelihood(self, x, k=k, rng=rng, batch_size=batch_size, max_rows=max_rows)

    # -----------------------------------------------------------------------------------------
    # training and files
    # -----------------------------------------------------------------------------------------
    def fit(self, x, epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, validation_data=None, **kwargs
            ) -> dict[str, list]:
        """Train with minibatches; calling it again continues training. See ``purevae.train.fit``."""
        from .train import fit
        return fit(self, x, epochs=epochs, batch_size=batch_size, lr=lr, validation_data=validation_data, **kwargs)

    def save(self, path) -> Path:
        """Write parameters + JSON config to an ``.npz`` atomically (see ``purevae.io.save``); returns the path."""
        from .io import save
        return save(self, path)
