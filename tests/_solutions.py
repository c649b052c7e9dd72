"""The solved exercise functions of a chapter, taken from its master notebook (solutions/NN_*.ipynb).

Runs the notebook's code cells except its check cells into one namespace, so tests can grade the
masters' own answers with run_check without executing a whole notebook in a kernel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def solution_namespace(chapter: str) -> dict[str, Any]:
    (path,) = sorted((ROOT / "solutions").glob(f"{chapter[2:]}_*.ipynb"))
    namespace: dict[str, Any] = {"__name__": f"solutions_{chapter}"}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code" or 'check("' in cell.source:
            continue
        source = "\n".join(line for line in cell.source.splitlines() if "environment_report()" not in line)
        exec(compile(source, f"{path.name}", "exec"), namespace)  # noqa: S102 — the course's own masters
    return namespace
