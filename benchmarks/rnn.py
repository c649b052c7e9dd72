"""How much slower is our hand-written LSTM than torch.nn.LSTM? Forward + backward, same weights, same run.

Chapter 4 writes the LSTM cell by hand (llmcourse.rnn.cells) and runs it over time with a Python loop.
PyTorch's nn.LSTM computes the same numbers (checked in tests/test_rnn.py) in its own kernels: on a CPU
the time loop runs in C++, not in Python. This script times one forward + backward pass (sum of outputs,
gradients of every weight and of the input) of both on inputs of shape (batch, T, hidden), for a few sizes,
and prints the median time of each and the ratio ours / PyTorch. The vanilla RNN is timed the same way.
The measuring is llmcourse.rnn.timing.compare_with_torch, the function chapter 4 calls, with the chapter's
defaults (1 CPU thread, 2 warm-up passes, median of 7, the two modules in turns), so the chapter's row at
(32, 64, 256) and this file's row at that shape are measured alike. The results are committed with the
command that made them:

    python benchmarks/rnn.py > benchmarks/results/rnn_cpu.txt
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

from llmcourse.device import best_device, environment_report
from llmcourse.rnn.timing import Timing, compare_with_torch

SHAPES = ((32, 64, 128), (32, 64, 256), (64, 128, 512))  # (batch, T, hidden); (32, 64, 256) is the chapter's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None, help="default: llmcourse.device.best_device()")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="CPU thread counts to time with")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else best_device()
    print(f"# command: python benchmarks/rnn.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {environment_report(device)}")
    if hasattr(os, "getloadavg"):
        print(f"# load average at the start (other work on this machine): {os.getloadavg()[0]:.2f}")
    print(f"# llmcourse.rnn.timing.compare_with_torch: forward + backward of (batch, T, hidden) inputs, median of "
          f"{args.repeats} after {args.warmup} warm-ups, ours and torch.nn in turns; ratio = ours (Python loop "
          "over llmcourse.rnn cells) / torch.nn, same weights; threads = the CPU threads PyTorch had while timing (the "
          "report above gives the process's default)")
    print(Timing.HEADER)
    for threads in args.threads:
        for kind in ("lstm", "rnn"):
            for batch, T, hidden in SHAPES:
                result = compare_with_torch(kind, batch, T, hidden, device=device, repeats=args.repeats,
                                            warmup=args.warmup, threads=threads)
                print(result.row(), flush=True)
    if hasattr(os, "getloadavg"):
        print(f"# load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
