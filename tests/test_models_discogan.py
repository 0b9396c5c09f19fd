"""DiscoGAN and DistanceGAN networks: exact parameter counts of the seeds' table, shapes, ranges,
the Python 2 / Python 3 padding of DistanceGAN's discriminator, and the .keras round trip."""

import keras
import numpy as np
import pytest

from i2ilab.models import build_model, distancegan_discriminator


def count(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


@pytest.mark.parametrize(
    ("model_type", "image_size", "params"),
    [
        ("discogan", 64, 5_513_856),
        ("discogan_3layers", 64, 1_318_016),
        ("discogan_extra_layers", 64, 7_153_480),
        ("discogan_dis", 64, 2_765_568),
        ("distancegan_resnet_9blocks", None, 11_388_675),
        ("distancegan_basic", None, 2_766_529),
        ("distancegan_basic_py3", None, 2_766_529),
    ],
)
def test_parameter_counts_equal_the_authors(model_type, image_size, params):
    assert count(build_model(model_type, image_size=image_size)) == params


def test_discogan_shapes_range_and_no_bias():
    keras.utils.set_random_seed(0)
    g = build_model("discogan", image_size=64)
    d = build_model("discogan_dis", image_size=64)
    assert not [v.path for v in g.trainable_variables + d.trainable_variables if v.path.endswith("bias")]
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(g(x, training=True))
    assert y.shape == (2, 64, 64, 3) and 0.0 <= y.min() and y.max() <= 1.0
    logits, *features = d(y, training=True)
    assert [tuple(t.shape) for t in (logits, *features)] == [
        (2, 1, 1, 1),
        (2, 16, 16, 128),
        (2, 8, 8, 256),
        (2, 4, 4, 512),
    ]
    # the features are LeakyReLU outputs (slope 0.2): negative values are a fifth of a conv output
    assert float(keras.ops.min(features[0])) < 0


def test_discogan_3layers_is_8x8_at_the_bottleneck():
    g = build_model("discogan_3layers", image_size=64)
    assert g.get_layer("down2").output.shape == (None, 8, 8, 256)
    with pytest.raises(ValueError, match="num_layers=6"):
        build_model("discogan", image_size=64, num_layers=6)


def test_distancegan_discriminator_padding_py2_and_py3_maps():
    assert build_model("distancegan_basic", image_size=256).output.shape == (None, 30, 30, 1)
    assert build_model("distancegan_basic_py3", image_size=256).output.shape == (None, 35, 35, 1)
    with pytest.raises(ValueError, match="padding=3"):
        distancegan_discriminator(256, padding=3)


def test_distancegan_generator_zero_padding_affine_norm_and_round_trip(tmp_path):
    keras.utils.set_random_seed(1)
    g = build_model("distancegan", image_size=16, ngf=4, n_blocks=1)
    gammas = [v for v in g.trainable_variables if v.path.endswith("gamma")]
    assert len(gammas) == 7  # stem, 2 down, 2 in the block, 2 up
    assert any(layer.__class__.__name__ == "ZeroPadding2D" for layer in g.layers)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    path = tmp_path / "g.keras"
    g.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)), keras.ops.convert_to_numpy(g(x)), atol=1e-6)
