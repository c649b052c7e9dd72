"""The wheel a learner installs holds no exercise's answer.

Builds the wheel, installs it into a fresh folder and, in a separate interpreter that imports the course from there
(the checkout is not on its path), grades every function and class importable from the installed package against
every exercise of its kind, live on fresh inputs with the teacher's references from this checkout, as a teacher's
batch grade would. None may pass. It also shows the install carries the recorded cases, reads them as plain data,
and holds no teacher-side file (references, hidden cases, solutions).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent('''
    import dataclasses, importlib, inspect, json, pkgutil, sys
    from pathlib import Path

    site = Path(sys.argv[1]).resolve()
    import llmcourse
    assert Path(llmcourse.__file__).resolve().is_relative_to(site), llmcourse.__file__
    files = sorted(str(p.relative_to(site)) for p in (site / "llmcourse").rglob("*") if p.is_file())
    sources = {f: (site / f).read_text(errors="replace") for f in files if f.endswith(".py")}
    teacher = [f for f, text in sources.items() if "@reference(" in text or "@hidden_case(" in text]

    from llmcourse.grading import recorded
    from llmcourse.grading.core import REGISTRY, grade, load_chapter_checks
    from llmcourse.grading.runner import _run_in_process, run_request

    def executor(obj):
        """The chapters' functions run here, with a time limit; the engine's and the command line's (which may exit
        the process or wait on stdin) in a forked child, as a learner's code is."""
        if obj.__module__.startswith(("llmcourse.grading", "llmcourse.__main__")):
            return lambda request, timeout: run_request(obj, request, min(timeout, 5.0))
        return lambda request, timeout: _run_in_process(obj, request, min(timeout, 5.0))
    from llmcourse.grading.references import REFERENCES, load_references
    load_chapter_checks()
    replayable = sorted(c for c in REGISTRY if recorded.recorded_cases(c))

    candidates, broken = {}, []
    for info in pkgutil.walk_packages(llmcourse.__path__, "llmcourse."):
        try:
            module = importlib.import_module(info.name)
        except Exception as exc:  # every module of the install must import: one that does not hides its functions
            broken.append(f"{info.name}: {exc!r}")
            continue
        for name, obj in vars(module).items():
            if name.startswith("__") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("llmcourse"):
                continue
            candidates.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
            if inspect.isclass(obj):  # static and class methods are functions a learner can call too
                for member_name, member in vars(obj).items():
                    if isinstance(member, (staticmethod, classmethod)):
                        candidates.setdefault(f"{obj.__module__}.{obj.__qualname__}.{member_name}",
                                              getattr(obj, member_name))
    references_before = len(REFERENCES)
    load_references(Path(sys.argv[2]))  # the teacher's side, from the checkout

    def fits(ex, obj):
        if (ex.kind == "class") != inspect.isclass(obj):
            return False
        if ex.kind == "class":
            return True
        try:  # called with the exercise's arguments by position, or by name
            signature = inspect.signature(obj)
        except (TypeError, ValueError):
            return False
        for call in ((range(len(ex.args)), {}), ((), {name: 0 for name in ex.args})):
            try:
                signature.bind(*call[0], **call[1])
                return True
            except TypeError:
                continue
        return False

    tried, passed = 0, []
    for check_id, ex in sorted(REGISTRY.items()):
        first = dataclasses.replace(ex, cases=ex.cases[:1], random=False)
        for qualname, obj in sorted(candidates.items()):
            if not fits(ex, obj):
                continue
            tried += 1
            if grade(first, executor(obj), seed=1).passed:  # most fail here; a pass is graded in full
                if grade(ex, executor(obj), seed=2).passed:
                    passed.append(f"{qualname} passes {check_id}")
    print(json.dumps({"files": files, "teacher": teacher, "broken": broken, "replayable": replayable,
                      "exercises": sorted(REGISTRY), "candidates": len(candidates), "tried": tried, "passed": passed,
                      "references_before": references_before}))
''')


@pytest.mark.slow
def test_no_function_in_the_installed_wheel_passes_any_exercise(tmp_path):
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # built from a copy of the checkout's own files (tracked, and new ones git does not ignore): a stale build/ folder
    # in the checkout (setuptools never deletes a file there) must not put old code into the wheel
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(source)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("llmcourse-*.whl")
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q",
                              "--target", str(site), str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]
    assert not (site / "solutions").exists()

    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    probe = subprocess.run([sys.executable, "-c", PROBE, str(site), str(ROOT / "solutions" / "references")],
                           capture_output=True, text=True, timeout=1500, cwd=tmp_path, env=env)
    assert probe.returncode == 0, probe.stderr[-3000:]
    report = json.loads(probe.stdout.strip().splitlines()[-1])

    assert report["teacher"] == [], f"teacher-side code in the wheel: {report['teacher']}"
    assert report["broken"] == [], f"modules of the install that do not import: {report['broken']}"
    assert report["references_before"] == 0, "importing the installed package registered references"
    assert any(f.startswith("llmcourse/checks/recorded/ch") and f.endswith(".pt") for f in report["files"])
    assert report["replayable"] == report["exercises"], "every exercise replays from the installed recording"
    assert report["tried"] > 10 * len(report["exercises"]), report  # the search really looked
    print(f"{report['candidates']} functions and classes, {report['tried']} (candidate, exercise) pairs graded")
    assert report["passed"] == [], f"answers importable from the student's install: {report['passed']}"
