"""UNIT's networks compute the authors' numbers (tests/fixtures/parity/seeds, mingyuliutw/UNIT @
28d5982): VAEGen's latent code and test-time decoding, the three-scale MsImageDis; the keys of
the official checkpoints (gen_<iter>.pt / dis_<iter>.pt, {'a', 'b'}) map onto the full-size
networks. Tolerance as the fixture README: max|keras - ref| <= 1e-5 * max(1, max|ref|)."""

import keras
import numpy as np
import pytest
from conftest import PARITY_DIR, load_parity
from test_parity import assert_complete_mapping, assert_matches, nhwc, shape_only

from i2ilab import convert as cv
from i2ilab import models

SEEDS = PARITY_DIR / "seeds"


def real_keys(file):
    import json

    return json.loads(str(load_parity(f"seeds/{file}")["real_keys"]))


def test_vae_generator_encode_and_decode_match_the_fixture():
    ref = load_parity("seeds/unit_gen.npz")
    model = cv.convert(SEEDS / "unit_gen.npz", "unit", image_size=32, dim=8, n_res=2)
    h = model.encode(nhwc(ref["input"]))
    assert_matches(h, nhwc(ref["output/h"]))
    assert float(np.abs(ref["output/h"]).max()) > 5  # the bound is 1e-5 * max|h|
    assert_matches(model.decode(h), nhwc(ref["output/decode_h"]))
    assert_matches(model(nhwc(ref["input"])), nhwc(ref["output/decode_h"]))


def test_unit_discriminator_three_scales_match_the_fixture():
    ref = load_parity("seeds/unit_dis.npz")
    model = cv.convert(SEEDS / "unit_dis.npz", "unit_dis", image_size=64, dim=8, n_layer=3)
    outputs = model(nhwc(ref["input"]))
    assert len(outputs) == 3
    for s, out in enumerate(outputs):
        assert_matches(out, nhwc(ref[f"output/scale{s}"]))


def test_a_wrong_size_names_the_first_key():
    with pytest.raises(cv.CheckpointMismatchError, match=r"enc\.model\.0\.conv\.weight.*\(8, 3, 7, 7\)"):
        cv.convert(SEEDS / "unit_gen.npz", "unit", image_size=32, dim=16, n_res=2)


@pytest.fixture(scope="module")
def full_size():
    with keras.StatelessScope(initialize_variables=False):
        nets = dict(
            gen=models.build_model("unit", image_size=None), dis=models.build_model("unit_dis", image_size=None)
        )
    keras.utils.clear_session()
    return nets


def test_official_generator_keys_map_completely(full_size):
    listing = real_keys("unit_gen.npz")["keys"]
    assert set(listing) == {"a", "b"}
    for domain in ("a", "b"):
        state = shape_only(listing[domain])
        assert len(state) == 48
        assert assert_complete_mapping(full_size["gen"], state) == set()
    assert sum(int(np.prod(w.shape)) for w in full_size["gen"].weights) == 11_140_483
    # a PyTorch 0.3 checkpoint's InstanceNorm running buffers are skipped, not refused
    keymap = cv.torch_key_map(full_size["gen"])
    assert "enc.model.0.norm.running_mean" in keymap.skippable


def test_official_discriminator_keys_map_completely(full_size):
    listing = real_keys("unit_dis.npz")["keys"]
    for domain in ("a", "b"):
        state = shape_only(listing[domain])
        assert len(state) == 30
        assert assert_complete_mapping(full_size["dis"], state) == set()
    assert sum(int(np.prod(w.shape)) for w in full_size["dis"].weights) == 8_271_171


def test_two_domain_checkpoint_needs_a_domain():
    """gen_<iter>.pt holds {'a': VAEGen state, 'b': VAEGen state}; --domain picks one."""
    state = cv.load_state_dict(SEEDS / "unit_gen.npz")
    both = {"a": state, "b": {k: v * 0 for k, v in state.items()}}
    with pytest.raises(ValueError, match="pass domain='a' or 'b'"):
        cv.convert(both, "unit", image_size=32, dim=8, n_res=2)
    ref = load_parity("seeds/unit_gen.npz")
    model = cv.convert(both, "unit", domain="a", image_size=32, dim=8, n_res=2)
    assert_matches(model(nhwc(ref["input"])), nhwc(ref["output/decode_h"]))


def test_convert_command_writes_a_keras_file(tmp_path):
    from i2ilab.convert.command import main

    out = tmp_path / "unit_gen.keras"
    argv = ["--from-pytorch", str(SEEDS / "unit_gen.npz"), "--model", "unit", "--dim", "8", "--n-res", "2"]
    assert main([*argv, "--image-size", "32", "--out", str(out)]) == 0
    again = keras.saving.load_model(out)
    ref = load_parity("seeds/unit_gen.npz")
    assert_matches(again(nhwc(ref["input"])), nhwc(ref["output/decode_h"]))
    with pytest.raises(SystemExit, match="--ngf does not apply to --model unit"):
        main([*argv, "--ngf", "8", "--out", str(out)])
