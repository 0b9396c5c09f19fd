"""The BicycleGAN networks compute the authors' numbers (tests/fixtures/parity/seeds/bicycle_*.npz).

Each fixture's state dict goes through ``i2ilab.convert`` (so the key maps are tested too);
activations NCHW -> NHWC; tolerance as the fixture README: max|keras - ref| <= 1e-5 * max(1,
max|ref|). The conv biases that feed an InstanceNorm directly cannot move the outputs, so their
mapping is checked by comparing the arrays. The official checkpoints' full key lists
(``real_keys``) must map onto the full-size networks.
"""

import json

import keras
import numpy as np
import pytest
from conftest import PARITY_DIR, load_parity
from test_parity import assert_complete_mapping, assert_matches, nhwc, npy, shape_only

from i2ilab import convert as cv
from i2ilab import models


def seeds(name):
    return load_parity(f"seeds/{name}.npz")


def converted(name, model_type, **kwargs):
    ref = seeds(name)
    size = ref["input"].shape[-1]
    return ref, cv.convert(PARITY_DIR / "seeds" / f"{name}.npz", model_type, image_size=size, **kwargs)


def assert_cancelled_biases_mapped(model, ref):
    """The biases the outputs cannot check, compared as arrays."""
    meta = json.loads(str(ref["meta"]))
    cancelled = meta["biases_cancelled_by_instancenorm"]
    assert cancelled
    by_key = cv.torch_key_map(model).by_key()
    for key in cancelled:
        np.testing.assert_array_equal(npy(by_key[key].variable), ref[f"state_dict/{key}"], err_msg=key)


G = dict(in_channels=1, nz=8, dropout=False)


def test_generator_with_z_at_all_levels():
    ref, model = converted("bicycle_g_all", "bicycle_unet", ngf=4, num_downs=6, where_add="all", **G)
    y = model([nhwc(ref["input"]), ref["input_z"]], training=True)
    assert_matches(y, nhwc(ref["output/y"]))
    assert_cancelled_biases_mapped(model, ref)
    # z matters at every level: the same image with another z gives another output
    other = model([nhwc(ref["input"]), ref["input_z"][::-1]], training=False)
    assert np.abs(npy(other) - npy(y)).max() > 0.05


def test_generator_with_z_at_the_input():
    ref, model = converted("bicycle_g_input", "bicycle_unet", ngf=8, num_downs=5, where_add="input", **G)
    assert_matches(model([nhwc(ref["input"]), ref["input_z"]], training=True), nhwc(ref["output/y"]))
    assert_cancelled_biases_mapped(model, ref)


def test_encoder_mu_and_logvar():
    ref, model = converted("bicycle_e", "bicycle_encoder", ndf=8, n_blocks=3)
    mu, logvar = model(nhwc(ref["input"]), training=True)
    assert_matches(mu, ref["output/mu"])
    assert_matches(logvar, ref["output/logvar"])
    assert_cancelled_biases_mapped(model, ref)


def test_two_scale_discriminator():
    ref, model = converted("bicycle_d", "basic_256_multi", ndf=8)
    outputs = model(nhwc(ref["input"]), training=True)
    assert [tuple(o.shape) for o in outputs] == [(2, 6, 6, 1), (2, 2, 2, 1)]
    for s, out in enumerate(outputs):
        assert_matches(out, nhwc(ref[f"output/scale{s}"]))
    assert_cancelled_biases_mapped(model, ref)


def test_a_wrong_where_add_is_named_by_the_converter():
    with pytest.raises(cv.CheckpointMismatchError, match="model.down.0.weight"):
        cv.convert(
            PARITY_DIR / "seeds" / "bicycle_g_all.npz",
            "bicycle_unet",
            image_size=64,
            ngf=4,
            num_downs=6,
            where_add="input",
            **G,
        )


# --- full-size key listings -------------------------------------------------------------


@pytest.fixture(scope="module")
def full_size():
    """edges2shoes G (where_add all and input), E resnet_256, D basic_256_multi; variables not
    initialised (only shapes are compared)."""
    with keras.StatelessScope(initialize_variables=False):
        nets = dict(
            g_all=models.build_model("bicycle_unet_256", image_size=None, in_channels=1),
            g_input=models.build_model("bicycle_unet_256", image_size=None, in_channels=1, where_add="input"),
            e=models.build_model("resnet_256"),
            d=models.build_model("basic_256_multi", image_size=None),
        )
    keras.utils.clear_session()
    return nets


@pytest.mark.parametrize(
    "file,net,n_keys,n_values",
    [
        ("bicycle_g_all", "g_all", 32, 54_792_579),
        ("bicycle_g_input", "g_input", 32, 54_415_747),
        ("bicycle_e", "e", 30, 2_590_032),
        ("bicycle_d", "d", 20, 3_458_978),
    ],
)
def test_official_checkpoint_keys_map_completely(full_size, file, net, n_keys, n_values):
    listing = json.loads(str(seeds(file)["real_keys"]))["keys"]
    state = shape_only(listing)
    assert len(state) == n_keys
    assert assert_complete_mapping(full_size[net], state) == set()
    assert sum(int(np.prod(s)) for _, s, _ in listing) == n_values


def test_single_scale_and_128_key_layouts():
    """num_D 1 is one ``model`` Sequential (no ``model_<s>``); basic_128_multi has n_layers 2."""
    one = models.bicycle_discriminator(None, ndf=8, num_D=1)
    keys = [e.key for e in cv.torch_key_map(one).entries]
    assert keys == [f"model.{i}.{p}" for i in (0, 2, 5, 8, 11) for p in ("weight", "bias")]
    d128 = models.build_model("basic_128_multi", image_size=None, ndf=8)
    keys = {e.key for e in cv.torch_key_map(d128).entries}
    assert keys == {f"model_{s}.{i}.{p}" for s in (0, 1) for i in (0, 2, 5, 8) for p in ("weight", "bias")}
