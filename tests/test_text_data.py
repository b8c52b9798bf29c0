r"""Tests for purevae.text (tokenizer, vocabulary, count matrix) and the text corpora of purevae.data (issue 17).

Expected values come from hand-written strings and corpora, from a character-by-character tokenizer written
here, from ``collections.Counter`` counts and from the numbers that scripts/make_wordnet_subset.py recorded in
purevae/datasets/README.md. The tests of the installed WordNet (the Debian package ``wordnet-base``) are skipped
where it is absent (CI); the small WordNet folders they need otherwise are written into tmp_path.
"""
import gzip
import hashlib
import importlib.util
import re
import string
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
from hypothesis import given
from hypothesis import strategies as st

from purevae import data, text
from purevae.text import STOP_WORDS, build_vocabulary, count_matrix, tokenize

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "purevae" / "datasets" / "README.md"
LICENSE = ROOT / "purevae" / "datasets" / "WORDNET_LICENSE.txt"
SCRIPT = ROOT / "scripts" / "make_wordnet_subset.py"
WORDNET = Path(data.WORDNET_DIR)
HAVE_WORDNET = all((WORDNET / stem).is_file() for stem in data.WORDNET_FILES)
needs_wordnet = pytest.mark.skipif(not HAVE_WORDNET, reason=f"WordNet is not installed in {WORDNET} "
                                   f"(`{data.WORDNET_INSTALL}`); the bundled subset is tested without it")
LEXNAMES_MAN_PAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")
DEBIAN_COPYRIGHT = Path("/usr/share/doc/wordnet-base/copyright")
# purevae.data.arrays_sha256(purevae.data.text_corpus_arrays(load_wordnet_bundled())), as the script printed it
BUNDLED_SHA256 = "394e57d344ee7cd90dbe4d6ac876aeba7493745c78cb2fca35aadb0945c94b09"


def reference_tokenize(value):
    """Character by character: ASCII letters extend a word, anything else ends it; then the length and stop rules."""
    words, current = [], ""
    for character in value + " ":
        if character in string.ascii_letters:
            current += character
        else:
            words.append(current.lower())
            current = ""
    return [w for w in words if len(w) >= 2 and w not in STOP_WORDS]


def readme_section():
    content = README.read_text()
    begin = content.index("<!-- BEGIN wordnet_glosses.npz")
    end = content.index("<!-- END wordnet_glosses.npz -->")
    return content[begin:end]


def readme_numbers():
    """The counts and the checksum that the script wrote into the README."""
    section = readme_section()

    def row(label):
        match = re.search(r"\| " + re.escape(label) + r" \| ([\d,]+) \| ([\d,]+) \|", section)
        assert match, f"no row {label!r} in the README's WordNet section"
        return tuple(int(g.replace(",", "")) for g in match.groups())

    return {
        "before": row("synsets of the full corpus, before dropping"),
        "dropped": row("dropped empty documents (no vocabulary word)"),
        "full": row("documents of the full corpus, `load_wordnet_glosses()`"),
        "subset": row("documents in the bundled subset"),
        "nnz": row("stored counts (nnz) in the bundled subset"),
        "vocabulary": int(re.search(r"Vocabulary size: ([\d,]+) words", section).group(1).replace(",", "")),
        "overlap": int(re.search(r"([\d,]+) in the bundled subset\.", section).group(1).replace(",", "")),
        "sha256": re.search(r"Content digest .*?`([0-9a-f]{64})`", section, re.DOTALL).group(1),
        "source_sha256": dict((name, sha) for sha, name in re.findall(r"^([0-9a-f]{64})  (data\.\w+)$", section,
                                                                      re.MULTILINE)),
    }


def corpus_fields(**changes):
    """A valid hand-made corpus: 3 training and 2 held-out documents over 3 words, 2 categories."""
    vocabulary = ("bone", "cat", "dog")
    texts_train = ("the dog and the bone", "a cat, a dog, a dog", "bone bone café")
    texts_test = ("cat", "dog's bone")
    fields = dict(
        x_train=count_matrix(texts_train, vocabulary), y_train=np.array([0, 1, 0], dtype=np.int64),
        x_test=count_matrix(texts_test, vocabulary), y_test=np.array([1, 0], dtype=np.int64),
        texts_train=texts_train, texts_test=texts_test, vocabulary=vocabulary,
        categories=("noun.animal", "noun.artifact"), name="tiny",
    )
    fields.update(changes)
    return fields


def write_wordnet(folder, lines_by_file):
    """A WordNet-format folder: each data file a licence header (lines starting with two spaces), then its lines."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "  1 This software and database is being provided to you, the LICENSEE, by  \n  2   \n"
    for stem in data.WORDNET_FILES:
        body = "".join(line + "  \n" for line in lines_by_file.get(stem, []))
        (folder / stem).write_text(header + body)
    return folder


TINY_WORDNET = {
    "data.noun": [
        "00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that which is perceived or known to exist (living or not)",
        "02084071 05 n 02 dog 0 domestic_dog 0 001 @ 02083346 n 0000 | a member of the genus Canis; \"the dog barked\"",
        "02121620 05 n 01 cat 0 000 | feline mammal usually having thick soft fur; the cat and the dog",
        "02858304 06 n 01 boat 0 000 | a small vessel for travel on water",
    ],
    "data.verb": ["01835496 38 v 01 travel 0 000 01 + 01 00 | change location; move, travel, or proceed by boat"],
    "data.adj": ["00001740 00 a 01 able 0 000 | (usually followed by `to') having the necessary means"],
    "data.adv": ["00001837 02 r 01 barely 0 000 | by a small margin; \"she barely passed the water test\""],
}


# --------------------------------------------------------------------------------------------------
# tokenize and STOP_WORDS
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("The dog's bone", ["dog", "bone"]),                  # "'" separates; "s" too short; "the" a stop word
    ("DOG Dog dOg", ["dog", "dog", "dog"]),                # lower-cased, repeats kept in order
    ("abc123def x9 ab", ["abc", "def", "ab"]),             # digits separate; one letter is too short
    ("well-being_of  the\tsea\nfloor", ["well", "sea", "floor"]),   # "being", "of", "the": stop words
    ("naïve café", ["na", "ve", "caf"]),                   # non-ASCII letters separate words
    ("\u212aelvin", ["elvin"]),                            # the Kelvin sign lower-cases to "k" but is no ASCII letter
    ("\u0130stanbul", ["stanbul"]),                        # so is a capital I with a dot
    ("", []),
    ("I a is THE Of", []),
])
def test_tokenize_rules_on_hand_written_strings(value, expected):
    assert tokenize(value) == expected
    assert reference_tokenize(value) == expected           # the reference below agrees on these cases


@given(st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " \t\né\u212a\u0130ßΩ_",
               max_size=80))
def test_tokenize_equals_a_character_by_character_tokenizer(value):
    assert tokenize(value) == reference_tokenize(value)


def test_stop_words_are_a_short_list_of_lower_case_words():
    assert isinstance(STOP_WORDS, frozenset)
    assert 90 <= len(STOP_WORDS) <= 150
    assert all(re.fullmatch(r"[a-z]{2,}", word) for word in STOP_WORDS)
    assert {"the", "an", "of", "in", "is", "was", "he", "they", "and", "with", "would"} <= STOP_WORDS
    assert not {"dog", "water", "small", "person"} & STOP_WORDS
    assert tokenize(" ".join(sorted(STOP_WORDS)).upper()) == []


@pytest.mark.parametrize("value", [b"dog", None, ["dog"], 3])
def test_tokenize_refuses_a_non_str(value):
    with pytest.raises(TypeError, match="text must be a str"):
        tokenize(value)


# --------------------------------------------------------------------------------------------------
# build_vocabulary
# --------------------------------------------------------------------------------------------------
# document frequencies: cat 3, dog 2, eel 2, zzz 2 (but 5 occurrences), ant 1, fox 1
TINY_DOCUMENTS = [["cat", "dog", "dog", "zzz", "zzz", "zzz"], ["dog", "eel"], ["cat", "fox", "zzz", "zzz"],
                  ["eel", "cat"], ["ant"]]


@pytest.mark.parametrize("max_size, min_df, expected", [
    (10, 2, ("cat", "dog", "eel", "zzz")),          # every word in 2 documents or more, sorted
    (2, 2, ("cat", "dog")),                         # cat (3), then dog wins the tie at 2 alphabetically
    (3, 2, ("cat", "dog", "eel")),                  # zzz: 5 occurrences but df 2, last of the tie alphabetically
    (1, 2, ("cat",)),
    (5, 1, ("ant", "cat", "dog", "eel", "zzz")),    # min_df 1: ant beats fox in the tie at df 1
    (10, 3, ("cat",)),
    (10, 4, ()),                                    # no word in 4 documents
])
def test_build_vocabulary_on_a_tiny_corpus(max_size, min_df, expected):
    assert build_vocabulary(TINY_DOCUMENTS, max_size, min_df=min_df) == expected
    assert build_vocabulary(iter(tuple(d) for d in TINY_DOCUMENTS), max_size, min_df) == expected  # any iterable


def test_build_vocabulary_equals_a_brute_force_ranking(rng):
    pool = [f"w{i:02d}" for i in range(40)]
    documents = [list(rng.choice(pool, size=rng.integers(0, 12))) for _ in range(60)]
    df = {w: sum(w in set(d) for d in documents) for w in pool}
    for max_size, min_df in ((5, 2), (17, 3), (100, 1)):
        ranked = sorted((w for w in pool if df[w] >= min_df), key=lambda w: (-df[w], w))
        assert build_vocabulary(documents, max_size, min_df) == tuple(sorted(ranked[:max_size]))


@pytest.mark.parametrize("call, error, match", [
    (lambda: build_vocabulary("cat dog", 3), TypeError, "documents must be an iterable"),
    (lambda: build_vocabulary(5, 3), TypeError, "documents must be an iterable"),
    (lambda: build_vocabulary([["cat"], "dog"], 3), TypeError, r"documents\[1\] must be a list.*tokenize it"),
    (lambda: build_vocabulary([["cat", 7]], 3), TypeError, r"documents\[0\]\[1\] must be a str"),
    (lambda: build_vocabulary(TINY_DOCUMENTS, 0), ValueError, "max_size"),
    (lambda: build_vocabulary(TINY_DOCUMENTS, 2.5), TypeError, "max_size"),
    (lambda: build_vocabulary(TINY_DOCUMENTS, True), TypeError, "max_size"),
    (lambda: build_vocabulary(TINY_DOCUMENTS, 3, min_df=0), ValueError, "min_df"),
    (lambda: build_vocabulary(TINY_DOCUMENTS, 3, min_df="2"), TypeError, "min_df"),
])
def test_build_vocabulary_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------------------------------
# count_matrix
# --------------------------------------------------------------------------------------------------
def expected_counts(texts, vocabulary):
    """Dense counts from collections.Counter over each text's tokens."""
    dense = np.zeros((len(texts), len(vocabulary)))
    for d, value in enumerate(texts):
        counts = Counter(tokenize(value))
        for w, word in enumerate(vocabulary):
            dense[d, w] = counts[word]
    return dense


def assert_canonical(x):
    assert isinstance(x, scipy.sparse.csr_matrix)
    assert x.has_canonical_format
    for d in range(x.shape[0]):                     # strictly increasing columns in each row: sorted, no duplicate
        assert (np.diff(x.indices[x.indptr[d]:x.indptr[d + 1]]) > 0).all()
    assert (x.data > 0).all()                       # no explicit zeros


def test_count_matrix_equals_counter_counts_with_an_empty_row():
    texts = ["The dog chased the dog's tail", "nothing here matches", "cat; CAT! cat? tail", ""]
    vocabulary = ("tail", "cat", "dog", "bird")      # not sorted: the columns follow the vocabulary's order
    x = count_matrix(texts, vocabulary)
    assert x.shape == (4, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x.toarray(), [[1, 0, 2, 0], [0, 0, 0, 0], [1, 3, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(x.toarray(), expected_counts(texts, vocabulary))
    assert_canonical(x)
    assert x.nnz == 2 + 2                            # only the non-zero counts are stored (rows 0 and 2)


def test_count_matrix_on_random_texts_against_counter(rng):
    pool = ["dog", "cat", "bone", "the", "of", "x", "Tail", "fur7", "naïve", "sea-floor"]
    texts = [" ".join(rng.choice(pool, size=rng.integers(0, 15))) for _ in range(50)]
    vocabulary = tuple(rng.permutation(["dog", "cat", "bone", "tail", "fur", "floor", "sea", "ve", "absent"]))
    for dtype in (np.float32, np.float64, np.int32, np.int64):
        x = count_matrix(texts, vocabulary, dtype=dtype)
        assert x.dtype == dtype and x.shape == (50, len(vocabulary))
        np.testing.assert_array_equal(x.toarray(), expected_counts(texts, vocabulary))
        assert_canonical(x)
    assert count_matrix(iter(texts), list(vocabulary)).nnz == x.nnz    # any iterables


def test_count_matrix_of_no_texts_and_of_an_empty_vocabulary():
    assert count_matrix([], ("dog",)).shape == (0, 1)
    x = count_matrix(["dog", "cat"], ())
    assert x.shape == (2, 0) and x.nnz == 0


@pytest.mark.parametrize("call, error, match", [
    (lambda: count_matrix(["dog"], ("dog", "cat", "dog")), ValueError, "vocabulary has duplicates: 'dog'"),
    (lambda: count_matrix(["dog"], ("dog", 3)), TypeError, r"vocabulary\[1\] must be a str"),
    (lambda: count_matrix(["dog"], "dog"), TypeError, "vocabulary must be a sequence"),
    (lambda: count_matrix("dog cat", ("dog",)), TypeError, "texts must be an iterable"),
    (lambda: count_matrix(["dog", b"cat"], ("dog",)), TypeError, r"texts\[1\] must be a str"),
    (lambda: count_matrix([["dog"]], ("dog",)), TypeError, r"texts\[0\] must be a str"),
    (lambda: count_matrix(["dog"], ("dog",), dtype="float16"), ValueError, "dtype"),
    (lambda: count_matrix(["dog"], ("dog",), dtype=None), TypeError, "dtype"),
])
def test_count_matrix_argument_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------------------------------------------
# TextCorpus and the bundled .npz format
# --------------------------------------------------------------------------------------------------
def test_text_corpus_holds_what_it_was_given():
    corpus = data.TextCorpus(**corpus_fields())
    assert corpus.n_features == 3
    np.testing.assert_array_equal(corpus.x_train.toarray(), [[1, 0, 1], [0, 1, 2], [2, 0, 0]])
    assert repr(corpus) == ("TextCorpus(name='tiny', x_train=<float32 (3, 3) nnz=5>, x_test=<float32 (2, 3) nnz=3>, "
                            "n_features=3, n_categories=2)")
    with pytest.raises(AttributeError):
        corpus.name = "other"                       # frozen


def unsorted_csr():
    x = scipy.sparse.csr_matrix((np.array([1, 1], np.float32), np.array([2, 0]), np.array([0, 2, 2, 2])),
                                shape=(3, 3))
    return x


@pytest.mark.parametrize("changes, error, match", [
    (dict(x_train=np.ones((3, 3), np.float32)), TypeError, "x_train must be a scipy.sparse.csr_matrix"),
    (dict(x_train=scipy.sparse.csc_matrix(np.ones((3, 3), np.float32))), TypeError, "x_train"),
    (dict(x_train=count_matrix(["a"] * 3, ("bone", "cat", "dog"), dtype=np.float64)), TypeError, "x_train.*float32"),
    (dict(x_test=count_matrix(["cat", "dog"], ("bone", "cat"))), ValueError, "x_test has 2 columns"),
    (dict(x_train=unsorted_csr()), ValueError, "x_train must be canonical"),
    (dict(x_train=scipy.sparse.csr_matrix((np.array([0.0], np.float32), np.array([1]), np.array([0, 1, 1, 1])),
                                          shape=(3, 3))), ValueError, "x_train must store positive"),
    (dict(y_train=np.array([0, 1], np.int64)), ValueError, r"y_train must have shape \(3,\)"),
    (dict(y_train=[0, 1, 0]), TypeError, "y_train must be a numpy array"),
    (dict(y_train=np.array([0, 1, 0], np.int32)), TypeError, "y_train must be int64"),
    (dict(y_test=np.array([1, 2], np.int64)), ValueError, r"y_test must hold category indices in 0\.\.1"),
    (dict(y_test=np.array([-1, 0], np.int64)), ValueError, "y_test"),
    (dict(texts_train=["a", "b", "c"]), TypeError, "texts_train must be a tuple"),
    (dict(texts_test=("cat",)), ValueError, "texts_test has 1 texts but x_test has 2 rows"),
    (dict(texts_test=("cat", 3)), TypeError, r"texts_test\[1\] must be a str"),
    (dict(vocabulary=("bone", "cat", "cat")), ValueError, "vocabulary has duplicates"),
    (dict(vocabulary=["bone", "cat", "dog"]), TypeError, "vocabulary must be a tuple"),
    (dict(categories=("noun.animal", "noun.animal")), ValueError, "categories has duplicates"),
    (dict(name=3), TypeError, "name must be a str"),
])
def test_text_corpus_checks_its_fields(changes, error, match):
    with pytest.raises(error, match=match):
        data.TextCorpus(**corpus_fields(**changes))


def save_arrays(path, arrays):
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


def test_npz_round_trip_without_pickle(tmp_path):
    corpus = data.TextCorpus(**corpus_fields())
    arrays = data.text_corpus_arrays(corpus)
    assert sorted(arrays) == list(data.TEXT_NPZ_KEYS)
    assert all(a.dtype != object for a in arrays.values())
    assert arrays["x_train_data"].dtype == np.uint8 and arrays["x_train_indices"].dtype == np.uint8
    assert arrays["y_train"].dtype == np.uint8 and arrays["texts_train_offsets"].dtype == np.int64
    # strings: UTF-8 bytes one after another, offsets in bytes ("café" is 5 bytes)
    assert bytes(arrays["texts_train_blob"]) == "".join(corpus.texts_train).encode()
    np.testing.assert_array_equal(arrays["texts_train_offsets"], [0, 20, 39, 54])
    path = save_arrays(tmp_path / "tiny.npz", arrays)
    with np.load(path, allow_pickle=False) as archive:          # loads with no pickle at all
        assert sorted(archive.files) == list(data.TEXT_NPZ_KEYS)
    back = data.load_text_npz(path)
    assert back.name == "tiny"
    for field in ("texts_train", "texts_test", "vocabulary", "categories"):
        assert getattr(back, field) == getattr(corpus, field)
    for split in ("train", "test"):
        x, y = getattr(back, f"x_{split}"), getattr(back, f"y_{split}")
        assert x.dtype == np.float32 and y.dtype == np.int64
        assert (x != getattr(corpus, f"x_{split}")).nnz == 0
        np.testing.assert_array_equal(y, getattr(corpus, f"y_{split}"))
    assert data.arrays_sha256(data.text_corpus_arrays(back)) == data.arrays_sha256(arrays)
    assert data.load_text_dataset(path).texts_test == corpus.texts_test
    assert data.load_text_npz(path, name="other").name == "other"


@pytest.mark.parametrize("change, match", [
    (lambda a: a.pop("vocabulary_offsets"), r"missing key\(s\) \['vocabulary_offsets'\]"),
    (lambda a: a.update(texts_test_offsets=np.array([0, 3, 99], np.int64)), "texts_test_offsets must rise"),
    (lambda a: a.update(texts_test_offsets=np.array([0, 3, 5], np.int32)), "texts_test_offsets must be .* int64"),
    (lambda a: a.update(vocabulary_blob=np.frombuffer(b"\xff\xfe" + bytes(a["vocabulary_blob"])[2:], np.uint8)),
     "vocabulary_blob is not UTF-8"),
    (lambda a: a.update(x_train_indices=np.full_like(a["x_train_indices"], 7)), "x_train"),   # a column >= V
    (lambda a: a.update(y_test=np.array([0, 5], np.uint8)), "y_test must hold category indices"),
    (lambda a: a.update(x_test_shape=np.array([2, 4], np.int64)), "x_test has 4 columns"),
    (lambda a: a.update(y_train=np.array([0.5, 1, 0])), "y_train must hold integer"),
])
def test_load_text_npz_refuses_a_bad_file(tmp_path, change, match):
    arrays = data.text_corpus_arrays(data.TextCorpus(**corpus_fields()))
    change(arrays)
    path = save_arrays(tmp_path / "bad.npz", arrays)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + match):
        data.load_text_npz(path)


def test_load_text_npz_refuses_pickles_and_missing_files(tmp_path):
    arrays = data.text_corpus_arrays(data.TextCorpus(**corpus_fields()))
    arrays["vocabulary_blob"] = np.array(["bone", "cat", "dog"], dtype=object)
    path = tmp_path / "object.npz"
    np.savez(path, **arrays)                       # numpy pickles the object array
    with pytest.raises(ValueError, match="without pickle"):
        data.load_text_npz(path)
    with pytest.raises(FileNotFoundError, match="npz file not found"):
        data.load_text_npz(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a valid .npz"):
        data.load_text_npz(tmp_path / "junk.npz")


def test_text_corpus_arrays_argument_errors():
    corpus = data.TextCorpus(**corpus_fields())
    with pytest.raises(TypeError, match="corpus must be a TextCorpus"):
        data.text_corpus_arrays(corpus_fields())
    halves = corpus.x_train.copy()
    halves.data = halves.data / 2
    with pytest.raises(ValueError, match="x_train holds values that are not whole numbers"):
        data.text_corpus_arrays(data.TextCorpus(**corpus_fields(x_train=halves)))


def test_load_text_dataset_forms_and_errors(tmp_path):
    assert data.load_text_dataset().name == "wordnet-glosses-subset"
    assert data.load_text_dataset("wordnet").name == "wordnet-glosses-subset"
    for spec in ("imdb", str(tmp_path / "absent.npz"), README):
        with pytest.raises(ValueError, match=r"unknown text dataset .*'wordnet'.*'wordnet-full'.*\.npz"):
            data.load_text_dataset(spec)
    with pytest.raises(TypeError, match="spec must be a str or os.PathLike"):
        data.load_text_dataset(3)


def test_the_new_names_are_exported():
    for name in ("TextCorpus", "load_wordnet_glosses", "load_wordnet_bundled", "load_text_dataset", "load_text_npz",
                 "read_wordnet_glosses", "text_corpus_arrays", "WORDNET_LEXNAMES"):
        assert name in data.__all__ and hasattr(data, name)
    assert set(text.__all__) >= {"STOP_WORDS", "tokenize", "build_vocabulary", "count_matrix", "encode_texts",
                                 "top_words"}


# --------------------------------------------------------------------------------------------------
# The bundled subset
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundled():
    return data.load_wordnet_bundled()


def test_bundled_sizes_equal_what_the_readme_records(bundled):
    recorded = readme_numbers()
    assert bundled.name == "wordnet-glosses-subset"
    assert (bundled.x_train.shape[0], bundled.x_test.shape[0]) == recorded["subset"] == (32400, 3600)
    assert (bundled.x_train.nnz, bundled.x_test.nnz) == recorded["nnz"]
    assert bundled.n_features == len(bundled.vocabulary) == recorded["vocabulary"] == 2000
    assert bundled.x_train.shape[1] == bundled.x_test.shape[1] == 2000
    assert bundled.categories == data.WORDNET_LEXNAMES and len(bundled.categories) == 45
    assert len(bundled.texts_train) == 32400 and len(bundled.texts_test) == 3600
    for number in (f"{recorded['subset'][0]:,}", f"{recorded['subset'][1]:,}"):    # the docstrings say the same
        assert number in data.load_wordnet_bundled.__doc__ and number in data.__doc__


def test_bundled_checksum_equals_the_recorded_one(bundled):
    digest = data.arrays_sha256(data.text_corpus_arrays(bundled))
    assert digest == BUNDLED_SHA256 == readme_numbers()["sha256"]


def test_bundled_rows_are_the_counts_of_their_own_texts(bundled):
    for split in ("train", "test"):
        x = getattr(bundled, f"x_{split}")
        texts = getattr(bundled, f"texts_{split}")
        assert_canonical(x)
        assert x.dtype == np.float32
        assert (x != count_matrix(texts, bundled.vocabulary)).nnz == 0
        # and a few rows against Counter, independently of count_matrix
        for d in (0, 1, len(texts) // 2, len(texts) - 1):
            np.testing.assert_array_equal(x[d].toarray()[0], expected_counts([texts[d]], bundled.vocabulary)[0])


def test_bundled_labels_vocabulary_and_documents(bundled):
    for split in ("train", "test"):
        y, x = getattr(bundled, f"y_{split}"), getattr(bundled, f"x_{split}")
        assert y.dtype == np.int64 and y.min() >= 0 and y.max() < 45
        assert (np.diff(x.indptr) > 0).all()                       # no document is empty
    assert list(bundled.vocabulary) == sorted(set(bundled.vocabulary))
    assert all(tokenize(word) == [word] for word in bundled.vocabulary)   # every entry is a token
    # every category of a part of speech is there in training; nouns dominate, as in WordNet
    counts = np.bincount(bundled.y_train, minlength=45)
    assert (counts > 0).all() and counts[3:29].sum() > counts[29:44].sum()


def test_bundled_train_and_test_are_disjoint(bundled):
    """No synset is in both splits. Texts can repeat: a few WordNet glosses belong to several synsets (README)."""
    shared = set(bundled.texts_train) & set(bundled.texts_test)
    assert len(shared) == readme_numbers()["overlap"] == 13          # not ~10% of 3,600 as a leaking split would give
    assert len(shared) < 0.01 * len(bundled.texts_test)


def test_wordnet_licence_ships_with_the_data():
    licence = LICENSE.read_text(encoding="utf-8")
    assert "WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved." in licence
    assert "and that the same appear on ALL copies of the software, database and" in licence
    if DEBIAN_COPYRIGHT.is_file():                                      # verbatim: the whole WordNet stanza
        copyright_text = DEBIAN_COPYRIGHT.read_text(encoding="utf-8")
        stanza = copyright_text[copyright_text.index("Files: *"):copyright_text.index("\n\nFiles: debian")]
        assert stanza in licence


def test_package_data_ships_the_licence_and_the_corpus():
    pyproject = (ROOT / "pyproject.toml").read_text()
    line = re.search(r'^"purevae.datasets" = \[(.*)\]$', pyproject, re.MULTILINE).group(1)
    patterns = [p.strip().strip('"') for p in line.split(",")]
    for name in (LICENSE.name, data.WORDNET_BUNDLED_FILE, "README.md"):
        assert any(Path(name).match(pattern) for pattern in patterns), name


# --------------------------------------------------------------------------------------------------
# Reading WordNet: a hand-written folder (always), the installed package (when present)
# --------------------------------------------------------------------------------------------------
def test_read_wordnet_glosses_on_a_hand_written_folder(tmp_path):
    folder = write_wordnet(tmp_path / "wn", TINY_WORDNET)
    glosses, labels = data.read_wordnet_glosses(folder)
    assert glosses[0] == "that which is perceived or known to exist (living or not)"
    assert glosses[1] == 'a member of the genus Canis; "the dog barked"'          # examples are part of the gloss
    assert glosses[4] == "change location; move, travel, or proceed by boat"     # verb frames skipped
    assert glosses[-1] == 'by a small margin; "she barely passed the water test"'
    assert len(glosses) == 7                                                     # header lines skipped
    np.testing.assert_array_equal(labels, [3, 5, 5, 6, 38, 0, 2])
    assert labels.dtype == np.int64


def test_load_wordnet_glosses_follows_its_recipe_on_a_hand_written_folder(tmp_path):
    folder = write_wordnet(tmp_path / "wn", TINY_WORDNET)
    glosses, labels = data.read_wordnet_glosses(folder)
    for seed, test_fraction in ((0, 0.3), (5, 0.0), (7, 0.5)):
        corpus = data.load_wordnet_glosses(folder, vocabulary_size=4, test_fraction=test_fraction, seed=seed)
        perm = np.random.default_rng(seed).permutation(7)
        n_test = round(test_fraction * 7)
        train, test = perm[n_test:], perm[:n_test]
        df = Counter(w for i in train for w in set(reference_tokenize(glosses[i])))
        ranked = sorted((w for w in df if df[w] >= 2), key=lambda w: (-df[w], w))
        assert corpus.vocabulary == tuple(sorted(ranked[:4]))                     # from the training split alone
        for split, index in (("train", train), ("test", test)):
            kept = [i for i in index if set(reference_tokenize(glosses[i])) & set(corpus.vocabulary)]
            assert getattr(corpus, f"texts_{split}") == tuple(glosses[i] for i in kept)
            np.testing.assert_array_equal(getattr(corpus, f"y_{split}"), labels[kept])
            np.testing.assert_array_equal(getattr(corpus, f"x_{split}").toarray(),
                                          expected_counts([glosses[i] for i in kept], corpus.vocabulary))
        assert corpus.categories == data.WORDNET_LEXNAMES and corpus.name == "wordnet-glosses"


@pytest.mark.parametrize("lines, match", [
    (["00001740 03 n 01 entity 0 000 no gloss here"], r"data\.noun, line 3: expected"),
    (["00001740 45 n 01 entity 0 000 | a gloss"], r"data\.noun, line 3: lex_filenum must be two digits 00\.\.44"),
    (["00001740 3 n 01 entity 0 000 | a gloss"], "lex_filenum must be two digits"),
    (["00001740 | a gloss"], "expected"),
])
def test_read_wordnet_glosses_refuses_a_malformed_line(tmp_path, lines, match):
    folder = write_wordnet(tmp_path / "wn", {"data.noun": lines})
    with pytest.raises(ValueError, match=match):
        data.read_wordnet_glosses(folder)


def test_a_missing_wordnet_says_how_to_install_it(tmp_path):
    for call in (data.read_wordnet_glosses, data.load_wordnet_glosses):
        with pytest.raises(FileNotFoundError, match=r"apt-get install wordnet-base.*load_wordnet_bundled\(\)"):
            call(tmp_path / "absent")
    folder = write_wordnet(tmp_path / "wn", TINY_WORDNET)
    (folder / "data.verb").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing data\.verb.*apt-get install wordnet-base"):
        data.load_wordnet_glosses(folder)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(vocabulary_size=0), ValueError, "vocabulary_size"),
    (dict(vocabulary_size=2.5), TypeError, "vocabulary_size"),
    (dict(vocabulary_size=True), TypeError, "vocabulary_size"),
    (dict(test_fraction=1.0), ValueError, "test_fraction"),
    (dict(test_fraction=-0.1), ValueError, "test_fraction"),
    (dict(test_fraction=float("nan")), ValueError, "test_fraction"),
    (dict(test_fraction="0.1"), TypeError, "test_fraction"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=1.5), TypeError, "seed"),
    (dict(seed=None), TypeError, "seed"),
])
def test_load_wordnet_glosses_argument_errors(tmp_path, kwargs, error, match):
    folder = write_wordnet(tmp_path / "wn", TINY_WORDNET)
    with pytest.raises(error, match=match):
        data.load_wordnet_glosses(folder, **kwargs)


def test_an_empty_training_vocabulary_is_an_error(tmp_path):
    folder = write_wordnet(tmp_path / "wn", {"data.noun": ["00001740 03 n 01 entity 0 000 | one gloss only"]})
    with pytest.raises(ValueError, match="vocabulary is empty"):
        data.load_wordnet_glosses(folder)


def test_the_lexicographer_table_is_the_man_page_one():
    assert len(data.WORDNET_LEXNAMES) == 45 and data.WORDNET_LEXNAMES[5] == "noun.animal"
    if not LEXNAMES_MAN_PAGE.is_file():
        pytest.skip(f"no {LEXNAMES_MAN_PAGE} to compare with")
    page = gzip.decompress(LEXNAMES_MAN_PAGE.read_bytes()).decode()
    rows = re.findall(r"^(\d\d)\t(\S+)\s*\t", page, re.MULTILINE)
    assert [int(number) for number, _ in rows] == list(range(45))
    assert tuple(name for _, name in rows) == data.WORDNET_LEXNAMES


@pytest.fixture(scope="module")
def full():
    if not HAVE_WORDNET:
        pytest.skip(f"WordNet is not installed in {WORDNET} (`{data.WORDNET_INSTALL}`)")
    return data.load_wordnet_glosses()


@needs_wordnet
def test_installed_wordnet_is_the_one_the_readme_records():
    recorded = readme_numbers()["source_sha256"]
    assert sorted(recorded) == sorted(data.WORDNET_FILES)
    for stem, sha in recorded.items():
        assert hashlib.sha256((WORDNET / stem).read_bytes()).hexdigest() == sha


@needs_wordnet
def test_read_wordnet_glosses_on_the_installed_package():
    glosses, labels = data.read_wordnet_glosses()
    lines = {stem: [line for line in (WORDNET / stem).read_text().splitlines() if not line.startswith("  ")]
             for stem in data.WORDNET_FILES}
    assert len(glosses) == sum(len(v) for v in lines.values()) == sum(readme_numbers()["before"]) == 117659
    # each file's synsets carry the lexicographer files of its part of speech
    allowed = {"data.noun": range(3, 29), "data.verb": range(29, 44), "data.adj": (0, 1, 44), "data.adv": (2,)}
    start = 0
    for stem in data.WORDNET_FILES:
        part = labels[start:start + len(lines[stem])]
        assert set(part.tolist()) <= set(allowed[stem]), stem
        assert glosses[start] == lines[stem][0].split(" | ", 1)[1].strip()
        start += len(lines[stem])


@needs_wordnet
def test_load_wordnet_glosses_gives_the_documented_counts(full):
    recorded = readme_numbers()
    n_train, n_test = full.x_train.shape[0], full.x_test.shape[0]
    assert (n_train, n_test) == recorded["full"]
    assert (recorded["before"][0] - n_train, recorded["before"][1] - n_test) == recorded["dropped"]
    assert recorded["before"][1] == round(0.1 * sum(recorded["before"]))
    assert full.n_features == 2000 and full.categories == data.WORDNET_LEXNAMES
    for key in ("before", "dropped", "full"):
        for number in recorded[key]:
            assert f"{number:,}" in data.load_wordnet_glosses.__doc__
    # the vocabulary is the training split's alone (dropped documents hold no vocabulary word, so they change
    # no count that decides the ranking)
    assert build_vocabulary((tokenize(t) for t in full.texts_train), 2000) == full.vocabulary
    assert (np.diff(full.x_train.indptr) > 0).all() and (np.diff(full.x_test.indptr) > 0).all()


@needs_wordnet
def test_bundled_subset_comes_from_the_full_corpus(full, bundled):
    assert bundled.vocabulary == full.vocabulary
    for split in ("train", "test"):                  # as multisets: every bundled document is one of its split's
        have = Counter(zip(getattr(full, f"texts_{split}"), getattr(full, f"y_{split}").tolist()))
        want = Counter(zip(getattr(bundled, f"texts_{split}"), getattr(bundled, f"y_{split}").tolist()))
        assert not want - have, split
    # the same text in both splits is a text that several synsets share in WordNet
    glosses = Counter(data.read_wordnet_glosses()[0])
    assert all(glosses[t] > 1 for t in set(bundled.texts_train) & set(bundled.texts_test))


@needs_wordnet
def test_the_script_regenerates_the_bundled_arrays(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("make_wordnet_subset", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    readme = tmp_path / "README.md"
    readme.write_text(README.read_text())
    assert script.main(["--out", str(tmp_path / "w.npz"), "--readme", str(readme)]) == 0
    assert BUNDLED_SHA256 in capsys.readouterr().out
    regenerated = data.load_text_npz(tmp_path / "w.npz")
    assert data.arrays_sha256(data.text_corpus_arrays(regenerated)) == BUNDLED_SHA256
    assert (tmp_path / "w.npz").stat().st_size < 5_000_000

    def without_file_bytes(content):                 # the file's size and SHA-256 depend on zlib, not on the data
        return re.sub(r"The file \([\d,]+ bytes\) had SHA-256 `[0-9a-f]+`\nwhen written with NumPy \S+;", "",
                      content)

    # the README is rewritten in place: the Fashion-MNIST part kept, the WordNet section the same
    assert without_file_bytes(readme.read_text()) == without_file_bytes(README.read_text())
