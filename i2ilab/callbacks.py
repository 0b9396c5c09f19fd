"""Training callbacks for the i2ilab trainers: LR decay, sample grids, checkpoints, NaN stop.

Every callback works with ``model.fit`` on TensorFlow and JAX. The trainer interface they use:
``g_optimizer`` / ``d_optimizer`` (d may be None), ``sample_columns(x, y)``,
``save_checkpoint(path)`` / ``load_checkpoint(path)``. Epoch numbers in file names and messages
count completed epochs from 1, as the Keras progress bar shows them; ``fit``'s ``epoch``
arguments are 0-based, so ``ckpt-epoch0003`` is the state after epoch index 2 and training
resumes with ``fit(initial_epoch=3)``.

Checkpoint files, ``latest.json`` and the resume checks live in :mod:`i2ilab.runs` (their
names are re-exported here). Typical use (``i2ilab train`` wires exactly this)::

    start = resume(trainer, out_dir)          # 0 for a fresh run
    trainer.fit(ds, epochs=n + n_decay, initial_epoch=start, callbacks=[
        LinearDecay(n, n_decay), NaNStop(), Checkpoint(out_dir),
        SampleGrid(batch, out_dir=out_dir / "samples"), CSVLog(out_dir / "log.csv")])
"""

import csv
import math
import pathlib
import weakref

import keras
import numpy as np

from i2ilab import backend, runs, viz
from i2ilab.runs import CHECKPOINT_SUFFIX, LATEST, check_config, checkpoint_path, find_latest, list_checkpoints

__all__ = [
    "CHECKPOINT_SUFFIX",
    "LATEST",
    "CSVLog",
    "Checkpoint",
    "LinearDecay",
    "NaNStop",
    "SampleGrid",
    "base_learning_rate",
    "check_config",
    "checkpoint_path",
    "exploded_losses",
    "find_latest",
    "linear_decay_factor",
    "list_checkpoints",
    "resume",
]

# model -> (loss name, value, epoch, batch) of the first non-finite loss of the current fit;
# written by NaNStop, read by Checkpoint and SampleGrid so neither stores or shows a NaN state.
_NONFINITE = weakref.WeakKeyDictionary()
# optimizer -> its base learning rate, recorded before a checkpoint overwrites the variable.
_BASE_LR = weakref.WeakKeyDictionary()


def _optimizers(model):
    """The trainer's (name, optimizer) pairs: g_optimizer and d_optimizer, or model.optimizer."""
    g = getattr(model, "g_optimizer", None)
    if g is None:
        g = getattr(model, "optimizer", None)
        if g is None:
            raise ValueError("The model has no g_optimizer or optimizer: compile it before fit.")
        return [("g_optimizer", g)]
    pairs = [("g_optimizer", g)]
    d = getattr(model, "d_optimizer", None)
    if d is not None:
        pairs.append(("d_optimizer", d))
    return pairs


def _float(value):
    """A scalar log value (Python, NumPy or backend tensor) -> float, or None if not scalar."""
    try:
        arr = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return float(arr) if arr.size == 1 else None


def _first_nonfinite(logs):
    for key, value in (logs or {}).items():
        v = _float(value)
        if v is not None and not math.isfinite(v):
            return key, v
    return None


def linear_decay_factor(epoch, n_epochs, n_epochs_decay):
    """LR multiplier of the reference's 'linear' policy for the 0-based epoch index ``epoch``.

    junyanz/pytorch-CycleGAN-and-pix2pix: ``1 - max(0, e + epoch_count - n_epochs) /
    (n_epochs_decay + 1)`` in a LambdaLR stepped once at the start of every epoch (older
    versions: ``e + 1 + epoch_count`` stepped at the end), so the epoch numbered E from 1 trains
    with ``1 - max(0, E + 1 - n_epochs) / (n_epochs_decay + 1)``, independent of where a run
    was resumed. With Keras' 0-based index e = E - 1 that is
    ``1 - max(0, e + 2 - n_epochs) / (n_epochs_decay + 1)``: n_epochs - 1 epochs at the full
    rate, then n_epochs_decay + 1 epochs falling linearly, the last of the n_epochs +
    n_epochs_decay epochs at exactly 0. We keep this off-by-one of the reference so schedules
    match it epoch for epoch. Clipped to [0, 1].
    """
    if n_epochs < 1 or n_epochs_decay < 0:
        raise ValueError(f"n_epochs={n_epochs} must be >= 1 and n_epochs_decay={n_epochs_decay} >= 0.")
    factor = 1.0 - max(0, epoch + 2 - n_epochs) / float(n_epochs_decay + 1)
    return min(1.0, max(0.0, factor))


class LinearDecay(keras.callbacks.Callback):
    """Per-epoch linear learning-rate decay of both optimizers, as the pix2pix/CycleGAN reference.

    At the start of every epoch sets ``g_optimizer`` and ``d_optimizer`` (if any; plain Keras
    models: ``optimizer``) to ``base_lr * linear_decay_factor(epoch, n_epochs, n_epochs_decay)``
    and logs the generator's rate as ``lr``. Keras LearningRateSchedules count optimizer steps;
    the reference decays per epoch, which is what this does. The rate depends only on the epoch
    index, so it is right after ``fit(initial_epoch=k)``.

    Args:
        n_epochs: epochs at the initial rate (the reference's ``--n_epochs``, 100).
        n_epochs_decay: epochs of linear decay (``--n_epochs_decay``, 100); train for
            n_epochs + n_epochs_decay epochs in all.
        base_lr: the initial rate; a float for both optimizers, a dict {"g_optimizer": ...,
            "d_optimizer": ...}, or None to take each optimizer's rate at its first fit.
            ``resume()`` records the base rates before loading a checkpoint, so resumed runs
            need no base_lr either.
    """

    def __init__(self, n_epochs, n_epochs_decay, base_lr=None):
        super().__init__()
        linear_decay_factor(0, n_epochs, n_epochs_decay)  # validates the arguments
        self.n_epochs = int(n_epochs)
        self.n_epochs_decay = int(n_epochs_decay)
        self.base_lr = base_lr
        self._first_epoch = True

    def _base(self, name, opt, epoch):
        if isinstance(self.base_lr, dict):
            if name in self.base_lr:
                return float(self.base_lr[name])
        elif self.base_lr is not None:
            return float(self.base_lr)
        if opt in _BASE_LR:
            return _BASE_LR[opt]
        if epoch > 0 and linear_decay_factor(epoch - 1, self.n_epochs, self.n_epochs_decay) < 1:
            raise ValueError(
                f"LinearDecay: training starts at epoch index {epoch}, inside the decay phase, "
                f"and the base learning rate of {name} is unknown (its current rate may already "
                "be decayed). Restore with i2ilab.callbacks.resume(trainer, out_dir), which "
                "records it, or pass LinearDecay(..., base_lr=...)."
            )
        lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
        _BASE_LR[opt] = lr
        return lr

    def on_train_begin(self, logs=None):
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        factor = linear_decay_factor(epoch, self.n_epochs, self.n_epochs_decay)
        for name, opt in _optimizers(self.model):
            base = self._base(name, opt, epoch if self._first_epoch else 0)
            if backend.has_schedule(opt):
                raise TypeError(
                    f"LinearDecay sets {name}.learning_rate per epoch; compile the trainer with a "
                    "float learning rate, not a LearningRateSchedule."
                )
            opt.learning_rate = base * factor
        self._first_epoch = False

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            opt = _optimizers(self.model)[0][1]
            logs["lr"] = float(keras.ops.convert_to_numpy(opt.learning_rate))


class NaNStop(keras.callbacks.Callback):
    """Stop training at the first NaN/inf in a logged loss, naming the loss, epoch and batch.

    Checked after every batch (and on the epoch logs). Sets ``model.stop_training`` and marks
    the fit as non-finite, so ``Checkpoint`` does not save the broken state (the last good
    checkpoint stays the newest) and ``SampleGrid`` skips it. The message is printed and kept
    in ``self.message`` (``report=False``: only kept, for a caller that reports it itself);
    ``self.stopped`` is (loss, value, epoch index, batch index) or None.
    """

    def __init__(self, report=True):
        super().__init__()
        self.report = report
        self.stopped = None
        self.message = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self.stopped = None
        self.message = None
        _NONFINITE.pop(self.model, None)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def _check(self, logs, batch):
        if self.stopped is not None:
            return
        bad = _first_nonfinite(logs)
        if bad is None:
            return
        key, value = bad
        total = self.params.get("epochs") if self.params else None
        where = f"epoch {self._epoch + 1}" + (f"/{total}" if total else "")
        if batch is not None:
            where += f", batch {batch + 1}"
        self.stopped = (key, value, self._epoch, batch)
        self.message = (
            f"NaNStop: loss '{key}' became {value} at {where}; training stopped. The last good "
            "checkpoint (if any) is kept. Usual fixes: a lower learning rate, inputs in [-1, 1], "
            "a different gan_mode or seed."
        )
        _NONFINITE[self.model] = self.stopped
        self.model.stop_training = True
        if self.report:
            print(self.message, flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, None)


def _stopped_nonfinite(model, logs):
    return model in _NONFINITE or _first_nonfinite(logs) is not None


def _scalar_logs(logs):
    out = {}
    for key, value in (logs or {}).items():
        v = _float(value)
        if v is not None:
            out[key] = v
    return out


class Checkpoint(keras.callbacks.Callback):
    """Save the complete training state every ``every`` epochs, atomically, keeping the last K.

    At the end of an epoch (and always after the last one) calls
    ``trainer.save_checkpoint(out_dir/ckpt-epochNNNN.npz)`` (NNNN = completed epochs; the trainer
    writes atomically, so a crash never leaves a half-written checkpoint under a real name).
    Then rewrites ``latest.json`` (:func:`i2ilab.runs.write_latest`; ``"epoch"`` = completed
    epochs = the initial_epoch to resume with) and deletes all but the newest ``keep``
    checkpoint files. An epoch whose logs hold a
    NaN/inf, or that ``NaNStop`` interrupted, is not saved.

    The history continues across resumes: entries of ``latest.json`` older than the epoch this
    fit starts at are kept, later ones (from a run resumed at an earlier point) are dropped.
    """

    def __init__(self, out_dir, every=1, keep=3, config=None):
        super().__init__()
        if every < 1 or keep < 1:
            raise ValueError(f"Checkpoint: every={every} and keep={keep} must be >= 1.")
        self.out_dir = pathlib.Path(out_dir)
        self.every = int(every)
        self.keep = int(keep)
        self.config = dict(config or {})
        self.history = {}
        self.last_saved = None
        self._start = None

    def on_train_begin(self, logs=None):
        self.out_dir.mkdir(parents=True, exist_ok=True)
        info = find_latest(self.out_dir)
        self.history = {k: list(v) for k, v in (info or {}).get("history", {}).items()}
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._start is None:
            self._start = epoch
            keep = [i for i, e in enumerate(self.history.get("epoch", [])) if e < epoch]
            self.history = {k: [v[i] for i in keep] for k, v in self.history.items()}

    def _record(self, epoch, logs):
        scalars = _scalar_logs(logs)
        n = len(self.history.get("epoch", []))
        for key in set(self.history) | set(scalars) | {"epoch"}:
            series = self.history.setdefault(key, [math.nan] * n)
            series.append(float(epoch) if key == "epoch" else scalars.get(key, math.nan))

    def on_epoch_end(self, epoch, logs=None):
        if _stopped_nonfinite(self.model, logs):
            print(
                f"Checkpoint: epoch {epoch + 1} ended with a non-finite loss; not saved "
                f"(newest checkpoint: {self.last_saved or (find_latest(self.out_dir) or {}).get('file')})",
                flush=True,
            )
            return
        self._record(epoch, logs)
        total = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and epoch + 1 != total:
            return
        self.save(epoch + 1)

    def save(self, completed_epochs):
        """Write ``ckpt-epoch<completed_epochs>`` and point ``latest.json`` at it."""
        final = checkpoint_path(self.out_dir, completed_epochs)
        self.model.save_checkpoint(str(final))
        if not final.exists():
            raise FileNotFoundError(
                f"Checkpoint: trainer.save_checkpoint({final}) did not create that file; it must "
                "write exactly the path it is given."
            )
        lrs = {name: float(keras.ops.convert_to_numpy(opt.learning_rate)) for name, opt in _optimizers(self.model)}
        runs.write_latest(self.out_dir, final, completed_epochs, self.config, self.history, lrs)
        self.last_saved = final
        runs.prune(self.out_dir, self.keep, protect=final)
        return final


def resume(trainer, out_dir, expect_config=None, info=None, lr=None):
    """Load the newest checkpoint of ``out_dir`` into ``trainer``; return the epoch to go on from.

    Pass the result as ``fit(initial_epoch=...)``: epoch numbering, the LinearDecay rate and the
    checkpoint names then continue as if training had not stopped. Returns 0 (and loads
    nothing) when there is no checkpoint. Call after ``compile``: the optimizers' current rates
    are recorded as LinearDecay's base rates before the checkpoint overwrites them. A newest
    checkpoint whose file is damaged (truncated, zero bytes) is skipped for the newest readable
    one; the damaged file is kept as ``<name>.damaged`` and a note names it.

    Args:
        expect_config: keys that must equal the checkpoint's saved ``config`` (e.g. model name,
            image size, widths); a difference raises ValueError naming them.
        info: the :func:`i2ilab.runs.find_resumable` dict when the caller has it already.
        lr: a learning rate that replaces the checkpoint's for both optimizers (and as
            LinearDecay's base rate); None keeps the checkpoint's.
    """
    info = info or runs.find_resumable(out_dir)
    if info is None:
        return 0
    runs.compare_config(info, expect_config, out_dir)
    for _, opt in _optimizers(trainer):
        if opt not in _BASE_LR:
            _BASE_LR[opt] = float(keras.ops.convert_to_numpy(opt.learning_rate))
    try:
        trainer.load_checkpoint(str(info["file"]))
    except Exception as err:
        raise ValueError(
            f"Could not load checkpoint {info['file']} into this {type(trainer).__name__}: "
            f"{err}. Was it written by a trainer with the same networks and sizes?"
        ) from err
    for path, problem in info.get("skipped", []):
        kept = runs.set_aside(path)
        print(
            f"i2ilab: note: skipped {path.name} ({problem}); resuming from {info['file'].name}. "
            f"The damaged file is kept as {kept.name}.",
            flush=True,
        )
    if lr is not None:
        for _, opt in _optimizers(trainer):
            opt.learning_rate = float(lr)
            _BASE_LR[opt] = float(lr)
    return int(info["epoch"])


def base_learning_rate(trainer):
    """The generator optimizer's base rate (recorded by ``resume`` or ``LinearDecay``, else its
    current one), as the shortest decimal of its float32 value (2e-4, not 0.000199999995)."""
    opt = _optimizers(trainer)[0][1]
    rate = _BASE_LR.get(opt, float(keras.ops.convert_to_numpy(opt.learning_rate)))
    return float(str(np.float32(rate)))


#: A finite loss above this, or this factor times its first logged value, has exploded.
EXPLODED_LOSS = 1e6
EXPLODED_FACTOR = 1e4


def exploded_losses(log_path):
    """A note naming the losses of a ``CSVLog`` file that exploded while staying finite (above
    :data:`EXPLODED_LOSS`, or :data:`EXPLODED_FACTOR` times their first epoch's value), or None."""
    try:
        with open(log_path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    worst = []
    for key in rows[0] if rows else {}:
        if key in ("epoch", "lr"):
            continue
        values = [(int(float(r["epoch"])) + 1, _float(r[key])) for r in rows if r.get(key) not in (None, "")]
        values = [(e, v) for e, v in values if v is not None and math.isfinite(v)]
        if not values:
            continue
        first = abs(values[0][1])
        limit = min(EXPLODED_LOSS, EXPLODED_FACTOR * max(first, 1e-2))
        epoch, peak = max(values, key=lambda ev: abs(ev[1]))
        if abs(peak) > limit:
            worst.append(f"{key} reached {peak:.3g} at epoch {epoch} (epoch {values[0][0]}: {values[0][1]:.3g})")
    if not worst:
        return None
    return (
        f"the losses exploded: {'; '.join(worst)}. The networks are probably useless; "
        "train again with a lower --lr (the references use 2e-4, MUNIT 1e-4)."
    )


class SampleGrid(keras.callbacks.Callback):
    """Every ``every`` epochs (and after the last), draw ``trainer.sample_columns(x, y)``.

    Writes ``out_dir/epoch_NNNN.png`` (NNNN = completed epochs) when ``out_dir`` is given and
    shows the grid inline when running in Jupyter and ``show`` is true. ``data`` is one batch
    (x, y) of arrays or a dataset / iterable of such pairs (its first batch is used, the same
    every time, so the grids show progress on fixed examples). The newest grid (uint8 array) is
    ``self.last_grid``.
    """

    def __init__(self, data, out_dir=None, every=1, show=True, max_rows=4):
        super().__init__()
        if every < 1:
            raise ValueError(f"SampleGrid: every={every} must be >= 1.")
        if isinstance(data, (tuple, list)) and len(data) == 2:
            x, y = data
        else:
            try:
                x, y = next(iter(data))
            except (TypeError, ValueError) as err:
                raise ValueError("SampleGrid data must be a batch (x, y) or a dataset of (x, y) batches.") from err
        self.x = keras.tree.map_structure(keras.ops.convert_to_numpy, x)  # x may be a tuple (pix2pixHD)
        self.y = keras.ops.convert_to_numpy(y)
        self.out_dir = None if out_dir is None else pathlib.Path(out_dir)
        self.every = int(every)
        self.show = show
        self.max_rows = max_rows
        self.last_grid = None
        self.last_path = None

    def on_epoch_end(self, epoch, logs=None):
        if _stopped_nonfinite(self.model, logs):
            return
        total = self.params.get("epochs") if self.params else None
        if (epoch + 1) % self.every and epoch + 1 != total:
            return
        backend.sync_state(self.model)
        columns = self.model.sample_columns(self.x, self.y)
        self.last_grid = viz.image_grid(columns, max_rows=self.max_rows)
        if self.out_dir is not None:
            self.last_path = viz.save_image(self.out_dir / f"epoch_{epoch + 1:04d}.png", self.last_grid)
        if self.show:
            viz.show(self.last_grid)


class CSVLog(keras.callbacks.Callback):
    """Per-epoch CSV of the logs: ``epoch`` (0-based, as keras.callbacks.CSVLogger) then every
    scalar of the epoch logs in the order Keras passes them (``lr`` too if LinearDecay runs
    before this callback).

    Unlike CSVLogger it has no empty ``val_*`` columns and it continues across resumes: at the
    first epoch of a fit, rows of that epoch and later (left by a run resumed earlier) are
    dropped and the rest kept, so the file always describes one unbroken run.
    ``i2ilab.viz.plot_losses(path)`` draws it.
    """

    def __init__(self, path):
        super().__init__()
        self.path = pathlib.Path(path)
        self.keys = None
        self._started = False

    def on_train_begin(self, logs=None):
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._started:
            return
        self._started = True
        self.keys = None
        rows = []
        if self.path.is_file() and epoch > 0:
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.keys = [k for k in (reader.fieldnames or []) if k != "epoch"] or None
                rows = [r for r in reader if r.get("epoch") and int(float(r["epoch"])) < epoch]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as f:
            if self.keys is not None:
                writer = csv.DictWriter(f, ["epoch"] + self.keys)
                writer.writeheader()
                writer.writerows(rows)

    def on_epoch_end(self, epoch, logs=None):
        scalars = _scalar_logs(logs)
        if self.keys is None:
            self.keys = list(scalars)
            with open(self.path, "w", newline="") as f:
                csv.DictWriter(f, ["epoch"] + self.keys).writeheader()
        row = {"epoch": epoch, **{k: scalars.get(k, "") for k in self.keys}}
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, ["epoch"] + self.keys, extrasaction="ignore").writerow(row)
