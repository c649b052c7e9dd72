"""Fine-tuning throughput: chapter 9's encoder classifier against Hugging Face's BERT of the same size, same run.

Chapter 9 fine-tunes a BERT-layout encoder (llmcourse.encoders.Encoder under llmcourse.finetune.SequenceClassifier,
[CLS] pooling) on movie-review sentences. This measures training steps per second for it and for Hugging Face's
``BertForSequenceClassification`` built from a ``BertConfig`` of the same sizes (random weights, no download): the
same batch of token ids with right padding, AdamW, cross-entropy, forward + backward + step, in float32 on the CPU.
Both models have the same layout (post-LN blocks, learned positions, one segment embedding); Hugging Face's adds a
pooler (a dense + tanh on [CLS]), so its parameter count is slightly larger. It also times LoRA (rank 8 on every
attention projection, llmcourse.finetune.add_lora) and a frozen body with only the head training, which chapter 9's
table compares by accuracy.

Each configuration is timed for --steps steps after --warmup steps, the configurations in turns, --repeats times;
the median is reported. The ratio "ours / HF" is within this one run, so it does not depend on how busy the machine
is as much as the absolute numbers do. CPU-only: no GPU result exists. The committed result was made with:

    python benchmarks/finetune.py > benchmarks/results/finetune_cpu.txt
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
import torch.nn.functional as F
from transformers import BertConfig, BertForSequenceClassification

from llmcourse.device import environment_report
from llmcourse.encoders import Encoder, EncoderConfig
from llmcourse.finetune import SequenceClassifier, add_lora, count_parameters, freeze


def build(kind: str, config: EncoderConfig) -> torch.nn.Module:
    """One classifier of the comparison, in train mode."""
    if kind == "hf":
        hf = BertConfig(vocab_size=config.vocab_size, hidden_size=config.n_embd, num_hidden_layers=config.n_layer,
                        num_attention_heads=config.n_head, intermediate_size=4 * config.n_embd,
                        max_position_embeddings=config.block_size, type_vocab_size=1, num_labels=2,
                        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
                        pad_token_id=config.pad_id, attn_implementation="sdpa")
        return BertForSequenceClassification(hf).train()
    model = SequenceClassifier(Encoder(config), config.n_embd, 2, pooling="cls")
    if kind == "lora":
        add_lora(model, r=8, alpha=16, trainable=("head",))
    elif kind == "frozen":
        freeze(model.body)
    return model.train()


def step_fn(kind: str, model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor):
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step() -> None:
        if kind == "hf":
            logits = model(input_ids=ids, attention_mask=(~mask).long()).logits
        else:
            logits = model(ids, mask)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=48, help="padded length of the batch (tokens)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if min(args.batch, args.length, args.steps, args.repeats, args.threads) < 1 or args.length < 3:
        parser.error("--batch, --steps, --repeats and --threads must be >= 1, --length >= 3")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = EncoderConfig(vocab_size=2048, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.1, pad_id=2044)
    ids = torch.randint(0, 2044, (args.batch, args.length))
    lengths = torch.randint(args.length // 2, args.length + 1, (args.batch,))
    mask = torch.arange(args.length)[None, :] >= lengths[:, None]  # (B, T) True at padding, right padding
    ids = ids.masked_fill(mask, config.pad_id)
    labels = torch.randint(0, 2, (args.batch,))

    kinds = ("ours", "hf", "lora", "frozen")
    models = {kind: build(kind, copy.deepcopy(config)) for kind in kinds}
    steps = {kind: step_fn(kind, models[kind], ids, mask, labels) for kind in kinds}
    for kind in kinds:
        for _ in range(args.warmup):
            steps[kind]()
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(args.repeats):
        for kind in kinds:  # in turns, so a busy moment of the machine hits all of them alike
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[kind]()
            seconds[kind].append((time.perf_counter() - start) / args.steps)

    print(environment_report())
    print(f"batch {args.batch} x {args.length} tokens, {args.steps} steps x {args.repeats} repeats (median), "
          f"{args.threads} threads, float32, AdamW")
    print(f"{'model':44} {'params':>10} {'trainable':>10} {'ms/step':>9} {'sentences/s':>12} {'ours/HF':>8}")
    names = {"ours": "llmcourse encoder + [CLS] head, full", "hf": "HF BertForSequenceClassification, full",
             "lora": "llmcourse, LoRA r=8 + head", "frozen": "llmcourse, frozen body, head only"}
    hf_time = statistics.median(seconds["hf"])
    for kind in kinds:
        total, trainable = count_parameters(models[kind])
        t = statistics.median(seconds[kind])
        ratio = f"{hf_time / t:.2f}x" if kind != "hf" else ""
        print(f"{names[kind]:44} {total:10,} {trainable:10,} {1000 * t:9.1f} {args.batch / t:12,.0f} {ratio:>8}")
    print("ours/HF: Hugging Face's time per step divided by this row's (above 1: this row is faster)")


if __name__ == "__main__":
    main()
