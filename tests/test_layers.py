"""Layers against direct NumPy computations, and their get_config round trips."""

import keras
import numpy as np
import pytest

from i2ilab import layers as L

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.normal(size=shape).astype("float32") * 2.0 + 0.5


def _np(t):
    return keras.ops.convert_to_numpy(t)


def test_reflection_padding_matches_numpy_reflect():
    x = _x(2, 5, 6, 3)
    y = _np(L.ReflectionPadding2D(((1, 2), (3, 0)))(x))
    ref = np.pad(x, [(0, 0), (1, 2), (3, 0), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(y, ref)
    assert L.ReflectionPadding2D(3).compute_output_shape((None, 10, None, 4)) == (None, 16, None, 4)


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_matches_numpy(affine):
    x = _x(3, 7, 5, 4)
    layer = L.InstanceNormalization(affine=affine)
    layer.build(x.shape)
    if affine:
        layer.gamma.assign(np.array([1.0, 2.0, 0.5, -1.0], "float32"))
        layer.beta.assign(np.array([0.0, 0.1, -0.2, 0.3], "float32"))
    y = _np(layer(x))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)  # biased, as torch InstanceNorm2d
    ref = (x - mean) / np.sqrt(var + 1e-5)
    if affine:
        ref = ref * np.array([1.0, 2.0, 0.5, -1.0]) + np.array([0.0, 0.1, -0.2, 0.3])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    assert len(layer.trainable_weights) == (2 if affine else 0)


def test_adain_matches_numpy():
    x, gamma, beta = _x(2, 6, 6, 5), _x(2, 5), _x(2, 5)
    y = _np(L.AdaIN()(x, gamma, beta))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    ref = gamma[:, None, None, :] * (x - mean) / np.sqrt(var + 1e-5) + beta[:, None, None, :]
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_adain_has_no_state_and_no_mutation():
    layer = L.AdaIN()
    x = _x(1, 4, 4, 2)
    a = _np(layer(x, np.ones((1, 2), "float32"), np.zeros((1, 2), "float32")))
    b = _np(layer(x, 2 * np.ones((1, 2), "float32"), np.zeros((1, 2), "float32")))
    np.testing.assert_allclose(b, 2 * a, rtol=1e-6, atol=1e-6)
    assert layer.weights == []


def test_munit_layer_norm_matches_numpy_and_differs_from_keras_layernorm():
    x = _x(2, 4, 3, 6)
    layer = L.MUNITLayerNorm()
    layer.build(x.shape)
    gamma = RNG.uniform(size=6).astype("float32")
    beta = RNG.normal(size=6).astype("float32")
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y = _np(layer(x))
    flat = x.reshape(2, -1)
    mean = flat.mean(1)[:, None, None, None]
    std = flat.std(1, ddof=1)[:, None, None, None]  # unbiased, eps on the std
    ref = (x - mean) / (std + 1e-5) * gamma + beta
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    keras_ln = keras.layers.LayerNormalization(axis=[1, 2, 3], epsilon=1e-5)
    assert np.abs(_np(keras_ln(x)) - (x - mean) / (std + 1e-5)).max() > 1e-3


def test_munit_layer_norm_gamma_init_is_uniform_01():
    layer = L.MUNITLayerNorm()
    layer.build((1, 2, 2, 4096))
    g = _np(layer.gamma)
    assert 0.0 <= g.min() and g.max() <= 1.0 and abs(g.mean() - 0.5) < 0.05


def test_downsample_avg_pool_excludes_padding_from_the_count():
    x = _x(1, 6, 5, 2)
    y = _np(L.DownsampleAvgPool()(x))
    assert y.shape == (1, 3, 3, 2)
    ref = np.zeros_like(y)
    for i in range(3):
        for j in range(3):
            rows = slice(max(2 * i - 1, 0), min(2 * i + 2, 6))
            cols = slice(max(2 * j - 1, 0), min(2 * j + 2, 5))
            ref[0, i, j] = x[0, rows, cols].mean(axis=(0, 1))
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_conv_block_matches_direct_convolution_with_reflect_padding():
    x = _x(1, 6, 6, 2)
    block = L.ConvBlock(3, 3, strides=2, padding=1, pad_mode="reflect", activation="lrelu")
    y = _np(block(x))
    w, b = (_np(v) for v in block.conv.weights)
    xp = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    ref = np.zeros((1, 3, 3, 3), "float32")
    for i in range(3):
        for j in range(3):
            patch = xp[0, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]
            ref[0, i, j] = np.tensordot(patch, w, axes=3) + b
    ref = np.where(ref > 0, ref, 0.2 * ref)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kernel,pad_mode,size",
    [
        (5, "reflect", (6, 7)),
        (5, "reflect", (2, 2)),
        (3, "reflect", (4, 5)),
        (7, "reflect", (5, 4)),
        (5, "zero", (4, 5)),
        (7, "zero", (3, 3)),
    ],
)
def test_upsample_conv_block_equals_upsampling_then_conv(kernel, pad_mode, size):
    """Phase convolution + border strips == UpSampling2D(2) -> pad k//2 -> conv k, in value and
    in the gradients w.r.t. the input and every weight (same weights, same names)."""
    from i2ilab.training import backend as shim

    x = _x(2, *size, 3)
    block = L.UpsampleConvBlock(4, kernel, pad_mode=pad_mode, norm="layer", activation="relu", name="up0")
    plain = L.ConvBlock(4, kernel, padding=kernel // 2, pad_mode=pad_mode, norm="layer", activation="relu")
    upsample = keras.layers.UpSampling2D(2, interpolation="nearest")
    block.build(x.shape)
    plain.build(upsample.compute_output_shape(x.shape))
    block.conv.bias.assign(RNG.normal(size=4).astype("float32"))
    block.norm_layer.gamma.assign(RNG.uniform(0.5, 2, size=4).astype("float32"))
    plain.set_weights(block.get_weights())
    assert [v.path for v in block.weights] == ["up0/conv/kernel", "up0/conv/bias", "up0/norm/gamma", "up0/norm/beta"]
    assert block.compute_output_shape((None, 3, 5, 3)) == (None, 6, 10, 4)
    assert block.conv.kernel.shape == (kernel, kernel, 3, 4)

    weights = RNG.normal(size=(2, 2 * size[0], 2 * size[1], 4)).astype("float32")
    results = []
    for layer, prepare in ((block, lambda t: t), (plain, upsample)):

        def objective(t, layer=layer, prepare=prepare):
            y = layer(prepare(t))
            return keras.ops.sum(y * weights), y

        _, y, grads, (x_grad,) = shim.value_and_grad(objective, layer.trainable_variables, (x,))
        results.append([_np(y), _np(x_grad)] + [_np(g) for g in grads])
    assert results[0][0].shape == (2, 2 * size[0], 2 * size[1], 4)
    for ours, reference in zip(*results, strict=False):
        np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=2e-5)


def test_upsample_conv_block_rejects_even_kernels():
    with pytest.raises(ValueError, match="kernel_size=4 must be an odd int"):
        L.UpsampleConvBlock(4, 4)


def test_conv_bias_follows_the_norm_rule():
    assert not L.ConvBlock(4, 3, norm="batch").use_bias
    assert L.ConvBlock(4, 3, norm="instance").use_bias
    block = L.ConvBlock(4, 3, padding=1, norm="batch")
    block.build((None, 8, 8, 2))
    assert len(block.conv.weights) == 1


def test_reference_init_statistics():
    block = L.ConvBlock(256, 4, norm="batch")
    block.build((None, 8, 8, 64))
    w = _np(block.conv.kernel)
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    gamma = _np(block.norm_layer.gamma)
    assert abs(gamma.mean() - 1.0) < 0.01 and abs(gamma.std() - 0.02) < 0.01
    assert block.norm_layer.epsilon == 1e-5 and abs(block.norm_layer.momentum - 0.9) < 1e-9


@pytest.mark.parametrize(
    "kernel,padding,output_padding,size,expected",
    [(4, 1, 0, 5, 10), (3, 1, 1, 5, 10), (3, 0, 0, 4, 9)],
)
def test_conv_transpose_block_torch_padding_semantics(kernel, padding, output_padding, size, expected):
    x = _x(1, size, size, 2)
    block = L.ConvTransposeBlock(3, kernel, strides=2, padding=padding, output_padding=output_padding)
    y = _np(block(x))
    assert y.shape == (1, expected, expected, 3)
    assert block.compute_output_shape((1, size, size, 2)) == (1, expected, expected, 3)
    # Direct scatter-add transposed convolution, then the torch crop.
    w, b = (_np(v) for v in block.conv.weights)  # (k, k, out, in)
    full = np.zeros((1, (size - 1) * 2 + kernel, (size - 1) * 2 + kernel, 3), "float32")
    for i in range(size):
        for j in range(size):
            full[0, 2 * i : 2 * i + kernel, 2 * j : 2 * j + kernel] += np.einsum("c,hwoc->hwo", x[0, i, j], w)
    end = full.shape[1] - (padding - output_padding)
    ref = full[:, padding:end, padding:end] + b
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


def test_leaky_relu_slope_is_0_2():
    y = _np(L.activate(np.array([-1.0, 2.0], "float32"), "lrelu"))
    np.testing.assert_allclose(y, [-0.2, 2.0])


def test_resnet_block_is_residual_and_checks_width():
    block = L.ResnetBlock(4)
    x = _x(2, 6, 6, 4)
    y = _np(block(x))
    inner = _np(block.conv2(block.conv1(x)))
    np.testing.assert_allclose(y, x + inner, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="keeps the channel count"):
        L.ResnetBlock(8)(x)


def test_adain_res_block_reads_its_own_parameter_slice():
    c = 3
    x = _x(2, 5, 5, c)
    params = _x(2, 2 * 4 * c)
    block = L.AdaINResBlock(c, block_index=1)
    y = _np(block(x, params))
    p = params[:, 4 * c : 8 * c]
    ada = L.AdaIN()
    h = _np(ada(block.conv1(x), p[:, c : 2 * c], p[:, :c]))
    h = _np(ada(block.conv2(np.maximum(h, 0)), p[:, 3 * c :], p[:, 2 * c : 3 * c]))
    np.testing.assert_allclose(y, x + h, rtol=1e-5, atol=1e-5)


CUSTOM_LAYERS = [
    (L.ReflectionPadding2D, dict(padding=((1, 2), (0, 3)))),
    (L.InstanceNormalization, dict(epsilon=1e-3, affine=True)),
    (L.AdaIN, dict(epsilon=1e-4)),
    (L.MUNITLayerNorm, dict(epsilon=1e-6, affine=False)),
    (L.DownsampleAvgPool, dict()),
    (
        L.ConvBlock,
        dict(
            filters=5,
            kernel_size=3,
            strides=2,
            padding=1,
            pad_mode="reflect",
            norm="instance",
            activation="lrelu",
            kernel_initializer="kaiming",
        ),
    ),
    (
        L.UpsampleConvBlock,
        dict(
            filters=5, kernel_size=5, pad_mode="reflect", norm="layer", activation="relu", kernel_initializer="kaiming"
        ),
    ),
    (
        L.ConvTransposeBlock,
        dict(filters=5, kernel_size=3, padding=1, output_padding=1, norm="batch", activation="relu"),
    ),
    (L.UNetDown, dict(filters=8, norm="instance", innermost=True)),
    (L.UNetUp, dict(filters=8, norm="batch", dropout=0.5)),
    (L.ResnetBlock, dict(filters=8, norm="batch", dropout=0.5)),
    (L.AdaINResBlock, dict(filters=8, block_index=2)),
]


@pytest.mark.parametrize("cls,kwargs", CUSTOM_LAYERS, ids=[c.__name__ for c, _ in CUSTOM_LAYERS])
def test_get_config_round_trip(cls, kwargs):
    layer = cls(**kwargs, name="probe")
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is cls and restored.get_config() == config
