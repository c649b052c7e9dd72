"""How fast does chapter 7's GPT train, and how does it compare with nanoGPT's train.py on the same budget?

Two parts, both on tiny shakespeare characters (chapter 4's split) with the model of a chapter-7 profile:

1. Throughput of one training step (forward, backward, AdamW) of ``llmcourse.gpt.GPT`` in each variant:
   eager or ``torch.compile``; float32 or bf16 autocast (bf16 on CUDA only); naive attention (PyTorch's math
   kernel for ``scaled_dot_product_attention``, which builds the whole (T, T) matrix) or SDPA's fused kernels.
   Tokens per second (median over timed steps after warm-up), peak memory (CUDA only: ``max_memory_allocated``)
   and, on a GPU whose bf16 peak is known, MFU: the FLOPs of one step, counted by ``FlopCounterMode`` over a real
   pass, times steps per second, over the device's peak.
2. Time to a validation loss: one ``train_gpt`` run with the profile's settings (compiled where the profile asks
   for it), each validation loss with the wall time at which it was measured. With ``--nanogpt PATH`` (a
   checkout of karpathy/nanoGPT you provide; none of its code is part of this project), its ``train.py`` runs next,
   as a subprocess, on the same data (written from our token streams as its ``train.bin`` / ``val.bin``) and
   threads, stopped at the wall time our run took, in up to three settings (``--nanogpt-runs``): ours (model,
   batch, schedule, optimizer), its README's CPU command, and that command at width 192 and context 128. For each
   of nanoGPT's evaluations it prints our lowest validation loss evaluated by the same wall time. nanoGPT
   estimates its validation loss on ``eval_iters`` random batches, we on fixed windows: the same text, other
   windows.

    python benchmarks/gpt_train.py --nanogpt /tmp/nanogpt --eval-every 250 > benchmarks/results/gpt_train_cpu.txt

References: Karpathy's nanoGPT (``train.py``, ``bench.py``); Chowdhery et al. (2022), PaLM, appendix B (MFU).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from llmcourse.config import settings
from llmcourse.device import autocast_dtype, environment_report, synchronize
from llmcourse.gpt import GPT, GPTConfig, TrainConfig, char_data, configure_optimizer, get_batch, train_gpt
from llmcourse.gpt.train import backward_micro_batches, compile_wanted

# Dense bf16 peak FLOP/s of a few GPUs, from their vendors' data sheets (no sparsity).
BF16_PEAK = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "L4": 121e12, "A10G": 70e12, "L40S": 362e12,
             "RTX 4090": 165e12, "RTX 3090": 71e12}


def device_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK.items() if key in name), None)


def flops_per_step(config: GPTConfig, batch_size: int) -> int:
    """FLOPs of the matrix products of one forward + backward pass, counted on the meta device (no memory)."""
    with torch.device("meta"):
        model = GPT(config)
        ids = torch.zeros(batch_size, config.block_size, dtype=torch.long)
    counter = FlopCounterMode(display=False)
    with counter, sdpa_kernel(SDPBackend.MATH):  # the math kernel's products are visible to the counter
        x = model.drop(model.embed(ids))  # the layers one by one: GPT.forward reads ids' values, meta has none
        for block in model.blocks:
            x = block(x)
        model.lm_head(model.ln_f(x)).float().sum().backward()
    return int(counter.get_total_flops())


def time_variant(config: GPTConfig, data, device: torch.device, *, batch_size: int, compiled: bool, bf16: bool,
                 naive: bool, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = GPT(config).to(device)
    optimizer = configure_optimizer(model, TrainConfig(), device)
    forward = torch.compile(model) if compiled else model
    generator = torch.Generator(device=device).manual_seed(0)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    kernel = sdpa_kernel(SDPBackend.MATH) if naive else contextlib.nullcontext()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with autocast, kernel:
        for i in range(warmup + steps):
            x, y = get_batch(data.train, batch_size, config.block_size, generator)
            synchronize(device)
            began = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            backward_micro_batches(forward, x, y, 1)
            optimizer.step()
            synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - began)
    step = statistics.median(times)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"tokens/s": batch_size * config.block_size / step, "ms/step": 1000 * step, "peak MiB": peak}


def timed_run(config: GPTConfig, data, train: TrainConfig) -> list[tuple[float, int, float]]:
    """Our run, validated every eval_every steps: (seconds since the start, step, validation loss) at each.

    The clock starts before the model is built, as nanoGPT's does before its own set-up; the compilation (if any)
    happens inside the run, at its first steps."""
    began = time.perf_counter()
    torch.manual_seed(0)
    model = GPT(config).to(data.device)
    offset = time.perf_counter() - began
    result = train_gpt(model, data, train, progress=False)
    points = [(offset + t, step, val) for t, step, val in zip(result.val_seconds, result.history.val_steps,
                                                               result.history.val, strict=True)]
    for seconds, step, val in points:
        print(f"#   ours     {seconds:7.1f} s  step {step:5d}  val {val:.4f}", flush=True)
    return points


# nanoGPT's train.py settings to run beside ours. "same": our model, batch, schedule and optimizer settings;
# "readme": the CPU command of nanoGPT's README (its shakespeare_char config made small: 4 x 128, context 64,
# batch 12, 2000 iterations, lr 1e-3, beta2 0.99); "wide": that command with width 192 and context 128 (the two
# nanoGPT runs the course's laptop target was set against: 1.886 after 108 s and 1.636 after 443 s on a 2-core CPU).
README_CPU = ["config/train_shakespeare_char.py", "--compile=False", "--eval_iters=20", "--log_interval=1",
              "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128", "--max_iters=2000",
              "--lr_decay_iters=2000", "--dropout=0.0"]
NANOGPT_RUNS = ("same", "readme", "wide")


def nanogpt_arguments(which: str, config: GPTConfig, train: TrainConfig) -> list[str]:
    """train.py's arguments for one of :data:`NANOGPT_RUNS` (the data, device and output are added later)."""
    if which == "readme":
        return list(README_CPU)
    if which == "wide":
        return README_CPU + ["--n_embd=192", "--block_size=128"]
    return ["--compile=False", f"--n_layer={config.n_layer}", f"--n_head={config.n_head}",
            f"--n_embd={config.n_embd}", f"--block_size={config.block_size}", f"--batch_size={train.batch_size}",
            "--gradient_accumulation_steps=1", f"--dropout={config.dropout}", f"--bias={config.bias}",
            f"--learning_rate={train.learning_rate}", f"--min_lr={train.min_lr}",
            f"--warmup_iters={train.warmup_steps}",
            f"--max_iters={train.max_steps}", f"--lr_decay_iters={train.max_steps}",
            f"--weight_decay={train.weight_decay}", f"--beta2={train.beta2}", f"--grad_clip={train.grad_clip}",
            f"--eval_interval={train.eval_every}", f"--eval_iters={max(1, train.eval_windows // train.batch_size)}",
            "--log_interval=100"]


NANOGPT_DATASET = "llmcourse_shakespeare_char"


def write_nanogpt_data(path: Path, data) -> None:
    """Our token streams as nanoGPT's dataset files (``train.bin``, ``val.bin``, ``meta.pkl``) in checkout ``path``."""
    folder = path / "data" / NANOGPT_DATASET
    folder.mkdir(parents=True, exist_ok=True)
    data.train.cpu().numpy().astype(np.uint16).tofile(folder / "train.bin")
    data.val.cpu().numpy().astype(np.uint16).tofile(folder / "val.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": data.vocab_size}, f)


def nanogpt_run(path: Path, arguments: list[str], budget: float, threads: int | None, device: torch.device,
                workdir: Path, label: str) -> list[tuple[float, int, float]]:
    """nanoGPT's train.py on the dataset :func:`write_nanogpt_data` wrote, stopped after ``budget`` seconds:
    (seconds, step, val loss) at each of its evaluations."""
    command = [sys.executable, "train.py", *arguments, f"--dataset={NANOGPT_DATASET}",
               f"--out_dir={workdir / 'nanogpt'}", f"--device={device.type}", "--always_save_checkpoint=False",
               "--wandb_log=False"]
    if device.type == "cpu":
        command.append("--dtype=float32")
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    print(f"# nanoGPT ({label}): {' '.join(command[1:])} (cwd {path}; stopped after {budget:.0f} s)", flush=True)
    points = []
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            now = time.perf_counter() - began
            if now > budget:
                break
            if line.startswith("step ") and "val loss" in line:
                step = int(line.split()[1].rstrip(":"))
                val = float(line.rsplit("val loss", 1)[1].strip().rstrip(","))
                points.append((now, step, val))
                print(f"#   nanoGPT {label:6s} {now:7.1f} s  step {step:5d}  val {val:.4f}", flush=True)
    finally:
        process.kill()
        process.wait()
    return points


def at_equal_time(ours: list[tuple[float, int, float]], theirs: list[tuple[float, int, float]]) -> list[str]:
    """For each of nanoGPT's evaluations: our lowest validation loss evaluated by the same wall time."""
    lines = []
    for seconds, step, val in theirs:
        reached = [p for p in ours if p[0] <= seconds]
        if not reached:
            lines.append(f"{seconds:9.0f} s  nanoGPT step {step:5d} {val:7.4f}   ours: no evaluation yet")
            continue
        best = min(reached, key=lambda p: p[2])
        verdict = "ours lower or equal" if best[2] <= val else "nanoGPT lower"
        lines.append(f"{seconds:9.0f} s  nanoGPT step {step:5d} {val:7.4f}   ours step {best[1]:5d} {best[2]:7.4f}"
                     f"   {verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="laptop", help="the chapter-7 profile whose model and settings to use")
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads of part 2 (default: the profile's)")
    parser.add_argument("--throughput-threads", type=int, nargs="+", default=None,
                        help="CPU thread counts to time part 1 with (default: 1 and 2 on a CPU)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per throughput variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation happens here)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variants")
    parser.add_argument("--no-throughput", action="store_true", help="skip part 1")
    parser.add_argument("--train-steps", type=int, default=None, help="steps of part 2 (default: the profile's)")
    parser.add_argument("--eval-every", type=int, default=None,
                        help="validate every this many steps in part 2 (default: the profile's eval_every)")
    parser.add_argument("--nanogpt", type=Path, default=None, help="a karpathy/nanoGPT checkout to compare with")
    parser.add_argument("--nanogpt-runs", nargs="+", choices=NANOGPT_RUNS, default=list(NANOGPT_RUNS),
                        help="which nanoGPT settings to run: ours (same), its README's CPU command, or that widened")
    args = parser.parse_args()

    cfg = settings("ch07", args.profile)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    threads = cfg.threads if args.threads is None else args.threads
    if threads is not None:
        torch.set_num_threads(threads)
    data = char_data(device=device)
    config = GPTConfig(vocab_size=data.vocab_size, block_size=cfg.block_size, n_layer=cfg.n_layer,
                       n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout)
    print(f"# command: python benchmarks/gpt_train.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {environment_report(device)}")
    print(f"# load average at the start (other work on this machine): {os.getloadavg()[0]:.2f}")
    print(f"# model: chapter 7's {args.profile} profile, {cfg.n_layer} layers x {cfg.n_embd}, {cfg.n_head} heads, "
          f"context {cfg.block_size}, {GPT(config).num_parameters():,} parameters; batch {cfg.batch_size}")

    if not args.no_throughput:
        flops = flops_per_step(config, cfg.batch_size)
        peak = device_peak(device)
        print(f"# part 1: one training step (forward + backward + AdamW), median of {args.steps} after {args.warmup} "
              f"warm-ups; naive attention = SDPA's math kernel (the (T, T) matrix built); "
              f"{flops / (cfg.batch_size * cfg.block_size) / 1e6:.1f} MFLOP per token (FlopCounterMode)"
              + (f"; MFU against a bf16 peak of {peak / 1e12:.0f} TFLOP/s" if peak else "; MFU: GPU only"))
        print(f"{'variant':40s} {'tokens/s':>10s} {'ms/step':>9s} {'peak MiB':>9s} {'MFU':>6s} "
              f"{'vs eager fp32 SDPA':>19s}")
        bf16_options = (False, True) if autocast_dtype(device) == torch.bfloat16 else (False,)
        compile_options = (False,) if args.no_compile else (False, True)
        thread_counts = args.throughput_threads or ([1, 2] if device.type == "cpu" else [threads])
        for count in thread_counts:
            if count is not None:
                torch.set_num_threads(count)
            baseline = None
            for compiled, bf16, naive in itertools.product(compile_options, bf16_options, (False, True)):
                name = (f"{count} thread{'s' if count != 1 else ''}, " if device.type == "cpu" else "") + (
                    f"{'compiled' if compiled else 'eager'}, {'bf16' if bf16 else 'fp32'}, "
                    f"{'naive attention' if naive else 'SDPA'}")
                try:
                    r = time_variant(config, data, device, batch_size=cfg.batch_size, compiled=compiled,
                                     bf16=bf16, naive=naive, steps=args.steps, warmup=args.warmup)
                except Exception as error:  # noqa: BLE001 — a variant that cannot run here is reported, not fatal
                    print(f"{name:40s} failed: {type(error).__name__}: {str(error).splitlines()[0][:80]}")
                    continue
                if not compiled and not bf16 and not naive:
                    baseline = r["tokens/s"]
                mfu = f"{flops / (r['ms/step'] / 1000) / peak:6.1%}" if peak else f"{'-':>6s}"
                mem = f"{r['peak MiB']:9.0f}" if r["peak MiB"] is not None else f"{'-':>9s}"
                ratio = f"{r['tokens/s'] / baseline:19.2f}" if baseline else f"{'':19s}"
                print(f"{name:40s} {r['tokens/s']:10,.0f} {r['ms/step']:9.1f} {mem} {mfu} {ratio}", flush=True)
        if threads is not None:
            torch.set_num_threads(threads)

    steps = args.train_steps or cfg.steps
    train = TrainConfig(max_steps=steps, batch_size=cfg.batch_size, grad_accum=cfg.grad_accum,
                        learning_rate=cfg.lr, min_lr=cfg.min_lr, warmup_steps=min(cfg.warmup, steps),
                        weight_decay=cfg.weight_decay, eval_every=args.eval_every or cfg.eval_every,
                        eval_windows=cfg.eval_windows, compile=cfg.compile)
    how = "compiled" if compile_wanted(cfg.compile, device) else "eager"
    print(f"# part 2: time to a validation loss; {how}, {threads or torch.get_num_threads()} threads; {steps} steps, "
          f"lr {cfg.lr} (warm-up {train.warmup_steps}, cosine to "
          f"{cfg.min_lr}), AdamW betas ({train.beta1}, {train.beta2}), weight decay {cfg.weight_decay}, clip "
          f"{train.grad_clip}; validated every {train.eval_every} steps")
    with tempfile.TemporaryDirectory() as tmp:
        ours = timed_run(config, data, train)
        budget = ours[-1][0]
        for target in (2.0, 1.8, 1.7, 1.6, 1.5):
            hit = next((p for p in ours if p[2] <= target), None)
            print(f"ours: validation loss <= {target}: " + (f"after {hit[0]:.0f} s (step {hit[1]})" if hit
                                                             else "not reached"))
        print(f"# load average after our run: {os.getloadavg()[0]:.2f}")
        if args.nanogpt is not None:
            print(f"# nanoGPT estimates its validation loss on eval_iters random batches, we on "
                  f"{train.eval_windows} fixed windows: the same text, other windows; each run gets our wall time")
            write_nanogpt_data(args.nanogpt.resolve(), data)
            for which in args.nanogpt_runs:
                theirs = nanogpt_run(args.nanogpt.resolve(), nanogpt_arguments(which, config, train), budget,
                                     threads, device, Path(tmp) / which, which)
                print(f"# at equal wall time, nanoGPT ({which}) against our lowest validation loss evaluated by then")
                for line in at_equal_time(ours, theirs) or ["  no nanoGPT evaluation within the budget"]:
                    print(line)
                print(f"# load average after nanoGPT ({which}): {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
