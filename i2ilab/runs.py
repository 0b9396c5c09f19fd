"""The run folder: checkpoint names, ``latest.json``, ``config.json``, listing, resume checks.

A training run writes into one folder (``i2ilab train --out``)::

    config.json            the finished run: architecture, networks, versions (``export``)
    <network>.keras        every trained network (``export``)
    checkpoints/           complete training states, ``ckpt-epoch0003.npz`` = after 3 epochs,
      latest.json          and the pointer to the newest one (``write_latest`` / ``find_latest``)
    .lock                  while a run writes here: its pid and host (``run_lock``)

Epoch numbers in names count completed epochs from 1, as the Keras progress bar shows them, so
``ckpt-epoch0003`` is the state to continue with ``fit(initial_epoch=3)``. Every file here is
written with :func:`atomic_write`: a crash never leaves a half-written file under a real name.
A resume (:func:`check_resume`) refuses options that would make it differ from an unbroken run
and falls back from an unreadable newest checkpoint to the newest readable one
(:func:`find_resumable`). This module knows nothing about trainers or models;
:mod:`i2ilab.inference` opens saved runs.
"""

import contextlib
import datetime
import json
import os
import pathlib
import re
import socket
import sys
import tempfile
import zipfile

import keras
import numpy as np

import i2ilab
from i2ilab.backend import BACKEND
from i2ilab.errors import UsageError

#: Name of the JSON pointer to the newest checkpoint inside a checkpoint folder.
LATEST = "latest.json"
#: Name of the description of a finished run's exported networks.
CONFIG = "config.json"
#: Checkpoint files are ``ckpt-epoch0003.npz`` (state after 3 completed epochs).
CHECKPOINT_SUFFIX = ".npz"
#: The lock file of a run folder that a run is writing to.
LOCK = ".lock"
#: Suffix a damaged checkpoint is kept under when a resume goes on from an older one.
DAMAGED_SUFFIX = ".damaged"
#: Options besides the architecture that an exact resume needs unchanged (stored with every
#: checkpoint's config by ``i2ilab train``): the data, its order and crops, the seeds.
RUN_OPTIONS = ("data", "seed", "batch_size", "load_size", "direction", "n_train")
_CKPT_RE = re.compile(r"^ckpt-epoch(\d+)" + re.escape(CHECKPOINT_SUFFIX) + "$")


def atomic_write(path, write):
    """Create ``path`` through ``write(binary file)`` on a temporary name, then rename it.

    The temporary file lives in the same folder (``.tmp-<name>...``, never matched by the
    checkpoint listing), so the rename is atomic; the parent folder is created if needed.
    Returns ``path`` as a ``pathlib.Path``.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_json(path, data):
    """``data`` as indented JSON at ``path``, atomically."""
    return atomic_write(path, lambda f: f.write(json.dumps(data, indent=1).encode()))


def checkpoint_path(out_dir, epoch):
    """Path of the checkpoint after ``epoch`` completed epochs (counting from 1)."""
    return pathlib.Path(out_dir) / f"ckpt-epoch{int(epoch):04d}{CHECKPOINT_SUFFIX}"


def list_checkpoints(out_dir):
    """[(completed epochs, path)] of the checkpoint files in ``out_dir``, oldest first."""
    out_dir = pathlib.Path(out_dir)
    if not out_dir.is_dir():
        return []
    found = []
    for p in out_dir.iterdir():
        m = _CKPT_RE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def write_latest(out_dir, path, epoch, config, history, lr):
    """Point ``out_dir/latest.json`` at the checkpoint ``path`` written after ``epoch`` epochs.

    Stored: ``{"epoch", "path" (file name), "config", "history" {"epoch": [...], loss: [...]},
    "lr" {optimizer: rate}, "backend", "time"}``.
    """
    info = {
        "epoch": int(epoch),
        "path": pathlib.Path(path).name,
        "config": config,
        "history": history,
        "lr": lr,
        "backend": BACKEND,
        "time": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    write_json(pathlib.Path(out_dir) / LATEST, info)
    return info


def prune(out_dir, keep, protect):
    """Delete all but the newest ``keep`` checkpoint files of ``out_dir`` (never ``protect``)."""
    for _, path in list_checkpoints(out_dir)[:-keep]:
        if path != protect:
            path.unlink()


def find_latest(out_dir):
    """The newest checkpoint of ``out_dir`` as a dict (``latest.json`` plus ``"file"``), or None.

    Falls back to the checkpoint file with the highest epoch when ``latest.json`` is missing or
    points at a deleted file (its history and config are then empty).
    """
    out_dir = pathlib.Path(out_dir)
    pointer = out_dir / LATEST
    info = {"config": {}, "history": {}}
    if pointer.is_file():
        try:
            info = json.loads(pointer.read_text())
        except json.JSONDecodeError as err:
            raise UsageError(
                f"{pointer} is not valid JSON ({err}); delete it to resume from the newest ckpt-epoch file."
            ) from err
        file = out_dir / info.get("path", "")
        if info.get("path") and file.is_file():
            info["file"] = file
            return info
    # The pointer's file was deleted: the newest file that is left, with the run's config and its
    # history (Checkpoint keeps only the entries before the epoch a resumed fit starts at).
    found = [(e, f) for e, f in list_checkpoints(out_dir) if e <= info.get("epoch", e)] or list_checkpoints(out_dir)
    if not found:
        return None
    epoch, file = found[-1]
    return {**info, "epoch": epoch, "path": file.name, "file": file}


def checkpoint_problem(path):
    """Why the checkpoint file ``path`` cannot be loaded (zero bytes, a truncated or damaged
    ``.npz``), or None when its archive is complete (every member's CRC is checked)."""
    path = pathlib.Path(path)
    try:
        if path.stat().st_size == 0:
            return "the file is empty (zero bytes)"
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except zipfile.BadZipFile as err:
        return f"not a complete .npz archive ({err}; truncated?)"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    return None if bad is None else f"member {bad} is damaged (CRC error)"


def find_resumable(out_dir):
    """Like :func:`find_latest`, but the newest checkpoint whose file is readable
    (:func:`checkpoint_problem`); ``"skipped"`` lists the newer ``(path, problem)`` passed over.

    Returns None when there is no checkpoint; raises UsageError when none is readable.
    """
    info = find_latest(out_dir)
    if info is None:
        return None
    skipped = []
    for epoch, path in reversed(list_checkpoints(out_dir)):
        if epoch > info["epoch"]:
            continue
        problem = checkpoint_problem(path)
        if problem is None:
            return {**info, "epoch": epoch, "path": path.name, "file": path, "skipped": skipped}
        skipped.append((path, problem))
    detail = "; ".join(f"{p.name}: {problem}" for p, problem in skipped)
    raise UsageError(
        f"{out_dir}: no readable checkpoint ({detail}); the files are kept. Start again in a new --out folder."
    )


def set_aside(path):
    """Rename a damaged checkpoint to ``<name>.damaged`` (kept, no longer listed); the new path."""
    path = pathlib.Path(path)
    target = path.with_name(path.name + DAMAGED_SUFFIX)
    os.replace(path, target)
    return target


def _same(key, saved, now):
    """Equal option values; ``data`` folders compare by their resolved path."""
    if key == "data" and isinstance(saved, str) and isinstance(now, str):

        def where(spec):
            return (
                spec
                if spec == "synthetic" or spec.startswith("tfds:")
                else str(pathlib.Path(spec).expanduser().resolve())
            )

        return where(saved) == where(now)
    return saved == now


def compare_config(info, expect_config, out_dir, flags=False):
    """Raise UsageError naming the keys of ``expect_config`` that differ from ``info["config"]``
    (a :func:`find_latest` dict of the checkpoint folder ``out_dir``); keys the checkpoint does
    not hold are not compared. flags: name them as command-line flags (``--batch-size``)."""
    saved = info.get("config") or {}
    diff = {k: (saved[k], v) for k, v in (expect_config or {}).items() if k in saved and not _same(k, saved[k], v)}
    if diff:
        name = (lambda k: "--" + k.replace("_", "-")) if flags else str
        detail = ", ".join(f"{name(k)}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise UsageError(
            f"The checkpoint in {out_dir} was trained with a different configuration "
            f"({detail}). Use the same options, or a new --out folder."
        )


def check_config(out_dir, expect_config):
    """Raise UsageError naming the keys of ``expect_config`` that differ from the ``config``
    saved with the newest checkpoint of ``out_dir`` (nothing to compare: no error). Lets a
    program refuse a mismatched resume before it builds anything."""
    info = find_latest(out_dir)
    if info is not None:
        compare_config(info, expect_config, out_dir)


def check_resume(out_dir, config, lr=None, epochs=None):
    """The checks of ``i2ilab train --resume`` before anything is built.

    config: the architecture and :data:`RUN_OPTIONS` of this run (and ``precision``, only
    noted when it differs); every key the checkpoint also holds must be equal, else UsageError
    naming each differing option as a flag with both values. lr: an explicit ``--lr`` (None: the
    checkpoint's). epochs: the run's total epochs, refused when below the checkpoint's.

    Returns ``(info, lr, notes)``: the :func:`find_resumable` dict (None: nothing to resume),
    the learning rate to compile with (None: the trainer's default) and notes to print.
    """
    latest = find_latest(out_dir)
    if latest is None:
        return None, lr, []
    compare_config(latest, {k: v for k, v in config.items() if k not in ("lr", "precision")}, out_dir, flags=True)
    info = find_resumable(out_dir)
    saved_lr, notes = info["config"].get("lr"), []
    saved, precision = info["config"].get("precision", "float32"), config.get("precision", "float32")
    if saved != precision:
        notes.append(
            f"the checkpoint was trained in {saved}, this run computes in {precision} "
            "(the weights are float32 either way; the results differ by rounding)."
        )
    if lr is None:
        lr = saved_lr
    elif saved_lr is None or float(str(np.float32(lr))) != saved_lr:
        was = (
            f"the checkpoint's learning rate {saved_lr:g}" if saved_lr is not None else "the checkpoint's learning rate"
        )
        notes.append(
            f"--lr {lr:g} replaces {was} from epoch {info['epoch'] + 1} on "
            "(the run then differs from an unbroken one from there)."
        )
    if epochs is not None and info["epoch"] > epochs:
        raise UsageError(
            f"--epochs: {out_dir} is already trained for {info['epoch']} epochs, more than the {epochs} asked "
            f"(--epochs + --epochs-decay); pass at least {info['epoch']} to continue it, or use a new --out folder."
        )
    return info, lr, notes


@contextlib.contextmanager
def output_folder(path, flag="--out"):
    """Create the folder ``path`` (and missing parents) and check a file can be written in it;
    yields it as a Path. UsageError naming ``flag`` when it is a file, a device or not writable.
    When the block raises, the folders created here are removed again if still empty."""
    path = pathlib.Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file, not a folder; pass a folder (created if missing).")
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        _remove_empty(created)
        raise UsageError(
            f"{flag} {path}: cannot write there ({err.strerror or err}); choose a folder you can write to."
        ) from None
    try:
        yield path
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(folders):
    """Remove the folders (deepest first) that are empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _lock_holder(path):
    try:
        holder = json.loads(path.read_text())
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError):
        return {}


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


@contextlib.contextmanager
def run_lock(folder, flag="--out"):
    """Hold ``folder/.lock`` (created exclusively, with this process's pid and host) while inside.

    A second run into the same folder gets UsageError naming it. A lock left by a process of
    this host that no longer runs is taken over, with a note on stderr.
    """
    path = pathlib.Path(folder) / LOCK
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "time": datetime.datetime.now().isoformat("T", "seconds")}
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            break
        except FileExistsError:
            holder = _lock_holder(path)
            pid, host = holder.get("pid"), holder.get("host")
            if pid is None or host != mine["host"] or _alive(pid):
                who = f"pid {pid} on {host}, since {holder.get('time')}" if pid is not None else f"unreadable {path}"
                raise UsageError(
                    f"{flag} {folder} is in use by another run ({who}); wait for it to finish or choose "
                    f"another {flag}. If no run uses it, delete {path}."
                ) from None
            print(f"i2ilab: note: taking over {path} left by pid {pid}, which no longer runs.", file=sys.stderr)
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
    with os.fdopen(fd, "w") as f:
        json.dump(mine, f)
    try:
        yield path
    finally:
        if _lock_holder(path).get("pid") == mine["pid"]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def checkpoint_folder(folder):
    """The checkpoint folder of a run: ``folder`` itself if it holds checkpoints, else
    ``folder/checkpoints``."""
    folder = pathlib.Path(folder)
    return folder if find_latest(folder) is not None else folder / "checkpoints"


def export(out, networks, config):
    """Save every network as ``out/<name>.keras`` and describe them in ``out/config.json``.

    ``config`` (architecture, data, seed, ...) is stored with ``"networks"`` {name: file name},
    the backend and the Keras and i2ilab versions added; the stored dict is returned.
    """
    out = pathlib.Path(out)
    files = {}
    for name, net in networks.items():
        net.save(out / f"{name}.keras")
        files[name] = f"{name}.keras"
    stored = {
        **config,
        "networks": files,
        "backend": BACKEND,
        "keras_version": keras.__version__,
        "i2ilab_version": i2ilab.__version__,
    }
    write_json(out / CONFIG, stored)
    return stored


def read_config(folder):
    """The ``config.json`` of a finished run folder as a dict, or None when there is none."""
    path = pathlib.Path(folder) / CONFIG
    return json.loads(path.read_text()) if path.is_file() else None
