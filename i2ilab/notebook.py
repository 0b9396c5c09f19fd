"""The labs' shared set-up: the backend started quietly, and benign output that grades fairly.

Every lab's set-up cell calls :func:`start` before its first exercise::

    from i2ilab import notebook
    notebook.start(seed=SEED, mode="smoke", image_size=32)

Why (measured with nbgrader 0.9.6 and TensorFlow 2.21): nbgrader gives 0 points to a graded
cell with *any* ``stderr`` output, and the student's Validate button reports it as failed.
TensorFlow writes log lines to file descriptor 2 below Python (``failed call to cuInit`` on a
machine with a CUDA runtime and no driver, ``XLA service ... initialized``, grappler notes), at
import, at the first op and at the first compiled function; ipykernel forwards them into
whichever cell runs at that moment. Python warnings of correct code (a Keras 2 spelling, a build
notice) go to ``sys.stderr`` too. So :func:`start`

1. imports Keras, runs a first op and a first compiled function, with file descriptor 2 and
   ``sys.stderr`` captured: the start-up lines are kept in :func:`startup_log` and summed up in
   the one line it prints, instead of filling the set-up cell with red boxes;
2. then, inside a Jupyter kernel, sends later output of file descriptor 2 and ``sys.stderr`` to
   the cell's ordinary output (stdout): still visible to the student, never counted as a
   failure. Real errors are not stderr output (a failing cell has an ``error`` output), so an
   exception or a failing ``assert`` still scores 0.

A lab in full mode fetches its data inside :func:`full_mode_data`: without network (or without
the dataset) the student sees one message saying how to run the lab in smoke mode
(``I2ILAB_SMOKE=1``), not a traceback; :func:`start` says the same in full mode without a GPU.

:func:`to_numpy` turns a tensor of any backend into a NumPy array.
"""

import contextlib
import os
import sys
import tempfile
import time
import warnings

import numpy as np

import i2ilab

__all__ = [
    "start",
    "startup_log",
    "to_numpy",
    "full_mode_data",
    "FullModeUnavailable",
]  # and EpochLog, made on first use (__getattr__)

_STARTUP = {"log": "", "routed": False}

#: How to run a lab on a machine without network or GPU (the end of the full-mode messages).
SMOKE_HINT = (
    "To run this lab on this machine in a few minutes, use smoke mode (built-in synthetic data, "
    "32x32): start Jupyter with `I2ILAB_SMOKE=1 jupyter lab`, or put "
    '`os.environ["I2ILAB_SMOKE"] = "1"` at the top of the first code cell, then restart the '
    "kernel and run all cells."
)


class FullModeUnavailable(RuntimeError):
    """A lab's full mode cannot get its data. In a notebook, IPython shows the message alone
    (``_render_traceback_``): what failed, in one line, and how to run smoke mode."""

    def _render_traceback_(self):
        return [
            f"\x1b[0;31m{type(self).__name__}\x1b[0m: {line}" if i == 0 else line
            for i, line in enumerate(str(self).splitlines())
        ]


@contextlib.contextmanager
def full_mode_data():
    """Wrap a lab's full-mode download or dataset loading: a ``DownloadError`` (no network, a
    dead mirror) or ``DataError`` (tensorflow-datasets could not fetch or find the set) becomes
    :class:`FullModeUnavailable`, whose message is the error's first line and
    :data:`SMOKE_HINT`, with no chained traceback."""
    from i2ilab.data.download import DownloadError
    from i2ilab.data.files import DataError

    try:
        yield
    except (DownloadError, DataError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FullModeUnavailable(
            f"full mode could not get its data: {first}\n"
            "Full mode downloads a paper's dataset and trains at full size: it wants a GPU.\n" + SMOKE_HINT
        ) from None


def _in_jupyter_kernel():
    """True inside an IPython kernel (Jupyter, nbclient, nbgrader), where sys.stdout is ipykernel's stream."""
    return type(sys.stdout).__module__.startswith("ipykernel")


def _warm_up():
    """Import Keras and run what first writes start-up logs: one op and one compiled train step."""
    import keras
    import matplotlib.figure  # noqa: F401  (a first import may build the font cache, with a warning)

    from i2ilab import backend

    backend.hide_gpus_from_tensorflow()  # JAX: tf.data (the labs' pipelines) stays off the GPUs

    keras.ops.convert_to_numpy(keras.ops.add(keras.ops.ones((2,)), 1.0))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    model.train_on_batch(np.ones((2, 2), "float32"), np.ones((2, 1), "float32"))
    return keras


def _captured(fn):
    """Run ``fn()`` with file descriptor 2 and sys.stderr captured; return (result, captured text)."""
    sys.stderr.flush()
    saved_fd = os.dup(2)
    saved_stderr = sys.stderr
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        sys.stderr = log_stream = _TextSink()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("default")
                result = fn()
        finally:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            sys.stderr = saved_stderr
            log_stream.capturing = False
        log.seek(0)
        text = log.read().decode(errors="replace") + log_stream.text
    return result, text


class _TextSink:
    """sys.stderr during start-up: keeps what is written while ``capturing``; afterwards it
    forwards to whatever ``sys.stderr`` is then (a logging handler created during start-up, such
    as absl's, keeps this object as its stream)."""

    def __init__(self):
        self.text = ""
        self.capturing = True

    def write(self, text):
        if self.capturing:
            self.text += text
            return len(text)
        return sys.stderr.write(text)

    def flush(self):
        if not self.capturing:
            sys.stderr.flush()

    def isatty(self):
        return False

    def close(self):
        self.capturing = False


def _route_benign_output():
    """In a Jupyter kernel: file descriptor 2 and sys.stderr go to the cell's stdout from now on."""
    if _STARTUP["routed"] or not _in_jupyter_kernel():
        return
    sys.stderr.flush()
    os.dup2(1, 2)
    sys.stderr = sys.stdout
    _STARTUP["routed"] = True


def start(seed=0, mode=None, image_size=None):
    """Start the backend quietly, route benign output to stdout, seed everything, print one line.

    Args:
        seed: passed to ``keras.utils.set_random_seed`` (Python, NumPy and the backend).
        mode: ``"smoke"`` or ``"full"``, shown in the line (the lab's parameter cell decides).
        image_size: the lab's image size, shown in the line.

    Prints e.g. ``i2ilab 0.1.0, Keras 3.15.1 on tensorflow (cpu:0); smoke mode, 32x32; 5
    start-up log lines kept in notebook.startup_log()``. Safe to call again (a re-run cell).
    """
    t0 = time.perf_counter()
    keras, text = _captured(_warm_up)
    from i2ilab import backend

    _STARTUP["log"] += text
    _route_benign_output()
    warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")  # fit() on a tf.data pipeline
    keras.utils.set_random_seed(seed)
    devices = ", ".join(keras.distribution.list_devices())
    where = f"; {mode} mode" if mode else ""
    size = f", {image_size}x{image_size}" if image_size else ""
    lines = len([line for line in _STARTUP["log"].splitlines() if line.strip()])
    note = f"; {lines} start-up log lines kept in notebook.startup_log()" if lines else ""
    print(
        f"i2ilab {i2ilab.__version__}, Keras {keras.__version__} on {backend.BACKEND} "
        f"({devices}){where}{size}; ready in {time.perf_counter() - t0:.1f} s{note}"
    )
    if mode == "full" and all(d.lower().startswith("cpu") for d in keras.distribution.list_devices()):
        print(f"No GPU found: full mode would take hours here. {SMOKE_HINT}")


def startup_log():
    """The log lines the backend wrote while :func:`start` ran (str, possibly empty)."""
    return _STARTUP["log"]


def to_numpy(x):
    """Any tensor (TensorFlow, JAX, PyTorch, NumPy) or nested list -> NumPy array."""
    from keras import ops

    return np.asarray(ops.convert_to_numpy(x))


def _epoch_log_class():
    import keras

    class EpochLog(keras.callbacks.Callback):
        """One line per epoch for notebooks: ``epoch 2/4  100 steps  12.3 s  G_L1 0.123  D_real 0.51``.

        Use with ``fit(..., verbose=0, callbacks=[EpochLog()])``: no progress bar (its hundreds of
        outputs make a notebook heavy and its first-step ETA includes compilation). After
        ``fit``, ``seconds`` holds each epoch's wall time (the first includes compilation).
        """

        def on_train_begin(self, logs=None):
            self.epochs = self.params.get("epochs")
            self.steps = self.params.get("steps")
            self.seconds = []  # wall seconds of each epoch (the first includes compilation)

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._t0
            self.seconds.append(seconds)
            values = "  ".join(f"{k} {float(v):.4g}" for k, v in (logs or {}).items())
            steps = f"  {self.steps} steps" if self.steps else ""
            print(f"epoch {epoch + 1}/{self.epochs}{steps}  {seconds:.1f} s  {values}", flush=True)

    return EpochLog


def __getattr__(name):
    # EpochLog subclasses a Keras class; it is made on first use so that importing this module
    # does not import the backend before start() captures its start-up logs.
    if name == "EpochLog":
        if "EpochLog" not in _STARTUP:
            _STARTUP["EpochLog"] = _epoch_log_class()
        return _STARTUP["EpochLog"]
    raise AttributeError(f"module 'i2ilab.notebook' has no attribute {name!r}")
