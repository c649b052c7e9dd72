"""How fast does chapter 7's GPT train, and how does it compare with nanoGPT's train.py on the same budget?

Two parts, both on tiny shakespeare characters (chapter 4's split) with the model of a chapter-7 profile:

1. Throughput of one training step (forward, backward, AdamW) of ``llmcourse.gpt.GPT`` in each variant:
   eager or ``torch.compile``; float32 or bf16 autocast (bf16 on CUDA only); naive attention (PyTorch's math
   kernel for ``scaled_dot_product_attention``, which builds the whole (T, T) matrix) or SDPA's fused kernels.
   Tokens per second (median over timed steps after warm-up), peak memory (CUDA only: ``max_memory_allocated``)
   and, on a GPU whose bf16 peak is known, MFU: the FLOPs of one step, counted by ``FlopCounterMode`` over a real
   pass, times steps per second, over the device's peak.
2. Time to a validation loss: one ``train_gpt`` run with the profile's settings (compiled where the profile asks
   for it), each validation loss (on chapter 7's fixed windows) with the wall time at which it was measured and
   the load average then. With ``--nanogpt PATH`` (a checkout of karpathy/nanoGPT you provide; none of its code is
   part of this project), its ``train.py`` runs next, as a subprocess, on the same data (written from our token
   streams as its ``train.bin`` / ``val.bin``) and threads, to the end of its schedule, in the settings asked for
   (``--nanogpt-runs``; by default ours: model, batch, schedule, optimizer). It saves a checkpoint at each of its
   evaluations; each is copied as it appears, and afterwards mapped into our model (nanoGPT's weights are GPT-2's
   layout, with ``nn.Linear`` where Hugging Face has ``Conv1D``, and the exact GELU, not the tanh one) and scored on
   OUR fixed windows, so the two runs are compared on the same text: point for point at equal steps, and at equal
   wall time (ours read at each of nanoGPT's times, linearly between our evaluations). nanoGPT's own estimate (its
   ``eval_iters`` random batches) is printed beside it. The mapping is checked on the last checkpoint against
   nanoGPT's own model, run in the checkout on the same windows.

    python benchmarks/gpt_train.py --nanogpt /tmp/nanogpt --eval-every 250 > benchmarks/results/gpt_train_cpu.txt

References: Karpathy's nanoGPT (``train.py``, ``bench.py``); Chowdhery et al. (2022), PaLM, appendix B (MFU).
"""

from __future__ import annotations

import os

# Passive OpenMP waiting, set before torch starts its threads (export OMP_WAIT_POLICY to choose another): on a
# 2-core machine shared with other work, threads that spin while they wait made each step several times slower;
# passive threads do not, at the price of part of a second thread's gain on a quiet machine. nanoGPT's subprocess
# inherits the setting, so both runs wait alike.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import contextlib
import itertools
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from llmcourse.config import settings
from llmcourse.device import autocast_dtype, environment_report, synchronize
from llmcourse.gpt import (
    GPT,
    GPTConfig,
    TrainConfig,
    char_data,
    configure_optimizer,
    evaluate,
    get_batch,
    train_gpt,
    val_windows,
)
from llmcourse.gpt.hf import from_hf_state_dict
from llmcourse.gpt.train import backward_micro_batches, compile_wanted
from llmcourse.transformer import DecoderOnlyTransformer

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
    happens inside the run, at its first steps. The load average is read at each evaluation (not timed)."""
    began = time.perf_counter()
    torch.manual_seed(0)
    model = GPT(config).to(data.device)
    offset = time.perf_counter() - began
    loads = []
    result = train_gpt(model, data, train, progress=False, on_eval=lambda step: loads.append(os.getloadavg()[0]))
    points = [(offset + t, step, val) for t, step, val in zip(result.val_seconds, result.history.val_steps,
                                                               result.history.val, strict=True)]
    for (seconds, step, val), load in zip(points, loads, strict=True):
        print(f"#   ours     {seconds:7.1f} s  step {step:5d}  val {val:.4f}  (load {load:.2f})", flush=True)
    return points


# nanoGPT's train.py settings to run beside ours. "same": our model, batch, schedule and optimizer settings;
# "readme": the CPU command of nanoGPT's README (its shakespeare_char config made small: 4 x 128, context 64,
# batch 12, 2000 iterations, lr 1e-3, beta2 0.99); "wide": that command with width 192 and context 128.
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
            "--log_interval=10"]


NANOGPT_DATASET = "llmcourse_shakespeare_char"


def write_nanogpt_data(path: Path, data) -> None:
    """Our token streams as nanoGPT's dataset files (``train.bin``, ``val.bin``, ``meta.pkl``) in checkout ``path``."""
    folder = path / "data" / NANOGPT_DATASET
    folder.mkdir(parents=True, exist_ok=True)
    data.train.cpu().numpy().astype(np.uint16).tofile(folder / "train.bin")
    data.val.cpu().numpy().astype(np.uint16).tofile(folder / "val.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": data.vocab_size}, f)


_NANOGPT_LINEARS = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")


def nanogpt_to_hf_layout(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """nanoGPT's weights under Hugging Face's GPT-2 layout: the same names, its four ``nn.Linear`` projections
    (out, in) transposed to ``Conv1D``'s (in, out); a ``_orig_mod.`` prefix (a compiled model's) dropped."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("_orig_mod.")
        out[key] = value.t() if key.endswith(_NANOGPT_LINEARS) else value
    return out


def nanogpt_model(config: GPTConfig, state: dict[str, Any]) -> DecoderOnlyTransformer:
    """Our decoder-only model holding a nanoGPT checkpoint's weights, in eval mode.

    nanoGPT's MLP uses the exact GELU (``nn.GELU()``), GPT-2 and our ``GPT`` the tanh one, so the weights go into
    chapter 6's ``DecoderOnlyTransformer`` with ``approximate="none"``: the same names as ``GPT``'s, nanoGPT's
    function. Weights that do not fit ``config`` are refused by name (``from_hf_state_dict``)."""
    if not config.bias or not config.tie_embeddings:
        raise ValueError("nanoGPT's checkpoints mapped here have biases and a tied head: use bias=True, "
                         "tie_embeddings=True")
    model = DecoderOnlyTransformer(config.vocab_size, config.n_embd, config.n_head, config.n_layer,
                                   config.block_size, bias=True, tie_embeddings=True, approximate="none")
    model.load_state_dict(from_hf_state_dict(nanogpt_to_hf_layout(state), config))
    return model.eval()


def nanogpt_run(path: Path, arguments: list[str], limit: float, threads: int | None, device: torch.device,
                workdir: Path, label: str) -> tuple[list[tuple[float, int, float]], dict[int, Path]]:
    """nanoGPT's train.py on the dataset :func:`write_nanogpt_data` wrote, to the end of its schedule (killed after
    ``limit`` seconds): (seconds, step, its val loss estimate) at each of its evaluations, and a copy of the
    checkpoint it saved at each step (``always_save_checkpoint``; the copy is taken at its next line of output,
    since it prints before it saves, or when it exits)."""
    out_dir = workdir / "nanogpt"
    command = [sys.executable, "train.py", *arguments, f"--dataset={NANOGPT_DATASET}", f"--out_dir={out_dir}",
               f"--device={device.type}", "--always_save_checkpoint=True", "--wandb_log=False"]
    if device.type == "cpu":
        command.append("--dtype=float32")
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    print(f"# nanoGPT ({label}): {' '.join(command[1:])} (cwd {path})", flush=True)
    points, saved, pending = [], {}, None

    def keep(step: int) -> None:
        copy = workdir / f"ckpt_{step}.pt"
        shutil.copyfile(out_dir / "ckpt.pt", copy)
        saved[step] = copy

    began = None  # its clock starts at its first line, when Python and torch are imported (ours start imported)
    process = subprocess.Popen(command, cwd=path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if began is None:
                began = time.perf_counter()
            now = time.perf_counter() - began
            if pending is not None:  # the line after "saving checkpoint": the file is written
                keep(pending)
                pending = None
            if now > limit:
                print(f"# nanoGPT ({label}) stopped after {limit:.0f} s", flush=True)
                break
            if line.startswith("step ") and "val loss" in line:
                step = int(line.split()[1].rstrip(":"))
                val = float(line.rsplit("val loss", 1)[1].strip().rstrip(","))
                points.append((now, step, val))
                print(f"#   nanoGPT {label:6s} {now:7.1f} s  step {step:5d}  val {val:.4f} (its estimate)  "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
            elif line.startswith("saving checkpoint"):
                pending = points[-1][1]
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if pending is not None and (out_dir / "ckpt.pt").exists():
        keep(pending)
    return points, saved


def read_curve(x: float, points: list[tuple[float, float]]) -> float | None:
    """The curve through ``points`` (x, y), x increasing, at ``x``: linear between points, None outside them."""
    if not points or not points[0][0] <= x <= points[-1][0]:
        return None
    xs, ys = zip(*points, strict=True)
    return float(np.interp(x, xs, ys))


def compare_runs(ours: list[tuple[float, int, float]],
                 theirs: list[tuple[float, int, float, float]]) -> tuple[list[str], list[str]]:
    """Point for point, on the same windows: ``ours`` (seconds, step, val), ``theirs`` (seconds, step, its estimate,
    val on our windows). Returns the lines at equal steps, then at equal wall time (ours read at each of their
    times, linearly between our evaluations; none before our first evaluation or after our last)."""
    by_step = {step: (seconds, val) for seconds, step, val in ours}
    steps, times = [], []
    for seconds, step, estimate, val in theirs:
        if step not in by_step:
            continue
        our_seconds, our_val = by_step[step]
        who = "ours lower" if our_val < val else "nanoGPT lower" if val < our_val else "equal"
        steps.append(f"{step:6d} {our_seconds:8.1f} {our_val:8.4f} {seconds:8.1f} {val:8.4f} {estimate:9.4f}  {who}")
    curve = [(seconds, val) for seconds, _, val in ours]
    for seconds, step, _estimate, val in theirs:
        at = read_curve(seconds, curve)
        if at is None:
            times.append(f"{seconds:8.1f} {step:6d} {val:8.4f}   ours: no evaluation then")
            continue
        who = "ours lower" if at < val else "nanoGPT lower" if val < at else "equal"
        times.append(f"{seconds:8.1f} {step:6d} {val:8.4f} {at:8.4f}  {who}")
    return steps, times


def nanogpt_check(path: Path, checkpoint: Path, windows: Path) -> float:
    """nanoGPT's own model (its ``model.py``, run in the checkout) on ``windows`` (n, T+1): the mean loss in nats."""
    script = ("import sys, torch; from model import GPT, GPTConfig; "
              "ck = torch.load(sys.argv[1], map_location='cpu', weights_only=False); "
              "m = GPT(GPTConfig(**ck['model_args'])); "
              "m.load_state_dict({k.removeprefix('_orig_mod.'): v for k, v in ck['model'].items()}); m.eval(); "
              "w = torch.load(sys.argv[2]); "
              "print(torch.stack([m(w[i:i + 1, :-1], w[i:i + 1, 1:])[1] for i in range(len(w))]).mean().item())")
    out = subprocess.run([sys.executable, "-c", script, str(checkpoint), str(windows)], cwd=path, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


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
    parser.add_argument("--nanogpt-runs", nargs="+", choices=NANOGPT_RUNS, default=["same"],
                        help="which nanoGPT settings to run: ours (same; the only one scored on our windows), its "
                             "README's CPU command, or that widened")
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
    print(f"# load average at the start (other work on this machine): {os.getloadavg()[0]:.2f} on {os.cpu_count()} "
          f"cores; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
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
        for target in (2.0, 1.8, 1.7, 1.6, 1.5):
            hit = next((p for p in ours if p[2] <= target), None)
            print(f"ours: validation loss <= {target}: " + (f"after {hit[0]:.0f} s (step {hit[1]})" if hit
                                                             else "not reached"))
        print(f"# load average after our run: {os.getloadavg()[0]:.2f}")
        if args.nanogpt is not None:
            starts = val_windows(data.val, train.eval_windows, config.block_size)
            print(f"# nanoGPT runs to the end of its schedule; each checkpoint it saves is scored on our "
                  f"{train.eval_windows} fixed validation windows of {config.block_size} characters; its own "
                  f"estimate uses random batches")
            write_nanogpt_data(args.nanogpt.resolve(), data)
            for which in args.nanogpt_runs:
                run_dir = Path(tmp) / which
                run_dir.mkdir()
                arguments = nanogpt_arguments(which, config, train)
                points, saved = nanogpt_run(args.nanogpt.resolve(), arguments, 3 * ours[-1][0] + 120, threads,
                                            device, run_dir, which)
                print(f"# load average after nanoGPT ({which}): {os.getloadavg()[0]:.2f}", flush=True)
                if which != "same":  # another model and context: our windows do not fit it
                    continue
                scored = []
                for seconds, step, estimate in points:
                    if step in saved:
                        state = torch.load(saved[step], map_location="cpu", weights_only=False)["model"]
                        model = nanogpt_model(config, state).to(device)
                        val = evaluate(model, data.val, starts, config.block_size, data.chars_per_token).loss
                        scored.append((seconds, step, estimate, val))
                if scored:
                    last = saved[scored[-1][1]]
                    offsets = torch.arange(config.block_size + 1)
                    windows_file = run_dir / "windows.pt"
                    torch.save(data.val.cpu()[starts.cpu()[:, None] + offsets], windows_file)
                    theirs = nanogpt_check(args.nanogpt.resolve(), last, windows_file)
                    print(f"# the mapping, checked: nanoGPT's own model on our windows {theirs:.5f}, its weights in "
                          f"our model {scored[-1][3]:.5f} (step {scored[-1][1]})")
                at_steps, at_times = compare_runs(ours, scored)
                print(f"# nanoGPT ({which}) and ours at equal steps, both on our windows")
                print(f"{'step':>6s} {'ours s':>8s} {'ours':>8s} {'its s':>8s} {'nanoGPT':>8s} {'its est.':>9s}")
                for line in at_steps:
                    print(line)
                lower = sum(line.endswith("ours lower") for line in at_steps)
                print(f"# at equal steps: ours lower at {lower} of {len(at_steps)}, nanoGPT lower at "
                      f"{sum(line.endswith('nanoGPT lower') for line in at_steps)}")
                print("# at equal wall time: at each of nanoGPT's evaluations, ours read off our curve")
                print(f"{'its s':>8s} {'step':>6s} {'nanoGPT':>8s} {'ours':>8s}")
                for line in at_times:
                    print(line)
                print(f"# at equal wall time: ours lower at {sum(line.endswith('ours lower') for line in at_times)}"
                      f", nanoGPT lower at {sum(line.endswith('nanoGPT lower') for line in at_times)}, of "
                      f"{len(at_times)} (ours ended at {ours[-1][0]:.0f} s, nanoGPT at {points[-1][0]:.0f} s)")


if __name__ == "__main__":
    main()
