"""The backend shim of the GAN engine: the only module in i2ilab that asks which backend runs.

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

A trainer must keep all its optimizers' variables in ``model.optimizer`` (see
``i2ilab.training.base.OptimizerGroup``): under JAX ``fit`` carries only those, and updates of
any other optimizer are silently dropped.
"""

import keras
import numpy as np
from keras import ops

BACKEND = keras.backend.backend()

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
]


def default_jit_compile():
    """Compile setting for ``fit``: XLA off on TensorFlow (CPU-measured), jax.jit on JAX, eager torch."""
    return BACKEND == "jax"


class _RecordingScope(keras.StatelessScope):
    """A StatelessScope that starts from a copy of another scope's values and records writes."""

    def __init__(self, base_mapping, variables, values):
        super().__init__()
        self.state_mapping = dict(base_mapping)
        for variable, value in zip(variables, values):
            self.state_mapping[id(variable)] = value
        self.written = {}

    def add_update(self, update):
        super().add_update(update)
        self.written[id(update[0])] = update[0]


def _current_mapping():
    from keras.src.backend.common.stateless_scope import get_stateless_scope

    scope = get_stateless_scope()
    return {} if scope is None else scope.state_mapping


def _jax_pure(fn, variables):
    """Wrap ``fn`` as a pure function of the values of ``variables`` (JAX only).

    Returns ``(pure, written)``: ``pure(values, *args) -> (out, new_values)`` where ``new_values``
    are the values of the state ``fn`` wrote, whose variables ``written`` lists after tracing.
    """
    base = _current_mapping()
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
    for variable, value in zip(variables, values):
        variable.assign(value)


_torch_depth = [0]


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

        (loss, (aux, new_values)), (var_grads, in_grads) = jax.value_and_grad(
            objective, argnums=(0, 1), has_aux=True
        )([v.value for v in variables], inputs)
        _assign_all(written, new_values)
        return loss, aux, list(var_grads), list(in_grads)
    if BACKEND == "tensorflow":
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss, aux = fn(*inputs)
        grads = tape.gradient(
            loss, variables + list(inputs), unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
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
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params + list(ins))]
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
        outputs, pull, new_values = jax.vjp(
            lambda values: pure(values), [v.value for v in variables], has_aux=True
        )
        _assign_all(written, new_values)
        return outputs, lambda cotangents: list(pull(cotangents)[0])
    if BACKEND == "tensorflow":
        tape = tf.GradientTape()
        with tape:
            outputs = fn()

        def pullback(cotangents):
            return tape.gradient(
                outputs,
                variables,
                output_gradients=cotangents,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )

        return outputs, pullback
    params = [v.value for v in variables]
    with torch.enable_grad():
        outputs = fn()

    def pullback(cotangents):
        flat_out = keras.tree.flatten(outputs)
        flat_cot = [ops.convert_to_tensor(c) for c in keras.tree.flatten(cotangents)]
        grads = torch.autograd.grad(flat_out, params, grad_outputs=flat_cot, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]

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
    """``optimizer.apply(grads, variables)`` (outside autograd recording on torch)."""
    if BACKEND == "torch":
        with torch.no_grad():
            optimizer.apply(grads, variables)
    else:
        optimizer.apply(grads, variables)


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
    for variables, values in zip(groups, state):
        if len(variables) != len(values):
            raise RuntimeError(
                "i2ilab.training: the JAX train state does not match the model's variables "
                f"({len(values)} values for {len(variables)} variables). Variables were added "
                "after fit started; build the trainer (and its image pools) before fit."
            )
        mapping.extend(zip(variables, values))
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    new_state = tuple(
        [scope.get_current_value(v) for v in variables] for variables in groups
    )
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
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
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
