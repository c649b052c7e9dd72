"""The staged climb from a bigram to a GPT on tiny shakespeare, one part at a time, at one budget (chapter 6).

    bigram (counts) -> one attention head -> multi-head -> + feed-forward -> + residuals and layer norm
                    -> + dropout                                     [-> chapter 7's GPT, at its own size]

After Karpathy's lecture "Let's build GPT: from scratch, in code, spelled out" (2023), which adds the parts to a
bigram model one by one and watches the loss fall. Every stage but the bigram is a
:class:`~llmcourse.transformer.DecoderOnlyTransformer` (chapter 5's embeddings and attention, chapter 6's
blocks) with some of its parts switched off, GPT-2's initialisation and tanh GELU; the last two stages are
therefore chapter 7's GPT, at the climb's smaller size. :data:`ABLATIONS` take one part at a time out of the
full stage instead, on the same budget.

One recipe for every trained row (:func:`train_stage`): the same steps, batch, context, seed and batches,
AdamW with warm-up and cosine decay and clipping (chapter 7's :func:`~llmcourse.gpt.train_gpt`, which chapter 7
writes out step by step), on chapter 4's characters and split (:func:`~llmcourse.gpt.char_data`), scored in
nats per character on chapter 7's fixed validation windows (its ``block_size`` and ``eval_windows`` for the
profile). The bigram is chapter 4's count model (:class:`~llmcourse.rnn.BigramModel`), counted on the same
training characters. Each row also records its loss on fixed windows of the *training* text (in eval mode,
so dropout is off: the gap to validation is overfitting, not dropout's noise), its parameters, the tokens it
read, its wall time, and a sample from a plain multinomial loop (:func:`sample_ids`; chapter 8 teaches
sampling).

Chapter 7 shows the whole table: :func:`climb_results` loads this chapter's rows from the course cache
(``cache_dir()/ch06/climb_<profile>.pt``, written atomically with its sha256 by
:func:`llmcourse.training.save_verified`), keyed by every setting and the data's size, or trains them when the
file is absent, damaged or stale, and stores them:

    from llmcourse.transformer.climb import climb_results
    result = climb_results("laptop")                    # ClimbResult: .settings, .rows (StageResult each)
    for row in result.rows:
        print(row.name, row.params, row.tokens, row.seconds, row.val, row.sample[:60])

What it leaves out: learning-rate tuning per stage (one recipe for all is the point), several seeds per row,
and the full-size GPT (chapter 7's row).

References: Karpathy (2023), "Let's build GPT"; Radford et al. (2019) for GPT-2's initialisation; for dropout's
placement, Vaswani et al. (2017, section 5.4: on each sublayer's output and on the embeddings' sum) and GPT
(Radford et al., 2018: residual, embedding and attention dropout); Srivastava et al. (2014) for dropout.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.config import settings
from llmcourse.data import cache_dir
from llmcourse.device import seed_everything
from llmcourse.gpt.data import TokenData, char_data, evaluate, val_windows
from llmcourse.gpt.model import GPT
from llmcourse.gpt.train import TrainConfig, train_gpt
from llmcourse.rnn import BigramModel
from llmcourse.training import CheckpointError, read_verified, save_verified

from .counting import count_parameters
from .depth import xavier_init_
from .seq2seq import DecoderOnlyTransformer

FORMAT = 1  # bump when what is stored changes

# name -> what the stage is; each row adds one thing to the row above it
STAGES: dict[str, str] = {
    "bigram": "chapter 4's counts: the next character from the last one",
    "one head": "embeddings, one causal attention head (C wide), a linear head",
    "multi-head": "the same, split into n_head heads (no new weights)",
    "+ feed-forward": "one block: multi-head attention, then the FFN (no residual, no norm)",
    "+ residuals and layer norm": "n_layer pre-LN blocks: residuals, layer norms, a final norm (GPT's layout)",
    "+ dropout": "the same with dropout on embeddings, attention weights and residual branches",
}
# name -> what is taken out of the full stage ("+ residuals and layer norm"), on the same budget
ABLATIONS: dict[str, str] = {
    "no residuals": "x <- f(LN(x)) in every sublayer",
    "no layer norm": "x <- x + f(x), and no final norm",
    "no feed-forward": "attention-only blocks",
}
FULL = "+ residuals and layer norm"


@dataclass(frozen=True)
class StageConfig:
    """One model of the climb: its sizes and which parts it has. ``train_gpt`` reads ``block_size`` from it."""

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    residual: bool = True
    norm: str = "layer"  # "layer" or "none"
    ffn: bool = True
    norm_first: bool = True  # False: post-LN (the warm-up experiment of chapter 6)
    init: str = "gpt2"  # "gpt2" (GPT-2's, as chapter 7) or "xavier" (Xiong et al.'s analysis)

    def __post_init__(self) -> None:
        if self.init not in ("gpt2", "xavier"):
            raise ValueError(f"init must be 'gpt2' or 'xavier', got {self.init!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class StageModel(DecoderOnlyTransformer):
    """A :class:`DecoderOnlyTransformer` built from a :class:`StageConfig`, with GPT-2's tanh GELU and init.

    With every part on, no dropout and ``init="gpt2"``, it is chapter 7's ``GPT`` with the same sizes, weight
    for weight under the same seed (the tests check it).
    """

    def __init__(self, config: StageConfig) -> None:
        super().__init__(config.vocab_size, config.n_embd, config.n_head, config.n_layer, config.block_size,
                         dropout=config.dropout, norm_first=config.norm_first, approximate="tanh",
                         residual=config.residual, norm=config.norm, ffn=config.ffn)
        self.config = config
        if config.init == "gpt2":
            self.reset_parameters()
        else:
            xavier_init_(self)

    reset_parameters = GPT.reset_parameters  # GPT-2's initialisation: one implementation, chapter 7's


@dataclass(frozen=True)
class ClimbSettings:
    """The climb's recipe and sizes for one profile (chapter 6's ``climb_*`` settings, chapter 7's windows)."""

    profile: str
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float  # of the "+ dropout" stage
    steps: int
    batch_size: int
    lr: float
    min_lr: float
    warmup: int
    weight_decay: float
    eval_every: int
    block_size: int  # chapter 7's, for the profile: the context trained on and the validation windows
    eval_windows: int  # chapter 7's fixed validation windows
    sample_chars: int
    temperature: float
    seed: int = 0

    def tokens_per_row(self) -> int:
        return self.steps * self.batch_size * self.block_size


def climb_settings(profile: str) -> ClimbSettings:
    """The settings of ``profile``: chapter 6's ``climb_*`` entries and chapter 7's ``block_size`` and windows."""
    mine, ch07 = settings("ch06", profile), settings("ch07", profile)
    return ClimbSettings(profile=profile, n_layer=mine.climb_n_layer, n_head=mine.climb_n_head,
                         n_embd=mine.climb_n_embd, dropout=mine.climb_dropout, steps=mine.climb_steps,
                         batch_size=mine.climb_batch_size, lr=mine.climb_lr, min_lr=mine.climb_min_lr,
                         warmup=mine.climb_warmup, weight_decay=mine.climb_weight_decay,
                         eval_every=mine.climb_eval_every, block_size=ch07.block_size,
                         eval_windows=ch07.eval_windows, sample_chars=mine.climb_sample_chars,
                         temperature=mine.climb_temperature)


def stage_config(name: str, vocab_size: int, s: ClimbSettings) -> StageConfig:
    """The :class:`StageConfig` of stage or ablation ``name`` (not the bigram, which is counted)."""
    one = dict(n_layer=1, residual=False, norm="none")
    parts = {
        "one head": dict(one, n_head=1, ffn=False),
        "multi-head": dict(one, ffn=False),
        "+ feed-forward": dict(one),
        FULL: {},
        "+ dropout": dict(dropout=s.dropout),
        "no residuals": dict(residual=False),
        "no layer norm": dict(norm="none"),
        "no feed-forward": dict(ffn=False),
    }
    if name not in parts:
        raise ValueError(f"name must be one of {', '.join(parts)} (or 'bigram', which is counted), got {name!r}")
    base = dict(vocab_size=vocab_size, block_size=s.block_size, n_layer=s.n_layer, n_head=s.n_head,
                n_embd=s.n_embd)
    return StageConfig(**{**base, **parts[name]})


def build_stage(name: str, vocab_size: int, s: ClimbSettings) -> nn.Module:
    """Stage or ablation ``name`` untrained, drawn from seed ``s.seed`` (the bigram: an empty count table)."""
    if name == "bigram":
        return BigramModel(vocab_size)
    config = stage_config(name, vocab_size, s)
    seed_everything(s.seed)  # every stage from the same seed, as chapter 4 does for its models
    return StageModel(config)


@torch.no_grad()
def sample_ids(model: nn.Module, prompt_ids: list[int], n_new: int, block_size: int, *,
               temperature: float = 1.0, seed: int = 0) -> list[int]:
    """Continue ``prompt_ids`` by ``n_new`` ids drawn one at a time from softmax(logits / temperature).

    The plainest sampling loop: read the last ``block_size`` ids, take the last position's logits, draw with a
    seeded CPU generator, append. Chapter 8 teaches the rest (top-k, top-p, a KV cache).
    """
    if not prompt_ids:
        raise ValueError("prompt_ids needs at least one id (e.g. the id of '\\n')")
    if n_new < 0 or block_size < 1 or temperature <= 0:
        raise ValueError(f"need n_new >= 0, block_size >= 1 and temperature > 0, got {n_new}, {block_size}, "
                         f"{temperature}")
    device = next(iter(model.buffers() if isinstance(model, BigramModel) else model.parameters())).device
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    ids = list(prompt_ids)
    for _ in range(n_new):
        context = torch.tensor([ids[-block_size:]], device=device)  # (1, t)
        logits = model(context)[0, -1].float().cpu()  # (V,)
        ids.append(int(torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=generator)))
    model.train(was_training)
    return ids


@dataclass
class StageResult:
    """One row of the climb: what the model is, what it cost, how well it predicts, and what it writes."""

    name: str
    description: str
    params: int  # distinct parameters (the bigram: its V x V table of counted probabilities)
    tokens: int  # training tokens read (the bigram: the training characters it counted)
    seconds: float  # wall time of its training (or counting), on the machine that ran it
    val: float  # nats per character on chapter 7's fixed validation windows
    train: float  # nats per character on as many fixed windows of the training text, in eval mode
    sample: str  # sample_chars characters after a line break
    val_steps: list[int] = field(default_factory=list)  # the validation curve: steps ...
    val_curve: list[float] = field(default_factory=list)  # ... its nats per character ...
    val_seconds: list[float] = field(default_factory=list)  # ... and the wall time into training of each
    note: str = ""  # what went wrong, if anything ("diverged at step 12")


@dataclass
class ClimbResult:
    """The rows of a climb and the settings they were made with; ``models``: the trained models, when this
    process trained them (a climb read from the cache has none)."""

    settings: ClimbSettings
    rows: list[StageResult]
    models: dict[str, nn.Module] = field(default_factory=dict, repr=False)

    def row(self, name: str) -> StageResult:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; the rows are {', '.join(r.name for r in self.rows)}")


def _loss_per_char(model: nn.Module, ids: torch.Tensor, data: TokenData, s: ClimbSettings) -> float:
    """Nats per character on ``eval_windows`` evenly spread windows of ``ids``, in eval mode."""
    was_training = model.training
    model.eval()
    starts = val_windows(ids, s.eval_windows, s.block_size)
    result = evaluate(model, ids, starts, s.block_size, data.chars_per_token.to(ids.device))
    model.train(was_training)
    return result.loss_per_char


def train_config(s: ClimbSettings) -> TrainConfig:
    """The one recipe of ``s``: ``train_gpt``'s AdamW with decay on matrices, warm-up then cosine, clipping at 1."""
    return TrainConfig(max_steps=s.steps, batch_size=s.batch_size, learning_rate=s.lr, min_lr=s.min_lr,
                       weight_decay=s.weight_decay, warmup_steps=s.warmup, eval_every=s.eval_every,
                       eval_windows=s.eval_windows, seed=s.seed, log_every=max(1, min(50, s.steps)))


def train_stage(name: str, model: nn.Module, data: TokenData, s: ClimbSettings, *,
                progress: bool = False) -> StageResult:
    """Train (or, for the bigram, count) ``model`` with the recipe of ``s`` and measure its row.

    The data must live on the model's device; ``name`` labels the row (a stage, an ablation or your own). A run
    whose loss stops being finite is a row too: its losses are NaN and its ``note`` says at which step.
    """
    description = STAGES.get(name) or ABLATIONS.get(name, "")
    began = time.perf_counter()
    if isinstance(model, BigramModel):
        model.fit(data.train).to(data.train.device)
        seconds, tokens, params = time.perf_counter() - began, len(data.train), model.table_size
        val_steps, val_curve, val_seconds = [], [], []
    else:
        tokens, params = s.tokens_per_row(), count_parameters(model)
        try:
            run = train_gpt(model, data, train_config(s), progress=progress)
        except FloatingPointError as error:  # a row that diverged is a result, not a crash
            nan = float("nan")
            return StageResult(name, description, params, tokens, time.perf_counter() - began, nan, nan, "",
                               note=f"diverged: {error}")
        seconds = time.perf_counter() - began
        val_steps, val_curve, val_seconds = run.history.val_steps, run.val_per_char, run.val_seconds
    prompt = data.tokenizer.encode("\n")
    sample = sample_ids(model, prompt, s.sample_chars, s.block_size, temperature=s.temperature, seed=s.seed)
    return StageResult(name, description, params, tokens, seconds,
                       val=_loss_per_char(model, data.val, data, s), train=_loss_per_char(model, data.train, data, s),
                       sample=data.tokenizer.decode(sample[len(prompt):]), val_steps=list(val_steps),
                       val_curve=list(val_curve), val_seconds=list(val_seconds))


def run_stages(names: list[str] | tuple[str, ...], data: TokenData, s: ClimbSettings, *,
               progress: bool = False, report: bool = False) -> ClimbResult:
    """Build and train each of ``names`` (stages or ablations) on ``data``'s device; ``report`` prints each row."""
    device = data.train.device
    result = ClimbResult(s, [])
    for name in names:
        model = result.models[name] = build_stage(name, data.vocab_size, s).to(device)
        result.rows.append(train_stage(name, model, data, s, progress=progress))
        if report:
            r = result.rows[-1]
            print(f"{name:28s} {r.params:9,d} parameters {r.tokens:11,d} tokens {r.seconds:6.1f} s   "
                  f"val {r.val:.4f}  train {r.train:.4f} nats/char {r.note}", flush=True)
    return result


# --- the cache that chapter 7 reads -------------------------------------------------------------------------


def climb_path(profile: str) -> Path:
    """Where chapter 6 stores its climb of ``profile``: ``cache_dir()/ch06/climb_<profile>.pt``."""
    return cache_dir() / "ch06" / f"climb_{profile}.pt"


def _key(s: ClimbSettings, data: TokenData, names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Everything a stored climb must match to be reused: the format, the settings, the stages, the data's size."""
    return {"format": FORMAT, "settings": asdict(s), "stages": list(names),
            "data": [data.name, data.vocab_size, len(data.train), len(data.val)]}


def save_climb(path: str | Path, result: ClimbResult, data: TokenData) -> None:
    """Store ``result``'s rows (plain numbers and strings, no weights) under its settings' key, atomically."""
    names = [r.name for r in result.rows]
    save_verified(path, {"key": _key(result.settings, data, names), "rows": [asdict(r) for r in result.rows]})


def load_climb(path: str | Path, s: ClimbSettings, data: TokenData,
               names: list[str] | tuple[str, ...] = tuple(STAGES)) -> ClimbResult | None:
    """The climb stored at ``path`` if it was made with exactly these settings, stages and data; else None
    (absent), or None with a warning that says why (damaged, or made with other settings: stale)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        stored = read_verified(path)
        if stored.get("key") != _key(s, data, names):
            raise CheckpointError(f"{path} holds a climb made with other settings or data than these (stale)")
        rows = [StageResult(**row) for row in stored["rows"]]
    except (CheckpointError, KeyError, TypeError, AttributeError) as error:
        warnings.warn(f"not using the stored climb: {error}", stacklevel=2)
        return None
    return ClimbResult(s, rows)


def climb_results(profile: str, device: torch.device | str = "cpu", *, data: TokenData | None = None,
                  progress: bool = False, report: bool = False) -> ClimbResult:
    """Chapter 6's climb in ``profile``: from the cache when a file with these exact settings is there, else
    trained now (all of :data:`STAGES`, one recipe) and stored for next time.

    ``data`` defaults to ``char_data(device=device)`` (chapter 4's characters and split); ``report`` prints each
    row as it is trained. The rows' ``seconds`` are those of the run that trained them, on its machine.
    """
    s = climb_settings(profile)
    data = char_data(device=device) if data is None else data
    path = climb_path(profile)
    stored = load_climb(path, s, data)
    if stored is not None:
        return stored
    result = run_stages(tuple(STAGES), data, s, progress=progress, report=report)
    save_climb(path, result, data)
    return result


def with_train_slice(data: TokenData, n_chars: int) -> TokenData:
    """``data`` with only its first ``n_chars`` training characters (the same tokenizer and validation text):
    a small training set, on which a model overfits within the climb's budget."""
    if not 1 <= n_chars <= len(data.train):
        raise ValueError(f"n_chars must be in [1, {len(data.train)}], got {n_chars}")
    return dataclasses.replace(data, train=data.train[:n_chars], name=f"{data.name}, first {n_chars:,} train")
