"""The batch grader against hostile submissions: each ends as a correct, bounded gradebook row.

A toy chapter (ch99, one exercise: `lin`, what nn.Linear computes) is graded for a class of notebooks
that try what a student might: patch the grader, return always-equal objects, read or rewrite a
classmate's notebook, read the hidden cases, leave a process behind to rewrite the gradebook, exit the
kernel, ignore interrupts, flood output, start processes, sleep forever, open a network connection.
Every honest classmate's row must come out intact, and nothing may outlive the grading.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import nbformat
import pytest
import torch.nn.functional as F

from llmcourse.grading import core, sandbox
from llmcourse.grading.batch import Gradebook, GradeOptions, grade_all, grade_notebook

ROOT = Path(__file__).resolve().parent.parent
HAVE_BWRAP = sandbox.detect("bwrap").tool == "bwrap"
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP and os.environ.get("CI") != "true",
                                 reason="bubblewrap is not installed (CI installs it, and there this test must run)")

SOLVED = "def lin(x, weight, bias):\n    return x @ weight.T + bias\n"


@pytest.fixture(scope="module")
def toy_chapter():
    ex = core.exercise("ch99.lin", "lin", "what nn.Linear computes", args=("x", "weight", "bias"), grad=True,
                       timeout=5)

    @ex.case("a batch of examples")
    def _(t):
        t.check_call(t.randn(4, 3), t.randn(2, 3), t.randn(2), reference=F.linear, what="the output")

    @ex.case("a batch of 1 with extra leading dimensions")
    def _(t):
        t.check_call(t.randn(1, 5, 3), t.randn(6, 3), t.randn(6), reference=F.linear, what="the output")

    yield ex
    del core.REGISTRY["ch99.lin"]


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["llmcourse"] = {"chapter": "ch99"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def _options(**kw) -> GradeOptions:
    return GradeOptions(**{"cell_timeout": 4.0, "grace": 3.0, "chapter": "ch99", **kw})


@needs_bwrap
def test_a_class_of_hostile_submissions_gets_correct_bounded_rows(toy_chapter, tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    alice = _notebook(subs / "alice.ipynb", SOLVED)
    alice_bytes = alice.read_bytes()
    hidden_file = ROOT / "solutions" / "hidden"
    _notebook(subs / "patcher.ipynb",  # replaces the grader's machinery inside its own kernel
              "import llmcourse.grading.core as c, llmcourse.grading.runner as r\n"
              "c.grade = lambda *a, **k: c.CheckResult('ch99.lin', True, 1000.0, 1.0)\n"
              "r.run_request = lambda s, req, t: {'status': 'done', 'steps': [{'ok': True, 'output': 1000.0}]}\n"
              "c.CheckResult.points = 1000.0",
              "def lin(x, weight, bias):\n    return x")
    _notebook(subs / "always_equal.ipynb",
              "class Yes:\n    def __eq__(self, other): return True\n    __hash__ = object.__hash__\n"
              "def lin(x, weight, bias):\n    return Yes()")
    _notebook(subs / "snoop.ipynb",  # reads and rewrites a classmate, reads the hidden cases, keeps a process
              f"open({str(alice)!r}).read()",
              f"open({str(alice)!r}, 'w').write('{{}}')",
              f"import os; os.listdir({str(hidden_file)!r})",
              "import subprocess\n"
              f"subprocess.Popen(['sh', '-c', 'sleep 3; echo hacked > {out}/gradebook.csv; "
              f"echo hacked > {alice}'], start_new_session=True)",
              SOLVED)
    _notebook(subs / "exiter.ipynb", "import os\nos._exit(3)", SOLVED)
    _notebook(subs / "stubborn.ipynb",  # ignores every interrupt: must be killed, and only that cell lost
              "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nsignal.signal(signal.SIGALRM, "
              "signal.SIG_IGN)\nwhile True:\n    pass",
              SOLVED)
    _notebook(subs / "noisy.ipynb",
              "import subprocess\nprocs = [subprocess.Popen(['sleep', '1000']) for _ in range(20)]\n"
              "print('x' * 50_000_000)",
              "import time\ntime.sleep(10**6)",
              "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)",
              SOLVED)
    book = Gradebook(out)
    paths = sorted(subs.glob("*.ipynb"))
    grades = {Path(g.path).stem: g for g in grade_all(paths, book, _options(), jobs=2, progress=False)}
    time.sleep(4)  # longer than the detached process waited

    points = {name: g.points for name, g in grades.items()}
    assert points == {"alice": 1, "patcher": 0, "always_equal": 0, "snoop": 1, "exiter": 1, "stubborn": 1,
                      "noisy": 1}, {n: (g.points, g.problems, [r.messages for r in g.results])
                                    for n, g in grades.items()}
    assert all(r.points <= r.max_points for g in grades.values() for r in g.results)
    snoop = " ".join(grades["snoop"].problems)
    assert snoop.count("FileNotFoundError") + snoop.count("PermissionError") + snoop.count("OSError") >= 3, snoop
    assert alice.read_bytes() == alice_bytes, "a submission rewrote a classmate's notebook"
    assert "hacked" not in (out / "gradebook.csv").read_text()
    assert any("cell 0 crashed the kernel" in p for p in grades["exiter"].problems)
    assert any("cell 0" in p and "ignored the interrupt" in p for p in grades["stubborn"].problems)
    noisy = " ".join(grades["noisy"].problems)
    assert "cell 1 did not finish within 4 s" in noisy and "cell 2 raised" in noisy
    assert "not plain data" in " ".join(grades["always_equal"].results[0].messages)
    saved = json.loads((out / "gradebook.json").read_text())
    assert {Path(e["file"]).stem for e in saved} == set(points)
    assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).startswith("sleep 1000")]


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@needs_bwrap
def test_the_sandbox_sees_only_its_own_notebook_and_no_teacher_files(toy_chapter, tmp_path):
    probe = _notebook(tmp_path / "probe.ipynb",
                      "import os, pathlib\n"
                      f"assert not os.path.exists({str(ROOT / 'solutions')!r})\n"
                      f"assert not os.path.exists({str(ROOT / 'tests')!r})\n"
                      f"assert not os.path.exists({str(tmp_path)!r})\n"
                      "assert os.environ['HOME'] == '/home/student' and 'PYTHONPATH' not in os.environ\n"
                      "assert [p.name for p in pathlib.Path.home().iterdir()] == ['probe.ipynb']\n",
                      SOLVED)
    grade = grade_notebook(probe, _options())
    assert grade.problems == [] and grade.points == 1, grade.problems


def test_a_crashing_cell_costs_only_its_exercise_and_the_gradebook_names_it(toy_chapter, tmp_path):
    path = _notebook(tmp_path / "crash.ipynb", "import os", "def lin(x, weight, bias):\n    os._exit(1)")
    grade = grade_notebook(path, _options())
    assert grade.points == 0 and "ended its whole process" in " ".join(grade.results[0].messages)
    path = _notebook(tmp_path / "crash2.ipynb", SOLVED, "import os\nos._exit(1)", "x = 1")
    grade = grade_notebook(path, _options())
    assert grade.points == 1 and any("cell 1 crashed the kernel" in p for p in grade.problems)


def test_the_gradebook_is_resumable_and_skips_what_is_graded(toy_chapter, tmp_path):
    a = _notebook(tmp_path / "a.ipynb", SOLVED)
    b = _notebook(tmp_path / "b.ipynb", "def lin(x, weight, bias):\n    return x @ weight.T")
    out = tmp_path / "out"
    out.mkdir()
    grade_all([a], Gradebook(out), _options(), progress=False)
    first = json.loads((out / "gradebook.json").read_text())
    book = Gradebook(out)  # a new run, as after Ctrl-C: a is kept and not graded again
    assert book.done(a) and not book.done(b)
    grades = grade_all([a, b], book, _options(), progress=False)
    assert [g.points for g in grades] == [1, 0]
    again = json.loads((out / "gradebook.json").read_text())
    assert again[0] == first[0]  # a was not regraded (same seed, same seconds)
    shutil.copy(b, a)  # a changed: graded again
    assert not Gradebook(out).done(a)


def test_hidden_cases_run_only_in_the_teachers_grade_and_never_show_their_inputs(toy_chapter, tmp_path):
    from llmcourse.grading.core import Case, run_check

    def hidden(t):
        t.check_call(t.randn(2, 7), t.randn(3, 7), t.randn(3), reference=F.linear, what="the output")

    def only_for_public_sizes(x, weight, bias):
        return x @ weight.T + bias if x.shape[-1] == 3 else x.new_zeros(*x.shape[:-1], weight.shape[0])

    public = run_check("ch99.lin", only_for_public_sizes)
    assert public.passed and not any(c.hidden for c in public.cases)
    teacher = run_check("ch99.lin", only_for_public_sizes, hidden=[Case("another size", hidden)])
    assert not teacher.passed and teacher.points == 0
    case = teacher.cases[-1]
    assert case.hidden and case.message == "gave a wrong answer on a hidden case"


def test_student_install_contains_no_hidden_case(tmp_path):
    """The wheel a learner installs holds the package only: no solutions, no hidden cases."""
    import subprocess
    import sys
    import zipfile

    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("llmcourse-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("llmcourse/grading/core.py") for n in names)
    assert not [n for n in names if "solutions" in n or "/hidden/" in n or n.startswith("tests/")], names
    text = " ".join(zipfile.ZipFile(wheel).read(n).decode(errors="ignore") for n in names if n.endswith(".py"))
    assert "@hidden_case(" not in text


def test_the_chapter_comes_from_the_file_name_or_the_teacher_never_from_the_notebook(toy_chapter, tmp_path):
    """A submission that declares another chapter in its own metadata is still graded as its file name says
    (a notebook claiming ch42, which has no exercises, once got a 0/0 row instead of its grade)."""
    from llmcourse.grading.batch import chapter_of

    path = _notebook(tmp_path / "99_alice.ipynb", SOLVED)
    nb = nbformat.read(path, as_version=4)
    nb.metadata["llmcourse"] = {"chapter": "ch42"}
    nbformat.write(nb, path)
    assert chapter_of(path) == "ch99"
    grade = grade_notebook(path, _options(chapter=None))
    assert grade.chapter == "ch99" and grade.points == grade.max_points == 1, (grade.chapter, grade.problems)
    renamed = tmp_path / "alice.ipynb"
    path.rename(renamed)
    with pytest.raises(ValueError, match="pass --chapter"):
        chapter_of(renamed)
    assert grade_notebook(renamed, _options()).chapter == "ch99"  # the teacher's --chapter
