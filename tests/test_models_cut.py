"""CUT networks: the authors' parameter counts digit for digit (shared/seeds/CUT.md), the
anti-aliased down/upsampling, the NCE layers, F built lazily, and .keras round trips."""

import keras
import numpy as np
import pytest

from i2ilab import models
from i2ilab.models.cut import BlurDownsample, BlurUpsample, nce_feature_model


def test_parameter_counts_equal_the_authors():
    with keras.StatelessScope(initialize_variables=False):  # shapes only: no random draws
        gen = models.build_model("cut", image_size=None)
        dis = models.build_model("cut_dis", image_size=None)
        f = models.patch_sample_f()
    keras.utils.clear_session()
    assert gen.count_params() == 11_378_179
    assert dis.count_params() == 2_764_737
    assert f.count_params() == 560_384
    assert [a.count_params() + b.count_params() for a, b in f.mlps] == [66_816, 98_816, 131_584, 131_584, 131_584]


def test_nce_layers_of_the_full_generator():
    with keras.StatelessScope(initialize_variables=False):
        gen = models.build_model("cut", image_size=None)
    keras.utils.clear_session()
    shapes = [tuple(t.shape) for t in nce_feature_model(gen).outputs]
    assert shapes == [
        (None, None, None, 3),
        (None, None, None, 128),
        (None, None, None, 256),
        (None, None, None, 256),
        (None, None, None, 256),
    ]
    feats = nce_feature_model(models.cut_generator(32, ngf=4, n_blocks=5))(np.zeros((1, 32, 32, 3), "float32"))
    assert [tuple(f.shape) for f in feats] == [
        (1, 38, 38, 3),
        (1, 32, 32, 8),
        (1, 16, 16, 16),
        (1, 8, 8, 16),
        (1, 8, 8, 16),
    ]
    with pytest.raises(ValueError, match="outside this generator"):
        nce_feature_model(gen, (0, 40))


def _bilinear_x2(x):
    """numpy bilinear x2, align_corners=False (torch F.interpolate), (B, H, W, C)."""

    def axis(a, ax):
        n = a.shape[ax]
        src = (np.arange(2 * n) + 0.5) / 2 - 0.5
        lo = np.clip(np.floor(src).astype(int), 0, n - 1)
        hi = np.clip(lo + 1, 0, n - 1)
        w = np.clip(src - np.floor(src), 0, 1)
        w = np.where(src < 0, 0.0, w)
        shape = [1] * 4
        shape[ax] = -1
        return np.take(a, lo, ax) * (1 - w).reshape(shape) + np.take(a, hi, ax) * w.reshape(shape)

    return axis(axis(x, 1), 2)


def test_blur_layers():
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 3)).astype("float32")
    up = keras.ops.convert_to_numpy(BlurUpsample()(x))
    np.testing.assert_allclose(up, _bilinear_x2(x), atol=1e-6)
    down = keras.ops.convert_to_numpy(BlurDownsample()(x))
    assert down.shape == (2, 3, 3, 3)
    p = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    k = np.outer([1, 2, 1], [1, 2, 1]) / 16
    expected = np.einsum("bijc,ij->bc", p[:, 2:5, 0:3], k)  # output (1, 0)
    np.testing.assert_allclose(down[:, 1, 0], expected, atol=1e-6)


def test_shapes_ranges_and_round_trips(tmp_path):
    gen = models.cut_generator(16, ngf=4, n_blocks=1)
    dis = models.cut_discriminator(64, ndf=4)
    x = np.random.default_rng(1).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(gen(x))
    assert y.shape == (1, 16, 16, 3) and np.abs(y).max() <= 1.0
    assert dis.output_shape == (None, 6, 6, 1)
    gen.save(tmp_path / "g.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.saving.load_model(tmp_path / "g.keras")(x)), y, atol=1e-6
    )
    f = models.patch_sample_f([3, 8], nc=4)
    f.save(tmp_path / "f.keras")
    again = keras.saving.load_model(tmp_path / "f.keras")
    feats = [np.ones((1, 4, 4, 3), "float32"), np.ones((1, 2, 2, 8), "float32")]
    ids = [np.arange(3), np.arange(2)]
    for a, b in zip(f(feats, ids), again(feats, ids), strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), atol=1e-6)


def test_sample_ids_are_a_permutation_prefix():
    ids = keras.ops.convert_to_numpy(
        models.PatchSampleF.sample_ids((1, 4, 5, 3), 7, seed=keras.random.SeedGenerator(0))
    )
    assert ids.shape == (7,) and len(set(ids.tolist())) == 7 and ids.min() >= 0 and ids.max() < 20
    all_ids = keras.ops.convert_to_numpy(models.PatchSampleF.sample_ids((1, 2, 2, 3), 256, seed=1))
    assert sorted(all_ids.tolist()) == [0, 1, 2, 3]
