r"""IWAE against the VAE
====================

The importance-weighted autoencoder of Burda, Grosse & Salakhutdinov (2016) is the VAE's model, encoder
and decoder trained on a different objective: the k-sample bound IWAE_k instead of the ELBO. This example
trains the two, with the same architecture, seed, data and number of epochs, on dynamically binarized
images of the bundled Fashion-MNIST subset, then compares them three ways on the same test images: their
ELBO, the k-sample bound for several k, and the importance-sampled estimate of log p(x); and it looks at
how many latent dimensions each one uses.
"""

# %%
# Two bounds on log p(x)
# ----------------------
#
# For an image x, with z_1, ..., z_k drawn from the encoder's q(z|x) and the importance weights
# w_i = p(x|z_i) p(z_i) / q(z_i|x),
#
# .. math::
#
#    \mathrm{IWAE}_k(x) = \mathbb{E}\Big[\log \frac{1}{k} \sum_{i=1}^{k} w_i\Big] \le \log p(x).
#
# At k = 1 it is the ELBO; it cannot decrease as k grows, and tends to log p(x) (Burda et al. 2016,
# Theorem 1). ``VAE.log_likelihood(x, k=k)`` computes one draw of the quantity inside the expectation for
# every image, so its mean over images estimates IWAE_k, and at a large k it is the usual estimate of
# log p(x) (:ref:`derivations-iwae`). ``fit(objective="iwae", k=5)`` trains on minus IWAE_5 instead of the
# negative ELBO; its gradient weights each sample's gradient by its normalised importance weight
# (:ref:`derivations-iwae-training`). A VAE is trained to make its ELBO tight for its own q(z|x); an IWAE
# only needs some of its k samples to be good, which lets q(z|x) be broader than the true posterior. So the
# VAE should win at k = 1 and the IWAE at large k, if the short run below shows the effect at all.
#
# The data: grey values in [0, 1] as probabilities, with a fresh 0/1 draw of every training image each
# epoch (``fit(binarize=True)``, the ``"dynamic"`` mode of ``purevae.data.prepare``), and one fixed seeded
# binarization of the test set, so that the numbers are log-probabilities of binary images. Here the first
# 5,000 training images and 500 test images keep the run short.

import matplotlib.pyplot as plt
import numpy as np

import purevae
import purevae.data
import purevae.diagnostics

data = purevae.data.prepare("bundled", binarize="dynamic", dtype="float32", n_train=5000)
x_test = data.x_test[:500]
print(data)
print(f"evaluated on the first {len(x_test)} test images (fixed binarization)")

# %%
# Training the two models
# -----------------------
#
# The architecture follows Burda et al.'s model with one stochastic layer: two tanh layers of 200 units on
# each side and 50 latent dimensions, likely more than these images need. Both models start from the same
# parameters (same seed) and see the same 10 epochs of Adam, batches of 50. The IWAE step runs the decoder
# on k = 5 samples of z per image, so it costs about five times the decoder's work of a VAE step.

EPOCHS, BATCH, K_TRAIN = 10, 50, 5


def make_model():
    """The one architecture both models share."""
    return purevae.VAE(n_input=data.n_features, hidden=(200, 200), n_latent=50, activation="tanh",
                       likelihood="bernoulli", dtype="float32", seed=0)


models = {"VAE (ELBO)": make_model(), f"IWAE (k={K_TRAIN})": make_model()}
objectives = {"VAE (ELBO)": ("elbo", 1), f"IWAE (k={K_TRAIN})": ("iwae", K_TRAIN)}
for name, model in models.items():
    objective, k = objectives[name]
    history = model.fit(data.x_train, epochs=EPOCHS, batch_size=BATCH, lr=1e-3, binarize=data.fit_binarize,
                        objective=objective, k=k)
    print(f"{name:12s} trained {EPOCHS} epochs in {history['time'][-1]:.1f} s; last epoch's training loss "
          f"{history['loss'][-1]:.2f} nats (its own objective)")

# %%
# The test ELBO, the k-sample bound and log p(x)
# ----------------------------------------------
#
# For each model: the test ELBO (``VAE.elbo``, the KL term in closed form), the bound IWAE_k for k from 1
# to 100 (``log_likelihood(x, k=k)``, averaged over the images), and ``log_likelihood`` at k = 500 as the
# estimate of log p(x) (``purevae evaluate`` uses k = 5000 by default; fewer samples keep this page fast,
# and give a lower estimate, since the bound still rises with k). Every number is a mean in nats per image;
# the ``+-`` is its standard error over the images. The differences between the two models are paired (the
# same images), with their own standard error.

KS = (1, 2, 5, 10, 20, 50, 100)
K_LL = 500


def mean_se(values):
    """Mean and standard error over images."""
    return float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values)))


results = {}
for name, model in models.items():
    elbo = model.elbo(x_test)
    bounds = {k: model.log_likelihood(x_test, k=k) for k in KS}
    log_px = model.log_likelihood(x_test, k=K_LL)
    results[name] = {"elbo": elbo, "bounds": bounds, "log_px": log_px}
    print(f"{name}:")
    print(f"  test ELBO                  {mean_se(elbo)[0]:9.2f} +- {mean_se(elbo)[1]:.2f}")
    for k in KS:
        m_k, se_k = mean_se(bounds[k])
        print(f"  IWAE_k bound, k = {k:4d}     {m_k:9.2f} +- {se_k:.2f}")
    print(f"  log p(x), IW k = {K_LL:4d}     {mean_se(log_px)[0]:9.2f} +- {mean_se(log_px)[1]:.2f}")

vae, iwae = (results[name] for name in models)
print("IWAE minus VAE (paired over the same images; > 0: the IWAE scores higher):")
for label, a, b in [("test ELBO", iwae["elbo"], vae["elbo"]),
                    *[(f"IWAE_{k} bound", iwae["bounds"][k], vae["bounds"][k]) for k in KS],
                    (f"log p(x), k={K_LL}", iwae["log_px"], vae["log_px"])]:
    d, se = mean_se(a - b)
    print(f"  {label:18s} {d:+7.2f} +- {se:.2f}")

# %%
# Each model's curve should rise with k (each point is an estimate, so a tiny dip between two close k is noise). The
# cross and the first point of each curve estimate the same ELBO, one with the KL in closed form, the other from one
# log-weight per image, each with its own draws of z: they differ by Monte Carlo noise. The VAE's curve starts higher
# when its ELBO is the better one; the IWAE's climbs faster, because its q(z|x) was trained for the k-sample bound.
# Where the two curves cross, if they do, is printed below.

ks = KS + (K_LL,)
curves = {name: [mean_se(res["bounds"][k])[0] for k in KS] + [mean_se(res["log_px"])[0]]
          for name, res in results.items()}
fig, ax = plt.subplots(figsize=(6.4, 4.2))
for (name, curve), marker in zip(curves.items(), ("o", "s")):
    line, = ax.plot(ks, curve, marker=marker, label=f"{name}: IWAE_k bound")
    ax.plot([1], [mean_se(results[name]["elbo"])[0]], marker="x", markersize=10, linestyle="none",
            color=line.get_color(), label=f"{name}: ELBO (closed-form KL)")
ax.set_xscale("log")
ax.set_xlabel("k, importance samples per image")
ax.set_ylabel("mean over test images, nats")
ax.set_title(f"The k-sample bound of both models ({len(x_test)} binarized test images)")
ax.legend(fontsize="small")
fig.tight_layout()

curve_vae, curve_iwae = (np.array(curve) for curve in curves.values())
ahead = curve_iwae > curve_vae                     # where the IWAE's bound is the higher one
# the smallest k from which the IWAE stays ahead at every larger k tried (None: not at the largest k)
crossing = next((k for i, k in enumerate(ks) if ahead[i:].all()), None)
if crossing is None:
    print(f"the VAE's bound is the higher one at the largest k tried (k = {ks[-1]}): this run does not show "
          f"the IWAE's advantage")
elif crossing == 1:
    print("the IWAE's bound is the higher one at every k tried, k = 1 included: it beats the VAE even on the "
          "VAE's own objective")
else:
    print(f"the VAE's bound is the higher one at k = 1; the IWAE's at every k from {crossing} on (of the k tried)")
d_ll, se_ll = mean_se(iwae["log_px"] - vae["log_px"])
resolved = "more" if abs(d_ll) > 2 * se_ll else "less"
print(f"at k = {K_LL} the paired difference is {d_ll:+.2f} +- {se_ll:.2f} nats, {resolved} than two standard errors "
      f"from zero")

# %%
# How many latent dimensions each one uses
# ----------------------------------------
#
# Burda et al. (2016, Sec. 5.2) count a latent dimension j as *active* when its posterior mean moves with
# the data, Var_x(mu_j(x)) > 0.01, and observed that IWAEs keep more dimensions active than VAEs of the same
# architecture. ``purevae.diagnostics.latent_report`` gives that count, each dimension's mean KL from the
# prior and the mutual information I(x; z) (:ref:`derivations-latent-health`), here on all 2,000 test
# images. A dimension with a tiny KL and an inactive mean has collapsed onto the prior: the decoder ignores
# it.

reports = {name: purevae.diagnostics.latent_report(model, data.x_test) for name, model in models.items()}
for name, report in reports.items():
    print(f"{name:12s} active units {report['active_units']:2d} of {len(report['active'])}, KL "
          f"{report['kl']:.2f} nats, I(x; z) ~ {report['mutual_information']:.2f} nats "
          f"(at most log n = {report['mutual_information_max']:.2f})")
au_vae, au_iwae = (report["active_units"] for report in reports.values())
if au_iwae > au_vae:
    print(f"as Burda et al. observed, the IWAE keeps more dimensions active: {au_iwae} against {au_vae}")
elif au_iwae == au_vae:
    print(f"both keep {au_vae} dimensions active: this run does not separate them by that count")
else:
    print(f"here the VAE keeps more dimensions active ({au_vae} against {au_iwae}), unlike Burda et al.'s runs")

# %%
# Left: each model's per-dimension KL, sorted from the largest. Right: the statistic behind the count,
# Var_x(mu_j(x)), sorted the same way, with the 0.01 threshold. Both are on a log scale, because collapsed
# dimensions sit orders of magnitude below the used ones. The IWAE's KL does not mean the same as the VAE's:
# its q(z|x) is trained as a proposal for k samples, not to match the posterior on its own. So read the left
# panel for *how many* dimensions carry some KL, not for its size.

fig, (ax_kl, ax_var) = plt.subplots(1, 2, figsize=(10, 3.8))
width = 0.42
for i, (name, report) in enumerate(reports.items()):
    order = np.argsort(report["kl_per_dimension"])[::-1]
    position = np.arange(len(order)) + (i - 0.5) * width
    ax_kl.bar(position, report["kl_per_dimension"][order], width=width, label=name)
    ax_var.bar(position, report["variances"][order], width=width, label=name)
ax_var.axhline(reports["VAE (ELBO)"]["threshold"], color="k", linestyle="--", linewidth=1,
               label="active threshold")
ax_kl.set_yscale("log")
ax_var.set_yscale("log")
ax_kl.set_xlabel("latent dimension, by decreasing KL")
ax_var.set_xlabel("latent dimension, by decreasing KL")
ax_kl.set_ylabel("mean KL(q(z_j|x) || N(0, 1)), nats")
ax_var.set_ylabel("Var_x(mu_j(x))")
ax_kl.set_title("KL per latent dimension")
ax_var.set_title("Activity of each dimension")
ax_kl.legend(fontsize="small")
ax_var.legend(fontsize="small")
fig.tight_layout()

# %%
# Reading the numbers
# -------------------
#
# - If the paired difference of the test ELBO is negative and that of log p(x) positive, by more than two
#   standard errors each, the run shows the trade the two objectives imply: the IWAE gives up some of the
#   ELBO, a bound it was not trained on, and its importance-sampled estimate of log p(x) is higher. Both
#   estimates are lower bounds that still rise with k, so this is evidence that the IWAE models the images
#   better, not proof (``purevae evaluate`` at k = 5000 tightens both). A difference within two standard
#   errors of zero is not resolved by these 500 images.
# - The gap between a model's log p(x) estimate and its ELBO says how loose the ELBO is for it; it is
#   expected to be wider for the IWAE, whose q(z|x) is not fitted to make the ELBO tight.
# - The active-unit count and the KL bars say whether the IWAE spread its information over more latent
#   dimensions. Ten epochs on 5,000 images is a very short run: Burda et al. trained for thousands of
#   passes over MNIST, and the count of active units can keep changing long after the first epochs
#   (:ref:`sphx_glr_auto_examples_plot_posterior_collapse.py`), so a difference here, or its absence, is one
#   data point.
# - I(x; z) is measured under each model's own q(z|x). An IWAE's q(z|x) tends to be broader (it only has to
#   propose samples, the weights sort them out), and a broader q tells less about x per sample, so a lower
#   I(x; z) for the IWAE, if the printout shows one, does not mean that its decoder uses z less.
# - Numbers of this example are log-probabilities of binary images, comparable between the two models
#   because they share the likelihood and the test binarization; they are not comparable with numbers on
#   grey images.
