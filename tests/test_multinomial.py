r"""The multinomial (bag-of-words) likelihood and sparse documents (issue 17).

Independent references: scipy.stats.multinomial's log-pmf minus the multinomial coefficient (the value),
central differences of that value (the gradient), the unigram model's exact perplexity, and the dense path
for the sparse one. Derivation: docs/derivations.md#multinomial
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
import scipy.special
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

import purevae
from purevae import backend
from purevae.gradcheck import numeric_gradient
from purevae.model import VAE
from purevae.objectives import perplexity

IMPLS = ["numpy", pytest.param("cython", marks=pytest.mark.skipif(not backend.cython_available(),
                                                                    reason="extension not built"))]


@pytest.fixture
def restore_backend():
    name = backend.get_backend()
    yield
    backend.set_backend(name)


def reference_nll(x, logits):
    """-log p(words | logits) from scipy's multinomial pmf, without the coefficient N! / prod x_w!, float64."""
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    out = np.empty(len(logits))
    for r, l in enumerate(logits):
        counts = x[r % len(x)]
        n = counts.sum()
        if n == 0:
            out[r] = 0.0
            continue
        p = scipy.special.softmax(l)
        coefficient = scipy.special.gammaln(n + 1) - scipy.special.gammaln(counts + 1).sum()
        out[r] = -(scipy.stats.multinomial.logpmf(counts, n, p) - coefficient)
    return out


def counts(rng, shape, rate=0.8):
    x = rng.poisson(rate, shape).astype(np.float64)
    if shape[0] > 1:
        x[0] = 0                # a document with no words
        x[1] = 0
        x[1, rng.integers(shape[1])] = 1    # and one of one word
    return x


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@given(batch=st.integers(1, 5), k=st.integers(1, 3), vocab=st.sampled_from([1, 2, 7, 300, 3000]),
       dtype=st.sampled_from([np.float32, np.float64]), spread=st.sampled_from([0.1, 3.0, 30.0]),
       seed=st.integers(0, 2**32 - 1))
def test_value_and_gradient_match_scipy_and_the_closed_form(impl, sparse, batch, k, vocab, dtype, spread, seed):
    rng = np.random.default_rng(seed)
    x = counts(rng, (batch, vocab))
    logits = rng.normal(0, spread, (k * batch, vocab)).astype(dtype)
    scale = rng.random(k * batch)
    given_x = scipy.sparse.csr_matrix(x.astype(dtype)) if sparse else x.astype(dtype)
    nll = backend.multinomial_nll(given_x, logits, impl=impl)
    nll2, grad = backend.multinomial_nll_grad(given_x, logits, scale, impl=impl)
    assert nll.dtype == dtype and grad.dtype == dtype and grad.shape == logits.shape
    want = reference_nll(x, logits)
    n_words = x.sum(axis=1)
    # float32: each of N LSE and x . l rounds at u ~ 6e-8 relative to its size (V terms summed in double)
    tol = (5e-6 if dtype == np.float32 else 1e-12) * (1 + np.tile(n_words, k)
                                                       * (np.abs(logits).max(axis=1) + np.log(vocab)))
    assert np.all(np.abs(nll - want) <= tol) and np.array_equal(nll, nll2)
    # the gradient's closed form, N softmax(l) - x, computed here in float64 from scipy's softmax
    expected = scale[:, None] * (np.tile(n_words, k)[:, None] * scipy.special.softmax(logits.astype(np.float64), axis=1)
                                 - np.tile(x, (k, 1)))
    np.testing.assert_allclose(grad, expected, rtol=2e-5 if dtype == np.float32 else 1e-12,
                               atol=(1e-6 if dtype == np.float32 else 1e-14) * max(1, n_words.max()))
    assert np.all(grad[np.tile(n_words == 0, k)] == 0)           # a document with no words: no gradient


def test_gradient_is_the_derivative_of_the_value():
    """Central differences of scipy's -log pmf (no coefficient) against the kernel's gradient."""
    rng = np.random.default_rng(3)
    x, logits = counts(rng, (3, 9)), rng.normal(0, 2, (3, 9))
    _, grad = backend.multinomial_nll_grad(x, logits, 1.0)
    for r in range(3):
        row = logits[r:r + 1].copy()
        numeric = numeric_gradient(lambda r=r, row=row: reference_nll(x[r:r + 1], row)[0], row, np.arange(9), h=1e-4)
        np.testing.assert_allclose(grad[r], numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_and_empty_documents_stay_finite(impl, dtype):
    x = np.array([[0, 0, 0], [2, 0, 1], [0, 3, 0]], dtype)
    logits = np.array([[1e4, -1e4, 0], [1e4, -1e4, 0], [-1e4, 1e4, 1e4]], dtype)
    for given_x in (x, scipy.sparse.csr_matrix(x)):
        nll, grad = backend.multinomial_nll_grad(given_x, logits, 1.0, impl=impl)
        assert np.all(np.isfinite(nll)) and np.all(np.isfinite(grad))
        # row 0: no words; row 1: 2 words at probability ~1 and one at e^-1e4; row 2: 3 words at probability 1/2.
        # N LSE(l) - x . l cancels: its rounding is u N max|l| (2e-3 in float32 here), the formula's, not a bug's
        atol = 4 * np.finfo(dtype).eps * 3 * 1e4
        np.testing.assert_allclose(nll, [0.0, 1e4, 3 * np.log(2)], rtol=1e-6, atol=atol)
        np.testing.assert_array_equal(grad[0], 0)


@pytest.mark.parametrize("impl", IMPLS)
def test_wrappers_refuse_what_are_not_counts(impl):
    logits = np.zeros((2, 3))
    for bad, match in ((np.array([[1, -1, 0], [0, 0, 0]]), r"non-negative integers\), found -1"),
                       (np.array([[1, 0.5, 0], [0, 0, 0]]), "non-integer value")):
        for x in (bad.astype(float), scipy.sparse.csr_matrix(bad.astype(float))):
            with pytest.raises(ValueError, match=match):
                backend.multinomial_nll(x, logits, impl=impl)
    with pytest.raises(ValueError, match="multiple k B"):
        backend.multinomial_nll(scipy.sparse.csr_matrix(np.ones((3, 3))), logits, impl=impl)
    with pytest.raises(ValueError, match="3 features per example"):
        backend.multinomial_nll_grad(scipy.sparse.csr_matrix(np.ones((2, 4))), logits, impl=impl)


# ---- the whole model ---------------------------------------------------------------------------------
def text_model(hidden=(6,), n_classes=None, vocab=25, seed=1):
    return VAE(vocab, hidden, 3, likelihood="multinomial", activation="tanh", dtype="float64", seed=seed,
               n_classes=n_classes)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("objective, k", [("elbo", None), ("elbo", 3), ("iwae", 4)])
@pytest.mark.parametrize("hidden", [(), (6,), (5, 4)])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_whole_loss_gradient_matches_central_differences(impl, objective, k, hidden, sparse, restore_backend):
    backend.set_backend(impl)
    rng = np.random.default_rng(7)
    model = text_model(hidden)
    x = counts(rng, (5, 25))
    errors = purevae.gradcheck(model, scipy.sparse.csr_matrix(x) if sparse else x, beta=0.8, objective=objective,
                               k=k)
    assert max(errors.values()) < 1e-6, errors


def test_conditional_bag_of_words_gradient(rng):
    model = text_model((6,), n_classes=3)
    x = counts(rng, (5, 25))
    errors = purevae.gradcheck(model, scipy.sparse.csr_matrix(x), y=rng.integers(0, 3, 5), objective="iwae", k=2)
    assert max(errors.values()) < 1e-6


@pytest.mark.parametrize("impl", IMPLS)
def test_sparse_and_dense_documents_give_the_same_numbers(impl, rng, restore_backend):
    backend.set_backend(impl)
    model = text_model((8,))
    x = counts(rng, (12, 25))
    sparse = scipy.sparse.csr_matrix(x)
    eps = rng.standard_normal((2, 12, 3))
    for objective in ("elbo", "iwae"):
        dense_loss, dense_grads = model.loss_and_grads(x, eps=eps, objective=objective)
        sparse_loss, sparse_grads = model.loss_and_grads(sparse, eps=eps, objective=objective)
        np.testing.assert_allclose(sparse_loss, dense_loss, rtol=1e-13)
        for name in dense_grads:
            np.testing.assert_allclose(sparse_grads[name], dense_grads[name], rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(model.encode(sparse)[0], model.encode(x)[0], rtol=1e-13)
    np.testing.assert_allclose(model.elbo(sparse, k=3), model.elbo(x, k=3), rtol=1e-12)
    np.testing.assert_allclose(model.log_likelihood(sparse, k=7, batch_size=5, max_rows=10),
                               model.log_likelihood(x, k=7, batch_size=5, max_rows=10), rtol=1e-12)
    # other sparse formats and integer counts are accepted (the integers with a CastWarning, as arrays are)
    with pytest.warns(purevae.CastWarning, match="cast to float64"):
        coo = scipy.sparse.coo_matrix(x.astype(np.int64))
        np.testing.assert_allclose(model.elbo(coo, k=3), model.elbo(x, k=3), rtol=1e-12)


def test_fit_on_sparse_counts_follows_fit_on_dense_counts(rng):
    x = counts(rng, (40, 25))
    dense, sparse = text_model(seed=4), text_model(seed=4)
    dense.fit(x, epochs=2, batch_size=16, validation_data=x[:10])
    sparse.fit(scipy.sparse.csr_matrix(x), epochs=2, batch_size=16, validation_data=scipy.sparse.csr_matrix(x[:10]))
    for name in dense.params:
        np.testing.assert_allclose(sparse.params[name], dense.params[name], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse.history["val_loss"], dense.history["val_loss"], rtol=1e-10)
    with pytest.raises(ValueError, match="binarize=True draws 0/1 images"):
        sparse.fit(scipy.sparse.csr_matrix(x), epochs=1, binarize=True)


def test_a_decoder_of_unigram_frequencies_gives_the_unigram_perplexity(rng):
    """Logits that ignore z and equal log c_w / sum c: log p(x|z) is the unigram log-probability for every z, and
    with q(z|x) = N(0, I) = p(z) every importance weight equals it, so the estimate is exact."""
    x_train, x_test = counts(rng, (200, 25), rate=1.5), counts(rng, (30, 25), rate=1.5)
    freq = (x_train.sum(axis=0) + 1) / (x_train.sum() + 25)            # add-one: every word has mass
    model = text_model(())
    for name in model.params:
        model.params[name][...] = 0                                    # q(z|x) = N(0, I); logits = the bias
    model.params["decoder.out.bias"][...] = np.log(freq)
    exact = np.exp(-np.sum(x_test * np.log(freq)) / x_test.sum())
    log_px = model.log_likelihood(scipy.sparse.csr_matrix(x_test), k=4)
    np.testing.assert_allclose(perplexity(log_px, x_test.sum(axis=1)), exact, rtol=1e-12)
    np.testing.assert_allclose(model.decode(np.zeros((2, 3))), np.tile(freq, (2, 1)), rtol=1e-12)


def test_model_input_checks_name_the_problem():
    model = text_model()
    with pytest.raises(ValueError, match="x must hold word counts"):
        model.loss_and_grads(np.full((2, 25), 0.5))
    with pytest.raises(ValueError, match="x must hold word counts"):
        model.elbo(scipy.sparse.csr_matrix(-np.eye(2, 25)))
    bad = scipy.sparse.csr_matrix(np.eye(2, 25))
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        model.encode(bad)
    with pytest.raises(ValueError, match="25 features per example"):
        model.elbo(scipy.sparse.csr_matrix(np.eye(2, 24)))
    with pytest.raises(ValueError, match="x is empty"):
        model.elbo(scipy.sparse.csr_matrix((0, 25)))
    with pytest.raises(TypeError, match="must hold real numbers"):
        model.elbo(scipy.sparse.csr_matrix(np.eye(2, 25, dtype=complex)))
    with pytest.raises(ValueError, match="variance applies only"):
        VAE(25, likelihood="multinomial", variance=1.0)


def test_the_vocabulary_is_kept_in_the_model_file(tmp_path):
    words = [f"w{i}" for i in range(25)]
    model = VAE(25, (6,), 3, likelihood="multinomial", vocabulary=words, seed=0)
    assert model.vocabulary == tuple(words)
    model.save(tmp_path / "m.npz")
    assert purevae.load(tmp_path / "m.npz").vocabulary == tuple(words)
    for vocab, error, match in ((words[:-1], ValueError, "one word per column: 25, got 24"),
                                (["a"] * 25, ValueError, "distinct non-empty"),
                                ([1] * 25, TypeError, "must hold str"),
                                ("abc", TypeError, "sequence of str")):
        with pytest.raises(error, match=match):
            VAE(25, likelihood="multinomial", vocabulary=vocab)
