"""How fast is a matrix multiply here? torch on every available device vs NumPy on the CPU, one run.

Chapter 1 times one matrix multiply; this script measures a range of sizes and prints GFLOP/s with
the ratio to NumPy (the peer on the CPU) measured in the same run. Results are committed under
benchmarks/results/ with the command that made them:

    python benchmarks/matmul.py > benchmarks/results/matmul_<device>.txt
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from llmcourse.device import best_device, environment_report, synchronize


def seconds_per_call(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print(f"# {environment_report()}")
    print(f"# numpy {np.__version__}; float32; median of {args.repeats} calls; GFLOP/s = 2 n^3 / time")
    devices = [torch.device("cpu")] + ([best_device()] if best_device().type != "cpu" else [])
    header = f"{'n':>6} {'numpy GFLOP/s':>14}" + "".join(f" {d.type + ' GFLOP/s':>14} {'vs numpy':>9}" for d in devices)
    print(header)
    for n in args.sizes:
        a_np = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
        b_np = np.random.default_rng(1).standard_normal((n, n), dtype=np.float32)
        flops = 2 * n**3
        numpy_rate = flops / seconds_per_call(lambda a=a_np, b=b_np: a @ b, args.repeats) / 1e9
        row = f"{n:>6} {numpy_rate:>14.1f}"
        for device in devices:
            a, b = torch.from_numpy(a_np).to(device), torch.from_numpy(b_np).to(device)

            def matmul(a=a, b=b, device=device):
                a @ b
                synchronize(device)

            rate = flops / seconds_per_call(matmul, args.repeats) / 1e9
            row += f" {rate:>14.1f} {rate / numpy_rate:>8.2f}x"
        print(row)


if __name__ == "__main__":
    main()
