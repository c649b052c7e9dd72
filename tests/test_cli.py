"""`python -m llmcourse ...` as a teacher or author uses it."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "llmcourse", *args], cwd=cwd, capture_output=True, text=True)


def test_env_reports_profile_and_device():
    out = cli("env").stdout
    assert "profile ci" in out and "device cpu" in out and "torch" in out


def test_data_list_and_unknown_name():
    assert "tinyshakespeare" in cli("data", "list").stdout
    result = cli("data", "path", "no-such-data")
    assert result.returncode == 1 and "unknown dataset" in result.stderr


@pytest.mark.parametrize("variable, value, says", [
    ("LLMCOURSE_PROFILE", "huge", "LLMCOURSE_PROFILE='huge' is not a profile"),
    ("LLMCOURSE_DEVICE", "gpu0", "LLMCOURSE_DEVICE='gpu0' is not a device torch knows"),
    ("LLMCOURSE_DEVICE", "cuda:99", "LLMCOURSE_DEVICE='cuda:99', but this machine has"),
])
def test_env_with_a_bad_profile_or_device_is_a_one_line_error(monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    result = cli("env")
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr and result.stdout == ""


def test_data_fetch_reports_every_missing_dataset(tmp_path, monkeypatch, capsys):
    from llmcourse import data
    from llmcourse.__main__ import main

    monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LLMCOURSE_DATA_DIR", raising=False)

    def offline(dataset, target, *, timeout):
        raise data.DataUnavailable(f"Dataset {dataset.name!r} is not on this machine (offline)")

    monkeypatch.setattr(data, "_download", offline)
    assert main(["data", "fetch", "tinyshakespeare", "no-such-data", "enwiki-sample-text8"]) == 1
    err = capsys.readouterr().err
    assert "'tinyshakespeare' is not on this machine" in err and "unknown dataset 'no-such-data'" in err
    assert "'enwiki-sample-text8' is not on this machine" in err
    assert "3 of 3 datasets unavailable: tinyshakespeare, no-such-data, enwiki-sample-text8" in err


def test_exercises_check_passes_on_the_repository():
    result = cli("exercises", "build", "--check", "--notebooks-only")
    assert result.returncode == 0, result.stderr


def _broken_submission(path: Path) -> None:
    """A notebook whose first cell crashes, whose second never ends, and that solves one exercise."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["llmcourse"] = {"chapter": "ch01"}
    nb.cells = [
        nbformat.v4.new_code_cell("raise ValueError('boom')"),
        nbformat.v4.new_code_cell("while True:\n    pass"),
        nbformat.v4.new_code_cell(
            "def linear_forward(x, weight, bias):\n"
            "    if weight.dim() != 2 or x.dim() == 0 or x.shape[-1] != weight.shape[1]:\n"
            "        raise ValueError(f'x {tuple(x.shape)} does not fit weight {tuple(weight.shape)}')\n"
            "    if bias is not None and bias.shape != weight.shape[:1]:\n"
            "        raise ValueError(f'bias {tuple(bias.shape)} does not fit weight {tuple(weight.shape)}')\n"
            "    return x @ weight.T if bias is None else x @ weight.T + bias"),
    ]
    nbformat.write(nb, path)


@pytest.mark.slow
def test_grade_a_folder_of_submissions(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.copy(next((ROOT / "solutions").glob("01_*.ipynb")), submissions / "alice.ipynb")
    shutil.copy(next((ROOT / "exercises").glob("01_*.ipynb")), submissions / "bob.ipynb")
    _broken_submission(submissions / "carol.ipynb")
    (submissions / "dave.ipynb").write_text("{ this is not a notebook")

    # 20 s a cell: the masters' cells must never hit it on a loaded 2-core CI machine (5 s cost alice an exercise
    # there once), and carol's endless cell must
    result = cli("grade", str(submissions), "--out", str(tmp_path / "out"), "--timeout", "20", "--jobs", "2",
                 "--chapter", "ch01")
    assert result.returncode == 0, result.stderr
    book = json.loads((tmp_path / "out" / "gradebook.json").read_text())
    by_name = {Path(entry["file"]).stem: entry for entry in book}
    assert by_name["alice"]["points"] == by_name["alice"]["max_points"] > 0
    hidden_cases = [c for r in by_name["alice"]["results"] for c in r["cases"] if c["hidden"]]
    assert hidden_cases, "the teacher's grade runs hidden cases"
    assert by_name["bob"]["points"] == 0
    carol = by_name["carol"]
    assert 0 < carol["points"] < carol["max_points"]
    assert any("ValueError: boom" in p for p in carol["problems"])
    assert any("cell 1 did not finish within 20 s" in p for p in carol["problems"])
    passed = {r["check_id"] for r in carol["results"] if r["passed"]}
    assert passed == {"ch01.linear_forward"}
    assert by_name["dave"]["points"] == 0 and "could not read" in by_name["dave"]["problems"][0]

    rows = list(csv.DictReader((tmp_path / "out" / "gradebook.csv").open()))
    assert {"student_file", "exercise", "points", "max_points", "messages"} <= set(rows[0])
    assert any(r["exercise"] == "ch01.train_classifier" and "not defined" in r["messages"] for r in rows
               if r["student_file"].endswith("carol.ipynb"))
    assert "alice.ipynb" in result.stdout and "gradebook:" in result.stdout
    again = cli("grade", str(submissions), "--out", str(tmp_path / "out"), "--chapter", "ch01")  # nothing to do
    assert again.returncode == 0 and json.loads((tmp_path / "out" / "gradebook.json").read_text()) == book


@pytest.mark.parametrize("args, says", [
    (["no/such/folder"], "no such file or folder: no/such/folder"),
    (["{empty}"], "no notebooks"),
    (["{nb}", "--timeout", "0"], "--timeout must be a number of seconds above 0"),
    (["{nb}", "--timeout", "-5"], "--timeout must be a number of seconds above 0"),
    (["{nb}", "--timeout", "inf"], "--timeout must be a number of seconds above 0 and at most 86400, not inf"),
    (["{nb}", "--timeout", "1e12"], "--timeout must be a number of seconds above 0 and at most 86400"),
    (["{nb}", "--timeout", "nan"], "--timeout must be a number of seconds above 0"),
    (["{nb}", "--memory-mb", "0"], "--memory-mb must be at least 1, not 0"),
    (["{nb}", "--memory-mb", "-3"], "--memory-mb must be at least 1, not -3"),
    (["{nb}", "--hidden", "{bad_syntax}"], "line 2): SyntaxError"),
    (["{nb}", "--hidden", "{bad_id}"], "no exercise called 'ch01.no_such_exercise'"),
    (["{nb}", "--jobs", "0"], "--jobs must be at least 1"),
    (["{nb}", "--profile", "huge"], "unknown profile 'huge'"),
    (["{nb}", "--chapter", "ch42"], "no graded exercises for chapter 'ch42'"),
    (["{nb}", "--hidden", "no/such/hidden"], "--hidden: no such folder"),
    (["{nb}", "--references", "no/such/references"], "--references: no such folder"),
    (["{nb}", "--references", "{bad_syntax}"], "line 2): SyntaxError"),
    (["{nb}", "--out", "{file}"], "is not a writable folder"),
    (["{nb}", "--out", "{subs}"], "holds the submissions themselves"),
])
def test_grade_checks_its_arguments_before_grading_anything(tmp_path, args, says):
    subs = tmp_path / "subs"
    subs.mkdir()
    (tmp_path / "empty").mkdir()
    nb = subs / "01_x.ipynb"
    _broken_submission(nb)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "bad_syntax").mkdir()
    (tmp_path / "bad_syntax" / "ch01.py").write_text("from llmcourse.grading.hidden import hidden_case\ndef (:\n")
    (tmp_path / "bad_id").mkdir()
    (tmp_path / "bad_id" / "ch01.py").write_text(
        "from llmcourse.grading.hidden import hidden_case\n\n\n@hidden_case('ch01.no_such_exercise', 'a case')\n"
        "def _(t):\n    pass\n")
    values = {"empty": tmp_path / "empty", "nb": nb, "file": tmp_path / "a_file", "subs": subs,
              "bad_syntax": tmp_path / "bad_syntax", "bad_id": tmp_path / "bad_id"}
    argv = [a.format(**values) for a in args]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    result = cli("grade", *argv)
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert not (tmp_path / "out" / "gradebook.json").exists()


@pytest.mark.parametrize("args, says", [
    (["no/such/file.ipynb"], "no such file or folder: no/such/file.ipynb"),
    (["{empty}"], "no notebooks"),
    (["{not_nb}"], "is not a readable notebook"),
    (["{nb}", "--profile", "huge"], "unknown profile 'huge'"),
    (["{nb}", "--timeout", "0"], "--timeout must be a number of seconds above 0"),
    (["{nb}", "--timeout", "-1"], "--timeout must be a number of seconds above 0"),
    (["{nb}", "--timeout", "inf"], "at most 86400"),
])
def test_execute_answers_a_bad_argument_in_one_line_and_touches_nothing(tmp_path, args, says):
    (tmp_path / "empty").mkdir()
    nb = tmp_path / "01_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), nb)
    before = nb.read_bytes()
    not_nb = tmp_path / "02_y.ipynb"
    not_nb.write_text("{ this is not a notebook")
    values = {"empty": tmp_path / "empty", "nb": nb, "not_nb": not_nb}
    result = cli("execute", *[a.format(**values) for a in args])
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert nb.read_bytes() == before


def test_execute_reports_a_failing_cell_in_one_line_and_keeps_the_file(tmp_path):
    nb = tmp_path / "01_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('boom here')")]), nb)
    before = nb.read_bytes()
    result = cli("execute", str(nb), "--profile", "ci", "--timeout", "60")
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "ValueError: boom here" in last and "Traceback" not in result.stderr, \
        result.stderr
    assert "\x1b" not in last  # no terminal colour codes
    assert nb.read_bytes() == before


def test_execute_record_refuses_a_run_outside_the_reference_band_and_writes_nothing(tmp_path, monkeypatch):
    """--record stores a chapter's expect() values as its reference run, but not one that would move the band."""
    from llmcourse import expected
    from llmcourse.__main__ import main

    runs_file = tmp_path / "runs.json"
    old = {"values": {"bytes_per_token": 1.8}, "command": "x", "device_name": "cpu", "environment": "e",
           "torch": "2.13.0", "python": "3.11", "llmcourse": "0.1.0", "date": "2026-12-07", "seconds": 1.0}
    runs_file.write_text(json.dumps({"ch02": {"ci/cpu": old}}))
    monkeypatch.setattr(expected, "RUNS_FILE", runs_file)
    nb = tmp_path / "02_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from llmcourse.expected import expect"),
        nbformat.v4.new_code_cell('expect("ch02", bytes_per_token=1.0)')]), nb)
    before, runs_before = nb.read_bytes(), runs_file.read_bytes()
    assert main(["execute", str(nb), "--profile", "ci", "--record", "--timeout", "120"]) == 1
    assert nb.read_bytes() == before and runs_file.read_bytes() == runs_before  # nothing written
    assert main(["execute", str(nb), "--profile", "ci", "--record", "--accept", "--timeout", "120"]) == 0
    run = json.loads(runs_file.read_text())["ch02"]["ci/cpu"]
    assert run["values"] == {"bytes_per_token": 1.0} and run["command"].endswith("--profile ci --record")
    closing = nbformat.read(nb, as_version=4).cells[-1].outputs[0]["text"]
    assert "This run is the reference run itself" in closing
