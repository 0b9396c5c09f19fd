"""BicycleGAN networks: parameter counts of the edges2shoes defaults (shared/seeds/BicycleGAN.md),
shapes, the z injection, the reference init, saving, the registry names."""

import keras
import numpy as np
import pytest

from i2ilab import models
from i2ilab.models.bicyclegan import TileConcat, ZeroCode


def count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _np(t):
    return keras.ops.convert_to_numpy(t)


@pytest.fixture(scope="module")
def full_size():
    with keras.StatelessScope(initialize_variables=False):
        nets = dict(
            g=models.build_model("bicycle_unet_256", image_size=None, in_channels=1),
            g_input=models.build_model("bicycle_unet_256", image_size=None, in_channels=1, where_add="input"),
            g_128=models.build_model("bicycle_unet_128", image_size=None, in_channels=3),
            e=models.build_model("resnet_256"),
            d=models.build_model("basic_256_multi", image_size=256),
        )
    keras.utils.clear_session()
    return nets


def test_edges2shoes_parameter_counts(full_size):
    assert count(full_size["g"]) == 54_792_579
    assert count(full_size["g_input"]) == 54_415_747
    assert count(full_size["e"]) == 2_590_032
    assert count(full_size["d"]) == 3_458_978
    assert all(not net.non_trainable_weights for net in full_size.values())  # InstanceNorm only


def test_layer_widths_follow_the_reference(full_size):
    g = full_size["g"]
    # every down conv sees its input's channels + nz (9, 72, 136, 264, 520, 520, 520, 520)
    ins = [g.get_layer(f"down{i}").conv.kernel.shape[2] for i in range(8)]
    assert ins == [9, 72, 136, 264, 520, 520, 520, 520]
    assert [g.get_layer(f"up{i}").dropout for i in range(8)] == [0, 0, 0, 0, 0.5, 0.5, 0.5, 0]
    assert full_size["g_input"].get_layer("down1").conv.kernel.shape[2] == 64
    # scale 0: ndf 64 (2,764,737 as the 70x70 PatchGAN on 3 channels), scale 1: ndf 32
    d = full_size["d"]
    assert d.output_shape == [(None, 30, 30, 1), (None, 14, 14, 1)]
    scale1 = sum(int(np.prod(w.shape)) for w in d.trainable_weights if "d1_" in w.path)
    assert scale1 == 694_241
    e = full_size["e"]
    assert [e.get_layer(f"block{k}").filters for k in range(1, 5)] == [128, 192, 256, 256]
    assert [tuple(s) for s in e.output_shape] == [(None, 8), (None, 8)]


def test_tile_concat_puts_z_after_the_channels_at_every_pixel():
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype("float32")
    z = np.array([[1.0, -2.0], [3.0, 0.5]], "float32")
    out = _np(TileConcat()(x, z))
    assert out.shape == (2, 3, 5, 6)
    np.testing.assert_array_equal(out[..., :4], x)
    np.testing.assert_array_equal(out[..., 4:], np.broadcast_to(z[:, None, None, :], (2, 3, 5, 2)))


def test_small_generator_uses_z_and_image():
    keras.utils.set_random_seed(0)
    g = models.bicycle_unet_generator(32, in_channels=1, nz=4, ngf=8, num_downs=5, dropout=False)
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    z = rng.standard_normal((2, 4)).astype("float32")
    y = _np(g([a, z]))
    assert y.shape == (2, 32, 32, 3) and np.abs(y).max() <= 1.0
    assert np.abs(_np(g([a, -z])) - y).max() > 1e-4
    assert np.abs(_np(g([a[::-1], z])) - y).max() > 1e-4


def test_xavier_init_with_gain_002():
    keras.utils.set_random_seed(0)
    d = models.bicycle_discriminator(None, ndf=64, num_D=1)
    kernel = _np(d.get_layer("d0_conv2").conv.kernel)  # (4, 4, 128, 256)
    fan_in, fan_out = 16 * 128, 16 * 256
    expected = 0.02 * np.sqrt(2.0 / (fan_in + fan_out))
    assert kernel.std() == pytest.approx(expected, rel=0.02)
    assert np.all(_np(d.get_layer("d0_conv2").conv.bias) == 0)


def test_save_and_load_keep_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    nets = dict(
        g=models.bicycle_unet_generator(16, nz=2, ngf=4, num_downs=4),
        e=models.bicycle_encoder(32, nz=2, ndf=4, n_blocks=2),
        d=models.bicycle_discriminator(32, ndf=4, n_layers=2),
    )
    rng = np.random.default_rng(1)
    inputs = dict(
        g=[rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"), rng.standard_normal((2, 2)).astype("float32")],
        e=rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"),
        d=rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32"),
    )
    for name, net in nets.items():
        path = tmp_path / f"{name}.keras"
        net.save(path)
        loaded = keras.saving.load_model(path)
        for a, b in zip(keras.tree.flatten(net(inputs[name])), keras.tree.flatten(loaded(inputs[name])), strict=True):
            np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6, atol=1e-6)


def test_noise_encoder_gives_zero_codes_and_has_no_weights(tmp_path):
    """mu = logvar = 0 of shape (B, nz) whatever the image; no variables; saved and loaded as .keras
    (ZeroCode's nz in its config)."""
    e = models.noise_encoder(16, in_channels=3, nz=5)
    assert not e.weights and count(e) == 0
    x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 3)).astype("float32")
    mu, logvar = (_np(t) for t in e(x))
    for code in (mu, logvar):
        assert code.shape == (3, 5) and code.dtype == np.float32
        np.testing.assert_array_equal(code, 0.0)
    assert [tuple(s) for s in e.output_shape] == [(None, 5), (None, 5)]
    layer = e.get_layer("mu")
    assert isinstance(layer, ZeroCode) and layer.get_config()["nz"] == 5
    assert ZeroCode.from_config(layer.get_config()).nz == 5
    path = tmp_path / "noise.keras"
    e.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("logvar"), ZeroCode) and not loaded.weights
    for code in loaded(x[:2]):
        assert _np(code).shape == (2, 5)
        np.testing.assert_array_equal(_np(code), 0.0)
    sized = models.noise_encoder(None, in_channels=1, nz=2)(np.zeros((1, 8, 8, 1), "float32"))
    assert [_np(t).shape for t in sized] == [(1, 2), (1, 2)]


def test_size_errors_name_the_fix():
    with pytest.raises(ValueError, match="takes 256x256 images"):
        models.build_model("resnet_256", image_size=128)
    with pytest.raises(ValueError, match="not divisible by 2\\*\\*num_downs=256"):
        models.build_model("bicycle_unet_256", image_size=128)
    with pytest.raises(ValueError, match="where_add='some'"):
        models.bicycle_unet_generator(32, num_downs=5, where_add="some")
    with pytest.raises(ValueError, match="means num_downs=8"):
        models.build_model("bicycle_unet_256", num_downs=7)


class LabInjection(keras.layers.Layer):
    """A lab's own z injection: reshape z to (B, 1, 1, nz), tile it, concatenate after x."""

    def call(self, x, z):
        shape = keras.ops.shape(x)
        tiled = keras.ops.tile(keras.ops.reshape(z, (shape[0], 1, 1, z.shape[-1])), (1, shape[1], shape[2], 1))
        return keras.ops.concatenate([x, tiled], axis=-1)


class ForgetsZ(keras.layers.Layer):
    def call(self, x, z):
        return x


def test_a_lab_z_layer_builds_the_same_network():
    keras.utils.set_random_seed(0)
    library = models.bicycle_unet_generator(32, in_channels=1, nz=3, ngf=4, num_downs=5, dropout=False)
    own = models.bicycle_unet_generator(
        32, in_channels=1, nz=3, ngf=4, num_downs=5, dropout=False, z_layer=LabInjection
    )
    assert [layer.name for layer in own.layers] == [layer.name for layer in library.layers]
    own.set_weights(library.get_weights())
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (2, 32, 32, 1)).astype("float32")
    z = rng.standard_normal((2, 3)).astype("float32")
    np.testing.assert_allclose(_np(own([a, z])), _np(library([a, z])), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="injecting z must give \\(32, 32, 4\\)"):
        models.bicycle_unet_generator(32, in_channels=1, nz=3, ngf=4, num_downs=5, z_layer=ForgetsZ)
