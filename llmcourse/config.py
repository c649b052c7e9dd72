"""Profiles: one switch that scales every chapter.

A profile names a size for the whole course:

- ``ci``: tiny; every notebook runs in seconds to a minute on two CPU cores (used by the tests).
- ``laptop``: the default without a GPU; meaningful results in minutes on a CPU.
- ``gpu``: the default on CUDA; full size.

Pick one with the environment variable ``LLMCOURSE_PROFILE``; otherwise ``gpu`` is chosen when CUDA
is available and ``laptop`` when not. Each chapter reads its sizes (steps, widths, corpus slices)
from :data:`CHAPTER_SETTINGS` through :func:`settings`, so the table below is the one place that
says how big the course is in each profile.
"""

from __future__ import annotations

import os
from typing import Any

PROFILES = ("ci", "laptop", "gpu")
ENV_VAR = "LLMCOURSE_PROFILE"

# Per chapter, per profile: the sizes the chapter's notebook uses. Keys are read as attributes.
CHAPTER_SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "ch01": {
        # n_points / n_val: spiral points to train on / to validate on; hidden: MLP width;
        # steps: full-batch optimizer steps; lr: Adam's learning rate; sgd_lr: plain SGD's, for the
        # comparison; matmul_size: side of the square matrices timed on CPU vs GPU;
        # min_train_acc / min_val_acc: the accuracy the notebook asserts (seen: ci ~0.99 / ~0.96,
        # laptop ~0.99 / ~0.98 over several seeds), with slack for other machines.
        "ci": dict(n_points=400, n_val=400, hidden=32, steps=300, lr=0.01, sgd_lr=0.5, matmul_size=256,
                   min_train_acc=0.90, min_val_acc=0.85),
        "laptop": dict(n_points=2000, n_val=1000, hidden=64, steps=2000, lr=0.01, sgd_lr=0.5,
                       matmul_size=1024, min_train_acc=0.97, min_val_acc=0.95),
        "gpu": dict(n_points=20000, n_val=5000, hidden=128, steps=4000, lr=0.01, sgd_lr=0.5,
                    matmul_size=4096, min_train_acc=0.97, min_val_acc=0.96),
    },
    "ch02": {
        # train_chars: characters of tiny shakespeare's first 90% the BPE tokenizers train on (the last
        # 10% is always held out); vocab_size: the chapter's main BPE tokenizer; sweep: vocabulary sizes
        # of the compression plot; naive_chars / naive_merges: the slice and merges on which the naive
        # and the fast trainer race (the naive one re-counts everything every merge, so keep it small);
        # min_bytes_per_token: the held-out compression the notebook asserts for the main tokenizer
        # (seen: ci 1.78, laptop 2.26; HF tokenizers gets the same to 4 decimals, benchmarks/bpe.py).
        "ci": dict(train_chars=100_000, vocab_size=512, sweep=[256, 320, 512, 768], naive_chars=20_000,
                   naive_merges=40, min_bytes_per_token=1.7),
        "laptop": dict(train_chars=1_003_854, vocab_size=1024, sweep=[256, 512, 1024, 2048, 4096],
                       naive_chars=100_000, naive_merges=100, min_bytes_per_token=2.2),
        "gpu": dict(train_chars=1_003_854, vocab_size=1024, sweep=[256, 512, 1024, 2048, 4096, 8192],
                    naive_chars=200_000, naive_merges=200, min_bytes_per_token=2.2),
    },
}


class Settings(dict):
    """A chapter's sizes for one profile; read them as attributes (``cfg.steps``)."""

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"no setting {key!r}; this chapter has: {', '.join(self)}") from None


def active_profile() -> str:
    """The profile in force: ``LLMCOURSE_PROFILE`` if set, else ``gpu`` with CUDA, else ``laptop``."""
    chosen = os.environ.get(ENV_VAR, "").strip().lower()
    if chosen:
        if chosen not in PROFILES:
            raise ValueError(
                f"{ENV_VAR}={chosen!r} is not a profile; choose one of {', '.join(PROFILES)} "
                f"(or unset it to pick automatically)."
            )
        return chosen
    import torch

    return "gpu" if torch.cuda.is_available() else "laptop"


def settings(chapter: str, profile: str | None = None) -> Settings:
    """The sizes chapter ``chapter`` (e.g. ``"ch01"``) uses in ``profile`` (default: the active one)."""
    if chapter not in CHAPTER_SETTINGS:
        raise KeyError(f"no settings for {chapter!r}; known chapters: {', '.join(CHAPTER_SETTINGS)}")
    profile = profile or active_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    return Settings(profile=profile, **CHAPTER_SETTINGS[chapter][profile])
