r"""
The encoder inside a scikit-learn pipeline
==========================================

:class:`purevae.sklearn.VAEEstimator` wraps a VAE as a scikit-learn transformer. ``fit`` trains the model on
X, ``transform`` returns the posterior means :math:`\mu(x)` of :math:`q(z \mid x)`, ``inverse_transform``
decodes latent codes back into feature space, and ``score_samples`` gives each example's ELBO in nats. It
therefore slots into ``Pipeline``, ``clone`` and ``GridSearchCV`` like any other transformer.

This example puts it between a ``StandardScaler`` and a ``LogisticRegression`` on scikit-learn's
hand-written digits and compares it with the same pipeline built around ``PCA`` of the same width. The
estimator's default likelihood is a Gaussian with a learned variance per feature, which suits standardised
tabular data (:ref:`derivations-gaussian`); it is trained on the ELBO (:ref:`derivations-elbo`).
"""

# %%
# The data
# --------
# ``load_digits`` ships with scikit-learn: small images of hand-written digits, 8 x 8 pixels (64 features,
# grey levels 0..16), ten classes. The split is 70/30, stratified by class, with a fixed seed; the script
# prints the counts.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from purevae import plots
from purevae.sklearn import VAEEstimator

x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
print(f"{len(x_train)} training and {len(x_test)} test digits, {x.shape[1]} features, {len(np.unique(y))} classes")

# %%
# Eight VAE features against eight principal components
# -----------------------------------------------------
# Both pipelines standardise the pixels, compress them to ``L = 8`` numbers and classify those with a
# logistic regression. PCA is deterministic; the VAE depends on its seed (initialisation, shuffling and the
# noise of the reparameterisation), so it is trained with a few seeds and every score is printed.
# ``random_state`` as an integer becomes the model's seed.

n_latent = 8
pca_pipeline = make_pipeline(StandardScaler(), PCA(n_latent), LogisticRegression(max_iter=1000))
pca_accuracy = pca_pipeline.fit(x_train, y_train).score(x_test, y_test)

vae_accuracy = []
for seed in (0, 1, 2):
    vae_pipeline = make_pipeline(StandardScaler(), VAEEstimator(n_latent=n_latent, epochs=100, random_state=seed),
                                 LogisticRegression(max_iter=1000))
    vae_accuracy.append(vae_pipeline.fit(x_train, y_train).score(x_test, y_test))
    print(f"VAE pipeline, seed {seed}: held-out accuracy {vae_accuracy[-1]:.3f}")
print(f"PCA pipeline:              held-out accuracy {pca_accuracy:.3f}")
above = sum(a > pca_accuracy for a in vae_accuracy)
print(f"the VAE's {n_latent} features scored above PCA's in {above} of {len(vae_accuracy)} seeds "
      f"(mean {np.mean(vae_accuracy):.3f})")

# %%
# The fitted ``VAEEstimator`` is an ordinary pipeline step: ``named_steps`` reaches it, and its ``model_``
# attribute is the trained :class:`purevae.VAE <purevae.model.VAE>`, with its history of per-epoch losses.
# The pipeline cut before the classifier, ``vae_pipeline[:-1]``, ends in the VAE, so its ``score_samples``
# is a one-sample estimate of each held-out digit's ELBO: a lower bound on the log-density of the
# *standardised* pixels under a Gaussian likelihood. A log-density of continuous values can be positive, and
# it is comparable only with other models of the same standardised data. A pixel that is almost always 0 in
# the training digits gets a tiny standard deviation from ``StandardScaler``, so a test digit that does use it
# lands many standard deviations out, far from anything the model saw: such digits make the lowest scores.

vae_step = vae_pipeline.named_steps["vaeestimator"]
model = vae_step.model_
print(f"trained model: {model.n_input}-{'-'.join(map(str, model.hidden))}-{model.n_latent}, "
      f"likelihood {vae_step.likelihood!r}, {model.epochs_trained} epochs, {model.dtype.name}")
print(f"last epoch's training -ELBO: {vae_step.history_['loss'][-1]:.2f} nats per example; "
      f"output features: {list(vae_step.get_feature_names_out())}")
held_out_elbo = vae_pipeline[:-1].score_samples(x_test)
print(f"held-out ELBO: {held_out_elbo.mean():.2f} nats per digit on average "
      f"(from {held_out_elbo.min():.2f} to {held_out_elbo.max():.2f})")
worst = int(np.argmin(held_out_elbo))
scaled = vae_pipeline.named_steps["standardscaler"].transform(x_test[worst:worst + 1])
print(f"the lowest-scoring digit's largest standardised pixel: {np.abs(scaled).max():.1f} standard deviations")

# %%
# Choosing the width with ``GridSearchCV``
# ----------------------------------------
# Because ``VAEEstimator`` follows scikit-learn's conventions (its constructor only stores its parameters,
# ``clone`` copies them), a grid search can treat the reduction step itself as a parameter. The grid below
# swaps the ``reduce`` step between a VAE and PCA and varies the width of each, scoring every candidate by
# 3-fold cross-validation on the training set only; the test set stays untouched until the end. The VAE is
# trained for fewer epochs here than above, to keep the page quick. A non-linear encoder has the most to
# offer when the width is small and a linear projection must throw away much of the data; the printout says,
# width by width, which of the two came out ahead in this run.

search = GridSearchCV(
    Pipeline([("scale", StandardScaler()), ("reduce", PCA()), ("classify", LogisticRegression(max_iter=1000))]),
    param_grid=[{"reduce": [VAEEstimator(epochs=60, random_state=0)], "reduce__n_latent": [2, 4, 8, 16]},
                {"reduce": [PCA()], "reduce__n_components": [2, 4, 8, 16]}],
    cv=3)
search.fit(x_train, y_train)

results = search.cv_results_
widths = {"VAE": [], "PCA": []}
for params, mean, std in zip(results["params"], results["mean_test_score"], results["std_test_score"]):
    kind = "VAE" if isinstance(params["reduce"], VAEEstimator) else "PCA"
    width = params.get("reduce__n_latent", params.get("reduce__n_components"))
    widths[kind].append((width, mean, std))
    print(f"{kind} width {width:2d}: cross-validated accuracy {mean:.3f} +- {std:.3f}")
for (width, vae_mean, _), (_, pca_mean, _) in zip(widths["VAE"], widths["PCA"]):
    print(f"width {width:2d}: {'VAE' if vae_mean > pca_mean else 'PCA'} ahead by {abs(vae_mean - pca_mean):.3f}")
best = search.best_params_
print(f"best: {type(best['reduce']).__name__} of width "
      f"{best.get('reduce__n_latent', best.get('reduce__n_components'))}, held-out accuracy of the refitted "
      f"pipeline {search.score(x_test, y_test):.3f}")

fig, ax = plt.subplots(figsize=(6, 4))
for kind, marker in (("VAE", "o-"), ("PCA", "s--")):
    w, mean, std = np.array(widths[kind]).T
    ax.errorbar(w, mean, yerr=std, fmt=marker, capsize=3, label=f"{kind} + logistic regression")
ax.set_xscale("log", base=2)
ax.set_xticks([2, 4, 8, 16], ["2", "4", "8", "16"])
ax.set_xlabel("width of the reduction (latent dimensions / components)")
ax.set_ylabel("3-fold cross-validated accuracy")
ax.set_title("digits: accuracy against width (error bars: std over folds)")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()

# %%
# The encoder's map in two dimensions
# -----------------------------------
# With ``n_latent=2`` the posterior means can be drawn directly: every test digit becomes one point
# :math:`\mu(x)`, coloured by its true class. Next to it, the first two principal components of the same
# standardised pixels. The VAE's map is non-linear, so it may pull apart classes that overlap in a linear
# projection; the accuracy of a logistic regression on each map, printed below, says how far it did.

map_vae = make_pipeline(StandardScaler(), VAEEstimator(n_latent=2, epochs=100, random_state=0))
map_pca = make_pipeline(StandardScaler(), PCA(2))
points = {"VAE posterior means": map_vae.fit(x_train).transform(x_test),
          "PCA, first two components": map_pca.fit(x_train).transform(x_test)}
for name, maker in (("VAE posterior means", map_vae), ("PCA, first two components", map_pca)):
    train_points = maker.transform(x_train)
    score = LogisticRegression(max_iter=1000).fit(train_points, y_train).score(points[name], y_test)
    print(f"{name}: logistic regression on the 2-D map, held-out accuracy {score:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(11, 5))
colours = plt.get_cmap("tab10")
for ax, (name, xy) in zip(axes, points.items()):
    for digit in range(10):
        sel = y_test == digit
        ax.scatter(xy[sel, 0], xy[sel, 1], s=10, color=colours(digit), label=str(digit), alpha=0.8, linewidths=0)
    ax.set_title(name)
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")
axes[1].legend(title="digit", markerscale=2, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
fig.tight_layout()

# %%
# Decoding the map
# ----------------
# ``inverse_transform`` runs the decoder: it returns the mean of :math:`p(x \mid z)` for a latent code, in the
# standardised space the VAE was trained in, and the scaler's own ``inverse_transform`` takes it back to
# pixel values. A grid of codes spanning the test points (from the 2nd to the 98th percentile of each
# coordinate; up is the second coordinate growing, as in the scatter) shows what each region of the map
# stands for; :func:`purevae.plots.grid_array` tiles the 8 x 8 images with a grey border.

z_points = points["VAE posterior means"]
steps = 9
grid_z = np.array([[a, b] for b in np.linspace(*np.percentile(z_points[:, 1], [98, 2]), steps)
                   for a in np.linspace(*np.percentile(z_points[:, 0], [2, 98]), steps)])
scaler, vae_2d = map_vae.named_steps["standardscaler"], map_vae.named_steps["vaeestimator"]
decoded = scaler.inverse_transform(vae_2d.inverse_transform(grid_z))      # (steps * steps, 64), 0..16 ideally
tiles = plots.grid_array(decoded / 16, (8, 8), ncols=steps, pad=1)        # clipped to [0, 1], grey padding

fig, ax = plt.subplots(figsize=(5.5, 5.5))
ax.imshow(tiles, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
ax.set_title("decoder means over a grid of 2-D codes")
ax.axis("off")
fig.tight_layout()

# %%
# ``benchmarks/sklearn_pipeline.py`` runs the comparison above with five seeds on three of scikit-learn's
# data sets; its table is in :doc:`/results`. The test split holds a few hundred digits (the count
# is printed at the top), so a handful of digits moves the accuracy by a point. Read any difference between
# two pipelines against the spread between the VAE's seeds printed above, and against the spread over folds
# in the grid search.
