"""The teacher's side of an exercise: its references and named-mistake functions, kept out of the student's install.

A case names what it compares with by a key (``t.check_call(..., reference="ch05.gqa")``,
``t.reference("ch03.glove_objective", ...)``); the function behind the key lives in a ``chNN.py`` file of a
teacher-side folder (the course keeps its own in ``solutions/references/``) that registers it with
:func:`reference`. Two ways a case gets its answer:

- *live*, on the teacher's side (the batch grade, the course's own tests, ``exercises build``): the folder is
  loaded and every key is computed on the case's fresh random inputs;
- *replayed*, in a learner's notebook: ``check()`` draws one of the cases recorded from these functions when the
  exercises were built (:mod:`.recorded`), re-draws the same inputs from the recorded seed and reads the expected
  outputs, gradients and named-mistake outputs from plain data. Nothing of the reference's code is needed there.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REFERENCES: dict[str, Callable[..., Any]] = {}
MODULE_PREFIX = "llmcourse_references"  # the name the teacher's files are imported under (a ruled-out library)
_LOADED: set[Path] = set()


class ReferencesMissing(Exception):
    """A case needs a reference that is not loaded (the student's install has none: it replays recorded cases)."""


def reference(key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator for a teacher-side function: the expected answer (or a dict of named mistakes) a case asks for
    by ``key``."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if key in REFERENCES and REFERENCES[key] is not fn:
            raise ValueError(f"reference {key!r} is registered twice")
        REFERENCES[key] = fn
        return fn

    return register


def lookup(key: str) -> Callable[..., Any]:
    if key not in REFERENCES:
        chapter = key.split(".", 1)[0]
        raise ReferencesMissing(
            f"the teacher's reference {key!r} is not loaded: live grading needs the course's teacher-side folder "
            f"(solutions/references/{chapter}.py); a learner's check() replays the recorded cases instead")
    return REFERENCES[key]


def load_references(folder: Path | None = None) -> dict[str, Callable[..., Any]]:
    """Import every ``chNN.py`` in ``folder`` (default: the course's own) once; return the registry."""
    folder = default_references_folder() if folder is None else Path(folder).resolve()
    if folder is None or not folder.is_dir():
        raise ReferencesMissing(f"no folder of teacher references at {folder or 'solutions/references'}: the "
                                "batch grade and exercises build run from a checkout of the course")
    if folder not in _LOADED:
        for path in sorted(folder.glob("ch[0-9][0-9].py")):
            name = f"{MODULE_PREFIX}.{path.stem}"
            if name not in sys.modules:
                import_teacher_file(path, name)
        _LOADED.add(folder)
    return REFERENCES


def import_teacher_file(path: Path, name: str) -> None:
    """Run one teacher-side file as module ``name`` (its decorators register what it holds); a file that fails
    leaves no half-made module behind."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise


def default_references_folder() -> Path | None:
    """The course's own references, when the package runs from a checkout of the course."""
    folder = Path(__file__).resolve().parents[2] / "solutions" / "references"
    return folder if folder.is_dir() else None
