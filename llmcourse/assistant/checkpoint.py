"""A chat model in one file, and a chat with it in the terminal (chapter 10).

    save_chat_model("runs/ch10_chat.pt", model, chat_tok, meta={"sft_steps": 500})
    model, chat_tok, meta = load_chat_model("runs/ch10_chat.pt")         # on the course's device, in eval mode
    terminal_chat(model, chat_tok, temperature=0.8, generator=g)         # what `python -m llmcourse chat` runs

A chat model is three things that only work together: the GPT's sizes (:class:`~llmcourse.gpt.GPTConfig`), its
weights, and the chat tokenizer whose ids the weights were trained on (chapter 7's characters, the extra ones, the
special tokens: :class:`~llmcourse.assistant.chat.ChatTokenizer`). One file holds all three, so a model can never
be paired with another vocabulary. The tokenizer is stored as data, the dict its JSON file holds (its characters in
id order and the special tokens' ids), never as a pickled object, and the file is written and read by
:func:`llmcourse.training.save_verified` and :func:`~llmcourse.training.read_verified`: atomically, with its sha256
in ``NAME.sha256`` beside it, loaded with ``weights_only=True`` so that opening a file cannot run code. A missing,
damaged (truncated, bit-flipped) or foreign file (chapter 7's training checkpoint, any other torch file) is refused
with a :class:`~llmcourse.training.CheckpointError` that names the path and says what is wrong.

:func:`terminal_chat` is the loop behind ``python -m llmcourse chat CHECKPOINT``: it reads a line, streams the
assistant's reply character by character as it is sampled (:func:`~llmcourse.assistant.sft.stream_reply`, chapter
8's temperature, top-k and top-p), and keeps the conversation, dropping the oldest exchanges when the prompt would
outgrow the model's context (:meth:`ChatTokenizer.fit <llmcourse.assistant.chat.ChatTokenizer.fit>`). ``/reset``
starts a new conversation; ``/quit`` or the end of the input ends it; an empty line is not sent to the model.

What it leaves out: the optimizer's state (a chat model is for talking to; chapter 7's checkpoints resume training),
LoRA adapters (a GPT with ``add_lora`` layers is refused: its weights are not a GPT's), line editing and history in
the terminal, saving a conversation.

References: Karpathy's nanochat ``scripts/chat_cli.py`` (a chat in the terminal, ``quit`` and ``clear``) and
``checkpoint_manager.py`` (the model's config saved beside its weights); PyTorch's ``torch.load(weights_only=True)``
(a restricted unpickler: tensors and plain containers only).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from llmcourse.device import best_device
from llmcourse.gpt import GPT, GPTConfig
from llmcourse.gpt.sampling import check_settings
from llmcourse.training import CHECKPOINT_KEYS, CheckpointError, read_verified, save_verified

from .chat import ChatTokenizer, Turn
from .sft import stream_reply

FORMAT = "llmcourse-chat-model"
FORMAT_VERSION = 1  # bump when what the file holds changes
KEYS = ("format", "version", "config", "model", "tokenizer", "meta")
HELP = "/reset starts a new conversation, /quit or Ctrl-D ends the chat"


# --- the file -------------------------------------------------------------------------------------------------------


def _plain(meta: Any) -> dict[str, Any]:
    """``meta`` as plain JSON values (dicts, lists, strings, numbers, None): what ``weights_only=True`` reads back."""
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict (e.g. {{'sft_steps': 500}}) or None, got {type(meta).__name__}")
    try:
        return json.loads(json.dumps(meta))
    except (TypeError, ValueError) as err:  # a tensor, an object, a key that is not a string, a loop
        raise TypeError(f"meta must hold plain values only (str, int, float, bool, None, lists, dicts): {err}") from err


def save_chat_model(
    path: str | Path, model: nn.Module, tokenizer: ChatTokenizer, *, meta: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (its config and weights), ``tokenizer`` (its ids, as data) and ``meta`` to one verified file.

    Why one file: a GPT's weights mean nothing without the ids they were trained on, so the two travel together.
    The weights are stored on the CPU in their own dtype; ``meta`` is for what a reader wants to know about the
    model (its training steps, scores): plain JSON values. Returns the path; its sha256 is in ``NAME.sha256``.
    """
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a llmcourse.gpt.GPT, got {type(model).__name__}")
    if not isinstance(tokenizer, ChatTokenizer):
        raise TypeError(f"tokenizer must be a ChatTokenizer, got {type(tokenizer).__name__}")
    if model.config.vocab_size != tokenizer.vocab_size:
        raise ValueError(
            f"the model has {model.config.vocab_size} token ids, the tokenizer {tokenizer.vocab_size}: save the model "
            f"whose ids are the tokenizer's (grow_vocab(model, tokenizer.vocab_size) gives a base model the rows)"
        )
    with torch.device("meta"):  # the names and shapes of a plain GPT's weights, without allocating them
        expected = {k: tuple(v.shape) for k, v in GPT(model.config).state_dict().items()}
    state = model.state_dict()
    found = {k: tuple(v.shape) for k, v in state.items()}
    if found != expected:
        extra, missing = sorted(found.keys() - expected.keys()), sorted(expected.keys() - found.keys())
        raise ValueError(
            f"model's weights are not those of GPT(model.config) (extra: {extra[:3]}, missing: {missing[:3]}): "
            f"a model with LoRA layers or other changes cannot be loaded back as a GPT"
        )
    path = Path(path)
    save_verified(
        path,
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": asdict(model.config),
            "model": {k: v.detach().cpu() for k, v in state.items()},
            "tokenizer": json.loads(tokenizer.to_json()),  # the tokenizer file's dict: strings and ints
            "meta": _plain(meta),
        },
    )
    return path


def _what_it_is(stored: Any) -> str:
    """A few words on a verified file that is not a chat model, for the error message."""
    if isinstance(stored, dict) and all(key in stored for key in CHECKPOINT_KEYS):
        return "a training checkpoint (chapter 7's train_gpt or llmcourse.training's), not a chat model"
    if isinstance(stored, dict):
        return f"not a chat model: it holds the keys {sorted(map(str, stored))[:6]}, not {list(KEYS)}"
    return f"not a chat model: it holds a {type(stored).__name__}, not a dict"


def load_chat_model(
    path: str | Path, device: torch.device | str | None = None
) -> tuple[GPT, ChatTokenizer, dict[str, Any]]:
    """(model in eval mode on ``device``, its chat tokenizer, meta) from a file :func:`save_chat_model` wrote.

    ``device=None`` is the course's device (:func:`llmcourse.device.best_device`, which ``LLMCOURSE_DEVICE``
    overrides). The weights load into a float32 GPT. The file's sha256 is checked before anything is read; a file
    that fails, or that is not a chat model, raises :class:`~llmcourse.training.CheckpointError` naming ``path``.
    Torch's global random generator is left as it was.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no chat model at {path}: {'it is a folder' if path.exists() else 'no such file'}")
    stored = read_verified(path)  # CheckpointError when damaged, unverifiable or not a torch file
    if not isinstance(stored, dict) or stored.get("format") != FORMAT:
        raise CheckpointError(f"{path} is {_what_it_is(stored)}; save one with save_chat_model")
    if stored.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} is a chat model of format version {stored.get('version')!r}; this llmcourse reads version "
            f"{FORMAT_VERSION}: save it again with this version's save_chat_model"
        )
    try:
        config = GPTConfig(**stored["config"])
        tokenizer = ChatTokenizer.from_state(stored["tokenizer"], source=f"the tokenizer in {path}")
        if config.vocab_size != tokenizer.vocab_size:
            raise ValueError(f"its GPT has {config.vocab_size} token ids, its tokenizer {tokenizer.vocab_size}")
        with torch.random.fork_rng(devices=[]):  # GPT() draws an initialisation the weights then replace
            model = GPT(config)
        model.load_state_dict(stored["model"])
        meta = dict(stored["meta"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:  # RuntimeError: load_state_dict's shapes and keys
        raise CheckpointError(f"{path} is a damaged chat model: {str(err).strip().splitlines()[0]}") from err
    device = best_device() if device is None else torch.device(device)
    return model.to(device).eval(), tokenizer, meta


# --- the chat in the terminal ---------------------------------------------------------------------------------------


def _unknown(tokenizer: ChatTokenizer, text: str) -> list[str]:
    """The characters of ``text`` that have no id: the model has never seen them and cannot read them."""
    return sorted({ch for ch in text if ch not in tokenizer.stoi})


def _check_system(tokenizer: ChatTokenizer, system: str | None, block_size: int, room: int) -> None:
    """Refuse a system text the model cannot read: a character outside the vocabulary, or too long for the context."""
    if system is None:
        return
    if not isinstance(system, str):
        raise TypeError(f"system must be a string or None, got {type(system).__name__}")
    unknown = _unknown(tokenizer, system)
    if unknown:
        raise ValueError(f"system={system[:40]!r} has characters the model has no id for: {unknown[:10]}")
    if len(tokenizer.prompt_ids([Turn("system", system), Turn("user", "")])) > room:
        raise ValueError(
            f"system={system[:40]!r} is too long for the model's context of {block_size} tokens with room for a "
            f"reply ({room} for the conversation)"
        )


def terminal_chat(
    model: nn.Module,
    tokenizer: ChatTokenizer,
    *,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    system: str | None = None,
    max_new_tokens: int = 200,
    temperature: float = 0.8,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    banner: str | None = None,
) -> list[Turn]:
    """Chat with ``model`` line by line until ``/quit`` or the end of ``stdin``; returns the last conversation.

    Each line is the user's turn; the reply is written to ``stdout`` as ``"assistant> "`` and its characters, each
    flushed as soon as it is sampled (a reader sees the model think at its own speed), then a line break. The
    conversation kept is the one the model reads: the oldest exchanges leave when the prompt would outgrow
    ``block_size - min(max_new_tokens, block_size // 2)`` ids (:meth:`ChatTokenizer.fit`), which leaves room for
    the reply inside the context (at least half of it, or all ``max_new_tokens``), and a message too long to fit
    alone is refused, not cut. A ``"you> "``
    prompt is written only when ``stdin`` is a terminal. Settings are checked before anything is written; then
    ``banner``, if given, is the first line, in parentheses as every notice of the loop.
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    block_size = model.config.block_size if hasattr(model, "config") else model.block_size  # a GPT's, or a stand-in's
    check_settings(temperature=temperature, top_k=top_k, top_p=top_p)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    room = block_size - min(max_new_tokens, block_size // 2)  # the prompt's ids; the rest is for the reply
    _check_system(tokenizer, system, block_size, room)
    start = [Turn("system", system)] if system is not None else []
    interactive = stdin.isatty()

    def say(text: str) -> None:
        stdout.write(f"({text})\n")
        stdout.flush()

    if banner is not None:
        say(banner)
    conversation = list(start)
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = stdin.readline()
        if not line:  # the end of the input: Ctrl-D, or the last line of a pipe
            if interactive:
                stdout.write("\n")
            return conversation
        text = line.strip()
        if text == "/quit":
            return conversation
        if text == "/reset":
            conversation = list(start)
            say("a new conversation")
            continue
        if not text:
            say(f"an empty line is not sent: type a message; {HELP}")
            continue
        if re.fullmatch(r"/\w+", text):
            say(f"unknown command {text}; {HELP}")
            continue
        unknown = _unknown(tokenizer, text)
        if unknown:
            say(f"not sent: the model has no id for {unknown[:10]}; try other characters")
            continue
        try:
            asked = tokenizer.fit([*conversation, Turn("user", text)], room)  # the oldest exchanges leave
        except ValueError:  # the message alone (with the system turn) leaves no room for a reply
            say(
                f"not sent: too long for the model's context of {block_size} tokens with room for a reply "
                f"({room} for the conversation); try a shorter message"
            )
            continue
        stdout.write("assistant> ")
        pieces = []
        for piece in stream_reply(
            model,
            tokenizer,
            asked,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            generator=generator,
        ):
            pieces.append(piece)
            stdout.write(piece)
            stdout.flush()
        stdout.write("\n")
        stdout.flush()
        conversation = [*asked, Turn("assistant", "".join(pieces))]


__all__ = ["FORMAT", "FORMAT_VERSION", "load_chat_model", "save_chat_model", "terminal_chat"]
