r"""The continuous Bernoulli against the Bernoulli on grey images
==============================================================

Much VAE code trains on grey images with a Bernoulli likelihood, although a Bernoulli is a distribution over
0 and 1 only. Loaiza-Ganem & Cunningham (2019) named this a pervasive error and proposed the *continuous
Bernoulli*, the Bernoulli's formula normalised into a density over [0, 1]. This example trains both
likelihoods on the same grey images of the bundled Fashion-MNIST subset, decodes the same latent codes with
both, shows their reconstructions, draws the continuous Bernoulli's normaliser and mean from the library's
own functions, and explains why the two models' nats must never be compared.
"""

# %%
# Two likelihoods on the same logits
# ----------------------------------
#
# Both decoders output one logit l per pixel; lambda = sigmoid(l). The Bernoulli scores a grey value x in
# [0, 1] with
#
# .. math::
#
#    \log p_{\mathrm{B}}(x \mid l) = x l - \operatorname{softplus}(l),
#
# which for grey x is minus a cross-entropy, not the log of a density: its exponential does not integrate
# to 1 over x in [0, 1]. The continuous Bernoulli multiplies it by the constant that makes it integrate to 1,
#
# .. math::
#
#    \log p_{\mathrm{CB}}(x \mid l) = x l - \operatorname{softplus}(l) + \log C(l), \qquad
#    C(l) = \frac{l}{\tanh(l/2)}, \quad C(0) = 2,
#
# and its mean is no longer lambda but sigmoid(l) - (1/l - 1/sinh(l)). The derivation, the stable formulas
# and their error bounds are in :ref:`derivations-continuous-bernoulli`; the Bernoulli's in
# :ref:`derivations-bernoulli`.
#
# The data: grey values in [0, 1], not binarized (``purevae.data.prepare(..., binarize="none")``), the
# first 5,000 training images, and 500 test images to score.

import matplotlib.pyplot as plt
import numpy as np
import scipy.special

import purevae
import purevae.data
import purevae.ops
import purevae.plots

data = purevae.data.prepare("bundled", binarize="none", dtype="float32", n_train=5000)
x_test = data.x_test[:500]
shape = data.image_shape
PAD = 2                                               # grid_array's default padding, for the row labels
row_centres = [PAD + r * (shape[0] + PAD) + shape[0] // 2 for r in range(3)]
print(data)
print(f"grey test pixels: {np.mean((x_test > 0) & (x_test < 1)):.1%} strictly between 0 and 1, "
      f"{np.mean(x_test == 0):.1%} exactly 0, {np.mean(x_test == 1):.1%} exactly 1")

# %%
# Training both
# -------------
#
# The same architecture (784-200-16, ReLU), seed, data and ten epochs of Adam for both; only the
# ``likelihood`` differs.

models = {}
for likelihood in ("bernoulli", "continuous_bernoulli"):
    model = purevae.VAE(n_input=data.n_features, hidden=(200,), n_latent=16, likelihood=likelihood,
                        activation="relu", dtype="float32", seed=0)
    history = model.fit(data.x_train, epochs=10, batch_size=50, lr=1e-3)
    models[likelihood] = model
    print(f"{likelihood:21s} trained in {history['time'][-1]:.1f} s; training loss per epoch (nats): "
          + " ".join(f"{v:.1f}" for v in history["loss"]))

bernoulli, cb = models["bernoulli"], models["continuous_bernoulli"]
for name, model in models.items():
    loss = model.history["loss"]
    print(f"{name:21s} last epoch changed the training loss by {loss[-1] - loss[-2]:+.1f} nats "
          f"({(loss[-1] - loss[-2]) / abs(loss[-2]):+.1%})")

# %%
# The same z, decoded by both
# ---------------------------
#
# Eight codes z drawn once from the prior, decoded by each model. ``decode`` returns the mean of p(x|z):
# sigmoid(l) for the Bernoulli, the continuous Bernoulli's mean for the other. For the continuous
# Bernoulli, the third row shows lambda = sigmoid(l) of the same logits, which the decoder's public seam
# gives: ``model.decoder.forward(model.params, z, purevae.ops)[-1]`` is the decoder's output, the logits.
# The two models were trained separately, so the same z need not mean the same garment in both; what the
# rows compare is how each likelihood turns logits into an image.

z = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
cb_logits = cb.decoder.forward(cb.params, z, purevae.ops)[-1]
rows = [bernoulli.decode(z), cb.decode(z), scipy.special.expit(cb_logits)]
fig, ax = plt.subplots(figsize=(8, 3.4))
ax.imshow(purevae.plots.grid_array(np.vstack(rows), shape, ncols=8), cmap="gray", vmin=0, vmax=1)
ax.set_yticks(row_centres, ["Bernoulli\nmean", "continuous B.\nmean", "continuous B.\nlambda"])
ax.set_xticks([])
ax.set_title("the same eight z ~ N(0, I), decoded by both models")
fig.tight_layout()

# %%
# Where lambda is near 0 or 1, the continuous Bernoulli's mean is pulled towards 1/2 (see the curves below),
# so its images look less contrasted than lambda; the difference between the middle and bottom rows is
# that pull, pixel by pixel.
#
# Reconstructions
# ---------------
#
# Test images (top), each above its reconstruction decode(mu(x)) by the Bernoulli model (middle) and by
# the continuous Bernoulli model (bottom).

originals = x_test[:8]
grid = purevae.plots.grid_array(np.vstack([originals, bernoulli.reconstruct(originals),
                                           cb.reconstruct(originals)]), shape, ncols=8)
fig, ax = plt.subplots(figsize=(8, 3.4))
ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
ax.set_yticks(row_centres, ["test image", "Bernoulli", "continuous B."])
ax.set_xticks([])
ax.set_title("test images and their reconstructions")
fig.tight_layout()

for name, model in models.items():
    error = np.mean(np.abs(model.reconstruct(x_test) - x_test))
    print(f"{name:21s} mean absolute error of decode(mu(x)) against the test pixels: {error:.4f}")

# %%
# The mean absolute error above is one way to put the two models on the same scale: it compares images
# with images, whatever the likelihood. It does not rank the likelihoods, though: the continuous Bernoulli's
# ``decode`` returns the distribution's *mean*, which is pulled towards 1/2 for every lambda strictly between 0
# and 1 (the middle panel below), and that costs absolute error on the many pixels that are exactly 0. The
# nats of the next section cannot put the two on one scale at all.
#
# The normaliser and the mean as functions of lambda
# --------------------------------------------------
#
# ``purevae.ops.cb_log_normalizer`` and ``purevae.ops.cb_mean`` take logits, so a grid of lambda goes in as l =
# logit(lambda). log C is smallest, log 2, at lambda = 1/2 and grows without bound, slowly, as lambda approaches 0 or 1
# (like the log of the logit's size for a large logit: the grid below stops at lambda = 0.001, l = -6.9, while a trained
# model's logits go much further, as printed further down); the mean equals lambda only at lambda = 1/2 (and in the
# limits 0 and 1). The right panel draws the density p(x | lambda) itself, from ``purevae.ops.continuous_bernoulli_nll``
# on one-pixel "images": it exceeds 1 near the end of [0, 1] that lambda leans towards, so its log is positive there.

lam = np.linspace(0.001, 0.999, 999)
logits = scipy.special.logit(lam)
fig, (ax_c, ax_mean, ax_density) = plt.subplots(1, 3, figsize=(12, 3.6))
ax_c.plot(lam, purevae.ops.cb_log_normalizer(logits))
ax_c.axhline(np.log(2), color="k", linestyle=":", linewidth=1, label="log 2")
ax_c.set_xlabel("lambda = sigmoid(l)")
ax_c.set_ylabel("log C")
ax_c.set_title("log-normaliser log C(lambda)")
ax_c.legend()
ax_mean.plot(lam, purevae.ops.cb_mean(logits), label="continuous Bernoulli mean")
ax_mean.plot(lam, lam, color="k", linestyle=":", linewidth=1, label="lambda (the Bernoulli's mean)")
ax_mean.set_xlabel("lambda = sigmoid(l)")
ax_mean.set_ylabel("E[x]")
ax_mean.set_title("mean E[x] against lambda")
ax_mean.legend(fontsize="small")
x_grid = np.linspace(0.0, 1.0, 201)[:, None]
for value in (0.05, 0.2, 0.5, 0.8, 0.95):
    nll = np.empty(len(x_grid))
    purevae.ops.continuous_bernoulli_nll(x_grid, np.full_like(x_grid, scipy.special.logit(value)), nll)
    ax_density.plot(x_grid[:, 0], np.exp(-nll), label=f"lambda = {value}")
ax_density.set_xlabel("x")
ax_density.set_ylabel("p(x | lambda)")
ax_density.set_title("density on [0, 1]")
ax_density.legend(fontsize="small")
fig.tight_layout()

check = purevae.ops.cb_mean(np.array([0.0]))[0]
print(f"cb_mean at l = 0: {check:.6f}; log C at l = 0: {purevae.ops.cb_log_normalizer(np.array([0.0]))[0]:.6f} "
      f"(log 2 = {np.log(2):.6f})")

# %%
# Why the two models' numbers must not be compared
# ------------------------------------------------
#
# Both models report a "negative ELBO" and a "-log p(x)" in nats per image, on the same test images:

for name, model in models.items():
    neg_elbo = -model.elbo(x_test)
    neg_log_px = -model.log_likelihood(x_test, k=200)
    print(f"{name:21s} -ELBO {neg_elbo.mean():9.2f}   -log p(x) (IW, k=200) {neg_log_px.mean():9.2f}")

# %%
# These are two different quantities, so the difference between the two rows measures nothing:
#
# - The Bernoulli's number is a cross-entropy between grey pixels and the decoder's lambda. Its -ELBO is
#   never negative (neither of its two terms is), and even a perfect decoder cannot bring the cross-entropy
#   to 0 on grey pixels: against any lambda it is at least the binary entropy of the grey value,
#   -x log x - (1 - x) log(1 - x), summed over the pixels (printed below).
# - The continuous Bernoulli's number is minus the log of a density over [0, 1]^784. A density can exceed
#   1, so this number can be negative, and it changes if the pixels are rescaled (a density is per unit of
#   x), which a probability does not.
#
# The decomposition makes the gap visible. At z = mu(x), the continuous Bernoulli's -log p(x|z) is the
# Bernoulli cross-entropy of its own logits minus the sum of the 784 log-normalisers, each at least log 2:

mu, _ = cb.encode(x_test)
logits_test = cb.decoder.forward(cb.params, mu, purevae.ops)[-1].astype(np.float64)
x64 = x_test.astype(np.float64)
cross_entropy, cb_nll = np.empty(len(x64)), np.empty(len(x64))
purevae.ops.bernoulli_nll(x64, logits_test, cross_entropy)
purevae.ops.continuous_bernoulli_nll(x64, logits_test, cb_nll)
log_c = purevae.ops.cb_log_normalizer(logits_test).sum(axis=1)
print(f"continuous Bernoulli at z = mu(x), mean over the test images: cross-entropy {cross_entropy.mean():.2f} "
      f"- sum of log C {log_c.mean():.2f} = {np.mean(cross_entropy - log_c):.2f}; its -log p(x|z) "
      f"{cb_nll.mean():.2f}")
print(f"the sum of log C is at least 784 log 2 = {data.n_features * np.log(2):.2f} nats per image")
floor = np.sum(scipy.special.entr(x64) + scipy.special.entr(1 - x64), axis=1)
print(f"the floor of the Bernoulli's cross-entropy on these test images (their binary entropy): "
      f"{floor.mean():.2f} nats per image")

# %%
# Where does a large log C come from? Many Fashion-MNIST pixels are exactly 0 (the share is printed at the
# top). For l -> -infinity the continuous Bernoulli's density at x = 0 grows like :math:`|l|`, without
# bound, so a model that keeps pushing those logits down keeps raising its log-density: the gradient of
# -log p there, mean - x = mean, shrinks like :math:`1/|l|` but stays positive. The printout compares the
# logits on exactly-0 pixels with the others:

zero = x_test == 0
print(f"continuous Bernoulli logits at z = mu(x): median {np.median(logits_test[zero]):.1f} on pixels that are "
      f"exactly 0, {np.median(logits_test[~zero]):.1f} on the others; smallest {logits_test.min():.1f}")
print(f"mean log C per pixel: {purevae.ops.cb_log_normalizer(logits_test[zero]).mean():.2f} on exactly-0 pixels, "
      f"{purevae.ops.cb_log_normalizer(logits_test[~zero]).mean():.2f} on the others")
log_c_zero = purevae.ops.cb_log_normalizer(logits_test[zero]).sum() / len(x_test)
print(f"of the sum of log C per image ({log_c.mean():.2f} nats), the exactly-0 pixels hold {log_c_zero:.2f} "
      f"({log_c_zero / log_c.mean():.0%})")

# %%
# If the exactly-0 pixels' logits are far below the others', and their log C well above, the continuous Bernoulli's nats
# depend on how much of the data sits exactly at the edges of [0, 1] (the share of the sum of log C printed above), and
# they may keep falling with longer training for that reason alone. Loaiza-Ganem & Cunningham (2019) argue for the
# continuous Bernoulli as the likelihood that fits grey data. What its numbers can be compared with is other
# continuous-Bernoulli models on the same data; across the two likelihoods, compare what does not depend on the
# likelihood (the reconstruction error above, samples, a downstream task), never a density with a cross-entropy.
# purevae's command line prints which of the two a number is, for this reason.
