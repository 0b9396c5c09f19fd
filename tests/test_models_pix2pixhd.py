"""pix2pixHD networks: parameter counts digit for digit with the authors' (shared seeds, measured
with NVIDIA/pix2pixHD), output shapes at the training sizes, the instance-wise pooling and the
edge map on hand-made maps, and saving to .keras."""

import keras
import numpy as np
import pytest

from i2ilab import models
from i2ilab.models.pix2pixhd import PARAMETER_COUNTS, InstanceAveragePool


def unbuilt(fn, *args, **kwargs):
    """Build a network without drawing its initial values (full-size models, shapes only)."""
    with keras.StatelessScope(initialize_variables=False):
        model = fn(*args, **kwargs)
    keras.utils.clear_session()
    return model


@pytest.mark.parametrize(
    "model_type, kwargs, count",
    [
        ("global", {}, 182_546_755),  # 512p G, 35 labels + edge
        ("global", {"in_channels": 39}, 182_556_163),  # 512p_feat G (+3 feature channels)
        ("local", {}, 182_857_059),  # 1024p G, ngf 32
        ("pix2pixhd_dis", {}, 5_603_202),  # 512p D, num_D 2, 39 input channels
        ("pix2pixhd_dis_1024p", {}, 8_404_803),  # num_D 3
        ("encoder", {}, 788_803),  # nef 16, 4 downsamplings
    ],
)
def test_parameter_counts_equal_the_reference(model_type, kwargs, count):
    model = unbuilt(models.build_model, model_type, image_size=None, **kwargs)
    assert model.count_params() == count
    assert len(model.non_trainable_weights) == 0


def test_table_of_counts_matches():
    assert PARAMETER_COUNTS == {
        "global_512p": 182_546_755,
        "local_1024p": 182_857_059,
        "dis_512p": 5_603_202,
        "dis_1024p": 8_404_803,
        "encoder": 788_803,
    }


def test_local_enhancer_splits_into_global_part_and_enhancer():
    local = unbuilt(models.local_enhancer)
    global_part = sum(int(np.prod(w.shape)) for w in local.weights if w.path.startswith("g_"))
    assert global_part == 182_537_344
    assert local.count_params() - global_part == 319_715


def test_full_resolution_output_shapes():
    """512p: G 1024 x 512 -> same; D maps per scale as measured (padding 2 grows them by one
    at each stride-1 conv). 1024p: G 2048 x 1024; D's three logit maps."""
    g = unbuilt(models.global_generator, (512, 1024))
    assert g.output_shape == (None, 512, 1024, 3)
    d = unbuilt(models.hd_discriminator, (512, 1024))
    flat = [tuple(t.shape[1:]) for t in d.outputs]  # scale-major, 5 maps per scale
    shapes = [flat[:5], flat[5:]]
    assert shapes == [
        [(257, 513, 64), (129, 257, 128), (65, 129, 256), (66, 130, 512), (67, 131, 1)],
        [(129, 257, 64), (65, 129, 128), (33, 65, 256), (34, 66, 512), (35, 67, 1)],
    ]
    local = unbuilt(models.local_enhancer, (1024, 2048))
    assert local.output_shape == (None, 1024, 2048, 3)
    d3 = unbuilt(models.hd_discriminator, (1024, 2048), num_D=3)
    assert [tuple(t.shape[1:3]) for t in d3.outputs[4::5]] == [(131, 259), (67, 131), (35, 67)]


def test_image_size_must_fit_the_downsampling():
    with pytest.raises(ValueError, match="divisible by 16"):
        models.global_generator((500, 1024))
    with pytest.raises(ValueError, match="divisible by 32"):
        models.local_enhancer(48)


def numpy_instance_mean(features, instances):
    out = np.empty_like(features)
    for b in range(features.shape[0]):
        for i in np.unique(instances[b]):
            mask = instances[b, ..., 0] == i
            out[b][mask] = features[b][mask].mean(axis=0)
    return out


def test_instance_average_pool_per_sample_any_ids():
    rng = np.random.default_rng(0)
    inst = rng.choice([7, 23, 26000, 26001, 33000], size=(2, 6, 8, 1)).astype("int32")
    inst[1, :2] = 24000  # an id only sample 1 has
    feats = rng.standard_normal((2, 6, 8, 3)).astype("float32")
    pooled = keras.ops.convert_to_numpy(InstanceAveragePool()(feats, inst))
    np.testing.assert_allclose(pooled, numpy_instance_mean(feats, inst), rtol=1e-5, atol=1e-6)
    # one instance covering everything: the per-sample channel mean
    whole = keras.ops.convert_to_numpy(InstanceAveragePool()(feats, np.zeros_like(inst)))
    np.testing.assert_allclose(whole, np.broadcast_to(feats.mean(axis=(1, 2), keepdims=True), feats.shape), rtol=1e-5)


def test_edge_map_on_a_hand_made_map():
    inst = np.array([[1, 1, 2], [1, 1, 2], [3, 3, 3]], "int32")[None, ..., None]
    expected = np.array([[0, 1, 1], [1, 1, 1], [1, 1, 1]], "float32")[None, ..., None]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(models.instance_edge_map(inst)), expected)
    flat = np.full((1, 4, 5, 1), 9, "int32")
    assert keras.ops.convert_to_numpy(models.instance_edge_map(flat)).sum() == 0


def test_small_networks_save_and_reload(tmp_path):
    rng = np.random.default_rng(1)
    enc = models.feature_encoder(None, nef=4, n_downsampling=2)
    x = rng.uniform(-1, 1, (1, 16, 24, 3)).astype("float32")
    inst = rng.integers(0, 3, (1, 16, 24, 1)).astype("int32")
    d = models.hd_discriminator(None, in_channels=3, ndf=4, num_D=2)
    g = models.local_enhancer(None, in_channels=3, ngf=4, n_downsample_global=1, n_blocks_global=1, n_blocks_local=1)
    for model, args in ((enc, [x, inst]), (d, x), (g, x)):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        again = keras.saving.load_model(path)
        for a, b in zip(keras.tree.flatten(model(args)), keras.tree.flatten(again(args)), strict=True):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-6)


def test_load_global_weights_starts_the_local_enhancer_from_a_global_generator():
    """The reference's --load_pretrain: a 512p-style G1 (ngf 8) fills the global part of a
    local enhancer with ngf 4 (all but G1's output layer); a G1 of the wrong width is refused."""
    kwargs = dict(in_channels=3, n_downsample_global=1, n_blocks_global=1, n_blocks_local=1)
    local = models.local_enhancer(None, ngf=4, **kwargs)
    g = models.global_generator(None, 3, ngf=8, n_downsampling=1, n_blocks=1)
    assert models.load_global_weights(local, g) == 1 + 1 + 1 + 1  # stem, down0, res0, up0
    for layer in g.layers:
        if layer.name.startswith("g_") and layer.name != "g_head":
            for a, b in zip(layer.get_weights(), local.get_layer(layer.name).get_weights(), strict=True):
                np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="ngf = the local enhancer's ngf"):
        models.load_global_weights(local, models.global_generator(None, 3, ngf=4, n_downsampling=1, n_blocks=1))


def test_instance_edge_map_of_one_row_or_one_column_keeps_the_shape():
    """A 1-pixel-high (or wide) map has no vertical (horizontal) neighbours: only the other
    direction's boundaries, and the input's shape."""
    row = np.array([[1, 1, 2, 2, 2, 3]], np.int32).reshape(1, 1, 6, 1)
    got = keras.ops.convert_to_numpy(models.instance_edge_map(row))
    np.testing.assert_array_equal(got.reshape(-1), [0, 1, 1, 0, 1, 1])
    column = keras.ops.convert_to_numpy(models.instance_edge_map(row.transpose(0, 2, 1, 3)))
    np.testing.assert_array_equal(column.reshape(-1), [0, 1, 1, 0, 1, 1])
    assert keras.ops.convert_to_numpy(models.instance_edge_map(np.zeros((2, 1, 1, 1), np.int32))).shape == (2, 1, 1, 1)
