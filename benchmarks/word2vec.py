"""Our skip-gram (llmcourse.embeddings) against gensim's Word2Vec, on the same corpus slice with the same settings.

Both train skip-gram with negative sampling on the same words (a slice of enwiki-sample-text8, or text8)
with the same dimensions, window, negatives, min_count, subsampling threshold, starting learning rate and
epochs, taken from a chapter-3 profile (``--profile``, default laptop). gensim gets the words as
10,000-word "sentences" (its own way of reading text8), first with one worker thread (as ours uses on a
CPU) and then with all CPU cores; ours runs on ``best_device()``; the model evaluated is gensim's last.
Printed: the Google analogy accuracy (3CosAdd and 3CosMul, restrict_vocab as gensim's
evaluate_word_analogies, per semantic/syntactic), WordSim-353 and SimLex-999 Spearman, king - man + woman,
and training speed in corpus words per second (words x epochs / wall time, vocabulary building excluded),
with the ratio ours / gensim. Both are evaluated by the same code (llmcourse.embeddings.KeyedVectors).

    LLMCOURSE_DATA_DIR=/work/shared/data python benchmarks/word2vec.py > benchmarks/results/word2vec_cpu.txt
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from gensim.models import Word2Vec

from llmcourse import data
from llmcourse.config import settings
from llmcourse.device import best_device, environment_report
from llmcourse.embeddings import KeyedVectors, Vocab, load_words, train_sgns


def evaluate(name: str, kv: KeyedVectors, restrict_vocab: int) -> dict[str, float]:
    add = kv.evaluate_analogies(data.path("questions-words"), restrict_vocab=restrict_vocab)
    mul = kv.evaluate_analogies(data.path("questions-words"), restrict_vocab=restrict_vocab, method="mul")
    ws, _, _ = kv.evaluate_word_pairs(data.path("wordsim353"))
    sl, _, _ = kv.evaluate_word_pairs(data.path("simlex999"))
    top = ", ".join(f"{w} {s:.2f}" for w, s in kv.analogy("man", "king", "woman", topn=3))
    print(f"{name}:\n  analogies 3CosAdd {add.total:.1%} (semantic {add.semantic:.1%}, syntactic {add.syntactic:.1%}, "
          f"{add.asked} asked), 3CosMul {mul.total:.1%}\n  WordSim-353 rho {ws:.3f}; SimLex-999 rho {sl:.3f}\n  "
          f"king - man + woman -> {top}")
    return {"add": add.total, "mul": mul.total, "ws": ws, "sl": sl}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="laptop", help="chapter-3 profile whose sizes to use")
    parser.add_argument("--max-words", type=int, default=-1, help="override the profile's slice (-1: keep)")
    parser.add_argument("--epochs", type=int, default=0, help="override the profile's epochs (0: keep)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="gensim worker threads")
    args = parser.parse_args()
    cfg = settings("ch03", args.profile)
    max_words = cfg.max_words if args.max_words < 0 else (args.max_words or None)
    epochs = args.epochs or cfg.epochs

    print(environment_report())
    words = load_words(max_words, cfg.corpus)
    vocab = Vocab.build(words, cfg.min_count)
    ids = vocab.encode(words)
    print(f"corpus {cfg.corpus}: {len(words):,} words, vocabulary {len(vocab):,} (min_count {cfg.min_count}); "
          f"dim {cfg.dim}, window {cfg.window}, negative {cfg.negative}, sample {cfg.sample}, epochs {epochs}, "
          f"lr {cfg.lr}; ours on {best_device()} (batch {cfg.batch_size}, 1 torch thread on a CPU), "
          f"gensim with {args.workers} workers\n")

    run = train_sgns(ids, vocab, dim=cfg.dim, window=cfg.window, negative=cfg.negative, epochs=epochs,
                     sample=cfg.sample, lr=cfg.lr, batch_size=cfg.batch_size, device=best_device(), progress=False)
    print(f"ours:              {run.seconds:7.1f} s, {run.words_per_second:10,.0f} words/s, "
          f"final loss {run.losses[-1]:.3f}")

    sentences = [words[i:i + 10_000] for i in range(0, len(words), 10_000)]
    for workers in sorted({1, args.workers}):  # one thread, like ours on a CPU, then all cores
        model = Word2Vec(vector_size=cfg.dim, window=cfg.window, negative=cfg.negative, min_count=cfg.min_count,
                         sample=cfg.sample, alpha=cfg.lr, sg=1, hs=0, workers=workers, seed=0)
        model.build_vocab(sentences)
        start = time.perf_counter()
        model.train(sentences, total_examples=len(sentences), epochs=epochs)
        seconds = time.perf_counter() - start
        gensim_wps = len(words) * epochs / seconds
        print(f"gensim, {workers} worker{'s' if workers > 1 else ' '}: {seconds:7.1f} s, {gensim_wps:10,.0f} "
              f"words/s -> ours / gensim speed {run.words_per_second / gensim_wps:.2f}x")
    print()

    ours = evaluate("ours  ", KeyedVectors(vocab.words, run.model.vectors), cfg.restrict_vocab)
    gensim_kv = KeyedVectors(model.wv.index_to_key, torch.from_numpy(model.wv.vectors))
    theirs = evaluate(f"gensim ({workers} workers)", gensim_kv, cfg.restrict_vocab)
    print(f"\ndifference ours - gensim: analogies 3CosAdd {100 * (ours['add'] - theirs['add']):+.1f} points, "
          f"3CosMul {100 * (ours['mul'] - theirs['mul']):+.1f} points; WordSim rho {ours['ws'] - theirs['ws']:+.3f}; "
          f"SimLex rho {ours['sl'] - theirs['sl']:+.3f}")


if __name__ == "__main__":
    main()
