r"""A bag-of-words model in use (issue 17): texts into vectors, the latent directions' words, the command line.

References: ``model.encode`` on counts made by hand, the closed form of a decoder without hidden layers (the rise
of the logits is 2 delta times a row of its weight), and the files the commands write.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse

import purevae
from purevae import cli, plots, text
from purevae.data import load_wordnet_bundled
from purevae.model import VAE

WORDS = ("bark", "cat", "dog", "fish", "meow", "swim", "water")


@pytest.fixture
def model():
    return VAE(len(WORDS), (5,), 3, likelihood="multinomial", vocabulary=WORDS, dtype="float64", seed=2)


def test_encode_texts_is_encode_of_the_counts(model):
    texts = ["The dog barks; a dog!", "cat meow meow", "a fish swims in WATER (water)"]
    counts = np.zeros((3, len(WORDS)))
    counts[0, WORDS.index("dog")] = 2                      # "barks" is not "bark": words are not stemmed
    counts[1, [WORDS.index("cat"), WORDS.index("meow")]] = 1, 2
    counts[2, [WORDS.index("fish"), WORDS.index("water")]] = 1, 2
    np.testing.assert_allclose(text.encode_texts(model, texts), model.encode(counts)[0], rtol=1e-14)


def test_encode_texts_refuses_what_it_cannot_encode(model):
    with pytest.raises(ValueError, match=r"1 text\(s\) have no word of the model's vocabulary, e.g. text 1"):
        text.encode_texts(model, ["dog", "nothing known here"])
    zero = text.encode_texts(model, ["dog", "nothing known here"], allow_empty=True)[1]
    np.testing.assert_allclose(zero, model.encode(np.zeros((1, len(WORDS))))[0][0], rtol=1e-14)
    with pytest.raises(TypeError, match="single string"):
        text.encode_texts(model, "a dog")
    with pytest.raises(ValueError, match="texts is empty"):
        text.encode_texts(model, [])
    with pytest.raises(ValueError, match="has no vocabulary"):
        text.encode_texts(VAE(7, (5,), 3, likelihood="multinomial"), ["dog"])


def test_top_words_of_a_linear_decoder_are_its_largest_weights():
    """hidden=(): logits = z V + c, so the rise of word w along z_j is 2 delta V_jw: the words with the largest V_jw."""
    model = VAE(len(WORDS), (), 3, likelihood="multinomial", vocabulary=WORDS, dtype="float64", seed=5)
    words, rises = text.top_words(model, n_words=3, delta=1.5)
    weight = model.params["decoder.out.weight"]
    for j in range(3):
        order = np.argsort(-weight[j], kind="stable")[:3]
        assert words[j] == [WORDS[w] for w in order]
        np.testing.assert_allclose(rises[j], 3.0 * weight[j, order], rtol=1e-12)
    with pytest.raises(ValueError, match="unconditional model"):
        text.top_words(VAE(7, (5,), 3, likelihood="multinomial", vocabulary=WORDS, n_classes=2))
    if plots.matplotlib_available():
        pytest.importorskip("matplotlib")


def test_save_top_words_checks_its_table(tmp_path):
    if not plots.matplotlib_available():
        pytest.skip("matplotlib is not installed")
    path = plots.save_top_words([["a", "b"], ["c", "d"]], tmp_path / "t.png", np.ones((2, 2)))
    assert path.stat().st_size > 1000
    with pytest.raises(ValueError, match="rises must have shape"):
        plots.save_top_words([["a", "b"]], tmp_path / "t.png", np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-empty rows of str"):
        plots.save_top_words([[]], tmp_path / "t.png")


# ---- the command line on the bundled corpus ----------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("text") / "run"
    args = ["train", "--data", "wordnet", "--likelihood", "multinomial", "--hidden", "32", "--latent", "4",
            "--epochs", "1", "--n-train", "3000", "--n-test", "300", "--out", str(out), "--quiet"]
    assert cli.main(args) == 0
    return out


def test_cli_trains_on_the_bundled_corpus_and_reports_perplexity(trained, capsys):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["units"].startswith("nats per document")
    model = purevae.load(trained / "model.npz")
    corpus = load_wordnet_bundled()
    assert model.vocabulary == corpus.vocabulary and model.likelihood.name == "multinomial"
    x_test = corpus.x_test[:300].astype(np.float32)
    log_px_z, kl = purevae.objectives.elbo_terms(model, x_test, rng=np.random.default_rng([0, 10]))
    n_words = np.asarray(x_test.sum(axis=1)).ravel()
    np.testing.assert_allclose(metrics["final"]["test_neg_elbo"], np.mean(kl - log_px_z), rtol=1e-6)
    np.testing.assert_allclose(metrics["final"]["test_perplexity_elbo"],
                               np.exp(np.sum(kl - log_px_z) / n_words.sum()), rtol=1e-6)


def test_cli_evaluates_a_text_model(trained, capsys):
    assert cli.main(["evaluate", str(trained / "model.npz"), "--k", "5", "--n", "50", "--worst", "2", "--no-plots",
                     "--quiet"]) == 0
    out = capsys.readouterr().out
    result = json.loads((trained / "model_evaluation.json").read_text())
    model = purevae.load(trained / "model.npz")
    corpus = load_wordnet_bundled()
    x = corpus.x_test[:50].astype(np.float32)
    rng = np.random.default_rng([0, 20])
    model.elbo(x, rng=rng)
    log_px = model.log_likelihood(x, k=5, rng=rng)
    np.testing.assert_allclose(result["perplexity"], np.exp(-log_px.sum() / x.sum()), rtol=1e-6)
    worst = np.argsort(log_px, kind="stable")[:2]
    assert [w["index"] for w in result["worst"]] == worst.tolist()
    assert corpus.texts_test[worst[0]] in out and "per-word perplexity" in out


def test_cli_neighbours_are_the_nearest_by_cosine(trained, capsys):
    query = "a domesticated carnivorous mammal"
    assert cli.main(["neighbours", str(trained / "model.npz"), query, "--n", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    model = purevae.load(trained / "model.npz")
    corpus = load_wordnet_bundled()
    mu = model.encode(scipy.sparse.vstack([corpus.x_train, corpus.x_test]).tocsr())[0].astype(np.float64)
    q = text.encode_texts(model, [query])[0].astype(np.float64)
    cosine = mu @ q / (np.linalg.norm(mu, axis=1) * np.linalg.norm(q))
    texts = corpus.texts_train + corpus.texts_test
    for line, i in zip(lines[1:], np.argsort(-cosine, kind="stable")[:3]):
        assert line.endswith(texts[i]) and f"{cosine[i]:.3f}" in line


def test_cli_samples_words_and_refuses_pictures_of_a_text_model(trained, capsys):
    assert cli.main(["sample", str(trained / "model.npz"), "--n", "2", "--ncols", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[1].startswith("  1. ")
    assert cli.main(["reconstruct", str(trained / "model.npz")]) == 1
    assert "bag-of-words model" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--data", "wordnet"], "train it with --likelihood multinomial"),
    (["train", "--likelihood", "multinomial"], "--likelihood multinomial models word counts"),
    (["train", "--data", "wordnet", "--likelihood", "multinomial", "--binarize", "static"], "--binarize applies"),
])
def test_cli_text_usage_errors_are_one_line(argv, message, capsys, tmp_path):
    assert cli.main(argv + ["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cli_neighbours_of_an_image_model_is_an_error(tmp_path, capsys):
    path = VAE(12, (4,), 2).save(tmp_path / "m.npz")
    assert cli.main(["neighbours", str(path), "a dog"]) == 1
    assert "has no vocabulary" in capsys.readouterr().err


def test_review_fixes_for_the_text_command_line(trained, tmp_path, capsys):
    # a moved model without its metrics.json is evaluated on the bundled glosses, not on the images
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "model.npz").write_bytes((trained / "model.npz").read_bytes())
    assert cli.main(["evaluate", str(moved / "model.npz"), "--k", "2", "--n", "20", "--no-plots", "--quiet"]) == 0
    assert "test documents of wordnet-glosses-subset" in capsys.readouterr().out
    # a query with no vocabulary word is a one-line error that speaks of the command line, not of Python
    assert cli.main(["neighbours", str(trained / "model.npz"), "the of and"]) == 1
    err = capsys.readouterr().err
    assert "no word of the model's vocabulary" in err and "allow_empty" not in err
    # conditional text training is refused up front; gradcheck draws counts for the multinomial
    assert cli.main(["train", "--data", "wordnet", "--likelihood", "multinomial", "--conditional", "--out",
                     str(tmp_path / "c")]) == 2
    assert "--conditional applies to images" in capsys.readouterr().err
    assert cli.main(["gradcheck", "--likelihood", "multinomial", "--activation", "tanh"]) == 0
    assert ": ok" in capsys.readouterr().out


def test_a_text_npz_works_in_train_and_evaluate(tmp_path, capsys):
    from purevae import data
    corpus = load_wordnet_bundled()
    small = data.TextCorpus(corpus.x_train[:400], corpus.y_train[:400], corpus.x_test[:50], corpus.y_test[:50],
                            corpus.texts_train[:400], corpus.texts_test[:50], corpus.vocabulary, corpus.categories,
                            "small")
    path = tmp_path / "corpus.npz"
    np.savez(path, **data.text_corpus_arrays(small))
    out = tmp_path / "run"
    assert cli.main(["train", "--data", str(path), "--likelihood", "multinomial", "--hidden", "8", "--latent", "2",
                     "--epochs", "1", "--out", str(out), "--quiet", "--no-plots"]) == 0
    assert cli.main(["evaluate", str(out / "model.npz"), "--k", "2", "--no-plots", "--quiet"]) == 0
    assert "(50 test documents of " in capsys.readouterr().out


def test_one_held_out_document_still_draws_its_pictures(tmp_path):
    if not plots.matplotlib_available():
        pytest.skip("matplotlib is not installed")
    assert cli.main(["train", "--data", "wordnet", "--likelihood", "multinomial", "--hidden", "8", "--latent", "3",
                     "--epochs", "1", "--n-train", "300", "--n-test", "1", "--out", str(tmp_path / "r"),
                     "--quiet"]) == 0
    assert (tmp_path / "r" / "latent.png").is_file() and (tmp_path / "r" / "metrics.json").is_file()


def test_text_helpers_name_their_arguments(model):
    with pytest.raises(TypeError, match="texts must be a sequence of str, got int"):
        text.encode_texts(model, 5)
    with pytest.raises(TypeError, match="z must be a real array"):
        text.top_words(model, z="abc")
    with pytest.raises(TypeError, match="log_px must hold real numbers"):
        purevae.objectives.perplexity(["a"], [1])
    with pytest.raises(TypeError, match=r"vocabulary\[0\] must be a str"):
        text.count_matrix(["a dog"], [3, "dog"])
