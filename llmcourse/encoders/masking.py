"""BERT's masked-language-model corruption: choose 15% of the positions, hide most of them (chapter 9).

    inputs, labels = mask_tokens(ids, tokenizer=tok, generator=g)   # ids (B, T) -> two (B, T) tensors

Each ordinary position is chosen on its own with probability ``mask_prob`` (a Bernoulli draw per position, as
Hugging Face's ``DataCollatorForLanguageModeling`` does; BERT's own code and RoBERTa's fairseq pick a count per
sequence instead, about 15% of its length). Of the chosen positions, 80% become ``[MASK]``, 10% a random
ordinary token, 10% stay as they were; the model must predict the original token at every chosen position, so it
cannot learn that only ``[MASK]`` needs predicting (at fine-tuning time there is no ``[MASK]``). ``labels``
holds the original id at the chosen positions and -100 (PyTorch's ``ignore_index``) elsewhere.

Special tokens (``[CLS]``, ``[SEP]``, ``[PAD]``, ``[MASK]``) are never chosen, so padding is never touched, and the
random replacements are drawn from the ordinary ids only. A row may end up with no chosen position (likely only
for very short rows: 0.85^T); it then adds nothing to the loss, which is averaged over the chosen positions of
the whole batch. Every random number comes from ``generator``, drawn on its device: the same generator state
gives the same corruption on any device.

What it leaves out: whole-word masking and span masking (SpanBERT) — whole-word masking is an exercise.

References: Devlin et al. (2019), "BERT", section 3.1 and appendix C.2 (the 80/10/10 ablation).
"""

from __future__ import annotations

import torch

from llmcourse.tokenizers import BPETokenizer

from .tokenizer import special_ids

IGNORE_INDEX = -100


def mask_tokens(ids: torch.Tensor, *, tokenizer: BPETokenizer, generator: torch.Generator,
                mask_prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) for masked LM from ``ids`` (B, T): BERT's 15% chosen, of them 80/10/10."""
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.dim() != 2:
        raise ValueError(f"ids must be a LongTensor of shape (B, T), got {getattr(ids, 'dtype', type(ids))} "
                         f"{tuple(getattr(ids, 'shape', ()))}")
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must be in (0, 1), got {mask_prob}")
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (the masks are drawn from it)")
    specials = special_ids(tokenizer)
    vocab_size = tokenizer.vocab_size
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}) (the tokenizer's vocabulary), got "
                         f"[{int(ids.min())}, {int(ids.max())}]")
    special = torch.tensor(sorted(specials.values()), device=ids.device)
    ordinary_ids = torch.tensor([i for i in range(vocab_size) if i not in specials.values()], device=ids.device)

    def uniform() -> torch.Tensor:  # drawn on the generator's device, then moved: one stream per generator
        return torch.rand(ids.shape, generator=generator, device=generator.device).to(ids.device)

    ordinary = ~torch.isin(ids, special)  # (B, T): positions that may be chosen
    chosen = (uniform() < mask_prob) & ordinary  # (B, T)
    action = uniform()  # (B, T): < 0.8 -> [MASK], 0.8..0.9 -> random token, >= 0.9 -> kept
    picks = torch.randint(len(ordinary_ids), ids.shape, generator=generator, device=generator.device).to(ids.device)
    inputs = ids.clone()
    inputs[chosen & (action < 0.8)] = specials["[MASK]"]
    randomised = chosen & (action >= 0.8) & (action < 0.9)
    inputs[randomised] = ordinary_ids[picks[randomised]]
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    return inputs, labels
