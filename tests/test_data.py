"""The dataset loader: data dir first, then cache, then a verified download; clear errors otherwise."""

import hashlib
import http.server
import threading
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
