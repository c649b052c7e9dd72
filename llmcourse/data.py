"""Datasets, loaded honestly: a registry of named files with their source, checksum and licence.

:func:`path` finds a dataset's file in this order:

1. ``$LLMCOURSE_DATA_DIR/<filename>`` — a folder you filled yourself (CI points it at a shared copy);
2. the user cache, ``$LLMCOURSE_CACHE_DIR`` or ``~/.cache/llmcourse``;
3. a download from the dataset's canonical public URL, with a progress bar, into the cache.

Every file is checked against its sha256 before it is used. A download goes to a temporary file and
is renamed into place only after its checksum matches, so an interrupted or corrupt download never
leaves a file that looks valid. Offline with no copy, :class:`DataUnavailable` says exactly where to
put the file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm


@dataclass(frozen=True)
class Dataset:
    name: str
    filename: str
    url: str
    sha256: str
    size: int  # bytes
    licence: str
    citation: str
    description: str


class DataUnavailable(RuntimeError):
    """The dataset is not on this machine and could not be downloaded."""


class ChecksumMismatch(RuntimeError):
    """A file's contents are not the registered dataset (corrupt, truncated or a different version)."""


REGISTRY: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    REGISTRY[dataset.name] = dataset
    return dataset


register(
    Dataset(
        name="tinyshakespeare",
        filename="tinyshakespeare.txt",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        size=1_115_394,
        licence="Shakespeare's plays are in the public domain; compiled by Andrej Karpathy for char-rnn (MIT).",
        citation="Karpathy, A. (2015). char-rnn. https://github.com/karpathy/char-rnn",
        description="40,000 lines of Shakespeare: the classic character-level language-modelling corpus.",
    )
)


def data_dir() -> Path | None:
    """The folder named by ``LLMCOURSE_DATA_DIR``, if set."""
    value = os.environ.get("LLMCOURSE_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where downloads go: ``LLMCOURSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmcourse`` (``~/.cache/llmcourse``)."""
    value = os.environ.get("LLMCOURSE_CACHE_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "llmcourse"


def sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(file: Path, dataset: Dataset) -> None:
    """Raise :class:`ChecksumMismatch`, naming the file and what to do, unless its sha256 matches."""
    actual = sha256_of(file)
    if actual != dataset.sha256:
        raise ChecksumMismatch(
            f"{file} is not the expected {dataset.name!r} file (sha256 {actual[:16]}…, expected "
            f"{dataset.sha256[:16]}…; {file.stat().st_size:,} bytes, expected {dataset.size:,}). "
            f"It may be truncated or corrupt: delete it and run again, or replace it with a fresh copy "
            f"of {dataset.url}."
        )


def get(name: str) -> Dataset:
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


def path(name: str, *, download: bool = True, timeout: float = 30.0) -> Path:
    """The verified local file of dataset ``name``, downloading it into the cache if needed."""
    dataset = get(name)
    override = data_dir()
    if override is not None and (override / dataset.filename).exists():
        verify(override / dataset.filename, dataset)
        return override / dataset.filename
    cached = cache_dir() / dataset.filename
    if cached.exists():
        verify(cached, dataset)
        return cached
    if not download:
        raise DataUnavailable(_offline_message(dataset, cached, reason="downloads are turned off"))
    _download(dataset, cached, timeout=timeout)
    return cached


def read_text(name: str) -> str:
    """The dataset's contents as text (UTF-8)."""
    return path(name).read_text(encoding="utf-8")


def _download(dataset: Dataset, target: Path, *, timeout: float) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{dataset.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(dataset.url, timeout=timeout)
            except (urllib.error.URLError, OSError) as err:
                raise DataUnavailable(_offline_message(dataset, target, reason=str(err))) from err
            with response, tqdm(total=dataset.size, unit="B", unit_scale=True, desc=dataset.filename) as bar:
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        verify(tmp, dataset)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _offline_message(dataset: Dataset, cached: Path, reason: str) -> str:
    where = data_dir()
    options = f"  • {cached}\n"
    if where is not None:
        options = f"  • {where / dataset.filename}   (LLMCOURSE_DATA_DIR)\n" + options
    return (
        f"Dataset {dataset.name!r} is not on this machine and could not be downloaded ({reason}).\n"
        f"Download it on a machine with internet access from\n  {dataset.url}\n"
        f"and put the file ({dataset.size:,} bytes, sha256 {dataset.sha256}) at one of:\n{options}"
        f"or set LLMCOURSE_DATA_DIR to a folder that contains {dataset.filename}."
    )
