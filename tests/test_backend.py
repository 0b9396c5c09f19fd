"""The private-Keras hooks of i2ilab.backend, one test each, pinned to the Keras version they were
verified with (backend.KERAS_VERIFIED): a Keras upgrade fails here first, naming what to recheck."""

import keras
import numpy as np
import pytest

from i2ilab import backend


def _pinned(hook):
    assert hook in backend.PRIVATE_KERAS
    assert keras.__version__.startswith(backend.KERAS_VERIFIED + "."), (
        f"Keras {keras.__version__}: i2ilab.backend.{hook} relies on {backend.PRIVATE_KERAS[hook]}, "
        f"verified with Keras {backend.KERAS_VERIFIED}; recheck it and update KERAS_VERIFIED."
    )


def test_every_hook_has_a_test():
    tested = {
        "current_state_mapping",
        "SkipSymbolicBuild",
        "sublayers",
        "own_variables",
        "has_schedule",
        "check_distributed",
        "sync_state",
        "apply_gradients",
    }
    assert set(backend.PRIVATE_KERAS) == tested


def test_current_state_mapping():
    _pinned("current_state_mapping")
    v = keras.Variable(1.0)
    assert backend.current_state_mapping() == {}
    with keras.StatelessScope(state_mapping=[(v, keras.ops.convert_to_tensor(2.0))]):
        mapping = backend.current_state_mapping()
        assert float(keras.ops.convert_to_numpy(mapping[id(v)])) == 2.0


def test_skip_symbolic_build():
    _pinned("SkipSymbolicBuild")
    if backend.BACKEND == "tensorflow":  # the hook Keras' TF fit calls
        assert callable(getattr(keras.Model, "_maybe_symbolic_build"))

    class Built(backend.SkipSymbolicBuild, keras.Model):
        pass

    model = Built()
    model.built = True
    assert model._maybe_symbolic_build() is None


def test_sublayers():
    _pinned("sublayers")
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="inner_dense")], name="inner")
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="head")])
    names = [layer.name for layer in backend.sublayers(outer) if not layer.name.startswith("input")]
    assert names == ["inner", "inner_dense", "head"]
    assert backend.sublayers(outer, include_self=True)[0] is outer


def test_own_variables():
    _pinned("own_variables")
    from i2ilab.training import OptimizerGroup

    group = OptimizerGroup({"g": (keras.optimizers.Adam(1e-3), [keras.Variable(np.zeros(2, "float32"))])})
    assert [v.name for v in backend.own_variables(group)] == ["iteration", "learning_rate"]
    assert len(group.variables) == 2 + 4  # and the member's iteration, learning rate, two moments


def test_has_schedule():
    _pinned("has_schedule")
    assert not backend.has_schedule(keras.optimizers.Adam(1e-3))
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)
    assert backend.has_schedule(keras.optimizers.Adam(schedule))


@pytest.mark.tf_only
def test_check_distributed_reads_the_optimizer_strategy():
    _pinned("check_distributed")
    import tensorflow as tf

    assert keras.optimizers.Adam(1e-3)._distribution_strategy is tf.distribute.get_strategy()


def test_sync_state_reads_the_jax_fit_state():
    _pinned("sync_state")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(getattr(self.model, "_jax_state", None) is not None)
            backend.sync_state(self.model)

    model.fit(
        np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), batch_size=2, epochs=1, verbose=0, callbacks=[Probe()]
    )
    assert seen == [backend.BACKEND == "jax"] * 2


@pytest.mark.skipif(backend.BACKEND != "tensorflow", reason="the fused Adam kernel is TensorFlow's")
def test_apply_gradients_fused_adam_equals_keras_adam():
    """TensorFlow: a plain keras Adam steps through ResourceApplyAdam; 20 compiled steps with a
    schedule, the optimizer built lazily inside the compiled step, equal Keras' own update to
    float rounding (the same slots and iteration count); Adam with extras keeps Keras' update."""
    _pinned("apply_gradients")
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 8)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")

    def train(make_optimizer, fused):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
        optimizer = make_optimizer()
        variables = model.trainable_variables

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x) - y) ** 2)
            grads = tape.gradient(loss, variables)
            if fused:
                backend.apply_gradients(optimizer, grads, variables)
            else:
                optimizer.apply(grads, variables)

        for _ in range(20):
            step()
        ops = [op.type for op in step.get_concrete_function().graph.get_operations()]
        return model.get_weights(), [v.numpy() for v in optimizer.variables], ops

    def adam():
        return keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-2, 3, 0.5), beta_1=0.5)

    fused, keras_adam = train(adam, True), train(adam, False)
    assert "ResourceApplyAdam" in fused[2] and "ResourceApplyAdam" not in keras_adam[2]
    assert fused[1][0] == keras_adam[1][0] == 20  # the iteration counter
    for a, b in zip(fused[0] + fused[1], keras_adam[0] + keras_adam[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    other_rate = train(lambda: keras.optimizers.Adam(1e-2), True)[0]
    assert max(np.abs(a - b).max() for a, b in zip(fused[0], other_rate, strict=True)) > 0

    def amsgrad():
        return keras.optimizers.Adam(1e-2, amsgrad=True)

    extra = train(amsgrad, True)
    assert "ResourceApplyAdam" not in extra[2]
    for a, b in zip(extra[0], train(amsgrad, False)[0], strict=True):
        np.testing.assert_array_equal(a, b)
