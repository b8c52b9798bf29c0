r"""A VAE in twelve steps
=====================

One training step of a small variational autoencoder (Kingma & Welling 2014), taken apart: the forward
pass, the loss and the backward pass, computed by hand in twelve steps with the functions of ``purevae.ops``:
the NumPy twins of the compiled kernels the model runs by default (under ``purevae.set_backend("numpy")`` the
model runs these very functions). Along the way the hand-made numbers are compared with
``VAE.loss_and_grads``, and at the end a sample of every parameter's gradient (up to 200 entries each) is
compared with central differences by ``purevae.gradcheck``.

Each step names the section of the derivations that derives its formula.
"""

# %%
# Step 1: the data and the model
# ------------------------------
#
# Eight images of the bundled Fashion-MNIST subset, scaled to grey values in [0, 1] and kept in float64,
# and a VAE with one hidden layer of 64 units on each side and 8 latent dimensions, also in float64 (the
# precision in which gradients can be checked, see :ref:`derivations-numerics`). The activation is
# ``tanh``: it is smooth, so the central differences of step 12 never straddle a kink as they could with
# ReLU. All parameters live in one ordered dict, ``m.params``; a dense layer's weight has shape
# (n_in, n_out), so that the layer computes ``x @ weight + bias`` (:ref:`derivations-notation`).

import matplotlib.pyplot as plt
import numpy as np
import scipy.special

import purevae
import purevae.data
import purevae.plots
from purevae import ops
from purevae.gradcheck import format_table, numeric_gradient, relative_error
from purevae.workspace import FRESH, Workspace

data = purevae.data.load_bundled()
x = purevae.data.scale_pixels(data.x_train[:8], "float64")      # (B, D) = (8, 784), values in [0, 1]
m = purevae.VAE(n_input=784, hidden=(64,), n_latent=8, activation="tanh", dtype="float64", seed=0)
B, D, L = x.shape[0], m.n_input, m.n_latent
for name, value in m.params.items():
    print(f"{name:20s} {str(value.shape):12s} {value.dtype}")

# %%
# Step 2: the encoder's hidden layer
# ----------------------------------
#
# A dense layer is a matrix product and a bias, ``a = x W + b``, followed by the activation, ``h = f(a)``.
# The model splits this in two calls: ``linear_forward`` writes the product ``x W`` into an output array
# with BLAS, and ``bias_activation_forward`` adds the bias and applies ``f`` to that array in place, in one
# pass (:ref:`derivations-dense`, :ref:`derivations-activations`). The activation is passed by its integer
# code, ``ops.ACTIVATIONS``, because the compiled twin cannot read a Python string. The one-line version
# ``ops.dense_forward`` followed by ``ops.activation_forward`` gives the same numbers.

TANH, IDENTITY = ops.ACTIVATIONS["tanh"], ops.ACTIVATIONS["identity"]
W0, b0 = m.params["encoder.0.weight"], m.params["encoder.0.bias"]
h = np.empty((B, W0.shape[1]))
ops.linear_forward(x, W0, h)                       # h = x W0            (BLAS)
ops.bias_activation_forward(h, b0, TANH, m.alpha)  # h <- tanh(h + b0)   (in place)
readable = ops.activation_forward(ops.dense_forward(x, W0, b0), "tanh")
print("h:", h.shape, " max |h - tanh(x W0 + b0)| =", np.max(np.abs(h - readable)))

# %%
# Step 3: the encoder's output layer, mu and logvar
# -------------------------------------------------
#
# The last layer of the encoder has no activation (the identity) and ``2 L`` outputs: the first ``L``
# columns are the mean ``mu`` of q(z|x) = N(mu, diag(sigma^2)), the last ``L`` are ``logvar``, the log of
# the *variance* sigma^2 (:ref:`derivations-reparameterization`). The log-variance is clamped to
# [-30, 30] before use, so that ``exp(logvar)`` stays finite (:ref:`derivations-numerics`); the largest
# ``|logvar|`` of the batch, printed below, shows how far an untrained model is from that limit.

W_out, b_out = m.params["encoder.out.weight"], m.params["encoder.out.bias"]
mu_logvar = np.empty((B, 2 * L))
ops.linear_forward(h, W_out, mu_logvar)
ops.bias_activation_forward(mu_logvar, b_out, IDENTITY, 0.0)   # identity: mu_logvar = h W_out + b_out
mu, logvar = mu_logvar[:, :L], ops.clamp_logvar(mu_logvar[:, L:])
print("mu of the first image:    ", np.round(mu[0], 3))
print("sigma of the first image: ", np.round(np.exp(logvar[0] / 2), 3))
print("largest |logvar| of the batch:", f"{np.abs(mu_logvar[:, L:]).max():.3f}")

# %%
# Step 4: the reparameterization trick
# ------------------------------------
#
# A draw from q(z|x) is written as a deterministic function of ``mu``, ``logvar`` and noise that does not
# depend on them: ``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` (Kingma & Welling 2014,
# section 2.4). For a fixed ``eps``, ``z`` is a smooth function of the encoder's output, so the gradient can
# flow through it (:ref:`derivations-reparameterization`). The noise is drawn here from our own seeded
# generator and passed to the model later, so that the model's step is the same computation.

eps = np.random.default_rng(1).standard_normal((B, L))
z = ops.reparameterize(mu, logvar, eps)
print("z:", z.shape)
print("z of the first image:", np.round(z[0], 3))

# %%
# Step 5: the KL divergence, in closed form
# -----------------------------------------
#
# The prior is p(z) = N(0, I). For a diagonal Gaussian q the divergence KL(q(z|x) || p(z)) has a closed
# form, a sum over the latent dimensions of ``(mu^2 + exp(logvar) - logvar - 1) / 2`` (Kingma & Welling
# 2014, appendix B; :ref:`derivations-kl`): ``ops.kl_terms`` gives each dimension's term and
# ``ops.kl_divergence`` their sum per example. The training step computes ``z`` and the KL in a single
# pass, ``ops.reparameterize_kl_forward``, which must agree with steps 4 and 5.

kl = ops.kl_divergence(mu, logvar)                  # (B,), nats
print("KL per example, nats:", np.round(kl, 4))
z_fused, kl_fused = np.empty((B, L)), np.empty(B)
ops.reparameterize_kl_forward(mu_logvar, eps, z_fused, kl_fused)
print("fused kernel twin: max |z difference| =", np.max(np.abs(z_fused - z)),
      " max |KL difference| =", np.max(np.abs(kl_fused - kl)))

# %%
# Step 6: the decoder, from z to logits
# -------------------------------------
#
# The decoder mirrors the encoder: a hidden tanh layer ``g = tanh(z V0 + c0)`` and an output layer without
# activation that gives one logit per pixel, ``logits = g V_out + c_out`` (:ref:`derivations-dense`,
# :ref:`derivations-activations`).

V0, c0 = m.params["decoder.0.weight"], m.params["decoder.0.bias"]
V_out, c_out = m.params["decoder.out.weight"], m.params["decoder.out.bias"]
g = np.empty((B, V0.shape[1]))
ops.linear_forward(z, V0, g)
ops.bias_activation_forward(g, c0, TANH, m.alpha)
logits = np.empty((B, D))
ops.linear_forward(g, V_out, logits)
ops.bias_activation_forward(logits, c_out, IDENTITY, 0.0)
print("logits:", logits.shape, " range", float(logits.min()), "to", float(logits.max()))

# %%
# Step 7: the Bernoulli likelihood and its gradient
# -------------------------------------------------
#
# Pixel j of the image is modelled as a Bernoulli variable with probability ``sigmoid(l_j)``. Its negative
# log-probability, summed over the pixels, is ``sum_j softplus(l_j) - x_j l_j``, and its derivative with
# respect to a logit is the predicted probability minus the target, ``sigmoid(l_j) - x_j``
# (:ref:`derivations-bernoulli`). With grey values this is a cross-entropy rather than a normalised density
# over grey levels, the usual setup for these images. ``ops.bernoulli_nll_grad`` writes the per-example
# values into ``nll`` and the gradient of the batch *mean* into ``grad_logits``: every row is multiplied by
# its ``scale``, here ``1 / B``. That factor enters the backward pass here and, for the KL term, in step 10,
# and nowhere else.

nll, grad_logits = np.empty(B), np.empty((B, D))
ops.bernoulli_nll_grad(x, logits, np.full(B, 1.0 / B), nll, grad_logits)
print("-log p(x|z) per example, nats:", np.round(nll, 2))
by_hand = (scipy.special.expit(logits) - x) / B
print("max |grad_logits - (sigmoid(logits) - x) / B| =", np.max(np.abs(grad_logits - by_hand)))

# %%
# Step 8: the loss
# ----------------
#
# The loss of the batch is the mean over its examples of the negative ELBO estimate,
# ``-log p(x|z) + beta * KL``, in nats per example, with ``beta = 1`` (:ref:`derivations-elbo`). The
# reconstruction term is a one-sample Monte Carlo estimate (the ``z`` of step 4); the KL is exact.
# ``VAE.loss_and_grads`` computes the same number when it is given the same noise ``eps``. It runs the
# backend in use (printed below), by default the compiled kernels. They may round differently from the NumPy
# twins, so the two results need only agree to round-off, not bit for bit.

beta = 1.0
loss = nll.mean() + beta * kl.mean()
loss_model, grads_model = m.loss_and_grads(x, eps=eps, beta=beta)
print(f"backend: {purevae.get_backend()}")
print(f"by hand:              loss = {loss:.12f} nats per example "
      f"(reconstruction {nll.mean():.6f} + KL {kl.mean():.6f})")
print(f"m.loss_and_grads:     loss = {loss_model:.12f}")
print(f"absolute difference:  {abs(loss - loss_model):.2e}")

# %%
# The untrained model's mean of p(x|z), ``sigmoid(logits)``, is grey noise around 0.5 (the logits of step 6 are small
# numbers of either sign), with no trace of the garments: the decoder knows nothing yet, which is why the reconstruction
# term is large. Top row: the eight images; bottom row: what the decoder makes of their ``z``.

grid = purevae.plots.grid_array(np.vstack([x, scipy.special.expit(logits)]), (28, 28), ncols=B)
fig, ax = plt.subplots(figsize=(8, 2.4))
ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
ax.set_axis_off()
ax.set_title("the batch (top) and the untrained decoder's mean of p(x|z) (bottom)")
plt.show()

# %%
# Step 9: backward through the decoder
# ------------------------------------
#
# The backward pass starts from ``grad_logits`` and walks the layers in reverse. For each layer,
# ``activation_backward_bias`` turns the gradient of the layer's output into that of its pre-activation,
# ``grad_a = grad_h * f'(a)``, and sums its rows into the bias gradient, in one pass. For tanh the
# derivative is ``1 - h^2``, written with the layer's output alone, so the forward pass did not need to keep
# ``a`` (:ref:`derivations-activations`). ``linear_backward`` then computes the two matrix products
# ``grad_W = input^T grad_a`` and ``grad_input = grad_a W^T`` (:ref:`derivations-dense`). The decoder's
# input gradient is ``grad_z``, which the next step carries into the encoder.

grad_pre_out = np.empty((B, D))
grad_c_out, grad_V_out, grad_g = np.empty(D), np.empty_like(V_out), np.empty_like(g)
ops.activation_backward_bias(grad_logits, logits, IDENTITY, 0.0, grad_pre_out, grad_c_out)  # identity: unchanged
ops.linear_backward(g, V_out, grad_pre_out, grad_V_out, grad_g)

grad_a_dec = np.empty_like(g)
grad_c0, grad_V0, grad_z = np.empty_like(c0), np.empty_like(V0), np.empty_like(z)
ops.activation_backward_bias(grad_g, g, TANH, m.alpha, grad_a_dec, grad_c0)      # grad_a = grad_g * (1 - g^2)
ops.linear_backward(z, V0, grad_a_dec, grad_V0, grad_z)
print("grad_z:", grad_z.shape)
print("max |grad_a - grad_g * (1 - g^2)| =", np.max(np.abs(grad_a_dec - grad_g * (1 - g * g))))

# %%
# Step 10: backward through the reparameterization and the KL
# -----------------------------------------------------------
#
# ``z = mu + sigma * eps`` gives ``dz/dmu = 1`` and ``dz/dlogvar = eps * sigma / 2`` (because
# ``sigma = exp(logvar / 2)``), and the KL term of the loss, ``beta * KL / B``, adds its own derivatives
# ``beta * mu / B`` and ``beta * (exp(logvar) - 1) / (2 B)`` (:ref:`derivations-reparameterization`,
# :ref:`derivations-kl`). ``ops.reparameterize_kl_backward`` writes both halves into ``grad_mu_logvar``,
# which is the gradient of the encoder's output layer. It takes ``beta`` per latent dimension (free bits
# set some of them to 0) and the scale ``1 / B``. The same two lines written out with NumPy agree with it.

grad_mu_logvar = np.empty((B, 2 * L))
ops.reparameterize_kl_backward(mu_logvar, eps, grad_z, np.full(L, beta), 1.0 / B, grad_mu_logvar)
sigma = np.exp(logvar / 2)
grad_mu = grad_z + beta * mu / B
grad_logvar = grad_z * eps * sigma / 2 + beta * (np.exp(logvar) - 1) / (2 * B)
print("max |difference| from the written-out formulas:",
      np.max(np.abs(grad_mu_logvar - np.hstack([grad_mu, grad_logvar]))))

# %%
# Step 11: backward through the encoder, and every gradient compared
# ------------------------------------------------------------------
#
# The encoder's two layers go backward as the decoder's did. The first layer's input is the data, whose
# gradient no parameter needs, so ``linear_backward`` gets ``grad_x=None`` and skips that product
# (:ref:`derivations-full-chain`). That completes the gradient: one array per parameter, with the names and
# shapes of ``m.params``. The table compares each with the gradient ``m.loss_and_grads`` returned in step 8:
# the largest absolute difference, next to the largest entry for scale.

grad_pre_enc_out = np.empty((B, 2 * L))
grad_b_out, grad_W_out, grad_h = np.empty_like(b_out), np.empty_like(W_out), np.empty_like(h)
ops.activation_backward_bias(grad_mu_logvar, mu_logvar, IDENTITY, 0.0, grad_pre_enc_out, grad_b_out)
ops.linear_backward(h, W_out, grad_pre_enc_out, grad_W_out, grad_h)

grad_a_enc = np.empty_like(h)
grad_b0, grad_W0 = np.empty_like(b0), np.empty_like(W0)
ops.activation_backward_bias(grad_h, h, TANH, m.alpha, grad_a_enc, grad_b0)
ops.linear_backward(x, W0, grad_a_enc, grad_W0, None)          # grad_x = None: x is data

grads = {"encoder.0.weight": grad_W0, "encoder.0.bias": grad_b0,
         "encoder.out.weight": grad_W_out, "encoder.out.bias": grad_b_out,
         "decoder.0.weight": grad_V0, "decoder.0.bias": grad_c0,
         "decoder.out.weight": grad_V_out, "decoder.out.bias": grad_c_out}
assert list(grads) == list(m.params)
print(f"{'parameter':20s} {'max |hand - model|':>20s} {'max |gradient|':>16s}")
for name, grad in grads.items():
    print(f"{name:20s} {np.max(np.abs(grad - grads_model[name])):20.2e} {np.max(np.abs(grad)):16.2e}")

# %%
# ``loss_and_grads`` validates ``x`` and ``eps`` and calls ``VAE.step``, the step that training runs on
# every batch, which composes the same pieces through the model's seams (``m.encoder`` and ``m.decoder``,
# two ``purevae.mlp.MLP``; ``m.latent``; ``m.likelihood``). ``step`` also returns the two terms of the loss.
# The workspace ``FRESH`` makes new arrays for every result (``fit`` passes a ``Workspace`` that reuses
# them from one step to the next).

result = m.step(x, eps, beta, FRESH)
print(f"VAE.step: loss {result.loss:.12f} = recon {result.recon:.6f} + KL {result.kl:.6f}")
print(f"differences from steps 7 and 5: recon {abs(result.recon - nll.mean()):.2e}, "
      f"KL {abs(result.kl - kl.mean()):.2e}")

# %%
# Step 12: the gradient check
# ---------------------------
#
# Agreement between two implementations of the same formulas does not prove the formulas right. Central differences test
# them independently, at this point and on sampled entries: with ``eps`` held fixed the loss is an ordinary function of
# the parameters, and the fourth-order difference ``(8 (L(+h) - L(-h)) - (L(+2h) - L(-2h))) / (12 h)`` estimates each
# partial derivative with an error of order ``h^4`` (:ref:`derivations-gradient-check`). Relative errors of about 1e-7
# or less mean agreement; a bug, such as a gradient that forgets a term, shows up far above 1e-6. To see what that looks
# like, compare the numerical gradient of ``encoder.out.bias`` with our step-10 gradient, and with a wrong one that
# leaves out the KL's part of the log-variance gradient:

ws = Workspace()


def loss_at_current_params():
    """The loss of the batch with eps held fixed, at whatever m.params holds now."""
    return m.step(x, eps, beta, ws).loss


bias = m.params["encoder.out.bias"]
numeric = numeric_gradient(loss_at_current_params, bias, np.arange(bias.size), h=1e-3)
wrong = grad_b_out.copy()
wrong[L:] -= np.sum(beta * (np.exp(logvar) - 1) / (2 * B), axis=0)   # the forgotten term
print(f"encoder.out.bias, max relative error: right {np.max(relative_error(grad_b_out, numeric)):.1e}, "
      f"wrong {np.max(relative_error(wrong, numeric)):.1e}")

# %%
# ``purevae.gradcheck`` does this for every parameter (at most 200 entries of each, drawn at random), always
# in float64, with its own fixed noise. The step ``h = 1e-3`` is larger than its default: this loss is a sum
# over 784 pixels and large (step 8 printed it), and the rounding error of a difference of two losses,
# divided by the step, grows as ``|loss| / h`` (:ref:`derivations-numerics`), while the truncation error,
# of order ``h^4``, stays negligible at this step.

errors = purevae.gradcheck(m, x, h=1e-3)
print(format_table(errors))
worst = max(errors.values())
print(f"largest relative error: {worst:.1e} (below 1e-6: {worst < 1e-6})")
