"""The command line: ``python -m llmcourse <command>`` for everything that is not a notebook.

    env [--check]             print the environment report; --check compares the device with the CPU
    data list | path NAME | fetch [NAME...]
                              the dataset registry; fetch downloads and verifies
    exercises build [--check] regenerate exercises/ from solutions/ (or fail if they drifted)
    grade PATH...             execute submitted notebooks and write a gradebook
    execute NOTEBOOK...       re-run notebooks in place (to refresh stored outputs)
    book                      build the Jupyter Book into book/_build/html
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _cmd_env(args: argparse.Namespace) -> int:
    from .device import environment_report, self_check

    print(environment_report())
    if args.check:
        print(self_check())
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from . import data

    if args.action == "list":
        for d in data.REGISTRY.values():
            print(f"{d.name:<20} {d.size:>12,} bytes  {d.url}\n{'':<20} {d.licence}")
        return 0
    names = args.names or (list(data.REGISTRY) if args.action == "fetch" else [])
    if not names:
        print("name a dataset: python -m llmcourse data path NAME", file=sys.stderr)
        return 2
    for name in names:
        try:
            print(data.path(name, download=args.action == "fetch"))
        except (KeyError, data.DataUnavailable, data.ChecksumMismatch) as err:
            print(f"error: {err.args[0]}", file=sys.stderr)
            return 1
    return 0


def _cmd_exercises(args: argparse.Namespace) -> int:
    from .exercises import MarkerError, build_all

    try:
        stale = build_all(check=args.check)
    except MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.check:
        if stale:
            print("exercises/ is out of date with solutions/ for: " + ", ".join(stale), file=sys.stderr)
            print("run: python -m llmcourse exercises build", file=sys.stderr)
            return 1
        print("exercises/ is up to date with solutions/")
        return 0
    print(f"rebuilt {len(stale)} exercise notebook(s)" + (": " + ", ".join(stale) if stale else ""))
    return 0


def _notebooks(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        found.extend(sorted(p.glob("*.ipynb")) if p.is_dir() else [p])
    return found


def _cmd_grade(args: argparse.Namespace) -> int:
    from .grading.batch import grade_notebook, summary_table, write_gradebook

    notebooks = _notebooks(args.paths)
    if not notebooks:
        print("no notebooks found in " + " ".join(args.paths), file=sys.stderr)
        return 2
    os.environ["LLMCOURSE_PROFILE"] = args.profile
    grades = []
    for nb in notebooks:
        print(f"grading {nb} ...", file=sys.stderr)
        grades.append(grade_notebook(nb, cell_timeout=args.timeout))
    csv_path, json_path = write_gradebook(grades, Path(args.out))
    print(summary_table(grades))
    print(f"\ngradebook: {csv_path} and {json_path}")
    return 0


def _cmd_execute(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    os.environ["LLMCOURSE_PROFILE"] = args.profile
    for nb_path in _notebooks(args.paths):
        print(f"executing {nb_path} in the {args.profile} profile ...", file=sys.stderr)
        nb = nbformat.read(nb_path, as_version=4)
        NotebookClient(nb, timeout=args.timeout, resources={"metadata": {"path": str(nb_path.parent)}}).execute()
        nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})  # one output per stream, not hundreds
        nbformat.write(nb, nb_path)
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    html = build_book()
    print(f"book built: {html / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmcourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("env", help="print the environment report")
    p.add_argument("--check", action="store_true", help="also compare the device with the CPU on a small network")
    p.set_defaults(run=_cmd_env)

    p = sub.add_parser("data", help="list, locate or download datasets")
    p.add_argument("action", choices=["list", "path", "fetch"])
    p.add_argument("names", nargs="*")
    p.set_defaults(run=_cmd_data)

    p = sub.add_parser("exercises", help="generate exercises/ from solutions/")
    p.add_argument("action", choices=["build"])
    p.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    p.set_defaults(run=_cmd_exercises)

    p = sub.add_parser("grade", help="grade submitted notebooks into a gradebook")
    p.add_argument("paths", nargs="+", help="notebooks or folders of notebooks")
    p.add_argument("--out", default=".", help="folder for gradebook.csv and gradebook.json")
    p.add_argument("--timeout", type=int, default=300, help="seconds allowed per cell")
    p.add_argument("--profile", default="ci", help="profile the notebooks run in (default: ci, the fastest)")
    p.set_defaults(run=_cmd_grade)

    p = sub.add_parser("execute", help="re-run notebooks in place, storing their outputs")
    p.add_argument("paths", nargs="+")
    p.add_argument("--profile", default="laptop")
    p.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    p.set_defaults(run=_cmd_execute)

    sub.add_parser("book", help="build the Jupyter Book").set_defaults(run=_cmd_book)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
