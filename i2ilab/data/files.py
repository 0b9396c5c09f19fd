"""Finding image files and checking them before a tf.data pipeline is built.

A tf.data pipeline fails deep inside the runtime with an error that names no file. So every
loader first checks its files: the header with PIL (size, format, mode), the end-of-image marker
of JPEG and PNG files (a truncated download is the usual corruption), and a full decode with the
decoder the pipeline uses (TensorFlow's; for JPEG also libjpeg's "Corrupt JPEG data" warnings,
which TensorFlow only prints, so that corrupt scan data is caught too). The results are cached per
file (path, size, mtime) under ``$I2ILAB_CACHE/scan`` (:func:`i2ilab.data.synthetic.default_cache_dir`),
so a second scan of the same files only stats them. Every unusable file is reported at once (the
first few named, with a count) with what was wrong and how to fix it; ``skip_bad=True`` (``--skip-bad``
on the command line) drops them instead and warns once with a count per reason.
"""

import collections
import concurrent.futures
import contextlib
import hashlib
import json
import os
import pathlib
import re
import tempfile
import threading
import warnings

from i2ilab.data.synthetic import default_cache_dir

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_TAIL_BYTES = 4096
#: Bad files named in one error message; the rest are counted.
NAMED_BAD_FILES = 5
#: Version of the cached scan results (bump when the checks change).
SCAN_VERSION = 1
#: Files decoded together (in parallel, one stderr capture) during a scan.
DECODE_BATCH = 64
SKIP_HINT = "or skip such files (--skip-bad on the command line, skip_bad=True in Python)"
_STDERR_LOCK = threading.Lock()


class DataError(ValueError):
    """Bad dataset input: the message names the file or folder, what was wrong and what to do."""


class SplitNotFoundError(DataError, FileNotFoundError):
    """A dataset split folder does not exist (catch it as DataError or as FileNotFoundError)."""


#: Cityscapes file-name endings dropped before label, instance and image files are matched
#: (``aachen_000000_000019_gtFine_labelIds.png`` pairs with ``..._leftImg8bit.png``).
NAME_SUFFIXES = ("_gtFine_labelIds", "_gtFine_instanceIds", "_leftImg8bit", "_labelIds", "_instanceIds")


def name_key(path):
    """The name a label map, its instance map and its photo share: the file stem without a
    :data:`NAME_SUFFIXES` ending."""
    stem = pathlib.Path(path).stem
    for suffix in NAME_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def list_images(folder, what="split folder"):
    """Sorted image files (IMAGE_EXTENSIONS, any case) directly in `folder`.

    Raises SplitNotFoundError (a DataError and a FileNotFoundError) for a missing folder and
    DataError for a folder without images.
    """
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        parent = folder.parent
        present = sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []
        hint = f" Folders present in {parent}: {present}." if parent.is_dir() else f" {parent} does not exist either."
        raise SplitNotFoundError(
            f"{what} {folder} not found.{hint} Download a dataset with data_scripts/ "
            "(i2ilab.data.download) or write a synthetic one with i2ilab.data.synthetic.write_synthetic."
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        others = sorted(p.name for p in folder.iterdir())[:5]
        raise DataError(
            f"{what} {folder} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}; "
            f"found {others or 'nothing'}). Check the root and split arguments."
        )
    return files


def _check_tail(path, fmt):
    """False when a JPEG lacks its end-of-image marker or a PNG its IEND chunk (truncated file)."""
    marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}.get(fmt)
    if marker is None:
        return True
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - _TAIL_BYTES))
        return marker in f.read()


@contextlib.contextmanager
def _captured_stderr():
    """Collect what C libraries print on file descriptor 2 (libjpeg's warnings) while inside."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        lines = []
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode(errors="replace").splitlines())


def _decode_error(path, fmt):
    """TensorFlow's error decoding the whole file (the pipeline's decoder), or None."""
    import tensorflow as tf

    try:
        tf.io.decode_image(pathlib.Path(path).read_bytes(), channels=3, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as err:
        detail = re.sub(r"\{\{.*?\}\}|\[Op:\w+\]", "", err.message.splitlines()[0]).strip()
        return f"corrupt {fmt} data ({detail})"
    return None


def _libjpeg_lines(printed):
    """libjpeg's warnings among captured stderr lines; the other lines are passed on to stderr."""
    libjpeg = [line.strip() for line in printed if "JPEG" in line or "jpeg" in line]
    others = [line for line in printed if line.strip() not in libjpeg]
    if others:
        os.write(2, ("\n".join(others) + "\n").encode())
    return libjpeg


def _decode_problems(items):
    """[problem or None] of ``[(path, format)]`` after a full decode, in parallel. libjpeg's
    warnings (corrupt scan data TensorFlow decodes anyway) are caught on stderr for the whole
    batch; only when there are some are the batch's JPEG files decoded again one by one to tell
    which file they belong to."""
    with _captured_stderr() as printed, concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        problems = list(pool.map(lambda item: _decode_error(*item), items))
    if _libjpeg_lines(printed):
        for k, (path, fmt) in enumerate(items):
            if problems[k] is None and fmt == "JPEG":
                with _captured_stderr() as printed:
                    _decode_error(path, fmt)
                warning = _libjpeg_lines(printed)
                if warning:
                    problems[k] = f"corrupt JPEG data (libjpeg: {warning[0]})"
    return problems


def _probe_header(path):
    """(width, height, format, problem or None) from the header of one file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, size, mode = im.format, im.size, im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return None, None, None, f"not a readable image ({type(e).__name__}: {e})"
    if fmt not in ("JPEG", "PNG", "BMP"):
        return size[0], size[1], fmt, f"format {fmt} is not supported (use JPEG, PNG or BMP)"
    if mode == "CMYK":
        return size[0], size[1], fmt, "CMYK JPEG is not supported (convert it to RGB)"
    if not _check_tail(path, fmt):
        return size[0], size[1], fmt, f"truncated {fmt} file (no end marker; an interrupted copy or download?)"
    return size[0], size[1], fmt, None


def _cache_file(folder):
    key = hashlib.sha256(str(pathlib.Path(folder).resolve()).encode()).hexdigest()[:24]
    return default_cache_dir() / "scan" / f"{key}.json"


def _read_cache(folder):
    try:
        stored = json.loads(_cache_file(folder).read_text())
    except (OSError, ValueError):
        return {}
    return stored.get("files", {}) if stored.get("version") == SCAN_VERSION else {}


def _write_cache(folder, entries):
    """Store the scan results of ``folder``; a cache that cannot be written is skipped."""
    path = _cache_file(folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"version": SCAN_VERSION, "folder": str(pathlib.Path(folder).resolve()), "files": entries}, f)
        os.replace(tmp, path)
    except OSError:
        pass


def probe_files(files):
    """[(width, height, problem or None)] of image ``files``, from the scan cache where a file's
    size and mtime are unchanged, else checked (header in parallel, then a full decode)."""
    files = [pathlib.Path(f) for f in files]
    by_folder = collections.defaultdict(list)
    for i, f in enumerate(files):
        by_folder[f.parent].append(i)
    results = [None] * len(files)
    for folder, indices in by_folder.items():
        cached = _read_cache(folder)
        todo, stamps = [], {}
        for i in indices:
            st = files[i].stat()
            stamps[i] = [st.st_size, st.st_mtime_ns]
            hit = cached.get(files[i].name)
            if hit is not None and hit[:2] == stamps[i]:
                results[i] = tuple(hit[2:])
            else:
                todo.append(i)
        if not todo:
            continue
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            headers = list(pool.map(_probe_header, [files[i] for i in todo]))
        readable = [(i, fmt) for i, (_, _, fmt, problem) in zip(todo, headers, strict=True) if problem is None]
        decoded = {}
        for start in range(0, len(readable), DECODE_BATCH):
            batch = readable[start : start + DECODE_BATCH]
            problems = _decode_problems([(files[i], fmt) for i, fmt in batch])
            decoded.update({i: problem for (i, _), problem in zip(batch, problems, strict=True)})
        for i, (w, h, _, problem) in zip(todo, headers, strict=True):
            results[i] = (w, h, problem if problem is not None else decoded[i])
            cached[files[i].name] = stamps[i] + list(results[i])
        _write_cache(folder, cached)
    return results


def bad_files_message(bad, total, where, fix=SKIP_HINT):
    """One line for the unusable files ``bad`` ([(path, problem)]) out of ``total`` in ``where``:
    the first :data:`NAMED_BAD_FILES` named with their problem, the rest counted, then ``fix``."""
    if len(bad) == 1:
        path, problem = bad[0]
        return f"{path}: {problem}. Remove or replace it, {fix}."
    named = "; ".join(f"{path.name}: {problem}" for path, problem in bad[:NAMED_BAD_FILES])
    more = f"; and {len(bad) - NAMED_BAD_FILES} more" if len(bad) > NAMED_BAD_FILES else ""
    return f"{len(bad)} of {total} image files in {where} are unusable: {named}{more}. Remove or replace them, {fix}."


def scan_images(files, *, paired=False, min_size=None, skip_bad=False, fix_hint=""):
    """Check image files (header, end marker, full decode; cached); return the usable files and
    their (width, height).

    files: image paths. paired: images hold A|B side by side, so the width must be even and each
    half is what `min_size` is compared with. min_size: smallest usable height and (half) width,
    or None. skip_bad: drop unusable files and warn with counts, instead of raising DataError
    naming them all. fix_hint: the loader options that fix a too-small image, for the message.
    """
    files = [pathlib.Path(f) for f in files]
    probes = probe_files(files)
    good, sizes, bad = [], [], []
    skipped = collections.defaultdict(list)
    for path, (w, h, problem) in zip(files, probes, strict=True):
        reason = None
        if problem is not None:
            reason = "unreadable"
        elif paired and w % 2:
            reason, problem = (
                "odd width",
                f"width {w} is odd, so the image cannot be split into equal A|B halves "
                "(pix2pix images hold A and B side by side, e.g. 512x256); fix the image",
            )
        elif min_size is not None and min((w // 2 if paired else w), h) < min_size:
            reason = "smaller than the crop"
            what = f"{w}x{h} (each half {w // 2}x{h})" if paired else f"{w}x{h}"
            problem = (
                f"image is {what}, smaller than the {min_size}x{min_size} crop; "
                f"fix: {fix_hint or 'resize it first or use a smaller image_size'}"
            )
        if reason is None:
            good.append(path)
            sizes.append((w, h))
        else:
            skipped[reason].append(path.name)
            bad.append((path, problem))
    if bad and not skip_bad:
        raise DataError(bad_files_message(bad, len(files), files[0].parent))
    if skipped:
        detail = "; ".join(
            f"{len(v)} {reason} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})" for reason, v in skipped.items()
        )
        warnings.warn(
            f"skipping bad images: skipped {len(bad)} of {len(files)} files in {files[0].parent}: {detail}",
            stacklevel=3,
        )
    if not good:
        raise DataError(f"{files[0].parent}: none of the {len(files)} image files is usable (see the warning above).")
    return good, sizes
