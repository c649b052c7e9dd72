"""The tokenizer explorer of chapter 2: type text, pick a tokenizer and a vocabulary size, see the tokens.

    explorer({"characters": {65: char_tok}, "BPE": {512: bpe512, 1024: bpe1024}}, "To be, or not to be")

shows the text with each token on its own coloured background (hover for its id), the ids, and the
counts that matter when comparing tokenizers: characters, UTF-8 bytes, tokens, bytes per token.
:func:`token_report` is the same view as an HTML string, for places where widgets do not run (the
book shows it as a static picture of what the explorer displays).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import ipywidgets as widgets

from .base import PALETTE, Tokenizer

MAX_IDS_SHOWN = 200


def token_report(tok: Tokenizer, text: str) -> str:
    """HTML: the coloured tokens of ``text``, a line of counts, and the ids (the first 200)."""
    try:
        ids = tok.encode(text, allowed_special="all")  # a viewer shows special tokens as their ids
        tokens = tok.visualize_html(text)
    except ValueError as err:  # e.g. a character tokenizer meeting a character it never saw
        problem = html.escape(str(err))
        return f'<div style="color:#b00020"><b>{type(tok).__name__} cannot encode this text:</b> {problem}</div>'
    n_bytes = len(text.encode("utf-8"))
    ratio = f"{n_bytes / len(ids):.2f}" if ids else "–"
    counts = (
        f"{len(text):,} characters · {n_bytes:,} UTF-8 bytes · <b>{len(ids):,} tokens</b> · "
        f"{ratio} bytes per token · vocabulary of {tok.vocab_size:,}"
    )
    shown = ", ".join(map(str, ids[:MAX_IDS_SHOWN])) + (" …" if len(ids) > MAX_IDS_SHOWN else "")
    return (
        f"{tokens}<p style='margin:6px 0'>{counts}</p>"
        f"<div style='font-family:monospace;font-size:85%;color:#555'>ids: [{shown}]</div>"
    )


def token_colours(rows: Sequence[Sequence[str]], palette: Sequence[str] = PALETTE) -> dict[str, str]:
    """One colour per distinct token, the same in every row, that no different token beside it shares.

    ``[["lo", "w"], ["low", "er"]] -> {"lo": palette[0], "w": palette[1], "low": palette[0], "er": palette[1]}``.
    For figures where a token keeps its colour from row to row: cycling through the palette in order of first
    appearance would give two neighbours the same colour once there are more tokens than colours. This is
    greedy graph colouring over "appears next to": each token, in order of first appearance, takes the first
    colour none of its coloured neighbours has. That always exists while no token has as many different
    neighbours as there are colours; past that, it takes the colour its neighbours use least. A token next
    to itself (``[aa][aa]``) necessarily shares its own colour.
    """
    if not palette:
        raise ValueError("the palette is empty: give at least one colour")
    beside: dict[str, set[str]] = {}  # token -> the different tokens seen next to it; keys in order of appearance
    for row in rows:
        row = list(row)
        for n, piece in enumerate(row):
            neighbours = beside.setdefault(piece, set())
            neighbours.update(other for other in row[max(0, n - 1) : n] + row[n + 1 : n + 2] if other != piece)
    colours: dict[str, str] = {}
    for piece, neighbours in beside.items():
        taken = [colours[other] for other in neighbours if other in colours]
        free = [c for c in palette if c not in taken]
        colours[piece] = free[0] if free else min(palette, key=taken.count)
    return colours


def explorer(tokenizers: Mapping[str, Mapping[int, Tokenizer]], text: str = "") -> widgets.VBox:
    """A widget: a text box, a choice of tokenizer kind and vocabulary size, and the live :func:`token_report`.

    ``tokenizers`` maps a kind's name to its trained tokenizers by vocabulary size.
    """
    if not tokenizers or not all(tokenizers.values()):
        raise ValueError("give at least one tokenizer for every kind: {'BPE': {512: tok, ...}, ...}")
    box = widgets.Textarea(value=text, description="Text", layout=widgets.Layout(width="100%", height="80px"))
    kind = widgets.ToggleButtons(options=list(tokenizers), description="Tokenizer")
    size = widgets.SelectionSlider(options=sorted(tokenizers[kind.value]), description="Vocab size")
    view = widgets.HTML()

    def refresh(_: object = None) -> None:
        sizes = sorted(tokenizers[kind.value])
        if list(size.options) != sizes:
            size.options = sizes
            size.value = sizes[-1]
        size.disabled = len(sizes) == 1
        view.value = token_report(tokenizers[kind.value][size.value], box.value)

    for control in (box, kind, size):
        control.observe(refresh, names="value")
    refresh()
    return widgets.VBox([box, kind, size, view])
