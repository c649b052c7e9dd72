"""What a KV cache buys: greedy decoding with and without it, against the length of the text.

Without a cache every new token re-reads the whole text, so producing T tokens costs about T^2 / 2 positions of
work; with one (chapter 8, ``GPT.forward(ids, cache=...)``), each new token is one position that attends to the
stored keys and values, about T positions in all (plus attention over the cache, which grows with T but is small
at these sizes). For each length T this prints the median time to produce T tokens from a one-token prompt
(llmcourse.gpt.sampling.time_decoding, the function chapter 8 calls), cached and recomputing, their ratio and
whether the tokens are identical; then the cache's bytes, derived (2 * n_layer * n_embd * bytes per element per
token) and measured (the tensors' sizes). The model has random weights: the speed does not depend on them.
No GPU result is committed: none was available. The results are committed with the command that made them:

    python benchmarks/kv_cache.py > benchmarks/results/kv_cache_cpu.txt
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from llmcourse.device import environment_report
from llmcourse.gpt import GPT, GPTConfig, KVCache
from llmcourse.gpt.sampling import DecodeTiming, time_decoding

LENGTHS = (64, 128, 256, 512, 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# command: python benchmarks/kv_cache.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {environment_report(torch.device('cpu'))}; timed with {args.threads} CPU thread(s)")
    if hasattr(os, "getloadavg"):
        print(f"# load average at the start (other work on this machine): {os.getloadavg()[0]:.2f}")
    config = GPTConfig(vocab_size=65, block_size=max(args.lengths), n_layer=args.n_layer, n_head=args.n_head,
                       n_embd=args.n_embd)
    torch.manual_seed(0)
    model = GPT(config).eval()
    print(f"# GPT {args.n_layer} layers x {args.n_embd} wide, {model.num_parameters():,} parameters, float32, "
          f"batch 1, greedy; median of {args.repeats} after a warm-up")
    print(DecodeTiming.HEADER)
    for length in args.lengths:
        print(time_decoding(model, length, repeats=args.repeats).row(), flush=True)
    cache = model.new_cache(1)
    model(torch.zeros(1, 1, dtype=torch.long), cache=cache)
    derived = KVCache.bytes_per_token(config)
    print(f"# cache memory per token: derived 2 * {args.n_layer} * {args.n_embd} * 4 bytes = {derived:,} bytes; "
          f"measured {cache.nbytes():,} bytes / {cache.max_len} slots = {cache.nbytes() / cache.max_len:,.0f} bytes")


if __name__ == "__main__":
    main()
