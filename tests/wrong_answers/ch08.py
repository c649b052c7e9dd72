"""Plausible wrong answers to chapter 8's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import torch

from . import WrongAnswer

# --- penalize_frequency_presence -------------------------------------------------------------------------------


def _counts(logits, ids):
    return torch.zeros_like(logits).scatter_add(1, ids, torch.ones_like(ids, dtype=logits.dtype))  # (B, V)


def penalty_swapped(logits, ids, frequency_penalty, presence_penalty):
    counts = _counts(logits, ids)
    return logits - presence_penalty * counts - frequency_penalty * (counts > 0).to(logits.dtype)


def penalty_once(logits, ids, frequency_penalty, presence_penalty):
    seen = torch.zeros_like(logits).scatter(1, ids, 1.0)  # scatter, not scatter_add: every id counted once
    return logits - frequency_penalty * seen - presence_penalty * seen


def penalty_whole_batch(logits, ids, frequency_penalty, presence_penalty):
    counts = torch.bincount(ids.flatten(), minlength=logits.shape[-1]).to(logits.dtype)  # (V,): all rows together
    return logits - frequency_penalty * counts - presence_penalty * (counts > 0).to(logits.dtype)


def penalty_added(logits, ids, frequency_penalty, presence_penalty):
    counts = _counts(logits, ids)
    return logits + frequency_penalty * counts + presence_penalty * (counts > 0).to(logits.dtype)


def penalty_sign_aware(logits, ids, frequency_penalty, presence_penalty):
    factor = 1 + frequency_penalty
    seen = _counts(logits, ids) > 0
    changed = torch.where(logits > 0, logits / factor, logits * factor)
    return torch.where(seen, changed, logits)


def penalty_in_place(logits, ids, frequency_penalty, presence_penalty):
    counts = _counts(logits, ids)
    logits -= frequency_penalty * counts + presence_penalty * (counts > 0).to(logits.dtype)
    return logits


def penalty_float64(logits, ids, frequency_penalty, presence_penalty):
    counts = _counts(logits, ids).double()
    return logits.double() - frequency_penalty * counts - presence_penalty * (counts > 0).double()


# --- sample_typical --------------------------------------------------------------------------------------------


def _nucleus_in(order, probs, mass, generator, crossing=True):
    walked = probs.gather(-1, order)
    before = walked.cumsum(-1) - walked
    keep = before < mass if crossing else walked.cumsum(-1) <= mass
    keep[:, 0] = True
    rank = torch.multinomial(walked * keep, 1, generator=generator)
    return order.gather(-1, rank).squeeze(-1)


def _typical_parts(logits, entropy_scale=1.0):
    logp = torch.log_softmax(logits.double(), -1)
    probs = logp.exp()
    entropy = -(probs * logp).sum(-1, keepdim=True) * entropy_scale
    return logp, probs, entropy


def typical_is_top_p(logits, typical_mass, generator):
    probs = torch.softmax(logits.double(), -1)
    return _nucleus_in(probs.argsort(-1, descending=True), probs, typical_mass, generator)


def typical_drops_crossing(logits, typical_mass, generator):
    logp, probs, entropy = _typical_parts(logits)
    return _nucleus_in((-logp - entropy).abs().argsort(-1), probs, typical_mass, generator, crossing=False)


def typical_signed(logits, typical_mass, generator):
    logp, probs, entropy = _typical_parts(logits)
    return _nucleus_in((-logp - entropy).argsort(-1), probs, typical_mass, generator)


def typical_entropy_in_bits(logits, typical_mass, generator):
    logp, probs, entropy = _typical_parts(logits, 1 / math.log(2))
    return _nucleus_in((-logp - entropy).abs().argsort(-1), probs, typical_mass, generator)


def typical_global_rng(logits, typical_mass, generator):
    logp, probs, entropy = _typical_parts(logits)
    return _nucleus_in((-logp - entropy).abs().argsort(-1), probs, typical_mass, None)


def typical_keeps_shape(logits, typical_mass, generator):
    logp, probs, entropy = _typical_parts(logits)
    return _nucleus_in((-logp - entropy).abs().argsort(-1), probs, typical_mass, generator)[:, None]


# --- rolling_kv_step -------------------------------------------------------------------------------------------


def _attend(q, k, v, scale=None):
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    return torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1) @ v


def rolling_attends_before_appending(q, k_new, v_new, k_cache, v_cache, window):
    out = _attend(q, k_cache[..., -window:, :], v_cache[..., -window:, :])  # the old positions only
    k = torch.cat((k_cache, k_new), dim=-2)[..., -window:, :]
    v = torch.cat((v_cache, v_new), dim=-2)[..., -window:, :]
    return out, k, v


def rolling_trims_after(q, k_new, v_new, k_cache, v_cache, window):
    k, v = torch.cat((k_cache, k_new), dim=-2), torch.cat((v_cache, v_new), dim=-2)
    return _attend(q, k, v), k[..., -window:, :], v[..., -window:, :]


def rolling_keeps_oldest(q, k_new, v_new, k_cache, v_cache, window):
    k = torch.cat((k_cache, k_new), dim=-2)[..., :window, :]
    v = torch.cat((v_cache, v_new), dim=-2)[..., :window, :]
    return _attend(q, k, v), k, v


def rolling_no_scale(q, k_new, v_new, k_cache, v_cache, window):
    k = torch.cat((k_cache, k_new), dim=-2)[..., -window:, :]
    v = torch.cat((v_cache, v_new), dim=-2)[..., -window:, :]
    return _attend(q, k, v, scale=1.0), k, v


def rolling_ring_buffer_in_place(q, k_new, v_new, k_cache, v_cache, window):
    if k_cache.size(-2) < window:
        k, v = torch.cat((k_cache, k_new), dim=-2), torch.cat((v_cache, v_new), dim=-2)
    else:  # shift left and write the newest at the end, in the caller's tensors
        k_cache[..., :-1, :] = k_cache[..., 1:, :].clone()
        v_cache[..., :-1, :] = v_cache[..., 1:, :].clone()
        k_cache[..., -1:, :] = k_new
        v_cache[..., -1:, :] = v_new
        k, v = k_cache, v_cache
    return _attend(q, k, v), k, v


def rolling_detached(q, k_new, v_new, k_cache, v_cache, window):
    k = torch.cat((k_cache, k_new), dim=-2)[..., -window:, :].detach()
    v = torch.cat((v_cache, v_new), dim=-2)[..., -window:, :].detach()
    return _attend(q, k, v), k, v


# --- stream_with_stop ------------------------------------------------------------------------------------------


def _stream(pieces, stop, hold, find_in_piece=False, flush=True, include=False):
    shown, pending = [], ""
    for piece in pieces:
        pending += piece
        at = piece.find(stop) if find_in_piece else pending.find(stop)
        if at >= 0:
            at = len(pending) - len(piece) + at if find_in_piece else at
            shown.append(pending[:at + (len(stop) if include else 0)])
            return shown
        keep = hold(pending, stop)
        shown.append(pending[:len(pending) - keep])
        pending = pending[len(pending) - keep:]
    if flush and shown:
        shown[-1] += pending
    return shown


def _prefix_hold(pending, stop):
    return next((n for n in range(min(len(stop) - 1, len(pending)), 0, -1) if pending.endswith(stop[:n])), 0)


def stream_each_piece_alone(pieces, stop):
    return _stream(pieces, stop, lambda pending, stop: 0, find_in_piece=True)


def stream_no_hold_back(pieces, stop):
    shown, text, done = [], "", 0
    for piece in pieces:
        text += piece
        at = text.find(stop)
        if at >= 0:  # found in the whole text, but its start may already be on screen
            shown.append(text[done:at] if at > done else "")
            return shown
        shown.append(text[done:])
        done = len(text)
    return shown


def stream_always_holds(pieces, stop):
    return _stream(pieces, stop, lambda pending, stop: min(len(stop) - 1, len(pending)))


def stream_no_flush(pieces, stop):
    return _stream(pieces, stop, _prefix_hold, flush=False)


def stream_includes_stop(pieces, stop):
    return _stream(pieces, stop, _prefix_hold, include=True)


def stream_joined(pieces, stop):
    text = "".join(pieces)
    at = text.find(stop)
    return [text if at < 0 else text[:at]]


WRONG_ANSWERS = {
    "ch08.penalize_frequency_presence": [
        WrongAnswer("swapped", penalty_swapped, "swapped the two penalties"),
        WrongAnswer("counted once", penalty_once, "counted each id once"),
        WrongAnswer("whole batch", penalty_whole_batch, "over the whole batch"),
        WrongAnswer("added", penalty_added, "added the penalties"),
        WrongAnswer("the chapter's sign-aware penalty", penalty_sign_aware, "Hugging Face's rule"),
        WrongAnswer("in place", penalty_in_place, "in place"),
        WrongAnswer("float64 result", penalty_float64, "float64"),
    ],
    "ch08.sample_typical": [
        WrongAnswer("top-p instead", typical_is_top_p, "ranked the ids by probability"),
        WrongAnswer("drops the crossing id", typical_drops_crossing, "crosses typical_mass"),
        WrongAnswer("signed distance", typical_signed, "signed difference"),
        WrongAnswer("entropy in bits", typical_entropy_in_bits, "same logarithm"),
        WrongAnswer("global generator", typical_global_rng, "global random generator"),
        WrongAnswer("(B, 1) ids", typical_keeps_shape, "squeeze"),
    ],
    "ch08.rolling_kv_step": [
        WrongAnswer("attends before appending", rolling_attends_before_appending, "attended before appending"),
        WrongAnswer("trims after attending", rolling_trims_after, "window plus one"),
        WrongAnswer("keeps the oldest", rolling_keeps_oldest, "dropped the newest"),
        WrongAnswer("no scale", rolling_no_scale, "did not scale"),
        WrongAnswer("ring buffer in place", rolling_ring_buffer_in_place, "in place"),
        WrongAnswer("detached cache", rolling_detached, "gradient"),
    ],
    "ch08.stream_with_stop": [
        WrongAnswer("each piece alone", stream_each_piece_alone, "each piece alone"),
        WrongAnswer("no hold-back", stream_no_hold_back, "could be the start of the stop string"),
        WrongAnswer("always holds back", stream_always_holds, "always held back"),
        WrongAnswer("no flush", stream_no_flush, "ran out"),
        WrongAnswer("includes the stop", stream_includes_stop, "showed the stop string itself"),
        WrongAnswer("one chunk", stream_joined, "items"),
    ],
}
