"""Is my run right? Each chapter's key results, the band they should land in, and a verdict in plain words.

Every chapter declares its key results here, once: the loss after training, an accuracy, a compression, with
which direction is better and how far a run may stray. Where a result should land comes from *real runs*: the
reference values in ``expected_runs.json`` beside this file, each stored with the command that made it, the
device, the versions and the date. They are written by ``python -m llmcourse execute NOTEBOOK --record``, never
by hand. A band is the reference value plus or minus the declared tolerance, for one profile on one device class
(``cpu``, ``cuda``, ``mps``): a run on a device class that has no reference run is reported as *not measured*,
never as a pass.

At the end of each chapter ``expect("chNN", name=value, ...)`` prints, for the learner's own profile and device,
each result, its band and a verdict (*within range*, *better than expected* or *off*) and, when off, the most
likely causes. Under the tests (``LLMCOURSE_EXPECT_STRICT=1``, set by conftest.py) anything outside its band, or
not measured, raises: a change that silently degrades a chapter fails CI.
"""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNS_FILE = Path(__file__).with_name("expected_runs.json")
STRICT_ENV = "LLMCOURSE_EXPECT_STRICT"  # "1": raise when a result is outside its band (the tests)
RECORD_ENV = "LLMCOURSE_EXPECT_RECORD"  # a file: expect() appends what it saw (execute --record)


@dataclass(frozen=True)
class Result:
    """One key result of a chapter: what it is, which way is better, and how far a run may stray.

    ``tolerance`` is absolute, in the result's unit, per profile. The ci profile runs on one thread with fixed seeds
    and gives the same digits run after run, so its bands are narrow: a bug that moves a result by a little (a
    learning rate halved, a mask left out) leaves them. Laptop runs use two threads and take longer, so theirs allow
    for other CPUs. ``None`` for a profile: the run there is too short for this result to mean anything (an exact
    match of 0 after forty steps), so it is reported but not judged. ``strict=False`` for a result that depends on
    the machine's speed or load (a wall time): reported against its band, never failing a run.
    ``device_independent``: the result is computed on the CPU in every case (a tokenizer's compression, a toy
    model the chapter keeps on the CPU), so the CPU's reference run judges it on any device.
    """

    name: str
    label: str
    unit: str
    better: str  # "higher" or "lower"
    tolerance: dict[str, float | None]
    strict: bool = True
    digits: int = 3
    device_independent: bool = False


def _tol(ci: float | None, laptop: float, gpu: float | None = None) -> dict[str, float | None]:
    return {"ci": ci, "laptop": laptop, "gpu": laptop if gpu is None else gpu}


# The key results of each chapter. A chapter's last cell passes every one of them to expect().
RESULTS: dict[str, tuple[Result, ...]] = {
    "ch01": (
        Result("train_acc", "spiral MLP, training accuracy", "", "higher", _tol(0.01, 0.02)),
        Result("val_acc", "spiral MLP, validation accuracy", "", "higher", _tol(0.015, 0.02)),
    ),
    "ch02": (
        Result("bytes_per_token", "BPE, held-out compression", "bytes/token", "higher", _tol(0.005, 0.005),
               device_independent=True),
    ),
    "ch03": (
        Result("final_loss", "skip-gram, final training loss", "nats", "lower", _tol(0.02, 0.05)),
        Result("analogy_acc", "Google analogies, 3CosAdd accuracy", "", "higher", _tol(None, 0.02)),
    ),
    "ch04": (
        Result("bigram_val", "bigram, validation loss", "nats/char", "lower", _tol(0.01, 0.02)),
        Result("mlp_val", "MLP, validation loss", "nats/char", "lower", _tol(0.02, 0.05)),
        Result("rnn_val", "RNN, validation loss", "nats/char", "lower", _tol(0.02, 0.05)),
        Result("lstm_val", "LSTM, validation loss", "nats/char", "lower", _tol(0.02, 0.05)),
    ),
    "ch05": (
        # shifted: at positions the model never trained on, where only relative positions (RoPE's) still work; at the
        # trained positions every kind of position scores 1.0, a broken RoPE included
        Result("rope_shifted_acc", "position toy task, RoPE accuracy shifted", "", "higher", _tol(0.02, 0.02),
               device_independent=True),
        Result("lm_val", "one-layer attention LM, validation loss", "nats/char", "lower", _tol(0.02, 0.05)),
    ),
    "ch06": (
        Result("seq2seq_loss", "encoder-decoder, training loss (last 5 steps)", "nats", "lower", _tol(0.02, 0.05)),
        Result("seq2seq_acc", "encoder-decoder, exact match", "", "higher", _tol(None, 0.05)),
        Result("climb_full_val", "the climb's full stage, validation loss", "nats/char", "lower", _tol(None, 0.05)),
    ),
    "ch07": (
        Result("char_val", "character GPT, validation loss", "nats/char", "lower", _tol(0.01, 0.04)),
        Result("bpe_val", "BPE GPT, validation loss per character", "nats/char", "lower", _tol(0.01, 0.05)),
        Result("char_seconds", "character GPT, training time", "s", "lower", _tol(60, 300), strict=False, digits=0),
    ),
    "ch08": (
        Result("val_ppl", "held-out perplexity", "", "lower", _tol(0.3, 0.3), digits=2),
    ),
    # ch09, ci: 30 steps on 800 sentences say only that the code runs; the bag of words is exact (L-BFGS). laptop:
    # each classifier is one run with one seed, whose test accuracy has a standard error of ~0.014 (1,066 sentences),
    # and seeds move it by more than that (the chapter's first laptop run had from-scratch at 0.68 in its table and
    # 0.52 in its learning curve's full-data point): 0.05.
    "ch09": (
        Result("mlm_val_acc", "encoder, held-out masked-token accuracy", "", "higher", _tol(None, 0.02)),
        Result("bow_test_acc", "bag of words + logistic regression, test accuracy", "", "higher", _tol(0.01, 0.01)),
        Result("scratch_test_acc", "transformer from scratch, test accuracy", "", "higher", _tol(None, 0.05)),
        Result("gpt_test_acc", "pretrained GPT + head, test accuracy", "", "higher", _tol(None, 0.05)),
        Result("finetuned_test_acc", "pretrained encoder fine-tuned, test accuracy", "", "higher", _tol(None, 0.05)),
        Result("lora_test_acc", "pretrained encoder with LoRA, test accuracy", "", "higher", _tol(None, 0.05)),
        Result("distilled_test_acc", "distilled student, test accuracy", "", "higher", _tol(None, 0.05)),
    ),
    # ch10, ci: twenty SFT steps of a 2-layer model say only that every path runs; its accuracies are 0 or near it,
    # and only its validation losses are judged (one thread, fixed seeds: the same digits run after run). laptop:
    # each accuracy is a mean of six task means over 50 held-out questions each (identity's 12): the questions alone
    # give it a standard error of about 0.03 (pilot's per-task accuracies); another seed of the training moves it
    # more, unmeasured: 0.08. The validation losses after fine-tuning move with the run: 0.15 with the mix, 0.4
    # without it (several nats above the base's, where a small change of the run moves it far).
    "ch10": (
        Result("base_val", "base GPT, validation loss", "nats/char", "lower", _tol(0.01, 0.02)),
        Result("base_few_shot", "base GPT few-shot, mean held-out accuracy", "", "higher", _tol(None, 0.05)),
        Result("sft_mean", "SFT with the pretraining mix, mean held-out accuracy", "", "higher", _tol(None, 0.08)),
        Result("sft_val", "SFT with the pretraining mix, validation loss", "nats/char", "lower", _tol(0.02, 0.15)),
        Result("nomix_mean", "SFT without the mix, mean held-out accuracy", "", "higher", _tol(None, 0.08)),
        Result("nomix_val", "SFT without the mix, validation loss", "nats/char", "lower", _tol(0.02, 0.4)),
        Result("dpo_mean", "SFT + DPO, mean held-out accuracy", "", "higher", _tol(None, 0.08)),
        Result("rl_pass1_before", "RL tasks, held-out pass@1 before GRPO", "", "higher", _tol(None, 0.1)),
        Result("rl_pass1_after", "RL tasks, held-out pass@1 after GRPO", "", "higher", _tol(None, 0.1)),
    ),
}


def device_class(device: Any = None) -> str:
    """``cpu``, ``cuda`` or ``mps``: what the bands are kept for (``None``: the course's best device)."""
    import torch

    if device is None:
        from .device import best_device

        device = best_device()
    return torch.device(device).type


def load_runs(path: Path | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """{chapter: {"profile/device": run}}: the reference runs, each with values, command, environment and date."""
    path = RUNS_FILE if path is None else path
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def reference_value(chapter: str, name: str, profile: str, device: Any = None) -> float | None:
    """The reference run's value of one result for ``profile`` on this device class (None: never measured)."""
    result = next(r for r in RESULTS[chapter] if r.name == name)
    run = _reference_run(load_runs().get(chapter, {}), profile, device_class(device), result)
    return None if run is None else run["values"].get(name)


@dataclass
class Verdict:
    """One result of the learner's run against its band."""

    result: Result
    value: float
    reference: float | None  # None: never measured for this profile on this device class
    status: str  # "within", "better", "off", "not measured", "not judged", "not a number"
    others: list[str] = field(default_factory=list)  # other profiles whose band holds the value
    tolerance: float | None = None

    @property
    def counts(self) -> bool:
        """Whether this verdict decides if the run is right (a timing or an unjudged result does not)."""
        return self.status == "not a number" or (self.result.strict and self.status != "not judged")


@dataclass
class Report:
    """What :func:`expect` found: one verdict per result, the causes to check, and the text it printed."""

    chapter: str
    profile: str
    device: str
    verdicts: list[Verdict]
    causes: list[str]
    text: str

    @property
    def ok(self) -> bool:
        """Every result that counts is inside its band (a result never measured is not a pass)."""
        return all(v.status == "within" for v in self.verdicts if v.counts)

    def __repr__(self) -> str:  # the report is its text, already printed; a bare `expect(...)` prints no more
        return f"<expected-results report for {self.chapter}: {'ok' if self.ok else 'not ok'}>"


def _verdict(result: Result, value: float, reference: float | None, tolerance: float | None) -> str:
    if not math.isfinite(value):
        return "not a number"
    if reference is None:
        return "not measured"
    if tolerance is None:
        return "not judged"
    if abs(value - reference) <= tolerance:
        return "within"
    above = value > reference
    return "better" if above == (result.better == "higher") else "off"


def _format(result: Result, value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.{result.digits}f}"


def _reference_run(chapter_runs: dict, profile: str, where: str, result: Result) -> dict | None:
    """The run that judges ``result``: this device class's, or the CPU's for a result computed on the CPU anyway."""
    run = chapter_runs.get(f"{profile}/{where}")
    if run is None and result.device_independent:
        run = chapter_runs.get(f"{profile}/cpu")
    return run


def expect(chapter: str, *, settings: dict[str, Any] | None = None, device: Any = None,
           profile: str | None = None, runs: dict | None = None, show_all: bool = True,
           is_reference: bool = False, **values: float) -> Report:
    """Compare this run's key results with the bands for its profile and device; print and return the verdicts.

    ``values``: every result the chapter declares in :data:`RESULTS`, by name. ``settings``: the chapter's
    ``cfg``, so a changed setting can be named as a cause. ``is_reference``: this run is the reference run itself
    (``execute --record``), so its verdict says nothing and the text says so. Raises in strict mode only
    (``LLMCOURSE_EXPECT_STRICT=1``): when a result that counts is outside its band, or, on the CPU, where every
    chapter has reference runs, never measured.
    """
    from . import __version__
    from .config import PROFILES, active_profile
    from .config import settings as profile_settings

    if chapter not in RESULTS:
        raise KeyError(f"expect: no declared results for {chapter!r}; chapters with results: {', '.join(RESULTS)}")
    declared = {r.name: r for r in RESULTS[chapter]}
    missing = sorted(set(declared) - set(values))
    unknown = sorted(set(values) - set(declared))
    if missing or unknown:
        raise TypeError(f"expect({chapter!r}): " + "; ".join(
            part for part in (f"missing {', '.join(missing)}" if missing else "",
                              f"no declared result named {', '.join(unknown)}" if unknown else "") if part)
                        + f" (declared: {', '.join(declared)})")
    profile = profile or (settings.get("profile") if settings else None) or active_profile()
    where = device_class(device)
    runs = load_runs() if runs is None else runs
    chapter_runs = runs.get(chapter, {})
    reference_run = chapter_runs.get(f"{profile}/{where}")

    verdicts = []
    for name, result in declared.items():
        value = float(values[name])
        run = _reference_run(chapter_runs, profile, where, result)
        reference = run["values"].get(name) if run else None
        tolerance = result.tolerance[profile]
        status = _verdict(result, value, reference, tolerance)
        others = []
        for other in PROFILES:
            other_run = _reference_run(chapter_runs, other, where, result)
            other_tolerance = result.tolerance[other]
            if other != profile and other_run and name in other_run["values"] and other_tolerance is not None \
                    and math.isfinite(value) and abs(value - other_run["values"][name]) <= other_tolerance:
                others.append(other)
        verdicts.append(Verdict(result, value, reference, status, others, tolerance))

    causes = _likely_causes(chapter, profile, where, verdicts, reference_run, settings, profile_settings)
    text = _render(chapter, profile, where, verdicts, causes, reference_run, chapter_runs if show_all else {},
                   is_reference)
    report = Report(chapter, profile, where, verdicts, causes, text)
    print(text)

    record = os.environ.get(RECORD_ENV)
    if record:  # execute --record: hand the values to the command that stores them as a reference run
        import torch

        from .device import environment_report

        line = {"chapter": chapter, "profile": profile, "device": where, "values": values,
                "environment": environment_report(None if device is None else torch.device(device)),
                "torch": torch.__version__,
                "python": platform.python_version(), "llmcourse": __version__}
        with open(record, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
    elif os.environ.get(STRICT_ENV) == "1":
        wrong = [f"{v.result.label} {_format(v.result, v.value)} ({v.status})" for v in report.verdicts
                 if v.counts and v.status not in ("within", "not measured")
                 or v.status == "not measured" and where == "cpu"]
        if wrong:
            raise AssertionError(f"{chapter}, {profile} profile on {where}: outside the expected band: "
                                 + "; ".join(wrong))
    return report


def _likely_causes(chapter: str, profile: str, where: str, verdicts: list[Verdict], reference_run: dict | None,
                   settings: dict[str, Any] | None, profile_settings) -> list[str]:
    """The two or three most likely reasons a result is off, most specific first."""
    if not any(v.counts and v.status in ("off", "not a number") for v in verdicts):
        return []
    causes = []
    for v in verdicts:
        if v.status == "off" and v.others:
            causes.append(f"Wrong profile? Your {v.result.label} is what the {' and '.join(v.others)} profile "
                          f"gives, and this run is in {profile}: check LLMCOURSE_PROFILE, restart the kernel and "
                          "run all cells.")
            break
    if settings is not None:
        declared = profile_settings(chapter, profile)
        changed = [k for k in declared if k in settings and settings[k] != declared[k] and k != "profile"]
        if changed:
            shown = ", ".join(f"{k} = {settings[k]!r} (the profile has {declared[k]!r})" for k in changed[:3])
            causes.append(f"Changed settings: {shown}. The bands hold for the profile's own settings.")
    causes.append("A changed seed, or cells run out of order or twice: restart the kernel and run all cells; "
                  "every chapter seeds its runs, so the same profile on the same device lands in the band.")
    if where != "cpu" and reference_run:
        causes.append(f"Device numerics: your {where} device may compute differently from the "
                      f"{reference_run['device_name']} the reference ran on. Run `python -m llmcourse doctor`: it "
                      "compares this device with the CPU and says whether to trust it; or set LLMCOURSE_DEVICE=cpu.")
    if reference_run:
        import torch

        from . import _release

        mine, theirs = _release(torch.__version__)[:2], _release(reference_run.get("torch", ""))[:2]
        if len(mine) == len(theirs) == 2 and mine < theirs:
            causes.append(f"An old torch: yours is {torch.__version__}, the reference ran on {reference_run['torch']}."
                          " Upgrade, or install the course's lock file (see the README).")
    causes.append("Edited code above: an experiment left in a cell, or a package function replaced by your own "
                  "version; compare with the committed notebook.")
    return causes[:3]


WORDS = {"within": "within range", "better": "better than expected", "off": "OFF",
         "not measured": "not measured here", "not judged": "not judged in this profile",
         "not a number": "OFF (not a number)"}
SUSPICIOUS = 3  # a result better than its reference by this many tolerances is more likely a leak than progress


def _render(chapter: str, profile: str, where: str, verdicts: list[Verdict], causes: list[str],
            reference_run: dict | None, chapter_runs: dict, is_reference: bool = False) -> str:
    labels = [v.result.label + (f" ({v.result.unit})" if v.result.unit else "") for v in verdicts]
    width = max(map(len, labels))
    lines = [f"Is my result right? {chapter}, {profile} profile on {where}"]
    lines.append(f"  {'result':<{width}}  {'yours':>9}  {'expected':>19}  verdict")
    for label, v in zip(labels, verdicts, strict=True):
        r = v.result
        if v.reference is None:
            band = "never measured"
        elif v.tolerance is None:
            band = f"{_format(r, v.reference)}"
        else:
            band = f"{_format(r, v.reference)} ± {_format(r, v.tolerance)}"
        verdict = WORDS[v.status] + ("" if r.strict else " (a timing: reported, not judged)")
        lines.append(f"  {label:<{width}}  {_format(r, v.value):>9}  {band:>19}  {verdict}")
    judged = [v for v in verdicts if v.counts]
    borrowed = [v.result.label for v in verdicts if v.reference is not None and reference_run is None]
    if reference_run is None and borrowed:
        lines.append(f"No run of {chapter} in the {profile} profile on {where} has been recorded. What the chapter "
                     f"computes on the CPU in any case ({', '.join(borrowed)}) is judged against the CPU's reference "
                     "run; the rest is reported, not passed. Please report your numbers to the course.")
    elif reference_run is None:
        lines.append(f"No run of {chapter} in the {profile} profile on {where} has been recorded, so there is no band "
                     "to judge against: your numbers are reported, not passed. Please report them to the course.")
    elif is_reference:
        lines.append(f"This run is the reference run itself (`{reference_run['command']}`): the bands are drawn around "
                     "its own values, so this verdict says nothing about it; a learner's run is judged against it.")
    else:
        lines.append(f"The band's centre is a real run: `{reference_run['command']}` on "
                     f"{reference_run['device_name']}, torch {reference_run['torch']}, {reference_run['date']}.")
    if any(v.status == "not judged" for v in verdicts):
        lines.append(f"Not judged in the {profile} profile: a run this short is too early for that result to mean "
                     "anything (it is judged in the longer profiles).")
    suspicious = [v for v in verdicts if v.status == "better" and v.tolerance
                  and abs(v.value - v.reference) > SUSPICIOUS * v.tolerance]
    if suspicious:
        lines.append(f"Much better than expected ({', '.join(v.result.label for v in suspicious)}): more likely a leak "
                     "than progress. Check that a mask keeps the model from seeing the answer and that it is scored on "
                     "text it did not train on; if you changed the settings (more steps, a larger model), that is why.")
    elif any(v.status == "better" for v in verdicts):
        lines.append("Better than expected is fine; if you changed the settings (more steps, a larger model), "
                     "that is why.")
    if causes:
        lines.append("Off: the most likely causes, in order:")
        lines.extend(f"  {i}. {cause}" for i, cause in enumerate(causes, 1))
    elif reference_run and not is_reference and judged and all(v.status == "within" for v in judged):
        lines.append("✓ every result that is judged is where the reference run says it should be.")
    slow = [v for v in verdicts if not v.result.strict and v.status == "off"]
    if slow:
        lines.append(f"Slower than the reference run ({', '.join(v.result.label for v in slow)}): a slower or busier "
                     "machine; the results do not depend on it.")
    if chapter_runs:
        lines.append("Every recorded reference run of this chapter (profile on device):")
        lines.extend("  " + _run_line(chapter, key, run) for key, run in sorted(chapter_runs.items()))
        measured = {key.split("/")[0] for key in chapter_runs}
        never = [p for p in ("ci", "laptop", "gpu") if p not in measured]
        if never:
            lines.append(f"  never run: the {' and '.join(never)} profile" + ("s" if len(never) > 1 else "")
                         + (" (no GPU has run this course yet)" if "gpu" in never else ""))
    return "\n".join(lines)


def _run_line(chapter: str, key: str, run: dict) -> str:
    results = {r.name: r for r in RESULTS[chapter]}
    shown = ", ".join(f"{name} {_format(results[name], value)}" for name, value in run["values"].items()
                      if name in results)
    return f"{key:<12} {shown}"


def reference_table(chapter: str, runs: dict | None = None) -> str:
    """Every recorded reference run of ``chapter`` as a table (``python -m llmcourse expect show``)."""
    runs = load_runs() if runs is None else runs
    chapter_runs = runs.get(chapter, {})
    if not chapter_runs:
        return f"{chapter}: no reference run recorded"
    lines = [f"{chapter}:"]
    for key, run in sorted(chapter_runs.items()):
        lines.append("  " + _run_line(chapter, key, run))
        lines.append(f"  {'':<12} `{run['command']}`, {run['device_name']}, torch {run['torch']}, {run['date']}")
    return "\n".join(lines)


def show_verdict_again(notebook: Path, record: dict[str, Any]) -> None:
    """Replace the output of ``notebook``'s closing expect() cell with its verdict against the runs as stored now.

    A run recorded as the reference could not be judged against itself while it ran (its cell said "not measured");
    the verdict depends only on the values, the profile, the device class and the stored runs, so it is computed
    again here from the values that cell recorded, and the file is replaced atomically.
    """
    import contextlib
    import io

    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cell = nb.cells[-1]
    if cell.cell_type != "code" or not cell.source.startswith(f'expect("{record["chapter"]}"'):
        raise ValueError(f"{notebook}: the last cell is not {record['chapter']}'s expect(...) cell")
    text = io.StringIO()
    strict = os.environ.pop(STRICT_ENV, None)
    try:
        with contextlib.redirect_stdout(text):
            expect(record["chapter"], profile=record["profile"], device=record["device"], is_reference=True,
                   **record["values"])
    finally:
        if strict is not None:
            os.environ[STRICT_ENV] = strict
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text.getvalue())]
    partial = notebook.with_suffix(".ipynb.partial")
    nbformat.write(nb, partial)
    partial.replace(notebook)


class RecordRefused(ValueError):
    """A new reference run lands outside the band of the one it would replace (a regression, until accepted)."""


def store_runs(records: list[dict[str, Any]], commands: dict[str, str], seconds: dict[str, float],
               path: Path | None = None, accept: bool = False) -> list[str]:
    """Write the runs ``records`` (from the RECORD_ENV file) into ``path``, atomically; return the keys written.

    A run that replaces an earlier one for the same profile and device must land inside that one's bands, or the
    change would quietly move the goalposts: it is refused (:class:`RecordRefused`, nothing written) unless
    ``accept`` says the new results are meant.
    """
    import datetime

    path = RUNS_FILE if path is None else path
    runs = load_runs(path)
    moved = []
    for record in records:
        old = runs.get(record["chapter"], {}).get(f"{record['profile']}/{record['device']}")
        for result in RESULTS.get(record["chapter"], ()):
            tolerance = result.tolerance[record["profile"]]
            if old is None or not result.strict or tolerance is None or result.name not in old["values"]:
                continue
            before, now = old["values"][result.name], float(record["values"][result.name])
            if not abs(now - before) <= tolerance:
                moved.append(f"{record['chapter']} {result.name} {_format(result, before)} -> {_format(result, now)} "
                             f"(band ± {_format(result, tolerance)})")
    if moved and not accept:
        raise RecordRefused("the new run leaves the band of the reference it would replace: " + "; ".join(moved)
                            + ". If that is meant (a changed recipe), record again with --accept.")
    written = []
    for record in records:
        chapter, key = record["chapter"], f"{record['profile']}/{record['device']}"
        device_name = record["environment"].split(" | ")[4].removeprefix("device ")
        runs.setdefault(chapter, {})[key] = {
            "values": {k: float(v) for k, v in record["values"].items()},
            "command": commands[chapter],
            "device_name": device_name,
            "environment": record["environment"],
            "torch": record["torch"],
            "python": record["python"],
            "llmcourse": record["llmcourse"],
            "date": datetime.date.today().isoformat(),
            "seconds": round(seconds.get(chapter, float("nan")), 1),
        }
        written.append(f"{chapter} {key}")
    text = json.dumps({c: dict(sorted(r.items())) for c, r in sorted(runs.items())}, indent=1) + "\n"
    partial = path.with_suffix(".json.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return written
