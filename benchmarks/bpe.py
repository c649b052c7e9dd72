"""How good and how fast is our pure-Python BPE? Against HF tokenizers' ByteLevel BPE, and the naive loop.

Chapter 2 trains a byte-level BPE on tiny shakespeare. This script trains ours (llmcourse.tokenizers) and
Hugging Face ``tokenizers`` (Rust) on the same text (the first 90%) to the same vocabulary sizes,
configured alike: the GPT-2 split pattern (HF's ByteLevel pre-tokenizer, add_prefix_space=False), all
256 bytes in the initial alphabet, min_frequency 0, and one special token. It prints, per size,
held-out compression (UTF-8 bytes per token on the last 10%), training time and encode throughput
(the whole held-out text in one call), with the ratio ours / HF. Then it times our fast trainer
against the naive re-count-every-merge loop (llmcourse.tokenizers.naive) and checks their merges are
identical. Results are committed under benchmarks/results/ with the command that made them:

    python benchmarks/bpe.py > benchmarks/results/bpe_cpu.txt
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import regex
import tokenizers as hf

from llmcourse.data import read_text
from llmcourse.device import environment_report
from llmcourse.tokenizers import ENDOFTEXT, BPETokenizer
from llmcourse.tokenizers.naive import train_naive
from llmcourse.tokenizers.reference import merges_like_hf, train_hf


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls of ``fn`` (no warm-up), and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def train_ours(text: str, vocab_size: int) -> BPETokenizer:
    return BPETokenizer(special_tokens=[ENDOFTEXT]).train(text, vocab_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=3, help="training runs per tokenizer and size (median)")
    parser.add_argument("--encode-repeats", type=int, default=21)
    parser.add_argument("--naive-size", type=int, default=512, help="vocab size for fast vs naive; 0 skips it")
    args = parser.parse_args()

    text = read_text("tinyshakespeare")
    split = int(0.9 * len(text))
    train, held_out = text[:split], text[split:]
    held_bytes = len(held_out.encode("utf-8"))

    print(f"# {environment_report()}")
    print(f"# tokenizers {hf.__version__} (HF, Rust), regex {regex.__version__}; tiny shakespeare: train on the "
          f"first 90% ({len(train.encode()):,} bytes), held out the last 10% ({held_bytes:,} bytes); "
          f"special token {ENDOFTEXT}")
    print(f"# train: median of {args.repeats} runs; encode: held-out text in one call, median of {args.encode_repeats} "
          f"after a warm-up (cold = our first call, empty chunk cache); ratio = ours / HF")
    print(f"{'vocab':>6} | {'bytes/token':>11} {'HF':>6} {'ratio':>6} | {'train s':>7} {'HF':>6} {'ratio':>6} | "
          f"{'encode MB/s':>11} {'cold':>6} {'HF':>6} {'ratio':>6} | {'same merges as HF':>17}")
    for vocab_size in args.sizes:
        ours_s, ours = timed(partial(train_ours, train, vocab_size), args.repeats)
        hf_s, theirs = timed(partial(train_hf, train, vocab_size, [ENDOFTEXT]), args.repeats)
        assert ours.vocab_size == theirs.get_vocab_size() == vocab_size

        ours._cache.clear()
        cold_s, ours_ids = timed(partial(ours.encode, held_out), 1)
        warm_s, ours_ids = timed(partial(ours.encode, held_out), args.encode_repeats)
        theirs.encode(held_out)
        hf_enc_s, hf_encoding = timed(partial(theirs.encode, held_out), args.encode_repeats)
        hf_ids = hf_encoding.ids
        assert ours.decode(ours_ids) == held_out == theirs.decode(hf_ids)

        ours_bpt, hf_bpt = held_bytes / len(ours_ids), held_bytes / len(hf_ids)
        ours_mbs, cold_mbs, hf_mbs = (held_bytes / s / 1e6 for s in (warm_s, cold_s, hf_enc_s))
        print(f"{vocab_size:>6} | {ours_bpt:>11.4f} {hf_bpt:>6.4f} {ours_bpt / hf_bpt:>6.4f} | "
              f"{ours_s:>7.2f} {hf_s:>6.2f} {ours_s / hf_s:>6.2f} | "
              f"{ours_mbs:>11.2f} {cold_mbs:>6.2f} {hf_mbs:>6.2f} {ours_mbs / hf_mbs:>6.2f} | "
              f"{'{} first, {} of {}'.format(*merges_like_hf(ours, theirs), len(ours.merges)):>17}")
    print("# same merges as HF: how many of ours HF learned too, from the first in the same order, and in all; the")
    print("# order parts where pairs tie: both take the smallest pair, but HF numbers the 256 bytes in another order")

    if args.naive_size:
        fast_s, fast = timed(partial(train_ours, train, args.naive_size), args.repeats)
        naive_s, naive_merges = timed(partial(train_naive, train, args.naive_size, special_tokens=[ENDOFTEXT]), 1)
        same = "identical" if naive_merges == fast.merges else "DIFFERENT"
        print(f"# fast vs naive trainer, vocab {args.naive_size} ({len(fast.merges)} merges): naive {naive_s:.1f} s, "
              f"fast {fast_s:.2f} s, {naive_s / fast_s:.0f}x faster; merges {same}")


if __name__ == "__main__":
    main()
