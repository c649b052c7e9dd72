"""llmcourse: build every part of a large language model in PyTorch, one chapter at a time.

The package mirrors the chapters: each module holds what a chapter built, so a later chapter
imports the finished piece instead of copying it. See README.md for the chapter map.
"""

from __future__ import annotations

from importlib import metadata

__version__ = "0.1.0"

# The oldest torch the course runs on, for what the chapters rely on: F.scaled_dot_product_attention returning
# zeros for a fully masked row instead of NaN (chapter 5; pytorch/pytorch PR 133882, first in 2.5), nn.RMSNorm
# (chapter 6; 2.4), torch.compiler.is_compiling (2.3). pyproject.toml's floor is the same (a test checks it).
MIN_TORCH = (2, 5)


def _release(version: str) -> tuple[int, ...]:
    """'2.13.0+cpu' -> (2, 13, 0): the numeric release, without local or pre-release tags."""
    parts = []
    for part in version.split("+")[0].split("."):
        digits = "".join(ch for ch in part if ch.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
        if not part.isdigit():
            break
    return tuple(parts)


def check_torch(version: str | None = None) -> None:
    """Refuse, in one sentence that says what to do, a torch older than the course needs."""
    if version is None:
        try:
            version = metadata.version("torch")
        except metadata.PackageNotFoundError:
            return  # a torch installed outside pip's view (a source build): trust it
    if _release(version)[:2] < MIN_TORCH:
        want = ".".join(map(str, MIN_TORCH))
        raise ImportError(f"llmcourse needs torch >= {want}, but torch {version} is installed: "
                          f"pip install --upgrade 'torch>={want}' (see README.md, 'Which torch?')")


check_torch()
