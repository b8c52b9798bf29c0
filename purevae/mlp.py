r"""The multilayer perceptron seam: dense layers with a hidden activation, forward and backward.

An ``MLP`` named ``encoder`` with sizes (784, 400, 40) is the layers ``encoder.0`` (784 -> 400, activation f)
and ``encoder.out`` (400 -> 40, identity). Its parameters live in the model's ordered dict ``params`` as
``<layer>.weight`` (n_in, n_out), so that the layer computes ``x @ weight + bias``, and ``<layer>.bias``
(n_out,). The MLP holds no arrays of its own: ``forward`` and ``backward`` take ``params``, the kernel
module ``kern`` (``backend.kernels()``) and a workspace ``ws`` (``purevae.workspace``).

One layer, forward then backward (docs/derivations.md#dense and #activations)::

    h     = f(x @ W + b)          ops.linear_forward, then kern.bias_activation_forward in place
    a_bar = h_bar * f'(h)         kern.activation_backward_bias (also b_bar = column sums of a_bar)
    W_bar = x^T a_bar             ops.linear_backward
    x_bar = a_bar W^T             ops.linear_backward (skipped for the first layer unless asked)

A conditional MLP (``n_classes`` = C > 0, the conditional VAE) adds to its first layer the parameter
``<layer>.label_weight`` T of shape (C, n_out) and takes one label y_r in 0..C-1 per row
(docs/derivations.md#conditional-vae)::

    a     = x @ W + b + T[y]      ops.linear_forward, kern.label_rows_forward, then bias + f as above
    T_bar[c] = sum_{r: y_r = c} a_bar[r]     kern.label_rows_backward (a scatter-add of a_bar's rows)
"""
from __future__ import annotations

from collections import OrderedDict
from types import ModuleType
from typing import Sequence

import numpy as np
from numpy.typing import DTypeLike

from . import ops
from .typing import ArraySource
from .workspace import FRESH

__all__ = ["MLP"]


class MLP:
    """Dense layers ``name.0`` to ``name.{n-1}`` with activation f, then ``name.out`` without one.

    The arguments are taken as given (``VAE`` validates them): a name that is not a key of
    ``ops.ACTIVATIONS`` raises KeyError.

    Parameters
    ----------
    name : str
        Prefix of the layer and parameter names ("encoder", "decoder").
    sizes : sequence of int
        Widths from input to output: (n_in, hidden..., n_out), so n = len(sizes) - 2 hidden layers.
    activation : str
        A key of ``ops.ACTIVATIONS``, applied after every layer but the last.
    alpha : float
        The activation's parameter (``ops.DEFAULT_ALPHA``).
    n_classes : int, default 0
        0: no labels. C > 0: the first layer adds the row ``label_weight[y]`` of its (C, n_out)
        parameter for each row's label y, as if a one-hot y were concatenated to the input.
    """

    def __init__(self, name: str, sizes: Sequence[int], activation: str, alpha: float, n_classes: int = 0
                 ) -> None:
        self.name = name
        self.n_classes = int(n_classes)
        self.sizes = tuple(int(s) for s in sizes)
        self.activation = activation
        self.alpha = alpha
        code = ops.ACTIVATIONS[activation]
        n_hidden = len(self.sizes) - 2
        #: (layer name, activation code) from input to output
        self.layers = [(f"{name}.{i}", code) for i in range(n_hidden)] + [(f"{name}.out", ops.ACTIVATIONS["identity"])]

    @property
    def n_in(self) -> int:
        """Width of the input, ``sizes[0]``."""
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        """Width of the output, ``sizes[-1]``."""
        return self.sizes[-1]

    def param_shapes(self) -> "OrderedDict[str, tuple[int, ...]]":
        """Return every parameter's name and shape, in the order ``init_params`` draws them.

        The one place the layout is written: ``init_params`` allocates from it, and ``purevae.load`` compares a
        file's arrays with it before reading any of them.

        Returns
        -------
        collections.OrderedDict of str to tuple of int
            From the first layer to the last, per layer ``<layer>.weight`` (n_in, n_out), for a conditional
            first layer ``<layer>.label_weight`` (C, n_out), then ``<layer>.bias`` (n_out,).
        """
        shapes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        for i, ((name, _), n_in, n_out) in enumerate(zip(self.layers, self.sizes[:-1], self.sizes[1:])):
            shapes[f"{name}.weight"] = (n_in, n_out)
            if i == 0 and self.n_classes > 0:
                shapes[f"{name}.label_weight"] = (self.n_classes, n_out)
            shapes[f"{name}.bias"] = (n_out,)
        return shapes

    def init_params(self, rng: np.random.Generator, dtype: DTypeLike) -> "OrderedDict[str, np.ndarray]":
        """Draw the initial parameters as PyTorch's ``nn.Linear`` does: uniform in +-1/sqrt(fan_in).

        Drawn in float64 from ``rng``, in the order of ``param_shapes`` (then cast to ``dtype``), so float32
        and float64 models with the same seed start from the same point. A conditional first layer counts
        the one-hot label in its fan-in (n_in + C, as the concatenated layer it stands for) and draws
        ``label_weight`` between its weight and bias.

        Parameters
        ----------
        rng : numpy.random.Generator
            The generator the values are drawn from (advanced by one draw per parameter array).
        dtype : data-type
            The dtype of the arrays returned.

        Returns
        -------
        collections.OrderedDict of str to numpy.ndarray
            The names and shapes of ``param_shapes``, every weight and bias (``label_weight`` included)
            uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)) of its layer.
        """
        fan_in = {name: n_in + (self.n_classes if i == 0 else 0)
                  for i, ((name, _), n_in) in enumerate(zip(self.layers, self.sizes[:-1]))}
        params: OrderedDict[str, np.ndarray] = OrderedDict()
        for name, shape in self.param_shapes().items():
            bound = 1.0 / np.sqrt(fan_in[name.rsplit(".", 1)[0]])    # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            params[name] = rng.uniform(-bound, bound, shape).astype(dtype)
        return params

    def _check_labels(self, labels: np.ndarray | None) -> None:
        if (labels is None) != (self.n_classes == 0):
            raise ValueError(f"{self.name}: labels are needed exactly when the MLP is conditional "
                             f"(n_classes={self.n_classes})")

    def forward(self, params: dict[str, np.ndarray], x: np.ndarray, kern: ModuleType, ws: ArraySource = FRESH,
                labels: np.ndarray | None = None) -> list[np.ndarray]:
        """Compute the outputs of every layer: ``cache[0] = x``, ``cache[i + 1] = f(cache[i] @ W_i + b_i)``.

        f is the activation for the hidden layers and the identity for ``name.out``; a conditional first
        layer adds ``label_weight[y]`` to each row before its bias and f. ``cache[-1]`` is the MLP's
        output; the whole list is what ``backward`` needs. Derivations: docs/derivations.md#dense,
        docs/derivations.md#activations and docs/derivations.md#conditional-vae.

        Parameters
        ----------
        params : dict of str to numpy.ndarray
            The model's parameters, holding this MLP's (``param_shapes``), of x's dtype.
        x : numpy.ndarray, shape (batch, n_in)
            The input, validated: C-contiguous, of the parameters' dtype.
        kern : module
            The kernels, ``backend.kernels()`` (``purevae._kernels`` or their NumPy twins in ``ops``).
        ws : ArraySource, default FRESH
            Where the layers' outputs come from (keys ``<layer>.out``).
        labels : numpy.ndarray of numpy.intp, shape (batch,), or None
            A conditional MLP's validated labels, one per row of x, each in 0..C-1; None for an
            unconditional one.

        Returns
        -------
        list of numpy.ndarray
            ``[x, h_1, ..., h_out]``: x itself, then each layer's output (batch, width), from ``ws``.

        Raises
        ------
        ValueError
            When ``labels`` is given to an unconditional MLP, or is None for a conditional one.
        """
        self._check_labels(labels)
        cache = [x]
        h = x
        for i, (name, code) in enumerate(self.layers):
            weight = params[f"{name}.weight"]
            out = ws.array(f"{name}.out", (h.shape[0], weight.shape[1]), h.dtype)
            h = ops.linear_forward(h, weight, out)                               # GEMM (BLAS): h W
            if i == 0 and labels is not None:
                kern.label_rows_forward(h, params[f"{name}.label_weight"], labels)   # in place: + T[y]
            kern.bias_activation_forward(h, params[f"{name}.bias"], code, self.alpha)  # in place: f(h W + b)
            cache.append(h)
        return cache

    def backward(self, params: dict[str, np.ndarray], cache: list[np.ndarray], grad_out: np.ndarray, kern: ModuleType,
                 ws: ArraySource = FRESH, need_input_grad: bool = False, labels: np.ndarray | None = None
                 ) -> tuple["OrderedDict[str, np.ndarray]", np.ndarray | None]:
        """Walk the layers backwards from ``grad_out`` = d loss / d cache[-1] to the parameters' gradients.

        ``grad_out`` is overwritten: it becomes the last layer's grad_pre (and each layer's d loss / d input
        from ``ws`` becomes the grad_pre of the layer below). Derivations: docs/derivations.md#dense,
        docs/derivations.md#activations and docs/derivations.md#conditional-vae.

        Parameters
        ----------
        params : dict of str to numpy.ndarray
            The parameters given to ``forward``.
        cache : list of numpy.ndarray
            What ``forward`` returned.
        grad_out : numpy.ndarray, shape (batch, n_out)
            The gradient d loss / d cache[-1], of the cache's dtype; overwritten.
        kern : module
            The kernels, ``backend.kernels()``.
        ws : ArraySource, default FRESH
            Where the gradients come from (keys ``<param>.grad`` and ``<layer>.input.grad``).
        need_input_grad : bool, default False
            Also compute d loss / d x (the first layer's input); every other layer's is computed anyway.
        labels : numpy.ndarray of numpy.intp, shape (batch,), or None
            Those given to ``forward``.

        Returns
        -------
        grads : collections.OrderedDict of str to numpy.ndarray
            The gradients d loss / d param of this MLP's parameters, each of its parameter's shape, from the
            last layer to the first (per layer ``weight``, ``bias``, then a conditional first layer's ``label_weight``).
        grad_input : numpy.ndarray or None
            The gradient d loss / d x, shape (batch, n_in), when ``need_input_grad``; else None.

        Raises
        ------
        ValueError
            When ``labels`` is given to an unconditional MLP, or is None for a conditional one.
        """
        self._check_labels(labels)
        grads: OrderedDict[str, np.ndarray] = OrderedDict()
        grad_h: np.ndarray | None = grad_out
        for i in range(len(self.layers) - 1, -1, -1):
            assert grad_h is not None   # grad_out, then each grad_input: allocated for every layer but the first
            name, code = self.layers[i]
            h, layer_input = cache[i + 1], cache[i]
            weight = params[f"{name}.weight"]
            grad_weight = ws.array(f"{name}.weight.grad", weight.shape, h.dtype)
            grad_bias = ws.array(f"{name}.bias.grad", (h.shape[1],), h.dtype)
            kern.activation_backward_bias(grad_h, h, code, self.alpha, grad_h, grad_bias)  # grad_h <- grad_pre
            grad_input = None
            if i > 0 or need_input_grad:
                grad_input = ws.array(f"{name}.input.grad", layer_input.shape, h.dtype)
            ops.linear_backward(layer_input, weight, grad_h, grad_weight, grad_input)   # x^T grad_pre, grad_pre W^T
            grads[f"{name}.weight"] = grad_weight
            grads[f"{name}.bias"] = grad_bias                                           # column sums of grad_pre
            if i == 0 and labels is not None:                                           # per-label sums of grad_pre
                grad_label = ws.array(f"{name}.label_weight.grad", (self.n_classes, h.shape[1]), h.dtype)
                kern.label_rows_backward(grad_h, labels, grad_label)
                grads[f"{name}.label_weight"] = grad_label
            grad_h = grad_input
        return grads, (grad_h if need_input_grad else None)
