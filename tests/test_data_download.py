"""Downloads against a local HTTP server on 127.0.0.1 serving archives built here (no network)."""

import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from i2ilab.data import download
from i2ilab.data.download import ChecksumError, DownloadError


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files with HTTP Range support; can cut one response halfway or ignore Range."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        data = srv.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        header = self.headers.get("Range")
        if header and not srv.ignore_range:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in srv.cut_once:  # promise everything, send half, hang up
            srv.cut_once.discard(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log, srv.cut_once, srv.ignore_range = {}, [], set(), False
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _png_bytes(seed, shape):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _tar_gz(entries):
    """entries: name -> bytes (file), or name -> ("symlink", target)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(entries):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _pix2pix_archive():
    return _tar_gz(
        {f"facades/train/{i}.png": _png_bytes(i, (16, 32, 3)) for i in range(3)}
        | {"facades/test/0.png": _png_bytes(9, (16, 32, 3))}
    )


def test_pix2pix_download_extracts_and_records_the_sum(server, tmp_path):
    data = _pix2pix_archive()
    server.files["/pix2pix/datasets/facades.tar.gz"] = data
    root = download.download_dataset("facades", "pix2pix", tmp_path, mirror=server.url, progress=False)
    assert root == tmp_path / "pix2pix" / "facades"
    assert sorted(p.name for p in (root / "train").iterdir()) == ["0.png", "1.png", "2.png"]
    source = json.loads((root / "SOURCE.json").read_text())
    assert source["sha256"] == hashlib.sha256(data).hexdigest() and source["bytes"] == len(data)
    assert source["sha256_checked_against"] is None and "no public checksum" in source["note"]
    assert sorted(p.name for p in (tmp_path / "pix2pix").iterdir()) == ["facades"]  # no archive, .part, temp
    # The pix2pix loader reads it.
    from i2ilab.data.loaders import paired_dataset

    a, b = next(iter(paired_dataset(root, image_size=16, jitter=False, batch_size=3, shuffle=False)))
    assert a.shape == (3, 16, 16, 3)
    # A second call finds the finished folder and does not download again.
    n_requests = len(server.log)
    assert download.download_dataset("facades", "pix2pix", tmp_path, mirror=server.url, progress=False) == root
    assert len(server.log) == n_requests


def test_cyclegan_download_with_given_sum_and_mirror_from_environment(server, tmp_path, monkeypatch):
    data = _zip(
        {
            f"horse2zebra/{split}/{i}.png": _png_bytes(i, (16, 16, 3))
            for split in ("trainA", "trainB", "testA", "testB")
            for i in range(2)
        }
    )
    server.files["/cyclegan/datasets/horse2zebra.zip"] = data
    monkeypatch.setenv(download.MIRROR_ENV, server.url + "/")
    assert download.base_url() == server.url
    digest = hashlib.sha256(data).hexdigest()
    root = download.download_dataset(
        "horse2zebra", "cyclegan", tmp_path, sha256=digest, keep_archive=True, progress=False
    )
    assert sorted(p.name for p in root.iterdir()) == ["SOURCE.json", "testA", "testB", "trainA", "trainB"]
    assert (tmp_path / "cyclegan" / "horse2zebra.zip").read_bytes() == data
    assert json.loads((root / "SOURCE.json").read_text())["sha256_checked_against"] == "the --sha256 argument"


def test_resume_after_a_cut_connection(server, tmp_path):
    data = bytes(range(256)) * 400
    server.files["/f.bin"] = data
    server.cut_once.add("/f.bin")
    dest = tmp_path / "f.bin"
    digest = download.fetch(server.url + "/f.bin", dest, retries=1, retry_wait=0, progress=False)
    assert dest.read_bytes() == data and digest == hashlib.sha256(data).hexdigest()
    assert server.log == [("/f.bin", None), ("/f.bin", f"bytes={len(data) // 2}-")]
    assert not (tmp_path / "f.bin.part").exists()


def test_resume_on_the_next_call_and_server_ignoring_range(server, tmp_path):
    data = b"0123456789" * 5000
    server.files["/g.bin"] = data
    server.cut_once.add("/g.bin")
    dest = tmp_path / "g.bin"
    with pytest.raises(DownloadError, match=r"interrupted at 25000 bytes.*g\.bin\.part is kept.*again to resume"):
        download.fetch(server.url + "/g.bin", dest, retries=0, progress=False)
    assert not dest.exists() and (tmp_path / "g.bin.part").stat().st_size == len(data) // 2
    download.fetch(server.url + "/g.bin", dest, retries=0, progress=False)
    assert dest.read_bytes() == data and server.log[-1] == ("/g.bin", "bytes=25000-")
    # A server that ignores Range answers 200 with the whole file: start over instead of appending.
    server.ignore_range = True
    server.cut_once.add("/g.bin")
    other = tmp_path / "h.bin"
    with pytest.raises(DownloadError):
        download.fetch(server.url + "/g.bin", other, retries=0, progress=False)
    download.fetch(server.url + "/g.bin", other, retries=0, progress=False)
    assert other.read_bytes() == data


def test_complete_part_file_gets_416_and_is_finished(server, tmp_path):
    data = b"x" * 1000
    server.files["/c.bin"] = data
    (tmp_path / "c.bin.part").write_bytes(data)
    download.fetch(server.url + "/c.bin", tmp_path / "c.bin", sha256=hashlib.sha256(data).hexdigest(), progress=False)
    assert (tmp_path / "c.bin").read_bytes() == data and server.log == [("/c.bin", "bytes=1000-")]


def test_checksum_mismatch_names_file_expected_and_got(server, tmp_path):
    data = _zip({"facades/trainA/0.png": _png_bytes(0, (8, 8, 3))})
    server.files["/cyclegan/datasets/facades.zip"] = data
    expected = download.REGISTRY[("cyclegan", "facades")].sha256
    got = hashlib.sha256(data).hexdigest()
    with pytest.raises(ChecksumError, match=rf"facades\.zip: SHA-256 mismatch: expected {expected}, got {got}"):
        download.download_dataset("facades", "cyclegan", tmp_path, mirror=server.url, sha256=expected, progress=False)
    assert list((tmp_path / "cyclegan").iterdir()) == []  # nothing half-written left behind
    # With the recorded size the mismatch is caught on the size first.
    with pytest.raises(ChecksumError, match=r"facades\.zip: size mismatch: expected 35135868 bytes"):
        download.download_dataset("facades", "cyclegan", tmp_path, mirror=server.url, progress=False)


def test_http_404_suggests_a_mirror(server, tmp_path):
    with pytest.raises(DownloadError, match=r"maps\.tar\.gz: HTTP 404 Not Found.*--mirror"):
        download.download_dataset("maps", "pix2pix", tmp_path, mirror=server.url, progress=False)
    assert not (tmp_path / "pix2pix" / "maps.tar.gz.part").exists()


@pytest.mark.parametrize(
    "entries, message",
    [
        ({"facades/../../evil.txt": b"x"}, "escapes the target"),
        ({"/tmp/evil.txt": b"x"}, "escapes the target"),
        ({"facades/train/0.png": b"x", "facades/link": ("symlink", "/etc/passwd")}, "refusing to extract link"),
    ],
)
def test_unsafe_tar_members_are_refused(tmp_path, entries, message):
    archive = tmp_path / "facades.tar.gz"
    archive.write_bytes(_tar_gz(entries))
    out = tmp_path / "out"
    with pytest.raises(DownloadError, match=message):
        download.extract(archive, out, "facades")
    assert list(out.iterdir()) == [] and not (tmp_path / "evil.txt").exists()


def test_unsafe_zip_member_and_damaged_archives(tmp_path):
    archive = tmp_path / "x.zip"
    archive.write_bytes(_zip({"../evil.txt": b"x"}))
    with pytest.raises(DownloadError, match="escapes the target"):
        download.extract(archive, tmp_path / "out", "x")
    damaged = tmp_path / "facades.tar.gz"
    damaged.write_bytes(_pix2pix_archive()[:-200])
    with pytest.raises(DownloadError, match="damaged or incomplete"):
        download.extract(damaged, tmp_path / "out", "facades")
    assert list((tmp_path / "out").iterdir()) == []


def test_command_line(server, tmp_path, capsys):
    server.files["/pix2pix/datasets/facades.tar.gz"] = _pix2pix_archive()
    argv = ["facades", "--out", str(tmp_path), "--mirror", server.url, "--quiet"]
    assert download.main(argv, family="pix2pix") == 0
    assert "facades: ready in" in capsys.readouterr().out
    assert download.main(["cityscapes", "--out", str(tmp_path)], family="pix2pix") == 1
    assert "leftImg8bit" in capsys.readouterr().err
    assert download.main(["--list"], family="cyclegan") == 0
    assert "horse2zebra" in capsys.readouterr().out
    assert download.main(["nosuchset", "--out", str(tmp_path)], family="cyclegan") == 1
    assert "unknown cyclegan dataset" in capsys.readouterr().err
