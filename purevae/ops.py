r"""The NumPy reference of every hot operation, forward and backward: the readable math.

Every function here is written to be read next to its equation in ``docs/derivations.md``.
The functions in the second half (``bias_activation_forward`` ... ``sgd_momentum_update``) are
the *kernel twins*: ``purevae/_kernels.pyx`` holds compiled functions with the same names, the
same arguments and the same results, and ``purevae/backend.py`` picks one of the two. Twins write
their results into output arrays the caller allocated (the Cython kernels must not allocate).

.. rubric:: Conventions

Arrays are batch first and row-major. A dense layer computes ``a = x @ W + b`` with

=========================  ===============  ===================  ==================================
symbol                     code name        shape                meaning
=========================  ===============  ===================  ==================================
x                          ``x``            (batch, n_in)        input of a layer / the data
W                          ``weight``       (n_in, n_out)        so that ``x @ W`` works
b                          ``bias``         (n_out,)
a = x W + b                ``pre``          (batch, n_out)       pre-activation
h = f(a)                   ``h``            (batch, n_out)       activation output
mu, log sigma^2            ``mu, logvar``   (batch, n_latent)    q(z|x) = N(mu, diag e^logvar)
[mu | logvar]              ``mu_logvar``    (batch, 2 n_latent)  the encoder's last layer
eps ~ N(0, I)              ``eps``          (batch, n_latent)
z = mu + e^(logvar/2) eps  ``z``            (batch, n_latent)
l                          ``logits``       (batch, n_input)     Bernoulli decoder output
d loss / d name            ``grad_<name>``  the shape of <name>
=========================  ===============  ===================  ==================================

The loss is the mean over the batch of per-example quantities, so the gradient of every
per-example term carries a factor ``scale = 1 / batch``; kernels take it as an argument so the
multiplication is fused into the pass that computes the gradient.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special

from .validation import is_sparse

LOG_2PI = float(np.log(2.0 * np.pi))
# Every log-variance (of q(z|x) and of a Gaussian p(x|z)) is clamped to [-LOGVAR_LIMIT, LOGVAR_LIMIT] before
# use, so that e^logvar and e^-logvar (<= 1.1e13) stay finite in float32 even summed over thousands of
# terms; beyond the limit the value is constant and its gradient 0. A trained model is never near it (its
# standard deviation would be 3e6 or 3e-7). Reason and alternatives: docs/derivations.md#numerics
LOGVAR_LIMIT = 30.0


def clamp_logvar(logvar: np.ndarray) -> np.ndarray:
    r"""Return logvar clipped to [-LOGVAR_LIMIT, LOGVAR_LIMIT] (a new array).

    Parameters
    ----------
    logvar : ndarray
        Log-variances, of any shape.

    Returns
    -------
    ndarray
        ``np.clip(logvar, -LOGVAR_LIMIT, LOGVAR_LIMIT)``, of logvar's shape.

    Notes
    -----
    Beyond the limit the value is constant and its gradient 0. Derivation: docs/derivations.md#numerics
    """
    return np.clip(logvar, -LOGVAR_LIMIT, LOGVAR_LIMIT)

# Activation codes shared with the Cython kernels (which cannot take a Python string inside nogil).
ACTIVATIONS = {"identity": 0, "relu": 1, "tanh": 2, "softplus": 3, "leaky_relu": 4, "elu": 5}
# alpha: slope of leaky_relu for a < 0; scale of elu for a < 0. Unused by the others.
DEFAULT_ALPHA = {"identity": 0.0, "relu": 0.0, "tanh": 0.0, "softplus": 0.0, "leaky_relu": 0.01, "elu": 1.0}
_NAMES = {code: name for name, code in ACTIVATIONS.items()}


def activation_name(activation: str | int) -> str:
    r"""Return the name of an activation given by name or by code (a value of ``ACTIVATIONS``).

    Parameters
    ----------
    activation : str or int
        A key of ``ACTIVATIONS`` ("identity", "relu", "tanh", "softplus", "leaky_relu", "elu") or its code,
        0 to 5. Anything but a str is taken as a code through ``int()``.

    Returns
    -------
    str
        The key of ``ACTIVATIONS``.

    Raises
    ------
    ValueError
        If a str is not a key of ``ACTIVATIONS``, or ``int(activation)`` is not one of its codes.
    TypeError
        If activation is not a str and ``int()`` does not take it (None, for example).
    """
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        return activation
    if int(activation) not in _NAMES:
        raise ValueError(f"activation code must be one of {sorted(_NAMES)}, got {activation!r}")
    return _NAMES[int(activation)]


# ---------------------------------------------------------------------------------------------
# Readable building blocks
# ---------------------------------------------------------------------------------------------
def linear_forward(x: np.ndarray, weight: np.ndarray, out: np.ndarray) -> np.ndarray:
    r"""Compute the matrix product of a dense layer, written into ``out`` by BLAS: out = x @ weight.

    On the model's path (``purevae.mlp.MLP.forward``) the bias and the activation follow in one fused
    pass, ``bias_activation_forward``; ``dense_forward`` is the whole layer in one readable line.

    Parameters
    ----------
    x : ndarray or scipy.sparse CSR matrix, shape (batch, n_in)
        IN: the layer's input. A CSR matrix (word counts) gives a sparse-dense product whose cost is that of
        x's nonzeros times n_out.
    weight : ndarray, shape (n_in, n_out)
        IN: the weight matrix W.
    out : ndarray, shape (batch, n_out)
        OUT: where the product is written.

    Returns
    -------
    ndarray, shape (batch, n_out)
        ``out``, holding x @ weight.

    Notes
    -----
    Derivation: docs/derivations.md#dense
    """
    if is_sparse(x):
        out[...] = x @ weight
        return out
    return np.matmul(x, weight, out=out)


def linear_backward(x: np.ndarray, weight: np.ndarray, grad_pre: np.ndarray, grad_weight: np.ndarray,
                    grad_x: np.ndarray | None = None) -> None:
    r"""Compute the two matrix products of a dense layer's backward pass, written into the outputs by BLAS.

    ::

        grad_weight = x.T @ grad_pre           (pre_bj = sum_i x_bi W_ij + b_j)
        grad_x      = grad_pre @ weight.T      (skipped when grad_x is None: the first layer's input is data)

    The third gradient, grad_bias = column sums of grad_pre, comes out of the fused
    ``activation_backward_bias`` pass that also made grad_pre. ``purevae.mlp.MLP.backward`` calls this.

    Parameters
    ----------
    x : ndarray or scipy.sparse CSR matrix, shape (batch, n_in)
        IN: the layer's input (a CSR matrix: x.T @ grad_pre visits its nonzeros only).
    weight : ndarray, shape (n_in, n_out)
        IN: the weight matrix W.
    grad_pre : ndarray, shape (batch, n_out)
        IN: d loss / d pre.
    grad_weight : ndarray, shape (n_in, n_out)
        OUT: d loss / d weight.
    grad_x : ndarray, shape (batch, n_in), optional
        OUT: d loss / d x; None (default) skips it.

    Notes
    -----
    Derivation: docs/derivations.md#dense
    """
    if is_sparse(x):                        # sparse data (the first layer): x^T a_bar visits its nonzeros only
        grad_weight[...] = x.T @ grad_pre
    else:
        np.matmul(x.T, grad_pre, out=grad_weight)
    if grad_x is not None:
        np.matmul(grad_pre, weight.T, out=grad_x)


def dense_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    r"""Compute the affine map of a batch in one line (the model splits it: ``linear_forward``, then the fused bias).

    ::

        pre = x @ weight + bias

    Parameters
    ----------
    x : ndarray, shape (batch, n_in)
        The layer's input.
    weight : ndarray, shape (n_in, n_out)
        The weight matrix W.
    bias : ndarray, shape (n_out,)
        The bias b.

    Returns
    -------
    ndarray, shape (batch, n_out)
        The pre-activation ``pre`` (a new array).

    Notes
    -----
    See ``dense_backward``. Derivation: docs/derivations.md#dense
    """
    out = np.empty((x.shape[0], weight.shape[1]), np.result_type(x, weight))
    return linear_forward(x, weight, out) + bias


def dense_backward(x: np.ndarray, weight: np.ndarray, grad_pre: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Compute the gradients of a dense layer, given grad_pre = d loss / d pre: ``linear_backward`` plus the bias.

    ::

        grad_weight = x.T @ grad_pre           (pre_bj = sum_i x_bi W_ij + b_j)
        grad_bias   = sum_b grad_pre[b, :]     (b_j is added to every row)
        grad_x      = grad_pre @ weight.T

    Parameters
    ----------
    x : ndarray, shape (batch, n_in)
        The layer's input.
    weight : ndarray, shape (n_in, n_out)
        The weight matrix W.
    grad_pre : ndarray, shape (batch, n_out)
        The gradient d loss / d pre.

    Returns
    -------
    grad_x : ndarray, shape (batch, n_in)
        The gradient d loss / d x.
    grad_weight : ndarray, shape (n_in, n_out)
        The gradient d loss / d weight.
    grad_bias : ndarray, shape (n_out,)
        The gradient d loss / d bias.

    Notes
    -----
    Derivation: docs/derivations.md#dense
    """
    dtype = np.result_type(x, weight, grad_pre)
    grad_x, grad_weight = np.empty(x.shape, dtype), np.empty(weight.shape, dtype)
    linear_backward(x, weight, grad_pre, grad_weight, grad_x)
    return grad_x, grad_weight, grad_pre.sum(axis=0)


def activation_forward(pre: np.ndarray, activation: str | int, alpha: float | None = None) -> np.ndarray:
    r"""Apply the elementwise non-linearity h = f(pre).

    ::

        identity    h = a
        relu        h = max(a, 0)
        tanh        h = tanh(a)
        softplus    h = log(1 + e^a)
        leaky_relu  h = a if a > 0 else alpha * a        (alpha defaults to 0.01)
        elu         h = a if a > 0 else alpha (e^a - 1)  (alpha defaults to 1)

    Parameters
    ----------
    pre : ndarray
        The pre-activation a, of any shape.
    activation : str or int
        The activation's name or code (``activation_name``).
    alpha : float, optional
        The slope of leaky_relu for a < 0, or the scale of elu for a < 0; unused by the others. None
        (default) takes ``DEFAULT_ALPHA``.

    Returns
    -------
    ndarray
        The output h = f(pre), a new array of pre's shape.

    Raises
    ------
    ValueError
        If activation is not a name or code of ``ACTIVATIONS`` (``activation_name``).
    TypeError
        If activation is neither a str nor an int (``activation_name``).

    Notes
    -----
    Every derivative can be written from h alone (``activation_derivative``), so the forward pass
    may overwrite ``pre`` with ``h``. Derivation: docs/derivations.md#activations
    """
    name = activation_name(activation)
    alpha = DEFAULT_ALPHA[name] if alpha is None else alpha
    if name == "identity":
        return pre.copy()
    if name == "relu":
        return np.maximum(pre, 0)
    if name == "tanh":
        return np.tanh(pre)
    if name == "softplus":
        return np.logaddexp(0, pre)  # log(1 + e^a) = max(a, 0) + log1p(e^-|a|): never overflows
    if name == "leaky_relu":
        return np.where(pre > 0, pre, alpha * pre)
    # elu: expm1 of min(a, 0) so that large positive a cannot overflow in the branch not taken
    return np.where(pre > 0, pre, alpha * np.expm1(np.minimum(pre, 0)))


def activation_derivative(h: np.ndarray, activation: str | int, alpha: float | None = None) -> np.ndarray:
    r"""Compute f'(a) written as a function of the output h = f(a).

    ::

        identity    1
        relu        1 if h > 0 else 0          (f'(0) taken as 0)
        tanh        1 - h^2
        softplus    sigmoid(a) = 1 - e^-h = -expm1(-h)
        leaky_relu  1 if h > 0 else alpha      (needs alpha > 0 so that sign(h) = sign(a))
        elu         1 if h > 0 else h + alpha  (alpha e^a = h + alpha)

    Parameters
    ----------
    h : ndarray
        The activation's output h = f(a), of any shape.
    activation : str or int
        The activation's name or code (``activation_name``).
    alpha : float, optional
        The activation's parameter, as in ``activation_forward``; None (default) takes ``DEFAULT_ALPHA``.

    Returns
    -------
    ndarray
        The derivative f'(a), a new array of h's shape and dtype.

    Raises
    ------
    ValueError
        If activation is not a name or code of ``ACTIVATIONS`` (``activation_name``).
    TypeError
        If activation is neither a str nor an int (``activation_name``).

    Notes
    -----
    Derivation: docs/derivations.md#activations
    """
    name = activation_name(activation)
    alpha = DEFAULT_ALPHA[name] if alpha is None else alpha
    if name == "identity":
        return np.ones_like(h)
    if name == "relu":
        return (h > 0).astype(h.dtype)
    if name == "tanh":
        return 1 - h * h
    if name == "softplus":
        return -np.expm1(-h)
    if name == "leaky_relu":
        return np.where(h > 0, 1, alpha).astype(h.dtype)
    return np.where(h > 0, 1, h + alpha).astype(h.dtype)


def activation_backward(grad_h: np.ndarray, h: np.ndarray, activation: str | int,
                        alpha: float | None = None) -> np.ndarray:
    r"""Return grad_pre = grad_h * f'(pre), with f'(pre) computed from h (see ``activation_derivative``).

    Parameters
    ----------
    grad_h : ndarray
        The gradient d loss / d h.
    h : ndarray
        The activation's output h = f(pre), of grad_h's shape.
    activation : str or int
        The activation's name or code (``activation_name``).
    alpha : float, optional
        The activation's parameter, as in ``activation_forward``; None (default) takes ``DEFAULT_ALPHA``.

    Returns
    -------
    ndarray
        The gradient d loss / d pre, a new array.

    Raises
    ------
    ValueError
        If activation is not a name or code of ``ACTIVATIONS`` (``activation_name``).
    TypeError
        If activation is neither a str nor an int (``activation_name``).

    Notes
    -----
    Derivation: docs/derivations.md#activations
    """
    return grad_h * activation_derivative(h, activation, alpha)


def reparameterize(mu: np.ndarray, logvar: np.ndarray, eps: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    r"""Draw z from q(z|x) = N(mu, diag(exp(logvar))) so that z stays differentiable.

    ::

        z = mu + exp(logvar / 2) * eps,    eps ~ N(0, I)

    Parameters
    ----------
    mu, logvar : ndarray, shape (batch, n_latent)
        The mean and the log-variance of q(z|x).
    eps : ndarray, shape (batch, n_latent) or (k, batch, n_latent)
        Standard normal noise; mu and logvar broadcast against it.
    out : ndarray of eps's shape, optional
        Where z is written; None (default) makes a new array.

    Returns
    -------
    ndarray, shape of eps
        The draws z (``out`` when given).

    Notes
    -----
    The gradients::

        grad_mu     = grad_z                   (z is mu plus a term free of mu)
        grad_logvar = grad_z * eps * exp(logvar / 2) / 2    (d/dv exp(v/2) = exp(v/2) / 2)

    Derivation: docs/derivations.md#reparameterization
    """
    z = np.multiply(np.exp(0.5 * logvar), eps, out=out)  # exp(logvar / 2) is the standard deviation
    z += mu
    return z


def kl_terms(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    r"""Compute KL(N(mu, e^logvar) || N(0, 1)) of each latent dimension separately, in nats (elementwise).

    ::

        kl_bk = 0.5 * (mu_bk^2 + e^logvar_bk - logvar_bk - 1)

    ``logvar`` is used as given: callers pass it through ``clamp_logvar`` first, as the model does.

    Parameters
    ----------
    mu, logvar : ndarray
        The mean and the log-variance of q(z|x), e.g. of shape (batch, n_latent); they broadcast.

    Returns
    -------
    ndarray
        The terms kl_bk, of the broadcast shape of mu and logvar.

    Notes
    -----
    The derivatives::

        d kl_bk / d mu_bk     = mu_bk
        d kl_bk / d logvar_bk = (e^logvar_bk - 1) / 2

    Derivation: docs/derivations.md#kl (Kingma & Welling 2014, appendix B)
    """
    return 0.5 * (mu * mu + np.exp(logvar) - logvar - 1)


def kl_divergence(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    r"""Compute the closed-form KL(N(mu, diag e^logvar) || N(0, I)) per example, in nats: the sum of ``kl_terms``.

    ::

        kl_b = 0.5 * sum_k (mu_bk^2 + e^logvar_bk - logvar_bk - 1)

    Parameters
    ----------
    mu, logvar : ndarray, shape (..., n_latent)
        The mean and the log-variance of q(z|x); they broadcast. ``logvar`` is used as given (``kl_terms``).

    Returns
    -------
    ndarray, shape mu.shape[:-1]
        The KL kl_b, the sum over the last axis (the latent dimensions).

    Notes
    -----
    Derivation: docs/derivations.md#kl
    """
    return np.sum(kl_terms(mu, logvar), axis=-1)


def log_prior(z: np.ndarray) -> np.ndarray:
    r"""Compute log N(z; 0, I) summed over the last axis (the latent dimensions), in nats.

    ::

        log p(z) = -0.5 * sum_k (log 2 pi + z_k^2)

    Parameters
    ----------
    z : ndarray, shape (..., n_latent)
        Latent codes.

    Returns
    -------
    ndarray, shape z.shape[:-1]
        The log-density log p(z) of each code.

    Notes
    -----
    Derivation: docs/derivations.md#iwae
    """
    return -0.5 * np.sum(LOG_2PI + z * z, axis=-1)


def log_posterior(logvar: np.ndarray, eps: np.ndarray) -> np.ndarray:
    r"""Compute log q(z|x) = log N(z; mu, diag e^logvar) at z = mu + e^(logvar/2) eps, summed over the last axis.

    ::

        log q(z|x) = -0.5 * sum_k (log 2 pi + logvar_k + eps_k^2)      ((z - mu)^2 / sigma^2 = eps^2)

    Parameters
    ----------
    logvar : ndarray, shape (..., n_latent)
        The log-variance of q(z|x); it broadcasts against ``eps`` (one q per example, several draws).
    eps : ndarray, shape (..., n_latent)
        The standard normal noise that made z.

    Returns
    -------
    ndarray
        The log-density log q(z|x), of the broadcast shape of logvar and eps without its last axis.

    Notes
    -----
    Derivation: docs/derivations.md#iwae
    """
    return -0.5 * np.sum(LOG_2PI + logvar + eps * eps, axis=-1)


# ---------------------------------------------------------------------------------------------
# Kernel twins: same names, arguments and results as purevae/_kernels.pyx
# ---------------------------------------------------------------------------------------------
def bias_activation_forward(h: np.ndarray, bias: np.ndarray, activation: int, alpha: float) -> None:
    r"""Apply h <- f(h + bias) in place on the GEMM output.

    Parameters
    ----------
    h : ndarray, shape (batch, n_out)
        IN the product x @ W, OUT the activation.
    bias : ndarray, shape (n_out,)
        The bias b.
    activation : int
        A value of ``ACTIVATIONS`` (this twin also takes the name).
    alpha : float
        The activation's parameter (see ``activation_forward``).

    Notes
    -----
    Derivation: docs/derivations.md#activations
    """
    h[...] = activation_forward(h + bias, activation, alpha)


def activation_backward_bias(grad_h: np.ndarray, h: np.ndarray, activation: int, alpha: float,
                             grad_pre: np.ndarray, grad_bias: np.ndarray) -> None:
    r"""Compute grad_pre = grad_h * f'(pre) and grad_bias = sum_b grad_pre[b, :] in one pass.

    Parameters
    ----------
    grad_h : ndarray, shape (batch, n_out)
        IN: the gradient d loss / d h.
    h : ndarray, shape (batch, n_out)
        IN: the forward output f(pre).
    activation : int
        A value of ``ACTIVATIONS`` (this twin also takes the name).
    alpha : float
        The activation's parameter (see ``activation_forward``).
    grad_pre : ndarray, shape (batch, n_out)
        OUT: d loss / d pre (may be the same array as grad_h).
    grad_bias : ndarray, shape (n_out,)
        OUT: d loss / d bias.

    Notes
    -----
    Derivation: docs/derivations.md#activations
    """
    grad_pre[...] = activation_backward(grad_h, h, activation, alpha)
    grad_bias[...] = grad_pre.sum(axis=0)


def label_rows_forward(h: np.ndarray, label_weight: np.ndarray, labels: np.ndarray) -> None:
    r"""Add the label rows to the GEMM output of a conditional first layer, in place: h[r] <- h[r] + T[y_r].

    T is ``label_weight``. The label term of pre = x W + b + T[y]: a row lookup, what one_hot(y) @ T
    computes without the GEMM (docs/derivations.md#conditional-vae).

    Parameters
    ----------
    h : ndarray, shape (rows, n_out)
        IN x @ W, OUT x @ W + T[y].
    label_weight : ndarray, shape (n_classes, n_out)
        The label rows T.
    labels : ndarray of intp, shape (rows,)
        The label y_r of each row, each in 0 .. n_classes - 1.
    """
    h += label_weight[labels]


def label_rows_backward(grad_pre: np.ndarray, labels: np.ndarray, grad_label_weight: np.ndarray) -> None:
    r"""Compute the gradient of the label rows: T_bar[c] = sum of grad_pre[r] over the rows r with y_r = c.

    A scatter-add, the transpose of the lookup (= one_hot(y)^T grad_pre); a class no row has gets 0.

    Parameters
    ----------
    grad_pre : ndarray, shape (rows, n_out)
        IN: d loss / d pre of the first layer.
    labels : ndarray of intp, shape (rows,)
        The label y_r of each row, each in 0 .. n_classes - 1.
    grad_label_weight : ndarray, shape (n_classes, n_out)
        OUT: d loss / d label_weight.

    Notes
    -----
    Derivation: docs/derivations.md#conditional-vae
    """
    grad_label_weight[...] = 0
    np.add.at(grad_label_weight, labels, grad_pre)


def as_blocks(out: np.ndarray, batch: int) -> np.ndarray:
    r"""Return the decoder's output (R, D), R = k B, as a (k, B, D) view: block i holds sample i of every example.

    The likelihood twins pair x (B, D) with every block by broadcasting: row r of out goes with x[r % B].

    Parameters
    ----------
    out : ndarray, shape (R, D)
        Rows in sample-major order (row i B + b is sample i of example b).
    batch : int
        B, the number of examples; 0 gives k = 0.

    Returns
    -------
    ndarray, shape (k, B, D)
        ``out.reshape(k, B, D)``: a view of a C-contiguous out, so writing into it writes into out.

    Raises
    ------
    ValueError
        If R is not a multiple k B of batch.
    """
    return out.reshape(out.shape[0] // batch if batch else 0, batch, out.shape[-1])


def bernoulli_nll(x: np.ndarray, logits: np.ndarray, nll: np.ndarray) -> None:
    r"""Compute -log p(x|z) of a Bernoulli on logits, per row: nll_r = sum_j log(1 + e^l_rj) - x_bj l_rj, b = r % B.

    The value alone (evaluation, the IWAE bound's weights); ``bernoulli_nll_grad`` computes it with this
    function and adds the gradient.

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The targets, in [0, 1] (grey values allowed).
    logits : ndarray, shape (R, n_input)
        R = k B: k blocks of rows, each paired with x (``as_blocks``).
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row.

    Notes
    -----
    Derivation: docs/derivations.md#bernoulli
    """
    # logaddexp(0, l) = log(1 + e^l) without overflow at l = 1e4
    l3 = as_blocks(logits, x.shape[0])
    nll[...] = np.sum(np.logaddexp(0, l3) - x * l3, axis=2).reshape(nll.shape)


def bernoulli_nll_grad(x: np.ndarray, logits: np.ndarray, scale: np.ndarray,
                       nll: np.ndarray, grad_logits: np.ndarray) -> None:
    r"""Compute -log p(x|z) of a Bernoulli on logits, per row, and its gradient.

    ::

        nll_r = sum_j log(1 + e^l_rj) - x_bj l_rj
        grad_logits_r = scale_r * (sigmoid(l_r) - x_b),        b = r % B

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The targets, in [0, 1] (grey values allowed).
    logits : ndarray, shape (R, n_input)
        R = k B (k blocks of rows paired with x; k = 1 in the ELBO step).
    scale : ndarray float64, shape (R,)
        The weight of each row's term in the loss: 1 / B for the mean of the ELBO, the normalised
        importance weight / B for the IWAE bound. Rounded to x's dtype, as the kernel does.
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row.
    grad_logits : ndarray, shape (R, n_input)
        OUT: the gradient of sum_r scale_r nll_r w.r.t. the logits.

    Notes
    -----
    Derivation: docs/derivations.md#bernoulli
    """
    bernoulli_nll(x, logits, nll)
    l3 = as_blocks(logits, x.shape[0])
    scale3 = as_blocks(scale.astype(x.dtype)[:, None], x.shape[0])   # in x's precision, as the kernel
    as_blocks(grad_logits, x.shape[0])[...] = scale3 * (scipy.special.expit(l3) - x)


def gaussian_nll(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, nll: np.ndarray) -> None:
    r"""Compute -log p(x|z) of a diagonal Gaussian, per row: the value alone.

    ::

        nll_r = 0.5 sum_j (log 2 pi + lv_j + (x_bj - m_rj)^2 e^-lv_j)

    lv = clamp(logvar, -30, 30) (``LOGVAR_LIMIT``), b = r % B. ``gaussian_nll_grad`` computes it with this
    function and adds the gradients.

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The data.
    mean : ndarray, shape (R, n_input)
        R = k B (k blocks of rows paired with x): the decoder's mean m_r.
    logvar : ndarray, shape (n_input,)
        The pixels' log-variance, shared by all rows.
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row.

    Notes
    -----
    Derivation: docs/derivations.md#gaussian
    """
    logvar = clamp_logvar(logvar)
    diff = as_blocks(mean, x.shape[0]) - x
    nll[...] = 0.5 * np.sum(LOG_2PI + logvar + diff * diff * np.exp(-logvar), axis=2).reshape(nll.shape)


def gaussian_nll_grad(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, scale: np.ndarray,
                      nll: np.ndarray, grad_mean: np.ndarray, grad_logvar: np.ndarray) -> None:
    r"""Compute -log p(x|z) of a diagonal Gaussian, per-pixel log-variance shared by all examples, and its gradients.

    ::

        nll_r          = 0.5 * sum_j (log 2 pi + logvar_j + (x_bj - m_rj)^2 e^-logvar_j)
        grad_mean_r    = scale_r * (m_r - x_b) e^-logvar                       b = r % B
        grad_logvar_j  = sum_r scale_r 0.5 (1 - (x_bj - m_rj)^2 e^-logvar_j)

    logvar is clamped to [-30, 30] (``LOGVAR_LIMIT``); grad_logvar_j is 0 where logvar_j is beyond the clamp.

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The data.
    mean : ndarray, shape (R, n_input)
        R = k B (k blocks of rows paired with x): the decoder's mean m_r.
    logvar : ndarray, shape (n_input,)
        Fixed (a constant) or the learned ``decoder.logvar``.
    scale : ndarray float64, shape (R,)
        Each row's weight in the loss (1 / B for a batch mean); rounded to x's dtype, as the kernel does.
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row.
    grad_mean : ndarray, shape (R, n_input)
        OUT: the gradient w.r.t. mean.
    grad_logvar : ndarray, shape (n_input,)
        OUT: the gradient w.r.t. logvar.

    Notes
    -----
    Derivation: docs/derivations.md#gaussian
    """
    inside = np.abs(logvar) <= LOGVAR_LIMIT   # beyond the clamp the loss is flat in logvar
    logvar = clamp_logvar(logvar)
    inv_var = np.exp(-logvar)
    diff = as_blocks(mean, x.shape[0]) - x                            # (k, B, D)
    squared = diff * diff * inv_var  # (x - m)^2 / sigma^2
    gaussian_nll(x, mean, logvar, nll)
    scale = as_blocks(scale.astype(x.dtype)[:, None], x.shape[0])     # in x's precision, as the kernel
    as_blocks(grad_mean, x.shape[0])[...] = scale * diff * inv_var
    grad_logvar[...] = np.where(inside, 0.5 * np.sum((scale * (1 - squared)).reshape(mean.shape), axis=0), 0)


def multinomial_nll(x: np.ndarray, logits: np.ndarray, nll: np.ndarray) -> None:
    r"""Compute -log p(x|z) of a multinomial over the vocabulary on logits, per row, without the coefficient.

    ::

        nll_r = -sum_w x_bw log softmax(l_r)_w = N_b LSE(l_r) - sum_w x_bw l_rw,   N_b = sum_w x_bw,  b = r % B

    with LSE(l) = log sum_w e^l_w = max(l) + log sum_w e^(l_w - max(l)) (no overflow). The log-probability of
    the document's words in a fixed order; the multinomial coefficient log N! - sum_w log x_w!, a constant of
    the data, is left out (as in per-word perplexities). A document with no words has nll 0.

    Parameters
    ----------
    x : ndarray, shape (B, V)
        Word counts (non-negative integers stored as floats).
    logits : ndarray, shape (R, V)
        R = k B (k blocks of rows paired with x, ``as_blocks``).
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row; all 0 when logits is empty.

    Notes
    -----
    Derivation: docs/derivations.md#multinomial
    """
    if logits.size == 0:                   # no rows, or no words in the vocabulary: nothing to sum
        nll[...] = 0
        return
    l3 = as_blocks(logits, x.shape[0])
    lse = scipy.special.logsumexp(l3, axis=2)                                  # (k, B)
    n_words = np.sum(x, axis=1)                                                # (B,)
    nll[...] = (n_words * lse - np.sum(x * l3, axis=2)).reshape(nll.shape)


def multinomial_nll_grad(x: np.ndarray, logits: np.ndarray, scale: np.ndarray,
                         nll: np.ndarray, grad_logits: np.ndarray) -> None:
    r"""Compute ``multinomial_nll`` and its gradient: grad_logits_r = scale_r * (N_b softmax(l_r) - x_b), b = r % B.

    Parameters
    ----------
    x : ndarray, shape (B, V)
        Word counts.
    logits : ndarray, shape (R, V)
        R = k B (k blocks of rows paired with x).
    scale : ndarray float64, shape (R,)
        Each row's weight in the loss; rounded to x's dtype.
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row.
    grad_logits : ndarray, shape (R, V)
        OUT: the gradient of sum_r scale_r nll_r w.r.t. the logits (left as it is when logits is empty).

    Notes
    -----
    Derivation: docs/derivations.md#multinomial
    """
    multinomial_nll(x, logits, nll)
    if logits.size == 0:
        return
    l3 = as_blocks(logits, x.shape[0])
    softmax = scipy.special.softmax(l3, axis=2)
    scale3 = as_blocks(scale.astype(x.dtype)[:, None], x.shape[0])
    as_blocks(grad_logits, x.shape[0])[...] = scale3 * (np.sum(x, axis=1)[:, None] * softmax - x)


def csr_parts(x) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Return the (data, indices, indptr) of a canonical CSR matrix x that the ``_csr`` kernels take.

    The index arrays come as intp (scipy may store them as int32).

    Parameters
    ----------
    x : scipy.sparse CSR matrix, shape (B, V)
        The counts, in canonical form (sorted indices, no duplicates); this function does not check it.

    Returns
    -------
    data : ndarray, shape (nnz,)
        ``x.data`` itself (not a copy).
    indices : ndarray of intp, shape (nnz,)
        The column (word) of each stored entry.
    indptr : ndarray of intp, shape (B + 1,)
        Row b's entries are ``data[indptr[b]:indptr[b + 1]]``.
    """
    return x.data, np.asarray(x.indices, np.intp), np.asarray(x.indptr, np.intp)


def _csr_rows(indptr: np.ndarray) -> np.ndarray:
    """The row of every stored entry of a CSR matrix with this indptr."""
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


def multinomial_nll_csr(x_data: np.ndarray, x_indices: np.ndarray, x_indptr: np.ndarray, logits: np.ndarray,
                        nll: np.ndarray) -> None:
    r"""Compute ``multinomial_nll`` for counts x stored as CSR (data, indices, indptr): an x-weighted sum over nonzeros.

    ::

        nll_r = N_b LSE(l_r) - sum_{stored (b, w)} x_bw l_rw,     N_b = the sum of row b's stored counts

    Parameters
    ----------
    x_data : ndarray, shape (nnz,)
        The stored counts.
    x_indices : ndarray of intp, shape (nnz,)
        Their words (columns).
    x_indptr : ndarray of intp, shape (B + 1,)
        The row pointers of a canonical CSR matrix of B rows.
    logits : ndarray, shape (R, V)
        R = k B (k blocks of rows paired with x).
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row; all 0 when logits is empty.

    Notes
    -----
    Derivation: docs/derivations.md#multinomial
    """
    if logits.size == 0:
        nll[...] = 0
        return
    batch = len(x_indptr) - 1
    l3 = as_blocks(logits, batch)
    rows = _csr_rows(x_indptr)
    n_words = np.bincount(rows, weights=x_data, minlength=batch)               # N_b, float64
    picked = l3[:, rows, x_indices] * x_data                                   # (k, nnz): x_bw l_rw
    dot = np.stack([np.bincount(rows, weights=p, minlength=batch) for p in picked]) if len(l3) else np.zeros((0, batch))
    nll[...] = (n_words * scipy.special.logsumexp(l3, axis=2) - dot).reshape(nll.shape)


def multinomial_nll_grad_csr(x_data: np.ndarray, x_indices: np.ndarray, x_indptr: np.ndarray, logits: np.ndarray,
                             scale: np.ndarray, nll: np.ndarray, grad_logits: np.ndarray) -> None:
    r"""Compute ``multinomial_nll_csr`` and its gradient.

    ::

        grad_logits_r = scale_r N_b softmax(l_r), minus scale_r x_bw at the stored (b, w)

    Parameters
    ----------
    x_data : ndarray, shape (nnz,)
        The stored counts.
    x_indices : ndarray of intp, shape (nnz,)
        Their words (columns).
    x_indptr : ndarray of intp, shape (B + 1,)
        The row pointers of a canonical CSR matrix of B rows.
    logits : ndarray, shape (R, V)
        R = k B (k blocks of rows paired with x).
    scale : ndarray float64, shape (R,)
        Each row's weight in the loss; rounded to logits' dtype.
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row.
    grad_logits : ndarray, shape (R, V)
        OUT: the gradient of sum_r scale_r nll_r w.r.t. the logits (left as it is when logits is empty).

    Notes
    -----
    Derivation: docs/derivations.md#multinomial
    """
    multinomial_nll_csr(x_data, x_indices, x_indptr, logits, nll)
    if logits.size == 0:
        return
    batch = len(x_indptr) - 1
    l3, g3 = as_blocks(logits, batch), as_blocks(grad_logits, batch)
    rows = _csr_rows(x_indptr)
    n_words = np.bincount(rows, weights=x_data, minlength=batch).astype(logits.dtype)
    scale3 = as_blocks(scale.astype(logits.dtype)[:, None], batch)             # (k, B, 1)
    g3[...] = scale3 * n_words[:, None] * scipy.special.softmax(l3, axis=2)
    for i in range(len(g3)):                                                   # duplicates would add: np.subtract.at
        np.subtract.at(g3[i], (rows, x_indices), scale3[i, rows, 0] * x_data.astype(logits.dtype))


def log_pz_minus_log_qz(mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray) -> np.ndarray:
    r"""Compute log p(z) - log q(z|x) per sample, in float64, for z = mu + e^(lv/2) eps of shape (s, B, L).

    ::

        log p(z) - log q(z|x) = 0.5 * sum_j (lv_bj + eps_ibj^2 - z_ibj^2)          (the log 2 pi cancel)

    ``log_prior(z) - log_posterior(lv, eps)`` written as one sum, lv = clamp(logvar).

    Parameters
    ----------
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's output [mu | logvar].
    eps : ndarray, shape (s, B, L)
        The noise that made z.
    z : ndarray, shape (s, B, L)
        The draws z_ib = mu_b + e^(lv_b / 2) eps_ib.

    Returns
    -------
    ndarray float64, shape (s, B)
        The difference log p(z_ib) - log q(z_ib | x_b).

    Notes
    -----
    Derivation: docs/derivations.md#iwae
    """
    n_latent = eps.shape[-1]
    logvar = clamp_logvar(mu_logvar[:, n_latent:]).astype(np.float64)
    eps64, z64 = eps.astype(np.float64), z.astype(np.float64)
    return 0.5 * np.sum(logvar + eps64 * eps64 - z64 * z64, axis=-1)


def bernoulli_log_weights(x: np.ndarray, logits: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray,
                          z: np.ndarray, log_w: np.ndarray) -> None:
    r"""Compute log w_ib = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b) for the Bernoulli likelihood.

    ``-bernoulli_nll + log_pz_minus_log_qz``, stored in float64 (the row sums of ``bernoulli_nll`` are in
    logits' dtype).

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The data, in [0, 1].
    logits : ndarray, shape (s B, n_input)
        Row i B + b the decoder's output at z_ib.
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's output [mu | logvar].
    eps : ndarray, shape (s, B, L)
        The noise that made z.
    z : ndarray, shape (s, B, L)
        The draws z = mu + e^(logvar/2) eps.
    log_w : ndarray float64, shape (s, B)
        OUT: the log-weights.

    Notes
    -----
    Derivation: docs/derivations.md#iwae
    """
    nll = np.empty(logits.shape[0], logits.dtype)
    bernoulli_nll(x, logits, nll)
    log_w[...] = log_pz_minus_log_qz(mu_logvar, eps, z) - nll.reshape(log_w.shape)


def gaussian_log_weights(x: np.ndarray, mean: np.ndarray, logvar: np.ndarray, mu_logvar: np.ndarray,
                         eps: np.ndarray, z: np.ndarray, log_w: np.ndarray) -> None:
    r"""Compute log w_ib = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b) for the Gaussian likelihood.

    As ``bernoulli_log_weights``: ``-gaussian_nll + log_pz_minus_log_qz``, stored in float64.

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The data.
    mean : ndarray, shape (s B, n_input)
        Row i B + b the decoder's mean at z_ib.
    logvar : ndarray, shape (n_input,)
        The pixels' log-variance.
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's output [mu | logvar].
    eps : ndarray, shape (s, B, L)
        The noise that made z.
    z : ndarray, shape (s, B, L)
        The draws z = mu + e^(logvar/2) eps.
    log_w : ndarray float64, shape (s, B)
        OUT: the log-weights.

    Notes
    -----
    Derivation: docs/derivations.md#iwae
    """
    nll = np.empty(mean.shape[0], mean.dtype)
    gaussian_nll(x, mean, logvar, nll)
    log_w[...] = log_pz_minus_log_qz(mu_logvar, eps, z) - nll.reshape(log_w.shape)


def reparameterize_kl_forward(mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, kl: np.ndarray) -> None:
    r"""Sample z and compute the closed-form KL in one pass.

    ::

        mu, logvar = mu_logvar[:, :L], clamp(mu_logvar[:, L:], -30, 30)     (see LOGVAR_LIMIT)
        z    = mu + exp(logvar / 2) * eps
        kl_b = 0.5 * sum_k (mu^2 + e^logvar - logvar - 1)

    Parameters
    ----------
    mu_logvar : ndarray, shape (batch, 2 L)
        IN: the encoder's output [mu | logvar].
    eps : ndarray, shape (batch, L)
        IN: standard normal noise.
    z : ndarray, shape (batch, L)
        OUT: the draws.
    kl : ndarray, shape (batch,)
        OUT: KL(q(z|x_b) || N(0, I)) of each row, in nats.

    Notes
    -----
    Derivations: docs/derivations.md#reparameterization and docs/derivations.md#kl
    """
    n_latent = eps.shape[1]
    mu, logvar = mu_logvar[:, :n_latent], clamp_logvar(mu_logvar[:, n_latent:])
    z[...] = reparameterize(mu, logvar, eps)
    kl[...] = kl_divergence(mu, logvar)


def reparameterize_kl_backward(mu_logvar: np.ndarray, eps: np.ndarray, grad_z: np.ndarray, beta: np.ndarray,
                               scale: float, grad_mu_logvar: np.ndarray) -> None:
    r"""Compute the gradient w.r.t. [mu | logvar] of the loss, through z and through scale * sum_b sum_k beta_k kl_bk.

    ::

        grad_mu_k     = grad_z_k + beta_k * scale * mu_k
        grad_logvar_k = grad_z_k * eps_k * exp(logvar_k / 2) / 2 + beta_k * scale * (e^logvar_k - 1) / 2

    logvar is clamped to [-30, 30] (``LOGVAR_LIMIT``); grad_logvar is 0 where logvar is beyond the clamp
    (z and the KL are flat there).

    Parameters
    ----------
    mu_logvar : ndarray, shape (batch, 2 L)
        IN: the encoder's output [mu | logvar].
    eps : ndarray, shape (batch, L)
        IN: the noise of the forward pass.
    grad_z : ndarray, shape (batch, L)
        IN: d loss / d z, from the decoder.
    beta : ndarray float64, shape (L,)
        The KL weight of each latent dimension: beta everywhere for the ELBO; 0 for the dimensions
        below their free bits (``free_bits``), where the KL term is constant.
    scale : float
        The weight of each row's KL in the loss (1 / rows for the batch mean).
    grad_mu_logvar : ndarray, shape (batch, 2 L)
        OUT: d loss / d [mu | logvar].

    Notes
    -----
    Derivations: docs/derivations.md#reparameterization, docs/derivations.md#kl and
    docs/derivations.md#free-bits
    """
    n_latent = eps.shape[1]
    mu, logvar = mu_logvar[:, :n_latent], mu_logvar[:, n_latent:]
    inside = np.abs(logvar) <= LOGVAR_LIMIT   # beyond the clamp z and the KL are flat in logvar
    logvar = clamp_logvar(logvar)
    sigma = np.exp(0.5 * logvar)
    weight = (beta * scale).astype(mu.dtype)                  # beta_k * scale, rounded to the dtype once
    half_weight = (beta * scale * 0.5).astype(mu.dtype)
    grad_mu_logvar[:, :n_latent] = grad_z + weight * mu
    grad_mu_logvar[:, n_latent:] = np.where(inside, grad_z * eps * sigma * 0.5 + half_weight * np.expm1(logvar), 0)


def iwae_weights(nll: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, beta: float,
                 scale: float, loss: np.ndarray, weights: np.ndarray) -> None:
    r"""Compute the importance-weighted bound of each example and the normalised weights of its k samples, one pass.

    ::

        log w_ib = -nll_ib + beta * (log p(z_ib) - log q(z_ib | x_b))
                 = -nll_ib + beta * 0.5 * sum_j (logvar_bj + eps_ibj^2 - z_ibj^2)      (the log 2 pi cancel)
        loss_b     = log k - logsumexp_i log w_ib          (-IWAE_k(x_b); beta = 1 gives the bound)
        weights_ib = scale * exp(log w_ib - logsumexp_i log w_ib)      (softmax over the k samples, times scale)

    Parameters
    ----------
    nll : ndarray, shape (k, B)
        IN: -log p(x_b | z_ib), the likelihood's value.
    mu_logvar : ndarray, shape (B, 2 L)
        IN: the encoder's output [mu | logvar].
    eps : ndarray, shape (k, B, L)
        IN: the noise that made z.
    z : ndarray, shape (k, B, L)
        IN: the draws z = mu + e^(logvar/2) eps.
    beta : float
        The weight of log p(z) - log q(z|x) in each log-weight.
    scale : float
        1 / B for the batch mean.
    loss : ndarray float64, shape (B,)
        OUT: loss_b.
    weights : ndarray float64, shape (k, B)
        OUT: d loss_mean / d (-log w_ib) = scale * softmax.

    Notes
    -----
    logvar is clamped to [-30, 30] as everywhere. Sums in float64, with the max subtracted before exp
    (docs/derivations.md#numerics). Derivation: docs/derivations.md#iwae-training
    """
    k = eps.shape[0]
    log_w = -nll.astype(np.float64) + beta * log_pz_minus_log_qz(mu_logvar, eps, z)
    top = log_w.max(axis=0)
    shifted = np.exp(log_w - top)
    total = shifted.sum(axis=0)
    loss[...] = np.log(k) - (top + np.log(total))
    weights[...] = scale * (shifted / total)


def iwae_backward(mu_logvar: np.ndarray, eps: np.ndarray, z: np.ndarray, grad_z: np.ndarray, weights: np.ndarray,
                  beta: float, grad_mu_logvar: np.ndarray) -> None:
    r"""Compute the gradient of the IWAE loss w.r.t. [mu | logvar], from grad_z of the decoder path and the weights.

    ::

        g_ib        = grad_z_ib + beta * weights_ib * z_ib             (+ the path through -log p(z_ib))
        grad_mu_b   = sum_i g_ib                                       (dz / dmu = 1)
        grad_logvar_b = sum_i g_ib * eps_ib * sigma_b / 2 - beta * sum_i weights_ib / 2
                                                                       (dz / dlogvar = eps sigma / 2; log q's -logvar/2)

    0 for the logvar entries beyond the clamp [-30, 30], as in ``reparameterize_kl_backward``.

    Parameters
    ----------
    mu_logvar : ndarray, shape (B, 2 L)
        IN: the encoder's output [mu | logvar].
    eps : ndarray, shape (k, B, L)
        IN: the noise that made z.
    z : ndarray, shape (k, B, L)
        IN: the draws z = mu + e^(logvar/2) eps.
    grad_z : ndarray, shape (k, B, L)
        IN: d loss / d z through the decoder.
    weights : ndarray float64, shape (k, B)
        IN: the weights of ``iwae_weights``.
    beta : float
        The weight of log p(z) - log q(z|x) in each log-weight.
    grad_mu_logvar : ndarray, shape (B, 2 L)
        OUT: d loss / d [mu | logvar].

    Notes
    -----
    Derivation: docs/derivations.md#iwae-training
    """
    n_latent = eps.shape[2]
    mu_logvar64 = mu_logvar.astype(np.float64)
    logvar = mu_logvar64[:, n_latent:]
    inside = np.abs(logvar) <= LOGVAR_LIMIT
    sigma = np.exp(0.5 * clamp_logvar(logvar))
    g = grad_z.astype(np.float64) + beta * weights[..., None] * z.astype(np.float64)
    grad_mu_logvar[:, :n_latent] = g.sum(axis=0)
    grad_logvar = 0.5 * sigma * np.sum(g * eps.astype(np.float64), axis=0) - 0.5 * beta * weights.sum(axis=0)[:, None]
    grad_mu_logvar[:, n_latent:] = np.where(inside, grad_logvar, 0)


def adam_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, lr: float,
                beta1: float, beta2: float, eps: float, step: int) -> None:
    r"""Apply one bias-corrected Adam step, in place on param, m and v (Kingma & Ba 2015, Algorithm 1).

    ::

        m     = beta1 m + (1 - beta1) g
        v     = beta2 v + (1 - beta2) g^2
        param = param - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    Parameters
    ----------
    param : ndarray, shape (n,)
        One flattened parameter array, updated in place.
    grad : ndarray, shape (n,)
        Its gradient g.
    m : ndarray, shape (n,)
        The running mean of g, updated in place.
    v : ndarray, shape (n,)
        The running mean of g^2, updated in place.
    lr : float
        The learning rate.
    beta1 : float
        The decay of m.
    beta2 : float
        The decay of v.
    eps : float
        Added to sqrt(v_hat) in the denominator.
    step : int
        The number t >= 1 of this step (for the bias correction).

    Notes
    -----
    Derivation: docs/derivations.md#adam

    Subnormals: the Cython twin sets m (v) to 0 once ``|m|`` (v) falls below the smallest normal float of the
    dtype (subnormal arithmetic is slow on many CPUs; after one gradient g and then zeros, float32 m gets
    there after ~740 steps at ``|g| = 1e-3``, v only after ~66,600); this reference keeps IEEE subnormals. A
    flushed m removes a step below lr * 1.2e-30 / (1 - beta1^t) in float32; a flushed v changes the step
    by less than 1.1e-11 / sqrt(1 - beta2^t) of itself (derived in docs/derivations.md#numerics).
    tests/test_kernels.py::test_adam_flush_matches_twin_over_many_steps shows the two agree within float
    tolerance.
    """
    m *= beta1
    m += (1 - beta1) * grad
    v *= beta2
    v += (1 - beta2) * grad * grad
    m_hat = m / (1 - beta1**step)
    v_hat = v / (1 - beta2**step)
    param -= lr * m_hat / (np.sqrt(v_hat) + eps)


def sgd_momentum_update(param: np.ndarray, grad: np.ndarray, velocity: np.ndarray, lr: float,
                        momentum: float) -> None:
    r"""Apply SGD with momentum, PyTorch's convention, in place on param and velocity.

    ::

        velocity = momentum * velocity + g
        param    = param - lr * velocity

    Parameters
    ----------
    param : ndarray
        One parameter array, updated in place.
    grad : ndarray
        Its gradient g, of param's shape.
    velocity : ndarray
        The running velocity, of param's shape, updated in place.
    lr : float
        The learning rate.
    momentum : float
        The decay of the velocity.

    Notes
    -----
    Derivation: docs/derivations.md#adam (its SGD paragraph)
    """
    velocity *= momentum
    velocity += grad
    param -= lr * velocity


# ---- the continuous Bernoulli (Loaiza-Ganem & Cunningham 2019), on logits ------------------------------------
# Every quantity is computed in float64 whatever the model's dtype (float32 inputs are exact in float64), so a
# float32 model's values are the float64 ones rounded once. a = |l|; the windows come from the error analysis
# in docs/derivations.md#continuous-bernoulli.
CB_H_TAYLOR = 2.0 ** -26     # a below: H(a) = a/2 (the next term, a^2/24, is below 0.1 ulp of log C there)
CB_EXP_SPLIT = 1.0           # a at or below: E = 1 + expm1(-a) (no cancellation); above: E = exp(-a)
CB_G_SERIES = 2.0            # a at or below: g by its series; above: 1/l - 1/sinh(l)
# (the Cython kernel branches at the same a = 1 and a = 2, with its own series for H: _kernels.pyx)
# S(t) = sum_n t^n / (2n + 3)!, so that sinh(l) = l + l^3 S(l^2) and g(l) = l S / (1 + l^2 S); 12 terms make
# the truncation at t = 4 (a = 2) below 2e-18 relative (the next term is 4^12 / 27!)
CB_S_COEFFICIENTS = tuple(1.0 / math.factorial(2 * n + 3) for n in range(12))


def _cb_parts(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(l, H(a), E) in float64: H(a) = log(a / (1 - e^-a)), E = e^-a, a = |l|."""
    l = np.asarray(logits, dtype=np.float64)
    a = np.abs(l)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        em = np.expm1(-a)                                            # -(1 - e^-a), exact in relative terms
        h = np.where(a < CB_H_TAYLOR, 0.5 * a, np.log(a / -em))
        e = np.where(a <= CB_EXP_SPLIT, 1.0 + em, np.exp(-a))
    return l, h, e


def _cb_g(l: np.ndarray, e: np.ndarray) -> np.ndarray:
    """g(l) = d log C / dl = 1/l - 1/sinh(l), float64: the series l S(l^2) / (1 + l^2 S(l^2)) for |l| <= 2."""
    a = np.abs(l)
    t = l * l
    s = np.zeros_like(t)
    for c in reversed(CB_S_COEFFICIENTS):                                # Horner; every term is positive
        s = s * t + c
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        direct = 1.0 / l - np.sign(l) * (2.0 * e / (1.0 - e * e))         # 1/sinh(a) = 2 e^-a / (1 - e^-2a)
    return np.where(a <= CB_G_SERIES, l * s / (1.0 + t * s), direct)


def cb_log_normalizer(logits) -> np.ndarray:
    r"""Compute log C(l) of the continuous Bernoulli on logits, float64: C = l / tanh(l / 2), C(0) = 2.

    ::

        log C(l) = H(a) + log(1 + e^-a),   H(a) = log(a / (1 - e^-a)),   a = |l|

    (C is even in l.) Accurate to 3 ulps for every finite l (docs/derivations.md#continuous-bernoulli).

    Parameters
    ----------
    logits : array_like
        The logits l, of any shape.

    Returns
    -------
    ndarray float64
        The log-normalizer log C(l), of logits' shape.
    """
    _, h, e = _cb_parts(logits)
    return h + np.log1p(e)


def cb_mean(logits) -> np.ndarray:
    r"""Compute the mean of the continuous Bernoulli with logits l, float64: E[x] = sigmoid(l) - g(l), in (0, 1).

    ::

        E[x] = sigmoid(l) - g(l)     (1/2 at l = 0; 1 - 1/l as l -> inf; -1/l as l -> -inf)
        g(l) = d log C / dl = 1/l - 1/sinh(l)

    which is not lambda = sigmoid(l).

    Parameters
    ----------
    logits : array_like
        The logits l, of any shape.

    Returns
    -------
    ndarray float64
        E[x], of logits' shape.

    Notes
    -----
    Derivation: docs/derivations.md#continuous-bernoulli.
    """
    l, _, e = _cb_parts(logits)
    sigmoid = np.where(l >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return sigmoid - _cb_g(l, e)


def continuous_bernoulli_nll(x: np.ndarray, logits: np.ndarray, nll: np.ndarray) -> None:
    r"""Compute -log p(x|z) of the continuous Bernoulli on logits, per row, b = r % B.

    ::

        nll_r = sum_j softplus(l_rj) - x_bj l_rj - log C(l_rj) = sum_j max(l_rj, 0) - x_bj l_rj - H(|l_rj|)

    (the log(1 + e^-a) of softplus and of log C cancel). Summed in float64, then stored in nll's dtype.

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The data, values in [0, 1].
    logits : ndarray, shape (R, n_input)
        R = k B (``as_blocks``).
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row.

    Notes
    -----
    Derivation: docs/derivations.md#continuous-bernoulli
    """
    l, h, _ = _cb_parts(logits)
    l3 = as_blocks(l, x.shape[0])
    terms = np.maximum(l3, 0.0) - x.astype(np.float64) * l3 - as_blocks(h, x.shape[0])
    nll[...] = np.sum(terms, axis=2).reshape(nll.shape)


def continuous_bernoulli_nll_grad(x: np.ndarray, logits: np.ndarray, scale: np.ndarray,
                                  nll: np.ndarray, grad_logits: np.ndarray) -> None:
    r"""Compute -log p(x|z) of the continuous Bernoulli per row, and its gradient: the mean minus the data.

    ::

        grad_logits_r = scale_r * (E[x | l_r] - x_b) = scale_r * (sigmoid(l_r) - g(l_r) - x_b),   b = r % B

    computed in float64 and stored in grad_logits' dtype.

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The data, values in [0, 1].
    logits : ndarray, shape (R, n_input)
        R = k B (k blocks of rows paired with x).
    scale : ndarray float64, shape (R,)
        Each row's weight in the loss (as in ``bernoulli_nll_grad``), used in float64.
    nll : ndarray, shape (R,)
        OUT: -log p(x_b | z_r) of each row (``continuous_bernoulli_nll``).
    grad_logits : ndarray, shape (R, n_input)
        OUT: the gradient of sum_r scale_r nll_r w.r.t. the logits.

    Notes
    -----
    Derivation: docs/derivations.md#continuous-bernoulli
    """
    continuous_bernoulli_nll(x, logits, nll)
    mean = as_blocks(cb_mean(logits), x.shape[0])
    scale3 = as_blocks(scale[:, None], x.shape[0])
    as_blocks(grad_logits, x.shape[0])[...] = scale3 * (mean - x.astype(np.float64))


def continuous_bernoulli_log_weights(x: np.ndarray, logits: np.ndarray, mu_logvar: np.ndarray, eps: np.ndarray,
                                     z: np.ndarray, log_w: np.ndarray) -> None:
    r"""Compute log w_ib = log p(x_b | z_ib) + log p(z_ib) - log q(z_ib | x_b) for the continuous Bernoulli.

    As ``bernoulli_log_weights``: ``-continuous_bernoulli_nll + log_pz_minus_log_qz``, the row sums kept in
    float64.

    Parameters
    ----------
    x : ndarray, shape (B, n_input)
        The data, values in [0, 1].
    logits : ndarray, shape (s B, n_input)
        Row i B + b the decoder's output at z_ib.
    mu_logvar : ndarray, shape (B, 2 L)
        The encoder's output [mu | logvar].
    eps : ndarray, shape (s, B, L)
        The noise that made z.
    z : ndarray, shape (s, B, L)
        The draws z = mu + e^(logvar/2) eps.
    log_w : ndarray float64, shape (s, B)
        OUT: the log-weights.

    Notes
    -----
    Derivations: docs/derivations.md#iwae and docs/derivations.md#continuous-bernoulli
    """
    nll = np.empty(logits.shape[0], np.float64)
    continuous_bernoulli_nll(x, logits, nll)
    log_w[...] = log_pz_minus_log_qz(mu_logvar, eps, z) - nll.reshape(log_w.shape)


def log_mean_exp_inplace(log_w: np.ndarray) -> np.ndarray:
    r"""Compute log (1/k) sum_i e^(log w_i) along axis 0 of a (k, b) float64 array, overwriting it.

    No temporary of its size: m + log sum_i e^(log w_i - m) - log k with m = max_i log w_i, the usual shift
    that keeps every exponent <= 0. A column whose maximum is not finite sends the whole array to
    ``scipy.special.logsumexp``'s rules (and leaves log_w as it was). The importance-weighted estimate's last
    step (docs/derivations.md#iwae).

    Parameters
    ----------
    log_w : ndarray float64, shape (k, b)
        The log-weights, k >= 1; overwritten with e^(log w_i - m) when every column's maximum is finite.

    Returns
    -------
    ndarray float64, shape (b,)
        The log of the mean of e^(log w_i) over axis 0.

    Raises
    ------
    ValueError
        If k = 0 (the maximum of an empty axis).
    """
    k = log_w.shape[0]
    top = log_w.max(axis=0)
    if not np.all(np.isfinite(top)):
        return scipy.special.logsumexp(log_w, axis=0) - np.log(k)
    log_w -= top
    np.exp(log_w, out=log_w)
    return top + np.log(log_w.sum(axis=0)) - np.log(k)
