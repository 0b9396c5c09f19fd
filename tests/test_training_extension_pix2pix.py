"""Lab 2's extension points: a student's U-Net encoder block in the generator factories
(``unet_generator(..., down_block=...)``, ``encoder_decoder_generator(..., down_block=...)``) and a
student's losses in ``Pix2Pix`` (``gan_mode=losses.FunctionGANLoss(...)``, ``l1_loss=...``).

Run on both backends (``KERAS_BACKEND=jax`` too). Defaults keep the library's networks exactly.
"""

import keras
import numpy as np
import pytest
from keras import ops

from i2ilab import losses
from i2ilab.layers import UNetDown
from i2ilab.models import encoder_decoder_generator, patch_discriminator, unet_generator
from i2ilab.training import Pix2Pix


def keras_unet_down(filters, norm="batch", outermost=False, innermost=False):
    """Lab 2's UNetDown solution: the library's block spelled with standard Keras layers."""
    init = keras.initializers.RandomNormal(0.0, 0.02)
    layers = [] if outermost else [keras.layers.LeakyReLU(negative_slope=0.2)]
    layers += [
        keras.layers.ZeroPadding2D(1),
        keras.layers.Conv2D(filters, 4, strides=2, padding="valid", use_bias=norm != "batch", kernel_initializer=init),
    ]
    if norm == "batch" and not (outermost or innermost):
        layers.append(keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5))
    return keras.Sequential(layers)


def _signature(model):
    return [(w.path, tuple(w.shape)) for w in model.weights]


@pytest.mark.parametrize("factory", [unet_generator, encoder_decoder_generator])
def test_default_down_block_is_the_library_block(factory):
    default = factory(32, ngf=8)
    explicit = factory(32, ngf=8, down_block=None)
    assert _signature(default) == _signature(explicit)
    names = [layer.name for layer in default.layers]
    assert [n for n in names if n.startswith("down")] == [f"down{i}" for i in range(5)]
    assert all(isinstance(default.get_layer(f"down{i}"), UNetDown) for i in range(5))
    # The library class passed explicitly takes name=, so its blocks keep the names down<i>.
    assert _signature(factory(32, ngf=8, down_block=UNetDown)) == _signature(default)


def test_unet_256_parameter_count_with_a_keras_block():
    g = unet_generator(256, down_block=keras_unet_down)
    assert sum(int(np.prod(w.shape)) for w in g.trainable_weights) == 54_413_955


@pytest.mark.parametrize("factory", [unet_generator, encoder_decoder_generator])
def test_down_block_is_called_per_level_with_the_same_arguments(factory):
    calls = []

    def recording(filters, norm="batch", outermost=False, innermost=False):
        calls.append((filters, norm, outermost, innermost))
        return keras_unet_down(filters, norm=norm, outermost=outermost, innermost=innermost)

    g = factory(32, ngf=8, norm="none", down_block=recording)
    assert calls == [
        (8, "none", True, False),
        (16, "none", False, False),
        (32, "none", False, False),
        (64, "none", False, False),
        (64, "none", False, True),
    ]
    assert tuple(g.output.shape) == (None, 32, 32, 3)
    library = factory(32, ngf=8, norm="none")

    def count(m):
        return sum(int(np.prod(w.shape)) for w in m.trainable_weights)

    assert count(g) == count(library)


def test_a_keras_block_gives_the_library_networks_numbers():
    """Same weights in both: the U-Net built from the Keras-layer block computes the library's U-Net
    (inference mode; dropout off)."""
    ref = unet_generator(32, ngf=8, dropout=False)
    mine = unet_generator(32, ngf=8, dropout=False, down_block=keras_unet_down)
    assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in ref.weights]
    rng = np.random.default_rng(0)
    weights = [rng.normal(0.0, 0.1, size=w.shape).astype(np.float32) for w in ref.weights]
    weights = [np.abs(w) + 0.5 if "variance" in v.path else w for w, v in zip(weights, ref.weights, strict=True)]
    ref.set_weights(weights)
    mine.set_weights(weights)
    x = rng.uniform(-1, 1, size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(
        ops.convert_to_numpy(mine(x, training=False)),
        ops.convert_to_numpy(ref(x, training=False)),
        rtol=1e-4,
        atol=1e-5,
    )


def test_a_block_of_the_wrong_size_is_refused_with_the_shapes():
    def same_size(filters, norm="batch", outermost=False, innermost=False):
        return keras.layers.Conv2D(filters, 3, padding="same")

    with pytest.raises(ValueError, match=r"maps \(32, 32, 3\) to \(32, 32, 8\).*\(16, 16, 8\)"):
        unet_generator(32, ngf=8, down_block=same_size)


# --- the losses of lab 2 in the trainer ----------------------------------------------------------


def lab_discriminator_loss(real_logits, fake_logits):
    return ops.mean(ops.softplus(-real_logits)), ops.mean(ops.softplus(fake_logits))


def lab_generator_loss(fake_logits, generated, target):
    return ops.mean(ops.softplus(-fake_logits)), ops.mean(ops.abs(target - generated))


_NO = np.zeros((1, 1, 1, 1), np.float32)
LAB_GAN = losses.FunctionGANLoss(lab_discriminator_loss, lambda f: lab_generator_loss(f, _NO, _NO)[0], name="lab2")


def lab_l1(generated, target):
    return lab_generator_loss(_NO, generated, target)[1]


def _one_step(gan_mode, l1_loss, down_block=None):
    keras.utils.set_random_seed(3)
    g = unet_generator(16, ngf=4, dropout=False, down_block=down_block)
    d = patch_discriminator(16, 6, ndf=4, n_layers=1)
    trainer = Pix2Pix(g, d, gan_mode=gan_mode, l1_loss=l1_loss, seed=0)
    trainer.compile()
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(2, 16, 16, 3)).astype(np.float32)
    y = rng.uniform(-1, 1, size=(2, 16, 16, 3)).astype(np.float32)
    history = trainer.fit(x, y, batch_size=2, epochs=1, verbose=0)
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    return logs, [ops.convert_to_numpy(w) for w in g.weights + d.weights]


def test_lab_losses_in_pix2pix_equal_the_library_losses():
    """One step with the lab's losses (pairs of terms, via FunctionGANLoss and l1_loss=) logs the
    same G_GAN, G_L1, D_real, D_fake and makes the same update as gan_mode="vanilla"."""
    ref_logs, ref_weights = _one_step("vanilla", None)
    logs, weights = _one_step(LAB_GAN, lab_l1)
    assert set(logs) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    for key, value in ref_logs.items():
        assert np.isclose(logs[key], value, rtol=1e-5, atol=1e-7), (key, logs[key], value)
    for got, want in zip(weights, ref_weights, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5)


def test_swapped_labels_change_the_logged_terms():
    """A D loss with real and fake labels swapped is what the trainer logs (D_real = BCE(real, 0))."""

    def swapped(real_logits, fake_logits):
        return ops.mean(ops.softplus(real_logits)), ops.mean(ops.softplus(-fake_logits))

    ref_logs, _ = _one_step("vanilla", None)
    logs, _ = _one_step(losses.FunctionGANLoss(swapped, LAB_GAN._g_loss), lab_l1)
    assert not np.isclose(logs["D_real"], ref_logs["D_real"], rtol=1e-3)


def test_student_pieces_train_on_this_backend():
    """The lab's configuration: Keras-layer encoder blocks, the lab's losses; a few steps move G and D."""
    logs, weights = _one_step(LAB_GAN, lab_l1, down_block=keras_unet_down)
    assert all(np.isfinite(v) for v in logs.values()), logs
    keras.utils.set_random_seed(3)
    fresh = unet_generator(16, ngf=4, dropout=False, down_block=keras_unet_down)
    fresh_d = patch_discriminator(16, 6, ndf=4, n_layers=1)
    before = [ops.convert_to_numpy(w) for w in fresh.weights + fresh_d.weights]
    assert any(not np.allclose(a, b) for a, b in zip(before, weights, strict=True)), "one step changed no weight"
