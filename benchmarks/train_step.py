"""Time compiled i2ilab training steps: median s/step, steps/s and images/s per configuration.

    python -m benchmarks.train_step --model pix2pix --size 256 --batch 1 --backend tensorflow,jax \
        --steps 10 [--warmup 2] [--repeat 3] [--jit-compile auto|on|off] [--mixed-precision] \
        [--tiny | --width 64] [--flops] [--peak-tflops 989] [--stepping direct|fit]

``--model``, ``--size``, ``--batch`` and ``--backend`` take comma lists; every combination is one
configuration. Each backend runs in its own subprocess with ``KERAS_BACKEND`` set before Keras is
imported (a single backend equal to the one already loaded runs in this process).

Networks are the reference architectures at the given size (shared/REFERENCE.md section 1):
pix2pix = unet_<size> (BatchNorm, dropout) + 70x70 PatchGAN (BatchNorm, 6 channels); CycleGAN =
two resnet generators (9 blocks from 256 px, 6 below) + two PatchGANs (InstanceNorm), pool 50;
MUNIT = the edges2shoes config (two generators, dim 64, mlp 256, two 3-scale discriminators);
colorize = the U-Net L -> ab with the L2 loss. ``--tiny`` keeps the structure with width 8, two
residual blocks and a 32-wide MUNIT MLP (the CI configuration). PatchGAN depth and MUNIT scales
shrink at small sizes as in ``i2ilab train``.

Timing: inputs are fixed random tensors already in memory (no data pipeline). ``--stepping
direct`` (default) calls the trainer's ``train_step`` compiled exactly as ``fit`` compiles it
(TensorFlow: ``tf.function(reduce_retracing=True, jit_compile=...)``; JAX: ``jax.jit`` with the
state donated); ``--stepping fit`` runs ``trainer.fit`` on a repeated in-memory dataset and
times each batch from a callback. The first call (trace + compile) and ``--warmup - 1`` more
steps are not timed; then ``--repeat`` runs of ``--steps`` steps are timed one by one, each step
blocking on its result (the logs are converted to Python floats). Reported: the median over all
timed steps, the 25th/75th percentiles and the median of each repeat; steps/s = 1 / median;
images/s = batch / median (a CycleGAN/MUNIT step consumes one A and one B image per batch
element: that pair counts once). The 1-minute load average before and after each configuration
is recorded: timings taken while other processes load the machine are not valid. The median CPU
time of this process per step (all its threads) is reported too: it is much less inflated by
other processes than wall time, so it serves to compare variants on a shared machine (on an
idle 2-core machine wall time is about CPU time / 2 when both cores are busy).

FLOPs: ``benchmarks.flops`` counts the conv/dense FLOPs of one step from the layers, so
``achieved_tflops`` can be set against a GPU's peak (``--peak-tflops``, e.g. 989 for dense bf16
on an H100 SXM). ``--flops`` also prints the per-network breakdown.

Output: one line per configuration, then one JSON line ``{"benchmark": "train_step", ...}``.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

from i2ilab import recipes

MODELS = ("pix2pix", "cyclegan", "munit", "colorize")
BACKENDS = ("tensorflow", "jax")
TINY_WIDTH = 8
JSON_TAG = '{"benchmark": "train_step"'


# ------------------------------------------------------------------------------------ arguments
def _csv(kind, choices=None):
    def parse(text):
        items = [t.strip() for t in str(text).split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("give at least one value")
        if kind is int:
            try:
                items = [int(t) for t in items]
            except ValueError as err:
                raise argparse.ArgumentTypeError(f"{text!r} is not a comma list of integers") from err
        if choices is not None:
            bad = [t for t in items if t not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"{', '.join(map(str, bad))} not in {', '.join(choices)}")
        return items

    return parse


def build_parser():
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.train_step",
        description="Time compiled i2ilab training steps (data loading excluded).",
    )
    p.add_argument(
        "--model", type=_csv(str, MODELS), required=True, help="comma list of pix2pix, cyclegan, munit, colorize"
    )
    p.add_argument("--size", type=_csv(int), default=[256], help="image size(s), comma list")
    p.add_argument("--batch", type=_csv(int), default=[1], help="batch size(s), comma list")
    p.add_argument(
        "--backend",
        type=_csv(str, BACKENDS),
        default=[os.environ.get("KERAS_BACKEND", "tensorflow")],
        help="tensorflow, jax or both (tensorflow,jax); default $KERAS_BACKEND",
    )
    p.add_argument("--steps", type=int, default=10, help="timed steps per repeat")
    p.add_argument(
        "--warmup", type=int, default=2, help="untimed steps before timing; the first one traces and compiles (>= 1)"
    )
    p.add_argument("--repeat", type=int, default=3, help="timed runs of --steps steps")
    p.add_argument(
        "--jit-compile",
        choices=("auto", "on", "off"),
        default="auto",
        help="auto: the trainer's default (TF: tf.function without XLA; JAX: jax.jit); "
        "on: XLA on TF; off: no XLA on TF, uncompiled op-by-op on JAX",
    )
    p.add_argument(
        "--mixed-precision", action="store_true", help="keras.mixed_precision policy mixed_bfloat16 (float32 variables)"
    )
    p.add_argument(
        "--tiny", action="store_true", help="width 8, 2 residual blocks, MUNIT mlp 32 (CI smoke configuration)"
    )
    p.add_argument(
        "--width", type=int, default=None, help="base width ngf = ndf = MUNIT dim (default 64, or 8 with --tiny)"
    )
    p.add_argument(
        "--stepping",
        choices=("direct", "fit"),
        default="direct",
        help="direct: call the compiled train_step; fit: trainer.fit with a timing callback",
    )
    p.add_argument("--flops", action="store_true", help="print the FLOP breakdown of each step")
    p.add_argument(
        "--peak-tflops", type=float, default=None, help="peak TFLOP/s of the device, to report the achieved fraction"
    )
    p.add_argument(
        "--variant",
        type=_csv(str, tuple(VARIANTS)),
        default=[],
        help="comma list of experimental implementations to measure (see VARIANTS); "
        "patched in this process only, the library is unchanged",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        default=None,
        help="after timing, trace --steps more steps with the backend's profiler into DIR "
        "and print where the time goes (op types, layers, forward vs backward)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _check_args(args, parser):
    if args.steps < 1 or args.repeat < 1 or args.warmup < 1:
        parser.error("--steps and --repeat must be >= 1 and --warmup >= 1 (the first step compiles).")
    if args.width is not None and args.width < 1:
        parser.error(f"--width {args.width} must be >= 1.")
    for size in args.size:
        if size < 16 or size & (size - 1):
            parser.error(f"--size {size}: use a power of two >= 16 (the U-Net halves it down to 1x1).")
    for batch in args.batch:
        if batch < 1:
            parser.error(f"--batch {batch} must be >= 1.")


# ------------------------------------------------------------------------------------- networks
#: Architecture of --tiny runs: fewer residual blocks, a narrow MUNIT style MLP.
TINY_ARCH = {"cyclegan": {"n_blocks": 2}, "munit": {"n_res": 2, "mlp_dim": 32}}


def build_trainer(model, size, width, tiny, seed=0):
    """The trainer ``i2ilab train`` builds (reference networks at ``size``, both widths
    ``width``; --tiny: :data:`TINY_ARCH`), with its state built, not yet compiled."""
    cfg = recipes.arch_config(model, size, width, width)
    if tiny:
        cfg.update(TINY_ARCH.get(model, {}))
    trainer = recipes.make_trainer(model, recipes.build_networks(cfg), seed=seed)
    trainer.build((None, size, size, 1 if model == "colorize" else 3))
    return trainer


def random_batch(model, size, batch, seed=0):
    """Fixed random inputs in [-1, 1]: (x, y) for pix2pix, (a, b) for CycleGAN/MUNIT, (L, ab)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    channels = (1, 2) if model == "colorize" else (3, 3)
    return tuple(rng.uniform(-1, 1, (batch, size, size, c)).astype("float32") for c in channels)


# -------------------------------------------------------------------------------------- stepping
def make_direct_stepper(trainer, data):
    """``step() -> logs`` (floats) running ``trainer.train_step`` compiled as ``fit`` compiles it,
    and ``finish()`` which writes the JAX state back into the trainer's variables."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        data = tuple(tf.constant(t) for t in data)
        fn = trainer.train_step
        if not trainer.run_eagerly:
            fn = tf.function(fn, reduce_retracing=True, jit_compile=bool(trainer.jit_compile))

        def step():
            return {k: float(v) for k, v in fn(data).items()}

        return step, lambda: None
    if backend != "jax":
        raise RuntimeError(f"benchmarks.train_step: backend {backend!r} is not supported (tensorflow, jax).")
    import jax

    groups = (
        trainer.trainable_variables,
        trainer.non_trainable_variables,
        trainer.optimizer.variables,
        trainer.metrics_variables,
    )
    state = [tuple([v.value for v in g] for g in groups)]
    data = tuple(jax.numpy.asarray(t) for t in data)
    fn = jax.jit(trainer.train_step, donate_argnums=0) if trainer.jit_compile else trainer.train_step

    def step():
        logs, state[0] = fn(state[0], data)
        return {k: float(v) for k, v in logs.items()}

    def finish():
        for variables, values in zip(groups, state[0], strict=False):
            for variable, value in zip(variables, values, strict=False):
                variable.assign(value)

    return step, finish


def _clock():
    """(wall seconds, CPU seconds of this process summed over its threads)."""
    return time.perf_counter(), time.process_time()


def time_direct(trainer, data, args, progress):
    """Returns (first-step seconds, [[(wall, cpu) per step] per repeat], last logs)."""
    step, finish = make_direct_stepper(trainer, data)
    start = time.perf_counter()
    step()
    compile_s = time.perf_counter() - start
    progress.update(1)
    for _ in range(args.warmup - 1):
        step()
        progress.update(1)
    runs, logs = [], {}
    for _ in range(args.repeat):
        times = []
        for _ in range(args.steps):
            wall, cpu = _clock()
            logs = step()
            wall2, cpu2 = _clock()
            times.append((wall2 - wall, cpu2 - cpu))
            progress.update(1)
        runs.append(times)
    if args.profile:
        profile_steps(step, args.steps, args.profile)
    finish()
    return compile_s, runs, logs


def time_fit(trainer, data, args, progress):
    import keras
    import tensorflow as tf

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = _clock()

        def on_train_batch_end(self, batch, logs=None):
            self.logs = {k: float(v) for k, v in (logs or {}).items()}
            wall, cpu = _clock()
            self.times.append((wall - self.start[0], cpu - self.start[1]))
            progress.update(1)

    dataset = tf.data.Dataset.from_tensors(data).repeat()
    timer = StepTimer()
    timer.times = []
    trainer.fit(dataset, epochs=1, steps_per_epoch=args.warmup, callbacks=[timer], verbose=0, shuffle=False)
    compile_s = timer.times[0][0]
    runs = []
    for _ in range(args.repeat):
        timer.times = []
        trainer.fit(dataset, epochs=1, steps_per_epoch=args.steps, callbacks=[timer], verbose=0, shuffle=False)
        runs.append(list(timer.times))
    return compile_s, runs, timer.logs


# ------------------------------------------------------------------------------------- variants
#: Alternative implementations measured for proposals to i2ilab/layers.py and the engine. They are
#: applied by patching in the benchmark process only (``--variant``); "same numbers" means equal
#: up to float rounding, checked by ``tests/test_benchmarks.py``.
VARIANTS = {
    "inter-op-1": "TensorFlow runs one op at a time (inter-op pool of 1), each on all cores; same numbers",
    "no-remapper": "TensorFlow grappler remapper off (no Conv+BiasAdd+activation / Pad+Conv fusions)",
    "lrelu-max": "LeakyReLU(0.2) as max(x, 0.2 x): same numbers, no LeakyRelu op for TF's remapper",
    "same-pad": "zero padding folded into the conv as 'same' where equal (3x3 s1 p1; 4x4 s2 p1 on even sizes)",
    "tconv-same": "4x4 s2 p1 transposed convs as Keras 'same' instead of the full output then a crop",
    "tconv-subpixel": "stride-2 transposed convs (4x4 p1; 3x3 p1 op1) as one small conv per output phase, interleaved",
    "in-onepass": "instance norm / AdaIN statistics from E[x] and E[x^2] in one pass, fused scale-shift",
    "adam-xla": "TensorFlow: each optimizer update compiled with XLA (one fused loop per variable)",
    "adam-keras": "TensorFlow: Keras' own Adam update instead of i2ilab's fused ResourceApplyAdam (same formula)",
}


def _adam_keras(original):
    def apply_gradients(optimizer, grads, variables):
        optimizer.apply(grads, variables)

    return apply_gradients


def _adam_xla(original):
    import tensorflow as tf

    compiled = {}

    def apply_gradients(optimizer, grads, variables):
        key = (id(optimizer), tuple(id(v) for v in variables))
        if key not in compiled:
            compiled[key] = tf.function(lambda g: optimizer.apply(g, variables), jit_compile=True)
        compiled[key](list(grads))

    return apply_gradients


def _lrelu_max(original):
    from keras import ops

    def activate(x, activation):
        if activation == "lrelu":
            return ops.maximum(x, 0.2 * x)
        return original(x, activation)

    return activate


def _finish_block(block, y, training):
    from i2ilab import layers

    if block.norm_layer is not None:
        y = block.norm_layer(y, training=training) if block.norm == "batch" else block.norm_layer(y)
    return layers.activate(y, block.activation)


def _add_bias(conv, y):
    return y + conv.bias if conv.use_bias else y


def _same_pad_call(original):
    from keras import ops

    from i2ilab import layers

    def call(self, x, training=None):
        (top, bottom), (left, right) = self.padding
        k, s = self.kernel_size, self.strides
        symmetric = self.pad_mode == "zero" and top == bottom == left == right and top > 0
        even = x.shape[1] is not None and x.shape[1] % 2 == 0 and x.shape[2] % 2 == 0
        if not (symmetric and ((s == 1 and k == 2 * top + 1) or (s == 2 and k == 2 * top + 2 and even))):
            return original(self, x, training=training)
        x = layers.activate(x, self.pre_activation)
        y = _add_bias(self.conv, ops.conv(x, self.conv.kernel, strides=s, padding="same"))
        return _finish_block(self, y, training)

    return call


def _tconv_subpixel(x, kernel, padding=1, output_padding=0):
    """torch ConvTranspose2d(stride 2, padding, output_padding) with output 2H x 2W, from a Keras
    kernel (k, k, out, in), as one small conv per output phase whose outputs are interleaved.

    Output row 2i + a sums x[i + d] * w[a + padding - 2 d] over the d with a valid tap index
    (k 4, p 1: rows 2i use taps (3, 1) on x[i-1], x[i]; rows 2i+1 taps (2, 0) on x[i], x[i+1]).
    """
    from keras import ops

    k = kernel.shape[0]
    if k - 2 * padding + output_padding != 2 or padding > 1:
        raise ValueError("_tconv_subpixel: only stride-2 layouts that double the size, padding <= 1.")
    phases = []
    for a in range(2):
        ds = [d for d in (-1, 0, 1) if 0 <= a + padding - 2 * d < k]
        phases.append((ds[0] + 1, [a + padding - 2 * d for d in ds]))
    padded = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    h, w = x.shape[1], x.shape[2]
    rows = []
    for row_start, row_taps in phases:
        cols = []
        for col_start, col_taps in phases:
            sub = ops.stack([ops.stack([kernel[i, j] for j in col_taps]) for i in row_taps])
            window = padded[
                :, row_start : row_start + h + len(row_taps) - 1, col_start : col_start + w + len(col_taps) - 1, :
            ]
            cols.append(ops.conv(window, ops.transpose(sub, (0, 1, 3, 2)), padding="valid"))
        rows.append(ops.stack(cols, axis=3))  # (B, H, W, 2, C)
    y = ops.stack(rows, axis=2)  # (B, H, 2, W, 2, C)
    return ops.reshape(y, (-1, 2 * h, 2 * w, y.shape[-1]))


def _tconv_call(original, mode):
    from keras import ops

    from i2ilab import layers

    def call(self, x, training=None):
        k, p, op = self.kernel_size, self.padding, self.output_padding
        if mode == "same":
            eligible = (k, self.strides, p, op) == (4, 2, 1, 0)
        else:
            eligible = self.strides == 2 and k - 2 * p + op == 2 and p <= 1
        if not eligible:
            return original(self, x, training=training)
        x = layers.activate(x, self.pre_activation)
        if mode == "same":
            y = ops.conv_transpose(x, self.conv.kernel, strides=2, padding="same")
        else:
            y = _tconv_subpixel(x, self.conv.kernel, p, op)
        return _finish_block(self, _add_bias(self.conv, y), training)

    return call


def _onepass_stats(x, epsilon):
    """Per sample and channel: x32, scale a = 1/sqrt(var + eps) and shift b = -mean * a."""
    from keras import ops

    x32 = ops.cast(x, "float32")
    mean = ops.mean(x32, axis=[1, 2], keepdims=True)
    var = ops.maximum(ops.mean(ops.square(x32), axis=[1, 2], keepdims=True) - ops.square(mean), 0.0)
    a = ops.rsqrt(var + epsilon)
    return x32, a, -mean * a


def _instance_norm_call(self, x):
    from keras import ops

    x32, a, b = _onepass_stats(x, self.epsilon)
    if self.affine:
        g, beta = ops.cast(self.gamma, "float32"), ops.cast(self.beta, "float32")
        a, b = a * g, b * g + beta
    return ops.cast(x32 * a + b, self.compute_dtype)


def _adain_call(self, x, gamma, beta):
    from keras import ops

    x32, a, b = _onepass_stats(x, self.epsilon)
    g = ops.cast(gamma, "float32")[:, None, None, :]
    beta = ops.cast(beta, "float32")[:, None, None, :]
    return ops.cast(x32 * (a * g) + (b * g + beta), self.compute_dtype)


class applied_variants:
    """Context manager: patch the named VARIANTS into i2ilab.layers (and TF settings) for its body."""

    def __init__(self, names):
        self.names = list(names)
        self.undo = []

    def _patch(self, owner, attr, value):
        self.undo.append((owner, attr, getattr(owner, attr)))
        setattr(owner, attr, value)

    def __enter__(self):
        import keras

        from i2ilab import layers

        backend = keras.backend.backend()
        for name in self.names:
            if name in ("inter-op-1", "no-remapper", "adam-xla", "adam-keras") and backend != "tensorflow":
                raise ValueError(f"--variant {name} applies to the tensorflow backend only.")
            if name == "inter-op-1":
                import tensorflow as tf

                if tf.config.threading.get_inter_op_parallelism_threads() != 1:
                    tf.config.threading.set_inter_op_parallelism_threads(1)  # before any TF op
            elif name == "no-remapper":
                import tensorflow as tf

                previous = tf.config.optimizer.get_experimental_options()
                tf.config.optimizer.set_experimental_options({"remapping": False})
                self.undo.append((None, "remapper", previous))
            elif name == "lrelu-max":
                self._patch(layers, "activate", _lrelu_max(layers.activate))
            elif name == "same-pad":
                self._patch(layers.ConvBlock, "call", _same_pad_call(layers.ConvBlock.call))
            elif name in ("tconv-same", "tconv-subpixel"):
                mode = name.split("-")[1]
                self._patch(layers.ConvTransposeBlock, "call", _tconv_call(layers.ConvTransposeBlock.call, mode))
            elif name in ("adam-xla", "adam-keras"):
                from i2ilab.training import backend as shim

                make = _adam_xla if name == "adam-xla" else _adam_keras
                self._patch(shim, "apply_gradients", make(shim.apply_gradients))
            elif name == "in-onepass":
                self._patch(layers.InstanceNormalization, "call", _instance_norm_call)
                self._patch(layers.AdaIN, "call", _adain_call)
        return self

    def __exit__(self, *exc):
        for owner, attr, value in reversed(self.undo):
            if owner is None:
                import tensorflow as tf

                tf.config.optimizer.set_experimental_options(value)
            else:
                setattr(owner, attr, value)
        self.undo = []
        return False


# -------------------------------------------------------------------------------------- profile
def _op_category(name, op_type):
    """Coarse category of a traced TensorFlow op from its scope name and type."""
    lowered = name.lower()
    if "adam" in lowered or "/optimizer" in lowered:
        return "optimizer"
    if "Conv2D" in op_type or "conv" in op_type.lower():
        return "convolution"
    if "Pad" in op_type:
        return "padding"
    if "/norm" in lowered or "moments" in lowered or "adain" in lowered or "BatchNorm" in op_type:
        return "normalization"
    if "pool_" in lowered or "/pool" in lowered:
        return "image pool"
    return "other"


def _layer_of(name):
    """'gradient_tape/generator_1/down4_1/conv_1/convolution/...' -> ('generator/down4', 'bwd')."""
    import re

    phase = "bwd" if name.startswith("gradient_tape/") else "fwd"
    parts = [re.sub(r"_\d+$", "", p) for p in name.split("/")[1 if phase == "bwd" else 0 :]]
    return "/".join(parts[:2]), phase


def summarize_trace(logdir, n_steps, top=12):
    """Aggregate the op events of the newest ``*.xplane.pb`` under ``logdir``.

    Op events (TensorFlow: ``scope/name:Type`` on the executor threads; XLA: HLO instruction
    names) are summed per category, per op type and per layer and phase (forward / backward).
    Summed op time exceeds wall time when ops run in parallel on several threads. Returns lines.
    """
    import collections
    import glob

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)
    if not files:
        return [f"no profiler trace found under {logdir}"]
    space = xplane_pb2.XSpace()
    with open(files[-1], "rb") as f:
        space.ParseFromString(f.read())
    by_type, by_cat, by_layer = collections.Counter(), collections.Counter(), collections.Counter()
    for plane in space.planes:
        meta = plane.event_metadata
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                name = meta[event.metadata_id].name.strip()
                if "::" in name:
                    continue  # executor bookkeeping (ExecutorState::Process, ThunkExecutor::Execute)
                if ":" in name and not line.name.startswith("tf_XLA"):  # TF op "scope/op:Type"
                    scope, op_type = name.rsplit(":", 1)
                    op_type = op_type.replace("_MklNative", "").replace("_Mkl", "")
                    by_layer[_layer_of(scope)] += event.duration_ps
                elif line.name.startswith("tf_XLA"):  # XLA thunks: convolution.12, fusion.3, ...
                    scope, op_type = name, name.split(".")[0]
                else:
                    continue
                by_type[op_type] += event.duration_ps
                by_cat[_op_category(scope, op_type)] += event.duration_ps
    total = sum(by_type.values())
    if not total:
        return [f"the trace in {files[-1]} holds no op events"]
    ms = lambda ps: ps / 1e9 / n_steps  # noqa: E731  (ms per step)
    lines = [f"profile ({files[-1]}): {ms(total):.1f} ms of op time per step (all threads)"]
    lines.append("  by category: " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in by_cat.most_common()))
    lines.append(
        "  top op types: "
        + ", ".join(f"{k} {ms(v):.1f} ms ({100 * v / total:.0f}%)" for k, v in by_type.most_common(top))
    )
    if by_layer:
        layers = collections.Counter()
        for (layer, phase), v in by_layer.items():
            layers[layer] += v
        lines.append("  top layers (fwd/bwd ms per step):")
        for layer, v in layers.most_common(top):
            lines.append(
                f"    {layer:<32} {ms(v):8.1f} ms ({100 * v / total:4.1f}%)  fwd {ms(by_layer[(layer, 'fwd')]):.1f}"
                f" / bwd {ms(by_layer[(layer, 'bwd')]):.1f}"
            )
    return lines


def profile_steps(step, n_steps, logdir):
    """Trace ``n_steps`` calls of ``step`` with the backend's profiler into ``logdir``."""
    import keras

    os.makedirs(logdir, exist_ok=True)
    if keras.backend.backend() == "jax":
        import jax

        with jax.profiler.trace(logdir):
            for _ in range(n_steps):
                step()
        return
    import tensorflow as tf

    tf.profiler.experimental.start(logdir)
    try:
        for _ in range(n_steps):
            step()
    finally:
        tf.profiler.experimental.stop()


# ------------------------------------------------------------------------------------- one config
def _percentile(values, q):
    values = sorted(values)
    pos = (len(values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


def _command(model, size, batch, backend, args):
    parts = [
        "python -m benchmarks.train_step",
        f"--model {model}",
        f"--size {size}",
        f"--batch {batch}",
        f"--backend {backend}",
        f"--steps {args.steps}",
        f"--warmup {args.warmup}",
        f"--repeat {args.repeat}",
    ]
    if args.jit_compile != "auto":
        parts.append(f"--jit-compile {args.jit_compile}")
    if args.mixed_precision:
        parts.append("--mixed-precision")
    if args.tiny:
        parts.append("--tiny")
    if args.width is not None:
        parts.append(f"--width {args.width}")
    if args.stepping != "direct":
        parts.append(f"--stepping {args.stepping}")
    if args.variant:
        parts.append(f"--variant {','.join(args.variant)}")
    return " ".join(parts)


def run_config(model, size, batch, args):
    """Build, compile and time one configuration; returns its result dict."""
    import keras
    from tqdm.auto import tqdm

    from benchmarks.flops import step_flops

    backend = keras.backend.backend()
    width = args.width or (TINY_WIDTH if args.tiny else 64)
    jit = {"auto": None, "on": True, "off": False}[args.jit_compile]
    load_before = os.getloadavg()[0]
    previous_policy = keras.mixed_precision.global_policy().name
    keras.backend.clear_session()
    keras.utils.set_random_seed(args.seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if args.mixed_precision else "float32")
    try:
        with applied_variants(args.variant):
            trainer = build_trainer(model, size, width, args.tiny, seed=args.seed)
            trainer.compile(jit_compile=jit)
            flops = step_flops(model, trainer.networks, batch)
            data = random_batch(model, size, batch, args.seed)
            label = f"{model} {size} b{batch} {backend}"
            total = args.warmup + args.repeat * args.steps
            with tqdm(total=total, desc=label, unit="step", file=sys.stderr, disable=args.quiet, leave=False) as bar:
                timer = time_fit if args.stepping == "fit" else time_direct
                compile_s, runs, logs = timer(trainer, data, args, bar)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    times = [wall for run in runs for wall, _ in run]
    cpu_times = [cpu for run in runs for _, cpu in run]
    median = statistics.median(times)
    result = {
        "model": model,
        "size": size,
        "batch": batch,
        "backend": backend,
        "jit_compile": bool(trainer.jit_compile),
        "precision": "mixed_bfloat16" if args.mixed_precision else "float32",
        "stepping": args.stepping,
        "variants": list(args.variant),
        "width": width,
        "tiny": bool(args.tiny),
        "steps": args.steps,
        "warmup": args.warmup,
        "repeat": args.repeat,
        "median_s": median,
        "p25_s": _percentile(times, 0.25),
        "p75_s": _percentile(times, 0.75),
        "min_s": min(times),
        "repeat_medians_s": [statistics.median(wall for wall, _ in run) for run in runs],
        "cpu_median_s": statistics.median(cpu_times),
        "steps_per_s": 1.0 / median,
        "images_per_s": batch / median,
        "first_step_s": compile_s,
        "flops_per_step": int(flops["total"]),
        "flops_per_part": {k: int(v) for k, v in flops["per_part"].items()},
        "achieved_tflops": flops["total"] / median / 1e12,
        "peak_fraction": None,
        "final_logs": logs,
        "load_1m_before": round(load_before, 2),
        "load_1m_after": round(os.getloadavg()[0], 2),
        "command": _command(model, size, batch, backend, args),
    }
    if args.peak_tflops:
        result["peak_fraction"] = result["achieved_tflops"] / args.peak_tflops
    return result


def format_result(r):
    """One human-readable line for a result dict."""
    repeats = "/".join(f"{t:.3f}" for t in r["repeat_medians_s"])
    variants = f"[{','.join(r['variants'])}] " if r["variants"] else ""
    line = (
        f"{r['model']:<8} {r['size']:>4}px b{r['batch']:<3} {r['backend']:<10} "
        f"jit={'on' if r['jit_compile'] else 'off'} {r['precision']:<14} {variants}"
        f"median {r['median_s']:.4f} s/step (p25 {r['p25_s']:.4f}, p75 {r['p75_s']:.4f}; repeats {repeats}) "
        f"{r['steps_per_s']:.2f} steps/s {r['images_per_s']:.2f} images/s | first step {r['first_step_s']:.1f} s | "
        f"{r['flops_per_step'] / 1e9:.1f} GFLOP/step {r['achieved_tflops'] * 1e3:.1f} GFLOP/s | "
        f"CPU {r['cpu_median_s']:.3f} s/step"
    )
    if r["peak_fraction"] is not None:
        line += f" ({100 * r['peak_fraction']:.1f}% of peak)"
    return line + f" | load {r['load_1m_before']:.1f}->{r['load_1m_after']:.1f}"


def _device():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return ", ".join(sorted({f"{d.platform}:{d.device_kind}" for d in jax.devices()}))
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    return ", ".join(tf.config.experimental.get_device_details(g).get("device_name", "gpu") for g in gpus)


def environment():
    """Versions and machine facts recorded with every run."""
    versions = {}
    for package in ("keras", "tensorflow", "jax", "jaxlib", "numpy"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "versions": versions,
        "python": platform.python_version(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
    }


# ------------------------------------------------------------------------------------------ main
def run_in_process(args):
    """Every configuration on the current backend; prints one line each; returns the results."""
    results = []
    for model in args.model:
        for size in args.size:
            for batch in args.batch:
                r = run_config(model, size, batch, args)
                r["device"] = _device()
                print(format_result(r), flush=True)
                if args.flops:
                    parts = ", ".join(f"{k} {v / 1e9:.2f}" for k, v in r["flops_per_part"].items())
                    print(f"    FLOPs per step: {r['flops_per_step'] / 1e9:.2f} GFLOP ({parts} GFLOP)", flush=True)
                if args.profile:
                    for line in summarize_trace(args.profile, args.steps):
                        print(line, flush=True)
                results.append(r)
    return results


def _child_argv(argv, backend):
    """The same arguments with a single backend."""
    out, skip = [], False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == "--backend":
            skip = True
            continue
        if a.startswith("--backend="):
            continue
        out.append(a)
    return out + ["--backend", backend]


def run_subprocess(argv, backend):
    """Run this module for one backend in a fresh interpreter with KERAS_BACKEND set."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [sys.executable, "-m", "benchmarks.train_step"] + _child_argv(argv, backend)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.PIPE, text=True)
    results = []
    for line in proc.stdout:
        if line.startswith(JSON_TAG):
            results.extend(json.loads(line)["results"])
        else:
            print(line, end="", flush=True)
    if proc.wait():
        raise RuntimeError(
            f"benchmarks.train_step: the {backend} run failed (exit {proc.returncode}): {shlex.join(cmd)}"
        )
    return results


def main(argv=None):
    """Entry point; returns the list of result dicts (also printed as one JSON line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(args, parser)
    loaded = sys.modules.get("keras")
    current = loaded.backend.backend() if loaded is not None else None
    if len(args.backend) == 1 and current in (None, args.backend[0]):
        if current is None:
            os.environ["KERAS_BACKEND"] = args.backend[0]
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        results = run_in_process(args)
    else:
        results = []
        for backend in args.backend:
            results += run_subprocess(argv, backend)
    print(json.dumps({"benchmark": "train_step", "environment": environment(), "results": results}), flush=True)
    return results


if __name__ == "__main__":
    main()
