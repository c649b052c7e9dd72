"""A cache of trained SGNS runs: chapter 3's laptop run trains for minutes, a restarted kernel loads it instead.

:func:`train_sgns_cached` calls :func:`~.sgns.train_sgns` unless the cache folder holds a file for exactly this
run. A run is named by a key, the sha256 of everything that changes its result:

- the data: the word ids trained on and the vocabulary's counts (so the corpus, its slice and ``min_count``);
- the settings: every argument of ``train_sgns`` except ``progress`` and ``cpu_threads``, with the device's type
  (a GPU draws other random numbers than a CPU);
- the package's version and this file's ``FORMAT``, so a changed trainer does not reuse old vectors.

Change any of them and the key changes; files of other keys are left alone (delete the folder to clear it).

The file, ``<cache>/sgns-<key[:20]>.pt``, is one line with the sha256 of the payload, then the payload: ``torch.save``
of the two embedding tables, the loss history and the timing of the run that trained them. It is written under a
temporary name and renamed into place (``os.replace`` is atomic: a crash or a second process never leaves half a
file under the real name), and read back only if its sha256 matches and it names the key asked for, with
``torch.load(weights_only=True)``, which builds tensors and plain data only (a cache file cannot run code). A
damaged or foreign file is reported with a warning and trained over.

What it leaves out: a size limit, and sharing across machines (the key does not include the torch version).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from .corpus import Vocab
from .sgns import SkipGramNS, TrainResult, train_sgns

FORMAT = 1  # bump when train_sgns changes what it computes, so old files stop matching
NOT_IN_KEY = ("ids", "vocab", "progress", "cpu_threads")  # do not change the vectors (threads: only rounding)


class CacheError(Exception):
    """A cache file that cannot be used: damaged (sha256), of another run (key), or not a cache file."""


def run_key(ids: torch.Tensor, vocab: Vocab, **settings: Any) -> str:
    """The sha256 naming one run: data (ids, counts), ``train_sgns``'s settings (defaults filled in), versions."""
    from llmcourse import __version__

    bound = inspect.signature(train_sgns).bind(ids, vocab, **settings)  # a misspelt setting raises TypeError
    bound.apply_defaults()
    named = {k: v for k, v in bound.arguments.items() if k not in NOT_IN_KEY}
    named["device"] = torch.device(named["device"]).type
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": FORMAT, "llmcourse": __version__, "settings": named}, sort_keys=True,
                             default=str).encode())
    for tensor in (ids, vocab.counts):
        digest.update(tensor.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_file(cache_dir: str | Path, key: str) -> Path:
    """Where the run named ``key`` is stored in ``cache_dir``."""
    return Path(cache_dir) / f"sgns-{key[:20]}.pt"


def save_run(path: str | Path, result: TrainResult, key: str) -> None:
    """Write ``result`` (tables, losses, timing) under ``key``: sha256 line + payload, atomically."""
    path = Path(path)
    payload = {"key": key, "inp": result.model.inp.weight.detach().cpu(),
               "out": result.model.out.weight.detach().cpu(), "losses": list(result.losses),
               "words": list(result.words), "seconds": result.seconds, "words_per_second": result.words_per_second}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        f.write(hashlib.sha256(data).hexdigest().encode("ascii") + b"\n" + data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.replace(f.name, path)
    except OSError:
        os.unlink(f.name)
        raise


def load_run(path: str | Path, key: str, device: torch.device | str = "cpu") -> TrainResult:
    """The run stored in ``path``, after checking its sha256 and that it is the run named ``key``."""
    path = Path(path)
    blob = path.read_bytes()
    header, _, data = blob.partition(b"\n")
    if hashlib.sha256(data).hexdigest().encode("ascii") != header:
        raise CacheError(f"{path} is damaged: its contents do not match the sha256 written at its start "
                         f"({len(blob):,} bytes; truncated or overwritten)")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for bytes that are not its format
        raise CacheError(f"{path} matches its sha256 but is not a readable cache file: {error}") from error
    if not isinstance(payload, dict) or payload.get("key") != key:
        raise CacheError(f"{path} holds another run than the one asked for (its key differs)")
    vocab_size, dim = payload["inp"].shape
    model = SkipGramNS(vocab_size, dim)
    with torch.no_grad():
        model.inp.weight.copy_(payload["inp"])
        model.out.weight.copy_(payload["out"])
    return TrainResult(model.to(device), losses=payload["losses"], words=payload["words"],
                       seconds=payload["seconds"], words_per_second=payload["words_per_second"],
                       cache_file=path, cached=True)


def train_sgns_cached(ids: torch.Tensor, vocab: Vocab, *, cache_dir: str | Path | None, retrain: bool = False,
                      **settings: Any) -> TrainResult:
    """``train_sgns(ids, vocab, **settings)``, read from ``cache_dir`` if this exact run was stored there.

    ``cache_dir=None`` always trains and stores nothing; ``retrain=True`` trains and replaces the stored run.
    A trained run is stored; if the folder cannot be written, a warning says so and the result is returned.
    """
    if cache_dir is None:
        return train_sgns(ids, vocab, **settings)
    key = run_key(ids, vocab, **settings)
    path = cache_file(cache_dir, key)
    if path.exists() and not retrain:
        try:
            return load_run(path, key, settings.get("device", "cpu"))
        except (CacheError, OSError) as error:
            warnings.warn(f"{error}; training again and replacing it", stacklevel=2)
    result = train_sgns(ids, vocab, **settings)
    try:
        save_run(path, result, key)
        result.cache_file = path
    except OSError as error:
        warnings.warn(f"could not store the trained vectors in {path.parent} ({error}); they are not cached",
                      stacklevel=2)
    return result
