"""The grading worker: one submission's kernel, inside the sandbox (``python -m llmcourse.grading.worker``).

It reads one JSON command per line and answers one JSON line each, on file descriptors it took over at
start (the learner's prints go to a capped buffer, never into the answers):

- ``{"op": "cell", "index": i, "source": ..., "timeout": s}``: run a cell with IPython, as a kernel would;
- ``{"op": "kinds", "names": [...]}``: what each name is in the notebook (function, class, missing, ...);
- ``{"op": "run", "name": ..., "request": base64, "timeout": s}``: make a case's calls to the learner's
  object (:func:`.runner.run_request`, a forked child per run) and answer its plain-data result.

It holds no case, no reference and no verdict: the grader's process builds the requests and judges the
answers, so nothing the notebook does to this process can change a grade.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
from typing import Any


class CellTimeout(KeyboardInterrupt):
    """The cell ran past its limit (raised by the worker's own alarm, like a kernel interrupt)."""


def _kind(namespace: dict[str, Any], name: str) -> str:
    if name not in namespace:
        return "missing"
    value = namespace[name]
    if value is None:
        return "none"
    if isinstance(value, type):
        return "class"
    if callable(value):
        return "function"
    return f"other:{type(value).__name__}"


def main() -> None:
    commands = os.fdopen(os.dup(0), "r", encoding="utf-8")
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)

    from IPython.core.interactiveshell import InteractiveShell

    from .runner import _CappedText, run_request
    from .wire import dumps, loads

    printed = _CappedText()
    sys.stdout = sys.stderr = printed
    shell = InteractiveShell.instance(colors="NoColor")
    shell.display_pub.publish = lambda *a, **k: None  # rich displays go nowhere, as prints do

    def on_alarm(signum: int, frame: Any) -> None:
        raise CellTimeout()

    signal.signal(signal.SIGALRM, on_alarm)

    def answer(obj: dict[str, Any]) -> None:
        answers.write(json.dumps(obj) + "\n")
        answers.flush()

    answer({"op": "ready"})
    for line in commands:
        try:
            command = json.loads(line)
        except json.JSONDecodeError:
            continue
        op = command.get("op")
        if op == "cell":
            signal.setitimer(signal.ITIMER_REAL, float(command.get("timeout", 300)))
            try:
                result = shell.run_cell(command["source"], store_history=False, silent=False)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            error = result.error_in_exec or result.error_before_exec
            answer({"op": "cell", "index": command.get("index"), "ok": error is None,
                    "error": None if error is None else f"{type(error).__name__}: {str(error)[:300]}",
                    "timeout": isinstance(error, CellTimeout)})
        elif op == "kinds":
            answer({"op": "kinds", "kinds": {n: _kind(shell.user_ns, n) for n in command.get("names", [])}})
        elif op == "run":
            request = loads(base64.b64decode(command["request"]))
            response = run_request(shell.user_ns.get(command["name"]), request, float(command["timeout"]))
            answer({"op": "run", "response": base64.b64encode(dumps(response)).decode("ascii")})
        elif op == "exit":
            break
    os._exit(0)


if __name__ == "__main__":
    main()
