"""A small GPT in the GPT-2 layout, pretrained step by step (chapter 7) and sampled from (chapter 8).

    from llmcourse.gpt import GPT, GPTConfig, TrainConfig, char_data, generate, train_gpt

    data = char_data(device=device)                              # tiny shakespeare, chapter 4's split
    model = GPT(GPTConfig(vocab_size=data.vocab_size, block_size=128, n_layer=4, n_head=4, n_embd=128)).to(device)
    print(model.num_parameters(), gpt_param_count(model.config))  # counted and derived: the same number
    result = train_gpt(model, data, TrainConfig(max_steps=2000), checkpoint_path="runs/ch07.pt")
    out = generate(model, prompt_ids, max_new_tokens=200, temperature=0.8, top_k=50, generator=g)

Modules: :mod:`.config` (the sizes, GPT-2's names, the parameter-count formula), :mod:`.model` (the network and
its KV cache), :mod:`.sampling` (samplers, stop conditions, beam search, perplexity; chapter 8), :mod:`.hf`
(weights to and from Hugging Face's ``GPT2LMHeadModel``; needs ``transformers``), :mod:`.data` (character and
BPE token streams, fixed validation windows, loss per character) and :mod:`.train` (AdamW, warm-up + cosine,
accumulation, bf16, checkpoints that resume exactly).

References: Radford et al. (2019), "Language Models are Unsupervised Multitask Learners"; Karpathy's nanoGPT.
"""

from .config import GPTConfig, gpt_param_count, parameter_breakdown
from .data import EvalResult, TokenData, bpe_data, char_data, evaluate, evaluate_on_characters, get_batch, val_windows
from .model import GPT, KVCache
from .sampling import beam_search, generate, generate_text, perplexity
from .train import (
    TrainConfig,
    TrainResult,
    autocast_context,
    backward_micro_batches,
    configure_optimizer,
    lr_at,
    param_groups,
    train_gpt,
)

__all__ = [
    "GPT",
    "EvalResult",
    "KVCache",
    "GPTConfig",
    "TokenData",
    "TrainConfig",
    "TrainResult",
    "autocast_context",
    "beam_search",
    "backward_micro_batches",
    "bpe_data",
    "char_data",
    "configure_optimizer",
    "evaluate",
    "evaluate_on_characters",
    "generate",
    "generate_text",
    "get_batch",
    "gpt_param_count",
    "lr_at",
    "param_groups",
    "parameter_breakdown",
    "perplexity",
    "train_gpt",
    "val_windows",
]
