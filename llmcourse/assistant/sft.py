"""Supervised fine-tuning on the assistant's tokens, replies that stop at ``<|end|>``, and scoring tasks (chapter 10).

    x, y = sft_batch(examples, tok, block_size)        # (B, T) each; y is IGNORE_INDEX except on the answers
    history = train_sft(model, TaskMixture(all_tasks()), tokenizer=tok, steps=300, batch_size=32, lr=3e-4,
                        generator=g, pretrain_ids=data.train, mix=0.25)
    reply(model, tok, [("user", "What is 23+58?")], max_new_tokens=16)          # '81', if it learned
    for piece in stream_reply(model, tok, conversation, max_new_tokens=64): ... # the chat widget's text
    evaluate_tasks(model, tok, all_tasks("test"), n=50, generator=g)            # {"arithmetic": 0.4, ...}

Supervised fine-tuning is pretraining's loss on other data: the same next-token cross-entropy, on rendered
conversations (:meth:`~llmcourse.assistant.chat.ChatTokenizer.render`), counted only where the target is one of
the assistant's tokens. Each row is shifted by one as in chapter 4 (input t predicts token t + 1) and every target
outside the loss mask is ``IGNORE_INDEX`` (-100), which ``F.cross_entropy`` skips, as chapter 9's masked LM does.
Rows are padded on the right to the batch's longest (a causal model's real positions never read the padding
after them); a conversation longer than ``block_size + 1`` ids is refused rather than cut, since a cut would
train on an answer that never ends.

``mix`` > 0 replaces that share of each batch's rows (rounded) by windows of the pretraining text of the full
``block_size``, with every position trained: InstructGPT adds such a pretraining term to its RL stage ("PPO-ptx");
here it is applied to SFT. The windows go through the model in a pass of their own, at full width, so the model
keeps rehearsing whole contexts, while the conversations' rows stay at their own width (padding them to the
windows' width would change no loss and no gradient, and cost a forward pass over the padding). Without the mix a
small model forgets the plays quickly (measure it with :func:`llmcourse.gpt.perplexity` on ``data.val``). The two
parts are averaged apart and weighed by their share of the rows (``pretrain_weight`` sets another weight): a mean
over all targets would let a pretraining row, trained at every position, outweigh dozens of answers of a few
characters, and the model would hardly learn the answers (a window of 128 characters has more targets than ten
answers of ten). :class:`SFTHistory` records the two parts apart.

A reply is chapter 8's sampling loop (the one :func:`llmcourse.gpt.generate` runs, with its KV cache) from
``prompt_ids`` (the conversation, then ``<|assistant|>``) until ``<|end|>``: :func:`stream_reply` yields its
characters one at a time, for the chat widget and the command line, and :func:`reply` joins them. Generation
stops at any special token: a model that starts writing the user's next turn is cut there.

A base model knows no special tokens, so it is asked in plain text instead (:func:`few_shot_prompt`), in the
plays' own ``NAME:`` format with k solved examples before the question (Brown et al. 2020); an answer ends at its
line's end. :func:`evaluate_tasks` scores greedy answers either way with each task's strict check.

What it leaves out: packing several conversations into one row, LoRA fine-tuning (chapter 9's ``add_lora`` applies
as it is), batched generation for evaluation.

References: Ouyang et al. (2022), InstructGPT (SFT, and the pretraining mix "PPO-ptx"); Wei et al. (2022), FLAN,
"Finetuned Language Models Are Zero-Shot Learners"; Brown et al. (2020), GPT-3 (few-shot prompting); Karpathy's
nanochat ``scripts/chat_sft.py`` and ``engine.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from llmcourse.device import grad_scaler
from llmcourse.encoders import IGNORE_INDEX
from llmcourse.gpt import autocast_context, generate_text, get_batch, lr_at, param_groups
from llmcourse.gpt.sampling import _int_at_least, _sampled_ids, check_settings
from llmcourse.tokenizers import Tokenizer

from .chat import SPECIAL_TOKENS, ChatTokenizer, Conversation, check_conversation
from .tasks import MAX_TOKENS, Example, ExampleSource, Task, TaskMixture


def _conversation(example: Example | Conversation) -> Conversation:
    return example.conversation if isinstance(example, Example) else example


def _check_vocab(model: nn.Module, tokenizer: Tokenizer) -> None:
    """The model's output ids must be the tokenizer's: a base model is grown first (``grow_vocab``)."""
    vocab = getattr(getattr(model, "config", None), "vocab_size", None) or getattr(model, "vocab_size", None)
    if vocab != tokenizer.vocab_size:
        raise ValueError(
            f"the model has {vocab} token ids, the tokenizer {tokenizer.vocab_size}: give the model "
            f"the chat tokenizer's ids with grow_vocab(model, tokenizer.vocab_size)"
        )


# --- batches ------------------------------------------------------------------------------------------------------


def sft_batch(
    examples: Sequence[Example | Conversation],
    tokenizer: ChatTokenizer,
    block_size: int,
    *,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs x and targets y, (B, T) int64 each: T the longest row, y[t] the token after x[t] where it is the
    assistant's (its text or its closing ``<|end|>``), ``IGNORE_INDEX`` everywhere else.

    ``[("user", "hi"), ("assistant", "yo")]`` renders to ``<|user|> h i <|end|> <|assistant|> y o <|end|>`` and
    gives x = ``<|user|> h i <|end|> <|assistant|> y o``, y = ``. . . . y o <|end|>`` (``.`` = ignored). Shorter
    rows are padded on the right, x with ``<|end|>`` (never read by a real position) and y with ``IGNORE_INDEX``.
    """
    if not isinstance(tokenizer, ChatTokenizer):
        raise TypeError(f"tokenizer must be a ChatTokenizer, got {type(tokenizer).__name__}")
    block_size = _int_at_least(block_size, "block_size", 1)
    if isinstance(examples, (str, Example)) or not isinstance(examples, Sequence) or not examples:
        raise ValueError("examples must be a non-empty list of Examples or conversations")
    rows = []
    for i, example in enumerate(examples):
        ids, mask = tokenizer.render(_conversation(example))  # (L,) each
        if len(ids) - 1 > block_size:
            raise ValueError(
                f"examples[{i}] renders to {len(ids)} ids; a row holds block_size + 1 = {block_size + 1} "
                f"(inputs and the shifted targets): shorten it or leave it out"
            )
        if not mask.any():
            raise ValueError(f"examples[{i}] has no assistant turn: there is nothing to train on")
        rows.append((ids[:-1], torch.where(mask[1:], ids[1:], IGNORE_INDEX)))  # target t is the token after input t
    width = max(len(x) for x, _ in rows)
    x = torch.full((len(rows), width), tokenizer.end_id, dtype=torch.long)  # (B, T)
    y = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)  # (B, T)
    for i, (xi, yi) in enumerate(rows):
        x[i, : len(xi)], y[i, : len(yi)] = xi, yi
    return x.to(device), y.to(device)


# --- training -----------------------------------------------------------------------------------------------------


@dataclass
class SFTHistory:
    """Losses per step, in nats per trained target."""

    loss: list[float] = field(default_factory=list)  # what was minimised (with a mix: the weighted sum of the two)
    sft_loss: list[float] = field(default_factory=list)  # over the assistant's tokens only
    pretrain_loss: list[float] = field(default_factory=list)  # over the pretraining rows only (empty when mix=0)


def _source(train_examples: object) -> ExampleSource | Sequence[Example | Conversation]:
    """A task or mixture as it is, a list of tasks as their equal mixture, a list of examples or conversations."""
    if isinstance(train_examples, ExampleSource):
        return train_examples
    if not isinstance(train_examples, Sequence) or isinstance(train_examples, (str, bytes)) or not train_examples:
        raise ValueError(
            "train_examples must be a task, a mixture, a non-empty list of tasks or a non-empty list of examples or "
            f"conversations, got {type(train_examples).__name__}"
        )
    if all(isinstance(t, Task) for t in train_examples):
        return TaskMixture(train_examples)  # all_tasks("train"): each task equally often
    for i, item in enumerate(train_examples):
        if isinstance(item, ExampleSource):
            raise TypeError(
                f"train_examples[{i}] is a task ({type(item).__name__}) among examples: give a list of tasks only, "
                "or a list of examples and conversations only"
            )
        if not isinstance(item, Example):
            check_conversation(item, name=f"train_examples[{i}]")
    return train_examples


def _draw(
    source: ExampleSource | Sequence[Example | Conversation], n: int, generator: torch.Generator
) -> list[Example | Conversation]:
    if isinstance(source, ExampleSource):
        return source.draw(n, generator)
    picks = torch.randint(len(source), (n,), generator=generator, device=generator.device)  # (n,)
    return [source[i] for i in picks.tolist()]


def train_sft(
    model: nn.Module,
    train_examples: ExampleSource | Sequence[Example | Conversation],
    *,
    tokenizer: ChatTokenizer,
    steps: int,
    batch_size: int,
    lr: float,
    generator: torch.Generator,
    pretrain_ids: torch.Tensor | None = None,
    mix: float = 0.0,
    pretrain_weight: float | None = None,
    weight_decay: float = 0.0,
    grad_clip: float | None = 1.0,
    progress: bool = True,
) -> SFTHistory:
    """Fine-tune ``model`` in place on the assistant's tokens for ``steps`` AdamW steps; the losses per step.

    ``train_examples`` is a task, a mixture or a list of tasks (their equal mixture: fresh examples every step), or
    a list of examples or conversations (drawn with replacement). The learning rate follows chapter 7's cosine
    from ``lr`` down to ``lr / 10`` with no warm-up (the model is trained already); AdamW's groups are chapter
    7's (:func:`llmcourse.gpt.param_groups`), weight decay off by default as nanochat's SFT. Every draw
    (examples, pretraining windows) comes from ``generator``, so two runs from the same weights and generator
    state are equal (with dropout, torch's global generator must be seeded too). Each step draws ``batch_size``
    examples whatever the mix, and the windows from a generator of their own (seeded from ``generator`` at the
    start), so a run with ``mix`` trains on the first ``batch_size - round(mix * batch_size)`` of the very
    examples the same run without it trains on, step for step. With ``mix``,
    ``round(mix * batch_size)`` rows are windows of ``pretrain_ids`` of the full ``block_size`` and the
    conversations' rows keep their own width (a second forward pass reads the windows), and the loss is
    ``(1 - w) * (mean over the answers' targets) + w * (mean over the pretraining targets)`` with
    ``w = pretrain_weight``, by default the pretraining rows' share of the batch: each part weighs as its rows do,
    not as its targets do (a window trains on every position, an answer on a few). The model's train/eval mode is
    put back as it was when training ends.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    _check_vocab(model, tokenizer)
    steps = _int_at_least(steps, "steps", 1)
    batch_size = _int_at_least(batch_size, "batch_size", 1)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(mix, (int, float)) and 0 <= mix < 1):
        raise ValueError(f"mix must be in [0, 1) (the share of each batch that is pretraining text), got {mix!r}")
    train_examples = _source(train_examples)
    n_pre = round(mix * batch_size)
    if n_pre and not (isinstance(pretrain_ids, torch.Tensor) and pretrain_ids.dim() == 1):
        raise ValueError(f"mix={mix} needs pretrain_ids, the 1-D token stream of the pretraining text")
    if n_pre == batch_size:
        raise ValueError(f"mix={mix} of batch_size={batch_size} leaves no row for the examples")
    if pretrain_weight is None:
        pretrain_weight = n_pre / batch_size
    elif not (isinstance(pretrain_weight, (int, float)) and 0 <= pretrain_weight <= 1) or isinstance(
        pretrain_weight, bool
    ):
        raise ValueError(f"pretrain_weight must be a number in [0, 1], got {pretrain_weight!r}")
    elif not n_pre:
        raise ValueError(f"pretrain_weight={pretrain_weight} needs pretraining rows: give mix > 0")
    device = next(model.parameters()).device
    if n_pre and len(pretrain_ids) <= model.config.block_size:
        raise ValueError(f"pretrain_ids has {len(pretrain_ids)} ids: a window needs block_size + 1")
    if n_pre:
        pretrain_ids = pretrain_ids.to(generator.device)  # get_batch draws and gathers where the generator lives
    windows = torch.Generator(device=generator.device)  # drawn from whatever the mix: the examples' stream is one
    windows.manual_seed(int(torch.randint(2**62, (1,), generator=generator, device=generator.device)))
    optimizer = torch.optim.AdamW(
        param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.95), fused=device.type == "cuda"
    )
    scaler = grad_scaler(device)  # fp16 only; off (a pass-through) elsewhere
    block_size = model.config.block_size
    losses: list[torch.Tensor] = []  # (3,) per step, kept on the device until the end
    was_training = model.training
    model.train()
    try:
        bar = tqdm(range(steps), disable=not progress, desc="fine-tuning")
        for step in bar:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, max_lr=lr, min_lr=lr / 10, warmup_steps=0, max_steps=steps)
            drawn = _draw(train_examples, batch_size, generator)[: batch_size - n_pre]  # the same stream either way
            x, y = sft_batch(drawn, tokenizer, block_size, device=device)  # (B - n_pre, T): the rows' own width
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(device):
                logits = model(x)  # (B - n_pre, T, V)
            trained = y != IGNORE_INDEX  # (B - n_pre, T)
            nats = F.cross_entropy(
                logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
            )  # summed over the answers' targets
            sft = nats / trained.sum()  # the mean over the answers' targets
            if n_pre:  # windows of the full block_size in a pass of their own, every position trained
                xp, yp = get_batch(pretrain_ids, n_pre, block_size, windows)  # (n_pre, block_size)
                with autocast_context(device):
                    window_logits = model(xp.to(device))  # (n_pre, block_size, V)
                pre = F.cross_entropy(window_logits.float().flatten(0, 1), yp.to(device).flatten())
                loss = (1 - pretrain_weight) * sft + pretrain_weight * pre  # weighed by rows, not by targets
            else:
                pre, loss = torch.full_like(sft, math.nan), sft
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            losses.append(torch.stack((loss, sft, pre)).detach())
            if progress and ((step + 1) % 10 == 0 or step + 1 == steps):
                bar.set_postfix(loss=f"{losses[-1][0].item():.4f}", sft=f"{losses[-1][1].item():.4f}")
    finally:
        model.train(was_training)  # as it was: a model handed over in eval mode comes back in eval mode
    table = torch.stack(losses).tolist()  # (steps, 3): the one host sync
    for step, (value, _, _) in enumerate(table):
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at step {step}: lower the learning rate?")
    return SFTHistory([row[0] for row in table], [row[1] for row in table], [row[2] for row in table] if n_pre else [])


# --- replies ------------------------------------------------------------------------------------------------------


def _prompt(model: nn.Module, tokenizer: ChatTokenizer, conversation: Conversation) -> torch.Tensor:
    if not isinstance(tokenizer, ChatTokenizer):
        raise TypeError(f"tokenizer must be a ChatTokenizer, got {type(tokenizer).__name__}")
    _check_vocab(model, tokenizer)
    return tokenizer.prompt_ids(conversation)[None].to(next(model.parameters()).device)  # (1, T)


def stream_reply(
    model: nn.Module,
    tokenizer: ChatTokenizer,
    conversation: Conversation,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[str]:
    """The assistant's next turn, one character at a time, until a special token or ``max_new_tokens``.

    :func:`reply` joins these characters; the tokens are :func:`llmcourse.gpt.generate`'s for the same settings
    and generator state (its own sampling loop). Bad
    arguments are refused here, before the first character; the model runs in eval mode while the stream is read
    and is put back when it ends (or is closed).
    """
    ids = _prompt(model, tokenizer, conversation)  # (1, T)
    max_new_tokens = _int_at_least(max_new_tokens, "max_new_tokens", 0)
    check_settings(temperature=temperature, top_k=top_k, top_p=top_p)
    return _stream(model, tokenizer, ids, max_new_tokens, temperature, top_k, top_p, generator)


@torch.no_grad()
def _stream(
    model: nn.Module,
    tokenizer: ChatTokenizer,
    ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> Iterator[str]:
    specials = set(tokenizer.special_tokens.values())
    if not max_new_tokens:
        return
    was_training = model.training
    model.eval()
    try:
        # generate's own loop (the KV cache, process_logits, one multinomial draw a token): the same tokens
        steps = _sampled_ids(model, ids, generator, True, None, temperature, top_k, top_p, None, 1.0)
        for n, (next_id, _) in enumerate(steps):
            token = int(next_id)
            if token in specials:
                return
            yield tokenizer.decode([token])
            if n + 1 == max_new_tokens:
                return  # before the loop reads one more position
    finally:
        model.train(was_training)


def reply(
    model: nn.Module,
    tokenizer: ChatTokenizer,
    conversation: Conversation,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> str:
    """The assistant's answer to ``conversation`` (which ends with a user turn), greedy by default.

    :func:`stream_reply`'s characters joined: the tokens :func:`llmcourse.gpt.generate` draws from the prompt with
    the same settings and generator, cut at the first special token of any kind (``<|end|>`` as a rule).
    """
    return "".join(
        stream_reply(
            model,
            tokenizer,
            conversation,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            generator=generator,
        )
    )


# --- few-shot prompts and scoring -----------------------------------------------------------------------------


def _question_answer(example: Example, name: str) -> tuple[str, str]:
    if not isinstance(example, Example):
        raise TypeError(f"{name} must be an Example, got {type(example).__name__}")
    turns = check_conversation(example.conversation)
    if [t.role for t in turns] != ["user", "assistant"]:
        raise ValueError(f"{name} must be one question and its answer, got the roles {[t.role for t in turns]}")
    if any("\n" in t.text for t in turns):
        raise ValueError(f"{name} holds a line break: in a plain-text prompt the answer ends at the line's end")
    return turns[0].text, turns[1].text


def few_shot_prompt(examples: Sequence[Example], query: Example | str) -> str:
    """A plain-text prompt with the solved ``examples``, then ``query``'s question, in the plays' format.

    ``few_shot_prompt([what_is_2_plus_3], "What is 23+58?")`` ->
    ``"USER:\\nWhat is 2+3?\\n\\nASSISTANT:\\n5\\n\\nUSER:\\nWhat is 23+58?\\n\\nASSISTANT:\\n"``. A base model has
    read thousands of ``NAME:`` blocks and knows how a reply follows a speech; the answer is the next line.
    """
    if isinstance(examples, (str, Example)) or not isinstance(examples, Sequence):
        raise TypeError("examples must be a list of solved Examples (it may be empty: zero-shot in plain text)")
    shots = [_question_answer(e, f"examples[{i}]") for i, e in enumerate(examples)]
    question = query if isinstance(query, str) else _question_answer(query, "query")[0]
    if not question or "\n" in question:
        raise ValueError(f"the query's question must be one non-empty line, got {question!r}")
    text = "".join(f"USER:\n{q}\n\nASSISTANT:\n{a}\n\n" for q, a in shots)
    return text + f"USER:\n{question}\n\nASSISTANT:\n"


def _questions(task: Task, n: int, generator: torch.Generator) -> list[Example]:
    """``n`` examples of ``task`` with distinct questions, or with repeats (and a warning) if the pool is smaller."""
    if n > len(task.items):
        warnings.warn(f"n={n} exceeds the {len(task.items)} items of {task!r}: questions repeat", stacklevel=3)
        return task.draw(n, generator)
    examples: dict[str, Example] = {}
    for _ in range(50 * n):
        if len(examples) == n:
            break
        example = task.sample(generator)
        examples.setdefault(example.question, example)
    if len(examples) < n:  # a pool with few distinct questions: fill with repeats
        examples.update({f"#{i}": e for i, e in enumerate(task.draw(n - len(examples), generator))})
    return list(examples.values())


def _shots(task: Task, query: Example, k: int, generator: torch.Generator) -> list[Example]:
    """``k`` solved examples of ``task`` other than ``query``'s item."""
    shots: list[Example] = []
    for _ in range(100 * k + 1):
        if len(shots) == k:
            return shots
        shot = task.sample(generator)
        if shot.item != query.item and all(s.item != shot.item for s in shots):
            shots.append(shot)
    raise ValueError(f"{task!r} has too few distinct items for {k} examples besides the question")


def evaluate_tasks(
    model: nn.Module,
    tokenizer: ChatTokenizer,
    tasks: Sequence[Task],
    *,
    n: int,
    generator: torch.Generator,
    few_shot: int | None = None,
    shot_tasks: Sequence[Task] | None = None,
    max_new_tokens: int = MAX_TOKENS,  # the longest answer (identity's, ~90 characters) must fit
) -> dict[str, float]:
    """{task name: share of ``n`` drawn examples answered right}, greedy answers scored by each task's check.

    ``few_shot=None`` asks through the chat template (:func:`reply`: a fine-tuned model); ``few_shot=k`` in plain
    text with k solved examples of the same task before the question (:func:`few_shot_prompt`: a base model, whose
    vocabulary still needs the template's characters, ``grow_vocab``). A prompt longer than the model's context
    is read through its last block_size tokens, as chapter 8's decoding does; keep ``few_shot`` small.

    The questions are drawn first, all n of each task, with distinct questions where the pool has n items (n
    larger than the pool gives repeats and a warning); the solved examples come from a second generator seeded
    from ``generator``, so ``few_shot=None`` and ``few_shot=k`` from the same generator state score the same
    questions and the two scores compare the model, not the draw. ``shot_tasks`` (e.g. ``all_tasks("train")``)
    gives the solved examples from other tasks of the same names: score held-out questions with training examples,
    as the fine-tuned model learned from those (default: ``tasks`` themselves, the query's own item left out).
    """
    if isinstance(tasks, Task):
        tasks = [tasks]
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise ValueError("tasks must be a non-empty list of Task objects")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"each task may appear once (the result is keyed by name), got {names}")
    n = _int_at_least(n, "n", 1)
    if few_shot is not None:
        few_shot = _int_at_least(few_shot, "few_shot", 0)
    _check_vocab(model, tokenizer)
    shots_of = {t.name: t for t in tasks}
    if shot_tasks is not None:
        shots_of = {t.name: t for t in shot_tasks if isinstance(t, Task)}
        missing = [name for name in names if name not in shots_of]
        if missing:
            raise ValueError(f"shot_tasks has no task named {', '.join(map(repr, missing))}: give one per task")
    scores = {}
    for task in tasks:
        right = 0
        questions = _questions(task, n, generator)
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))  # drawn either way
        shot_generator = torch.Generator(device=generator.device).manual_seed(seed)
        for example in questions:
            if few_shot is None:
                answer = reply(model, tokenizer, example.prompt, max_new_tokens=max_new_tokens)
            else:
                prompt = few_shot_prompt(_shots(shots_of[task.name], example, few_shot, shot_generator), example)
                answer = generate_text(
                    model, tokenizer, prompt, max_new_tokens, stop=["\n", *SPECIAL_TOKENS], temperature=0.0
                )
            right += task.check(example, answer)
        scores[task.name] = right / n
    return scores


__all__ = ["SFTHistory", "evaluate_tasks", "few_shot_prompt", "reply", "sft_batch", "stream_reply", "train_sft"]
