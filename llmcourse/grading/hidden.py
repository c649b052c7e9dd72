"""Hidden cases: extra cases the teacher's batch grade runs and the learner never sees.

They live outside the package the learner installs: in a folder of ``chNN.py`` files on the teacher's
side (the course keeps its own in ``solutions/hidden/``; ``python -m llmcourse grade --hidden DIR`` picks
another). Each file registers cases with :func:`hidden_case`, written like public ones; their inputs are
drawn from the grading run's seed, which the gradebook records for the teacher only. A hidden case's
report says passed or failed and, at most, a named mistake — never its inputs or expected values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .core import Case, Trial, get_exercise
from .references import import_teacher_file

HIDDEN: dict[str, list[Case]] = {}
_LOADED: set[Path] = set()


class HiddenCaseError(Exception):
    """A file of hidden cases that cannot be loaded: a syntax error, an unknown exercise id, a failing import."""


def hidden_case(check_id: str, name: str) -> Callable[[Callable[[Trial], None]], Callable[[Trial], None]]:
    """Decorator for a teacher-side case of exercise ``check_id`` (which must exist)."""
    get_exercise(check_id)

    def register(fn: Callable[[Trial], None]) -> Callable[[Trial], None]:
        HIDDEN.setdefault(check_id, []).append(Case(name, fn, hidden=True))
        return fn

    return register


def load_hidden(folder: Path) -> dict[str, list[Case]]:
    """Import every ``chNN.py`` in ``folder`` once; return all hidden cases by exercise id."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"no folder of hidden cases at {folder}")
    if folder not in _LOADED:
        for path in sorted(folder.glob("ch[0-9][0-9].py")):
            try:
                import_teacher_file(path, f"llmcourse_hidden_{abs(hash(str(folder)))}_{path.stem}")
            except Exception as err:  # a typo in a teacher's file is one line naming the file, not a traceback
                where = f" (line {err.lineno})" if isinstance(err, SyntaxError) and err.lineno else ""
                reason = str(err.args[0]).split(";")[0] if isinstance(err, KeyError) and err.args else err
                raise HiddenCaseError(f"{path}{where}: {type(err).__name__}: {reason}") from err
        _LOADED.add(folder)
    return HIDDEN


def default_hidden_folder() -> Path | None:
    """The course's own teacher-side cases, when the package runs from a checkout of the course."""
    folder = Path(__file__).resolve().parents[2] / "solutions" / "hidden"
    return folder if folder.is_dir() else None
