"""Expected results: bands around recorded reference runs, verdicts in plain words, likely causes, strict tests."""

import json
import math
import re
from pathlib import Path

import nbformat
import pytest

from llmcourse.config import CHAPTER_SETTINGS, settings
from llmcourse.expected import RECORD_ENV, RESULTS, STRICT_ENV, RecordRefused, expect, load_runs, store_runs

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


def _runs(**values):
    """A reference table for ch01 with a ci and a laptop run on the CPU."""
    base = {"command": "python -m llmcourse execute chapters/01_pytorch_basics.ipynb --profile {p} --record",
            "device_name": "cpu (2 threads, x86_64)", "torch": "2.13.0+cpu", "date": "2026-12-07"}
    return {"ch01": {"ci/cpu": {**base, "values": {"train_acc": 0.99, "val_acc": 0.96}},
                     "laptop/cpu": {**base, "values": {"train_acc": 0.994, "val_acc": 0.982}, **values}}}


def _one_run(chapter, key, **values):
    """A reference table holding one run of ``chapter`` (``key`` such as "laptop/cpu") with ``values``."""
    return {chapter: {key: {**_runs()["ch01"][key], "values": values}}}


@pytest.fixture(autouse=True)
def _lenient(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    monkeypatch.delenv(RECORD_ENV, raising=False)


def test_a_result_inside_its_band_is_within_range(capsys):
    report = expect("ch01", profile="laptop", device="cpu", runs=_runs(), train_acc=0.99, val_acc=0.975)
    assert report.ok and [v.status for v in report.verdicts] == ["within", "within"]
    out = capsys.readouterr().out
    assert "within range" in out and "0.982 ± 0.020" in out and "--profile {p} --record" in out


def test_worse_is_off_better_is_better_in_the_results_own_direction():
    report = expect("ch01", profile="laptop", device="cpu", runs=_runs(), train_acc=1.0, val_acc=0.90)
    assert [v.status for v in report.verdicts] == ["within", "off"] and not report.ok
    runs = _runs(values={"train_acc": 0.96, "val_acc": 0.96})
    report = expect("ch01", profile="laptop", device="cpu", runs=runs, train_acc=0.99, val_acc=0.99)
    assert [v.status for v in report.verdicts] == ["better", "better"]
    assert "Better than expected" in report.text and not report.ok  # outside the band either way


def test_a_device_class_never_run_is_reported_not_passed():
    report = expect("ch01", profile="laptop", device="meta", runs=_runs(), train_acc=0.994, val_acc=0.982)
    assert {v.status for v in report.verdicts} == {"not measured"} and not report.ok
    assert "No run of ch01 in the laptop profile on meta" in report.text and "reported, not passed" in report.text


def test_off_names_the_likely_causes_wrong_profile_and_changed_settings_first():
    cfg = settings("ch01", "laptop")
    cfg["steps"] = 7
    report = expect("ch01", settings=cfg, device="cpu", runs=_runs(), train_acc=0.99, val_acc=0.96)
    assert report.profile == "laptop"  # read from the settings
    assert report.causes[0].startswith("Wrong profile?") and "ci profile" in report.causes[0]
    assert report.causes[1].startswith("Changed settings: steps = 7 (the profile has 2000)")
    assert len(report.causes) <= 3 and "Off: the most likely causes" in report.text


def test_an_old_torch_and_device_numerics_are_named(monkeypatch):
    import torch

    monkeypatch.setattr(torch, "__version__", "2.5.1")
    runs = _runs()
    report = expect("ch01", profile="laptop", device="cpu", runs=runs, train_acc=0.5, val_acc=0.5)
    assert any(c.startswith("An old torch: yours is 2.5.1") for c in report.causes)
    runs["ch01"]["laptop/meta"] = runs["ch01"]["laptop/cpu"]
    report = expect("ch01", profile="laptop", device="meta", runs=runs, train_acc=0.5, val_acc=0.5)
    assert any(c.startswith("Device numerics: your meta device may compute differently from the cpu (2 threads")
               for c in report.causes)


def test_nan_is_off_and_a_timing_is_never_judged():
    runs = _one_run("ch07", "laptop/cpu", char_val=1.54, bpe_val=1.69, char_seconds=600.0)
    report = expect("ch07", profile="laptop", device="cpu", runs=runs, char_val=1.55, bpe_val=1.70,
                    char_seconds=3000.0)
    assert [v.status for v in report.verdicts] == ["within", "within", "off"] and report.ok
    assert "Slower than the reference run (character GPT, training time)" in report.text
    report = expect("ch07", profile="laptop", device="cpu", runs=runs, char_val=float("nan"), bpe_val=1.70,
                    char_seconds=600.0)
    assert report.verdicts[0].status == "not a number" and not report.ok


def test_strict_mode_raises_naming_the_result(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(AssertionError, match="spiral MLP, validation accuracy 0.900 \\(off\\)"):
        expect("ch01", profile="laptop", device="cpu", runs=_runs(), train_acc=0.99, val_acc=0.90)
    with pytest.raises(AssertionError, match="\\(better\\)"):  # outside the band is outside, either way
        expect("ch01", profile="laptop", device="cpu", runs=_runs(values={"train_acc": 0.9, "val_acc": 0.98}),
               train_acc=0.99, val_acc=0.98)
    expect("ch01", profile="laptop", device="cpu", runs=_runs(), train_acc=0.99, val_acc=0.98)  # no raise


def test_strict_mode_needs_a_reference_on_the_cpu_but_not_on_a_device_never_measured(monkeypatch):
    """CI runs on the CPU, where every chapter has reference runs; a GPU machine running the tests has none yet."""
    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(AssertionError, match="not measured"):
        expect("ch01", profile="laptop", device="cpu", runs={}, train_acc=0.99, val_acc=0.98)
    report = expect("ch01", profile="laptop", device="meta", runs=_runs(), train_acc=0.99, val_acc=0.98)
    assert not report.ok  # reported, never a pass


def test_the_tests_run_in_strict_mode():
    """conftest.py forces it for every test and every notebook kernel (an exported 0 cannot switch it off)."""
    import os

    conftest = (ROOT / "conftest.py").read_text()
    assert 'os.environ["LLMCOURSE_EXPECT_STRICT"] = "1"' in conftest and "LLMCOURSE_EXPECT_RECORD" in conftest
    assert STRICT_ENV == "LLMCOURSE_EXPECT_STRICT" and RECORD_ENV == "LLMCOURSE_EXPECT_RECORD"
    assert "PYTEST_CURRENT_TEST" in os.environ


def test_a_result_not_judged_in_a_profile_is_reported_only():
    runs = _one_run("ch06", "ci/cpu", seq2seq_loss=2.29, seq2seq_acc=0.0, climb_full_val=3.72)
    report = expect("ch06", profile="ci", device="cpu", runs=runs, seq2seq_loss=2.295, seq2seq_acc=0.5,
                    climb_full_val=9.0)
    assert [v.status for v in report.verdicts] == ["within", "not judged", "not judged"] and report.ok
    assert "Not judged in the ci profile" in report.text


def test_a_result_computed_on_the_cpu_anyway_is_judged_by_the_cpus_run_on_any_device():
    runs = _one_run("ch02", "laptop/cpu", bytes_per_token=2.257)
    report = expect("ch02", profile="laptop", device="meta", runs=runs, bytes_per_token=2.1)
    assert report.verdicts[0].status == "off"
    report = expect("ch02", profile="laptop", device="meta", runs=runs, bytes_per_token=2.257)
    assert report.ok and "judged against the CPU's reference run" in report.text and "no band" not in report.text


def test_much_better_than_expected_warns_of_a_leak_and_the_reference_run_does_not_judge_itself():
    runs = _one_run("ch07", "laptop/cpu", char_val=1.54, bpe_val=1.69, char_seconds=600.0)
    report = expect("ch07", profile="laptop", device="cpu", runs=runs, char_val=0.9, bpe_val=1.69, char_seconds=600)
    assert "more likely a leak" in report.text
    report = expect("ch07", profile="laptop", device="cpu", runs=runs, char_val=1.54, bpe_val=1.69,
                    char_seconds=600, is_reference=True)
    assert report.ok and "This run is the reference run itself" in report.text and "✓" not in report.text


def test_missing_or_unknown_results_are_refused_by_name():
    with pytest.raises(TypeError, match="missing val_acc"):
        expect("ch01", profile="laptop", device="cpu", runs=_runs(), train_acc=0.99)
    with pytest.raises(TypeError, match="no declared result named val_loss"):
        expect("ch01", profile="laptop", device="cpu", runs=_runs(), train_acc=0.99, val_acc=0.9, val_loss=1.0)
    with pytest.raises(KeyError, match="no declared results for 'ch99'"):
        expect("ch99", profile="laptop", device="cpu", x=1.0)


def test_recording_writes_a_run_with_its_command_device_and_versions(tmp_path, monkeypatch):
    record = tmp_path / "seen.jsonl"
    monkeypatch.setenv(RECORD_ENV, str(record))
    monkeypatch.setenv(STRICT_ENV, "1")  # recording never raises: there is nothing to compare with yet
    expect("ch01", profile="ci", device="cpu", runs={}, train_acc=0.99, val_acc=0.95)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines[0]["chapter"] == "ch01" and lines[0]["values"] == {"train_acc": 0.99, "val_acc": 0.95}
    runs_file = tmp_path / "runs.json"
    written = store_runs(lines, {"ch01": "python -m llmcourse execute X --profile ci --record"}, {"ch01": 12.34},
                         path=runs_file)
    assert written == ["ch01 ci/cpu"]
    run = load_runs(runs_file)["ch01"]["ci/cpu"]
    assert run["command"].endswith("--record") and run["device_name"].startswith("cpu (")
    assert run["torch"] and run["python"] and run["date"] and run["seconds"] == 12.3
    # A new run outside the old one's band is refused (nothing written) unless accepted.
    worse = [{**lines[0], "values": {"train_acc": 0.99, "val_acc": 0.80}}]
    with pytest.raises(RecordRefused, match="val_acc 0.950 -> 0.800"):
        store_runs(worse, {"ch01": "x"}, {}, path=runs_file)
    assert load_runs(runs_file)["ch01"]["ci/cpu"]["values"]["val_acc"] == 0.95
    store_runs(worse, {"ch01": "x"}, {}, path=runs_file, accept=True)
    assert load_runs(runs_file)["ch01"]["ci/cpu"]["values"]["val_acc"] == 0.80


# The committed reference runs and the chapters that use them.

def test_every_chapter_declares_results_and_has_reference_runs_for_ci_and_laptop_on_the_cpu():
    runs = load_runs()
    assert set(RESULTS) == set(CHAPTER_SETTINGS)
    for chapter, results in RESULTS.items():
        for key in ("ci/cpu", "laptop/cpu"):
            run = runs.get(chapter, {}).get(key)
            assert run, f"{chapter}: no recorded {key} run (python -m llmcourse execute ... --record)"
            assert set(run["values"]) == {r.name for r in results}, (chapter, key)
            assert re.fullmatch(r"(OMP_NUM_THREADS=\d+ )?python -m llmcourse execute chapters/\S+\.ipynb "
                                r"--profile \w+ --record( --no-write)?", run["command"]), run["command"]
            assert all(run[k] for k in ("device_name", "environment", "torch", "python", "date"))
        for r in results:
            assert r.better in ("higher", "lower") and set(r.tolerance) == {"ci", "laptop", "gpu"}


def _unigram_nats_per_char() -> float:
    """Cross-entropy of tiny shakespeare's validation characters under the training characters' frequencies."""
    from collections import Counter

    from llmcourse.charlm import load_char_data

    data = load_char_data()
    counts = Counter(data.train.tolist())
    total = sum(counts.values())
    val = data.val.tolist()
    return -sum(math.log(counts.get(c, 0.5) / total) for c in val) / len(val)


# What a model that learned nothing gets, per judged result: a ci band that holds it would pass a broken chapter.
TRIVIAL = {
    ("ch01", "train_acc"): 0.5, ("ch01", "val_acc"): 0.5,  # two classes, guessing
    ("ch02", "bytes_per_token"): 1.0,  # bytes alone, no merges
    ("ch03", "final_loss"): None,  # skip-gram's loss at its start: read from the chapter's run below
    ("ch04", "bigram_val"): "unigram", ("ch04", "mlp_val"): "unigram", ("ch04", "rnn_val"): "unigram",
    ("ch04", "lstm_val"): "unigram", ("ch05", "lm_val"): "unigram", ("ch07", "char_val"): "unigram",
    ("ch07", "bpe_val"): "unigram", ("ch08", "val_ppl"): "exp unigram",
    ("ch05", "rope_shifted_acc"): 0.29,  # learned (absolute) positions, shifted: 0.284 in chapter 5's ci toy table
    ("ch06", "seq2seq_loss"): math.log(13),  # uniform over the digit task's 13 tokens (10 digits, 3 specials)
    ("ch09", "bow_test_acc"): 0.5,  # two balanced classes, guessing
    ("ch10", "base_val"): "unigram",
    # fine-tuning moves the pretraining loss *up* from the base model's (forgetting), past the unigram's in twenty ci
    # steps: no model that learned nothing bounds it; the narrow band guards the fine-tuning path itself
    ("ch10", "sft_val"): None, ("ch10", "nomix_val"): None,
}


def test_every_judged_ci_band_leaves_out_what_a_model_that_learned_nothing_gets():
    runs = load_runs()
    unigram = _unigram_nats_per_char()
    assert 3.2 < unigram < 3.5, unigram  # the characters' unigram entropy, ~3.3 nats
    for chapter, results in RESULTS.items():
        run = runs[chapter]["ci/cpu"]
        for r in results:
            tolerance = r.tolerance["ci"]
            if tolerance is None or not r.strict:
                continue
            assert (chapter, r.name) in TRIVIAL, f"{chapter}.{r.name}: say what a model that learned nothing gets"
            trivial = TRIVIAL[chapter, r.name]
            if trivial is None:
                continue
            trivial = {"unigram": unigram, "exp unigram": math.exp(unigram)}.get(trivial, trivial)
            value = run["values"][r.name]
            worst = value - tolerance if r.better == "higher" else value + tolerance
            assert (worst > trivial) if r.better == "higher" else (worst < trivial), (
                f"{chapter}.{r.name}: the ci band {value:.3f} ± {tolerance} holds {trivial:.3f}, what a model that "
                "learned nothing gets")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_ends_with_an_expect_cell_for_all_its_results(path):
    nb = nbformat.read(path, as_version=4)
    chapter = nb.metadata["llmcourse"]["chapter"]
    last = nb.cells[-1]
    assert last.cell_type == "code" and last.source.startswith(f'expect("{chapter}", settings=cfg'), last.source
    named = set(re.findall(r"(\w+)=", last.source)) - {"settings", "device"}
    assert named == {r.name for r in RESULTS[chapter]}
    assert "## Is my result right?" in nb.cells[-2].source
    removed = r"cfg\.(min_train_acc|min_val_acc|min_bytes_per_token|min_analogy_acc|max_lstm_val|max_lm_val|" \
              r"min_seq2seq_acc|max_val|max_val_ppl|verified)\b"
    stale = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and re.search(removed, c.source)]
    assert not stale, f"cells {stale} still use a threshold from the settings; bands live in llmcourse.expected"
