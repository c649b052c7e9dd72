"""Plausible wrong answers to chapter 8's exercises, each with a phrase the grader's message must contain."""

from __future__ import annotations

import math

import torch
from transformers import TypicalLogitsWarper  # imported before the check, as a learner's earlier cell would

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


def penalty_in_place_copy_returned(logits, ids, frequency_penalty, presence_penalty):
    counts = _counts(logits, ids)
    logits -= frequency_penalty * counts + presence_penalty * (counts > 0).to(logits.dtype)
    return logits.clone()


def penalty_made_in_float32(logits, ids, frequency_penalty, presence_penalty):
    # the penalty built with default-dtype constructors (torch.zeros, torch.full): float32, so with float64 logits
    # the result is float64 by promotion but carries the penalties' float32 rounding
    counts = torch.zeros(logits.shape).scatter_add(1, ids, torch.ones(ids.shape))  # (B, V) float32
    penalty = counts * torch.full((), frequency_penalty) + (counts > 0) * torch.full((), presence_penalty)
    return logits - penalty


def penalty_float64(logits, ids, frequency_penalty, presence_penalty):
    counts = _counts(logits, ids).double()
    return logits.double() - frequency_penalty * counts - presence_penalty * (counts > 0).double()


def penalty_counts_in_float32(logits, ids, frequency_penalty, presence_penalty):
    # the counts in a torch.zeros without dtype= (float32): right for float32 logits, but bfloat16 logits come
    # back float32 (and float64 ones carry the float32 products' rounding)
    counts = torch.zeros(logits.shape).scatter_add(1, ids, torch.ones(ids.shape))
    return logits - frequency_penalty * counts - presence_penalty * (counts > 0).float()


def penalty_returns_logits_when_no_history(logits, ids, frequency_penalty, presence_penalty):
    if ids.numel() == 0:  # nothing generated yet, nothing to penalise: but the caller gets its own tensor back
        return logits
    return penalty_float32_safe(logits, ids, frequency_penalty, presence_penalty)


def penalty_float32_safe(logits, ids, frequency_penalty, presence_penalty):
    counts = _counts(logits, ids)
    return logits - frequency_penalty * counts - presence_penalty * (counts > 0).to(logits.dtype)


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


def typical_mask_made_in_float32(logits, typical_mass, generator):
    # the kept probabilities scattered back into a torch.zeros(...) without dtype=: float32, so float64 logits make
    # scatter refuse the float64 source
    logp = torch.log_softmax(logits, -1)  # in the logits' dtype
    probs = logp.exp()
    entropy = -(probs * logp).sum(-1, keepdim=True)
    order = (-logp - entropy).abs().argsort(-1)
    walked = probs.gather(-1, order)
    keep = walked.cumsum(-1) - walked < typical_mass
    kept = torch.zeros(logits.shape).scatter(-1, order, walked * keep)  # (B, V) in id order
    return torch.multinomial(kept, 1, generator=generator).squeeze(-1)


def typical_log_of_softmax(logits, typical_mass, generator):
    # log(softmax) in the logits' dtype: an id far below the top gets p = 0, log p = -inf and 0 * -inf = nan in
    # the entropy, so the ranking by |-log p - H| is lost
    probs = torch.softmax(logits, -1)
    logp = probs.log()
    entropy = -(probs * logp).sum(-1, keepdim=True)
    return _nucleus_in((-logp - entropy).abs().argsort(-1), probs.double(), typical_mass, generator)


def typical_ids_through_a_list(logits, typical_mass, generator):
    logp, probs, entropy = _typical_parts(logits)
    drawn = _nucleus_in((-logp - entropy).abs().argsort(-1), probs, typical_mass, generator)
    return torch.tensor([int(i) for i in drawn])  # int64 from a list of ints, but float32 from an empty list


def typical_hf_warper(logits, typical_mass, generator):
    # right draws (it passed every public case): Hugging Face's processor does the whole task
    warped = TypicalLogitsWarper(mass=typical_mass)(None, logits)
    return torch.multinomial(torch.softmax(warped, dim=-1), 1, generator=generator).squeeze(-1)


def typical_hf_imported_inside(logits, typical_mass, generator):
    from transformers.generation.logits_process import TypicalLogitsWarper as Warper

    warped = Warper(mass=typical_mass)(None, logits)
    return torch.multinomial(torch.softmax(warped, dim=-1), 1, generator=generator).squeeze(-1)


# --- rolling_kv_step -------------------------------------------------------------------------------------------


def _slots_attend(q, k_buf, v_buf, valid, scale=None):
    scale = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    scores = (q @ k_buf.transpose(-2, -1) * scale).masked_fill(~valid, float("-inf"))  # (B, nh, 1, W)
    return torch.softmax(scores, dim=-1) @ v_buf


def _write(k_buf, v_buf, k_new, v_new, slot):
    k_buf[..., slot, :] = k_new[..., 0, :]
    v_buf[..., slot, :] = v_new[..., 0, :]


def rolling_concat_and_slice(q, k_new, v_new, k_buf, v_buf, pos):
    # the chapter's growing cache, trimmed to the window: a new (W + 1)-position tensor every token
    window = k_buf.size(-2)
    k = torch.cat((k_buf, k_new), dim=-2)[..., -window:, :]
    v = torch.cat((v_buf, v_new), dim=-2)[..., -window:, :]
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1) @ v


def rolling_roll_into_time_order(q, k_new, v_new, k_buf, v_buf, pos):
    # right values, but it copies the whole buffer back into time order every token
    window = k_buf.size(-2)
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    shift = -(pos % window + 1) if pos >= window - 1 else 0
    k, v = torch.roll(k_buf, shift, dims=-2), torch.roll(v_buf, shift, dims=-2)
    valid = torch.arange(window) <= pos
    return _slots_attend(q, k, v, valid)


def rolling_shifts_every_slot(q, k_new, v_new, k_buf, v_buf, pos):
    # a shift register: every slot moves one to the left and the newest goes last (W - 1 copies per token)
    window = k_buf.size(-2)
    k_buf[..., :-1, :] = k_buf[..., 1:, :].clone()
    v_buf[..., :-1, :] = v_buf[..., 1:, :].clone()
    _write(k_buf, v_buf, k_new, v_new, window - 1)
    return _slots_attend(q, k_buf, v_buf, torch.arange(window) >= window - 1 - pos)


def rolling_unmasked(q, k_new, v_new, k_buf, v_buf, pos):
    window = k_buf.size(-2)
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    return _slots_attend(q, k_buf, v_buf, torch.ones(window, dtype=torch.bool))


def rolling_attends_before_writing(q, k_new, v_new, k_buf, v_buf, pos):
    window = k_buf.size(-2)
    out = _slots_attend(q, k_buf, v_buf, torch.arange(window) <= pos)  # slot pos % W still holds pos - W
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    return out


def rolling_masks_itself(q, k_new, v_new, k_buf, v_buf, pos):
    window = k_buf.size(-2)
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    return _slots_attend(q, k_buf, v_buf, torch.arange(window) < min(pos, window))


def rolling_writes_at_pos(q, k_new, v_new, k_buf, v_buf, pos):
    window = k_buf.size(-2)
    _write(k_buf, v_buf, k_new, v_new, pos)  # no % W: past the first W positions there is no such slot
    return _slots_attend(q, k_buf, v_buf, torch.arange(window) <= pos)


def rolling_writes_a_copy(q, k_new, v_new, k_buf, v_buf, pos):
    window = k_buf.size(-2)
    k_buf, v_buf = k_buf.clone(), v_buf.clone()  # the caller's buffers never see the new position
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    return _slots_attend(q, k_buf, v_buf, torch.arange(window) <= pos)


def _counting_steps():
    steps = [0]

    def rolling_counts_its_own_steps(q, k_new, v_new, k_buf, v_buf, pos):
        # its own count of the calls instead of pos: right only for a text that starts with the buffer
        window = k_buf.size(-2)
        _write(k_buf, v_buf, k_new, v_new, steps[0] % window)
        valid = torch.arange(window) <= steps[0]
        steps[0] += 1
        return _slots_attend(q, k_buf, v_buf, valid)

    return rolling_counts_its_own_steps


def rolling_exp_without_max(q, k_new, v_new, k_buf, v_buf, pos):
    # softmax written out as exp(s) / sum exp(s), the largest score not subtracted: inf / inf once a score is ~89
    window = k_buf.size(-2)
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    scores = q @ k_buf.transpose(-2, -1) / math.sqrt(q.size(-1))
    weights = scores.exp().masked_fill(torch.arange(window) > pos, 0.0)
    return weights / weights.sum(-1, keepdim=True) @ v_buf


def rolling_additive_mask_in_float32(q, k_new, v_new, k_buf, v_buf, pos):
    # an additive mask from torch.full without dtype= (float32): float16 scores are promoted to float32
    window = k_buf.size(-2)
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    mask = torch.full((window,), float("-inf")).masked_fill(torch.arange(window) <= pos, 0.0)
    scores = q @ k_buf.transpose(-2, -1) / math.sqrt(q.size(-1)) + mask
    return torch.softmax(scores, dim=-1) @ v_buf.to(scores.dtype)  # v cast to match, after a dtype error


def rolling_no_scale(q, k_new, v_new, k_buf, v_buf, pos):
    window = k_buf.size(-2)
    _write(k_buf, v_buf, k_new, v_new, pos % window)
    return _slots_attend(q, k_buf, v_buf, torch.arange(window) <= pos, scale=1.0)


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


def stream_shortest_hold(pieces, stop):
    return _stream(pieces, stop, lambda pending, stop: next(
        (n for n in range(1, min(len(stop) - 1, len(pending)) + 1) if pending.endswith(stop[:n])), 0))


def stream_holds_end_of_piece(pieces, stop):
    shown, pending = [], ""
    for piece in pieces:
        pending += piece
        at = pending.find(stop)
        if at >= 0:
            shown.append(pending[:at])
            return shown
        keep = next((n for n in range(min(len(stop) - 1, len(piece)), 0, -1) if piece.endswith(stop[:n])), 0)
        shown.append(pending[:len(pending) - keep])
        pending = pending[len(pending) - keep:]
    if shown:
        shown[-1] += pending
    return shown


def stream_restarts_matching(pieces, stop):
    # a character-by-character matcher that starts over after a mismatch (no fallback, as KMP would)
    shown, matched = [], 0
    for piece in pieces:
        chunk = ""
        for ch in piece:
            if ch == stop[matched]:
                matched += 1
                if matched == len(stop):
                    shown.append(chunk)
                    return shown
            else:
                chunk += stop[:matched]
                matched = 1 if ch == stop[0] else 0
                if not matched:
                    chunk += ch
        shown.append(chunk)
    if shown:
        shown[-1] += stop[:matched]
    return shown


def stream_loses_held(pieces, stop):
    shown, held = [], ""
    for piece in pieces:
        text = held + piece
        at = text.find(stop)
        if at >= 0:
            shown.append(text[len(held):at])
            return shown
        keep = _prefix_hold(text, stop)
        shown.append(text[len(held):len(text) - keep])  # only the new text: the held text is forgotten
        held = text[len(text) - keep:]
    if shown:
        shown[-1] += held
    return shown


def stream_skips_empty_pieces(pieces, stop):
    return _stream([piece for piece in pieces if piece], stop, _prefix_hold)


def stream_flush_unguarded(pieces, stop):
    shown, pending = [], ""
    for piece in pieces:
        pending += piece
        at = pending.find(stop)
        if at >= 0:
            shown.append(pending[:at])
            return shown
        keep = _prefix_hold(pending, stop)
        shown.append(pending[:len(pending) - keep])
        pending = pending[len(pending) - keep:]
    shown[-1] += pending  # an empty stream has no last chunk
    return shown


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
        # returning the changed input itself: the engine's aliasing rule (a result that shares memory with an input)
        # speaks first, and its message says to return a new tensor
        WrongAnswer("in place", penalty_in_place, "in place"),
        WrongAnswer("in place, a copy returned", penalty_in_place_copy_returned, "in place"),
        WrongAnswer("float64 result", penalty_float64, "float64"),
        WrongAnswer("penalty made with torch.zeros/torch.full (float32) under float64 logits", penalty_made_in_float32,
                    "the penalised float64 logits"),
        WrongAnswer("counts in a float32 torch.zeros under bfloat16 logits", penalty_counts_in_float32,
                    "should be bfloat16"),
        WrongAnswer("the logits themselves returned for an empty history", penalty_returns_logits_when_no_history,
                    "shares memory"),
    ],
    "ch08.sample_typical": [
        WrongAnswer("top-p instead", typical_is_top_p, "ranked the ids by probability"),
        WrongAnswer("drops the crossing id", typical_drops_crossing, "crosses typical_mass"),
        WrongAnswer("signed distance", typical_signed, "signed difference"),
        WrongAnswer("entropy in bits", typical_entropy_in_bits, "same logarithm"),
        WrongAnswer("global generator", typical_global_rng, "global random generator"),
        WrongAnswer("(B, 1) ids", typical_keeps_shape, "squeeze"),
        WrongAnswer("kept probabilities scattered into a float32 torch.zeros", typical_mask_made_in_float32, "dtype"),
        WrongAnswer("log(softmax) in the logits' dtype (nan entropy for ids far below the top)", typical_log_of_softmax,
                    "how often each id is drawn"),
        WrongAnswer("ids through a Python list (float32 when the batch is empty)", typical_ids_through_a_list,
                    "should be int64"),
        WrongAnswer("Hugging Face's TypicalLogitsWarper", typical_hf_warper, "used the `transformers` library"),
        WrongAnswer("TypicalLogitsWarper imported inside the call", typical_hf_imported_inside,
                    "imported `transformers.generation.logits_process`"),
    ],
    "ch08.rolling_kv_step": [
        WrongAnswer("concatenate and slice", rolling_concat_and_slice, "called `torch.cat`"),
        WrongAnswer("rolled back into time order", rolling_roll_into_time_order, "copies all W positions"),
        WrongAnswer("shifts every slot", rolling_shifts_every_slot, "moved every slot one place"),
        WrongAnswer("empty slots not masked", rolling_unmasked,
                    "attended over every slot while the buffer was filling"),
        WrongAnswer("attends before writing (a window one step old)", rolling_attends_before_writing,
                    "a window one step too old"),
        WrongAnswer("masks its own slot while filling", rolling_masks_itself, "masked the newest slot"),
        WrongAnswer("writes at pos, not pos % W", rolling_writes_at_pos, "the buffer has W slots"),
        WrongAnswer("writes into a copy of the buffers", rolling_writes_a_copy, "left `k_buf` as it was"),
        WrongAnswer("counts its own steps instead of reading pos", _counting_steps(), "after the step at pos="),
        WrongAnswer("no scale", rolling_no_scale, "did not scale"),
        WrongAnswer("exp(s) / sum exp(s) without the largest score subtracted", rolling_exp_without_max, "output"),
        WrongAnswer("additive mask from torch.full (float32) under float16 inputs", rolling_additive_mask_in_float32,
                    "should be float16"),
    ],
    "ch08.stream_with_stop": [
        WrongAnswer("each piece alone", stream_each_piece_alone, "each piece alone"),
        WrongAnswer("no hold-back", stream_no_hold_back, "could be the start of the stop string"),
        WrongAnswer("always holds back", stream_always_holds, "always held back"),
        WrongAnswer("no flush", stream_no_flush, "ran out"),
        WrongAnswer("includes the stop", stream_includes_stop, "showed the stop string itself"),
        WrongAnswer("one chunk", stream_joined, "items"),
        WrongAnswer("holds back the shortest matching end", stream_shortest_hold, "shortest end"),
        WrongAnswer("holds back an end of the newest piece only", stream_holds_end_of_piece, "newest piece"),
        WrongAnswer("character matcher that starts over after a mismatch", stream_restarts_matching, "started over"),
        WrongAnswer("loses the held text when it is released", stream_loses_held, "lost the held-back text"),
        WrongAnswer("skips empty pieces", stream_skips_empty_pieces, "skipped the empty pieces"),
        WrongAnswer("last chunk flushed without a guard (empty stream)", stream_flush_unguarded, "IndexError"),
    ],
}
