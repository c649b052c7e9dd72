"""Chapter 8's references and named mistakes (teacher side): what the public and hidden cases of
llmcourse/checks/ch08.py compare with. All are written here (the rolling cache's output with PyTorch's SDPA); the
chapter's package (llmcourse) has none of these steps:

- ``penalize_frequency_presence``: OpenAI's penalties as a formula in float64 (the counts by ``scatter_add_``), cast
  back to the logits' dtype;
- ``sample_typical``: the typical set's formula in float64: softmax restricted to the ids closest to the entropy
  until their mass reaches typical_mass, renormalised (a case compares it with how often the learner's function
  draws each id);
- ``rolling_kv_step``: for each step of a run, PyTorch's SDPA (in float64) of the query over the last ``window``
  positions of the whole history in time order (the grader keeps every key and value), and for the buffers the
  slot each position belongs in;
- ``stream_with_stop``: a search of the whole text so far, character by character.

Known mistakes are computed on the same inputs (for the rolling cache, by running each mistaken step over the same
sequence of calls), so a message can name the one an answer makes."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from llmcourse.grading.references import reference

# --- 1. penalize_frequency_presence (warm-up) ------------------------------------------------------------------


def counts_of(ids: torch.Tensor, vocab: int) -> torch.Tensor:
    """(B, V) float64: how often each id occurs in each row of ids (B, T)."""
    counts = torch.zeros(ids.size(0), vocab, dtype=torch.float64)
    return counts.scatter_add_(1, ids, torch.ones_like(ids, dtype=torch.float64))


@reference("ch08.penalize_frequency_presence")
def penalty_reference(logits: torch.Tensor, ids: torch.Tensor, frequency: float, presence: float) -> torch.Tensor:
    counts = counts_of(ids, logits.size(-1))
    return (logits.double() - frequency * counts - presence * (counts > 0).double()).to(logits.dtype)


@reference("ch08.penalize_frequency_presence/mistakes")
def penalty_mistakes(logits: torch.Tensor, ids: torch.Tensor, frequency: float, presence: float) -> dict[str, Any]:
    z, counts = logits.double(), counts_of(ids, logits.size(-1))
    seen = (counts > 0).double()
    batch_counts = counts.sum(0, keepdim=True).expand_as(counts)
    sign_aware = torch.where(counts > 0, torch.where(z > 0, z / (1 + frequency), z * (1 + frequency)), z)
    values = {
        "swapped the two penalties: the frequency penalty scales with the count, the presence penalty is paid once":
            z - presence * counts - frequency * seen,
        "counted each id once for the frequency penalty too: it grows with every repeat (count * penalty)":
            z - frequency * seen - presence * seen,
        "charged the presence penalty for every occurrence: it is paid once for an id that occurs at all":
            z - frequency * counts - presence * counts,
        "counted the ids over the whole batch: each row has its own history, so count per row":
            z - frequency * batch_counts - presence * (batch_counts > 0).double(),
        "added the penalties: a positive penalty lowers the logits of the ids already used":
            z + frequency * counts + presence * seen,
        "left out the presence penalty": z - frequency * counts,
        "left out the frequency penalty": z - presence * seen,
        "divided and multiplied as the chapter's repetition penalty (Hugging Face's rule) does: OpenAI's "
        "penalties are subtracted": sign_aware,
    }
    return {text: value.to(logits.dtype) for text, value in values.items()}

# --- 2. sample_typical -----------------------------------------------------------------------------------------


def typical_set(rows: torch.Tensor, mass: float, *, key: str = "typical", crossing: bool = True,
                entropy_base: float = math.e) -> torch.Tensor:
    """softmax(rows) restricted to its typical set and renormalised: (R, V) float64.

    ``key``: rank by |surprisal - H| (``typical``), by probability (``prob``, that is top-p; ranking by the signed
    difference -log p - H gives the same order) or farthest first (``far``); ``crossing``: keep the id that crosses
    the mass.
    """
    logp = torch.log_softmax(rows.double(), dim=-1)  # (R, V)
    probs = logp.exp()
    entropy = -(probs * logp).sum(-1, keepdim=True) / math.log(entropy_base)  # (R, 1)
    score = {"typical": (-logp - entropy).abs(), "prob": -probs, "far": -(-logp - entropy).abs()}[key]
    order = score.argsort(dim=-1)  # (R, V): the ids in the order they are considered
    walked = probs.gather(-1, order)
    before = walked.cumsum(-1) - walked
    keep_sorted = before < mass if crossing else walked.cumsum(-1) <= mass
    keep_sorted[:, 0] = True
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    kept = probs * keep
    return kept / kept.sum(-1, keepdim=True)


@reference("ch08.sample_typical")
def typical_reference(rows: torch.Tensor, mass: float) -> torch.Tensor:
    """(R, V) float64: the probability of each id of each row under typical sampling (what the learner's draws'
    frequencies must come close to)."""
    return typical_set(rows, mass)


@reference("ch08.sample_typical/mistakes")
def typical_mistakes(rows: torch.Tensor, mass: float) -> dict[str, torch.Tensor]:
    z = rows.double()
    return {
        "ranked the ids by probability (that is top-p; so does the signed difference -log p - H): typical sampling "
        "ranks them by |-log p - H|, the distance of their surprisal from the entropy":
            typical_set(rows, mass, key="prob"),
        "dropped the id that crosses typical_mass: keep ids while the mass before them is below it":
            typical_set(rows, mass, crossing=False),
        "kept the least typical ids first: sort the distances in increasing order": typical_set(rows, mass, key="far"),
        "measured the entropy in bits but the surprisal in nats: use the same logarithm for both":
            typical_set(rows, mass, entropy_base=2.0),
        "ignored typical_mass (sampled from the whole distribution)": torch.softmax(z, -1),
        "always took the most typical id instead of sampling":
            F.one_hot(typical_set(rows, 1e-9).argmax(-1), z.shape[-1]).double(),
    }

# --- 3. rolling_kv_step ----------------------------------------------------------------------------------------


def ring_layout(initial: torch.Tensor, history: torch.Tensor, pos: int) -> torch.Tensor:
    """The buffer after the step at ``pos``: slot s holds the latest position p <= pos with p % W == s, or, where no
    position has reached it yet, what ``initial`` held there. ``history`` (B, nh, P, hd) has every position."""
    window = initial.size(-2)
    buffer = initial.clone()
    for p in range(max(0, pos - window + 1), pos + 1):
        buffer[..., p % window, :] = history[..., p, :]
    return buffer


def window_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, pos: int, window: int,
                     scale: float | None = None) -> torch.Tensor:
    """The reference: the query of position ``pos`` over positions max(0, pos - W + 1) .. pos of the full history
    (B, nh, P, hd), in time order (float64, then the query's dtype)."""
    lo = max(0, pos - window + 1)
    k, v = keys[..., lo:pos + 1, :].double(), values[..., lo:pos + 1, :].double()
    return F.scaled_dot_product_attention(q.double(), k, v, scale=scale).to(q.dtype)


def _slots_attend(q: torch.Tensor, k_buf: torch.Tensor, v_buf: torch.Tensor, valid: torch.Tensor,
                  scale: float | None = None) -> torch.Tensor:
    """The query over the buffer's slots in slot order, the slots where ``valid`` (W,) is False masked."""
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q.double() @ k_buf.double().transpose(-2, -1) * scale).masked_fill(~valid, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v_buf.double()).to(q.dtype)


def stacked(run: list[tuple[torch.Tensor, ...]]) -> dict[str, torch.Tensor]:
    """A run's (out, k_buf, v_buf) after every step as three tensors with the steps first: (S, B, nh, 1, hd) and
    (S, B, nh, W, hd) twice (a few large tensors keep the recording small, where many small ones would not)."""
    return {name: torch.stack([step[i] for step in run]) for i, name in enumerate(("out", "k_buf", "v_buf"))}


@reference("ch08.rolling_kv_step")
def ring_reference(q_steps: list[torch.Tensor], keys: torch.Tensor, values: torch.Tensor, k_init: torch.Tensor,
                   v_init: torch.Tensor, start: int) -> dict[str, torch.Tensor]:
    """out, k_buf and v_buf after every step of a run from position ``start`` (see :func:`stacked`): attention over
    the window of the full history, and the ring layout of the buffers."""
    window = k_init.size(-2)
    return stacked([(window_attention(q, keys, values, pos, window), ring_layout(k_init, keys, pos),
                     ring_layout(v_init, values, pos))
                    for q, pos in zip(q_steps, range(start, start + len(q_steps)), strict=True)])


@reference("ch08.rolling_kv_step/mistakes")
def ring_mistakes_stacked(q_steps: list[torch.Tensor], keys: torch.Tensor, values: torch.Tensor,
                          k_init: torch.Tensor, v_init: torch.Tensor, start: int) -> dict[str, dict[str, torch.Tensor]]:
    """Each named mistake's run (see :func:`stacked`), its buffers left out where they are the right ones after
    every step (all but one of the mistakes write the right slot): a case compares with the right buffers there."""
    right = ring_reference(q_steps, keys, values, k_init, v_init, start)
    packed = {}
    for text, run in ring_mistakes(q_steps, keys, values, k_init, v_init, start).items():
        packed[text] = {name: value for name, value in stacked(run).items()
                        if name == "out" or not torch.equal(value, right[name])}
    return packed


def ring_mistakes(q_steps: list[torch.Tensor], keys: torch.Tensor, values: torch.Tensor, k_init: torch.Tensor,
                  v_init: torch.Tensor, start: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
    """Each named mistake's (out, k_buf, v_buf) after every step, by running it over the same steps."""
    window, hd = k_init.size(-2), q_steps[0].size(-1)
    slots = torch.arange(window)
    runs: dict[str, list[tuple[torch.Tensor, ...]]] = {}

    def run(description: str, step: Any, shift: bool = False) -> None:
        k_buf, v_buf, outs = k_init.clone(), v_init.clone(), []
        for i, q in enumerate(q_steps):
            pos = start + i
            k_new, v_new = keys[..., pos:pos + 1, :], values[..., pos:pos + 1, :]
            if shift:  # every slot moves one to the left, the newest goes last: W - 1 copies per token
                k_buf = torch.cat((k_buf[..., 1:, :], k_new), dim=-2)
                v_buf = torch.cat((v_buf[..., 1:, :], v_new), dim=-2)
                out = window_attention(q, keys, values, pos, window)
            else:
                out, k_buf, v_buf = step(q, k_new, v_new, k_buf, v_buf, pos)
            outs.append((out, k_buf.clone(), v_buf.clone()))
        runs[description] = outs

    def write(k_buf: torch.Tensor, v_buf: torch.Tensor, k_new: torch.Tensor, v_new: torch.Tensor,
              pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        k_buf, v_buf = k_buf.clone(), v_buf.clone()
        k_buf[..., pos % window, :], v_buf[..., pos % window, :] = k_new[..., 0, :], v_new[..., 0, :]
        return k_buf, v_buf

    def unmasked(q, k_new, v_new, k_buf, v_buf, pos):
        k_buf, v_buf = write(k_buf, v_buf, k_new, v_new, pos)
        return _slots_attend(q, k_buf, v_buf, slots >= 0), k_buf, v_buf

    def attend_then_write(q, k_new, v_new, k_buf, v_buf, pos):
        out = _slots_attend(q, k_buf, v_buf, slots <= pos)  # slot pos % W still holds position pos - W
        return (out, *write(k_buf, v_buf, k_new, v_new, pos))

    def masks_itself(q, k_new, v_new, k_buf, v_buf, pos):
        k_buf, v_buf = write(k_buf, v_buf, k_new, v_new, pos)
        return _slots_attend(q, k_buf, v_buf, (slots < pos) | (pos >= window)), k_buf, v_buf

    def scaled(scale):
        def step(q, k_new, v_new, k_buf, v_buf, pos):
            k_buf, v_buf = write(k_buf, v_buf, k_new, v_new, pos)
            return _slots_attend(q, k_buf, v_buf, slots <= pos, scale), k_buf, v_buf
        return step

    run("attended over every slot while the buffer was filling: a slot no position has reached yet holds stale "
        "values, and must be masked (a score of -inf) until the window is full", unmasked)
    run("attended before writing the new key and value: the query saw positions pos - W .. pos - 1, a window one step "
        "too old that leaves out the query's own position", attend_then_write)
    run("masked the newest slot while the buffer was filling (slots < pos instead of <= pos): a query attends to its "
        "own position too", masks_itself)
    run("did not scale the scores by 1/sqrt(head_dim)", scaled(1.0))
    run("scaled the scores by 1/head_dim instead of 1/sqrt(head_dim)", scaled(1 / hd))
    run("moved every slot one place to make room for the newest at the end: that copies W - 1 positions every token. "
        "A rolling buffer writes one slot, pos % W, and leaves the others where they are", None, shift=True)
    return runs

# --- 4. stream_with_stop ---------------------------------------------------------------------------------------


def stream_reference(pieces: list[str], stop: str, *, hold: str = "prefix", find: str = "buffer",
                     flush: bool = True, include_stop: bool = False) -> list[str]:
    """The released chunks (the reference with ``hold="prefix"``, ``find="buffer"``; the rest name mistakes)."""
    out, pending = [], ""
    for piece in pieces:
        pending += piece
        where = pending.find(stop) if find == "buffer" else (piece.find(stop) if stop in piece else -1)
        if find == "piece" and where >= 0:
            where = len(pending) - len(piece) + where
        if where >= 0:
            out.append(pending[:where + (len(stop) if include_stop else 0)])
            return out
        if hold == "prefix":
            keep = next((n for n in range(min(len(stop) - 1, len(pending)), 0, -1)
                         if pending.endswith(stop[:n])), 0)
        elif hold == "shortest":  # the shortest end that begins the stop string
            keep = next((n for n in range(1, min(len(stop) - 1, len(pending)) + 1) if pending.endswith(stop[:n])), 0)
        elif hold == "piece":  # an end of the newest piece only
            keep = next((n for n in range(min(len(stop) - 1, len(piece)), 0, -1) if piece.endswith(stop[:n])), 0)
        elif hold == "always":
            keep = min(len(stop) - 1, len(pending))
        else:
            keep = 0
        out.append(pending[:len(pending) - keep])
        pending = pending[len(pending) - keep:]
    if flush and out:
        out[-1] += pending
    return out


def stream_unheld(pieces: list[str], stop: str) -> list[str]:
    """Searches all the text so far but shows everything at once: once the stop string is complete, the part of
    it already shown cannot be taken back (the mistake's chunks)."""
    out, text, shown = [], "", 0
    for piece in pieces:
        text += piece
        where = text.find(stop)
        if where >= 0:
            out.append(text[shown:where] if where > shown else "")
            return out
        out.append(text[shown:])
        shown = len(text)
    return out


def stream_restarting(pieces: list[str], stop: str) -> list[str]:
    """Matches character by character, and after a mismatch starts over from the mismatched character alone (no
    fallback to a shorter beginning of the stop string that the matched text ends with)."""
    out, held = [], ""
    for piece in pieces:
        chunk = ""
        for ch in piece:
            if ch == stop[len(held)]:
                held += ch
                if held == stop:
                    out.append(chunk)
                    return out
            else:
                chunk += held
                held = ch if ch == stop[0] else ""
                chunk += "" if held else ch
        out.append(chunk)
    if out:
        out[-1] += held
    return out


def stream_losing_held(pieces: list[str], stop: str) -> list[str]:
    """Holds back the right text, but shows only the new text when it is released: the held text is lost."""
    out, held = [], ""
    for piece in pieces:
        text = held + piece
        at = text.find(stop)
        if at >= 0:
            out.append(text[len(held):at])
            return out
        keep = next((n for n in range(min(len(stop) - 1, len(text)), 0, -1) if text.endswith(stop[:n])), 0)
        out.append(text[len(held):len(text) - keep])
        held = text[len(text) - keep:]
    if out:
        out[-1] += held
    return out


@reference("ch08.stream_with_stop")
def stream_expected(pieces: list[str], stop: str) -> list[str]:
    """The chunks shown after each piece read."""
    return stream_reference(pieces, stop)


@reference("ch08.stream_with_stop/mistakes")
def stream_mistakes(pieces: list[str], stop: str) -> dict[str, list[str]]:
    return {
        "looked for the stop string in each piece alone: it can be split over several tokens, so search the text "
        "not yet shown": stream_reference(pieces, stop, find="piece", hold="none"),
        "showed text that could be the start of the stop string: hold back the end of the text that matches a "
        "beginning of the stop string": stream_unheld(pieces, stop),
        "always held back len(stop) - 1 characters: hold back only an end that matches a beginning of the stop "
        "string, and show the rest at once": stream_reference(pieces, stop, hold="always"),
        "never showed the text held back when the pieces ran out: add it to the last chunk":
            stream_reference(pieces, stop, flush=False),
        "showed the stop string itself: the text ends before it": stream_reference(pieces, stop, include_stop=True),
        "held back only an end of the newest piece: the text held back can span several pieces (a stop string may "
        "arrive one character per piece)": stream_reference(pieces, stop, hold="piece"),
        "held back only the shortest end that begins the stop string: hold back the longest (after 'aba', 'abab' "
        "may still come from the first 'a')": stream_reference(pieces, stop, hold="shortest"),
        "matched the stop string character by character and started over after a mismatch: the text matched so far "
        "can end with a shorter beginning of the stop string ('\n\n\nUser:' holds '\n\nUser:'), so search the "
        "unshown text": stream_restarting(pieces, stop),
        "lost the held-back text when it turned out not to begin the stop string: show it with the text that "
        "follows": stream_losing_held(pieces, stop),
        "skipped the empty pieces: every piece read gets its chunk, an empty one too":
            stream_reference([piece for piece in pieces if piece], stop),
    }
