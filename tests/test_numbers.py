"""Every number in a chapter's prose is earned: an output above it shows it, or its sentence cites a source.

A chapter may only state a measured number (a decimal, a percentage, a ratio such as "7x", a count of ten or
more) that a cell above it printed or wrote in its code, or that its sentence attributes to a paper (an author
and year, "et al.", arXiv) or to a committed benchmark file (``benchmarks/results/...``). A printed number
earns every rounding of it: an output of 2.2569 earns "2.26" and "2.3"; 0.148 earns "14.8%".
Math (``$...$``), inline code and headings are not prose; years and section numbers are not measurements.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))

NUMBER = re.compile(r"(?<![\w.\-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(\s?%|\s?[x×](?![a-z])|)")  # not in GPT-2
YEAR = re.compile(r"^(19|20)\d{2}$")
CITATION = re.compile(r"et al\.|\(\d{4}\)|\b(19|20)\d{2}\b|arXiv|benchmarks/results/|Table \d|paper|\[\^")
NOT_MEASURED = re.compile(r"(section|sections|chapter|chapters|exercise|cell|step|figure|layer|rank|id|version)s?\s*$",
                          re.IGNORECASE)


def _prose(markdown: str) -> list[str]:
    """The sentences of a markdown cell, without math, code, headings, links' targets or HTML."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.DOTALL)
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|<[^>]+>|\]\([^)]*\)", " ", text, flags=re.DOTALL)
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [s for s in re.split(r"(?<=[.!?;:])\s+|\n\s*[-*]\s+|\n\n", "\n".join(lines)) if s.strip()]


def _shown(cell: nbformat.NotebookNode) -> str:
    """What a code cell shows the reader: its source and every text it output."""
    parts = [cell.source]
    for out in cell.get("outputs", []):
        if "text" in out:
            parts.append(out["text"] if isinstance(out["text"], str) else "".join(out["text"]))
        for kind in ("text/plain", "text/html", "text/markdown"):
            data = out.get("data", {}).get(kind)
            if data:
                parts.append(data if isinstance(data, str) else "".join(data))
    return "\n".join(parts)


def _values(text: str) -> list[float]:
    return [float(m.replace(",", "")) for m in re.findall(r"\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def _earned(number: str, suffix: str, shown: list[float]) -> bool:
    value = float(number.replace(",", ""))
    decimals = len(number.split(".")[1]) if "." in number else 0
    candidates = [value] + ([value / 100] if "%" in suffix else [])
    for target in candidates:
        places = decimals + (2 if target is not value else 0)
        tolerance = 0.5 * 10 ** (-places) + 1e-12
        if any(abs(x - target) <= tolerance for x in shown):
            return True
    return False


def unearned_numbers(path: Path) -> list[str]:
    """Each number in the prose of ``path`` that nothing above it shows and no source backs."""
    notebook = nbformat.read(path, as_version=4)
    shown: list[float] = []
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            shown.extend(_values(_shown(cell)))
            continue
        if cell.cell_type != "markdown":
            continue
        for sentence in _prose(cell.source):
            if CITATION.search(sentence):
                continue
            for match in NUMBER.finditer(sentence):
                number, suffix = match.group(1), match.group(2).strip()
                value = float(number.replace(",", ""))
                before = sentence[: match.start()]
                if not suffix and "." not in number and value < 10:
                    continue  # small counts ("two layers", "3 merges") are not measurements
                if YEAR.match(number):
                    continue  # "the 2010s"
                if NOT_MEASURED.search(before):
                    continue
                if not _earned(number, suffix, shown):
                    problems.append(f"cell {index}: {number}{suffix} in: {sentence.strip()[:160]!r}")
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_every_number_in_the_prose_is_earned(chapter):
    problems = unearned_numbers(chapter)
    assert not problems, "numbers no output above shows and no source backs:\n" + "\n".join(problems)


def test_the_checker_itself():
    """Printed numbers earn their roundings; an unprinted one, or one printed only below, does not."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("Training reaches 1.48 before anything ran."),
        nbformat.v4.new_code_cell("print(acc)",
                                  outputs=[nbformat.v4.new_output("stream", text="acc 0.148 loss 2.2569\n")]),
        nbformat.v4.new_markdown_cell("Accuracy 14.8%, loss 2.26 (also 2.3); about 7x faster; 65 symbols."),
        nbformat.v4.new_markdown_cell("GPT-2 has 50,257 tokens (Radford et al. 2019). See section 13."),
    ]
    path = Path(__import__("tempfile").mkdtemp()) / "nb.ipynb"
    nbformat.write(nb, path)
    problems = unearned_numbers(path)
    assert [p.split(" in:")[0] for p in problems] == ["cell 0: 1.48", "cell 2: 7x", "cell 2: 65"], problems


def test_expected_results_never_run_are_marked_so(monkeypatch):
    """Where no run of the gpu profile has landed, a chapter's closing verdict says "never measured", not a pass."""
    from llmcourse.expected import RESULTS, STRICT_ENV, expect, load_runs

    monkeypatch.delenv(STRICT_ENV, raising=False)
    runs = load_runs()
    for chapter in RESULTS:
        if any(key.startswith("gpu/") for key in runs.get(chapter, {})):
            continue
        values = {r.name: 1.0 for r in RESULTS[chapter]}
        report = expect(chapter, profile="gpu", device="cpu", **values)
        assert not report.ok and {v.status for v in report.verdicts} == {"not measured"}
        assert "never measured" in report.text and re.search(r"never run: the (\w+ and )?gpu profile", report.text)
