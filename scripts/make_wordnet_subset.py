r"""Make purevae/datasets/wordnet_glosses.npz, the WordNet gloss corpus shipped with purevae, and its README section.

    python scripts/make_wordnet_subset.py            # from /usr/share/wordnet/ (Debian package wordnet-base)

The source is WordNet 3.0 (Copyright 2006 by Princeton University; licence in
purevae/datasets/WORDNET_LICENSE.txt) as installed by

    apt-get update && apt-get install -y wordnet-base

Recipe:

1. ``purevae.data.load_wordnet_glosses(source, vocabulary_size=2000, test_fraction=0.1, seed=0)``: every
   synset's gloss, split by a seeded permutation (the first round(0.1 n) are held out), the 2,000-word
   vocabulary from the training split only (document frequency >= 2), documents with no vocabulary word dropped.
   The tokenization is purevae's own (``purevae.text.tokenize``).
2. One ``numpy.random.default_rng(seed)`` (seed 0) draws, uniformly without replacement, ``--n-train`` (32,400)
   rows of that training split and then ``--n-test`` (3,600) rows of its held-out split; the chosen indices are
   sorted, so the rows keep the corpus's (already shuffled) order. The subset keeps the full vocabulary, and its
   held-out documents are held-out documents of the full corpus: no held-out gloss shaped the vocabulary.
3. ``purevae.data.text_corpus_arrays`` turns it into plain arrays (CSR parts in small unsigned dtypes, strings
   as UTF-8 uint8 blobs with int64 offsets; no object arrays), written with ``np.savez_compressed``.

It prints, and writes into the WordNet section of purevae/datasets/README.md (between its marker lines, which
are replaced; the rest of the README is kept), the package version, the SHA-256 of each source file, the counts
and ``purevae.data.arrays_sha256`` of the arrays: the same on every run, and what tests/test_text_data.py checks.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from purevae.data import (  # noqa: E402  (after the sys.path line, so a source checkout needs no install)
    WORDNET_DIR,
    WORDNET_FILES,
    WORDNET_INSTALL,
    WORDNET_MIN_DF,
    TextCorpus,
    arrays_sha256,
    load_text_npz,
    load_wordnet_glosses,
    read_wordnet_glosses,
    text_corpus_arrays,
)

DEFAULT_OUT = ROOT / "purevae" / "datasets" / "wordnet_glosses.npz"
DEFAULT_README = ROOT / "purevae" / "datasets" / "README.md"
BEGIN = "<!-- BEGIN wordnet_glosses.npz: written by scripts/make_wordnet_subset.py; edit the script, not this -->"
END = "<!-- END wordnet_glosses.npz -->"
TEST_FRACTION = 0.1      # load_wordnet_glosses's default, written out: the README states it


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_version(package: str = "wordnet-base") -> str:
    """The installed Debian package's version (dpkg-query), or "unknown" without dpkg."""
    try:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True,
                                check=False, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def make_subset(full: TextCorpus, n_train: int, n_test: int, seed: int) -> TextCorpus:
    """Rows of ``full``: n_train of its training split, then n_test of its held-out split, from one seeded stream."""
    rng = np.random.default_rng(seed)
    fields = {}
    for split, n in (("train", n_train), ("test", n_test)):           # train draws first, then test
        x = getattr(full, f"x_{split}")
        if n > x.shape[0]:
            raise SystemExit(f"--n-{split} {n} but the full corpus has only {x.shape[0]} {split} documents")
        index = np.sort(rng.choice(x.shape[0], size=n, replace=False))
        fields[f"x_{split}"] = x[index]
        fields[f"y_{split}"] = getattr(full, f"y_{split}")[index]
        fields[f"texts_{split}"] = tuple(getattr(full, f"texts_{split}")[i] for i in index)
    return TextCorpus(**fields, vocabulary=full.vocabulary, categories=full.categories,
                      name="wordnet-glosses-subset")


def readme_section(facts: dict) -> str:
    f = facts
    files = "\n".join(f"{sha}  {name}" for name, sha in f["source_sha256"].items())
    keys = "\n".join(f"| `{key}` | {dtype} | {shape} |" for key, dtype, shape in f["keys"])
    categories = "\n".join(f"| {i} | {name} | {n_train} | {n_test} |"
                           for i, (name, n_train, n_test) in enumerate(f["per_category"]))
    return f"""{BEGIN}
# Bundled data: `wordnet_glosses.npz`

A bag-of-words corpus of WordNet glosses (the definitions of synsets), labelled by WordNet's 45 lexicographer
files ("noun.animal", "verb.motion", ...), shipped inside purevae so that a text VAE runs with no download and
no extra package. Load it with `purevae.data.load_wordnet_bundled()` (or `purevae.data.load_text_dataset("wordnet")`).
Every gloss of the installed package: `purevae.data.load_wordnet_glosses()` (`load_text_dataset("wordnet-full")`).

## Source and licence
WordNet 3.0, Princeton University: George A. Miller (1995), *WordNet: A Lexical Database for English*,
Communications of the ACM 38(11): 39-41. WordNet 3.0 Copyright 2006 by Princeton University. All rights
reserved. Its licence asks that its notice be kept with every copy: it is `WORDNET_LICENSE.txt` next to this
file, copied verbatim from `/usr/share/doc/wordnet-base/copyright`.

Taken from the Debian package `wordnet-base`, version `{f["version"]}`
(`{f["install"]}`, files under `{f["source"]}/`),
whose four data files had these SHA-256 sums:

```
{files}
```

## How it was made
```
python scripts/make_wordnet_subset.py
```
(options `--source`, `--out`, `--readme`, `--seed`, `--n-train`, `--n-test`, `--vocabulary-size`; the defaults
made this file and this section).

1. `load_wordnet_glosses(vocabulary_size={f["vocabulary_size"]}, test_fraction={f["test_fraction"]}, seed=0)` reads
   the glosses of the {f["n_synsets"]:,} synsets (the text after `| `) and tokenizes them with
   `purevae.text.tokenize`. The first round({f["test_fraction"]} n) = {f["full_test_before"]:,} synsets of a
   `default_rng(0)` permutation are held out. The vocabulary comes from the {f["full_train_before"]:,} training
   glosses only: the {f["vocabulary_size"]:,} words of highest document frequency (at least {f["min_df"]}).
   Documents with no vocabulary word are dropped.
2. One `numpy.random.default_rng({f["seed"]})` draws, uniformly without replacement, {f["n_train"]:,} of the full
   corpus's training documents and then {f["n_test"]:,} of its held-out documents. The indices are sorted, so the
   rows keep the corpus's shuffled order. The held-out documents never shaped the vocabulary. The draw is not
   stratified: categories keep WordNet's proportions (the table at the end).
3. `purevae.data.text_corpus_arrays` stores it as plain arrays (no pickle, no object arrays), written with
   `np.savez_compressed`; `purevae.data.load_text_npz` reads them back.

| counts | train | held-out |
| --- | --- | --- |
| synsets of the full corpus, before dropping | {f["full_train_before"]:,} | {f["full_test_before"]:,} |
| dropped empty documents (no vocabulary word) | {f["full_train_dropped"]:,} | {f["full_test_dropped"]:,} |
| documents of the full corpus, `load_wordnet_glosses()` | {f["full_train"]:,} | {f["full_test"]:,} |
| documents in the bundled subset | {f["n_train"]:,} | {f["n_test"]:,} |
| stored counts (nnz) in the bundled subset | {f["nnz_train"]:,} | {f["nnz_test"]:,} |

Each synset is one document. WordNet 3.0 has {f["n_shared_glosses"]:,} glosses that are word for word the gloss of
another synset too ({f["n_synsets_sharing"]:,} synsets), so some texts sit in both splits although no synset does:
{f["full_overlap"]:,} distinct texts in the full corpus, {f["subset_overlap"]:,} in the bundled subset.

Vocabulary size: {f["vocabulary_size"]:,} words.
Vocabulary words that occur in the subset's training documents: {f["vocabulary_in_subset_train"]:,}.
Largest count of a word in a document: {f["max_count"]}.

Content digest (`purevae.data.arrays_sha256(purevae.data.text_corpus_arrays(corpus))`, checked by
`tests/test_text_data.py`): `{f["arrays_sha256"]}`.
The file ({f["file_size"]:,} bytes) had SHA-256 `{f["file_sha256"]}`
when written with NumPy {f["numpy"]}; another zlib may compress to other bytes with the same arrays.

| key | dtype | shape |
| --- | --- | --- |
{keys}

## Documents per category
| lex_filenum | category | train | held-out |
| --- | --- | --- | --- |
{categories}
| | **total** | **{f["n_train"]}** | **{f["n_test"]}** |
{END}
"""


def write_readme(path: Path, section: str) -> None:
    """Replace the section between BEGIN and END in ``path``, or append it; the rest is kept as it was."""
    text = path.read_text() if path.is_file() else ""
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        text = before + section + (("\n" + after) if after else "")
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=WORDNET_DIR, help="folder of the WordNet 3.0 data.* files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .npz to write")
    parser.add_argument("--readme", default=str(DEFAULT_README),
                        help="the README whose WordNet section is (re)written; 'none' to write no README")
    parser.add_argument("--seed", type=int, default=0, help="of the subset's draw")
    parser.add_argument("--n-train", type=int, default=32400)
    parser.add_argument("--n-test", type=int, default=3600)
    parser.add_argument("--vocabulary-size", type=int, default=2000)
    args = parser.parse_args(argv)

    source = Path(args.source)
    full = load_wordnet_glosses(source, vocabulary_size=args.vocabulary_size, test_fraction=TEST_FRACTION, seed=0)
    glosses = read_wordnet_glosses(source)[0]
    n_synsets = len(glosses)
    full_test_before = int(round(TEST_FRACTION * n_synsets))
    full_train_before = n_synsets - full_test_before
    version = package_version()
    print(f"source {source} (wordnet-base {version}):")
    source_sha256 = {}
    for stem in WORDNET_FILES:
        source_sha256[stem] = file_sha256(source / stem)
        print(f"  {source_sha256[stem]}  {stem}")
    print(f"  {full}")
    print(f"  {n_synsets:,} synsets: {full_train_before:,} train / {full_test_before:,} held-out before dropping; "
          f"dropped {full_train_before - full.x_train.shape[0]:,} / {full_test_before - full.x_test.shape[0]:,} "
          "empty documents")

    subset = make_subset(full, args.n_train, args.n_test, args.seed)
    arrays = text_corpus_arrays(subset)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    with open(partial, "wb") as handle:   # a file object: savez adds no suffix
        np.savez_compressed(handle, **arrays)
    os.replace(partial, args.out)          # atomic: a reader never sees half a file

    digest = arrays_sha256(arrays)
    reloaded = load_text_npz(args.out)     # the file reads back through the package's own loader
    if arrays_sha256(text_corpus_arrays(reloaded)) != digest:
        raise SystemExit(f"{args.out} does not read back to the arrays written")

    repeats = [n for n in Counter(glosses).values() if n > 1]
    vocabulary_in_subset_train = int(np.count_nonzero(np.diff(subset.x_train.tocsc().indptr)))
    facts = {
        "version": version, "install": WORDNET_INSTALL, "source": str(source),
        "source_sha256": source_sha256, "vocabulary_size": subset.n_features, "test_fraction": TEST_FRACTION,
        "n_synsets": n_synsets, "full_train_before": full_train_before, "full_test_before": full_test_before,
        "full_train": full.x_train.shape[0], "full_test": full.x_test.shape[0],
        "full_train_dropped": full_train_before - full.x_train.shape[0],
        "full_test_dropped": full_test_before - full.x_test.shape[0],
        "min_df": WORDNET_MIN_DF, "seed": args.seed, "n_train": args.n_train, "n_test": args.n_test,
        "vocabulary_in_subset_train": vocabulary_in_subset_train,
        "nnz_train": subset.x_train.nnz, "nnz_test": subset.x_test.nnz,
        "max_count": int(max(subset.x_train.data.max(), subset.x_test.data.max())),
        "arrays_sha256": digest, "file_size": args.out.stat().st_size, "file_sha256": file_sha256(args.out),
        "numpy": np.__version__, "n_shared_glosses": len(repeats), "n_synsets_sharing": sum(repeats),
        "full_overlap": len(set(full.texts_train) & set(full.texts_test)),
        "subset_overlap": len(set(subset.texts_train) & set(subset.texts_test)),
        "keys": [(key, a.dtype.name, tuple(a.shape)) for key, a in sorted(arrays.items())],
        "per_category": [(name, int(np.count_nonzero(subset.y_train == c)), int(np.count_nonzero(subset.y_test == c)))
                         for c, name in enumerate(subset.categories)],
    }
    print(f"wrote {args.out} ({facts['file_size']:,} bytes), seed {args.seed}: {subset}")
    print(f"  documents: {args.n_train:,} train / {args.n_test:,} held-out, vocabulary {subset.n_features:,} "
          f"({vocabulary_in_subset_train:,} of its words occur in the subset's training documents)")
    print(f"arrays sha256 (purevae.data.arrays_sha256): {digest}")
    print(f"file sha256: {facts['file_sha256']}")
    if args.readme != "none":
        write_readme(Path(args.readme), readme_section(facts))
        print(f"wrote the WordNet section of {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
