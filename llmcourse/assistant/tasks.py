"""Tasks whose answers a program can check, made offline from nothing or from tiny shakespeare (chapter 10).

    task = Arithmetic(split="train")
    example = task.sample(generator)        # Example: a conversation ending with the reference answer
    example.prompt                          # the conversation without that answer: what the model is asked
    task.check(example, " 81 ")             # True: surrounding whitespace is forgiven, nothing else is
    mix = TaskMixture([Arithmetic(), SpellWord(), CountLetter(), ListOps(), WhoSpeaks(), Identity()])

Each task holds a finite pool of items for its split (``task.items``) and draws one with an explicit
``torch.Generator``, so a seed gives the same examples on any machine. The ``"train"`` and ``"test"`` (held-out)
pools are disjoint by construction, and a test intersects them:

- :class:`Arithmetic` ("What is 23+58?" -> "81"; a - b with a >= b) and :class:`ListOps` ("Sort 3 1 4" ->
  "1 3 4", or reverse) put a question in the held-out pool when the CRC-32 of its canonical key is 0 mod 10
  (:func:`held_out`). The key is the fact asked about, not the wording: 23+58, 58+23, 81-23 and 81-58 share the
  key "23+58=81", every order of the same digits shares one Sort key, and a list and its reverse share one
  Reverse key, so no held-out question is a training question in other words. A rule on the operands such as
  (31 a + b) % 10 == 0 would be one on a + b mod 10 in disguise: every held-out sum would end in 0, a set no
  training sum resembles;
- :class:`SpellWord` ("Spell the word king" -> "k-i-n-g") and :class:`CountLetter` ("How many e in 'thee'?" ->
  "2") draw training words from chapter 4's training text (the first 90%) and held-out words from the words that
  occur only in its validation text;
- :class:`WhoSpeaks` ("Who says: Good morrow, neighbour Baptista." -> "GREMIO") draws lines of the play text's
  ``NAME:\\nline`` blocks from the training text (lines the base model read), split by the CRC-32 of the line
  (:func:`split_lines`), of speakers who also speak in the training pool; a line that occurs twice anywhere is left
  out, so the answer is never ambiguous and no held-out line is a training line;
- :class:`Identity` holds a few fixed conversations about what the model is and cannot do; the held-out ones ask
  the same things in other words (paraphrases: their answers are training answers).

:meth:`Task.check` compares the answer with the reference after stripping surrounding whitespace, and is strict
about everything else: ``"81."`` or ``"The answer is 81"`` is wrong for ``"81"``, and ``"gremio"`` is wrong for
``"GREMIO"``. The answer's format is part of what fine-tuning teaches, and a lenient check would hide whether it
was learned (and, as a reward, pay for near misses that a program using the answer could not read).

Every rendered example fits in :data:`MAX_TOKENS` = 128 ids (prompt, answer and template tokens), a character
model's context in chapter 7; the questions and answers are short for that reason. A smaller model passes
``max_tokens=model.config.block_size + 1`` (:func:`all_tasks`): each pool keeps only the items that fit.
:class:`CountLetter` draws the count first, uniformly, so always answering "1" scores no better than any guess.

References: Karpathy's nanochat ``tasks/`` (``spellingbee.py``, ``TaskMixture``); Cobbe et al. (2021), GSM8K,
whose answers are checked by exact match after normalising.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from llmcourse.charlm import DATASET, TRAIN_FRACTION
from llmcourse.data import read_text

from .chat import Turn, check_conversation

MAX_TOKENS = 128  # the longest rendered example of any task, in ids
SPLITS = ("train", "test")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Example:
    """One question of a task with its reference answer: the conversation ends with the assistant's answer."""

    task: str  # the task's name: whose check applies
    item: Any  # the pool item it was made from (train and test items never meet)
    conversation: tuple[Turn, ...]
    answer: str

    @property
    def prompt(self) -> list[Turn]:
        """The conversation without the final answer: what the model is asked."""
        return list(self.conversation[:-1])

    @property
    def question(self) -> str:
        """The last user turn's text."""
        return self.conversation[-2].text


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (every draw comes from it), got {type(generator).__name__}"
        )
    return generator


def _randint(high: int, generator: torch.Generator) -> int:
    """One integer in [0, high) drawn with ``generator`` (on its device)."""
    return int(torch.randint(high, (1,), generator=_check_generator(generator), device=generator.device))


def held_out(key: str) -> bool:
    """Whether a generated item belongs to the held-out pool: CRC-32 of its canonical key (stable everywhere) % 10 == 0.

    The key names the fact an item asks about, not its wording: "3+5", "5+3" and "8-5" share the key "3+5=8", so
    a held-out question never has a training twin with the same fact (``Task.key``).
    """
    return zlib.crc32(key.encode("utf-8")) % 10 == 0


def rendered_length(example: Example) -> int:
    """The ids of ``example`` in the chat template: one per character, a role token and ``<|end|>`` per turn."""
    return sum(len(turn.text) + 2 for turn in example.conversation)


class ExampleSource:
    """Something that draws :class:`Example` s and checks answers to them: a task or a mixture of tasks."""

    name: str

    def sample(self, generator: torch.Generator) -> Example:
        raise NotImplementedError

    def check(self, example: Example, answer_text: str) -> bool:
        raise NotImplementedError

    def draw(self, n: int, generator: torch.Generator) -> list[Example]:
        """``n`` examples, one :meth:`sample` after another."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        return [self.sample(generator) for _ in range(n)]


class Task(ExampleSource):
    """A pool of items for one split; :meth:`example` makes the question of an item, :meth:`check` scores answers."""

    name: ClassVar[str] = ""

    def __init__(self, split: str = "train", max_tokens: int | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS} ('test' is held out), got {split!r}")
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise ValueError(f"max_tokens must be an int >= 1 or None, got {max_tokens!r}")
        self.split = split
        self.max_tokens = max_tokens
        items = tuple(self._items(split))
        if max_tokens is not None:  # the longest example of an item is what must fit
            items = tuple(item for item in items if self.length(item) <= max_tokens)
        self.items: tuple[Any, ...] = items
        if not self.items:
            fit = "" if max_tokens is None else f" that renders to at most max_tokens={max_tokens} ids"
            raise ValueError(f"{type(self).__name__} has no items{fit} in its {split!r} split")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(split={self.split!r}, {len(self.items)} items)"

    def _items(self, split: str) -> Sequence[Any]:
        raise NotImplementedError

    def length(self, item: Any) -> int:
        """The ids of ``item``'s example in the chat template (the longest, where the example draws a detail)."""
        return rendered_length(self.example(item, torch.Generator().manual_seed(0)))

    def example(self, item: Any, generator: torch.Generator) -> Example:
        """The example of ``item`` (some tasks draw a detail, such as the letter to count, with ``generator``)."""
        raise NotImplementedError

    def _make(self, item: Any, question: str, answer: str) -> Example:
        conversation = tuple(check_conversation([("user", question), ("assistant", answer)]))
        return Example(self.name, item, conversation, answer)

    def sample(self, generator: torch.Generator) -> Example:
        """An item drawn uniformly from this split's pool, as an example."""
        return self.example(self.items[_randint(len(self.items), generator)], generator)

    def check(self, example: Example, answer_text: str) -> bool:
        """Exactly the reference answer, after stripping surrounding whitespace (see the module docstring)."""
        if not isinstance(example, Example) or example.task != self.name:
            got = example.task if isinstance(example, Example) else type(example).__name__
            raise ValueError(f"example must be an Example of the task {self.name!r}, got one of {got!r}")
        if not isinstance(answer_text, str):
            raise TypeError(f"answer_text must be a string, got {type(answer_text).__name__}")
        return answer_text.strip() == example.answer


# --- tasks generated from nothing -----------------------------------------------------------------------------


class Arithmetic(Task):
    """ "What is 23+58?" -> "81", "What is 58-23?" -> "35": a, b in 0..99, subtraction only with a >= b."""

    name = "arithmetic"

    def _items(self, split: str) -> list[tuple[int, str, int]]:
        items = [(a, op, b) for a in range(100) for b in range(100) for op in "+-" if op == "+" or a >= b]
        return [item for item in items if held_out(self.key(item)) == (split == "test")]

    @staticmethod
    def key(item: tuple[int, str, int]) -> str:
        """The fact {x, y, x + y} the item asks about: 23+58, 58+23, 81-23 and 81-58 all have the key "23+58=81"."""
        a, op, b = item
        x, y, total = (a, b, a + b) if op == "+" else (b, a - b, a)
        return f"{min(x, y)}+{max(x, y)}={total}"

    @staticmethod
    def question_of(item: tuple[int, str, int]) -> str:
        a, op, b = item
        return f"What is {a}{op}{b}?"

    def example(self, item: tuple[int, str, int], generator: torch.Generator) -> Example:
        a, op, b = item
        return self._make(item, self.question_of(item), str(a + b if op == "+" else a - b))


class ListOps(Task):
    """ "Sort 3 1 4" -> "1 3 4", "Reverse 3 1 4" -> "4 1 3": lists of 3 or 4 digits."""

    name = "list"

    def _items(self, split: str) -> list[tuple[str, tuple[int, ...]]]:
        items = []
        for length in (3, 4):
            for n in range(10**length):
                digits = tuple(int(d) for d in f"{n:0{length}d}")
                items += [(op, digits) for op in ("Sort", "Reverse")]
        return [item for item in items if held_out(self.key(item)) == (split == "test")]

    @staticmethod
    def key(item: tuple[str, tuple[int, ...]]) -> str:
        """What the answer depends on: the sorted digits for Sort (every order of them has the same answer); for
        Reverse, the smaller of the list and its reverse (each is the other's answer)."""
        op, digits = item
        canonical = sorted(digits) if op == "Sort" else min(digits, digits[::-1])
        return f"{op} {' '.join(map(str, canonical))}"

    @staticmethod
    def question_of(item: tuple[str, tuple[int, ...]]) -> str:
        op, digits = item
        return f"{op} {' '.join(map(str, digits))}"

    def example(self, item: tuple[str, tuple[int, ...]], generator: torch.Generator) -> Example:
        op, digits = item
        answer = sorted(digits) if op == "Sort" else digits[::-1]
        return self._make(item, self.question_of(item), " ".join(map(str, answer)))


# --- tasks made from tiny shakespeare --------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def shakespeare_split(text: str | None = None) -> tuple[str, str]:
    """Tiny shakespeare (or ``text``) cut where chapter 4 cuts it: (the first 90% of the characters, the rest)."""
    text = read_text(DATASET) if text is None else text
    cut = int(TRAIN_FRACTION * len(text))
    return text[:cut], text[cut:]


@functools.lru_cache(maxsize=2)
def split_words(text: str | None = None, min_len: int = 3, max_len: int = 10) -> dict[str, tuple[str, ...]]:
    """{"train": words of the training text, "test": words found only in the validation text}, lowercase, sorted."""
    train_text, val_text = shakespeare_split(text)

    def words(part: str) -> set[str]:
        return {w for w in re.findall(r"[a-z]+", part.lower()) if min_len <= len(w) <= max_len}

    train = words(train_text)
    return {"train": tuple(sorted(train)), "test": tuple(sorted(words(val_text) - train))}


def speeches(text: str) -> list[tuple[str, str]]:
    """(line, speaker) for every line of the ``NAME:\\nline\\nline\\n\\n`` blocks of ``text``.

    ``"GREMIO:\\nGood morrow.\\n\\nBAPTISTA:\\nGod save you!\\n" -> [("Good morrow.", "GREMIO"), ("God save you!",
    "BAPTISTA")]``; a block without a ``NAME:`` line (one cut by the split) is skipped.
    """
    pairs = []
    for block in text.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if len(lines) < 2 or not lines[0].endswith(":"):
            continue
        pairs += [(line.strip(), lines[0][:-1]) for line in lines[1:] if line.strip()]
    return pairs


@functools.lru_cache(maxsize=2)
def split_lines(
    text: str | None = None, min_len: int = 16, max_len: int = 60
) -> dict[str, tuple[tuple[str, str], ...]]:
    """{"train": (line, speaker), "test": (line, speaker)}: lines of chapter 4's *training* text, the plays the base
    model read in pretraining, split by :func:`held_out` of the line. A held-out question asks who says a line the
    model read but was never asked about in fine-tuning: what pretraining left in the weights, surfaced by the format
    fine-tuning taught. (The validation text would ask about lines never read, from the one play it holds: no
    model could know them, and its speakers are not the training lines' speakers.) Each line is unique in the
    whole text and ``min_len`` to ``max_len`` characters long; a held-out speaker also speaks in the training pool.
    """
    train_text, val_text = shakespeare_split(text)
    pairs = speeches(train_text)
    counts = Counter(line for line, _ in pairs + speeches(val_text))
    kept = [p for p in pairs if counts[p[0]] == 1 and min_len <= len(p[0]) <= max_len]
    train = tuple(p for p in kept if not held_out(p[0]))
    speakers = {speaker for _, speaker in train}
    return {"train": train, "test": tuple(p for p in kept if held_out(p[0]) and p[1] in speakers)}


class _WordTask(Task):
    """A task on the words of 3 to 10 letters of the split's text (:func:`split_words`)."""

    def __init__(self, split: str = "train", text: str | None = None, max_tokens: int | None = None) -> None:
        self.text = text
        super().__init__(split, max_tokens)

    def _items(self, split: str) -> tuple[str, ...]:
        return split_words(self.text)[split]


class SpellWord(_WordTask):
    """ "Spell the word king" -> "k-i-n-g"."""

    name = "spell"

    def example(self, item: str, generator: torch.Generator) -> Example:
        return self._make(item, f"Spell the word {item}", "-".join(item))


class CountLetter(_WordTask):
    """ "How many e in 'thee'?" -> "2": the count is drawn first, uniformly over the counts the words allow, then a
    (word, letter) pair with that count, so no answer is a safe guess (drawing the letter from the word would make
    "1" right about 60% of the time)."""

    name = "count"

    def __init__(self, split: str = "train", text: str | None = None, max_tokens: int | None = None) -> None:
        super().__init__(split, text, max_tokens)
        by_count: dict[int, list[tuple[str, str]]] = {}
        for word in self.items:
            for letter in LETTERS:
                by_count.setdefault(word.count(letter), []).append((word, letter))
        self.by_count = {count: tuple(pairs) for count, pairs in sorted(by_count.items())}  # {count: (word, letter)s}

    def _question(self, word: str, letter: str) -> Example:
        return self._make(word, f"How many {letter} in '{word}'?", str(word.count(letter)))

    def example(self, item: str, generator: torch.Generator) -> Example:
        """A letter for ``item``: its count drawn uniformly over the counts this word allows, then a letter."""
        counts = sorted({item.count(letter) for letter in LETTERS})
        count = counts[_randint(len(counts), generator)]
        letters = [letter for letter in LETTERS if item.count(letter) == count]
        return self._question(item, letters[_randint(len(letters), generator)])

    def sample(self, generator: torch.Generator) -> Example:
        """A count uniform over the possible ones, then a (word, letter) pair with that count uniformly."""
        counts = list(self.by_count)
        pairs = self.by_count[counts[_randint(len(counts), generator)]]
        return self._question(*pairs[_randint(len(pairs), generator)])


class WhoSpeaks(Task):
    """ "Who says: Good morrow, neighbour Baptista." -> "GREMIO": lines of the split's text and their speaker."""

    name = "speaker"

    def __init__(self, split: str = "train", text: str | None = None, max_tokens: int | None = None) -> None:
        self.text = text
        super().__init__(split, max_tokens)

    def _items(self, split: str) -> tuple[tuple[str, str], ...]:
        return split_lines(self.text)[split]

    def example(self, item: tuple[str, str], generator: torch.Generator) -> Example:
        line, speaker = item
        return self._make(item, f"Who says: {line}", speaker)


# --- identity ---------------------------------------------------------------------------------------------------

_WHAT = "I am a small GPT that reads and writes one character at a time, trained on Shakespeare."
_KNOW = "No. I know only the Shakespeare I read in training, and what I was shown after it."
IDENTITY = {
    "train": (
        ("Who are you?", _WHAT),
        ("What were you trained on?", "The plays of Shakespeare, about a million characters, then a few chats."),
        ("Who made you?", "I was built in this course, part by part, in PyTorch."),
        ("Are you a person?", "No. I am a small language model; I have no thoughts of my own."),
        ("Can you read the news?", _KNOW),
        ("Can you do hard sums?", "Only small ones, and I often get them wrong: check my answers."),
        ("Can you remember our last chat?", "No. I see only this chat, and only its last few lines."),
    ),
    "test": (
        ("What are you?", _WHAT),
        ("Tell me who you are.", _WHAT),
        ("What kind of thing are you?", _WHAT),
        ("Do you know what happened today?", _KNOW),
        ("Can you tell me the news?", _KNOW),
        ("What did you learn from?", "The plays of Shakespeare, about a million characters, then a few chats."),
        ("What text were you trained on?",
         "The plays of Shakespeare, about a million characters, then a few chats."),
        ("Who built you?", "I was built in this course, part by part, in PyTorch."),
        ("Where do you come from?", "I was built in this course, part by part, in PyTorch."),
        ("Are you human?", "No. I am a small language model; I have no thoughts of my own."),
        ("Can you do big sums?", "Only small ones, and I often get them wrong: check my answers."),
        ("Do you remember what I said yesterday?", "No. I see only this chat, and only its last few lines."),
    ),
}


class Identity(Task):
    """A few fixed questions about the model; the held-out ones ask the same things in other words."""

    name = "identity"

    def _items(self, split: str) -> tuple[tuple[str, str], ...]:
        return IDENTITY[split]

    def example(self, item: tuple[str, str], generator: torch.Generator) -> Example:
        question, answer = item
        return self._make(item, question, answer)


# --- mixing -------------------------------------------------------------------------------------------------------


class TaskMixture(ExampleSource):
    """Draw a task by ``weights`` (default: equal), then an example of it; answers are checked by that task."""

    name = "mixture"

    def __init__(self, tasks: Sequence[Task], weights: Sequence[float] | None = None) -> None:
        tasks = list(tasks)
        if not tasks or not all(isinstance(t, Task) for t in tasks):
            raise ValueError("tasks must be a non-empty list of Task objects")
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"each task may appear once (its name says whose check applies), got {names}")
        weights = [1.0] * len(tasks) if weights is None else list(weights)
        if (
            len(weights) != len(tasks)
            or not all(isinstance(w, (int, float)) and w >= 0 for w in weights)
            or not sum(weights) > 0
        ):
            raise ValueError(f"weights must be {len(tasks)} numbers >= 0, not all 0, got {weights}")
        self.tasks = {t.name: t for t in tasks}
        self.weights = [float(w) for w in weights]

    def __repr__(self) -> str:
        return f"TaskMixture({list(self.tasks.values())}, weights={self.weights})"

    def sample(self, generator: torch.Generator) -> Example:
        weights = torch.tensor(self.weights, device=_check_generator(generator).device)
        index = int(torch.multinomial(weights, 1, generator=generator))
        return list(self.tasks.values())[index].sample(generator)

    def check(self, example: Example, answer_text: str) -> bool:
        """The check of the example's own task."""
        if not isinstance(example, Example) or example.task not in self.tasks:
            got = example.task if isinstance(example, Example) else type(example).__name__
            raise ValueError(f"example must be an Example of one of the tasks {list(self.tasks)}, got {got!r}")
        return self.tasks[example.task].check(example, answer_text)


def all_tasks(split: str = "train", text: str | None = None, max_tokens: int | None = None) -> list[Task]:
    """One of each task for ``split``: what chapter 10 fine-tunes on (train) and scores (test).

    With ``max_tokens`` (``model.config.block_size + 1``: a training row holds the inputs and the shifted targets),
    each task keeps only the items whose example renders to at most that many ids, and a task with none left is
    left out: for chapter 7's ci model (block_size 32) that is WhoSpeaks and Identity, whose shortest examples
    need 34 and 70 ids, and SpellWord keeps words of up to 5 letters. Raises if no task is left.
    """
    makers = [
        lambda: Arithmetic(split, max_tokens),
        lambda: SpellWord(split, text, max_tokens),
        lambda: CountLetter(split, text, max_tokens),
        lambda: ListOps(split, max_tokens),
        lambda: WhoSpeaks(split, text, max_tokens),
        lambda: Identity(split, max_tokens),
    ]
    tasks = []
    for make in makers:
        try:
            tasks.append(make())
        except ValueError:
            if max_tokens is None:
                raise
    if not tasks:
        raise ValueError(f"no task has an example of at most max_tokens={max_tokens} ids in its {split!r} split")
    return tasks


__all__ = [
    "IDENTITY",
    "MAX_TOKENS",
    "SPLITS",
    "Arithmetic",
    "CountLetter",
    "Example",
    "ExampleSource",
    "Identity",
    "ListOps",
    "SpellWord",
    "Task",
    "TaskMixture",
    "WhoSpeaks",
    "all_tasks",
    "held_out",
    "rendered_length",
    "shakespeare_split",
    "speeches",
    "split_lines",
    "split_words",
]
