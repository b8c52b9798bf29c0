r"""
A conditional VAE drawing each class
====================================

A conditional VAE (Sohn, Lee & Yan 2015) is given the label :math:`y` of every image. Its encoder becomes
:math:`q(z \mid x, y)` and its decoder :math:`p(x \mid z, y)`, while the prior on :math:`z` stays
:math:`\mathcal{N}(0, I)`. Because the label already says *which* garment an image shows, the latent code is
free to hold *how* it looks: its size, its brightness, the shape of its outline. Whether a trained model
actually leaves the class to the label is another matter, and this example measures it as training goes on.

This example trains a conditional VAE on the Fashion-MNIST subset bundled with purevae, draws all ten classes
from the same latent codes, and then reads the generative model backwards, as a classifier:
:math:`\hat{y}(x) = \arg\max_y p(y)\, p(x \mid y)`. Where the label enters the network, and how its gradient
is computed, is derived in :ref:`derivations-conditional-vae`.
"""

# %%
# The data and the model
# ----------------------
# :func:`purevae.data.prepare` scales the bundled images to grey values in [0, 1], exactly as
# ``purevae train`` does, and keeps the labels next to them. The whole bundled subset is used (its size is
# printed below); its images come in random class order.
#
# ``VAE(..., n_classes=10)`` adds one parameter per side, ``encoder.0.label_weight`` and
# ``decoder.0.label_weight`` of shape (10, hidden): the label of an example selects one row of it, which is
# added to the first layer's pre-activation. That is the same as appending a one-hot vector to the input,
# without the matrix product. The model is the classic 784-400-20.

import matplotlib.pyplot as plt
import numpy as np
import scipy.special

import purevae
from purevae import data, plots

N_CLASSES = 10
prepared = data.prepare("bundled", dtype="float32")
x_train, y_train = prepared.x_train, prepared.y_train
x_test, y_test = prepared.x_test, prepared.y_test
rows, cols = prepared.image_shape
print(prepared)

model = purevae.VAE(prepared.n_features, hidden=(400,), n_latent=20, n_classes=N_CLASSES, seed=0)
for name, value in model.params.items():
    if "label_weight" in name:
        print(f"{name}: shape {value.shape}")
print(f"{sum(v.size for v in model.params.values())} parameters in all")


# %%
# Does the decoder use the label?
# -------------------------------
# Decode codes :math:`z \sim \mathcal{N}(0, I)` with every label (:func:`purevae.plots.class_sample_images`)
# and ask, for each decoded image, which class's average training image it is nearest to. If the model leaves
# the class to :math:`y`, an image decoded with label :math:`c` looks like class :math:`c`, and the fraction
# of images nearest to their own label's class mean is high; if the code :math:`z` still decides the garment,
# the fraction stays near chance, 1/10. (The measure is crude: T-shirts, pullovers, coats and shirts have
# similar means, so even a perfect model would not score 1.) The objective rewards leaving the class to
# :math:`y`: the KL term charges for every nat that :math:`z` holds, while the label comes for free. But the
# encoder sees the image, which shows the class too, and a briefly trained model keeps part of the class in
# :math:`z`. The fraction is measured after several stages of training; a second ``fit`` call continues where
# the first stopped.

class_means = np.stack([x_train[y_train == c].mean(axis=0) for c in range(N_CLASSES)])


def own_class_fraction(model, n_per_class=20):
    """The fraction of decoded images nearest (in squared distance) to their own label's class mean."""
    decoded = plots.class_sample_images(model, n_per_class=n_per_class, rng=1).reshape(N_CLASSES, n_per_class, -1)
    nearest = ((decoded[:, :, None, :] - class_means[None, None]) ** 2).sum(axis=-1).argmin(axis=-1)
    return float((nearest == np.arange(N_CLASSES)[:, None]).mean())


stages, fractions = [], []
for epochs in (2, 8, 15, 15):
    history = model.fit(x_train, y=y_train, epochs=epochs, batch_size=128, lr=1e-3,
                        validation_data=(x_test, y_test))
    stages.append(model.epochs_trained)
    fractions.append(own_class_fraction(model))
    print(f"after {model.epochs_trained:2d} epochs: test -ELBO {history['val_loss'][-1]:7.2f} nats per image "
          f"(a bound on -log p(x|y)); decoded images nearest their own class: {fractions[-1]:.2f}")
trend = "rose" if fractions[-1] > fractions[0] else "did not rise"
print(f"the fraction {trend} with training, from {fractions[0]:.2f} to {fractions[-1]:.2f} (chance: 0.10)")

fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(stages, fractions, marker="o")
ax.axhline(1 / N_CLASSES, color="gray", linestyle="--", label="chance")
ax.set_xlabel("epochs trained")
ax.set_ylabel("nearest their own class")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("decoded images that look like their label (nearest class mean)", fontsize=10)
fig.tight_layout()

# %%
# One row per class, one latent code per column
# ---------------------------------------------
# :func:`purevae.plots.class_sample_images` draws a few codes :math:`z_j \sim \mathcal{N}(0, I)` once and
# decodes every one of them with every label. Down a column only the label changes; along a row only the
# code does. If the model has learned to leave the class to :math:`y`, each column shows one "style" drawn
# as ten different garments. The images are the means of :math:`p(x \mid z, y)`, not random draws from it.
#
# Where the fraction above is still low, a column keeps some of its garment in every row: the code, not the
# label, decides what is drawn. The conditional VAE's picture in :doc:`/tour` (made by
# ``benchmarks/train_conditional.py``: the same architecture trained on the full 60,000 images) shows what
# longer training gives.

n_per_class = 10
images = plots.class_sample_images(model, n_per_class=n_per_class, rng=0)
pad = 2
grid = plots.grid_array(images, (rows, cols), ncols=n_per_class, pad=pad)

fig, ax = plt.subplots(figsize=(7.5, 7.5))
ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
ax.set_yticks([pad + c * (rows + pad) + rows / 2 for c in range(N_CLASSES)], plots.FASHION_MNIST_CLASSES)
ax.set_xticks([pad + j * (cols + pad) + cols / 2 for j in range(n_per_class)],
              [f"$z_{{{j + 1}}}$" for j in range(n_per_class)])
ax.tick_params(length=0)
ax.set_title("the same z in every column, one label per row")
fig.tight_layout()

# %%
# The generative model read as a classifier
# -----------------------------------------
# Bayes' rule turns a model of images given labels into a model of labels given images:
#
# .. math::
#
#    p(y \mid x) = \frac{p(y)\, p(x \mid y)}{\sum_{c} p(c)\, p(x \mid c)},
#    \qquad \hat{y}(x) = \arg\max_y \big[\log p(y) + \log p(x \mid y)\big].
#
# :math:`p(y)` is the class frequency of the training labels. :math:`\log p(x \mid y)` is not known exactly;
# ``model.log_likelihood(x, y, k=K)`` estimates it with :math:`K` importance samples (Burda et al. 2016),
# and ``model.elbo(x, y)`` gives the cheaper and looser evidence lower bound. Both are called once per
# candidate label with the same images: the model never saw a label as a target, only as an input, and it
# is asked which input explains the image best. With ``rng=None`` every call draws its noise from the same
# fixed stream, so the ten labels are scored with the same :math:`\epsilon` draws, and the comparison
# between labels is not blurred by independent noise in each.

n_eval, k = 1000, 10
x_eval, y_eval = x_test[:n_eval], y_test[:n_eval]
log_prior = np.log(np.bincount(y_train, minlength=N_CLASSES) / len(y_train))

log_px_given_y = np.column_stack([model.log_likelihood(x_eval, c, k=k) for c in range(N_CLASSES)])
elbo_given_y = np.column_stack([model.elbo(x_eval, c) for c in range(N_CLASSES)])

predicted = np.argmax(log_prior + log_px_given_y, axis=1)
accuracy = np.mean(predicted == y_eval)
accuracy_elbo = np.mean(np.argmax(log_prior + elbo_given_y, axis=1) == y_eval)
print(f"accuracy of argmax_y p(y) p(x|y) on {n_eval} test images: {accuracy:.3f} with log p(x|y) "
      f"estimated by k={k} importance samples, {accuracy_elbo:.3f} with the ELBO in its place "
      f"(chance: {1 / N_CLASSES:.2f})")

# %%
# The same numbers also give the model's density of the images alone, the mixture
# :math:`\log p(x) = \log \sum_y p(y)\, p(x \mid y)`. For an exact model of the data, being told the true
# label lowers the negative log-likelihood by the mutual information :math:`I(x; y)` on average, and
# :math:`I(x; y) \le H(y) \le \log 10` nats. Here the mixture is built from the same ten estimates, and the
# true label's term is one of those it sums: for every image the difference is
# :math:`\log p(y \mid x) - \log p(y) \le -\log p(y)`, by construction, and it is negative for an image
# whose true label ends up with a posterior below its prior. Both are estimates with few importance samples,
# so their average is only a rough reading of :math:`I(x; y)`.

log_px = scipy.special.logsumexp(log_prior + log_px_given_y, axis=1)
nll_true_label = -log_px_given_y[np.arange(n_eval), y_eval].mean()
print(f"-log p(x|y), true labels:    {nll_true_label:.2f} nats per image")
print(f"-log p(x), the mixture:      {-log_px.mean():.2f} nats per image")
per_image = log_px_given_y[np.arange(n_eval), y_eval] - log_px
print(f"difference: {per_image.mean():.2f} nats on average; log {N_CLASSES} = {np.log(N_CLASSES):.2f}")
above_bound = np.sum(per_image > -log_prior[y_eval] + 1e-9)          # 1e-9: round-off of the logsumexp
print(f"per image: from {per_image.min():.2f} to {per_image.max():.2f} nats; above its bound -log p(y) for "
      f"{above_bound} images; negative for {np.mean(per_image < 0):.1%} of them")

# %%
# The confusion matrix
# --------------------
# Row :math:`i`, column :math:`j` counts the test images of class :math:`i` that the model labelled
# :math:`j`; a perfect classifier would fill the diagonal only. Garments with similar silhouettes, which a
# model of pixels finds hard to tell apart, show up as bright cells off the diagonal.

confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
np.add.at(confusion, (y_eval, predicted), 1)

fig, ax = plt.subplots(figsize=(7.5, 6.5))
shown = ax.imshow(confusion, cmap="Blues")
for i in range(N_CLASSES):
    for j in range(N_CLASSES):
        if confusion[i, j]:
            bright = confusion[i, j] > confusion.max() / 2
            ax.text(j, i, str(confusion[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if bright else "black")
ax.set_xticks(range(N_CLASSES), plots.FASHION_MNIST_CLASSES, rotation=45, ha="right")
ax.set_yticks(range(N_CLASSES), plots.FASHION_MNIST_CLASSES)
ax.set_xlabel("predicted: argmax_y p(y) p(x|y)")
ax.set_ylabel("true label")
ax.set_title(f"conditional VAE as a classifier, {n_eval} test images, accuracy {accuracy:.3f}")
fig.colorbar(shown, ax=ax, label="images")
fig.tight_layout()

recall = np.diag(confusion) / confusion.sum(axis=1)
for c in np.argsort(recall):
    print(f"{plots.FASHION_MNIST_CLASSES[c]:12s} recognised {recall[c]:.2f} of the time")
off_diagonal = confusion - np.diag(np.diag(confusion))
i, j = np.unravel_index(np.argmax(off_diagonal), off_diagonal.shape)
print(f"most frequent mistake: {plots.FASHION_MNIST_CLASSES[i]} taken for {plots.FASHION_MNIST_CLASSES[j]} "
      f"({off_diagonal[i, j]} images)")

# %%
# What the mistakes look like
# ---------------------------
# A few misclassified test images, with the true label and the model's choice. The posterior probability
# :math:`p(\hat{y} \mid x)` of the chosen label is the softmax of the scores above. A difference of a few
# nats between two labels, out of the hundreds that :math:`-\log p(x \mid y)` counts over 784 pixels, is
# already a large ratio of probabilities; the script prints how sure the model was, on the median, of its
# right and of its wrong answers.

posterior = scipy.special.softmax(log_prior + log_px_given_y, axis=1)
wrong = np.flatnonzero(predicted != y_eval)[:8]
if len(wrong):
    fig, axes = plt.subplots(1, len(wrong), figsize=(1.6 * len(wrong), 2.4), squeeze=False)
    for ax, index in zip(axes[0], wrong):
        ax.imshow(x_eval[index].reshape(rows, cols), cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(f"{plots.FASHION_MNIST_CLASSES[y_eval[index]]}\n-> {plots.FASHION_MNIST_CLASSES[predicted[index]]}"
                     f"\np = {posterior[index, predicted[index]]:.2f}", fontsize=7)
        ax.axis("off")
    fig.tight_layout()
confidence = posterior[np.arange(n_eval), predicted]
right = predicted == y_eval
print(f"{np.sum(~right)} of {n_eval} test images misclassified; median p(chosen label | x): "
      f"{np.median(confidence[right]):.2f} when right, "
      f"{np.median(confidence[~right]) if np.any(~right) else float('nan'):.2f} when wrong")

# %%
# Going further
# -------------
# ``purevae train --conditional`` trains the same kind of model from the command line and ``purevae sample``
# draws one row per class from it. ``benchmarks/train_conditional.py`` trains the full-size model on the full
# Fashion-MNIST with more importance samples and compares it with an unconditional one; its results, with the
# reading of :math:`\log p(x \mid y)` against :math:`\log p(x)`, are in :doc:`/results`.
