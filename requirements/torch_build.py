"""Install torch into the running Python, choosing the build for this machine: ``python torch_build.py SPEC``.

Why a step of its own: PyPI's Linux torch wheel is a CUDA build (several GB with its nvidia-* wheels), which a
CPU-only machine downloads for nothing. So on Linux without an NVIDIA driver this takes the CPU build from
PyTorch's CPU index; with a GPU, on macOS and on Windows it takes what pip's index serves (CUDA on Linux,
the only build elsewhere). A torch already installed that satisfies SPEC is kept as it is: no download, whatever
build it is (a CUDA build you chose, or the local CPU wheel CI installs first). It says which it chose.

``--build cpu`` or ``--build default`` (the Makefile's TORCH_BUILD) overrides the detection.
Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
BUILDS = ("auto", "cpu", "default")


def has_nvidia_gpu(proc_driver: Path = Path("/proc/driver/nvidia"), which=shutil.which) -> bool:
    """An NVIDIA driver is loaded (/proc/driver/nvidia) or its tool is on PATH: a CUDA build can be used."""
    return proc_driver.exists() or which("nvidia-smi") is not None


def choose_build(build: str, system: str, gpu: bool) -> str:
    """'cpu' or 'default' (pip's own index): the CPU build only where PyPI's build would be CUDA and no GPU is there."""
    if build not in BUILDS:
        raise ValueError(f"--build must be one of {', '.join(BUILDS)}, not {build!r}")
    if build != "auto":
        return build
    return "cpu" if system == "Linux" and not gpu else "default"


def satisfied(spec: str) -> str | None:
    """The installed torch's version when it satisfies ``spec`` (e.g. 'torch>=2.5,<3'), else None."""
    try:
        installed = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    try:
        from packaging.requirements import Requirement
    except ImportError:  # a fresh venv: pip carries its own copy
        from pip._vendor.packaging.requirements import Requirement
    requirement = Requirement(spec)
    if requirement.name != "torch":
        raise ValueError(f"SPEC must be a torch requirement such as 'torch==2.13.0', not {spec!r}")
    return installed if requirement.specifier.contains(installed, prereleases=True) else None


def pip_command(spec: str, build: str) -> list[str]:
    """The pip command that installs ``spec`` from the chosen build's index."""
    command = [sys.executable, "-m", "pip", "install", "--quiet", spec]
    return command + ["--index-url", CPU_INDEX] if build == "cpu" else command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="the torch requirement, e.g. 'torch==2.13.0'")
    parser.add_argument("--build", default="auto", help="auto (detect), cpu (PyTorch's CPU index) or default (pip's)")
    args = parser.parse_args(argv)
    try:
        kept = satisfied(args.spec)
        build = choose_build(args.build, platform.system(), has_nvidia_gpu())
    except ValueError as error:
        parser.error(str(error))
    if kept:
        print(f"torch: {kept} is installed and satisfies {args.spec}: kept")
        return 0
    if build == "cpu":
        why = "chosen by TORCH_BUILD=cpu" if args.build == "cpu" else "Linux without an NVIDIA GPU"
        print(f"torch: the CPU build ({why}), {args.spec} from {CPU_INDEX}; TORCH_BUILD=default for PyPI's CUDA build")
    else:
        found = f"{platform.system()}, NVIDIA GPU: {'yes' if has_nvidia_gpu() else 'no'}"
        why = "chosen by TORCH_BUILD=default" if args.build == "default" else found
        print(f"torch: the build pip's index serves ({why}), {args.spec}; TORCH_BUILD=cpu for the CPU-only build")
    return subprocess.call(pip_command(args.spec, build))


if __name__ == "__main__":
    sys.exit(main())
