r"""Training and reading the loss curves
====================================

``VAE.fit`` returns a history: for every epoch, the training loss and its two terms, the same numbers on
validation data, and a few diagnostics of the latent code. This example trains a small VAE on the bundled
Fashion-MNIST subset, plots that history and explains how to read it: training against validation, the KL
term's rise, and, from a second run on a deliberately tiny training set, what overfitting looks like. It
ends with reconstructions and samples of the trained model.
"""

# %%
# The data
# --------
#
# ``purevae.data.prepare`` turns the bundled data set into arrays a model takes, exactly as
# ``purevae train`` does: pixels scaled to grey values in [0, 1], float32, here the first 5,000 training
# images and the first 1,000 test images. The test images serve as validation data: they are only looked
# at, never trained on.

import matplotlib.pyplot as plt
import numpy as np

import purevae
import purevae.data
import purevae.objectives
import purevae.plots

data = purevae.data.prepare("bundled", n_train=5000, n_test=1000)
print(data)

# %%
# Training with validation data
# -----------------------------
#
# A 784-256-16 VAE (ReLU, Bernoulli likelihood), ten epochs of Adam at the default learning rate, batches
# of 128. With ``validation_data`` given, ``fit`` evaluates the model on it after every epoch. The same
# numbers for the untrained model, ``purevae.objectives.elbo_terms`` (the two terms of each image's ELBO),
# give the curves a starting point.

m = purevae.VAE(n_input=data.n_features, hidden=(256,), n_latent=16, seed=0)
log_px_z, kl = purevae.objectives.elbo_terms(m, data.x_test)     # before the first step: "epoch 0"
before = {"val_loss": float(np.mean(kl - log_px_z)), "val_recon": float(-np.mean(log_px_z)),
          "val_kl": float(np.mean(kl))}
print("before training, on the validation images: " + ", ".join(f"{k} {v:.2f}" for k, v in before.items()))
history = m.fit(data.x_train, epochs=10, batch_size=128, lr=1e-3, validation_data=data.x_test)

# %%
# What the history holds
# ----------------------
#
# ``history`` is a dict of lists with one entry per epoch (``fit`` records nothing per step), accumulated
# over every call of ``fit``, so training can be continued and the curves go on. Its keys, from ``fit``'s
# docstring:
#
# - ``epoch``, ``beta`` (the epoch's KL weight), ``time`` (seconds of training so far) and
#   ``examples_per_sec``;
# - ``loss``, ``recon``, ``kl``: the training negative ELBO and its two terms, the reconstruction term -log p(x|z) and
#   KL(q(z|x) || p(z)), each the mean over the epoch's examples (batches weighted by their size), in nats per image,
#   with the KL weighted 1 whatever ``beta`` was;
# - ``val_loss``, ``val_recon``, ``val_kl``: the same three on the validation data, measured after the epoch
#   with one draw of z per image from a fixed random stream, so that two epochs' numbers differ only
#   because the model changed;
# - ``val_kl_per_dimension`` (each latent dimension's average KL) and ``val_active_units`` (the dimensions
#   whose posterior mean varies across images by more than 0.01 in variance, Burda et al. 2016).

print(f"{'epoch':>5s} {'loss':>8s} {'recon':>8s} {'kl':>6s} {'val_loss':>9s} {'val_recon':>9s} {'val_kl':>7s} "
      f"{'active':>6s} {'time s':>7s}")
for e in range(len(history["epoch"])):
    print(f"{history['epoch'][e]:5d} {history['loss'][e]:8.2f} {history['recon'][e]:8.2f} "
          f"{history['kl'][e]:6.2f} {history['val_loss'][e]:9.2f} {history['val_recon'][e]:9.2f} "
          f"{history['val_kl'][e]:7.2f} {history['val_active_units'][e]:6d} {history['time'][e]:7.2f}")

# %%
# The curves
# ----------

epochs = np.array(history["epoch"])
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
for ax, (title, train_key, val_key) in zip(axes, [("negative ELBO", "loss", "val_loss"),
                                                  ("reconstruction, -log p(x|z)", "recon", "val_recon"),
                                                  ("KL(q(z|x) || p(z))", "kl", "val_kl")]):
    ax.plot(epochs, history[train_key], "o-", label="training (mean over the epoch)")
    ax.plot(epochs, history[val_key], "s--", label="validation (after the epoch)")
    if train_key == "kl":                 # the KL before training; the other two are far above the scale
        ax.plot([0, epochs[0]], [before[val_key], history[val_key][0]], ":", color="tab:orange")
        ax.plot(0, before[val_key], "D", color="tab:orange", label="validation, before training")
        ax.legend()
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per image")
    ax.grid(alpha=0.3)
axes[0].legend()
plt.show()

# %%
# How to read them
# ----------------
#
# **Training against validation.** The two curves are not measured the same way. An epoch's training loss
# is the average over its batches, taken while the parameters are still moving, so it describes the model
# as it was *during* the epoch; the validation loss is measured with the parameters at its *end*. While
# the loss falls fast, in the first epochs, the training curve therefore lags behind, and the validation
# loss can lie below it without anything being wrong. Once learning slows, the two measure nearly the
# same model, and the gap between them is the generalisation gap: how much better the model does on the
# images it trains on than on new ones.
#
# **The KL term.** At initialisation the encoder's outputs are small, so q(z|x) is close to the prior for
# every image and the KL term is close to 0 (the point at epoch 0, printed above): the code carries almost
# no information about x, and the decoder cannot use it. Training trades the two terms against each other.
# Information that the encoder puts into z costs KL, in nats, and pays off if the decoder then
# reconstructs x better by more than that cost. So the KL rises while the reconstruction term falls much
# faster, and then settles where the two balance. Most of the rise happens within the first epoch, which
# is why that epoch's training KL, an average that includes the first steps, can lie below the validation
# KL measured after it. Alemi et al. (2018) read the KL as the *rate* of a code and the reconstruction term
# as its *distortion*. A KL that falls back to near 0 and stays there is *posterior collapse*: the decoder
# models the images without looking at z (Bowman et al. 2016). The usual remedies are a KL warm-up,
# ``fit(warmup_epochs=...)``, which starts with a small KL weight and raises it (Bowman et al. 2016;
# Sønderby et al. 2016), and free bits, ``fit(free_bits=...)`` (Kingma et al. 2016); ``history["beta"]``
# records the weight each epoch used.
#
# **The per-dimension KL.** The next figure splits the validation KL by latent dimension, epoch by epoch.
# The colour scale starts at 0. A dimension whose KL stayed at 0 in every epoch would be unused by the model
# (its posterior equal to the prior for every image); a dark one merely carries little. The count of active
# units in the right panel is the number of dimensions whose posterior mean actually changes from image to
# image: when it stays at ``n_latent`` (printed above), no dimension is unused.

kl_dims = np.array(history["val_kl_per_dimension"])           # (epochs, n_latent)
fig, (ax_map, ax_units) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained",
                                       gridspec_kw={"width_ratios": [2, 1]})
im = ax_map.imshow(kl_dims.T, aspect="auto", cmap="viridis", origin="lower", vmin=0,
                   extent=(epochs[0] - 0.5, epochs[-1] + 0.5, -0.5, m.n_latent - 0.5))
fig.colorbar(im, ax=ax_map, label="validation KL, nats per image")
ax_map.set_xlabel("epoch")
ax_map.set_ylabel("latent dimension")
ax_map.set_title("KL of each latent dimension")
ax_units.plot(epochs, history["val_active_units"], "s--", color="tab:green")
ax_units.set_ylim(0, m.n_latent + 0.5)
ax_units.set_xlabel("epoch")
ax_units.set_ylabel("active units")
ax_units.set_title(f"active latent units, of {m.n_latent}")
ax_units.grid(alpha=0.3)
plt.show()

# %%
# The final numbers
# -----------------
#
# ``m.elbo`` gives the ELBO of each image, so the test score comes with a standard error over images,
# std / sqrt(n). It draws its own z, so it need not equal the last ``val_loss`` exactly.

neg_elbo = -m.elbo(data.x_test)
print(f"test negative ELBO: {neg_elbo.mean():.2f} +- {neg_elbo.std(ddof=1) / np.sqrt(len(neg_elbo)):.2f} "
      f"nats per image ({len(neg_elbo)} images); last val_loss {history['val_loss'][-1]:.2f}; "
      f"last training loss {history['loss'][-1]:.2f}")

# %%
# What overfitting looks like
# ---------------------------
#
# With 5,000 images and ten epochs the model above has had little time to overfit. To see what overfitting
# looks like, train a larger model (784-400-20) on only 100 images, for many epochs and with a larger
# learning rate. The dotted line marks the epoch of the lowest validation loss, printed below.

small = purevae.VAE(n_input=data.n_features, hidden=(400,), n_latent=20, seed=0)
small_history = small.fit(data.x_train[:100], epochs=200, batch_size=20, lr=3e-3,
                          validation_data=data.x_test[:500])
small_epochs = np.array(small_history["epoch"])
best = int(small_epochs[np.argmin(small_history["val_loss"])])
print(f"lowest validation loss {min(small_history['val_loss']):.2f} at epoch {best}; "
      f"after epoch {small_epochs[-1]}: training {small_history['loss'][-1]:.2f}, "
      f"validation {small_history['val_loss'][-1]:.2f}")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(small_epochs, small_history["loss"], "-", label="training (100 images)")
ax.plot(small_epochs, small_history["val_loss"], "-", label="validation (500 test images)")
ax.axvline(best, color="k", linestyle=":", label="lowest validation loss")
ax.set_ylim(min(small_history["loss"]) - 10, small_history["val_loss"][min(5, len(small_epochs) - 1)] + 10)
ax.set_xlabel("epoch")
ax.set_ylabel("negative ELBO, nats per image")
ax.set_title("a model that overfits")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %%
# The signs are the ones to look for in any run: the training loss keeps falling while the validation loss
# stops falling and then rises, and the gap between them keeps growing. The model is learning the
# particular 100 images rather than what they have in common. The parameters at the epoch of the lowest
# validation loss are the best this run had. ``fit`` has no early stopping of its own; since a second call
# continues where the first stopped, one can train an epoch at a time and save the model whenever a
# held-out loss improves. That held-out set should be a part of the training data set aside, not the test
# images, whose final score would otherwise be optimistic. More data, a smaller model or fewer epochs
# avoid the problem in the first place.
#
# Reconstructions and samples
# ---------------------------
#
# Back to the model trained on 5,000 images. ``m.reconstruct`` encodes each image to the mean of q(z|x)
# and decodes it to the mean of p(x|z); below, rows of test images alternate with rows of their
# reconstructions. ``purevae.plots.grid_array`` tiles images into one array for ``imshow``. The
# reconstructions mostly keep the outline and the overall brightness of each garment and lose fine detail,
# such as prints and stripes: that detail is what the remaining reconstruction term, in nats, still pays
# for.

originals = data.x_test[:24]
reconstructions = m.reconstruct(originals)
rows = [block for i in range(0, len(originals), 8) for block in (originals[i:i + 8], reconstructions[i:i + 8])]
grid = purevae.plots.grid_array(np.vstack(rows), data.image_shape, ncols=8)
fig, ax = plt.subplots(figsize=(7, 6))
ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
ax.set_axis_off()
ax.set_title("test images (rows 1, 3, 5) and their reconstructions (rows 2, 4, 6)")
plt.show()

# %%
# ``m.sample`` draws z from the prior N(0, I) and decodes it: new images from the model itself. They are
# blurrier than the reconstructions because a prior draw can fall where no training image's posterior lies,
# and there the decoder blends several kinds of garment.

samples = m.sample(32, rng=0)
fig, ax = plt.subplots(figsize=(7, 4))
ax.imshow(purevae.plots.grid_array(samples, data.image_shape, ncols=8), cmap="gray", vmin=0, vmax=1)
ax.set_axis_off()
ax.set_title("32 samples: decode(z), z ~ N(0, I)")
plt.show()
