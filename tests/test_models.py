"""Networks: parameter counts (shared/REFERENCE.md section 2), shapes, receptive fields, saving."""

import keras
import numpy as np
import pytest

from i2ilab.models import (
    RECEPTIVE_FIELDS,
    encoder_decoder_generator,
    multiscale_discriminator,
    munit_generator,
    patch_discriminator,
    receptive_field,
    resnet_generator,
    unet_generator,
)


def image_size(model):
    return getattr(model, "image_size", None) or model.input_shape[1]


def count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _np(t):
    return keras.ops.convert_to_numpy(t)


def _images(n, size, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels)).astype("float32")


@pytest.mark.parametrize(
    "factory,kwargs,expected",
    [
        (unet_generator, dict(image_size=256), 54_413_955),
        (unet_generator, dict(image_size=64), 29_244_035),
        (patch_discriminator, dict(in_channels=6, norm="batch"), 2_768_705),
        (patch_discriminator, dict(in_channels=3, norm="instance"), 2_764_737),
        (resnet_generator, dict(n_blocks=9, norm="instance"), 11_378_179),
        (multiscale_discriminator, dict(), 8_271_171),
    ],
    ids=["unet_256", "unet_64", "patchgan_6ch_bn", "patchgan_3ch_in", "resnet_9blocks", "munit_dis"],
)
def test_reference_parameter_counts(factory, kwargs, expected):
    assert count(factory(**kwargs)) == expected


def test_munit_generator_parameter_counts_and_parts():
    g = munit_generator()
    assert count(g) == 15_026_187
    assert count(g.style_encoder) == 2_764_936
    assert count(g.content_encoder) == 5_385_856
    assert count(g.decoder) == 5_754_627
    assert count(g.mlp) == 1_120_768
    assert g.num_adain_params == 4096


def test_unet_defaults_follow_image_size():
    assert len([layer for layer in unet_generator(128, ngf=4).layers if layer.name.startswith("down")]) == 7
    assert len([layer for layer in unet_generator(256, ngf=4).layers if layer.name.startswith("down")]) == 8
    drops = [layer.name for layer in unet_generator(256, ngf=4).layers if getattr(layer, "drop", None)]
    assert drops == ["up6", "up5", "up4"]  # the three 512-wide blocks after the innermost
    with pytest.raises(ValueError, match="not a power of 2"):
        unet_generator(96)
    with pytest.raises(ValueError, match="divisible"):
        unet_generator(64, num_downs=7)


def test_encoder_decoder_has_no_skips_and_fewer_parameters():
    ed, un = encoder_decoder_generator(64, ngf=8), unet_generator(64, ngf=8)
    assert not any(isinstance(layer, keras.layers.Concatenate) for layer in ed.layers)
    assert sum(isinstance(layer, keras.layers.Concatenate) for layer in un.layers) == 5
    assert count(ed) < count(un)
    assert _np(ed(_images(1, 64), training=False)).shape == (1, 64, 64, 3)


@pytest.mark.parametrize("size,expected", [(256, 30), (128, 14), (64, 6)])
def test_patchgan_output_sizes(size, expected):
    d = patch_discriminator(size, in_channels=6, ndf=4)
    assert d.output_shape == (None, expected, expected, 1)
    assert _np(d(_images(2, size, 6))).shape == (2, expected, expected, 1)


def test_multiscale_discriminator_output_sizes():
    d = multiscale_discriminator(256, dim=4)
    assert [tuple(o.shape) for o in d.outputs] == [(None, 16, 16, 1), (None, 8, 8, 1), (None, 4, 4, 1)]
    outs = d(_images(1, 256))
    assert [o.shape for o in outs] == [(1, 16, 16, 1), (1, 8, 8, 1), (1, 4, 4, 1)]


def _input_gradient(model, x, index):
    """d logit[index] / d input, computed with each backend's own autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = model(xt, training=False)[index]
        return tape.gradient(y, xt).numpy()
    if backend == "jax":
        import jax

        tv = [v.value for v in model.trainable_variables]
        ntv = [v.value for v in model.non_trainable_variables]
        return np.asarray(jax.grad(lambda xi: model.stateless_call(tv, ntv, xi, training=False)[0][index])(x))
    import torch

    xt = torch.tensor(x, requires_grad=True)
    model(xt, training=False)[index].backward()
    return xt.grad.numpy()


@pytest.mark.parametrize("n_layers", sorted(RECEPTIVE_FIELDS))
def test_patchgan_receptive_field_measured_from_gradients(n_layers):
    expected = RECEPTIVE_FIELDS[n_layers]
    assert receptive_field(n_layers) == expected
    size = {0: 16, 1: 48, 2: 64, 3: 96, 4: 192, 5: 384}[n_layers]
    d = patch_discriminator(size, in_channels=3, ndf=2, n_layers=n_layers, norm="none")
    out = d.output_shape[1]
    grad = _input_gradient(d, _images(1, size, seed=n_layers), (0, out // 2, out // 2, 0))
    rows = np.nonzero(np.abs(grad).sum(axis=(0, 2, 3)))[0]
    cols = np.nonzero(np.abs(grad).sum(axis=(0, 1, 3)))[0]
    assert rows.max() - rows.min() + 1 == expected
    assert cols.max() - cols.min() + 1 == expected
    assert 0 < rows.min() and rows.max() < size - 1 or n_layers == 0  # field fully inside


@pytest.mark.parametrize(
    "build",
    [
        lambda: unet_generator(32, ngf=4),
        lambda: unet_generator(64, ngf=4, norm="instance"),
        lambda: resnet_generator(32, ngf=4, n_blocks=2),
        lambda: munit_generator(32, dim=4, mlp_dim=8),
    ],
    ids=["unet_bn", "unet_in", "resnet", "munit"],
)
def test_generators_keep_size_and_output_range(build):
    g = build()
    size = image_size(g)
    y = _np(g(5.0 * _images(2, size), training=False))
    assert y.shape == (2, size, size, 3)
    assert -1.0 <= y.min() and y.max() <= 1.0


def test_fully_convolutional_when_image_size_is_none():
    g = unet_generator(None, ngf=4, num_downs=5)
    assert _np(g(_images(1, 64), training=False)).shape == (1, 64, 64, 3)
    assert _np(g(_images(1, 96), training=False)).shape == (1, 96, 96, 3)
    r = resnet_generator(None, ngf=4, n_blocks=1)
    assert _np(r(_images(1, 36))).shape == (1, 36, 36, 3)
    d = patch_discriminator(None, in_channels=3, ndf=4)
    assert _np(d(_images(1, 128, 3))).shape == (1, 14, 14, 1)
    m = munit_generator(None, dim=4, mlp_dim=8)
    c, s = m.encode(_images(1, 48))
    assert c.shape == (1, 12, 12, 16) and s.shape == (1, 8)
    assert _np(m.decode(c, s)).shape == (1, 48, 48, 3)


def test_munit_encode_decode_interface():
    g = munit_generator(32, dim=4, style_dim=5, mlp_dim=8)
    x = _images(2, 32)
    content, style = g.encode(x)
    assert content.shape == (2, 8, 8, 16) and style.shape == (2, 5) and g.style_dim == 5
    np.testing.assert_allclose(_np(g(x)), _np(g.decode(content, style)), rtol=1e-5, atol=1e-6)
    other = _np(g.decode(content, np.random.default_rng(1).normal(size=(2, 5)).astype("float32")))
    assert np.abs(other - _np(g(x))).max() > 1e-3  # the style code changes the output


@pytest.mark.parametrize(
    "build,channels",
    [
        (lambda: unet_generator(32, ngf=4), 3),
        (lambda: encoder_decoder_generator(32, ngf=4), 3),
        (lambda: resnet_generator(32, ngf=4, n_blocks=2), 3),
        (lambda: patch_discriminator(32, in_channels=6, ndf=4, n_layers=2), 6),
        (lambda: patch_discriminator(32, in_channels=6, ndf=4, n_layers=0), 6),
        (lambda: munit_generator(32, dim=4, mlp_dim=8), 3),
        (lambda: multiscale_discriminator(64, dim=4), 3),
    ],
    ids=["unet", "encdec", "resnet", "patchgan", "pixelgan", "munit_gen", "munit_dis"],
)
def test_save_and_load_keras_file_gives_identical_outputs(tmp_path, build, channels):
    model = build()
    x = _images(2, image_size(model), channels)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    before, after = model(x, training=False), loaded(x, training=False)
    for a, b in zip(keras.tree.flatten(before), keras.tree.flatten(after), strict=False):
        np.testing.assert_array_equal(_np(a), _np(b))
    if hasattr(model, "encode"):
        c1, s1 = model.encode(x)
        c2, s2 = loaded.encode(x)
        np.testing.assert_array_equal(_np(s1), _np(s2))
