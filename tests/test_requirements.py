"""The torch floor: pyproject.toml and the package agree, and an older torch is refused in one sentence."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import llmcourse
from llmcourse import MIN_TORCH, check_torch

ROOT = Path(__file__).resolve().parent.parent


def test_pyproject_floor_is_the_packages():
    text = (ROOT / "pyproject.toml").read_text()
    floor = re.search(r'"torch>=(\d+)\.(\d+)', text)
    assert floor, "pyproject.toml has no torch floor"
    assert (int(floor[1]), int(floor[2])) == MIN_TORCH


@pytest.mark.parametrize("version", ["2.4.1", "2.2.0+cpu", "1.13.1", "2.4.0a0+git1234"])
def test_an_older_torch_is_refused_with_what_to_do(version):
    with pytest.raises(ImportError, match=rf"needs torch >= 2\.5, but torch {re.escape(version)} .*pip install"):
        check_torch(version)


@pytest.mark.parametrize("version", ["2.5.0", "2.13.0+cpu", "2.6.0.dev20241001", "3.0.0rc1", "2.10.1+cu126"])
def test_new_enough_torch_passes(version):
    check_torch(version)


def test_the_installed_torch_passes():
    import torch

    check_torch(torch.__version__)
    assert llmcourse._release(torch.__version__)[:2] >= MIN_TORCH


# --- the installs: the lock, and the torch build the Makefile picks (requirements/torch_build.py) ---

def _torch_build():
    spec = importlib.util.spec_from_file_location("torch_build", ROOT / "requirements" / "torch_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lock_pins() -> dict[str, str]:
    """Package -> pinned version, for every line of the lock (its markers split a package over Pythons)."""
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, version = line.split(";")[0].strip().split("==")
            pins[name.lower()] = version
    return pins


def test_the_lock_says_how_it_was_made_and_pins_the_torch_ci_installs():
    lines = (ROOT / "requirements" / "lock.txt").read_text().splitlines()
    assert lines[1].lstrip("# ").startswith("uv pip compile pyproject.toml --extra dev --universal")
    assert _lock_pins()["torch"] == "2.13.0"
    assert re.search(r"^torch==2\.13\.0$", (ROOT / "requirements" / "pins.txt").read_text(), re.M)
    assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text()


def test_every_dependency_in_pyproject_is_locked_within_its_range():
    from packaging.requirements import Requirement

    text = (ROOT / "pyproject.toml").read_text()
    block = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S)[1]
    block += re.search(r"^dev = \[(.*?)^\]", text, re.M | re.S)[1]
    requirements = [Requirement(r) for r in re.findall(r'^\s*"([^"]+)"', block, re.M)]
    assert len(requirements) > 20
    pins = _lock_pins()
    for requirement in requirements:
        assert requirement.specifier.contains(pins[requirement.name.lower()]), requirement


@pytest.mark.parametrize("build, system, gpu, chosen", [
    ("auto", "Linux", False, "cpu"),  # PyPI's Linux wheel is CUDA: the CPU index instead
    ("auto", "Linux", True, "default"),
    ("auto", "Darwin", False, "default"),
    ("auto", "Windows", False, "default"),
    ("default", "Linux", False, "default"),
    ("cpu", "Linux", True, "cpu"),
])
def test_the_torch_build_is_the_cpu_one_only_on_linux_without_a_gpu(build, system, gpu, chosen):
    assert _torch_build().choose_build(build, system, gpu) == chosen


def test_a_gpu_is_seen_by_its_driver_or_by_nvidia_smi(tmp_path):
    has_gpu = _torch_build().has_nvidia_gpu
    nowhere = lambda name: None  # noqa: E731
    assert not has_gpu(tmp_path / "nvidia", which=nowhere)
    assert has_gpu(tmp_path / "nvidia", which=lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None)
    (tmp_path / "nvidia").mkdir()
    assert has_gpu(tmp_path / "nvidia", which=nowhere)


def test_an_installed_torch_that_fits_is_kept_and_one_that_does_not_is_replaced():
    import torch

    module = _torch_build()
    assert module.satisfied("torch>=2.5,<3") == importlib.metadata.version("torch")
    assert module.satisfied(f"torch=={torch.__version__.split('+')[0]}")
    assert module.satisfied("torch==2.5.0") is None
    with pytest.raises(ValueError, match="torch requirement"):
        module.satisfied("numpy>=1")


def test_torch_build_refuses_an_unknown_build_in_one_line():
    result = subprocess.run([sys.executable, str(ROOT / "requirements" / "torch_build.py"), "torch>=2.5", "--build",
                             "rocm"], capture_output=True, text=True)
    assert result.returncode == 2 and "--build must be one of auto, cpu, default, not 'rocm'" in result.stderr


def test_torch_build_keeps_the_installed_torch_without_calling_pip():
    result = subprocess.run([sys.executable, str(ROOT / "requirements" / "torch_build.py"), "torch>=2.5,<3"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.startswith(f"torch: {importlib.metadata.version('torch')} is installed and satisfies")
