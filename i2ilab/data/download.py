"""Downloading the pix2pix and CycleGAN datasets: resumable, verified, safely extracted.

- Registry of the archives (REFERENCE.md section 4). CycleGAN archives carry the sizes and SHA-256
  sums that tensorflow-datasets records for them (its url_checksums/cycle_gan.txt); the pix2pix
  archives have no public record, so their integrity is checked by reading the archive and the sum
  computed at download is written next to the data (SOURCE.json) for later comparison.
- HTTP with the standard library only (urllib). Progress bar (tqdm). The data goes to a
  `<file>.part` file that an interrupted download resumes with an HTTP Range request (also on a
  later run), and is renamed to its final name only when complete and verified.
- The archive host has moved before (an older URL prefix is dead): `mirror` (or the environment
  variable I2ILAB_DATA_MIRROR) replaces the base URL; a mirror serves the same paths,
  `<base>/pix2pix/datasets/<name>.tar.gz` and `<base>/cyclegan/datasets/<name>.zip`.
- Extraction refuses members that would land outside the target folder (absolute paths, "..")
  and links or device files; it extracts into a temporary folder renamed into place at the end.
- A full disk (ENOSPC) while downloading or extracting is reported as such, and nothing verified
  is deleted: the `.part` file or the archive is kept for the next run. SHA-256 sums are compared
  case-insensitively and checked for their form (64 hexadecimal digits) before any download.

Layout: `<out>/<family>/<name>/` (e.g. data/pix2pix/facades/train, data/cyclegan/horse2zebra/trainA).
Nothing here runs at import time.
"""

import argparse
import dataclasses
import errno
import gzip
import hashlib
import http.client
import json
import os
import pathlib
import posixpath
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib

DEFAULT_BASE_URL = "https://efrosgans.eecs.berkeley.edu"
MIRROR_ENV = "I2ILAB_DATA_MIRROR"
FAMILIES = ("pix2pix", "cyclegan")


class DownloadError(RuntimeError):
    """A download or extraction failed; the message says what to do."""


class ChecksumError(DownloadError):
    """A downloaded file does not have the expected size or SHA-256 sum."""


@dataclasses.dataclass(frozen=True)
class Archive:
    """One dataset archive: `<base>/<family>/datasets/<filename>`; size and sha256 when publicly recorded."""

    family: str
    name: str
    filename: str
    size: int | None = None
    sha256: str | None = None

    @property
    def path(self):
        return f"{self.family}/datasets/{self.filename}"


_PIX2PIX = ("facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day")
# (bytes, sha256) as recorded by tensorflow-datasets (url_checksums/cycle_gan.txt).
_CYCLEGAN = {
    "apple2orange": (78456409, "845a191e9af8926408ea597001cd03a452e3300a1f44a79fe329b3d59f6e3eb8"),
    "cezanne2photo": (279885071, "3a6c10ca21f9485862f1cbd707744b9dc258954a04631271d23a3605eeb63cff"),
    "cityscapes": (279601602, "d2f6910fd056c1ee9873777ae838e7ac4a2c833598ae62a04188e5ab2f4ea036"),
    "facades": (35135868, "9a31ebf3a31b9b5cd195dd5bf62e9308e00cb94604d1019e3889ac84248695c0"),
    "horse2zebra": (116867962, "a74d9d392eecca9966b51287a76ca126af473d9de4f3e8fc0e9cda08fa1730a1"),
    "iphone2dslr_flower": (339964458, "8fcb5e374d631b107e1d961b8c4cd0a186aa2a4ff3e279923f4c426128de7113"),
    "maps": (1476754427, "639534f69dbf9f36bef8d6292a7698006361221f83f0285d7c9ca78afe6e8a9e"),
    "monet2photo": (305231073, "88f91b00fc228f97c9411fbf1880ec1d119c98f1722e4cfcfaa2fb35fac05b04"),
    "summer2winter_yosemite": (132640856, "167fe1726807a9d22bd106b4a6c0bd7953b688af924ac1bf967439c4961e49f9"),
    "ukiyoe2photo": (292946532, "02a2a2fb5ecf425ca1bf86aca7304377da64a2a1d3b86df54eb65e4068bf3b08"),
    "vangogh2photo": (306590349, "362c3473e70be0944bda08d49d660eafdc2854df55d697835b8186d1d79caaff"),
}
REGISTRY = {
    **{("pix2pix", n): Archive("pix2pix", n, f"{n}.tar.gz") for n in _PIX2PIX},
    **{("cyclegan", n): Archive("cyclegan", n, f"{n}.zip", s, h) for n, (s, h) in _CYCLEGAN.items()},
}

CITYSCAPES_INSTRUCTIONS = """\
The pix2pix cityscapes archive is withheld for licence reasons; prepare it yourself:
 1. Register at https://www.cityscapes-dataset.com and download gtFine_trainvaltest.zip and
    leftImg8bit_trainvaltest.zip; unzip both (you get gtFine/ and leftImg8bit/).
 2. For the train and val splits, pair each photo leftImg8bit/<split>/<city>/<id>_leftImg8bit.png with
    its colour label map gtFine/<split>/<city>/<id>_gtFine_color.png (sort both lists and check the ids
    match), resize both to 256x256 and paste them side by side into one 512x256 RGB image: photo on the
    left (A), labels on the right (B). Save as high-quality JPEG (quality 100, no chroma subsampling).
    This is what the reference's datasets/prepare_cityscapes_dataset.py does.
 3. Put train images in <out>/pix2pix/cityscapes/train/ (2975) and val images in
    <out>/pix2pix/cityscapes/test/ (500, the reference's naming). Labels -> photo is direction="BtoA".
"""


def archive_info(name, family):
    """The registry entry for (family, name); a clear error listing the choices otherwise."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}.")
    try:
        return REGISTRY[(family, name)]
    except KeyError:
        names = sorted(n for f, n in REGISTRY if f == family)
        raise ValueError(f"unknown {family} dataset {name!r}; choose one of {names}.") from None


def base_url(mirror=None):
    """The mirror argument, else $I2ILAB_DATA_MIRROR, else DEFAULT_BASE_URL (no trailing slash)."""
    return (mirror or os.environ.get(MIRROR_ENV) or DEFAULT_BASE_URL).rstrip("/")


def sha256_file(path, chunk_size=1 << 20):
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            h.update(block)
    return h.hexdigest()


#: errno values of a disk that has no room left (no space, quota exceeded).
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def check_sha256(value, what="--sha256"):
    """A SHA-256 sum given by a user, in lower case; ValueError unless it is 64 hex digits."""
    if value is None:
        return None
    digest = str(value).strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"{what} {value}: not a SHA-256 sum (64 hexadecimal digits, as sha256sum prints).")
    return digest


def _mirror_hint():
    return (
        f"The archive host may have moved (URL rot is common for these datasets): pass --mirror BASE_URL "
        f"(or mirror=..., or set {MIRROR_ENV}) to download from a mirror that serves the same paths."
    )


def _stream_to(resp, part, mode, have, total, progress, chunk_size):
    """Copy the response body into `part`; return the number of bytes written this time."""
    from tqdm.auto import tqdm

    written = 0
    with (
        open(part, mode) as f,
        tqdm(
            total=total,
            initial=have,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            disable=not progress,
        ) as bar,
    ):
        while True:
            block = resp.read(chunk_size)
            if not block:
                break
            try:
                f.write(block)
                f.flush()
            except OSError as e:
                if e.errno not in DISK_FULL:
                    raise DownloadError(f"{part}: cannot write the download ({e.strerror or e}).") from e
                raise DownloadError(
                    f"{part}: no space left on the disk after {have + written} of {total or '?'} bytes. "
                    f"{part} is kept: free some space and run the same command again to resume."
                ) from e
            written += len(block)
            bar.update(len(block))
    return written


def _remote_size(error):
    """The total size of a 416 response's ``Content-Range: bytes */N``, or None."""
    value = (error.headers or {}).get("Content-Range", "") if error.headers is not None else ""
    total = value.rpartition("/")[2]
    return int(total) if total.isdigit() else None


def fetch(
    url, dest, *, sha256=None, size=None, retries=3, retry_wait=2.0, progress=True, timeout=60, chunk_size=1 << 20
):
    """Download `url` to `dest` (resumable, verified, atomic); return the file's SHA-256.

    Bytes go to `dest.part`; a cut connection is resumed with an HTTP Range request (up to
    `retries` times here, and on the next call). When done, the size and `sha256` (if given) are
    checked and the file renamed to `dest`. An existing `dest` with the right sum is kept.
    Raises DownloadError (HTTP errors, unreachable host; 404 suggests a mirror) and ChecksumError
    (the bad .part file is removed so the next try starts afresh).
    """
    dest = pathlib.Path(dest)
    sha256 = check_sha256(sha256, "sha256")
    if dest.is_file():
        got = sha256_file(dest)
        if sha256 is None or got == sha256:
            return got
        raise ChecksumError(
            f"{dest} exists, but its SHA-256 is {got}, not the expected {sha256}; it is kept. If the "
            "expected sum is right, delete the file and run again to download it anew."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.is_file() else 0
        if size is not None and have == size:
            break
        if size is not None and have > size:
            _restart(part, have, size, url)
            have = 0
        headers = {"User-Agent": "i2ilab-download"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
                if have and resp.status != 206:  # the server ignored the Range header: start over
                    have = 0
                length = resp.headers.get("Content-Length")
                expected = int(length) if length is not None else None
                total = have + expected if expected is not None else size
                written = _stream_to(resp, part, "ab" if have else "wb", have, total, progress, chunk_size)
                if expected is not None and written < expected:
                    raise http.client.IncompleteRead(b"", expected - written)
            break
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # nothing left to send: the .part file is complete, or too long
                remote = _remote_size(e)
                if remote is None or remote == have or attempt == retries:
                    break
                _restart(part, have, remote, url)
                continue
            if e.code == 404:
                raise DownloadError(f"{url}: HTTP 404 Not Found. {_mirror_hint()}") from e
            if e.code >= 500 and attempt < retries:
                time.sleep(retry_wait * (attempt + 1))
                continue
            raise DownloadError(f"{url}: HTTP {e.code} {e.reason}. {_mirror_hint()}") from e
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            got_now = part.stat().st_size if part.is_file() else 0
            if attempt == retries:
                raise DownloadError(
                    f"{url}: download interrupted at {got_now} bytes ({type(e).__name__}: {e}). "
                    f"{part} is kept: run the same command again to resume, or check the network. {_mirror_hint()}"
                ) from None
            time.sleep(retry_wait * (attempt + 1))
    have = part.stat().st_size
    if size is not None and have != size:
        part.unlink()
        raise ChecksumError(
            f"{dest.name}: size mismatch: expected {size} bytes, got {have} (from {url}). The file was removed; "
            f"run again, or use another mirror. {_mirror_hint()}"
        )
    got = sha256_file(part)
    if sha256 is not None and got != sha256:
        part.unlink()
        raise ChecksumError(
            f"{dest.name}: SHA-256 mismatch: expected {sha256}, got {got} (from {url}). The file was removed; "
            "run again, or use another mirror."
        )
    os.replace(part, dest)
    return got


def _restart(part, have, size, url):
    """A ``.part`` file longer than the remote file is no part of it: start again, saying so."""
    print(
        f"{part}: {have} bytes, more than the {size} of {url}; it is not a part of this file, "
        "so the download starts again.",
        file=sys.stderr,
    )
    part.unlink()


def _safe_name(name, archive):
    p = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or p == ".." or p.startswith("../") or (len(name) > 1 and name[1] == ":"):
        raise DownloadError(f"{archive}: refusing to extract {name!r}: the path escapes the target folder.")
    return p


def _check_tar(tar, archive):
    members = []
    for m in tar:
        if m.issym() or m.islnk():
            raise DownloadError(f"{archive}: refusing to extract link {m.name!r} -> {m.linkname!r}.")
        if not (m.isfile() or m.isdir()):
            raise DownloadError(f"{archive}: refusing to extract {m.name!r}: not a regular file or folder.")
        _safe_name(m.name, archive)
        members.append(m)
    return members


def _extract_into(archive, target):
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                _safe_name(info.filename, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise DownloadError(f"{archive}: refusing to extract link {info.filename!r}.")
            bad = zf.testzip()
            if bad is not None:
                raise DownloadError(
                    f"{archive}: corrupt member {bad!r} (CRC error); delete the archive and download again."
                )
            zf.extractall(target)
    else:
        with tarfile.open(archive, "r:*") as tar:
            members = _check_tar(tar, archive)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(target, members=members, **kwargs)
            tar.fileobj.read()  # read to the end so that the gzip CRC at the end is checked


def extract(archive, out_dir, name, verified=False):
    """Extract a .zip / .tar.gz archive to `out_dir/name` safely; return that folder.

    Refuses members escaping the target (absolute paths, "..") and links/devices; checks the
    archive's integrity (zip CRCs, gzip stream); extracts into a temporary folder first and renames
    it into place, so `out_dir/name` exists only when complete. A single top-level folder in the
    archive (e.g. facades/) becomes `out_dir/name`. A full disk or an unwritable `out_dir` is
    reported as such (the archive is intact and kept); verified: the archive matched a recorded
    SHA-256 sum, so a format error is not called a damaged download.
    """
    archive, out_dir = pathlib.Path(archive), pathlib.Path(out_dir)
    final = out_dir / name
    if final.exists():
        raise DownloadError(f"{final} already exists; remove it or choose another output folder.")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{name}.extract-", dir=out_dir))
    try:
        try:
            _extract_into(archive, tmp)
        except OSError as e:
            if isinstance(e, gzip.BadGzipFile) or e.errno is None:
                raise _damaged(archive, e, verified) from e
            why = "no space left on the disk" if e.errno in DISK_FULL else e.strerror or str(e)
            raise DownloadError(
                f"{archive}: extracting into {out_dir} failed: {why} ({e.filename or out_dir}). The archive "
                "is intact and kept: free some space (or fix the folder) and run the same command again."
            ) from e
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as e:
            raise _damaged(archive, e, verified) from e
        entries = [p for p in tmp.iterdir() if not p.name.startswith(("__MACOSX", "."))]
        src = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        os.rename(src, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _damaged(archive, error, verified):
    detail = f"{type(error).__name__}: {error}"
    if verified:
        return DownloadError(
            f"{archive}: cannot read the archive ({detail}), although it matches its recorded SHA-256 sum; "
            "it is kept. Report the archive, or extract it by hand."
        )
    return DownloadError(f"{archive}: the archive is damaged or incomplete ({detail}); delete it and download again.")


def download_dataset(
    name,
    family="pix2pix",
    out="data",
    *,
    mirror=None,
    sha256=None,
    keep_archive=False,
    progress=True,
    retries=3,
    retry_wait=2.0,
):
    """Download and extract one dataset to `<out>/<family>/<name>/`; return that folder.

    sha256: expected sum overriding the registry's (e.g. for a pix2pix archive whose sum you know).
    Skips the work when the folder is already complete (it holds SOURCE.json). Writes SOURCE.json
    with the URL, size, SHA-256 and where the expected sum came from. pix2pix cityscapes cannot be
    downloaded: the error explains how to prepare it.
    """
    info = archive_info(name, family)
    sha256 = check_sha256(sha256)
    if (family, name) == ("pix2pix", "cityscapes"):
        raise DownloadError(CITYSCAPES_INSTRUCTIONS)
    root = pathlib.Path(out) / family
    final = root / name
    if (final / "SOURCE.json").is_file():
        return final
    url = f"{base_url(mirror)}/{info.path}"
    archive = root / info.filename
    expected = sha256 or info.sha256
    got = fetch(
        url,
        archive,
        sha256=expected,
        size=None if sha256 else info.size,
        retries=retries,
        retry_wait=retry_wait,
        progress=progress,
    )
    extract(archive, root, name, verified=expected is not None)
    record = {
        "url": url,
        "archive": info.filename,
        "bytes": archive.stat().st_size,
        "sha256": got,
        "sha256_checked_against": (
            "the --sha256 argument" if sha256 else "tensorflow-datasets url_checksums record" if info.sha256 else None
        ),
        "note": None if expected else "no public checksum exists; this sum was computed at download time",
    }
    (final / "SOURCE.json").write_text(json.dumps(record, indent=1))
    if not keep_archive:
        archive.unlink()
    return final


def main(argv=None, family=None):
    """Command line: `python data_scripts/download_<family>.py NAME [NAME ...] [--out DIR] [--mirror URL]`."""
    parser = argparse.ArgumentParser(
        description=f"Download {family or 'pix2pix / CycleGAN'} datasets (resumable, verified) into OUT/<family>/<name>/.",
    )
    if family is None:
        parser.add_argument("--family", choices=FAMILIES, required=True)
    names = sorted(n for f, n in REGISTRY if family in (None, f))
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"datasets: {', '.join(names)}")
    parser.add_argument("--list", action="store_true", help="list the datasets with their recorded sizes and exit")
    parser.add_argument("--out", default="data", help="output folder (default: data)")
    parser.add_argument("--mirror", default=None, help=f"base URL replacing {DEFAULT_BASE_URL} (also ${MIRROR_ENV})")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (one NAME only)")
    parser.add_argument("--keep-archive", action="store_true", help="keep the archive after extraction")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    family = family or args.family
    if args.list or not args.names:
        for (f, n), a in sorted(REGISTRY.items()):
            if f == family:
                size = f"{a.size / 2**20:8.1f} MiB, sha256 recorded" if a.size else "  size and sha256 not recorded"
                print(f"{n:24s} {size}")
        return 0
    if args.sha256 and len(args.names) != 1:
        parser.error("--sha256 needs exactly one NAME")
    try:
        check_sha256(args.sha256)
    except ValueError as e:
        parser.error(str(e))
    status = 0
    for name in args.names:
        try:
            path = download_dataset(
                name,
                family,
                args.out,
                mirror=args.mirror,
                sha256=args.sha256,
                keep_archive=args.keep_archive,
                progress=not args.quiet,
            )
            print(f"{name}: ready in {path}")
        except (DownloadError, ValueError) as e:
            print(f"{name}: {e}", file=sys.stderr)
            status = 1
    return status
