"""A BERT-style encoder pretrained with masked language modelling, built from chapter 6's blocks (chapter 9).

    from llmcourse.encoders import (EncoderConfig, MaskedLM, MLMSettings, corpus_ids, encode_batch, fill_mask,
                                    pretrain_mlm_cached, train_encoder_tokenizer, wiki_text)

    text = wiki_text(2_000_000)                                   # Wikipedia in text8's format
    tok = train_encoder_tokenizer(text, vocab_size=4096)          # BPE + [PAD] [CLS] [SEP] [MASK]
    model = MaskedLM(EncoderConfig(tok.vocab_size, block_size=64, pad_id=tok.special_tokens["[PAD]"]))
    result = pretrain_mlm_cached(model, corpus_ids(tok, text), tokenizer=tok, settings=MLMSettings(steps=2000),
                                 generator=torch.Generator().manual_seed(0), cache_dir="runs/ch09")
    hidden = model.encoder(*encode_batch(tok, ["a gripping film ."], max_len=64))   # (1, T, C)

Modules, read in order: :mod:`.tokenizer` (the subword tokenizer, batches with padding), :mod:`.masking` (BERT's
15% / 80-10-10 corruption), :mod:`.model` (embeddings, post-LN encoder blocks, the tied MLM head),
:mod:`.pretrain` (the training loop, its verified cache, fill-in-the-blank) and :mod:`.hf` (weights to and from
Hugging Face's ``BertForMaskedLM``; needs ``transformers``).

Reference: Devlin, Chang, Lee & Toutanova (2019), "BERT: Pre-training of Deep Bidirectional Transformers for
Language Understanding", NAACL.
"""

from .hf import from_hf_config, load_hf_bert, to_hf_bert, to_hf_config
from .masking import IGNORE_INDEX, mask_tokens
from .model import Encoder, EncoderConfig, MaskedLM, init_bert_
from .pretrain import (
    MLMSettings,
    PretrainResult,
    corpus_ids,
    fill_mask,
    pretrain_mlm,
    pretrain_mlm_cached,
    run_key,
)
from .tokenizer import SPECIAL_TOKENS, encode_batch, normalize, special_ids, train_encoder_tokenizer, wiki_text

__all__ = [
    "IGNORE_INDEX",
    "SPECIAL_TOKENS",
    "Encoder",
    "EncoderConfig",
    "MLMSettings",
    "MaskedLM",
    "PretrainResult",
    "corpus_ids",
    "encode_batch",
    "fill_mask",
    "from_hf_config",
    "init_bert_",
    "load_hf_bert",
    "mask_tokens",
    "normalize",
    "pretrain_mlm",
    "pretrain_mlm_cached",
    "run_key",
    "special_ids",
    "to_hf_bert",
    "to_hf_config",
    "train_encoder_tokenizer",
    "wiki_text",
]
