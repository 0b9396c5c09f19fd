"""Lab 3's extension points: a student's pieces inside the library's CycleGAN, on the current backend.

- ``resnet_generator(..., block=cls)`` stacks ``cls(filters, name="res<i>")`` where the library
  stacks ``i2ilab.layers.ResnetBlock``;
- ``ImagePool(..., rule=fn)``: the pool keeps its variables and draws, and applies the pure
  per-image rule ``fn(buffer, count, image, u, pick) -> (output, buffer, count)`` inside the
  compiled step; the default rule is ``i2ilab.training.pool.pool_update``;
- ``CycleGAN(..., gan_mode=<GAN loss object>, cycle_loss=fn, identity_loss=fn, pool_rule=fn)``.

Run on both backends (``KERAS_BACKEND=jax ...``). The defaults keep the trainer as it was: the
existing trainer tests (test_training_engine, test_training_learning, test_training_parity,
test_distribute) check that.
"""

import keras
import numpy as np
import pytest
from keras import ops

from i2ilab import layers, losses
from i2ilab.models import patch_discriminator, resnet_generator
from i2ilab.training import CycleGAN, GANTrainer, ImagePool
from i2ilab.training.pool import pool_update


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


# ----------------------------------------------------------------- the pieces a lab writes


class LabResnetBlock(keras.layers.Layer):
    """The lab's residual block (Exercise 1), written from the layers, not the library block."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.pad = layers.ReflectionPadding2D(1)
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="valid", kernel_initializer=layers.reference_init())
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="valid", kernel_initializer=layers.reference_init())
        self.norm = layers.InstanceNormalization()

    def call(self, x):
        y = ops.relu(self.norm(self.conv1(self.pad(x))))
        return x + self.norm(self.conv2(self.pad(y)))


def mask_rule(buffer, count, image, u, pick):
    """The pool rule written another way (a one-hot mask instead of slice_update)."""
    size = buffer.shape[0]
    filling = count < size
    swap = ops.logical_and(ops.logical_not(filling), u > 0.5)
    index = ops.where(filling, count, pick)
    stored = buffer[index]
    slot = ops.reshape(ops.arange(size) == index, (size, 1, 1, 1))
    write = ops.where(ops.logical_or(filling, swap), image, stored)
    return ops.where(swap, stored, image), ops.where(slot, write[None], buffer), count + ops.cast(filling, "int32")


def lsgan_d(real, fake):
    return ops.mean(ops.square(real - 1.0)), ops.mean(ops.square(fake))


def lsgan_g(fake):
    return ops.mean(ops.square(fake - 1.0))


def mean_abs(x, y):
    return ops.mean(ops.abs(x - y))


# ------------------------------------------------------------------------ resnet_generator


def test_resnet_generator_stacks_the_given_block_class():
    keras.utils.set_random_seed(0)
    default = resnet_generator(16, ngf=4, n_blocks=2)
    custom = resnet_generator(16, ngf=4, n_blocks=2, block=LabResnetBlock)
    blocks = [layer for layer in custom.layers if layer.name.startswith("res")]
    assert [type(b) for b in blocks] == [LabResnetBlock, LabResnetBlock]
    assert [b.name for b in blocks] == ["res0", "res1"]
    assert all(type(layer) is layers.ResnetBlock for layer in default.layers if layer.name.startswith("res"))
    assert custom.count_params() == default.count_params()
    # Same weights -> same function: the block sits where the library's block sits.
    custom.set_weights(default.get_weights())
    x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(numpy(custom(x)), numpy(default(x)), atol=1e-5)


def test_resnet_generator_block_any_callable_and_dropout_rule():
    made = []

    def factory(filters, name):
        made.append((filters, name))
        return LabResnetBlock(filters, name=name)

    resnet_generator(16, ngf=2, n_blocks=3, n_downsampling=1, block=factory)
    assert made == [(4, "res0"), (4, "res1"), (4, "res2")]
    with pytest.raises(ValueError, match="dropout=True applies to the library's ResnetBlock only"):
        resnet_generator(16, ngf=2, n_blocks=1, dropout=True, block=LabResnetBlock)


# ------------------------------------------------------------------------ the pool's rule


def _state(size=3, shape=(2, 2, 1)):
    return ops.zeros((size,) + shape), ops.convert_to_tensor(0, "int32")


def _feed(rule, values, us, picks, size=3):
    buffer, count = _state(size)
    outputs, counts = [], []
    for value, u, pick in zip(values, us, picks, strict=True):
        out, buffer, count = rule(
            buffer,
            count,
            ops.full((2, 2, 1), float(value)),
            ops.convert_to_tensor(u, "float32"),
            ops.convert_to_tensor(pick, "int32"),
        )
        outputs.append(float(numpy(out)[0, 0, 0]))
        counts.append(int(numpy(count)))
    return outputs, counts, numpy(buffer)[:, 0, 0, 0].tolist()


@pytest.mark.parametrize("rule", [pool_update, mask_rule], ids=["pool_update", "mask_rule"])
def test_pool_rule_with_explicit_draws(rule):
    outputs, counts, final = _feed(rule, [1, 2, 3, 4, 5, 6], [0.9, 0.9, 0.9, 0.1, 0.7, 0.7], [0, 0, 0, 1, 1, 1])
    assert outputs == [1, 2, 3, 4, 2, 5]  # fill; u <= 0.5 keeps the new one; swaps return the stored one
    assert counts == [1, 2, 3, 3, 3, 3]
    assert final == [1, 6, 3]


def _replay(rule, batches, seed, size):
    """What an ImagePool(size, seed=seed) should return: the rule applied to its draws, in order."""
    generator = keras.random.SeedGenerator(seed)
    buffer, count = _state(size, batches[0].shape[1:])
    results = []
    for images in batches:
        u = keras.random.uniform((len(images),), seed=generator)
        picks = keras.random.randint((len(images),), 0, size, seed=generator)
        outs = []
        for i in range(len(images)):
            out, buffer, count = rule(buffer, count, ops.convert_to_tensor(images[i]), u[i], picks[i])
            outs.append(numpy(out))
        results.append(np.stack(outs))
    return results, numpy(buffer), int(numpy(count))


@pytest.mark.parametrize("custom", [False, True], ids=["default", "rule=mask_rule"])
def test_image_pool_applies_its_rule_to_its_own_draws(custom):
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(3, 2, 3, 1)).astype("float32") for _ in range(6)]
    pool = ImagePool(4, image_shape=(2, 3, 1), seed=7, rule=mask_rule if custom else None)
    assert pool.rule is (mask_rule if custom else pool_update)
    got = [numpy(pool.query(b)) for b in batches]
    want, buffer, count = _replay(pool_update, batches, seed=7, size=4)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(numpy(pool.buffer), buffer)
    assert int(numpy(pool.count)) == count == 4


def test_image_pool_custom_rule_keeps_the_variables():
    default, custom = ImagePool(5, image_shape=(2, 2, 3)), ImagePool(5, image_shape=(2, 2, 3), rule=mask_rule)

    def layout(pool):
        return [(v.name, tuple(v.shape), v.dtype) for v in pool.variables]

    assert layout(custom) == layout(default)
    assert [v.name for v in default.non_trainable_variables] == ["buffer", "count", "seed_generator_state"]
    assert "rule" not in custom.get_config()


def test_image_pool_rule_errors_say_what_is_wrong():
    with pytest.raises(TypeError, match="rule must be a function"):
        ImagePool(2, rule="reference")
    x = np.zeros((2, 2, 2, 1), "float32")

    def flat_output(buffer, count, image, u, pick):
        out, buffer, count = pool_update(buffer, count, image, u, pick)
        return ops.reshape(out, (-1,)), buffer, count

    with pytest.raises(ValueError, match=r"the rule's output has shape \(4,\), expected \(2, 2, 1\)"):
        ImagePool(2, image_shape=(2, 2, 1), rule=flat_output).query(x)
    with pytest.raises(ValueError, match=r"must return \(output, buffer, count\)"):
        ImagePool(2, image_shape=(2, 2, 1), rule=lambda b, c, i, u, p: i).query(x)

    def float_count(buffer, count, image, u, pick):
        out, buffer, count = pool_update(buffer, count, image, u, pick)
        return out, buffer, ops.cast(count, "float32")

    pool = ImagePool(2, image_shape=(2, 2, 1), rule=float_count)  # cast back to int32
    pool.query(x)
    assert int(numpy(pool.count)) == 2


class RuleProbe(GANTrainer):
    """An ImagePool with a custom rule inside fit's compiled step."""

    def __init__(self, rule, pool_size=4):
        super().__init__(("mean",))
        self.net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        self.pool = ImagePool(pool_size, image_shape=(2, 2, 1), seed=5, rule=rule)
        self.built = True

    @property
    def networks(self):
        return {"net": self.net}

    def _optimizer_targets(self):
        return {"g": self.net.trainable_variables}

    def _train_step(self, data):
        x, _ = data
        self.trackers["mean"].update_state(ops.mean(self.pool.query(x)))


def test_custom_rule_runs_inside_compiled_fit():
    calls = []

    def counting_rule(*args):
        calls.append(1)  # Python side effect: runs while the step is traced (or eagerly)
        return mask_rule(*args)

    x = np.broadcast_to(np.arange(24, dtype="float32")[:, None, None, None], (24, 2, 2, 1)).copy()
    probes = {}
    for name, rule in (("default", None), ("custom", counting_rule)):
        probes[name] = RuleProbe(rule)
        probes[name].compile()
        probes[name].fit(x, x, batch_size=3, epochs=1, shuffle=False, verbose=0)
    assert len(calls) >= 3  # at least one trace of a batch of 3
    np.testing.assert_array_equal(numpy(probes["custom"].pool.buffer), numpy(probes["default"].pool.buffer))
    assert int(numpy(probes["custom"].pool.count)) == 4


# ------------------------------------------------------------------------------ CycleGAN


def _cyclegan(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    nets = [resnet_generator(16, ngf=4, n_blocks=1, name=n) for n in ("g_ab", "g_ba")]
    nets += [patch_discriminator(16, 3, ndf=4, n_layers=1, norm="instance", name=n) for n in ("d_a", "d_b")]
    trainer = CycleGAN(*nets, pool_size=3, seed=seed, image_shape=(16, 16, 3), **kwargs)
    trainer.compile()
    return trainer


def _data(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, 16, 16, 3)).astype("float32"), rng.uniform(-1, 1, (n, 16, 16, 3)).astype("float32"))


def _weights(trainer):
    return [numpy(v) for net in trainer.networks.values() for v in net.weights]


def test_cyclegan_with_equivalent_pieces_trains_as_the_default():
    a, b = _data()
    default = _cyclegan()
    mine = _cyclegan(
        gan_mode=losses.FunctionGANLoss(lsgan_d, lsgan_g, name="lab"),
        cycle_loss=mean_abs,
        identity_loss=mean_abs,
        pool_rule=mask_rule,
    )
    assert mine.pool_a.rule is mask_rule and mine.pool_b.rule is mask_rule

    def layout(t):
        return [(v.path.split("/", 1)[1], tuple(v.shape)) for v in t.pool_a.variables + t.pool_b.variables]

    assert layout(mine) == layout(default)
    logs = {}
    for name, trainer in (("default", default), ("mine", mine)):
        logs[name] = trainer.fit(a, b, batch_size=2, epochs=2, shuffle=False, verbose=0).history
    assert set(logs["mine"]) == set(logs["default"])
    for key in logs["default"]:
        np.testing.assert_allclose(logs["mine"][key], logs["default"][key], rtol=1e-4, atol=1e-6, err_msg=key)
    for w_mine, w_default in zip(_weights(mine), _weights(default), strict=True):
        np.testing.assert_allclose(w_mine, w_default, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy(mine.pool_b.buffer), numpy(default.pool_b.buffer), rtol=1e-4, atol=1e-5)


def test_cyclegan_uses_the_given_loss_functions():
    a, b = _data(2)
    logs = {}
    for name, kwargs in (
        ("default", {}),
        (
            "doubled",
            {
                "cycle_loss": lambda r, x: 2.0 * mean_abs(r, x),
                "identity_loss": lambda r, x: 3.0 * mean_abs(r, x),
                "gan_mode": losses.FunctionGANLoss(
                    lambda r, f: (0.0 * ops.mean(r), 5.0 * ops.mean(ops.square(f))), lambda f: 4.0 * lsgan_g(f)
                ),
            },
        ),
    ):
        trainer = _cyclegan(**kwargs)
        logs[name] = {k: float(v) for k, v in trainer.train_on_batch(a, b, return_dict=True).items()}
    # The generators' terms are computed before any update of this step: exactly the factors.
    for key, factor in (("cycle_A", 2.0), ("cycle_B", 2.0), ("idt_A", 3.0), ("idt_B", 3.0), ("G_A", 4.0), ("G_B", 4.0)):
        np.testing.assert_allclose(logs["doubled"][key], factor * logs["default"][key], rtol=1e-4, err_msg=key)
    assert logs["doubled"]["D_A"] != pytest.approx(logs["default"]["D_A"], rel=1e-3)


def test_cyclegan_gan_loss_object_with_penalty_logs_it():
    class Critic(losses.GANLoss):
        pass

    trainer = _cyclegan(gan_mode=Critic("wgangp"))
    assert "D_gp" in trainer.trackers
    with pytest.raises(ValueError, match="gan_mode must be one of"):
        _cyclegan(gan_mode=42)
