"""purevae.sklearn.VAEEstimator under scikit-learn's own rules (issue 13, part 1).

``check_estimator`` runs every check scikit-learn has for a transformer; the two that do not apply are declared
with their reason (``VAEEstimator``'s Notes). The rest compares the estimator with the model it wraps, and the
pipeline with PCA on a data set scikit-learn ships.
"""
from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

from purevae.sklearn import VAEEstimator  # noqa: E402

SUBSAMPLED = ("score_samples draws one z per example from one stream for the call, so a subset or a permutation "
              "of X gets other draws (VAEEstimator's Notes); transform passes the check")


def test_check_estimator_passes_with_the_two_stochastic_checks_declared():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)      # the batch_size clipping of the checks' tiny data sets
        results = check_estimator(VAEEstimator(epochs=5, random_state=0), on_fail=None, expected_failed_checks={
            "check_methods_subset_invariance": SUBSAMPLED, "check_methods_sample_order_invariance": SUBSAMPLED})
    statuses = {r["check_name"]: r["status"] for r in results}
    failed = [name for name, status in statuses.items() if status == "failed"]
    assert failed == [] and len(statuses) > 40
    assert statuses["check_methods_subset_invariance"] == "xfail"


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)


def test_a_pipeline_on_digits_does_as_well_as_pca_of_the_same_width(digits):
    """Measured (benchmarks/sklearn_pipeline.py, 5 seeds): 0.869-0.900 with the VAE, 0.857 with PCA; asserted 0.8."""
    x_train, x_test, y_train, y_test = digits
    vae = make_pipeline(StandardScaler(), VAEEstimator(n_latent=8, epochs=100, random_state=0),
                        LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    pca = make_pipeline(StandardScaler(), PCA(8), LogisticRegression(max_iter=1000)).fit(x_train, y_train)
    vae_accuracy, pca_accuracy = vae.score(x_test, y_test), pca.score(x_test, y_test)
    print(f"digits, 8 features: VAE pipeline {vae_accuracy:.3f}, PCA pipeline {pca_accuracy:.3f}")
    assert vae_accuracy > 0.8 and pca_accuracy > 0.8


def test_grid_search_and_clone(digits):
    x_train, _, y_train, _ = digits
    pipe = make_pipeline(StandardScaler(), VAEEstimator(epochs=3, random_state=0), LogisticRegression(max_iter=200))
    search = GridSearchCV(pipe, {"vaeestimator__n_latent": [2, 4]}, cv=2).fit(x_train[:400], y_train[:400])
    assert search.best_params_["vaeestimator__n_latent"] in (2, 4)
    est = VAEEstimator(hidden=(7,), n_latent=3, lr=0.01)
    copy = clone(est)
    assert copy.get_params() == est.get_params() and copy is not est and not hasattr(copy, "model_")


def test_the_estimator_is_the_model_it_wraps(digits):
    x_train, x_test, _, _ = digits
    x_train, x_test = StandardScaler().fit(x_train).transform(x_train), StandardScaler().fit(x_train).transform(x_test)
    est = VAEEstimator(n_latent=3, epochs=2, random_state=7).fit(x_train)
    model = est.model_
    assert model.seed == 7 and est.n_features_in_ == 64 and est.history_ is model.history
    np.testing.assert_array_equal(est.transform(x_test), model.encode(x_test)[0])
    z = np.zeros((2, 3))
    np.testing.assert_array_equal(est.inverse_transform(z), model.decode(z))
    np.testing.assert_array_equal(est.score_samples(x_test), model.elbo(x_test))
    assert est.score(x_test) == pytest.approx(model.elbo(x_test).mean())
    assert est.sample(4, random_state=1).shape == (4, 64)
    assert list(est.get_feature_names_out()) == ["vaeestimator0", "vaeestimator1", "vaeestimator2"]
    # the same random_state and data give the same model; batch_size above the data is clipped with a warning
    again = VAEEstimator(n_latent=3, epochs=2, random_state=7).fit(x_train)
    np.testing.assert_array_equal(again.transform(x_test), est.transform(x_test))
    with pytest.warns(UserWarning, match="batch_size 64 is larger than the 10 examples: clipped to 10"):
        VAEEstimator(epochs=1).fit(x_train[:10])
    assert VAEEstimator(random_state=np.random.default_rng(3))._seed() == int(
        np.random.default_rng(np.random.default_rng(3)).integers(0, 2**32))


def test_bad_settings_are_the_models_errors(digits):
    x_train = digits[0]
    with pytest.raises(ValueError, match="likelihood"):
        VAEEstimator(likelihood="poisson").fit(x_train)
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        VAEEstimator(likelihood="bernoulli").fit(x_train)
    with pytest.raises(TypeError, match="n_latent"):
        VAEEstimator(n_latent=2.5).fit(x_train)


def test_import_purevae_needs_no_scikit_learn_and_purevae_sklearn_says_what_to_install():
    code = ("import sys; import purevae; assert 'sklearn' not in sys.modules; "
            "sys.modules['sklearn'] = None\n"
            "try:\n    import purevae.sklearn\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "purevae[sklearn]"' in out and "scikit-learn" in out
