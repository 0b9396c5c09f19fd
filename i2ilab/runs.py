"""The run folder: checkpoint names, ``latest.json``, ``config.json``, listing, resume checks.

A training run writes into one folder (``i2ilab train --out``)::

    config.json            the finished run: architecture, networks, versions (``export``)
    <network>.keras        every trained network (``export``)
    checkpoints/           complete training states, ``ckpt-epoch0003.npz`` = after 3 epochs,
      latest.json          and the pointer to the newest one (``write_latest`` / ``find_latest``)

Epoch numbers in names count completed epochs from 1, as the Keras progress bar shows them, so
``ckpt-epoch0003`` is the state to continue with ``fit(initial_epoch=3)``. Every file here is
written with :func:`atomic_write`: a crash never leaves a half-written file under a real name.
This module knows nothing about trainers or models; :mod:`i2ilab.inference` opens saved runs.
"""

import datetime
import json
import os
import pathlib
import re
import tempfile

import keras

import i2ilab
from i2ilab.backend import BACKEND
from i2ilab.errors import UsageError

#: Name of the JSON pointer to the newest checkpoint inside a checkpoint folder.
LATEST = "latest.json"
#: Name of the description of a finished run's exported networks.
CONFIG = "config.json"
#: Checkpoint files are ``ckpt-epoch0003.npz`` (state after 3 completed epochs).
CHECKPOINT_SUFFIX = ".npz"
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
    found = list_checkpoints(out_dir)
    if not found:
        return None
    epoch, file = found[-1]
    return {"epoch": epoch, "path": file.name, "file": file, "config": {}, "history": {}}


def compare_config(info, expect_config, out_dir):
    """Raise UsageError naming the keys of ``expect_config`` that differ from ``info["config"]``
    (a :func:`find_latest` dict of the checkpoint folder ``out_dir``)."""
    saved = info.get("config") or {}
    diff = {k: (saved[k], v) for k, v in (expect_config or {}).items() if k in saved and saved[k] != v}
    if diff:
        detail = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
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
