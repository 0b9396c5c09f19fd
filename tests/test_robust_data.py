"""Bad images and bad downloads: every bad file named at once, --skip-bad, nothing good deleted
(issue 18, list items 1, 5 and the data parts of 7)."""

import errno
import hashlib
import io
import os
import tarfile
import warnings

import numpy as np
import pytest
from PIL import Image
from test_data_download import _pix2pix_archive, server  # noqa: F401  (the local HTTP server fixture)

from i2ilab import cli, recipes
from i2ilab.data import DataError, download, files
from i2ilab.data.download import ChecksumError, DownloadError
from i2ilab.data.loaders import paired_dataset

TINY = ["--image-size", "16", "--ngf", "4", "--ndf", "4", "--batch-size", "2", "--epochs", "1", "--quiet"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("I2ILAB_CACHE", str(tmp_path / "cache"))


def _save(path, shape=(16, 32, 3), seed=0, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path, **kwargs)
    return path


def _corrupt_idat(path):
    """A PNG whose IDAT data is damaged; header and IEND intact (passes a header scan)."""
    data = bytearray(path.read_bytes())
    start = data.find(b"IDAT") + 40
    data[start : start + 40] = bytes(b ^ 0xFF for b in data[start : start + 40])
    path.write_bytes(bytes(data))


def _truncate_keep_iend(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + data[-12:])


def _extraneous_jpeg(path):
    """A JPEG with intact headers and 839 bytes of junk in its scan data (libjpeg only warns)."""
    data = path.read_bytes()
    path.write_bytes(data[:-2] + b"\x00" * 839 + b"\xff\xd9")


def _dataset(root, n_good=4):
    for i in range(n_good):
        _save(root / "train" / f"{i}.png", seed=i)
        _save(root / "test" / f"{i}.png", seed=10 + i)
    _corrupt_idat(_save(root / "train" / "idat.png", seed=20))
    _truncate_keep_iend(_save(root / "train" / "trunc.png", seed=21))
    _extraneous_jpeg(_save(root / "train" / "scan.jpg", seed=22, quality=95))
    _save(root / "train" / "fine.jpg", seed=23, quality=95)  # decoded in the same batch, not blamed
    return root


def test_full_decode_names_every_bad_file_at_once(tmp_path):
    root = _dataset(tmp_path / "data")
    with pytest.raises(DataError) as exc:
        paired_dataset(root, image_size=16, load_size=18)
    message = str(exc.value)
    assert "3 of 8 image files" in message
    assert "idat.png: corrupt PNG data (Invalid PNG data, size" in message
    assert "trunc.png: corrupt PNG data (Invalid PNG data, size" in message
    assert "scan.jpg: corrupt JPEG data (libjpeg: Corrupt JPEG data:" in message
    assert "extraneous bytes before marker 0xd9)" in message and "{{" not in message
    assert "--skip-bad" in message and "skip_bad=True" in message
    with pytest.warns(UserWarning, match=r"skipped 3 of 8 files .*3 unreadable"):
        ds = paired_dataset(root, image_size=16, load_size=18, batch_size=8, shuffle=False, skip_bad=True)
    assert next(iter(ds))[0].shape[0] == 5


def test_many_bad_files_name_the_first_few_and_count_the_rest(tmp_path):
    folder = tmp_path / "train"
    for i in range(8):
        (folder / f"bad{i}.png").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"bad{i}.png").write_bytes(b"junk")
    _save(folder / "good.png")
    with pytest.raises(DataError, match=r"8 of 9 image files .*bad4\.png: not a readable image.*; and 3 more\."):
        paired_dataset(tmp_path, image_size=16, load_size=18)


def test_scan_results_are_cached_per_file(tmp_path, monkeypatch):
    root = _dataset(tmp_path / "data")
    paths = sorted((root / "train").iterdir())
    first = files.probe_files(paths)
    assert list((tmp_path / "cache" / "scan").glob("*.json"))

    def no_decoding(*args):
        raise AssertionError("decoded again although the file did not change")

    monkeypatch.setattr(files, "_decode_error", no_decoding)
    monkeypatch.setattr(files, "_probe_header", no_decoding)
    assert files.probe_files(paths) == first
    # A changed file (new size and mtime) is checked again.
    monkeypatch.undo()
    monkeypatch.setenv("I2ILAB_CACHE", str(tmp_path / "cache"))
    _save(root / "train" / "idat.png", seed=30)
    again = files.probe_files(paths)
    assert again[paths.index(root / "train" / "idat.png")][2] is None


def test_train_names_every_bad_image_and_leaves_no_out(tmp_path, capsys):
    root = _dataset(tmp_path / "data")
    out = tmp_path / "run"
    assert cli.main(["train", "pix2pix", "--data", str(root), "--out", str(out), *TINY]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "3 of 8 image files" in err and "--skip-bad" in err
    assert "idat.png" in err and "trunc.png" in err and "scan.jpg" in err and "fine.jpg" not in err
    assert not out.exists()  # a data error leaves no empty --out behind


@pytest.mark.slow
def test_train_skip_bad_trains_with_a_count(tmp_path, capsys):
    root = _dataset(tmp_path / "data")
    out = tmp_path / "run"
    assert cli.main(["train", "pix2pix", "--data", str(root), "--out", str(out), "--skip-bad", *TINY]) == 0
    captured = capsys.readouterr()
    assert "i2ilab: warning: skipping bad images: skipped 3 of 8 files" in captured.err
    assert "Corrupt JPEG data" not in captured.err.replace("corrupt JPEG data (libjpeg: Corrupt JPEG data", "")
    assert (out / "generator.keras").is_file()


def test_out_inside_the_dataset_is_refused_and_writes_nothing_there(tmp_path, capsys):
    root = tmp_path / "data"
    for i in range(4):
        _save(root / "train" / f"{i}.png", seed=i)
        _save(root / "test" / f"{i}.png", seed=10 + i)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    for out in (root / "train" / "run", root / "test", root):
        assert cli.main(["train", "pix2pix", "--data", str(root), "--out", str(out), *TINY]) == 2
        err = capsys.readouterr().err
        assert f"--out {out} is inside the dataset folder" in err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_images_much_smaller_than_the_image_size_warn_once(tmp_path, capsys):
    root = tmp_path / "data"
    for i in range(4):
        _save(root / "train" / f"{i}.png", shape=(8, 16, 3), seed=i)
        _save(root / "test" / f"{i}.png", shape=(16, 32, 3), seed=10 + i)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recipes.training_data("pix2pix", str(root), 16, 2, 4)  # what `i2ilab train` loads
    upscaled = [str(w.message) for w in caught if "much smaller than" in str(w.message)]
    assert upscaled == [
        f"{root / 'train'}: 4 of 4 images are much smaller than the 18x18 they are resized to (smallest side 8 px), "
        "so they are upscaled and blurry; use an image size (--image-size) near the images' own size."
    ]


def test_empty_dataset_leaves_no_out_folder(tmp_path, capsys):
    (tmp_path / "data" / "train").mkdir(parents=True)
    out = tmp_path / "new" / "run"
    assert cli.main(["train", "pix2pix", "--data", str(tmp_path / "data"), "--out", str(out), *TINY]) == 2
    assert "holds no images" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


# ------------------------------------------------------------------------------------ downloads
def _fail_writes(monkeypatch, after):
    """Make the download's file writes hit a full disk after ``after`` bytes."""
    real_open = open

    class Full:
        def __init__(self, f):
            self.f, self.n = f, 0

        def write(self, block):
            if self.n + len(block) > after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.n += len(block)
            return self.f.write(block)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(download, "open", lambda *a, **k: Full(real_open(*a, **k)), raising=False)


def test_full_disk_while_downloading_keeps_the_part_file(server, tmp_path, monkeypatch):  # noqa: F811
    data = os.urandom(300_000)
    server.files["/f.bin"] = data
    _fail_writes(monkeypatch, after=100_000)
    with pytest.raises(DownloadError) as exc:
        download.fetch(server.url + "/f.bin", tmp_path / "f.bin", progress=False, retry_wait=0, chunk_size=50_000)
    message = str(exc.value)
    assert "no space left on the disk after 100000 of 300000 bytes" in message and "is kept" in message
    assert "network" not in message and len(server.log) == 1  # no retries against a full disk
    assert (tmp_path / "f.bin.part").read_bytes() == data[:100_000]
    monkeypatch.undo()
    download.fetch(server.url + "/f.bin", tmp_path / "f.bin", progress=False)  # resumes
    assert (tmp_path / "f.bin").read_bytes() == data


def test_full_disk_while_extracting_keeps_the_verified_archive(server, tmp_path, monkeypatch):  # noqa: F811
    data = _pix2pix_archive()
    server.files["/pix2pix/datasets/facades.tar.gz"] = data
    digest = hashlib.sha256(data).hexdigest()

    def full(self, tarinfo, targetpath, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), targetpath)

    monkeypatch.setattr(tarfile.TarFile, "makefile", full)
    with pytest.raises(DownloadError) as exc:
        download.download_dataset("facades", "pix2pix", tmp_path, mirror=server.url, sha256=digest, progress=False)
    message = str(exc.value)
    assert "no space left on the disk" in message and "intact and kept" in message
    assert "damaged" not in message and "delete" not in message
    assert (tmp_path / "pix2pix" / "facades.tar.gz").read_bytes() == data
    assert not (tmp_path / "pix2pix" / "facades").exists()
    monkeypatch.undo()
    n = len(server.log)
    root = download.download_dataset("facades", "pix2pix", tmp_path, mirror=server.url, sha256=digest, progress=False)
    assert (root / "train").is_dir() and len(server.log) == n  # the kept archive is used, not downloaded


def test_sha256_is_case_insensitive_and_checked_before_downloading(server, tmp_path, capsys):  # noqa: F811
    data = _pix2pix_archive()
    server.files["/pix2pix/datasets/facades.tar.gz"] = data
    upper = hashlib.sha256(data).hexdigest().upper()
    with pytest.raises(ValueError, match=r"--sha256 nothex: not a SHA-256 sum \(64 hexadecimal digits"):
        download.download_dataset("facades", "pix2pix", tmp_path, mirror=server.url, sha256="nothex")
    with pytest.raises(SystemExit) as exc:
        download.main(["facades", "--out", str(tmp_path), "--mirror", server.url, "--sha256", "nothex"], "pix2pix")
    assert exc.value.code == 2 and "not a SHA-256 sum" in capsys.readouterr().err
    assert server.log == []  # nothing downloaded for a malformed sum
    root = download.download_dataset(
        "facades", "pix2pix", tmp_path, mirror=server.url, sha256=upper, keep_archive=True, progress=False
    )
    assert (root / "SOURCE.json").is_file() and (tmp_path / "pix2pix" / "facades.tar.gz").read_bytes() == data


def test_existing_download_with_another_sum_is_kept(server, tmp_path):  # noqa: F811
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"my data")
    with pytest.raises(ChecksumError, match=r"f\.bin exists, but its SHA-256 is .* it is kept"):
        download.fetch(server.url + "/f.bin", dest, sha256="0" * 64, progress=False)
    assert dest.read_bytes() == b"my data" and server.log == []


@pytest.mark.parametrize("known_size", [False, True])
def test_part_file_longer_than_the_remote_file_restarts(server, tmp_path, capsys, known_size):  # noqa: F811
    data = os.urandom(20_000)
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data + os.urandom(5_000))
    size = len(data) if known_size else None
    got = download.fetch(server.url + "/f.bin", tmp_path / "f.bin", size=size, progress=False, retry_wait=0)
    assert got == hashlib.sha256(data).hexdigest() and (tmp_path / "f.bin").read_bytes() == data
    assert "25000 bytes, more than the 20000" in capsys.readouterr().err


def test_damaged_archive_still_says_damaged(tmp_path):
    buf = io.BytesIO(_pix2pix_archive())
    (tmp_path / "facades.tar.gz").write_bytes(buf.getvalue()[:-300])
    with pytest.raises(DownloadError, match="damaged or incomplete.*delete it and download again"):
        download.extract(tmp_path / "facades.tar.gz", tmp_path / "out", "facades")
