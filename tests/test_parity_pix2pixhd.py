"""The pix2pixHD networks compute the authors' numbers (tests/fixtures/parity/seeds, p2phd_*).

Each fixture's state dict goes through ``i2ilab.convert`` (so the key maps are tested too);
activations are NCHW -> NHWC. Tolerance as the fixtures' README: max|keras - ref| <= 1e-5 *
max(1, max|ref|); the edge map must match exactly. The biases that feed an InstanceNorm cannot
move any output, so their mapping is checked by comparing the arrays. The official
checkpoints' full key listings (real_keys) must map onto the full-size networks.
"""

import json

import keras
import numpy as np
import pytest
from conftest import PARITY_DIR

from i2ilab import convert as cv
from i2ilab import models

SEEDS = PARITY_DIR / "seeds"
RTOL = 1e-5


def load(name):
    with np.load(SEEDS / f"{name}.npz") as f:
        return {k: f[k] for k in f.files}


def nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


def assert_matches(actual, reference):
    actual, reference = keras.ops.convert_to_numpy(actual), np.asarray(reference)
    assert actual.shape == reference.shape
    err = float(np.abs(actual - reference).max())
    bound = RTOL * max(1.0, float(np.abs(reference).max()))
    assert err <= bound, f"max abs error {err:.3g} > {bound:.3g}"


def converted(name, model_type, **kwargs):
    """The fixture network converted from its state dict; also checks the InstanceNorm-cancelled
    biases (which no output can check) landed in the right variables."""
    ref = load(name)
    model = cv.convert(SEEDS / f"{name}.npz", model_type, image_size=None, **kwargs)
    by_key = cv.torch_key_map(model).by_key()
    cancelled = json.loads(str(ref["meta"]))["biases_cancelled_by_instancenorm"]
    assert cancelled
    for key in cancelled:
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(by_key[key].variable), ref[f"state_dict/{key}"])
    return model, ref


def test_global_generator():
    model, ref = converted("p2phd_global", "global", in_channels=6, ngf=8, n_downsampling=2, n_blocks=2)
    assert_matches(model(nhwc(ref["input"]), training=True), nhwc(ref["output/y"]))


def test_local_enhancer():
    model, ref = converted(
        "p2phd_local",
        "local",
        in_channels=6,
        ngf=4,
        n_downsample_global=2,
        n_blocks_global=2,
        n_local_enhancers=1,
        n_blocks_local=1,
    )
    assert_matches(model(nhwc(ref["input"]), training=True), nhwc(ref["output/y"]))


def test_multiscale_discriminator_every_intermediate_feature():
    model, ref = converted("p2phd_dis", "pix2pixhd_dis", in_channels=9, ndf=8)
    outputs = model(nhwc(ref["input"]), training=True)
    assert len(outputs) == 2 and all(len(scale) == 5 for scale in outputs)
    for i, scale in enumerate(outputs):
        for j, feature in enumerate(scale):
            assert_matches(feature, nhwc(ref[f"output/scale{i}/layer{j}"]))
    # output scale0 (full resolution) is computed by the modules the reference calls scale1
    keys = [e.key for e in cv.torch_key_map(model).entries]
    assert keys[0] == "scale1_layer0.0.weight" and keys[10] == "scale0_layer0.0.weight"


def test_feature_encoder_instance_wise_average():
    model, ref = converted("p2phd_encoder", "encoder", nef=4, n_downsampling=2)
    inst = nhwc(ref["input_inst"])
    y = keras.ops.convert_to_numpy(model([nhwc(ref["input"]), inst], training=True))
    assert_matches(y, nhwc(ref["output/y"]))
    for b in range(2):
        for i in np.unique(inst[b]):
            region = y[b][inst[b, ..., 0] == i]
            assert np.ptp(region, axis=0).max() == 0  # one value per instance and channel


def test_instance_edge_map_is_exact():
    ref = load("p2phd_edges")
    edges = keras.ops.convert_to_numpy(models.instance_edge_map(nhwc(ref["input_inst"])))
    np.testing.assert_array_equal(edges, nhwc(ref["output/edge"]))
    assert 0 < edges.mean() < 0.5
    # float ids (an instance map read as an image) give the same map
    floats = keras.ops.convert_to_numpy(models.instance_edge_map(nhwc(ref["input_inst"]).astype("float32")))
    np.testing.assert_array_equal(floats, edges)


def test_encoder_and_edges_fixtures_share_the_instance_map():
    np.testing.assert_array_equal(load("p2phd_edges")["input_inst"], load("p2phd_encoder")["input_inst"])


# --- the official checkpoints' key listings ----------------------------------------------------


def shape_only(keys):
    return {name: np.broadcast_to(np.zeros((), dtype), tuple(shape)) for name, shape, dtype in keys}


def real_keys(name):
    return json.loads(str(load(name)["real_keys"]))["keys"]


@pytest.fixture(scope="module")
def full_size():
    """The default full-size networks, variables not initialised (only shapes are compared)."""
    with keras.StatelessScope(initialize_variables=False):
        nets = {
            "global": models.build_model("global", image_size=None),
            "local": models.build_model("local", image_size=None),
            "dis": models.build_model("pix2pixhd_dis", image_size=None),
            "dis_1024p": models.build_model("pix2pixhd_dis_1024p", image_size=None),
            "encoder": models.build_model("encoder", image_size=None),
        }
    keras.utils.clear_session()
    return nets


@pytest.mark.parametrize(
    "fixture, net, n_keys, n_values",
    [
        ("p2phd_global", "global", 56, 182_546_755),
        ("p2phd_local", "local", 74, 182_857_059),
        ("p2phd_dis", "dis", 20, 5_603_202),
        ("p2phd_encoder", "encoder", 20, 788_803),
    ],
)
def test_real_keys_map_completely(full_size, fixture, net, n_keys, n_values):
    state = shape_only(real_keys(fixture))
    assert len(state) == n_keys
    model = full_size[net]
    keymap = cv.torch_key_map(model)
    assert cv.find_mismatches(keymap, state) == []
    assert [e.key for e in keymap.entries if e.key in state] and set(state) == {e.key for e in keymap.entries}
    assert sum(int(np.prod(np.shape(v))) for v in state.values()) == n_values == model.count_params()


def test_1024p_discriminator_adds_a_third_scale(full_size):
    """The 1024p D (num_D 3) has the 512p D's keys plus scale2_layer0..4 with the same shapes."""
    state = shape_only(real_keys("p2phd_dis"))
    extra = {k.replace("scale1_", "scale2_"): v for k, v in state.items() if k.startswith("scale1_")}
    keymap = cv.torch_key_map(full_size["dis_1024p"])
    assert cv.find_mismatches(keymap, {**state, **extra}) == []
    assert full_size["dis_1024p"].count_params() == 8_404_803


def test_512p_weights_fill_the_1024p_global_part(full_size):
    """The local enhancer's ``model.*`` keys are the 512p G's minus its output conv (model.38),
    so the 1024p training can start from the 512p weights (``--load_pretrain``)."""
    g512 = {e.key for e in cv.torch_key_map(full_size["global"]).entries}
    g1024 = {e.key for e in cv.torch_key_map(full_size["local"]).entries}
    assert g512 - g1024 == {"model.38.weight", "model.38.bias"}
    assert {k for k in g1024 if not k.startswith("model.")} == {k for k in g1024 if k.startswith("model1_")}
