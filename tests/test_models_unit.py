"""UNIT networks: the authors' parameter counts digit for digit (shared/seeds/UNIT.md), shapes,
the registry names, and a .keras round trip of VAEGen."""

import keras
import numpy as np

from i2ilab import models


def test_parameter_counts_equal_the_authors():
    with keras.StatelessScope(initialize_variables=False):  # shapes only: no 19M random draws
        gen = models.build_model("unit", image_size=None)
        dis = models.build_model("unit_dis", image_size=None)
    keras.utils.clear_session()
    assert gen.count_params() == 11_140_483
    assert gen.encoder.count_params() == 5_385_856
    assert gen.decoder.count_params() == 5_754_627
    assert dis.count_params() == 8_271_171
    assert sum(layer.count_params() for layer in dis.layers if layer.name.startswith("scale0_")) == 2_757_057


def test_shapes_and_ranges():
    gen = models.vae_generator(32, dim=4, n_res=1)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    h = gen.encode(x)
    assert tuple(h.shape) == (2, 8, 8, 16) and gen.latent_dim == 16
    y = keras.ops.convert_to_numpy(gen.decode(h))
    assert y.shape == (2, 32, 32, 3) and np.abs(y).max() <= 1.0
    dis = models.unit_discriminator(64, dim=4, n_layer=2)
    assert [tuple(o.shape) for o in dis(np.zeros((1, 64, 64, 3), "float32"))] == [
        (1, 16, 16, 1),
        (1, 8, 8, 1),
        (1, 4, 4, 1),
    ]


def test_vae_generator_saves_and_loads(tmp_path):
    gen = models.vae_generator(16, dim=4, n_res=1)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    path = tmp_path / "gen.keras"
    gen.save(path)
    again = keras.saving.load_model(path)
    assert isinstance(again, models.VAEGen)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)), keras.ops.convert_to_numpy(gen(x)), atol=1e-6)
