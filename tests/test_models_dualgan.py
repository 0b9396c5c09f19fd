"""DualGAN networks: the hand-counted parameters of the seeds, TF 'SAME' shapes, and the 1x1
bottleneck whose instance norm outputs its offset (the reference's dead e8)."""

import keras
import numpy as np
import pytest

from i2ilab.models import build_model


def count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


@pytest.mark.parametrize(
    ("model_type", "params"),
    [("dualgan", 30_627_907), ("dualgan_globalgan", 3_949_441), ("dualgan_patchgan", 3_921_281)],
)
def test_parameter_counts_equal_the_hand_count(model_type, params):
    assert count(build_model(model_type, image_size=256)) == params


def test_critic_shapes():
    assert build_model("dualgan_globalgan", image_size=256).output.shape == (None, 1)
    assert build_model("dualgan_patchgan", image_size=256).output.shape == (None, 4, 4, 1)
    with pytest.raises(ValueError, match="needs an image_size"):
        build_model("dualgan_globalgan", image_size=None)


def test_bottleneck_carries_no_information():
    keras.utils.set_random_seed(0)
    g = build_model("dualgan", image_size=16, gcn=4, num_downs=4)
    assert g.get_layer("e4").output.shape == (None, 1, 1, 32)
    probe = keras.Model(g.input, g.get_layer("e4_norm").output)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16, 3)).astype("float32")
    beta = keras.ops.convert_to_numpy(g.get_layer("e4_norm").beta)
    g.get_layer("e4_norm").beta.assign(beta + 0.5)
    e4 = keras.ops.convert_to_numpy(probe(x))
    np.testing.assert_allclose(e4, np.broadcast_to(beta + 0.5, e4.shape), atol=1e-6)
    y = keras.ops.convert_to_numpy(g(x))
    assert y.shape == (3, 16, 16, 3) and np.abs(y).max() <= 1.0


def test_kernels_are_3x3_except_first_and_last():
    g = build_model("dualgan", image_size=16, gcn=4, num_downs=4)
    kernels = {layer.name: layer.kernel.shape[:2] for layer in g.layers if hasattr(layer, "kernel")}
    assert kernels.pop("e1") == (5, 5) and kernels.pop("d4") == (5, 5)
    assert set(kernels.values()) == {(3, 3)}


def test_affine_instance_norm_is_exact_to_second_order():
    """A bias in front of an instance norm cancels, so the gradient penalty's gradient w.r.t. it is
    zero; ``keras.ops.moments`` on TensorFlow gets this wrong (it stops the gradient through
    the mean), :func:`i2ilab.layers.moments`, which DualGAN's norm uses, does not."""
    from i2ilab import losses
    from i2ilab.models import AffineInstanceNorm
    from i2ilab.training import backend as shim

    keras.utils.set_random_seed(0)
    conv = keras.layers.Conv2D(4, 3, bias_initializer="random_normal")
    norm = AffineInstanceNorm(1e-6)
    dense = keras.layers.Dense(1)

    def critic(x):
        return dense(keras.ops.reshape(keras.ops.leaky_relu(norm(conv(x)), 0.2), (2, -1)))

    rng = np.random.default_rng(0)
    real, fake = (rng.uniform(-1, 1, (2, 6, 6, 3)).astype("float32") for _ in range(2))
    critic(real)
    alpha = np.full((2, 1, 1, 1), 0.3, "float32")
    _, _, (g_kernel, g_bias), _ = shim.value_and_grad(
        lambda: (losses.gradient_penalty(critic, real, fake, alpha=alpha), ()), [conv.kernel, conv.bias]
    )
    assert np.abs(keras.ops.convert_to_numpy(g_kernel)).max() > 1e-2
    assert np.abs(keras.ops.convert_to_numpy(g_bias)).max() < 1e-4 * np.abs(keras.ops.convert_to_numpy(g_kernel)).max()
