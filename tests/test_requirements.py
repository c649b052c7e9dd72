"""The torch floor: pyproject.toml and the package agree, and an older torch is refused in one sentence."""

from __future__ import annotations

import re
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
