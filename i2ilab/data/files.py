"""Finding image files and checking them before a tf.data pipeline is built.

A tf.data pipeline fails deep inside the runtime with an error that names no file. So every
loader first scans the headers of its files with PIL (size, format, mode: no pixel decoding) and
checks the end-of-image marker of JPEG and PNG files (a truncated download is the usual corruption).
Problems are reported with the file name, what was wrong and how to fix it; `skip_bad=True` drops
unusable files instead and warns once with a count per reason.
"""

import collections
import concurrent.futures
import os
import pathlib
import warnings

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_TAIL_BYTES = 4096


class DataError(ValueError):
    """Bad dataset input: the message names the file or folder, what was wrong and what to do."""


class SplitNotFoundError(DataError, FileNotFoundError):
    """A dataset split folder does not exist (catch it as DataError or as FileNotFoundError)."""


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


def _probe(path):
    """(width, height, problem or None) from the header of one file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, size, mode = im.format, im.size, im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        return None, None, f"not a readable image ({type(e).__name__}: {e})"
    if fmt not in ("JPEG", "PNG", "BMP"):
        return size[0], size[1], f"format {fmt} is not supported (use JPEG, PNG or BMP)"
    if mode == "CMYK":
        return size[0], size[1], "CMYK JPEG is not supported (convert it to RGB)"
    if not _check_tail(path, fmt):
        return size[0], size[1], f"truncated {fmt} file (no end marker; an interrupted copy or download?)"
    return size[0], size[1], None


def scan_images(files, *, paired=False, min_size=None, skip_bad=False, fix_hint=""):
    """Check image files by their headers; return the usable files and their (width, height).

    files: image paths. paired: images hold A|B side by side, so the width must be even and each
    half is what `min_size` is compared with. min_size: smallest usable height and (half) width,
    or None. skip_bad: drop unusable files and warn with counts, instead of raising DataError
    on the first one. fix_hint: the loader options that fix a too-small image, for the message.
    """
    files = [pathlib.Path(f) for f in files]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        probes = list(pool.map(_probe, files))
    good, sizes = [], []
    skipped = collections.defaultdict(list)
    for path, (w, h, problem) in zip(files, probes, strict=True):
        reason = None
        if problem is not None:
            reason, message = (
                "unreadable",
                f"{path}: {problem}. Remove or replace it, or pass skip_bad=True to skip such files.",
            )
        elif paired and w % 2:
            reason = "odd width"
            message = (
                f"{path}: width {w} is odd, so the image cannot be split into equal A|B halves "
                f"(pix2pix images hold A and B side by side, e.g. 512x256). Fix the image, or pass "
                "skip_bad=True to skip such files."
            )
        elif min_size is not None and min((w // 2 if paired else w), h) < min_size:
            reason = "smaller than the crop"
            what = f"{w}x{h} (each half {w // 2}x{h})" if paired else f"{w}x{h}"
            message = (
                f"{path}: image is {what}, smaller than the {min_size}x{min_size} crop. "
                f"Fix: {fix_hint or 'resize it first or use a smaller image_size'}, "
                "or pass skip_bad=True to skip such files."
            )
        if reason is None:
            good.append(path)
            sizes.append((w, h))
        elif skip_bad:
            skipped[reason].append(path.name)
        else:
            raise DataError(message)
    if skipped:
        total = sum(len(v) for v in skipped.values())
        detail = "; ".join(
            f"{len(v)} {reason} ({', '.join(v[:3])}{', ...' if len(v) > 3 else ''})" for reason, v in skipped.items()
        )
        warnings.warn(
            f"skip_bad=True: skipped {total} of {len(files)} files in {files[0].parent}: {detail}",
            stacklevel=3,
        )
    if not good:
        raise DataError(f"{files[0].parent}: none of the {len(files)} image files is usable (see the warning above).")
    return good, sizes
