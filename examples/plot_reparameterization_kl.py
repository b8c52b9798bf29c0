r"""The reparameterization trick and the KL
=======================================

The encoder of a VAE does not map an image to a point but to a distribution over latent codes,
q(z|x) = N(mu, diag(sigma^2)). This example trains a small model for a few seconds, draws these
distributions for a few test images next to the prior N(0, I), checks the closed-form KL divergence against
a Monte Carlo estimate written from scratch, and shows the reparameterization trick (Kingma & Welling 2014)
turning samples into gradients that match a closed form.
"""

# %%
# A model trained briefly
# -----------------------
#
# 784-256-8 with ReLU and the Bernoulli likelihood, four epochs on the first 6,000 bundled training images;
# the first 500 test images are kept for the pictures. The fixed seeds make every number below reproducible
# with the same backend and number of threads.

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

import purevae
import purevae.backend
import purevae.data
import purevae.plots
from purevae import ops

data = purevae.data.prepare("bundled", n_train=6000, n_test=500)
m = purevae.VAE(n_input=data.n_features, hidden=(256,), n_latent=8, seed=0)
history = m.fit(data.x_train, epochs=4, batch_size=128, lr=1e-3)
print(f"training negative ELBO after {len(history['epoch'])} epochs: {history['loss'][-1]:.2f} nats per image")

# %%
# What the encoder returns
# ------------------------
#
# ``m.encode`` gives the two halves of the encoder's output layer, ``mu`` and ``logvar`` (the log of the
# variance), one row per image. Not every latent dimension carries the same amount of information: the
# average KL of each dimension over the test images (``purevae.plots.kl_per_dimension``) says how far its
# posteriors move from the prior, and the pictures below use the two dimensions where it is largest.

mu, logvar = m.encode(data.x_test)
mu, logvar = mu.astype(np.float64), ops.clamp_logvar(logvar.astype(np.float64))   # as the model uses them
kl_dims = purevae.plots.kl_per_dimension(mu, logvar)
dims = np.argsort(kl_dims)[::-1][:2]
print("average KL per latent dimension, nats:", np.round(kl_dims, 2))
print("the two dimensions drawn:", dims)

# %%
# q(z|x) next to the prior
# ------------------------
#
# For four test images, the picture on the right shows q(z|x) in the two chosen dimensions: 300 samples
# ``z = mu + sigma * eps`` drawn with ``ops.reparameterize``, and the ellipses at one and two standard
# deviations (axis-aligned, because the covariance is diagonal). The grey circles are the same contours of
# the prior N(0, I). Where the standard deviations printed below are under 1, the posterior is narrower than
# the prior; each sits in a place of its own: the encoder tells the decoder roughly where to look, and the
# spread says how uncertain that is.

rng = np.random.default_rng(0)
images = [0, 1, 2, 3]
colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
sigma = np.exp(logvar / 2)
print("sigma of the four images in the two drawn dimensions:", np.round(sigma[images][:, dims], 2))


def draw_gaussian(ax, center, scale, color, **style):
    """Ellipses at 1 and 2 standard deviations of N(center, diag(scale^2)) in the plane of ax."""
    for k in (1, 2):
        ax.add_patch(Ellipse(tuple(center), 2 * k * scale[0], 2 * k * scale[1], fill=False, edgecolor=color,
                             **style))


fig, axes = plt.subplots(len(images), 2, figsize=(7, 12), layout="constrained", gridspec_kw={"width_ratios": [1, 2]})
for row, (i, color) in enumerate(zip(images, colors)):
    axes[row, 0].imshow(data.x_test[i].reshape(data.image_shape), cmap="gray", vmin=0, vmax=1)
    axes[row, 0].set_axis_off()
    axes[row, 0].set_title(f"test image {i}")
    ax = axes[row, 1]
    draw_gaussian(ax, (0, 0), (1, 1), "0.6", linestyle="--")
    eps = rng.standard_normal((300, m.n_latent))
    z = ops.reparameterize(mu[i], logvar[i], eps)          # (300, L): mu and logvar broadcast over the rows
    ax.scatter(z[:, dims[0]], z[:, dims[1]], s=3, color=color, alpha=0.4)
    draw_gaussian(ax, mu[i, dims], sigma[i, dims], color)
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xlabel(f"z[{dims[0]}]")
    ax.set_ylabel(f"z[{dims[1]}]")
fig.suptitle("q(z|x) (colour) and the prior N(0, I) (grey), 1 and 2 standard deviations")
plt.show()

# %%
# The KL term of the loss pulls each posterior towards the prior; the reconstruction term pushes the
# posteriors of different images apart, so that the decoder can tell them apart. The cloud of the 500 test
# images' posterior means shows how the images share out the latent plane between them, on the scale of
# the prior.

fig, ax = plt.subplots(figsize=(6, 6))
ax.scatter(mu[:, dims[0]], mu[:, dims[1]], s=4, color="0.5", alpha=0.5, label="mu of 500 test images")
draw_gaussian(ax, (0, 0), (1, 1), "k", linestyle="--")
for i, color in zip(images, colors):
    draw_gaussian(ax, mu[i, dims], sigma[i, dims], color)
    ax.plot(*mu[i, dims], "o", color=color, label=f"q(z|x), test image {i}")
ax.set_xlim(-3.5, 3.5)
ax.set_ylim(-3.5, 3.5)
ax.set_aspect("equal")
ax.set_xlabel(f"z[{dims[0]}]")
ax.set_ylabel(f"z[{dims[1]}]")
ax.legend(loc="upper right", fontsize="small")
ax.set_title("posterior means, four posteriors and the prior (dashed)")
plt.show()

# %%
# The closed-form KL against Monte Carlo
# --------------------------------------
#
# The KL divergence is an expectation under q, KL(q || p) = E_q[log q(z) - log p(z)]. For a diagonal Gaussian q and the
# standard normal prior p = N(0, I) it has a closed form, ``0.5 * sum_k (mu_k^2 + sigma_k^2 - log sigma_k^2 - 1)``
# (Kingma & Welling 2014, appendix B; :ref:`derivations-kl`), which the model uses (``ops.kl_divergence``). Here the
# expectation is estimated directly instead: draw z from q, evaluate both log-densities with the Gaussian formula
# written out below (not the library's), and average. The standard error of the mean, std / sqrt(n), says how far the
# estimate may be from the truth by chance; the last column is the difference in units of that error, which should be of
# order 1 (a value far beyond 3 would point at a mistake in one of the two).

LOG_2PI = np.log(2 * np.pi)


def log_normal_diag(z, mean, var):
    """log N(z; mean, diag(var)), summed over the last axis, plain NumPy."""
    return -0.5 * np.sum(LOG_2PI + np.log(var) + (z - mean) ** 2 / var, axis=-1)


n_samples = 200_000
print(f"{'image':>5s} {'closed form':>12s} {'Monte Carlo':>12s} {'std. error':>11s} {'diff / s.e.':>11s}")
kl_samples = {}
for i in images:
    closed = ops.kl_divergence(mu[i], logvar[i])
    var = np.exp(logvar[i])
    z = mu[i] + np.sqrt(var) * rng.standard_normal((n_samples, m.n_latent))
    samples = log_normal_diag(z, mu[i], var) - log_normal_diag(z, 0.0, 1.0)
    estimate, error = samples.mean(), samples.std(ddof=1) / np.sqrt(n_samples)
    kl_samples[i] = samples
    print(f"{i:5d} {closed:12.4f} {estimate:12.4f} {error:11.4f} {(estimate - closed) / error:11.2f}")

# %%
# The running Monte Carlo estimate for the first image, with a band of two standard errors, closes in on
# the closed form as the number of samples grows. The closed form gives the exact value at the cost of one
# line, which is why the training loss uses it and samples only the reconstruction term
# (:ref:`derivations-elbo`).

samples = kl_samples[images[0]]
n = np.arange(1, n_samples + 1)
running = np.cumsum(samples) / n
running_sq = np.cumsum(samples**2) / n
band = 2 * np.sqrt(np.maximum(running_sq - running**2, 0) / n)
fig, ax = plt.subplots(figsize=(7, 4))
keep = n >= 10
ax.fill_between(n[keep], (running - band)[keep], (running + band)[keep], color="tab:blue", alpha=0.2,
                label="+- 2 standard errors")
ax.plot(n[keep], running[keep], color="tab:blue", label="Monte Carlo estimate")
ax.axhline(ops.kl_divergence(mu[images[0]], logvar[images[0]]), color="k", linestyle="--", label="closed form")
ax.set_xscale("log")
ax.set_xlabel("number of samples of z")
ax.set_ylabel("KL(q(z|x) || p(z)), nats")
ax.set_title(f"test image {images[0]}")
ax.legend()
plt.show()

# %%
# Gradients through samples: the reparameterization trick
# -------------------------------------------------------
#
# Training needs gradients of expectations under q with respect to ``mu`` and ``logvar``, and samples of
# ``z`` drawn directly from q have no derivative. Writing ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``
# moves the randomness into ``eps``, which does not depend on the parameters, so the gradient of
# E_q[f(z)] = E_eps[f(mu + sigma * eps)] is the average of the gradients of f along the samples (Kingma &
# Welling 2014, section 2.4; :ref:`derivations-reparameterization`):
#
# - d/dmu: the average of f'(z), because dz/dmu = 1;
# - d/dlogvar: the average of f'(z) * eps * sigma / 2, because sigma = exp(logvar / 2).
#
# Take f(z) = sum_k cos(z_k). Its expectation under a Gaussian has a closed form,
# E_q[f] = sum_k cos(mu_k) exp(-sigma_k^2 / 2), and so has its gradient:
# d/dmu_k = -sin(mu_k) exp(-sigma_k^2 / 2) and d/dlogvar_k = -cos(mu_k) exp(-sigma_k^2 / 2) sigma_k^2 / 2.
#
# The model's own backward kernel for the latent layer computes exactly these products: given the gradient
# with respect to z, ``purevae.backend.reparameterize_kl_backward`` returns the gradients with respect to
# [mu | logvar], plus the KL's, which ``beta=0`` switches off. Given one row per sample, it returns one
# gradient sample per row, whose mean and standard error are printed next to the closed form.

i = images[0]
mean_i, logvar_i = mu[i], logvar[i]
var_i = np.exp(logvar_i)
n_grad = 100_000
eps = rng.standard_normal((n_grad, m.n_latent))
z = ops.reparameterize(mean_i, logvar_i, eps)
mu_logvar_rows = np.tile(np.concatenate([mean_i, logvar_i]), (n_grad, 1))          # one row per sample
per_sample = purevae.backend.reparameterize_kl_backward(mu_logvar_rows, eps, -np.sin(z), beta=0.0, scale=1.0)
pathwise, pathwise_error = per_sample.mean(axis=0), per_sample.std(axis=0, ddof=1) / np.sqrt(n_grad)

damp = np.exp(-var_i / 2)
exact = np.concatenate([-np.sin(mean_i) * damp, -np.cos(mean_i) * damp * var_i / 2])

L = m.n_latent
print(f"{'parameter':>12s} {'closed form':>12s} {'reparameterized':>16s} {'std. error':>11s} {'diff / s.e.':>11s}")
for j in range(2 * L):
    name = f"mu[{j}]" if j < L else f"logvar[{j - L}]"
    print(f"{name:>12s} {exact[j]:12.5f} {pathwise[j]:16.5f} {pathwise_error[j]:11.5f} "
          f"{(pathwise[j] - exact[j]) / pathwise_error[j]:11.2f}")

# %%
# Without the trick one would use the score-function (REINFORCE) estimator of Williams (1992), the average
# of f(z) times the gradient of log q(z), which needs no derivative of f: d log q / dmu = eps / sigma and
# d log q / dlogvar = (eps^2 - 1) / 2. It is unbiased too, but its samples carry the whole value of f, not
# its local slope, and typically vary far more. The ratio of the two standard errors, with the same samples,
# shows by how much; the number of samples needed for a given accuracy grows as the square of that ratio.

f_values = np.sum(np.cos(z), axis=1, keepdims=True)
score = np.hstack([eps / np.sqrt(var_i), (eps**2 - 1) / 2])
score_samples = f_values * score
score_error = score_samples.std(axis=0, ddof=1) / np.sqrt(n_grad)
print("standard error, score function / reparameterized, per parameter:")
print(np.round(score_error / pathwise_error, 1))
