"""Isolation for one submission's kernel: Debian's ``bubblewrap`` where present, limits everywhere.

:func:`sandbox_command` wraps the grading worker's command line so that it sees only what it needs:
the Python installation and the course package read-only, the course data read-only, a scratch HOME
holding the one notebook it grades, an empty ``/tmp``, no network and its own process tree (killing the
sandbox ends every process it started, detached ones included). It cannot see other submissions, the
teacher's folders, the hidden cases or the gradebook. :func:`limits` sets CPU time, memory, open files,
file size and (where the OS allows) process count on the sandbox, and a pids cgroup is used where one
can be made.

Without ``bwrap`` the worker still runs as a separate process with the same limits, inside ``unshare``
(no network, own process tree) where that is allowed; :attr:`Isolation.missing` says what is then not
isolated, and the grader prints it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")


@dataclass
class Limits:
    cpu_seconds: int = 1800
    memory_mb: int = 4096
    processes: int = 256
    file_mb: int = 256
    open_files: int = 512


@dataclass
class Isolation:
    tool: str  # "bwrap", "unshare" or "none"
    missing: list[str] = field(default_factory=list)

    @property
    def warning(self) -> str:
        if not self.missing:
            return ""
        return (f"warning: submissions are graded with {self.tool if self.tool != 'none' else 'no sandbox'}; "
                "not isolated: " + "; ".join(self.missing) + ". Install Debian's bubblewrap (apt-get install "
                "bubblewrap) for full isolation.")


def _works(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect(prefer: str = "auto") -> Isolation:
    """Which isolation this machine allows: bwrap, else unshare, else none (each tried for real)."""
    if prefer in ("auto", "bwrap") and shutil.which("bwrap") and _works(
            ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "--proc", "/proc", "true"]):
        return Isolation("bwrap")
    if prefer in ("auto", "bwrap", "unshare") and shutil.which("unshare") and _works(
            ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child", "true"]):
        return Isolation("unshare", ["files: the kernel can read every file this user can (other submissions "
                                     "included)", "HOME and /tmp are shared with this user"])
    return Isolation("none", ["files: the kernel can read every file this user can (other submissions included)",
                              "network: the kernel can open connections",
                              "processes: a detached process may outlive the grading"])


def _python_roots() -> list[Path]:
    """Folders the interpreter, its libraries, the venv and the course package live in."""
    import llmcourse

    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent.parent,
             Path(llmcourse.__file__).resolve().parent}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        roots.add(Path(sysconfig.get_paths()[key]))
    return sorted(r for r in roots if r.exists())


def _data_roots() -> list[Path]:
    roots = []
    for name in ("LLMCOURSE_DATA_DIR", "LLMCOURSE_CACHE_DIR"):
        if os.environ.get(name):
            roots.append(Path(os.environ[name]).expanduser())
    roots.append(Path.home() / ".cache" / "llmcourse")
    return [r.resolve() for r in roots if r.exists()]


SANDBOX_HOME = "/home/student"


def sandbox_env(profile: str) -> dict[str, str]:
    """The worker's whole environment: nothing of the teacher's is passed on."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": SANDBOX_HOME, "LANG": "C.UTF-8",
           "LLMCOURSE_PROFILE": profile, "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/matplotlib",
           "IPYTHONDIR": "/tmp/ipython",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for name in ("LLMCOURSE_DATA_DIR", "LLMCOURSE_CACHE_DIR"):
        if os.environ.get(name):
            env[name] = str(Path(os.environ[name]).expanduser().resolve())
    return env


def sandbox_command(inner: list[str], scratch: Path, isolation: Isolation, profile: str) -> tuple[list[str],
                                                                                                 dict[str, str], str]:
    """(argv, env, cwd) that run ``inner`` isolated, with ``scratch`` as the only writable folder."""
    env = sandbox_env(profile)
    if isolation.tool != "bwrap":
        env["HOME"] = str(scratch)
        env["MPLCONFIGDIR"] = str(scratch / ".matplotlib")
        env["IPYTHONDIR"] = str(scratch / ".ipython")
        argv = inner
        if isolation.tool == "unshare":
            argv = ["unshare", "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child",
                    "--mount-proc", *inner]
        return argv, env, str(scratch)
    argv = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for system in ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc/alternatives", "/etc/ld.so.cache",
                   "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts", "/etc/localtime", "/etc/ssl"):
        argv += ["--ro-bind-try", system, system]
    for root in _python_roots() + _data_roots():
        argv += ["--ro-bind", str(root), str(root)]
    argv += ["--bind", str(scratch), SANDBOX_HOME, "--chdir", SANDBOX_HOME]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    return [*argv, *inner], env, "/"


def _cgroup_for(limits: Limits) -> Path | None:
    """A fresh pids cgroup capped at ``limits.processes``, where this machine lets us make one."""
    try:
        path = PIDS_CGROUP_ROOT / f"llmcourse-{uuid.uuid4().hex[:12]}"
        path.mkdir()
        (path / "pids.max").write_text(str(limits.processes))
        return path
    except OSError:
        return None


def remove_cgroup(path: Path | None) -> None:
    if path is None:
        return
    try:
        for pid in (path / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), 9)
            except OSError:
                pass
        path.rmdir()
    except OSError:
        pass


def limits(spec: Limits) -> tuple[list[str], Path | None]:
    """A ``prlimit`` prefix that applies ``spec`` to the sandbox's processes, and a pids cgroup (or None).

    (``prlimit`` rather than a ``preexec_fn``: the grader starts sandboxes from several threads at once.)
    Put the started process in the cgroup with :func:`join_cgroup`.
    """
    mb = 1024 * 1024
    prefix = []
    if shutil.which("prlimit"):
        prefix = ["prlimit", f"--cpu={spec.cpu_seconds}", f"--as={spec.memory_mb * mb}",
                  f"--fsize={spec.file_mb * mb}", f"--nofile={spec.open_files}",
                  f"--nproc={spec.processes + _own_processes()}", "--core=0", "--"]
    return prefix, _cgroup_for(spec)


def join_cgroup(cgroup: Path | None, pid: int) -> None:
    if cgroup is not None:
        try:
            (cgroup / "cgroup.procs").write_text(str(pid))
        except OSError:
            pass


def _own_processes() -> int:
    """Processes this user already runs (RLIMIT_NPROC counts them all, not just the sandbox's)."""
    uid = os.getuid()
    count = 0
    for entry in Path("/proc").iterdir() if Path("/proc").exists() else []:
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count
