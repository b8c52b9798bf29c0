r"""The bag-of-words VAE on WordNet glosses: held-out per-word perplexity against the unigram model and LDA, and
what sparse input buys per epoch.

Setup (issue 17): the bundled subset (``--data wordnet``: 32,400 training and 3,600 held-out glosses, V = 2,000)
or the whole corpus from the Debian package (``--data wordnet-full``). For each seed:

- the VAE: V-256-L ReLU, ``likelihood="multinomial"``, Adam 1e-3, batch 128, ``--epochs`` epochs on the sparse
  counts, with ``--warmup`` epochs of linear KL warm-up; its perplexity exp(-sum_d log p(x_d) / sum_d N_d) from
  the importance-weighted estimate with k = ``--k`` (an upper bound: the estimate is a lower bound on log p(x)),
  and from the ELBO (a looser upper bound);
- the unigram model, p(w) = (c_w + 1) / (sum_v c_v + V) from the training counts (add-one, so no held-out word has
  probability 0): its perplexity is exact;
- scikit-learn's ``LatentDirichletAllocation`` with n_components = L (online variational Bayes, ``--lda-iter``
  passes, the seed as random_state): its ``perplexity`` on the held-out counts, which scikit-learn computes from
  its variational bound, so also an upper bound. Its topic-word prior term is divided by the number of words
  of the evaluated documents rather than of the training ones (scikit-learn issue #20032), which inflates it on
  a held-out split much smaller than the training set. So the table also gives that bound with the topic-word
  term divided by the training words instead (the normalisation issue #20032 proposes; the term is computed
  here from ``components_`` by the Dirichlet formula below and swapped), and the plug-in perplexity
  exp(-sum_dw x_dw log sum_k theta_dk phi_kw / sum_d N_d), theta = ``transform`` of the document itself and phi
  the normalised ``components_``: optimistic (theta has seen the words it scores), not a bound.

All three leave out the multinomial coefficient (the log-probability of the words in their order).

With ``--speed``: one epoch on the sparse CSR counts against one on the same counts as a dense float32 array,
interleaved (sparse, dense, sparse, dense, ...) ``--rounds`` times; the ratio dense/sparse of each pair and their
median. Timings need a quiet machine.

    python benchmarks/train_text.py                              # 3 seeds, ~5 minutes on 2 cores
    python benchmarks/train_text.py --seeds 1 --speed --pictures docs
    python benchmarks/train_text.py --quick                      # 2,000 documents, 1 epoch: a smoke test
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

import purevae
from purevae import text
from purevae.data import load_text_dataset
from purevae.objectives import perplexity


def unigram_perplexity(x_train, x_test) -> float:
    counts = np.asarray(x_train.sum(axis=0), dtype=np.float64).ravel() + 1.0
    log_p = np.log(counts / counts.sum())
    return float(np.exp(-(x_test @ log_p).sum() / x_test.sum()))


def lda_topic_word_term(lda) -> float:
    r"""The topic-word part of LDA's variational bound, E_q[log p(beta) - log q(beta)] summed over topics:

        sum_k [ lgamma(V eta) - V lgamma(eta) + sum_w lgamma(lam_kw) - lgamma(sum_w lam_kw)
                + sum_w (eta - lam_kw) E[log beta_kw] ],   E[log beta_kw] = psi(lam_kw) - psi(sum_v lam_kv)

    with lam = ``components_`` (q(beta_k) = Dirichlet(lam_k)) and eta = ``topic_word_prior_``.
    """
    import scipy.special
    lam, eta = np.asarray(lda.components_, dtype=np.float64), float(lda.topic_word_prior_)
    vocab = lam.shape[1]
    e_log_beta = scipy.special.psi(lam) - scipy.special.psi(lam.sum(axis=1, keepdims=True))
    return float(np.sum(scipy.special.gammaln(vocab * eta) - vocab * scipy.special.gammaln(eta)
                        + np.sum(scipy.special.gammaln(lam), axis=1) - scipy.special.gammaln(lam.sum(axis=1))
                        + np.sum((eta - lam) * e_log_beta, axis=1)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="wordnet", help="wordnet (bundled) or wordnet-full (Debian package)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5, help="epochs of linear KL warm-up")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--latent", type=int, default=20, help="latent dimensions = LDA topics")
    parser.add_argument("--k", type=int, default=200, help="importance samples per held-out document")
    parser.add_argument("--lda-iter", type=int, default=20)
    parser.add_argument("--speed", action="store_true", help="also time sparse against dense epochs")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pictures", default=None, metavar="DIR",
                        help="write text_latent.png and text_top_words.png of the first seed's model there")
    parser.add_argument("--json", default=None)
    parser.add_argument("--quick", action="store_true", help="2,000 documents, 1 epoch, k=10, 2 LDA passes")
    args = parser.parse_args(argv)
    corpus = load_text_dataset(args.data)
    x_train, x_test = corpus.x_train, corpus.x_test
    if args.quick:
        x_train, x_test = x_train[:2000], x_test[:300]
        args.epochs, args.warmup, args.k, args.lda_iter, args.rounds = 1, 0, 10, 2, 1
    n_words = np.asarray(x_test.sum(axis=1)).ravel()
    print(f"{corpus.name}: {x_train.shape[0]} training and {x_test.shape[0]} held-out documents "
          f"({int(n_words.sum())} words), V = {corpus.n_features}; VAE {corpus.n_features}-{args.hidden}-{args.latent} "
          f"relu multinomial, {args.epochs} epochs (warm-up {args.warmup}), batch 128, Adam 1e-3, k={args.k}; "
          f"LDA {args.latent} topics, {args.lda_iter} online passes; backend {purevae.get_backend()}")
    unigram = unigram_perplexity(x_train, x_test)
    print(f"  unigram (add-one): perplexity {unigram:.1f}")
    rows, first = [], None
    for seed in args.seeds:
        model = purevae.VAE(corpus.n_features, (args.hidden,), args.latent, likelihood="multinomial", seed=seed,
                            vocabulary=corpus.vocabulary)
        model.fit(x_train, epochs=args.epochs, batch_size=128, warmup_epochs=args.warmup)
        first = first or model
        rng = np.random.default_rng([seed, 60])
        elbo = model.elbo(x_test, rng=rng)
        log_px = model.log_likelihood(x_test, k=args.k, rng=rng)
        units = purevae.diagnostics.active_units(model, x_test).count
        from sklearn.decomposition import LatentDirichletAllocation
        lda = LatentDirichletAllocation(n_components=args.latent, learning_method="online", max_iter=args.lda_iter,
                                        random_state=seed, batch_size=128)
        lda.fit(x_train)
        beta_term = lda_topic_word_term(lda)
        doc_bound = lda.score(x_test) - beta_term                         # the documents' part of the bound
        per_training_word = float(np.exp(-(doc_bound + beta_term * n_words.sum() / x_train.sum()) / n_words.sum()))
        theta = lda.transform(x_test)
        phi = lda.components_ / lda.components_.sum(axis=1, keepdims=True)
        plugin = float(np.exp(-x_test.multiply(np.log(theta @ phi)).sum() / n_words.sum()))
        row = {"seed": seed, "vae_perplexity": perplexity(log_px, n_words), "vae_perplexity_elbo":
               perplexity(elbo, n_words), "active_units": units, "lda_perplexity": float(lda.perplexity(x_test)),
               "lda_plugin_perplexity": plugin, "lda_perplexity_training_words": per_training_word}
        rows.append(row)
        print(f"  seed {seed}: VAE perplexity {row['vae_perplexity']:.1f} (IW, k={args.k}), "
              f"{row['vae_perplexity_elbo']:.1f} (ELBO), active units {units}; LDA {row['lda_perplexity']:.1f} "
              f"(topic-word term per training word {per_training_word:.1f}, plug-in {plugin:.1f})",
              flush=True)

    def stat(key):
        v = np.array([r[key] for r in rows], float)
        se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else None
        return f"{v.mean():.1f}" + (f" +- {se:.1f}" if se is not None else "")
    print("\n| model | held-out per-word perplexity | what it is |")
    print("| --- | --- | --- |")
    print(f"| unigram, add-one | {unigram:.1f} | exact |")
    print(f"| LDA, {args.latent} topics (scikit-learn `perplexity`) | {stat('lda_perplexity')} | upper bound (its "
          f"variational bound; see scikit-learn#20032) |")
    print(f"| LDA, {args.latent} topics, the same bound, topic-word term per training word | "
          f"{stat('lda_perplexity_training_words')} | upper bound |")
    print(f"| LDA, {args.latent} topics, plug-in theta of the same document | {stat('lda_plugin_perplexity')} | "
          f"optimistic, not a bound |")
    print(f"| VAE, ELBO | {stat('vae_perplexity_elbo')} | upper bound |")
    print(f"| VAE, IW k={args.k} | {stat('vae_perplexity')} | upper bound (tighter) |")
    result = {"rows": rows, "unigram": unigram, "args": vars(args)}

    if args.speed:      # one epoch each way, interleaved, on the first seed's architecture
        dense = x_train.toarray()
        ratios = []
        for _ in range(args.rounds):
            seconds = {}
            for name, data in (("sparse", x_train), ("dense", dense)):
                model = purevae.VAE(corpus.n_features, (args.hidden,), args.latent, likelihood="multinomial", seed=0)
                start = time.perf_counter()
                model.fit(data, epochs=1, batch_size=128)
                seconds[name] = time.perf_counter() - start
            ratios.append(seconds["dense"] / seconds["sparse"])
            print(f"  epoch: sparse {seconds['sparse']:.2f} s, dense {seconds['dense']:.2f} s: "
                  f"dense/sparse = {ratios[-1]:.2f}x", flush=True)
        print(f"dense/sparse per epoch = {np.median(ratios):.2f}x (median of {len(ratios)} rounds; "
              f"{x_train.nnz / np.prod(x_train.shape):.2%} of the counts are nonzero)")
        result["speed_ratios"] = ratios
    if args.pictures:
        from purevae import plots
        y = corpus.y_test[:x_test.shape[0]]
        order = np.argsort(-np.bincount(y, minlength=len(corpus.categories)), kind="stable")[:10]
        labels = np.full(len(y), len(order))
        for new, old in enumerate(order):
            labels[y == old] = new
        names = [corpus.categories[i] for i in order] + ["other"]
        mu = first.encode(x_test)[0]
        path = plots.save_latent_scatter(mu, f"{args.pictures}/text_latent.png", labels=labels, class_names=names,
                                         title=f"latent means of {x_test.shape[0]} held-out glosses (PCA)")
        words, rises = text.top_words(first, n_words=7)
        path2 = plots.save_top_words(words, f"{args.pictures}/text_top_words.png", rises)
        print(f"wrote {path}, {path2}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
