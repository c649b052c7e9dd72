"""exercises/ is generated from solutions/: stubs replace answers, nothing leaks, drift is caught."""

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from llmcourse.exercises import BEGIN, END, MarkerError, build_all, build_exercise, strip_solutions

ROOT = Path(__file__).resolve().parent.parent

SOLVED = '''def mse(pred, target):
    """Mean squared error."""
    ### BEGIN SOLUTION hint: average the squared differences
    diff = pred - target
    return (diff ** 2).mean()
    ### END SOLUTION'''


def test_code_region_becomes_an_indented_stub_with_the_hint():
    stub = strip_solutions(SOLVED, code=True)
    assert stub.splitlines() == [
        "def mse(pred, target):",
        '    """Mean squared error."""',
        "    raise NotImplementedError('Exercise: average the squared differences')",
    ]


def test_markdown_region_becomes_a_placeholder():
    text = "Why?\n### BEGIN SOLUTION\nBecause the gradient vanishes.\n### END SOLUTION\nNext."
    assert strip_solutions(text, code=False) == "Why?\n_Write your answer here._\nNext."


@pytest.mark.parametrize("source, says", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unbalanced_markers_are_clear_errors(source, says):
    with pytest.raises(MarkerError, match=says):
        strip_solutions(source, code=True)


def _solution_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["llmcourse"] = {"chapter": "ch77"}
    nb.metadata["secret_answer"] = "diff ** 2"
    cell = nbformat.v4.new_code_cell(SOLVED)
    cell.outputs = [nbformat.v4.new_output("stream", text="diff ** 2 = 0.25\n")]
    cell.execution_count = 3
    cell.metadata["tags"] = ["solution", "keep-me"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Chapter 77"), cell]
    return nb


def test_exercise_keeps_no_solution_text_outputs_or_metadata():
    exercise = build_exercise(_solution_notebook(), "solutions/77_test.ipynb")
    text = nbformat.writes(exercise)
    assert "diff ** 2" not in text and "diff = pred - target" not in text
    assert exercise.cells[1].outputs == [] and exercise.cells[1].execution_count is None
    assert exercise.cells[1].metadata == {"tags": ["keep-me"]}
    assert exercise.metadata["llmcourse"] == {"chapter": "ch77", "generated_from": "solutions/77_test.ipynb"}


def test_check_reports_drift_and_build_fixes_it(tmp_path):
    (tmp_path / "solutions").mkdir()
    nbformat.write(_solution_notebook(), tmp_path / "solutions" / "77_test.ipynb")
    assert build_all(tmp_path, check=True) == ["77_test.ipynb"]  # missing
    assert build_all(tmp_path) == ["77_test.ipynb"]
    assert build_all(tmp_path, check=True) == []
    target = tmp_path / "exercises" / "77_test.ipynb"
    target.write_text(target.read_text().replace("Chapter 77", "Chapter 78"))  # hand-edited
    assert build_all(tmp_path, check=True) == ["77_test.ipynb"]
    shutil.copy(target, tmp_path / "exercises" / "88_orphan.ipynb")
    assert "88_orphan.ipynb (no solutions/88_orphan.ipynb master)" in build_all(tmp_path, check=True)


def test_committed_exercises_are_up_to_date():
    stale = build_all(ROOT, check=True)
    assert not stale, f"run `python -m llmcourse exercises build`; out of date: {stale}"


@pytest.mark.parametrize("master", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_no_solution_line_survives_in_the_committed_exercise(master):
    solution = nbformat.read(master, as_version=4)
    exercise_text = (ROOT / "exercises" / master.name).read_text()
    assert BEGIN not in exercise_text and END not in exercise_text
    for cell in solution.cells:
        inside = False
        for line in cell.source.splitlines():
            if line.strip().startswith(BEGIN):
                inside = True
            elif line.strip().startswith(END):
                inside = False
            elif inside and len(line.strip()) > 12:  # long enough to be a real answer line
                assert json.dumps(line.strip())[1:-1] not in exercise_text, f"answer leaked: {line.strip()}"


def test_a_long_hint_is_wrapped_into_short_lines_that_raise_the_whole_hint():
    hint = ("build the causal mask with torch.triu on a boolean matrix, fill the masked scores with -inf before the "
            "softmax, and keep the rows that are fully masked at zero instead of NaN")
    solved = f"def f():\n        ### BEGIN SOLUTION hint: {hint}\n        return 1\n        ### END SOLUTION"
    stub = strip_solutions(solved, code=True)
    lines = stub.splitlines()
    assert len(lines) > 3 and max(map(len, lines)) <= 100
    assert lines[1] == "        raise NotImplementedError(" and lines[-1] == "        )"
    namespace: dict = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"]()
    assert str(raised.value) == f"Exercise: {hint}"
