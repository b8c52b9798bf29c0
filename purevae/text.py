r"""Text to bag-of-words counts: a tokenizer, a stop-word list, a vocabulary, a sparse count matrix.

The pipeline a text corpus goes through (``purevae.data.load_wordnet_glosses`` uses exactly this)::

    tokens[d]  = tokenize(texts[d])                                  list of str
    vocabulary = build_vocabulary(tokens_of_training_docs, V)        tuple of V str, sorted: column w is vocabulary[w]
    x          = count_matrix(texts, vocabulary)                     scipy.sparse.csr_matrix (n_docs, V)
    x[d, w]    = number of times vocabulary[w] occurs in tokens[d]

Tokenization rule (one rule, no language model): a word is a maximal run of ASCII letters ``A-Za-z``, lower-cased;
everything else (digits, punctuation, space, any non-ASCII character) separates words, so ``"dog's"`` gives
``["dog"]`` (the ``"s"`` is too short) and ``"naïve"`` gives ``["na", "ve"]``. Words shorter than 2 letters and
the words of :data:`STOP_WORDS` are dropped.

Only the standard library, NumPy and ``scipy.sparse`` are used. For a trained bag-of-words model
(``VAE(likelihood="multinomial", vocabulary=...)``): :func:`encode_texts` turns new texts into posterior means
through the model's own vocabulary, and :func:`top_words` lists the words each latent direction raises.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse

from .typing import ArrayLike
from .validation import float_dtype, positive_int

if TYPE_CHECKING:      # for the annotations only: text sits below purevae.model
    from .model import VAE

__all__ = ["COUNT_DTYPES", "MIN_WORD_LENGTH", "STOP_WORDS", "build_vocabulary", "count_matrix", "tokenize",
           "encode_texts", "top_words"]

# A short English stop-word list, written by hand: articles, pronouns, prepositions, conjunctions, auxiliaries and
# a few determiners and adverbs that carry no topic. Every entry is lower-case ASCII letters, >= 2 long (shorter
# words are dropped by the length rule anyway, so "a" and "i" need no entry).
STOP_WORDS: frozenset[str] = frozenset("""
    an the
    he him his himself she her hers herself it its itself we us our ours ourselves you your yours yourself
    they them their theirs themselves me my myself who whom whose which what this that these those
    of in on at by for with about against between into through during before after above below to from up down
    out off over under as than upon within without toward among across along around
    and or but nor if because while so then when where how why whether
    is are was were be been being am have has had having do does did doing will would shall should can could
    may might must
    not no such there here some any each other both all very too also only own same just more most
""".split())

MIN_WORD_LENGTH = 2
# The dtypes count_matrix writes: counts are small integers, exact in any of them.
COUNT_DTYPES = ("float32", "float64", "int32", "int64")

_WORD = re.compile(r"[A-Za-z]+")   # ASCII letters only: the class is spelled out, so no Unicode letter matches


def tokenize(text: str) -> list[str]:
    r"""Split ``text`` into lower-case words, dropping short words and stop words.

    ::

        words  = maximal runs of ASCII letters A-Z, a-z in text    (anything else separates words)
        tokens = [w.lower() for w in words if len(w) >= 2 and w.lower() not in STOP_WORDS]

    Letters are matched *before* lower-casing, so a non-ASCII letter is a separator even when its lower case
    is ASCII (the Kelvin sign U+212A lower-cases to "k"; here it splits words).

    Parameters
    ----------
    text : str
        The raw text.

    Returns
    -------
    list of str
        The tokens, in the order they occur, repeats kept.

    Raises
    ------
    TypeError
        ``text`` is not a str (bytes included).

    Examples
    --------
    >>> from purevae.text import tokenize
    >>> tokenize("The dog's bone, 2 feet long!")
    ['dog', 'bone', 'feet', 'long']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    tokens = []
    for match in _WORD.findall(text):
        word = match.lower()
        if len(word) >= MIN_WORD_LENGTH and word not in STOP_WORDS:
            tokens.append(word)
    return tokens


def build_vocabulary(documents: Iterable[list[str]], max_size: int, min_df: int = 2) -> tuple[str, ...]:
    r"""Return the ``max_size`` words of highest document frequency, sorted alphabetically.

    ::

        df(w)      = number of documents in which w occurs at least once
        candidates = {w : df(w) >= min_df}
        chosen     = the first max_size candidates ordered by (-df(w), w)      (ties: alphabetical order)
        vocabulary = sorted(chosen)                                           (column w of a count matrix)

    Parameters
    ----------
    documents : iterable of list (or tuple) of str
        Token lists, e.g. ``[tokenize(t) for t in texts]``; consumed once (a generator is fine).
    max_size : int, >= 1
        At most this many words; fewer when fewer words reach ``min_df``.
    min_df : int, >= 1
        Minimum document frequency; default 2 (a word seen in one document only cannot generalize).

    Returns
    -------
    tuple of str
        The vocabulary, sorted alphabetically, no duplicates; empty when no word reaches ``min_df``.

    Raises
    ------
    TypeError
        ``documents`` is a str or not iterable, a document is not a list or tuple (a str would be split into
        letters), a token is not a str (named ``documents[i][j]``), or ``max_size``/``min_df`` is not an int.
    ValueError
        ``max_size`` or ``min_df`` < 1.
    """
    max_size = positive_int("max_size", max_size)
    min_df = positive_int("min_df", min_df)
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Iterable):
        raise TypeError(f"documents must be an iterable of token lists, got {type(documents).__name__}")
    document_frequency: Counter[str] = Counter()
    for i, document in enumerate(documents):
        if not isinstance(document, (list, tuple)):
            hint = " (tokenize it first)" if isinstance(document, str) else ""
            raise TypeError(f"documents[{i}] must be a list of str tokens, got {type(document).__name__}{hint}")
        words = set(document)
        for j, token in enumerate(document):
            if not isinstance(token, str):
                raise TypeError(f"documents[{i}][{j}] must be a str token, got {token!r} ({type(token).__name__})")
        document_frequency.update(words)
    candidates = [(-df, word) for word, df in document_frequency.items() if df >= min_df]
    candidates.sort()                                    # highest df first, then alphabetical
    return tuple(sorted(word for _, word in candidates[:max_size]))


def count_matrix(texts: Iterable[str], vocabulary: Iterable[str],
                 dtype: object = np.float32) -> scipy.sparse.csr_matrix:
    r"""Count the words of ``texts`` over ``vocabulary``, as a canonical sparse CSR matrix of bag-of-words counts.

    ::

        x[d, w] = number of times vocabulary[w] occurs in tokenize(texts[d])

    Tokens not in the vocabulary are dropped; a text with none of its words in the vocabulary gives an empty
    row. The result is canonical CSR: column indices sorted within each row, no duplicates, no explicit zeros
    (every stored value is a count >= 1).

    Parameters
    ----------
    texts : iterable of str, length n_docs
        Raw texts (not token lists): they go through :func:`tokenize`.
    vocabulary : iterable of str, length V
        Column order; usually from :func:`build_vocabulary`. An entry that :func:`tokenize` never yields (with
        a capital, a digit, a stop word) is allowed and gives an all-zero column.
    dtype : {"float32", "float64", "int32", "int64"} or the matching numpy dtype or type, optional
        Of the stored counts (:data:`COUNT_DTYPES`); default float32.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_docs, V), dtype ``dtype``
        The counts, with int32 ``indices``/``indptr`` (int64 beyond 2**31 - 1 stored counts).

    Raises
    ------
    TypeError
        ``texts`` or ``vocabulary`` is a str or not iterable, a text is not a str (named ``texts[d]``), a
        vocabulary entry is not a str (named ``vocabulary[w]``), or ``dtype`` is neither a str nor a dtype nor a
        type.
    ValueError
        ``vocabulary`` holds a duplicate (named, with both positions), or ``dtype`` is another dtype (or a string
        that names none).
    """
    dtype = float_dtype("dtype", dtype, options=COUNT_DTYPES)
    if isinstance(vocabulary, (str, bytes)) or not isinstance(vocabulary, Iterable):
        raise TypeError(f"vocabulary must be a sequence of str, got {type(vocabulary).__name__}")
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be an iterable of str, got {type(texts).__name__}")
    column: dict[str, int] = {}
    for w, word in enumerate(vocabulary):
        if not isinstance(word, str):
            raise TypeError(f"vocabulary[{w}] must be a str, got {word!r} ({type(word).__name__})")
        if word in column:
            raise ValueError(f"vocabulary has duplicates: {word!r} at {column[word]} and {w}")
        column[word] = w

    indptr = [0]
    indices: list[int] = []
    counts: list[int] = []
    for d, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{d}] must be a str, got {type(text).__name__}")
        row = Counter(column[token] for token in tokenize(text) if token in column)
        for w in sorted(row):                            # sorted columns: canonical CSR
            indices.append(w)
            counts.append(row[w])
        indptr.append(len(indices))
    n_docs = len(indptr) - 1
    index_dtype = np.int32 if len(indices) <= np.iinfo(np.int32).max else np.int64   # int64 only past 2**31 - 1 counts
    return scipy.sparse.csr_matrix(
        (np.array(counts, dtype=dtype), np.array(indices, dtype=index_dtype), np.array(indptr, dtype=index_dtype)),
        shape=(n_docs, len(column)),
    )


# ---------------------------------------------------------------------------------------------
# a trained bag-of-words model: texts into vectors, and what its latent directions mean
# ---------------------------------------------------------------------------------------------
def _vocabulary_of(model) -> tuple[str, ...]:
    vocabulary = getattr(model, "vocabulary", None)
    if vocabulary is None:
        raise ValueError("this model has no vocabulary: train it on word counts with VAE(..., vocabulary=words) "
                         "(purevae train --data wordnet does)")
    return vocabulary


def encode_texts(model: VAE, texts: Sequence[str], *, y: ArrayLike | None = None, allow_empty: bool = False
                 ) -> np.ndarray:
    r"""Return the posterior means of texts under a bag-of-words model: mu of q(z|x) (q(z|x, y) when conditional).

    Each text is tokenized (:func:`tokenize`) and counted over the model's own vocabulary (``model.vocabulary``,
    kept in its file), the counts go through ``model.encode``. Words outside the vocabulary are ignored.

    Parameters
    ----------
    model : VAE
        A model with a vocabulary (``likelihood="multinomial"``, e.g. from ``purevae train --data wordnet``).
    texts : sequence of str
        The raw texts, one per row of the result (any iterable of str but a single str).
    y : array_like of int, int or None, optional
        A conditional model's labels, as in ``VAE.encode``: one per text, or one integer for all of them; None
        (the default) for an unconditional model.
    allow_empty : bool, optional
        A text with no vocabulary word has no evidence: by default (False) it raises ValueError naming it; with
        True its row is the encoder's output at zero counts (the same vector for every such text).

    Returns
    -------
    ndarray, shape (len(texts), n_latent)
        The posterior means mu, of the model's dtype.

    Raises
    ------
    TypeError
        ``texts`` is a single str or not iterable, or holds something else than str; ``allow_empty`` is not a
        bool; ``y`` is of a wrong type (as in ``VAE.encode``).
    ValueError
        The model has no vocabulary; texts is empty; a text has no vocabulary word (unless ``allow_empty``);
        ``y`` is wrong for the model (as in ``VAE.encode``).
    """
    vocabulary = _vocabulary_of(model)
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of str, got a single string (wrap it in a list)")
    if not hasattr(texts, "__iter__"):
        raise TypeError(f"texts must be a sequence of str, got {type(texts).__name__}")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: give at least one text")
    if not isinstance(allow_empty, bool):
        raise TypeError(f"allow_empty must be a bool, got {allow_empty!r}")
    counts = count_matrix(texts, vocabulary, dtype=model.dtype)
    empty = np.flatnonzero(np.diff(counts.indptr) == 0)
    if empty.size and not allow_empty:
        raise ValueError(f"{empty.size} text(s) have no word of the model's vocabulary, e.g. text {int(empty[0])}: "
                         f"{texts[empty[0]]!r} (a word counts when tokenize gives it: lower-case letters, 2 or more, "
                         f"not a stop word; allow_empty=True encodes such texts as zero counts)")
    return model.encode(counts, y)[0]


def top_words(model: VAE, n_words: int = 10, delta: float = 2.0, *, z: ArrayLike | None = None
              ) -> tuple[list[list[str]], np.ndarray]:
    r"""Return, for each latent dimension j, the words whose logits rise most as z_j goes from -delta to +delta.

    ::

        rise_jw = l_w(z + delta e_j) - l_w(z - delta e_j),    l = the decoder's logits, z = 0 by default

    (for a decoder without hidden layers the rise is 2 delta times row j of ``decoder.out.weight``).

    Parameters
    ----------
    model : VAE
        An unconditional model with a vocabulary.
    n_words : int, >= 1, optional
        Words per dimension, at most the vocabulary (a larger value gives the whole vocabulary); default 10.
    delta : float, > 0, optional
        How far z_j moves each way; default 2.0.
    z : array_like, shape (n_latent,), optional
        The point the dimensions move from, real numbers; default None, the prior's mean 0.

    Returns
    -------
    words : list of list of str
        For each of the n_latent dimensions, its words, most rising first.
    rises : ndarray of float64, shape (n_latent, n_words)
        Their rises in logit units.

    Raises
    ------
    TypeError
        ``n_words`` is not an int, ``delta`` is not a real number, or ``z`` is not real numbers.
    ValueError
        The model has no vocabulary or is conditional; ``n_words`` < 1; ``delta`` is not a finite number > 0; ``z``
        is not of shape (n_latent,) or holds NaN or inf.
    """
    from . import backend
    from .validation import finite_float, positive_int
    vocabulary = _vocabulary_of(model)
    if model.conditional:
        raise ValueError("top_words needs an unconditional model (a conditional decoder's logits depend on a label)")
    n_words = min(positive_int("n_words", n_words), len(vocabulary))
    delta = finite_float("delta", delta, 0.0, strict=True)
    if z is None:
        centre = np.zeros(model.n_latent)
    else:
        given = np.asarray(z)
        if given.dtype.kind not in "iuf":
            raise TypeError(f"z must be a real array of shape ({model.n_latent},), got dtype {given.dtype}")
        if given.shape != (model.n_latent,):
            raise ValueError(f"z must have shape ({model.n_latent},), got {given.shape}")
        centre = given.astype(np.float64)
    steps = np.repeat(centre[None, :], 2 * model.n_latent, axis=0)
    for j in range(model.n_latent):
        steps[2 * j, j] -= delta
        steps[2 * j + 1, j] += delta
    z_rows = model.check_latent(steps)
    logits = model.decoder.forward(model.params, z_rows, backend.kernels())[-1].astype(np.float64)
    rise = logits[1::2] - logits[0::2]                                       # (n_latent, V)
    order = np.argsort(-rise, axis=1, kind="stable")[:, :n_words]
    words = [[vocabulary[w] for w in row] for row in order]
    return words, np.take_along_axis(rise, order, axis=1)
