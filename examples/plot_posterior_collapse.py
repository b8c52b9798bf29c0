r"""Posterior collapse, and what warm-up, free bits and cyclical schedules do
=========================================================================

A VAE can learn to ignore some or all of its latent code: the encoder's q(z_j|x) becomes the prior N(0, 1)
for every image, the KL of that dimension drops to zero, and the decoder gets nothing from it. This example
provokes that with more latent dimensions than the images likely need and a decoder larger than the
encoder, then trains the same model four ways: on the plain ELBO, with a KL warm-up, with free bits and
with a cyclical KL schedule. It compares their latent-health reports
(``purevae.diagnostics.latent_report``) and plots each one's KL per latent dimension and the KL weight it
trained with.
"""

# %%
# Why the ELBO lets latent dimensions collapse
# --------------------------------------------
#
# The negative ELBO of an image is a reconstruction term plus
# KL(q(z|x) || N(0, I)) = sum_j KL_j(x), one term per latent dimension (:ref:`derivations-kl`,
# :ref:`derivations-elbo`). A dimension pays its KL for every image, whether or not the decoder makes use of
# what it carries. Whenever what a dimension adds to the reconstruction is worth less than its KL, the ELBO
# improves by closing it: q(z_j|x) = N(0, 1), KL_j = 0. Once closed, a dimension sends the decoder pure
# noise, the decoder learns to ignore it, and little pulls it open again. Early in training, when the decoder
# can use little of z, this can happen to the whole code: Bowman et al. (2016) met that extreme in a VAE of
# sentences with an LSTM decoder strong enough to model the text alone, where the KL went to zero and the
# model became a plain language model. With a decoder that models pixels independently given z, as here, the
# collapse is partial: the model keeps the dimensions worth their KL and closes the rest, which Burda et al.
# (2016) count as *inactive units*.
#
# The remedies change the KL term during training:
#
# - **KL warm-up** (the "KL cost annealing" of Bowman et al. 2016; the "warm-up" of Sønderby et al. 2016): the KL weight
#   beta starts at 1/N and rises by 1/N per epoch to 1 over N epochs, so the encoder can put information into z before
#   it has to pay for it in full. ``fit(warmup_epochs=N)`` ramps beta per epoch
#   (``purevae.schedules.per_epoch_linear``); ``purevae.schedules.linear`` ramps it per step.
# - **Free bits** (Kingma et al. 2016): the KL term becomes sum_j max(lambda, KL_j), KL_j the batch mean of
#   dimension j's KL. A dimension under lambda nats pays the constant lambda, so it gets no gradient towards
#   the prior: closing it below lambda no longer saves anything (:ref:`derivations-free-bits`).
#   ``fit(free_bits=lambda)``.
# - **Cyclical annealing** (Fu et al. 2019): the warm-up, repeated. The run is cut into cycles; in each one
#   beta rises from 0 over its first part, then stays at 1. Each return to a small beta gives the model,
#   with the decoder it has by then, another chance to use z (:ref:`derivations-kl-schedules`).
#   ``fit(beta_schedule=purevae.schedules.cyclical(n_cycles, ratio, total_steps))``.
#
# Warm-up and cyclical schedules train on a beta below 1 for part of the run, and free bits on a different
# KL term, so their training losses are not the ELBO. Every test number below is the ELBO itself
# (beta = 1, the plain KL), the same measure for the four runs.
#
# Data and model
# --------------
#
# Dynamically binarized images (a fresh 0/1 draw of each training image every epoch, ``fit(binarize=True)``;
# the test set binarized once, with a fixed seed), the first 5,000 training images, all 2,000 test images.
# The model: a 784-128 tanh encoder, 32 latent dimensions, a 256-256 tanh decoder. The four runs share the
# seed, so they start from the same parameters, and see the same data in the same order.

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

import purevae
import purevae.data
import purevae.diagnostics
import purevae.objectives
import purevae.schedules

data = purevae.data.prepare("bundled", binarize="dynamic", dtype="float32", n_train=5000)
print(data)

EPOCHS, BATCH, LR = 20, 50, 2e-3
STEPS_PER_EPOCH = -(-len(data.x_train) // BATCH)
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
WARMUP_EPOCHS = 10            # beta = (epoch + 1) / 10 over the first half of the run
FREE_BITS = 0.25              # nats per latent dimension
CYCLES, RATIO = 4, 0.5        # four cycles, beta rising over the first half of each


def make_model():
    """The one architecture and seed of the four runs."""
    return purevae.VAE(n_input=data.n_features, hidden=(128,), n_latent=32, decoder_hidden=(256, 256),
                       activation="tanh", likelihood="bernoulli", dtype="float32", seed=0)


# name: (fit's extra arguments, the beta schedule they amount to, for the plot)
runs = {
    "plain ELBO": ({}, purevae.schedules.constant(1.0)),
    "KL warm-up": ({"warmup_epochs": WARMUP_EPOCHS}, purevae.schedules.per_epoch_linear(WARMUP_EPOCHS, 1.0)),
    "free bits": ({"free_bits": FREE_BITS}, purevae.schedules.constant(1.0)),
    "cyclical": ({"beta_schedule": purevae.schedules.cyclical(CYCLES, RATIO, TOTAL_STEPS, 1.0)},
                 purevae.schedules.cyclical(CYCLES, RATIO, TOTAL_STEPS, 1.0)),
}

# %%
# Training the four
# -----------------
#
# Each run trains for the same number of steps. With ``validation_data``, ``fit`` records the number of
# active units on the test images after every epoch (``history["val_active_units"]``), which shows *when*
# dimensions close.

models, reports = {}, {}
for name, (arguments, _) in runs.items():
    model = make_model()
    history = model.fit(data.x_train, epochs=EPOCHS, batch_size=BATCH, lr=LR, binarize=data.fit_binarize,
                        validation_data=data.x_test, **arguments)
    models[name] = model
    reports[name] = purevae.diagnostics.latent_report(model, data.x_test)
    print(f"{name:11s} {EPOCHS} epochs ({TOTAL_STEPS} steps) in {history['time'][-1]:.1f} s; active units after "
          f"each epoch: {history['val_active_units']}")

# %%
# The KL weight of every step
# ---------------------------
#
# A schedule is a pure function of the step and epoch counters, so the plot calls the same function ``fit``
# called (for the plain and free-bits runs, beta is 1 throughout: free bits acts on the KL term, not on its
# weight). ``history["beta"]`` holds each epoch's beta, the mean over its steps when it moved within the
# epoch; the check below compares it with the schedule.

steps = np.arange(TOTAL_STEPS)
fig, axes = plt.subplots(len(runs), 1, figsize=(7, 5.5), sharex=True, sharey=True)
for ax, (name, (_, schedule)) in zip(axes, runs.items()):
    beta = np.array([schedule(int(t), int(t) // STEPS_PER_EPOCH) for t in steps])
    per_epoch = beta.reshape(EPOCHS, STEPS_PER_EPOCH).mean(axis=1)
    agrees = np.allclose(per_epoch, models[name].history["beta"])
    print(f"{name:11s} schedule's mean beta per epoch equals history['beta']: {agrees}")
    ax.plot(steps, beta)
    ax.set_ylabel("beta")
    ax.set_title(name, fontsize="medium", loc="left")
    ax.set_ylim(-0.05, 1.1)
axes[-1].set_xlabel("optimizer step")
fig.suptitle("KL weight used at each training step")
fig.tight_layout()

# %%
# The latent-health reports
# -------------------------
#
# For each run, on the 2,000 test images (:ref:`derivations-latent-health`): the number of *active units*,
# dimensions whose posterior mean moves with the image, Var_x(mu_j(x)) > 0.01 (Burda et al. 2016); the KL
# summed over dimensions, how many dimensions carry more than the free-bits floor lambda (``KL_j>lam``, the
# same threshold for every run), and the smallest and largest KL_j; the estimate of the mutual information
# I(x; z) under the aggregate posterior, which cannot exceed log n; and the test negative ELBO with its
# reconstruction term -E_q[log p(x|z)] (``purevae.objectives.elbo_terms``), in nats per image.

plain = reports["plain ELBO"]
recon, neg_elbo = {}, {}
for name, model in models.items():
    log_px_z, kl_terms = purevae.objectives.elbo_terms(model, data.x_test)
    recon[name], neg_elbo[name] = float(-np.mean(log_px_z)), float(np.mean(kl_terms - log_px_z))
print(f"{'run':11s} {'active':>6s} {'KL_j>lam':>8s} {'KL':>6s} {'min KL_j':>8s} {'max KL_j':>8s} {'I(x;z)':>6s} "
      f"{'recon':>7s} {'-ELBO':>7s}")
for name, report in reports.items():
    kl = report["kl_per_dimension"]
    print(f"{name:11s} {report['active_units']:3d}/{len(kl):<2d} {np.sum(kl > FREE_BITS):8d} {report['kl']:6.2f} "
          f"{kl.min():8.3f} {kl.max():8.3f} {report['mutual_information']:6.2f} {recon[name]:7.2f} "
          f"{neg_elbo[name]:7.2f}")
print(f"(I(x; z) is estimated on n = {plain['n_examples']} images: at most log n = "
      f"{plain['mutual_information_max']:.2f} nats)")
for name, report in reports.items():
    kl = report["kl_per_dimension"]
    print(f"{name:11s} KL per dimension, nats (* = active): "
          + " ".join(f"{v:.2f}{'*' if a else ''}" for v, a in zip(kl, report["active"])))

# %%
# Each panel sorts its run's dimensions by their KL (a dimension's index means nothing across runs: each
# run is free to use any of them). Active dimensions are in colour, inactive ones grey; the y axis is
# logarithmic, since a closed dimension's KL sits orders of magnitude below an open one's. The dashed line is
# the free-bits floor lambda.

fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharey=True)
for ax, (name, report) in zip(axes.flat, reports.items()):
    order = np.argsort(report["kl_per_dimension"])[::-1]
    colours = np.where(report["active"][order], "tab:blue", "tab:gray")
    ax.bar(np.arange(len(order)), report["kl_per_dimension"][order], color=colours)
    ax.axhline(FREE_BITS, color="k", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_title(f"{name}: {report['active_units']} active units, KL {report['kl']:.1f} nats", fontsize="medium")
    ax.set_xlabel("latent dimension, by decreasing KL")
    ax.set_ylabel("mean KL_j over test images, nats")
fig.suptitle(f"KL per latent dimension (grey: inactive; dashed: free-bits floor {FREE_BITS} nats)")
fig.tight_layout()

# %%
# And when the dimensions closed: the active units on the test images after every epoch.

fig, ax = plt.subplots(figsize=(6.4, 3.8))
for name, model in models.items():
    ax.plot(model.history["epoch"], model.history["val_active_units"], marker="o", markersize=3, label=name)
ax.set_xlabel("epoch")
ax.set_ylabel(f"active units (of {len(plain['active'])})")
ax.xaxis.set_major_locator(MaxNLocator(integer=True))
ax.set_title("Active latent units during training")
ax.legend()
fig.tight_layout()

# %%
# Reading the numbers
# -------------------
#
# The script compares each remedy with the plain ELBO and says what this run shows; the discussion after it
# says what to make of it.

print(f"plain ELBO: {plain['active_units']} of {len(plain['active'])} units active, "
      f"{len(plain['active']) - plain['active_units']} inactive (Var_x(mu_j) <= {plain['threshold']})")


def last_moves(model, n=5):
    """The largest change of the active-unit count between consecutive epochs, over the last n epochs."""
    counts = np.array(model.history["val_active_units"][-n:])
    return int(np.abs(np.diff(counts)).max()) if len(counts) > 1 else 0


for name in ("KL warm-up", "free bits", "cyclical"):
    report = reports[name]
    change = report["active_units"] - plain["active_units"]
    units = "unit" if abs(change) == 1 else "units"
    verdict = (f"{change} more active {units}" if change > 0 else f"{-change} fewer active {units}" if change < 0
               else "as many active units")
    noise = max(last_moves(models[name]), last_moves(models["plain ELBO"]))
    resolved = "beyond" if abs(change) > noise else "within"
    print(f"{name:11s} {verdict} than the plain ELBO ({report['active_units']}), {resolved} the runs' last "
          f"epoch-to-epoch moves (up to {noise}); I(x; z) "
          f"{report['mutual_information'] - plain['mutual_information']:+.2f} nats, test -ELBO "
          f"{neg_elbo[name] - neg_elbo['plain ELBO']:+.2f} nats (lower is better)")
still_falling = [name for name, model in models.items()
                 if model.history["val_active_units"][-1] < max(model.history["val_active_units"][-5:])]
if still_falling:
    print("the active-unit count is still below its level of a few epochs earlier for: " + ", ".join(still_falling))

kl_free = reports["free bits"]["kl_per_dimension"]
near_floor = kl_free <= 2 * FREE_BITS
extra_kl = reports["free bits"]["kl"] - plain["kl"]
gained = recon["plain ELBO"] - recon["free bits"]
print(f"free bits: {near_floor.sum()} dimensions at or near the floor (KL_j <= {2 * FREE_BITS} nats) hold "
      f"{kl_free[near_floor].sum():.2f} nats of KL; against the plain run: KL {extra_kl:+.2f} nats, "
      f"reconstruction term {-gained:+.2f} nats, -ELBO {neg_elbo['free bits'] - neg_elbo['plain ELBO']:+.2f} nats")
if gained <= 0:
    print("free bits: the extra KL bought no better reconstruction here")
elif gained < extra_kl:
    print("free bits: the extra KL bought a better reconstruction, but less than it cost, so the ELBO is worse")
else:
    print("free bits: the better reconstruction paid for the extra KL, so the ELBO is better")
ceiling = plain["mutual_information_max"]
if max(r["mutual_information"] for r in reports.values()) > ceiling - 1.0:
    print(f"the I(x; z) estimates come within a nat of their ceiling log n = {ceiling:.2f}: at this n the "
          f"estimator is biased low there and cannot rank the runs finely")

# %%
# How to read this:
#
# - **The plain ELBO.** If some of its units are inactive, and the per-epoch curve shows their number falling
#   as training goes on, that is the partial collapse described above: those dimensions' KL is near 0 and the
#   decoder ignores them. The active-unit count is a threshold on a continuous quantity: in the bars,
#   dimensions with a KL of a few hundredths of a nat may still pass it while they close. The count of
#   dimensions above lambda (``KL_j>lam``) says how many carry a real share of the KL.
# - **Warm-up and cyclical schedules** act on the start (or the restarts) of training. If they end with
#   clearly more active units, or more dimensions above lambda, than the plain run, the low-beta phases let
#   more dimensions become useful before the full KL price applied. If they end with about as many, the
#   collapse here is not a lack of early encouragement: the model closes the dimensions whose information is
#   not worth their KL, whenever they opened. "Clearly" means by more than the curves above move from one
#   epoch to the next (the printout says whether each difference is beyond those moves): each run is one seed.
#   Where a count is still falling at the end, a longer run would end lower. Both schedules
#   end on beta = 1 (the warm-up from half the run on, the cyclical schedule over the second half of its last
#   cycle), so all four runs finish on the same objective and their test -ELBO compares like with like.
# - **Free bits** removes the push towards the prior from every dimension under lambda, so the dimensions the model
#   would close tend to settle at the floor: the smallest KL_j printed above should be near lambda (measured on test
#   images, not on the training batches the floor applies to), and such dimensions usually pass the variance test for
#   "active". That does not by itself make them useful: ``KL_j>lam`` counts those that rose above the floor. The last
#   lines of the printout weigh the rest: the extra KL the free-bits model spends, against how much better its
#   reconstruction term is, and say which of the two is larger. When the gain is the smaller, the extra KL went with a
#   better reconstruction, but not enough to pay for it (which dimensions the gain comes from, this comparison cannot
#   say). Free bits is meant to keep dimensions open long enough to become worth their price, which a longer run, or
#   another lambda, may or may not show.
# - **Mutual information.** I(x; z) says how much the code as a whole tells about the image. On a few thousand
#   images the estimator saturates near log n (the check above says whether it did), so it separates a
#   collapsed encoder from a working one better than two working ones.
#
# Bowman et al.'s and Fu et al.'s models were text models with autoregressive decoders, where collapse can be
# total and these remedies matter most; Kingma et al. introduced free bits for image models with a strong
# (flow-based) posterior. On a short run of small image VAEs the differences can be small, and the printout,
# not this text, is the result.
