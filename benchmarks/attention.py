"""Why fused attention is fast: peak memory and time of naive, tiled and PyTorch's SDPA attention vs length.

Chapter 5 writes attention three ways that compute the same numbers: naive (llmcourse.attention.attention,
which builds the whole (T, T) weight matrix), tiled with an online softmax (llmcourse.attention.tiled_attention,
128 x 128 tiles in a Python loop: the FlashAttention idea) and F.scaled_dot_product_attention (PyTorch's fused
kernel; on a CPU its flash-attention kernel). For each sequence length T this prints, for q, k, v of shape
(1, 4, T, 64) in float32, forward only under torch.no_grad():

- the peak CPU memory each call allocated beyond its inputs: every allocation and free of PyTorch's CPU
  allocator during one call, read from torch.profiler (profile_memory=True), peak of the running sum
  (llmcourse.attention.peak_cpu_memory); scratch a fused kernel frees before returning is included;
- the median time of a few calls (after a warm-up; the three in turns), with 1 CPU thread (as chapter 5 runs)
  and with more (--threads);
- the largest |difference| of each output from the naive one.

The measuring is llmcourse.attention.tiled.compare_attention, the function chapter 5 calls. It is CPU-only,
whatever the machine: the tensors are made on the CPU and the memory is the CPU allocator's. A GPU measurement
(CUDA tensors, times taken after torch.cuda.synchronize, memory from torch.cuda.max_memory_allocated) is not
written, so no GPU result exists. The results are committed with the command that made them:

    python benchmarks/attention.py --threads 1 2 --plot benchmarks/results/attention_cpu.png \
        > benchmarks/results/attention_cpu.txt
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from llmcourse.attention.tiled import AttentionCost, compare_attention
from llmcourse.device import environment_report

LENGTHS = (256, 512, 1024, 2048, 4096)


def plot(results: dict[int, list[AttentionCost]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_mem, ax_time) = plt.subplots(1, 2, figsize=(10, 3.8))
    for style, (threads, rows_of_run) in zip(("o-", "s--", "^:"), results.items(), strict=False):
        for colour, version in enumerate(("naive", "tiled", "sdpa")):
            rows = [r for r in rows_of_run if r.version == version]
            label = f"{version}, {threads} thread{'s' if threads > 1 else ''}"
            ax_mem.loglog([r.T for r in rows], [r.peak_bytes / 2**20 for r in rows], style, color=f"C{colour}",
                          label=label)
            ax_time.loglog([r.T for r in rows], [r.seconds * 1e3 for r in rows], style, color=f"C{colour}",
                           label=label)
    ax_mem.set(xlabel="sequence length T", ylabel="peak CPU memory (MiB)", title="Memory beyond the inputs")
    ax_time.set(xlabel="sequence length T", ylabel="forward time (ms)", title="Time (median)")
    lengths = sorted({r.T for rows in results.values() for r in rows})
    for ax in (ax_mem, ax_time):
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [str(t) for t in lengths])
        ax.minorticks_off()
        ax.legend(fontsize=7)
    fig.suptitle("attention on (1, 4, T, 64) float32, CPU")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="CPU thread counts to time with")
    parser.add_argument("--plot", default=None, help="write the two plots (memory, time) to this PNG")
    args = parser.parse_args()
    print(f"# command: python benchmarks/attention.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {environment_report(torch.device('cpu'))} (the thread count of each run is given below)")
    if hasattr(os, "getloadavg"):
        print(f"# load average at the start (other work on this machine): {os.getloadavg()[0]:.2f}")
    print(f"# q, k, v (1, 4, T, 64) float32, forward under no_grad{', causal' if args.causal else ''}; peak = CPU "
          "allocator bytes beyond the inputs (torch.profiler); time = median of "
          f"{args.repeats} after a warm-up; tiles 128 x 128")
    results: dict[int, list[AttentionCost]] = {}
    for threads in args.threads:
        print(f"# {threads} CPU thread{'s' if threads > 1 else ''}")
        print(f"{AttentionCost.HEADER} | ratio to naive")
        torch.set_num_threads(threads)
        for t in args.lengths:
            rows = compare_attention(t, causal=args.causal, repeats=args.repeats)
            results.setdefault(threads, []).extend(rows)
            naive = rows[0]
            for r in rows:
                print(f"{r.row()} | memory {r.peak_bytes / naive.peak_bytes:.3f}, "
                      f"time {r.seconds / naive.seconds:.2f}", flush=True)
    if args.plot:
        plot(results, args.plot)
        print(f"# plot: {args.plot}")


if __name__ == "__main__":
    main()
