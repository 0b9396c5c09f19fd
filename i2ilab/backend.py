"""The backend shim: the only module in i2ilab that asks which backend runs or uses private Keras.

It sits low in the house (it imports only Keras, NumPy and the backend's own library), so the
layers, the losses and the trainers all build on it.

Every trainer writes its train step once, in ordinary stateful Keras style (call layers, take
gradients with :func:`value_and_grad` / :func:`vjp`, ``optimizer.apply``, ``variable.assign``,
``metric.update_state``). This module makes that code correct under each backend's ``fit``:

- TensorFlow: gradients come from ``tf.GradientTape``; ``fit`` wraps the step in ``tf.function``
  (``jit_compile`` off by default: XLA does not pay off on CPU, see shared/KERAS3.md).
- JAX: :func:`run_train_step` opens one ``keras.StatelessScope`` over every variable of ``fit``'s
  state (trainable, non-trainable, optimizer, metrics), runs the stateful step and reads the new
  values back, so the step is pure and ``jax.jit`` compiles it. Each gradient call builds a pure
  function of the variables it differentiates: it opens an inner scope holding a copy of the
  current scope's values (scopes do not chain) plus the traced values, and runs
  ``jax.value_and_grad`` / ``jax.vjp``. State written inside (BatchNorm statistics, seed
  generators) is carried out as auxiliary output and assigned in the enclosing scope
  (keras-team/keras#18881: "open a StatelessScope and pretend everything is stateful").
- PyTorch: ``torch.autograd.grad`` on the live parameters; a nested call (the gradient penalty)
  keeps the graph (``create_graph``) so the penalty can be differentiated again.

Data parallelism (:func:`distribute`) uses Keras' own engines:

- TensorFlow: ``tf.distribute.MirroredStrategy``. Keras' ``fit`` splits each global batch over
  the replicas (``experimental_distribute_dataset``) and runs ``train_step`` once per replica
  (``strategy.run``); ``optimizer.apply`` all-reduces the gradients with a SUM, so
  :func:`apply_gradients` scales each replica's gradients by ``1 / replicas`` and the update is
  that of the global-batch mean loss. Logged means are averaged over replicas by Keras (equal
  shards: the global-batch value). Code that must see the whole batch (the image pool, random
  style codes) uses :func:`all_gather` / :func:`local_slice`.
- JAX: ``keras.distribution.DataParallel`` on a 1-D device mesh. Variables are replicated, each
  batch is sharded on its first axis, and the jitted step is one global program (GSPMD): losses,
  gradients and BatchNorm statistics are those of the global batch with no extra code, and the
  replica helpers below are identities.

A trainer must keep all its optimizers' variables in ``model.optimizer`` (see
``i2ilab.training.optimizers.OptimizerGroup``): under JAX ``fit`` carries only those, and updates
of any other optimizer are silently dropped.

Private Keras: every use of a Keras internal is a function or class of this module listed in
:data:`PRIVATE_KERAS` (name -> the internal it touches), each checked by one test in
``tests/test_backend.py`` that is pinned to :data:`KERAS_VERIFIED`, the Keras version it was
verified with.
"""

import contextlib

import keras
import numpy as np
from keras import ops

BACKEND = keras.backend.backend()
#: The Keras version the private hooks below were verified with (tests/test_backend.py).
KERAS_VERIFIED = "3.15"
#: Hook of this module -> the Keras internal it relies on.
PRIVATE_KERAS = {
    "current_state_mapping": "keras.src.backend.common.stateless_scope.get_stateless_scope",
    "SkipSymbolicBuild": "keras.Model._maybe_symbolic_build (TensorFlow trainer)",
    "sublayers": "keras.layers.Layer._flatten_layers",
    "own_variables": "keras.optimizers.Optimizer._variables",
    "has_schedule": "keras.optimizers.Optimizer._learning_rate",
    "check_distributed": "keras.optimizers.Optimizer._distribution_strategy",
    "sync_state": "keras.Model._jax_state (JAX trainer)",
    "apply_gradients": "keras.optimizers.Adam._momentums/_velocities/_get_variable_index, Variable._value "
    "(TensorFlow's fused Adam)",
}

if BACKEND == "tensorflow":
    import tensorflow as tf
elif BACKEND == "jax":
    import jax
elif BACKEND == "torch":
    import torch
else:
    raise ImportError(
        f"i2ilab.training supports the tensorflow, jax and torch Keras backends; "
        f"KERAS_BACKEND is {BACKEND!r}. Set KERAS_BACKEND=tensorflow or jax."
    )

__all__ = [
    "BACKEND",
    "value_and_grad",
    "vjp",
    "input_gradient",
    "apply_gradients",
    "run_train_step",
    "sync_state",
    "default_jit_compile",
    "compile_inference",
    "global_rng_state",
    "set_global_rng_state",
    "distribute",
    "DataParallelScope",
    "replica_count",
    "all_gather",
    "local_slice",
    "check_distributed",
    "distributed_devices",
    "split_batch",
    "tf_replica_context",
    "all_reduce_sum",
    "hide_gpus_from_tensorflow",
    "current_state_mapping",
    "SkipSymbolicBuild",
    "sublayers",
    "own_variables",
    "has_schedule",
]


def default_jit_compile():
    """Compile setting for ``fit``: XLA off on TensorFlow (CPU-measured), jax.jit on JAX, eager torch."""
    return BACKEND == "jax"


class _RecordingScope(keras.StatelessScope):
    """A StatelessScope that starts from a copy of another scope's values and records writes."""

    def __init__(self, base_mapping, variables, values):
        super().__init__()
        self.state_mapping = dict(base_mapping)
        for variable, value in zip(variables, values, strict=True):
            self.state_mapping[id(variable)] = value
        self.written = {}

    def add_update(self, update):
        super().add_update(update)
        self.written[id(update[0])] = update[0]


def current_state_mapping():
    """{id(variable): value} of the innermost open ``keras.StatelessScope`` ({} outside one)."""
    from keras.src.backend.common.stateless_scope import get_stateless_scope

    scope = get_stateless_scope()
    return {} if scope is None else scope.state_mapping


def _jax_pure(fn, variables):
    """Wrap ``fn`` as a pure function of the values of ``variables`` (JAX only).

    Returns ``(pure, written)``: ``pure(values, *args) -> (out, new_values)`` where ``new_values``
    are the values of the state ``fn`` wrote, whose variables ``written`` lists after tracing.
    """
    base = current_state_mapping()
    wrt = {id(v) for v in variables}
    written = []

    def pure(values, *args):
        scope = _RecordingScope(base, variables, values)
        with scope:
            out = fn(*args)
        written[:] = [v for k, v in scope.written.items() if k not in wrt]
        return out, [scope.get_current_value(v) for v in written]

    return pure, written


def _assign_all(variables, values):
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


_torch_depth = [0]


def _tf_zeros_for_none(grads, sources):
    """TF's None gradients (unconnected sources) as zeros. Not TF's UnconnectedGradients.ZERO,
    which fails on Keras variables (their dtype is a string)."""
    return [tf.zeros(s.shape, s.dtype) if g is None else g for g, s in zip(grads, sources, strict=True)]


def value_and_grad(fn, variables, inputs=()):
    """Value of ``fn`` and its gradient w.r.t. ``variables`` and ``inputs``, on any backend.

    Args:
        fn: ``fn(*inputs) -> (loss, aux)``; ``loss`` a float32 scalar, ``aux`` any nest of tensors
            (returned as is). It may read and write any Keras variable (layers in training mode).
        variables: list of trainable Keras variables to differentiate (may be empty).
        inputs: tuple of tensors to differentiate as well (e.g. a generator output).

    Returns:
        ``(loss, aux, variable_grads, input_grads)``, gradients as lists in the order given;
        a variable or input that ``loss`` does not depend on gets zeros.
    """
    variables = list(variables)
    inputs = tuple(ops.convert_to_tensor(x) for x in inputs)
    if BACKEND == "jax":
        pure, written = _jax_pure(fn, variables)

        def objective(values, ins):
            (loss, aux), new_values = pure(values, *ins)
            return loss, (aux, new_values)

        (loss, (aux, new_values)), (var_grads, in_grads) = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(
            [v.value for v in variables], inputs
        )
        _assign_all(written, new_values)
        return loss, aux, list(var_grads), list(in_grads)
    if BACKEND == "tensorflow":
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss, aux = fn(*inputs)
        grads = _tf_zeros_for_none(tape.gradient(loss, variables + list(inputs)), variables + list(inputs))
        return loss, aux, grads[: len(variables)], grads[len(variables) :]
    # torch
    ins = tuple(ops.convert_to_tensor(x).detach().requires_grad_(True) for x in inputs)
    params = [v.value for v in variables]
    _torch_depth[0] += 1
    try:
        with torch.enable_grad():
            loss, aux = fn(*ins)
        nested = _torch_depth[0] > 1
        grads = torch.autograd.grad(
            loss, params + list(ins), allow_unused=True, create_graph=nested, retain_graph=nested
        )
    finally:
        _torch_depth[0] -= 1
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params + list(ins), strict=True)]
    return loss, aux, grads[: len(params)], grads[len(params) :]


def vjp(fn, variables):
    """Run ``fn()`` once and keep its pullback w.r.t. ``variables`` (vector-Jacobian product).

    Used so that a generator's forward pass serves both the discriminator step (as a constant) and
    the generator step (by pulling the gradient w.r.t. its output back to its weights) without being
    recomputed.

    Returns:
        ``(outputs, pullback)``: ``pullback(cotangents)`` (same nest as ``outputs``) returns the
        list of gradients w.r.t. ``variables``. Call it at most once.
    """
    variables = list(variables)
    if BACKEND == "jax":
        pure, written = _jax_pure(fn, variables)
        outputs, pull, new_values = jax.vjp(lambda values: pure(values), [v.value for v in variables], has_aux=True)
        _assign_all(written, new_values)
        return outputs, lambda cotangents: list(pull(cotangents)[0])
    if BACKEND == "tensorflow":
        tape = tf.GradientTape()
        with tape:
            outputs = fn()

        def pullback(cotangents):
            return _tf_zeros_for_none(tape.gradient(outputs, variables, output_gradients=cotangents), variables)

        return outputs, pullback
    params = [v.value for v in variables]
    with torch.enable_grad():
        outputs = fn()

    def pullback(cotangents):
        flat_out = keras.tree.flatten(outputs)
        flat_cot = [ops.convert_to_tensor(c) for c in keras.tree.flatten(cotangents)]
        grads = torch.autograd.grad(flat_out, params, grad_outputs=flat_cot, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params, strict=True)]

    return outputs, pullback


def input_gradient(fn, x):
    """Gradient of ``sum(fn(x))`` w.r.t. the tensor ``x``, differentiable again (for penalties).

    ``fn(x)`` returns a tensor or a list of tensors (multi-scale logits); all are summed.
    """

    def objective(z):
        out = fn(z)
        total = sum(ops.sum(ops.cast(o, "float32")) for o in keras.tree.flatten(out))
        return total, ()

    _, _, _, (grad,) = value_and_grad(objective, [], (x,))
    return grad


def apply_gradients(optimizer, grads, variables):
    """``optimizer.apply(grads, variables)`` (outside autograd recording on torch).

    Under a multi-replica TensorFlow strategy each replica's gradients are scaled by
    ``1 / replicas`` first: the optimizer sums them across replicas, and every loss here is a
    mean over the replica's equal share of the batch, so the sum is the global-batch gradient.
    """
    replicas = replica_count()
    if replicas > 1:
        grads = [g * (1.0 / replicas) for g in grads]
    elif BACKEND == "tensorflow" and _plain_adam(optimizer, variables):
        _fused_adam_apply(optimizer, grads, variables)
        return
    if BACKEND == "torch":
        with torch.no_grad():
            optimizer.apply(grads, variables)
    else:
        optimizer.apply(grads, variables)


def _plain_adam(optimizer, variables):
    """True for a keras Adam whose update is exactly ResourceApplyAdam's: float32 variables and
    none of the extras Keras' ``apply`` adds (AMSGrad, weight decay, clipping, EMA, gradient
    accumulation, loss scaling, constraints)."""
    return (
        type(optimizer) is keras.optimizers.Adam
        and not optimizer.amsgrad
        and not optimizer.weight_decay
        and optimizer.clipnorm is None
        and optimizer.global_clipnorm is None
        and optimizer.clipvalue is None
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
        and optimizer.loss_scale_factor is None
        and all(v.dtype == "float32" and v.constraint is None and not v.overwrite_with_gradient for v in variables)
    )


def _fused_adam_apply(optimizer, grads, variables):
    """Keras' Adam step as TensorFlow's fused ``ResourceApplyAdam`` kernel, one op per variable.

    The same formula as ``keras.optimizers.Adam.update_step`` (m += (g - m)(1 - b1),
    v += (g^2 - v)(1 - b2), w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)), equal up to
    float rounding (one step: weights within 4e-6), with the same slot variables and iteration
    counter, so checkpoints are interchangeable. Keras' version is about ten small ops per
    variable: fused, a smoke-size pix2pix step (32 px, batch 2, width 32) runs 22% faster on
    2 CPU cores, the 256 px step at batch 1 7% (benchmarks/RESULTS.md).
    """
    variables = list(variables)
    if not optimizer.built:
        with keras.name_scope(optimizer.name, caller=optimizer):
            optimizer.build(variables)
        optimizer.built = True
    step = tf.cast(optimizer.iterations + 1, "float32")
    beta_1 = tf.constant(optimizer.beta_1, "float32")
    beta_2 = tf.constant(optimizer.beta_2, "float32")
    coefficients = dict(
        beta1_power=tf.pow(beta_1, step),
        beta2_power=tf.pow(beta_2, step),
        lr=tf.cast(optimizer.learning_rate, "float32"),
        beta1=beta_1,
        beta2=beta_2,
        epsilon=tf.constant(optimizer.epsilon, "float32"),
    )
    for grad, variable in zip(grads, variables, strict=True):
        if grad is None:
            continue
        index = optimizer._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable._value.handle,
            m=optimizer._momentums[index]._value.handle,
            v=optimizer._velocities[index]._value.handle,
            grad=tf.cast(grad, "float32"),
            **coefficients,
        )
    optimizer.iterations.assign_add(1)


def run_train_step(model, step, *args):
    """Run the stateful ``step(data) -> logs`` as ``model.train_step`` expects on this backend.

    TensorFlow / torch: ``train_step(data)``, so ``args == (data,)`` and the step runs as is.
    JAX: ``train_step(state, data)``; the step runs inside one StatelessScope mapping every
    variable of ``fit``'s state (the same lists and order as ``JAXTrainer._get_jax_state``) and
    returns ``(logs, new_state)``.
    """
    if BACKEND != "jax":
        (data,) = args
        return step(data)
    state, data = args
    groups = (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )
    mapping = []
    for variables, values in zip(groups, state, strict=True):
        if len(variables) != len(values):
            raise RuntimeError(
                "i2ilab.training: the JAX train state does not match the model's variables "
                f"({len(values)} values for {len(variables)} variables). Variables were added "
                "after fit started; build the trainer (and its image pools) before fit."
            )
        mapping.extend(zip(variables, values, strict=True))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    new_state = tuple([scope.get_current_value(v) for v in variables] for variables in groups)
    return logs, new_state


def sync_state(model):
    """Write JAX ``fit``'s in-flight state back into the model's variables (no-op elsewhere).

    Under JAX, ``fit`` keeps the live values outside the variables during an epoch; anything that
    reads weights from a callback mid-epoch (checkpoints, sample grids) calls this first.
    """
    if BACKEND == "jax" and getattr(model, "_jax_state", None):
        model.jax_state_sync()


def compile_inference(fn, variables):
    """Compiled version of an inference function ``fn(*tensors) -> tensors`` (no state writes).

    JAX: ``jax.jit`` of a pure function of the current values of ``variables`` (all the
    variables ``fn`` reads), so a forward pass compiles once per input shape instead of
    dispatching op by op. TensorFlow: ``tf.function``. Torch: ``fn`` under ``no_grad``.
    """
    variables = list(variables)
    if BACKEND == "jax":

        def pure(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return fn(*args)

        jitted = jax.jit(pure)
        return lambda *args: jitted([v.value for v in variables], *args)
    if BACKEND == "tensorflow":
        return tf.function(fn, reduce_retracing=True)

    def no_grad(*args):
        with torch.no_grad():
            return fn(*args)

    return no_grad


def global_rng_state():
    """Backend-global random state that Keras itself draws from, as numpy arrays (by name).

    Only torch has one that matters: Keras' torch backend draws Dropout masks of layers
    created without a seed from torch's global generator, not from the layer's SeedGenerator,
    so an exact resume must restore it. Empty on TensorFlow and JAX.
    """
    if BACKEND == "torch":
        return {"torch_cpu_rng": torch.get_rng_state().numpy().copy()}
    return {}


def set_global_rng_state(arrays):
    """Restore what :func:`global_rng_state` returned (entries of other backends are ignored)."""
    if BACKEND == "torch" and "torch_cpu_rng" in arrays:
        torch.set_rng_state(torch.from_numpy(np.asarray(arrays["torch_cpu_rng"], "uint8")))


# ------------------------------------------------------------------------------ data parallelism
def tf_replica_context():
    """The replica context of a multi-replica ``tf.distribute`` step; None otherwise (and on
    every other backend, where no replica runs a partial batch)."""
    if BACKEND != "tensorflow":
        return None
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync < 2:
        return None
    return context


def all_reduce_sum(context, x):
    """Sum of ``x`` over the replicas of ``context`` (a :func:`tf_replica_context`)."""
    return context.all_reduce(tf.distribute.ReduceOp.SUM, x)


def replica_count():
    """Replicas that each run this step on their own share of the batch (TF strategy), else 1.

    1 on JAX even when distributed: there the step is one global program.
    """
    context = tf_replica_context()
    return 1 if context is None else int(context.num_replicas_in_sync)


def all_gather(x):
    """The global batch: ``x`` (b, ...) of every replica concatenated in replica order (TF
    strategy); ``x`` itself elsewhere."""
    context = tf_replica_context()
    if context is None:
        return x
    gathered = context.all_gather(x, axis=0)
    if x.shape[0] is None:
        return gathered
    # all_gather forgets the static batch size, which the image pool needs.
    return ops.reshape(gathered, (x.shape[0] * context.num_replicas_in_sync,) + tuple(x.shape[1:]))


def local_slice(x):
    """This replica's rows of a global-batch tensor (the inverse of :func:`all_gather`)."""
    context = tf_replica_context()
    if context is None:
        return x
    n = int(context.num_replicas_in_sync)
    rows = x.shape[0] // n if x.shape[0] is not None else ops.shape(x)[0] // n
    per_replica = ops.reshape(x, (n, rows) + tuple(x.shape[1:]))
    return ops.take(per_replica, context.replica_id_in_sync_group, axis=0)


def _devices(devices):
    """Normalise the ``devices`` argument of :func:`distribute` to Keras device names."""
    available = keras.distribution.list_devices()
    if devices is None:
        return available[:1]
    if devices == "all":
        return available
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"distribute: devices={devices}, but this machine has {len(available)} "
                f"device(s) ({', '.join(available)}); use a number from 1 to {len(available)} "
                "or 'all'."
            )
        return available[:devices]
    names = [str(d).lower().lstrip("/").replace("device:", "") for d in devices]
    unknown = [d for d in names if d not in available]
    if unknown or not names:
        raise ValueError(f"distribute: unknown device(s) {unknown or names}; available: {', '.join(available)}.")
    return names


_MIRRORED = {}


class DataParallelScope:
    """A context manager for data-parallel training; see :func:`distribute`.

    Attributes:
        devices: the Keras device names used (``"gpu:0"``, ``"cpu:1"``, ...).
        num_replicas: ``len(devices)``; the global batch is split into this many equal shares.
        engine: the Keras / TF object that does the work: a ``tf.distribute.MirroredStrategy``
            (TensorFlow), a ``keras.distribution.DataParallel`` (JAX), or None for one device.
    """

    def __init__(self, devices):
        self.devices = list(devices)
        self.num_replicas = len(self.devices)
        self.engine = None
        self._context = None
        if self.num_replicas == 1:
            return
        if BACKEND == "tensorflow":
            # One strategy per device set and process: every MirroredStrategy numbers its
            # collectives from the same keys, so a second one on the same devices would meet
            # the first one's cached collective instances and fail with a shape mismatch.
            key = tuple(self.devices)
            if key not in _MIRRORED:
                _MIRRORED[key] = tf.distribute.MirroredStrategy([f"/{d}" for d in key])
            self.engine = _MIRRORED[key]
        elif BACKEND == "jax":
            self.engine = keras.distribution.DataParallel(devices=self.devices)
        else:
            raise ValueError(
                f"distribute: data parallelism needs the tensorflow or jax backend, not "
                f"{BACKEND!r}; use devices=1 or set KERAS_BACKEND."
            )

    def scope(self):
        """The backend's own scope: ``strategy.scope()`` (TF), ``distribution.scope()`` (JAX)."""
        if self.engine is None:
            return contextlib.nullcontext()
        return self.engine.scope()

    def __enter__(self):
        self._context = self.scope()
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        context, self._context = self._context, None
        return context.__exit__(*exc)

    def check_batch_size(self, batch_size, what="batch_size"):
        """Raise a ValueError unless ``batch_size`` splits into equal per-device shares."""
        n = self.num_replicas
        if batch_size % n:
            raise ValueError(
                f"{what} {batch_size} does not split over the {n} devices: the batch size is the "
                f"global batch, divided equally among the devices; use a multiple of {n}, e.g. "
                f"{what} {n * max(1, batch_size // n)}."
            )

    def __repr__(self):
        return f"DataParallelScope(devices={self.devices}, backend={BACKEND!r})"


def distribute(devices=None):
    """Data-parallel training on several devices with Keras' own engine for this backend.

    Build the trainer's networks, ``compile`` and ``fit`` inside the returned context::

        with i2ilab.training.distribute("all") as dist:
            trainer = Pix2Pix(unet_generator(), patch_discriminator())
            trainer.compile()
            trainer.fit(dataset_with_global_batch, epochs=...)

    TensorFlow runs ``tf.distribute.MirroredStrategy`` (networks and optimizers must be created
    inside); JAX runs ``keras.distribution.DataParallel`` (variables replicated, batches sharded).
    The global batch (the dataset's batch size) must be a multiple of ``dist.num_replicas``
    with equal shares, e.g. ``drop_remainder=True``.

    Args:
        devices: None or 1: one device (a no-op scope); an int N: the first N devices of
            ``keras.distribution.list_devices()`` (accelerators if any, else CPUs); ``"all"``;
            or a list of device names such as ``["gpu:0", "gpu:2"]``.

    Returns:
        A :class:`DataParallelScope` (``devices``, ``num_replicas``, ``engine``).
    """
    return DataParallelScope(_devices(devices))


def check_distributed(networks, optimizers, owner):
    """Raise a clear error if a trainer mixes objects made inside and outside a TF strategy.

    Under ``tf.distribute``, variables created outside the strategy's scope are not mirrored and
    optimizers bind to the strategy active when they are created; either mistake fails deep in
    TensorFlow. (Keras' JAX trainer warns about the same mistake itself.)
    """
    if BACKEND != "tensorflow" or not tf.distribute.has_strategy():
        return
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync < 2:
        return
    for name, network in networks.items():
        for variable in network.variables:
            if not isinstance(variable.value, tf.distribute.DistributedValues):
                raise ValueError(
                    f"{owner}: network {name!r} was built outside the distribution scope "
                    f"({variable.path} is not mirrored); create the networks inside "
                    "`with i2ilab.training.distribute(...)`."
                )
    for optimizer in optimizers:
        if getattr(optimizer, "_distribution_strategy", strategy) is not strategy:
            raise ValueError(
                f"{owner}: optimizer {optimizer.name!r} was created outside the distribution "
                "scope; create it (or let compile() create it) inside "
                "`with i2ilab.training.distribute(...)`."
            )


def distributed_devices():
    """Devices the active scope distributes over: a TF strategy's replicas or the size of
    JAX's ``keras.distribution`` mesh; 1 without distribution."""
    if BACKEND == "tensorflow":
        return int(tf.distribute.get_strategy().num_replicas_in_sync)
    if BACKEND == "jax":
        distribution = keras.distribution.distribution()
        if distribution is not None:
            return int(np.size(distribution.device_mesh.devices))
    return 1


def split_batch(model, x, y):
    """Per-replica shares of one batch for ``train_on_batch`` under a TF strategy.

    Keras' TF ``train_on_batch`` hands the whole batch to every replica; ``fit`` splits it.
    This splits ``x`` and ``y`` the way ``fit`` does (replica r gets rows r*b .. (r+1)*b), so
    both give the same step. Elsewhere ``(x, y)`` is returned unchanged (JAX shards the batch
    itself).
    """
    if BACKEND != "tensorflow":
        return x, y
    strategy = model.distribute_strategy
    n = int(strategy.num_replicas_in_sync)
    if n < 2:
        return x, y
    batch = int(x.shape[0])
    if batch % n:
        raise ValueError(
            f"{type(model).__name__}.train_on_batch: the batch of {batch} does not split into "
            f"{n} equal per-replica shares; use a multiple of {n}."
        )
    rows = batch // n

    def share(context, array):
        start = context.replica_id_in_sync_group * rows
        return tf.convert_to_tensor(np.asarray(array)[start : start + rows])

    def split(array):
        if array is None:
            return None
        return strategy.experimental_distribute_values_from_function(lambda context: share(context, array))

    return split(x), split(y)


# ------------------------------------------------------------------------ TensorFlow as data engine
def hide_gpus_from_tensorflow():
    """Under the JAX (or torch) backend, keep TensorFlow, which then serves only tf.data on the
    CPU, off the GPUs, so that it does not reserve their memory (the usual advice for tf.data
    with JAX). Call it before the first dataset is built; a no-op on the TensorFlow backend and
    once TensorFlow has initialised its devices. Returns whether the GPUs are hidden now."""
    if BACKEND == "tensorflow":
        return False
    import tensorflow

    try:
        tensorflow.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow initialised its devices already
        return False
    return True


# ------------------------------------------------------------------------------- Keras internals
class SkipSymbolicBuild:
    """Mixin for a ``keras.Model`` whose state is all built before ``fit``: skips Keras' TF peek
    at the data (``_maybe_symbolic_build``).

    Under a ``tf.distribute`` strategy Keras' TF ``fit`` draws one batch from an extra pass
    over the dataset to build compiled losses and metrics, which GAN trainers do not have.
    That extra pass advances a shuffled dataset's reshuffle seed, so epoch k would no longer
    see the k-th pass and a resumed run would not see the batches of an unbroken one.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if all(layer.built for layer in sublayers(self, include_self=True)):
            return None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def sublayers(layer, include_self=False):
    """Every layer nested in ``layer`` (recursively), depth first."""
    return list(layer._flatten_layers(include_self=include_self, recursive=True))


def own_variables(optimizer):
    """The optimizer's own variables (iteration counter, learning rate), without any member's."""
    return list(optimizer._variables)


def has_schedule(optimizer):
    """Whether the optimizer's learning rate is a ``LearningRateSchedule`` (not a value)."""
    return isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule)
