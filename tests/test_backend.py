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
