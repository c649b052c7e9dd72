"""JupyterLab, started the way the README tells a reader to, serves the chapters and runs Python.

The server is started with the README's command (headless, on a free port, with a known token) and
driven through its REST API and a kernel websocket, as the browser would: the file browser lists
the chapter notebooks, the python3 kernel is offered, starts, and evaluates ``1+1``. Its runtime
files go to a temporary folder; the reader's own Jupyter config and kernels are used as they are.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket  # websocket-client: a dependency of jupyter_server

from llmcourse.book import CHAPTERS_DIR, REPO_ROOT

pytestmark = pytest.mark.slow

# What the README tells a reader to run in the repository root.
README_COMMAND = ["jupyter", "lab", "--ServerApp.root_dir=chapters"]
STARTUP_TIMEOUT_S = 60
KERNEL_TIMEOUT_S = 60


class Lab:
    """A running JupyterLab server's REST API, authenticated with its token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """Send one request; return its HTTP status and decoded JSON body (None when empty)."""
        request = urllib.request.Request(
            self.url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            content = response.read()
            return response.status, json.loads(content) if content else None


def lab_command(token: str) -> list[str]:
    """README_COMMAND, run by this Python, headless on a free local port with ``token``."""
    extra = ["--no-browser", "--ip=127.0.0.1", "--port=0", f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        extra.append("--allow-root")  # CI containers run as root; Jupyter refuses that by default
    return [sys.executable, "-m", *README_COMMAND, *extra]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    log_path = runtime / "server.log"
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime)}
    with log_path.open("w") as log:
        server = subprocess.Popen(
            lab_command(token), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield Lab(wait_until_serving(server, runtime, log_path), token)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_serving(server: subprocess.Popen[bytes], runtime: Path, log_path: Path) -> str:
    """Wait for the server to write its address into the runtime folder and answer; return its URL."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{log_path.read_text()}")
        for info in runtime.glob("jpserver-*.json"):
            url = json.loads(info.read_text())["url"]
            try:
                urllib.request.urlopen(url + "api", timeout=5).close()  # /api answers without a token
                return url
            except (urllib.error.URLError, ConnectionError):
                pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()}")


def execute(lab: Lab, kernel_id: str, code: str) -> str:
    """Run ``code`` in the kernel through its websocket, as JupyterLab does; return its text result."""
    ws_url = lab.url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
    connection = websocket.create_connection(
        ws_url, header=[f"Authorization: token {lab.token}"], timeout=KERNEL_TIMEOUT_S
    )
    try:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex}
        content = {"code": code, "silent": False, "store_history": False, "allow_stdin": False}
        request = {"header": {**header, "username": "test", "version": "5.3"}, "parent_header": {}}
        connection.send(json.dumps({**request, "metadata": {}, "content": content, "channel": "shell"}))
        result, replied, idle = None, False, False
        while not (replied and idle):  # each recv waits at most KERNEL_TIMEOUT_S
            message = json.loads(connection.recv())
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "execute_result":
                result = content["data"]["text/plain"]
            elif kind == "error":
                pytest.fail(f"the kernel raised {content['ename']}: {content['evalue']}")
            elif kind == "execute_reply":
                replied = True
            elif kind == "status":
                idle = content["execution_state"] == "idle"
        return result
    finally:
        connection.close()


def test_lab_lists_the_chapters(lab: Lab) -> None:
    status, listing = lab.call("GET", "/api/contents")
    assert status == 200 and listing["type"] == "directory"
    notebooks = sorted(item["name"] for item in listing["content"] if item["type"] == "notebook")
    assert notebooks == sorted(path.name for path in CHAPTERS_DIR.glob("*.ipynb"))


def test_lab_runs_python_in_a_kernel(lab: Lab) -> None:
    status, specs = lab.call("GET", "/api/kernelspecs")
    assert status == 200 and "python3" in specs["kernelspecs"]
    status, kernel = lab.call("POST", "/api/kernels", {"name": "python3"})
    assert status == 201
    try:
        assert execute(lab, kernel["id"], "1+1") == "2"
        status, state = lab.call("GET", f"/api/kernels/{kernel['id']}")
        assert status == 200 and state["execution_state"] == "idle"
    finally:
        status, _ = lab.call("DELETE", f"/api/kernels/{kernel['id']}")
    assert status == 204


@pytest.mark.parametrize("user_id, allow_root", [("0", True), ("1000", False)])
def test_make_lab_runs_the_readme_command_and_allows_root_only_as_root(user_id: str, allow_root: bool) -> None:
    """JupyterLab refuses root without --allow-root, and containers and cloud notebooks run as root."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not installed: the README's `make lab` needs it (apt-get install make)")
    # -n prints the commands without running them; a set-up step may come first when .venv is out of date
    # --no-print-directory: under `make test` this make is nested and would print "make[1]: Entering directory"
    result = subprocess.run([make, "-n", "--no-print-directory", "lab", f"USER_ID={user_id}"], cwd=REPO_ROOT,
                            capture_output=True,
                            text=True, check=True)
    command = result.stdout.splitlines()[-1].split()
    assert command[0].endswith("/jupyter") and command[1:3] == README_COMMAND[1:]
    assert ("--allow-root" in command) == allow_root
