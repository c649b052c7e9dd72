"""Conversations, the chat template that turns them into ids, and a vocabulary grown for it (chapter 10).

A conversation is a list of turns, each a role and a text. The template writes every turn as its role token, the
text one character per id, and an end token, with no other separator:

    [("user", "What is 2+3?"), ("assistant", "5")]
    -> <|user|> W h a t   i s   2 + 3 ? <|end|> <|assistant|> 5 <|end|>
       mask:  0 0 0 0 0 0 0 0 0 0 0 0 0    0          0       1    1

The loss mask (:meth:`ChatTokenizer.render`) is True on the assistant's own characters and on the ``<|end|>`` that
closes each assistant turn: supervised fine-tuning trains the model to write the answers and to stop, not to
predict the user's questions. To ask for an answer, :meth:`ChatTokenizer.prompt_ids` renders the turns so far and
appends ``<|assistant|>``; decoding stops at ``<|end|>`` (:func:`llmcourse.assistant.sft.reply`).

:class:`ChatTokenizer` is chapter 2's :class:`~llmcourse.tokenizers.CharTokenizer` with chapter 7's ids unchanged
(id 0 is still ``"\\n"``, so a pretrained model's embedding rows keep their meaning), then the characters the
tasks need that tiny shakespeare lacks (digits other than 3, ``+``, ``=``, ...), then the four special tokens, each
one id. Text is always encoded as plain characters: a user who types ``"<|end|>"`` gets seven character ids, never
the end token, so no text can close a turn or open the assistant's (prompt injection; tiktoken's
``allowed_special`` rule). :func:`grow_vocab` gives a pretrained GPT the rows for the new ids.

What it leaves out: tool calls and other roles; images; any template of a released model (ChatML, Llama's) beyond
the idea they share.

References: Ouyang et al. (2022), "Training language models to follow instructions with human feedback"
(InstructGPT); OpenAI's ChatML (2023), special tokens that delimit the turns; Hewitt (2021), "Initializing New
Word Embeddings for Pretrained Language Models"; Karpathy's nanochat ``tokenizer.py`` (``render_conversation``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import torch

from llmcourse.gpt import GPT
from llmcourse.tokenizers import CharTokenizer

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
SPECIAL_TOKENS = (SYSTEM, USER, ASSISTANT, END)
ROLES = ("system", "user", "assistant")
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
# characters the tasks (llmcourse.assistant.tasks) and a chat need that tiny shakespeare lacks; '<', '|' and '>'
# let a user write a special token's name as plain text
EXTRA_CHARS = '0123456789+=*/()<>|"'


class Turn(NamedTuple):
    """One turn of a conversation; equal to the plain tuple ``(role, text)``, so either may be used."""

    role: str  # "system", "user" or "assistant"
    text: str


Conversation = Sequence[Turn | tuple[str, str]]


def _a(role: str) -> str:
    return f"an {role}" if role == "assistant" else f"a {role}"


def check_conversation(conversation: Conversation, *, name: str = "conversation") -> list[Turn]:
    """``conversation`` as a list of :class:`Turn`, after checking its roles and their order.

    The order is the template's: an optional system turn first, then user and assistant turns in alternation,
    starting with the user. ``[("user", "hi"), ("assistant", "hail")] -> [Turn("user", "hi"), Turn(...)]``.
    """
    if isinstance(conversation, (str, bytes)) or not isinstance(conversation, Sequence):
        raise TypeError(f"{name} must be a list of (role, text) turns, got {type(conversation).__name__}")
    if not conversation:
        raise ValueError(f"{name} is empty: give at least one turn")
    turns = []
    for i, turn in enumerate(conversation):
        if not isinstance(turn, (tuple, list)) or len(turn) != 2:
            raise TypeError(f"{name}[{i}] must be a (role, text) pair, got {turn!r:.60}")
        role, text = turn
        if role not in ROLES:
            raise ValueError(f"{name}[{i}] has role {role!r}; a role is one of {ROLES}")
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}]'s text must be a string, got {type(text).__name__}")
        turns.append(Turn(role, text))
    roles = [t.role for t in turns]
    body = roles[1:] if roles[0] == "system" else roles
    for i, role in enumerate(body):
        want = "user" if i % 2 == 0 else "assistant"
        if role != want:
            where = i + (len(roles) - len(body))
            raise ValueError(
                f"{name}[{where}] is {_a(role)} turn where {_a(want)} turn belongs: after an optional "
                f"system turn first, user and assistant turns alternate, starting with the user "
                f"(roles: {roles})"
            )
    return turns


class ChatTokenizer(CharTokenizer):
    """Chapter 7's characters (ids unchanged), the extra characters, then ``<|system|> <|user|> <|assistant|>
    <|end|>``.

    ``ChatTokenizer.from_base(char_data().tokenizer)``: 65 Shakespeare ids, 19 new characters, 4 special ids.
    """

    kind = "chat"

    def __init__(self, chars: Iterable[str] = (), base_size: int | None = None) -> None:
        super().__init__(special_tokens=SPECIAL_TOKENS)
        chars = list(chars)
        if any(not isinstance(ch, str) or len(ch) != 1 for ch in chars) or len(set(chars)) != len(chars):
            raise ValueError("chars must be distinct single characters")
        base_size = len(chars) if base_size is None else base_size
        if not 0 <= base_size <= len(chars):
            raise ValueError(f"base_size must be in [0, {len(chars)}] (the characters), got {base_size}")
        self.chars = chars  # in id order, NOT sorted: the base's ids first, the extra characters after them
        self.base_size = base_size  # ids below this are the base tokenizer's
        self._build()

    @classmethod
    def from_base(cls, base: CharTokenizer, extra_chars: Iterable[str] = EXTRA_CHARS) -> ChatTokenizer:
        """The base tokenizer's ids, then each character of ``extra_chars`` it lacks, then the special tokens."""
        if not isinstance(base, CharTokenizer) or isinstance(base, ChatTokenizer):
            raise TypeError(f"base must be a CharTokenizer (chapter 7's), got {type(base).__name__}")
        if base.unk_token is not None or base.special_tokens:
            raise ValueError("base must have no unk_token and no special tokens, so its ids are its characters")
        extra = [ch for ch in dict.fromkeys(extra_chars) if ch not in base.stoi]
        return cls(list(base.chars) + extra, base_size=len(base.chars))

    def train(self, text: str, vocab_size: int | None = None, verbose: bool = False) -> ChatTokenizer:
        raise TypeError("a ChatTokenizer is not trained: build it with ChatTokenizer.from_base(tokenizer)")

    @classmethod
    def from_chars(
        cls, chars: Iterable[str], unk_token: str | None = None, special_tokens: Sequence[str] = ()
    ) -> ChatTokenizer:
        raise TypeError("a ChatTokenizer keeps its base's id order: build it with ChatTokenizer.from_base(tokenizer)")

    # --- ids of the template ------------------------------------------------------------------------------------

    @property
    def end_id(self) -> int:
        return self.special_tokens[END]

    def role_id(self, role: str) -> int:
        """The id of ``role``'s token: ``role_id("user")`` is ``<|user|>``'s."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        return self.special_tokens[ROLE_TOKENS[role]]

    def encode_text(self, text: str) -> list[int]:
        """Plain characters only: a special token's name in ``text`` becomes its characters, never its id."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        return self.encode(text, allowed_special="none", disallowed_special="none")

    def render(self, conversation: Conversation) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (T,) int64, loss_mask (T,) bool): the template, True on the assistant's text and closing ``<|end|>``."""
        ids: list[int] = []
        mask: list[bool] = []
        for turn in check_conversation(conversation):
            text = self.encode_text(turn.text)
            trained = turn.role == "assistant"
            ids += [self.role_id(turn.role), *text, self.end_id]
            mask += [False] + [trained] * (len(text) + 1)  # the role token is given, never predicted
        return torch.tensor(ids, dtype=torch.long), torch.tensor(mask, dtype=torch.bool)

    def prompt_ids(self, conversation: Conversation) -> torch.Tensor:
        """(T,) int64: the turns so far (the last one the user's), then ``<|assistant|>``: what the model continues."""
        turns = check_conversation(conversation)
        if turns[-1].role != "user":
            raise ValueError(
                f"the conversation must end with a user turn for the assistant to answer, it ends with "
                f"{_a(turns[-1].role)} turn"
            )
        ids, _ = self.render(turns)
        return torch.cat((ids, ids.new_tensor([self.role_id("assistant")])))

    def parse(self, ids: torch.Tensor | Sequence[int]) -> list[Turn]:
        """The conversation that :meth:`render` turned into ``ids``: every turn a role token, text, ``<|end|>``."""
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1 or ids.dtype not in (torch.long, torch.int32):
                raise ValueError(f"ids must be a 1-D integer tensor, got {ids.dtype} {tuple(ids.shape)}")
            ids = ids.tolist()
        ids = self._check_ids(ids)
        if not ids:
            raise ValueError("ids is empty: a conversation has at least one turn")
        roles = {self.role_id(role): role for role in ROLES}
        turns: list[Turn] = []
        role: str | None = None  # the open turn's role
        start = 0
        for i, idx in enumerate(ids):
            if idx in roles:
                if role is not None:
                    raise ValueError(
                        f"ids[{i}] is {self.itos[idx]} inside an unfinished {role} turn (opened at "
                        f"ids[{start - 1}]): every turn ends with {END} before the next begins"
                    )
                role, start = roles[idx], i + 1
            elif idx == self.end_id:
                if role is None:
                    raise ValueError(f"ids[{i}] is {END} outside any turn: a turn starts with a role token")
                turns.append(Turn(role, self.decode(ids[start:i])))
                role = None
            elif role is None:
                raise ValueError(
                    f"ids[{i}] is the character {self.itos[idx]!r} outside any turn: every turn "
                    f"starts with a role token ({SYSTEM}, {USER} or {ASSISTANT})"
                )
        if role is not None:
            raise ValueError(f"the ids end inside an unfinished {role} turn (opened at ids[{start - 1}], no {END})")
        return check_conversation(turns, name="the parsed conversation")

    def fit(self, conversation: Conversation, max_tokens: int) -> list[Turn]:
        """The latest turns whose :meth:`prompt_ids` fit in ``max_tokens``: a chat drops its oldest exchanges.

        The system turn stays; user/assistant exchanges leave from the start, two turns at a time, so the
        conversation still begins with a user turn. Raises if even the last user turn alone does not fit.
        """
        turns = check_conversation(conversation)
        system, body = (turns[:1], turns[1:]) if turns[0].role == "system" else ([], turns)
        while body:
            kept = system + body
            if len(self.prompt_ids(kept)) <= max_tokens:
                return kept
            body = body[2:]
        raise ValueError(
            f"the last user turn does not fit in max_tokens={max_tokens} (with the system turn, if any): shorten it"
        )

    # --- save and load -----------------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"chars": "".join(self.chars), "base_size": self.base_size, "special_tokens": self.special_tokens}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> ChatTokenizer:
        tok = cls(state["chars"], base_size=state["base_size"])
        if tok.special_tokens != state["special_tokens"]:
            raise ValueError(
                f"special token ids {state['special_tokens']} do not follow the characters ({tok.special_tokens})"
            )
        return tok


NOISE_SCALE = 1e-5  # Hewitt (2021): new rows ~ N(mean, NOISE_SCALE * covariance of the old rows)


@torch.no_grad()
def grow_vocab(model: GPT, vocab_size: int, *, generator: torch.Generator, noise_scale: float = NOISE_SCALE) -> GPT:
    """A copy of ``model`` with ``vocab_size`` token ids: the old rows exactly, each new row a draw near their mean.

    Why the mean (Hewitt 2021): a new output row scores every context with about the mean of the old scores,
    below the likely tokens', so the grown model's distribution over the old ids barely moves (a random row as
    wide as the trained ones could score higher than all of them and take the probability mass), and a new input
    row sits among the vectors the first layer was trained on instead of somewhere it has never seen. Each new
    row is a draw from N(mean, ``noise_scale`` * covariance of the old rows), with ``generator`` (on the CPU), as
    Hewitt proposes: the small noise lets the new ids differ from the start, so fine-tuning can tell the digits
    apart and pull them in different directions (identical rows would get identical gradients from the head).

    What it means for a base model: it has never read the new characters, and their rows are nearly the mean, so
    it cannot tell "1" from "7" on input and scores every new id about the average on output: it writes a new
    digit almost never. Its few-shot score on digit tasks (arithmetic, lists, counts) is a floor near zero
    that measures the missing digits, not its arithmetic; only fine-tuning gives those ids a meaning.

    Tied or untied, the embedding and the head each grow this way (a tied matrix once); every other weight is
    copied. The model is unchanged, and torch's global generator is left as it was.
    """
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise TypeError(f"generator must be a CPU torch.Generator (the new rows are drawn with it), got {generator!r}")
    if not (isinstance(noise_scale, (int, float)) and noise_scale >= 0):
        raise ValueError(f"noise_scale must be a number >= 0, got {noise_scale!r}")
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a llmcourse.gpt.GPT, got {type(model).__name__}")
    old = model.config.vocab_size
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < old:
        raise ValueError(f"vocab_size must be an int >= the model's {old}, got {vocab_size!r}")
    weight = model.embed.tok_emb.weight  # (V, C)
    with torch.random.fork_rng(devices=[]):  # GPT() draws its initialisation on the CPU: give the draws back
        grown = GPT(replace(model.config, vocab_size=vocab_size))
    state = model.state_dict()

    def grow(rows: torch.Tensor) -> torch.Tensor:  # (V, C) -> (vocab_size, C)
        old_rows = rows.detach().double().cpu()  # (V, C)
        mean = old_rows.mean(dim=0)  # (C,)
        centred = old_rows - mean  # (V, C)
        covariance = centred.T @ centred / max(old - 1, 1)  # (C, C)
        # a square root of the covariance that needs no positive definiteness (V may be smaller than C)
        values, vectors = torch.linalg.eigh(covariance)
        root = vectors * values.clamp(min=0).sqrt()  # (C, C): root @ root.T == covariance
        z = torch.randn(vocab_size - old, len(mean), generator=generator, dtype=torch.double)  # (new, C)
        new = mean + math.sqrt(noise_scale) * z @ root.T  # (new, C)
        return torch.cat((rows, new.to(device=rows.device, dtype=rows.dtype)))

    tied = model.lm_head.weight is model.embed.tok_emb.weight
    state["embed.tok_emb.weight"] = grow(state["embed.tok_emb.weight"])
    # tied: the same new rows (one matrix); untied: the head's own draw
    state["lm_head.weight"] = state["embed.tok_emb.weight"] if tied else grow(state["lm_head.weight"])
    grown.load_state_dict(state)
    return grown.to(device=weight.device, dtype=weight.dtype).train(model.training)


__all__ = [
    "ASSISTANT",
    "END",
    "EXTRA_CHARS",
    "NOISE_SCALE",
    "ROLES",
    "SPECIAL_TOKENS",
    "SYSTEM",
    "USER",
    "ChatTokenizer",
    "Conversation",
    "Turn",
    "check_conversation",
    "grow_vocab",
]
