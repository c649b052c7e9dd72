"""The interface every tokenizer in the course shares: train, encode, decode, save, load, visualize.

Chapter 2 builds three tokenizers on this base class — characters (:mod:`.char`), words (:mod:`.word`)
and byte-level BPE (:mod:`.bpe`) — so a later chapter swaps one for another by changing one line:

    tok = BPETokenizer(special_tokens=["<|endoftext|>"]).train(text, vocab_size=1024)
    ids = tok.encode("To be, or not to be")    # list[int]
    tok.decode(ids)                            # 'To be, or not to be'
    tok.save("shakespeare.json")
    tok = Tokenizer.load("shakespeare.json")   # whichever kind the file holds

What this file holds: special tokens (strings such as ``<|endoftext|>`` that always become one id and
are never split or merged), the JSON file format (a format name, a version, the kind of tokenizer and
its state), and the two views of token boundaries the chapter's explorer shows (text and HTML).
What it leaves out: batching, padding, offsets into the text — later chapters add what they need.

References: minbpe ``base.py`` (Karpathy, 2024), whose ``Tokenizer`` base class and ``render_token``
this follows; tiktoken's ``allowed_special`` for how special tokens in text are treated.
"""

from __future__ import annotations

import codecs
import html
import json
import os
import re
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

FORMAT = "llmcourse-tokenizer"
FORMAT_VERSION = 1

AllowedSpecial = Literal["all", "none"] | Collection[str]


class TokenizerFileError(ValueError):
    """A file is not a tokenizer that this version of llmcourse can load."""


def check_special_tokens(special_tokens: Sequence[str], reserved: Collection[str] = ()) -> tuple[str, ...]:
    """The special tokens as a tuple, after checking they are distinct non-empty strings.

    ``["<|endoftext|>"] -> ("<|endoftext|>",)``; ``"<|endoftext|>"`` alone (a string, not a list) is
    refused, since iterating it would make every character special. ``reserved`` names strings the
    tokenizer already uses (e.g. its ``<unk>``), which a special token must not repeat.
    """
    if isinstance(special_tokens, str):
        raise TypeError(f"special_tokens must be a list of strings, e.g. [{special_tokens!r}], not one string")
    specials = tuple(special_tokens)
    for token in specials:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special tokens must be non-empty strings, got {token!r}")
    repeated = sorted({token for token in specials if specials.count(token) > 1 or token in reserved})
    if repeated:
        raise ValueError(f"special tokens collide: {repeated} appear more than once (or repeat a reserved token)")
    return specials


def split_on_specials(text: str, specials: Collection[str]) -> list[str]:
    """Split ``text`` around the special tokens in it: even positions are text, odd ones are specials.

    ``split_on_specials("hi<|endoftext|>yo", ["<|endoftext|>"]) -> ["hi", "<|endoftext|>", "yo"]``.
    Longer specials are tried first, so one that starts with another still matches whole.
    """
    if not specials:
        return [text]
    alternatives = "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True))
    return re.split(f"({alternatives})", text)


def render(text: str) -> str:
    """``text`` with control characters made visible: ``"a\\tb\\n" -> "a\\\\tb\\\\n"`` (as minbpe's render_token)."""
    named = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
    return "".join(
        named.get(ch) or (f"\\u{ord(ch):04x}" if unicodedata.category(ch)[0] == "C" else ch) for ch in text
    )


# Pastel backgrounds, cycled token by token so neighbours always differ.
PALETTE = ("#ffd6a5", "#caffbf", "#9bf6ff", "#bdb2ff", "#ffc6ff", "#fdffb6", "#a0c4ff", "#ffadad")


class Tokenizer:
    """Base class: text <-> list of integer ids, trained from text, saved to and loaded from one JSON file.

    Subclasses set ``kind`` and implement ``train``, ``encode``, ``decode``, ``vocab_size``,
    ``_state`` and ``_from_state``. ``special_tokens`` maps each special string to its id.
    """

    kind: ClassVar[str] = ""
    kinds: ClassVar[dict[str, type[Tokenizer]]] = {}  # "char" -> CharTokenizer, ...: what load() can build

    special_tokens: dict[str, int]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Tokenizer.kinds[cls.kind] = cls

    # --- the interface ---------------------------------------------------------------------------------

    def train(self, text: str, vocab_size: int, verbose: bool = False) -> Tokenizer:
        """Learn a vocabulary of ``vocab_size`` ids from ``text``; returns ``self`` so calls chain."""
        raise NotImplementedError

    def encode(
        self, text: str, allowed_special: AllowedSpecial = "none", disallowed_special: AllowedSpecial = "all"
    ) -> list[int]:
        """The ids of ``text``, with tiktoken's rule for special tokens written in it.

        Those in ``allowed_special`` become their one id; a disallowed one (by default every special token
        not allowed) raises ValueError, so text from users never turns into a control token by accident;
        ``disallowed_special="none"`` encodes the rest as plain text.
        """
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        """How many ids there are: every id is in ``range(vocab_size)``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, special_tokens={list(self.special_tokens)})"

    # --- special tokens --------------------------------------------------------------------------------

    def _allowed(self, allowed_special: AllowedSpecial) -> set[str]:
        """The set named by ``allowed_special``: ``"all"``, ``"none"`` or some of this tokenizer's specials."""
        if allowed_special == "all":
            return set(self.special_tokens)
        if allowed_special == "none":
            return set()
        if isinstance(allowed_special, str):
            raise TypeError(f"allowed_special must be 'all', 'none' or a set of strings, got {allowed_special!r}")
        unknown = sorted(set(allowed_special) - set(self.special_tokens))
        if unknown:
            raise ValueError(
                f"unknown special tokens {unknown} in allowed_special; this tokenizer's special tokens are "
                f"{sorted(self.special_tokens) or 'none'}"
            )
        return set(allowed_special)

    def _specials_to_split(
        self, text: str, allowed_special: AllowedSpecial, disallowed_special: AllowedSpecial
    ) -> set[str]:
        """The special tokens to cut ``text`` at, after refusing any disallowed one written in it (tiktoken's rule)."""
        allowed = self._allowed(allowed_special)
        found = sorted(s for s in self._allowed(disallowed_special) - allowed if s in text)
        if found:
            more = f" (and {len(found) - 1} more)" if found[1:] else ""
            raise ValueError(
                f"the text contains the special token {found[0]!r}{more}, which is disallowed: "
                f"pass allowed_special={{{found[0]!r}}} (or 'all') to encode it as its one id, "
                f"or disallowed_special='none' to encode it as plain text"
            )
        return allowed

    def _check_ids(self, ids: Iterable[int]) -> list[int]:
        """``ids`` as a list, after checking each is a valid id (a clear error instead of a KeyError)."""
        ids = list(ids)
        n = self.vocab_size
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise ValueError(f"ids out of range for a vocabulary of {n}: {bad[:5]}{' …' if len(bad) > 5 else ''}")
        return ids

    # --- save and load ---------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """Everything needed to rebuild this tokenizer, as JSON-ready values."""
        raise NotImplementedError

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Tokenizer:
        """The tokenizer that ``_state`` describes (raise ValueError, KeyError or TypeError if it is malformed)."""
        raise NotImplementedError

    def to_json(self) -> str:
        """The file contents: a header, then the state, one list item per line so a person can read it."""
        header = {"format": FORMAT, "version": FORMAT_VERSION, "kind": self.kind}
        lines = []
        for key, value in {**header, **self._state()}.items():
            if isinstance(value, list) and value:
                items = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value)
                lines.append(f"  {json.dumps(key)}: [\n{items}\n  ]")
            else:
                lines.append(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
        return "{\n" + ",\n".join(lines) + "\n}\n"

    def save(self, path: str | Path) -> Path:
        """Write this tokenizer to ``path`` (a small UTF-8 JSON file) and return the path.

        The text goes to a temporary file beside ``path`` that is renamed over it only once complete, so a
        save that fails half way (a full disk, an interrupt) leaves the previous file as it was.
        """
        path = Path(path)
        text = self.to_json()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "x", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """Read a file written by :meth:`save`. ``Tokenizer.load`` builds whichever kind the file holds."""
        path = Path(path)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as err:  # not UTF-8, not JSON, a number too long to read, too deep
            raise TokenizerFileError(f"{path} is not a tokenizer file (not readable UTF-8 JSON: {err})") from err
        return cls.from_state(state, source=str(path))

    @classmethod
    def from_state(cls, state: Any, source: str = "the state") -> Tokenizer:
        """Check the header of a loaded file's dict and build the tokenizer it names."""
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise TokenizerFileError(f"{source} is not a tokenizer file (no \"format\": {FORMAT!r} in it)")
        if state.get("version") != FORMAT_VERSION:
            raise TokenizerFileError(
                f"{source} has format version {state.get('version')!r}; this llmcourse reads version {FORMAT_VERSION}"
            )
        kind = state.get("kind")
        if kind not in Tokenizer.kinds:
            known = sorted(Tokenizer.kinds)
            raise TokenizerFileError(f"{source} holds an unknown kind of tokenizer {kind!r}; known kinds: {known}")
        target = Tokenizer.kinds[kind]
        if not issubclass(target, cls):
            raise TokenizerFileError(f"{source} holds a {kind!r} tokenizer, not a {cls.__name__}")
        body = {key: value for key, value in state.items() if key not in ("format", "version", "kind")}
        try:
            return target._from_state(body)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as err:
            raise TokenizerFileError(f"{source} is a damaged {kind!r} tokenizer file: {err!r}") from err

    # --- seeing the tokens -----------------------------------------------------------------------------

    def pieces(self, ids: Iterable[int]) -> list[tuple[str, list[int]]]:
        """The text of each token, as ``(text, [id])`` pairs: ``[5, 6] -> [("Hel", [5]), ("lo", [6])]``.

        Byte-level tokenizers override this to group tokens that only together make whole characters.
        """
        return [(self.decode([i]), [i]) for i in self._check_ids(ids)]

    def visualize(self, text: str, allowed_special: AllowedSpecial = "all") -> str:
        """``text`` with every token in brackets: ``"Hello world" -> "[Hello][ world]"`` (controls escaped).

        A viewer shows special tokens as the single ids they can be (``allowed_special="all"``); pass
        ``"none"`` to see them as text.
        """
        ids = self.encode(text, allowed_special, disallowed_special="none")
        return "".join(f"[{render(piece)}]" for piece, _ in self.pieces(ids))

    def visualize_html(self, text: str, allowed_special: AllowedSpecial = "all") -> str:
        """``text`` as HTML, each token a coloured span whose tooltip gives its ids (for the chapter's explorer).

        Neighbouring tokens never share a colour (the colours cycle through :data:`PALETTE` by position).
        """
        spans = []
        for n, (piece, ids) in enumerate(self.pieces(self.encode(text, allowed_special, disallowed_special="none"))):
            shown = html.escape(piece).replace("\n", "↵\n").replace("\t", "→\t")
            title = ("id " if len(ids) == 1 else "ids ") + " ".join(map(str, ids))
            spans.append(
                f'<span title="{title}" style="background:{PALETTE[n % len(PALETTE)]};border-radius:3px;'
                f'padding:0 1px">{shown}</span>'
            )
        return '<div style="font-family:monospace;white-space:pre-wrap;line-height:1.9">' + "".join(spans) + "</div>"


def group_whole_characters(token_bytes: Iterable[tuple[int, bytes]]) -> list[tuple[str, list[int]]]:
    """Join byte tokens into runs that decode to whole characters: the pieces of a byte-level tokenizer.

    ``[(1, b"\\xf0\\x9f"), (2, b"\\x99\\x82"), (3, b"!")] -> [("🙂", [1, 2]), ("!", [3])]``: the emoji's four
    bytes were split over two tokens, neither of which is text alone. Invalid bytes become ``"�"``.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces: list[tuple[str, list[int]]] = []
    text, ids = "", []
    for idx, data in token_bytes:
        text += decoder.decode(data)
        ids.append(idx)
        if not decoder.getstate()[0]:  # no bytes waiting for the rest of a character
            pieces.append((text, ids))
            text, ids = "", []
    if ids:
        pieces.append((text + decoder.decode(b"", final=True), ids))
    return pieces
