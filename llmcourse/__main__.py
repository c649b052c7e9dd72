"""The command line: ``python -m llmcourse <command>`` for everything that is not a notebook.

    doctor [--json]           versions, device, dtypes, compile, memory, disk, data, sandbox and a numerics check
                              of the course's GPT and LSTM on the device against the CPU; exit 1 if something is missing
    env [--check]             print the environment report; --check runs the doctor's numerics check alone
    data list | path NAME | fetch [NAME...]
                              the dataset registry; fetch downloads and verifies
    exercises build [--check] regenerate exercises/ from solutions/ and record the public cases a learner's
                              check() replays, from the teacher's references (or fail if either drifted)
    grade PATH... --out DIR   grade submitted notebooks, each in its own sandbox, into a gradebook
    execute NOTEBOOK...       re-run notebooks in place (to refresh stored outputs); --record stores each chapter's
                              expect() results as the reference run for its profile and device
    expect show [CHAPTER...]  the reference runs behind each chapter's expected results
    book [--repository URL]   build the Jupyter Book into book/_build/html, with Colab and Binder buttons
                              where the course's GitHub address is known
    chat CHECKPOINT           chat in the terminal with chapter 10's assistant (a file of save_chat_model);
                              --temperature, --top-k, --top-p, --max-new-tokens, --system, --seed
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn


def _cmd_env(args: argparse.Namespace) -> int:
    from .config import active_profile
    from .device import best_device, environment_report

    try:  # LLMCOURSE_PROFILE and LLMCOURSE_DEVICE are read here; a bad value is one line, not a traceback
        active_profile()
        device = best_device()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(environment_report(device))
    if args.check:  # the doctor's numerics check alone (python -m llmcourse doctor runs every check)
        from .doctor import numerics

        comparisons = numerics(str(device))
        print("\n".join(c.line() for c in comparisons))
        return 0 if all(c.ok for c in comparisons) else 1
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
    failed = []
    for name in names:  # every dataset is tried, so one report lists all that are missing
        try:
            print(data.path(name, download=args.action == "fetch"))
        except (KeyError, data.DataUnavailable, data.ChecksumMismatch) as err:
            print(f"error: {err.args[0]}", file=sys.stderr)
            failed.append(name)
    if failed and len(names) > 1:
        print(f"{len(failed)} of {len(names)} datasets unavailable: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _chapter_id(text: str) -> str:
    """argparse type: 'ch05' (or '05', '5')."""
    digits = text[2:] if text.startswith("ch") else text
    if not digits.isdigit() or not 1 <= int(digits) <= 99:
        raise argparse.ArgumentTypeError(f"expected a chapter like ch05, not {text!r}")
    return f"ch{int(digits):02d}"


def _drifted(what: str, names: list[str]) -> int:
    """``exercises build --check``'s answer when something drifted: what, for which, and the command that mends it."""
    print(f"{what} for: " + ", ".join(names), file=sys.stderr)
    print("run: python -m llmcourse exercises build", file=sys.stderr)
    return 1


def _cmd_exercises(args: argparse.Namespace) -> int:
    from .exercises import MarkerError, build_all, record_all, record_chapter
    from .grading.references import ReferencesMissing

    try:
        stale = build_all(check=args.check)
    except MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.check and stale:
        return _drifted("exercises/ is out of date with solutions/", stale)
    print("exercises/ is up to date with solutions/" if args.check else
          f"rebuilt {len(stale)} exercise notebook(s)" + (": " + ", ".join(stale) if stale else ""))
    if args.notebooks_only:
        return 0
    try:  # the recorded public cases a learner's check() replays (llmcourse/checks/recorded/)
        recorded = record_chapter(args.chapter, check=args.check) if args.chapter else record_all(check=args.check)
    except (ReferencesMissing, KeyError, RuntimeError) as err:
        print(f"error: recording the public cases: {err}", file=sys.stderr)
        return 1
    if args.check and recorded:
        return _drifted("the recorded cases are out of date", recorded)
    print("the recorded cases are up to date" if args.check else
          f"recorded the public cases again; changed: {', '.join(recorded) or 'none'}")
    return 0


MAX_CELL_SECONDS = 86_400  # a day: a longer limit per cell is a typo (inf, 1e12), not a plan


def _notebooks(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        found.extend(sorted(p.glob("*.ipynb")) if p.is_dir() else [p])
    return found


def _found_notebooks(paths: list[str], timeout: float) -> tuple[list[Path], str | None]:
    """The notebooks ``paths`` name, or a one-line reason they or the per-cell ``timeout`` cannot work."""
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        return [], f"no such file or folder: {missing[0]}"
    notebooks = _notebooks(paths)
    if not notebooks:
        return [], "no notebooks (*.ipynb) found in " + " ".join(paths)
    if not 0 < timeout <= MAX_CELL_SECONDS:
        return [], f"--timeout must be a number of seconds above 0 and at most {MAX_CELL_SECONDS}, not {timeout:g}"
    return notebooks, None


def _grade_arguments(args: argparse.Namespace) -> tuple[list[Path], str | None]:
    """The notebooks to grade, or a one-line reason the arguments cannot work (checked before any grading)."""
    from .config import PROFILES
    from .grading.core import chapter_exercises

    notebooks, problem = _found_notebooks(args.paths, args.timeout)
    if problem:
        return [], problem
    if args.memory_mb < 1:
        return [], f"--memory-mb must be at least 1, not {args.memory_mb}"
    if args.jobs < 1:
        return [], f"--jobs must be at least 1, not {args.jobs}"
    if args.profile not in PROFILES:
        return [], f"unknown profile {args.profile!r}; choose one of {', '.join(PROFILES)}"
    if args.chapter is not None and not chapter_exercises(args.chapter):
        return [], f"no graded exercises for chapter {args.chapter!r} (expected e.g. ch01)"
    if args.references is not None and not Path(args.references).is_dir():
        return [], f"--references: no such folder: {args.references}"
    if args.hidden is not None and not Path(args.hidden).is_dir():
        return [], f"--hidden: no such folder: {args.hidden}"
    if args.hidden is not None and not args.no_hidden:
        from .grading.hidden import HiddenCaseError, load_hidden

        try:
            load_hidden(Path(args.hidden))
        except HiddenCaseError as err:
            return [], f"--hidden: {err}"
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".llmcourse-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        return [], f"--out {out} is not a writable folder: {err.strerror or err}"
    out_resolved = out.resolve()
    for nb in notebooks:
        if nb.resolve().parent == out_resolved:
            return [], f"--out {out} holds the submissions themselves; write the gradebook somewhere else"
    return notebooks, None


def _cmd_grade(args: argparse.Namespace) -> int:
    from .grading import sandbox
    from .grading.batch import Gradebook, GradeOptions, grade_all, summary_table
    from .grading.hidden import HiddenCaseError, default_hidden_folder, load_hidden

    notebooks, problem = _grade_arguments(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    isolation = sandbox.detect(args.sandbox)
    if args.sandbox == "bwrap" and isolation.tool != "bwrap":
        print("error: --sandbox bwrap, but bubblewrap does not work here (apt-get install bubblewrap)", file=sys.stderr)
        return 2
    if isolation.warning:
        print(isolation.warning, file=sys.stderr)
    from .grading.references import ReferencesMissing, default_references_folder, load_references

    references_folder = Path(args.references) if args.references else default_references_folder()
    try:  # the teacher's side: the expected answers every case compares with, on fresh inputs
        loaded = load_references(references_folder)
    except ReferencesMissing as err:
        print(f"error: --references: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 — a typo in a teacher's file is one line naming it, not a traceback
        where = f" (line {err.lineno})" if isinstance(err, SyntaxError) and err.lineno else ""
        print(f"error: --references: {references_folder}{where}: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    hidden_folder = None if args.no_hidden else (Path(args.hidden) if args.hidden else default_hidden_folder())
    try:
        hidden = load_hidden(hidden_folder) if hidden_folder else {}
    except HiddenCaseError as err:
        print(f"error: hidden cases: {err}", file=sys.stderr)
        return 2
    print(f"references: {len(loaded)} from {references_folder}", file=sys.stderr)
    print(f"hidden cases: {sum(map(len, hidden.values()))} from {hidden_folder}" if hidden_folder
          else "hidden cases: none", file=sys.stderr)
    options = GradeOptions(cell_timeout=args.timeout, profile=args.profile, chapter=args.chapter, hidden=hidden,
                           references=references_folder,
                           seed=args.seed, isolation=isolation,
                           limits=sandbox.Limits(memory_mb=args.memory_mb))
    book = Gradebook(Path(args.out))
    try:
        grades = grade_all(notebooks, book, options, jobs=args.jobs, regrade=args.regrade)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {len(book.grades)} graded submission(s) are saved in {book.json_path}; "
              "run the same command again to grade the rest", file=sys.stderr)
        return 130
    print(summary_table(grades))
    print(f"\ngradebook: {book.csv_path} and {book.json_path}")
    return 0


def _execute_arguments(args: argparse.Namespace) -> tuple[list[Path], str | None]:
    """The notebooks to execute, or a one-line reason the arguments cannot work (checked before running any)."""
    import nbformat

    from .config import PROFILES

    if args.profile not in PROFILES:
        return [], f"unknown profile {args.profile!r}; choose one of {', '.join(PROFILES)}"
    notebooks, problem = _found_notebooks(args.paths, args.timeout)
    if problem:
        return [], problem
    for nb_path in notebooks:
        try:
            nbformat.read(nb_path, as_version=4)
        except Exception as err:  # noqa: BLE001 — JSON, schema, encoding: any reason it is not a notebook
            return [], f"{nb_path} is not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
    return notebooks, None


def _cmd_execute(args: argparse.Namespace) -> int:
    import tempfile
    import time

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    from .expected import RecordRefused, show_verdict_again, store_runs

    notebooks, problem = _execute_arguments(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    os.environ["LLMCOURSE_PROFILE"] = args.profile
    record = Path(tempfile.mkdtemp()) / "expected.jsonl" if args.record else None
    if record:
        os.environ["LLMCOURSE_EXPECT_RECORD"] = str(record)
    seconds: dict[str, float] = {}  # chapter -> seconds the whole notebook took
    paths: dict[str, Path] = {}
    executed = []  # (path, notebook) to write once every run (and, with --record, its storing) has succeeded
    for nb_path in notebooks:
        print(f"executing {nb_path} in the {args.profile} profile ...", file=sys.stderr)
        started = time.perf_counter()
        nb = nbformat.read(nb_path, as_version=4)
        client = NotebookClient(nb, timeout=args.timeout, resources={"metadata": {"path": str(nb_path.parent)}})
        try:  # the kernel process's own log (its shutdown races included) is not the learner's output: cells' is
            client.execute(stderr=subprocess.DEVNULL)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:  # the file is left as it was
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # no terminal colours in a one-line message
            last = [line for line in text.strip().splitlines() if line.strip()][-1:] or [type(err).__name__]
            print(f"error: {nb_path} stopped in a cell, file left unchanged: {last[0][:300]}", file=sys.stderr)
            if not args.no_write and not record:  # the notebooks before it ran to the end: keep their outputs
                for done_path, done in executed:
                    nbformat.write(done, done_path)
            return 1
        chapter = nb.metadata.get("llmcourse", {}).get("chapter") or f"ch{nb_path.name[:2]}"
        seconds[chapter], paths[chapter] = time.perf_counter() - started, nb_path
        nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})  # one output per stream, not hundreds
        executed.append((nb_path, nb))
    if record:
        records = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        if not records:
            print("error: --record: no expect(...) cell ran in these notebooks", file=sys.stderr)
            return 1
        threads = os.environ.get("OMP_NUM_THREADS")
        prefix = f"OMP_NUM_THREADS={threads} " if threads else ""
        commands = {chapter: f"{prefix}python -m llmcourse execute {path} --profile {args.profile} --record"
                    + (" --no-write" if args.no_write else "") for chapter, path in paths.items()}
        try:
            stored = store_runs(records, commands, seconds, accept=args.accept)
        except RecordRefused as err:  # no reference and no notebook is changed
            print(f"error: --record: {err}; the notebooks were left as they were", file=sys.stderr)
            return 1
        for written in stored:
            print(f"recorded the reference run {written}", file=sys.stderr)
    if not args.no_write:
        for nb_path, nb in executed:
            nbformat.write(nb, nb_path)
        if record:  # each closing cell said "not measured" while its own run was being recorded
            for line in records:
                show_verdict_again(paths[line["chapter"]], line)
    return 0


def _cmd_expect(args: argparse.Namespace) -> int:
    from .expected import RESULTS, reference_table

    chapters = args.chapters or list(RESULTS)
    unknown = [c for c in chapters if c not in RESULTS]
    if unknown:
        print(f"error: no declared results for {unknown[0]}; chapters with results: {', '.join(RESULTS)}",
              file=sys.stderr)
        return 2
    print("\n".join(reference_table(c) for c in chapters))
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import run_cli

    return run_cli(args)


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build_book

    try:
        html = build_book(repository=args.repository, branch=args.branch)
    except ValueError as err:  # a bad --repository/--branch or repository.url, or a widget with no static view
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"book built: {html / 'index.html'}")
    return 0


def _chat_setting(name: str, convert: type) -> Callable[[str], Any]:
    """argparse type for ``chat``: ``convert(text)``, in range by chapter 8's rule for ``name`` (check_settings)."""

    def parse(text: str) -> Any:
        from .gpt.sampling import check_settings

        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if convert is int else 'a number'}, "
                                             f"got {text!r}") from None
        least = {"max_new_tokens": 1, "seed": 0}.get(name)
        if least is not None and not least <= value < 2**64:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text!r}")
        try:
            if least is None:
                check_settings(**{name: value})
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        return value

    return parse


def _cmd_chat(args: argparse.Namespace) -> int:
    import torch

    from .assistant.checkpoint import load_chat_model, terminal_chat
    from .training import CheckpointError

    try:  # a missing, damaged or foreign file, or a bad LLMCOURSE_DEVICE: one line, not a traceback
        model, tokenizer, _ = load_chat_model(args.checkpoint)
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    device = next(model.parameters()).device
    generator = torch.Generator(device=device)
    seed = generator.seed() if args.seed is None else args.seed  # a new seed each run unless one is given
    generator.manual_seed(seed)
    parts = [f"temperature {args.temperature:g}"]
    parts += [f"top-k {args.top_k}"] if args.top_k is not None else []
    parts += [f"top-p {args.top_p:g}"] if args.top_p is not None else []
    how = "greedy" if args.temperature == 0 else ", ".join([*parts, f"seed {seed}"])
    banner = (f"chatting with {args.checkpoint}: a GPT of {model.num_parameters():,} parameters, "
              f"{model.config.block_size} tokens of context, on {device}; {how}; /reset starts over, /quit or "
              f"Ctrl-D ends")
    try:
        terminal_chat(model, tokenizer, system=args.system, max_new_tokens=args.max_new_tokens,
                      temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, generator=generator,
                      banner=banner)
    except ValueError as err:  # a --system text the model cannot read (refused before the first line is read)
        print(f"error: chat: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C, in a reply or at the prompt
        print(file=sys.stderr)
        return 130
    return 0


class _OneLineParser(argparse.ArgumentParser):
    """Answers a bad argument in one line (no usage block) and exits with 2, like the commands' own checks."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog.removeprefix('python -m llmcourse').strip() or 'llmcourse'}: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog="python -m llmcourse", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    p = sub.add_parser("doctor", help="check this machine for the course, numerics included")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    p.add_argument("--device", default=None, help="the device to check (default: the one the course would choose)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile check (it takes seconds)")
    p.set_defaults(run=_cmd_doctor)

    p = sub.add_parser("env", help="print the environment report")
    p.add_argument("--check", action="store_true",
                   help="also run the doctor's numerics check (the course's GPT and LSTM against float64 on the CPU)")
    p.set_defaults(run=_cmd_env)

    p = sub.add_parser("data", help="list, locate or download datasets")
    p.add_argument("action", choices=["list", "path", "fetch"])
    p.add_argument("names", nargs="*")
    p.set_defaults(run=_cmd_data)

    p = sub.add_parser("exercises", help="generate exercises/ from solutions/")
    p.add_argument("action", choices=["build"])
    p.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    p.add_argument("--notebooks-only", action="store_true",
                   help="leave the recorded public cases (llmcourse/checks/recorded/) alone")
    p.add_argument("--chapter", default=None, type=_chapter_id, help="record one chapter's cases (e.g. ch05)")
    p.set_defaults(run=_cmd_exercises)

    p = sub.add_parser("grade", help="grade submitted notebooks into a gradebook")
    p.add_argument("paths", nargs="+", help="notebooks or folders of notebooks")
    p.add_argument("--out", default="gradebook", help="folder for gradebook.csv and .json (default: gradebook)")
    p.add_argument("--timeout", type=float, default=300, help="seconds allowed per cell (default 300)")
    p.add_argument("--profile", default="ci", help="profile the notebooks run in (default: ci, the fastest)")
    p.add_argument("--chapter", default=None, help="chapter id (ch01, ...) when the file names do not start with "
                                                  "the chapter's number (01_...)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.add_argument("--references", default=None,
                   help="folder of the teacher's references (default: solutions/references of the course)")
    p.add_argument("--hidden", default=None, help="folder of hidden cases (default: solutions/hidden of the course)")
    p.add_argument("--no-hidden", action="store_true", help="run the public cases only")
    p.add_argument("--seed", type=int, default=None, help="seed for the cases' inputs (default: new each run; "
                                                          "the gradebook records it)")
    p.add_argument("--regrade", action="store_true", help="grade again submissions already in the gradebook")
    p.add_argument("--sandbox", choices=["auto", "bwrap", "unshare", "none"], default="auto",
                   help="isolation for each submission (default: bwrap where it works)")
    p.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per submission (default 4096)")
    p.set_defaults(run=_cmd_grade)

    p = sub.add_parser("execute", help="re-run notebooks in place, storing their outputs")
    p.add_argument("paths", nargs="+")
    p.add_argument("--profile", default="laptop")
    p.add_argument("--timeout", type=float, default=1800, help="seconds allowed per cell (default 1800)")
    p.add_argument("--record", action="store_true",
                   help="store each chapter's expect() results as the reference run for its profile and device")
    p.add_argument("--no-write", action="store_true", help="leave the notebook files as they were")
    p.add_argument("--accept", action="store_true",
                   help="with --record: replace a reference run even where the new results leave its bands")
    p.set_defaults(run=_cmd_execute)

    p = sub.add_parser("expect", help="show the reference runs behind the chapters' expected results")
    p.add_argument("action", choices=["show"])
    p.add_argument("chapters", nargs="*", type=_chapter_id)
    p.set_defaults(run=_cmd_expect)

    p = sub.add_parser("book", help="build the Jupyter Book")
    p.add_argument("--repository", metavar="URL", default=None,
                   help="the course's GitHub address for the Colab and Binder buttons (default: repository.url"
                        " in book/_config.yml; without one the buttons are off)")
    p.add_argument("--branch", default=None, help="the branch the buttons open (default: repository.branch, main)")
    p.set_defaults(run=_cmd_book)

    p = sub.add_parser("chat", help="chat in the terminal with a chat model (chapter 10's save_chat_model)")
    p.add_argument("checkpoint", help="the file save_chat_model wrote (its NAME.sha256 beside it)")
    p.add_argument("--temperature", type=_chat_setting("temperature", float), default=0.8,
                   help="sampling temperature; 0 is greedy (default 0.8)")
    p.add_argument("--top-k", type=_chat_setting("top_k", int), default=None,
                   help="sample among the k likeliest characters only (default: all)")
    p.add_argument("--top-p", type=_chat_setting("top_p", float), default=None,
                   help="sample within the smallest set holding this share of the probability (default: off)")
    p.add_argument("--max-new-tokens", type=_chat_setting("max_new_tokens", int), default=200,
                   help="the longest reply, in characters (default 200)")
    p.add_argument("--system", default=None, help="a system turn that opens every conversation")
    p.add_argument("--seed", type=_chat_setting("seed", int), default=None,
                   help="seed of the sampling, to repeat a chat (default: a new one each run, shown at the start)")
    p.set_defaults(run=_cmd_chat)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
