"""CUT's networks and losses compute the authors' numbers (tests/fixtures/parity/seeds,
taesungp/contrastive-unpaired-translation @ b3ac297): the anti-aliased generator's output and
its NCE-layer features, PatchSampleF with fixed patch ids, the PatchNCE loss values, the
anti-aliased D; the keys of the released latest_net_{G,F,D}.pth map onto the full-size networks.
Tolerance as the fixture README: max|keras - ref| <= 1e-5 * max(1, max|ref|)."""

import json

import keras
import numpy as np
import pytest
from conftest import PARITY_DIR, load_parity
from test_parity import assert_complete_mapping, assert_matches, nhwc, shape_only

from i2ilab import convert as cv
from i2ilab import losses, models
from i2ilab.models.cut import CUT_LAYER_NAMES, NCE_LAYERS, cut_layer_names

SEEDS = PARITY_DIR / "seeds"


def real_keys(file):
    return json.loads(str(load_parity(f"seeds/{file}")["real_keys"]))


def fixture_generator():
    return cv.convert(SEEDS / "cut_gen.npz", "cut", image_size=32, ngf=8, n_blocks=2)


def test_generator_output_and_nce_features_match_the_fixture():
    ref = load_parity("seeds/cut_gen.npz")
    model = fixture_generator()
    x = nhwc(ref["input"])
    assert_matches(model(x), nhwc(ref["output/y"]))
    feats = models.nce_feature_model(model)(x)
    for layer, feat in zip(NCE_LAYERS, feats, strict=True):
        assert_matches(feat, nhwc(ref[f"output/feat_{layer}"]))
    # layer 0 is the reflection-padded input itself, exactly
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(feats[0]), nhwc(ref["output/feat_0"]))
    # in this 2-block net index 16 is the InstanceNorm after the first upsampling conv
    assert cut_layer_names(n_blocks=2)[16] == "up0_norm"
    assert CUT_LAYER_NAMES[12] == "res0" and CUT_LAYER_NAMES[16] == "res4"


def test_blur_filters_are_the_reference_buffers():
    """The skipped ``filt`` buffers hold exactly the constants the blur layers use."""
    ref = load_parity("seeds/cut_gen.npz")
    down = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    up = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 16.0
    for key in ("model.7.filt", "model.11.filt"):
        np.testing.assert_allclose(
            ref[f"state_dict/{key}"][:, 0], np.broadcast_to(down, ref[f"state_dict/{key}"][:, 0].shape), rtol=0
        )
    for key in ("model.14.filt", "model.18.filt"):
        np.testing.assert_allclose(
            ref[f"state_dict/{key}"][:, 0], np.broadcast_to(up, ref[f"state_dict/{key}"][:, 0].shape), rtol=0
        )
    keymap = cv.torch_key_map(fixture_generator())
    assert {k for k in keymap.skippable if k.endswith(".filt")} == {
        "model.7.filt",
        "model.11.filt",
        "model.14.filt",
        "model.18.filt",
    }


def test_patch_sample_f_with_fixed_ids_matches_the_fixture():
    ref = load_parity("seeds/cut_patchsample.npz")
    feats = [nhwc(ref[f"input_feat_{layer}"]) for layer in NCE_LAYERS]
    net = models.patch_sample_f([f.shape[-1] for f in feats], nc=16)
    state = {k[len("state_dict/") :]: v for k, v in ref.items() if k.startswith("state_dict/")}
    cv.load_weights(net, state)
    ids = [ref[f"input_patch_ids_{layer}"] for layer in NCE_LAYERS]
    for layer, out in zip(NCE_LAYERS, net(feats, ids), strict=True):
        assert_matches(out, ref[f"output/feat_{layer}"])


def test_patch_sample_f_builds_its_mlps_on_the_first_call():
    ref = load_parity("seeds/cut_patchsample.npz")
    feats = [nhwc(ref[f"input_feat_{layer}"]) for layer in NCE_LAYERS]
    net = models.patch_sample_f(None, nc=16)
    assert not net.built and net.weights == []
    ids = [np.arange(4) for _ in feats]
    out = net(feats, ids)
    assert [tuple(o.shape) for o in out] == [(8, 16)] * 5
    assert net.feature_channels == [3, 16, 32, 32, 16]
    norms = np.linalg.norm(keras.ops.convert_to_numpy(out[2]), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-3)  # x / (|x| + 1e-7) with small outputs


def test_patch_nce_loss_values_match_the_fixture():
    ref = load_parity("seeds/cut_patchnce.npz")
    loss = losses.patch_nce_loss(ref["input_feat_q"], ref["input_feat_k"], batch_size=2)
    assert_matches(loss, ref["output/loss"])
    per_layer = []
    for layer in NCE_LAYERS:
        value = losses.patch_nce_loss(ref[f"input_feat_q_{layer}"], ref[f"input_feat_k_{layer}"], batch_size=2)
        assert_matches(value, ref[f"output/loss_{layer}"])
        per_layer.append((ref[f"input_feat_q_{layer}"], ref[f"input_feat_k_{layer}"]))
    total = losses.patch_nce_term([q for q, _ in per_layer], [k for _, k in per_layer], batch_size=2)
    assert_matches(total, ref["output/loss_nce"])


def test_discriminator_matches_the_fixture():
    ref = load_parity("seeds/cut_dis.npz")
    model = cv.convert(SEEDS / "cut_dis.npz", "cut_dis", image_size=64, ndf=8)
    assert model.output_shape == (None, 6, 6, 1)
    assert_matches(model(nhwc(ref["input"])), nhwc(ref["output/y"]))


@pytest.fixture(scope="module")
def full_size():
    with keras.StatelessScope(initialize_variables=False):
        nets = dict(
            gen=models.build_model("cut", image_size=None),
            dis=models.build_model("cut_dis", image_size=None),
            f=models.patch_sample_f(),
        )
    keras.utils.clear_session()
    return nets


def test_released_generator_keys_map_completely(full_size):
    state = shape_only(real_keys("cut_gen.npz")["keys"])
    assert len(state) == 52
    skipped = assert_complete_mapping(full_size["gen"], state)
    assert skipped == {"model.7.filt", "model.11.filt", "model.21.filt", "model.25.filt"}
    assert sum(int(np.prod(w.shape)) for w in full_size["gen"].weights) == 11_378_179


def test_released_f_and_d_keys_map_completely(full_size):
    state = shape_only(real_keys("cut_patchsample.npz")["keys"])
    assert len(state) == 20
    assert assert_complete_mapping(full_size["f"], state) == set()
    assert sum(int(np.prod(w.shape)) for w in full_size["f"].weights) == 560_384
    state = shape_only(real_keys("cut_dis.npz")["keys"])
    assert len(state) == 13
    assert assert_complete_mapping(full_size["dis"], state) == {"model.2.filt", "model.6.filt", "model.10.filt"}
    assert sum(int(np.prod(w.shape)) for w in full_size["dis"].weights) == 2_764_737
