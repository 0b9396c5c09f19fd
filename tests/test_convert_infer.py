"""Architecture inference for the BicycleGAN, pix2pixHD, UNIT and CUT networks
(``i2ilab.convert.infer_model_args``): on every parity fixture (tests/fixtures/parity/seeds) it
returns the arguments the parity tests pass by hand, and the model converted with them computes
the fixture's outputs; on the official checkpoints' key listings (real_keys) it returns the
reference's full-size arguments, whose network takes every key. Layouts that are the same key
for key are read by each family that has them, the others are told apart by their conv indices.
"""

import json

import keras
import pytest
from conftest import PARITY_DIR, load_parity
from test_parity import assert_matches, nhwc, npy, shape_only

from i2ilab import convert as cv
from i2ilab import models
from i2ilab.convert.core import _read_family
from i2ilab.models.registry import FAMILY_ARGS, family_of

SEEDS = PARITY_DIR / "seeds"

#: fixture -> (model_type, the factory arguments of the fixture's constructor (meta), the
#: reference's full-size arguments (real_keys constructor)).
CASES = {
    "bicycle_g_all": (
        "bicycle_unet",
        dict(in_channels=1, out_channels=3, nz=8, ngf=4, num_downs=6, where_add="all"),
        dict(in_channels=1, out_channels=3, nz=8, ngf=64, num_downs=8, where_add="all"),
    ),
    "bicycle_g_input": (
        "bicycle_unet",
        dict(in_channels=1, out_channels=3, nz=8, ngf=8, num_downs=5, where_add="input"),
        dict(in_channels=1, out_channels=3, nz=8, ngf=64, num_downs=8, where_add="input"),
    ),
    "bicycle_e": (
        "bicycle_encoder",
        dict(in_channels=3, nz=8, ndf=8, n_blocks=3),
        dict(in_channels=3, nz=8, ndf=64, n_blocks=5),
    ),
    "bicycle_d": (
        "bicycle_d",
        dict(in_channels=3, ndf=8, n_layers=3, num_D=2),
        dict(in_channels=3, ndf=64, n_layers=3, num_D=2),
    ),
    "p2phd_global": (
        "global",
        dict(in_channels=6, out_channels=3, ngf=8, n_downsampling=2, n_blocks=2, norm="instance"),
        dict(in_channels=36, out_channels=3, ngf=64, n_downsampling=4, n_blocks=9, norm="instance"),
    ),
    "p2phd_local": (
        "local",
        dict(
            in_channels=6,
            out_channels=3,
            ngf=4,
            n_downsample_global=2,
            n_blocks_global=2,
            n_local_enhancers=1,
            n_blocks_local=1,
            norm="instance",
        ),
        dict(
            in_channels=36,
            out_channels=3,
            ngf=32,
            n_downsample_global=4,
            n_blocks_global=9,
            n_local_enhancers=1,
            n_blocks_local=3,
            norm="instance",
        ),
    ),
    "p2phd_dis": (
        "pix2pixhd_dis",
        dict(in_channels=9, ndf=8, n_layers=3, num_D=2, norm="instance"),
        dict(in_channels=39, ndf=64, n_layers=3, num_D=2, norm="instance"),
    ),
    "p2phd_encoder": (
        "encoder",
        dict(in_channels=3, out_channels=3, nef=4, n_downsampling=2, norm="instance"),
        dict(in_channels=3, out_channels=3, nef=16, n_downsampling=4, norm="instance"),
    ),
    "unit_gen": (
        "unit",
        dict(in_channels=3, dim=8, n_downsample=2, n_res=2),
        dict(in_channels=3, dim=64, n_downsample=2, n_res=4),
    ),
    "unit_dis": (
        "unit_dis",
        dict(in_channels=3, dim=8, n_layer=3, num_scales=3),
        dict(in_channels=3, dim=64, n_layer=4, num_scales=3),
    ),
    "cut_gen": (
        "cut",
        dict(in_channels=3, out_channels=3, ngf=8, n_blocks=2, n_downsampling=2),
        dict(in_channels=3, out_channels=3, ngf=64, n_blocks=9, n_downsampling=2),
    ),
    "cut_dis": ("cut_dis", dict(in_channels=3, ndf=8, n_layers=3), dict(in_channels=3, ndf=64, n_layers=3)),
}

#: What tests/test_parity_{bicyclegan,pix2pixhd,unit,cut}.py pass by hand (dropout, which moves
#: no key of these networks, is not read).
PARITY_ARGS = {
    "bicycle_g_all": dict(ngf=4, num_downs=6, where_add="all", in_channels=1, nz=8),
    "bicycle_g_input": dict(ngf=8, num_downs=5, where_add="input", in_channels=1, nz=8),
    "bicycle_e": dict(ndf=8, n_blocks=3),
    "bicycle_d": dict(ndf=8, n_layers=3),
    "p2phd_global": dict(in_channels=6, ngf=8, n_downsampling=2, n_blocks=2),
    "p2phd_local": dict(
        in_channels=6, ngf=4, n_downsample_global=2, n_blocks_global=2, n_local_enhancers=1, n_blocks_local=1
    ),
    "p2phd_dis": dict(in_channels=9, ndf=8),
    "p2phd_encoder": dict(nef=4, n_downsampling=2),
    "unit_gen": dict(dim=8, n_res=2),
    "unit_dis": dict(dim=8, n_layer=3),
    "cut_gen": dict(ngf=8, n_blocks=2),
    "cut_dis": dict(ndf=8),
}


def fixture_state(name):
    return cv.load_state_dict(SEEDS / f"{name}.npz")


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_arguments_are_read_off_the_keys(name):
    model_type, expected, _ = CASES[name]
    inferred = cv.infer_model_args(fixture_state(name), model_type)
    assert inferred == expected
    assert PARITY_ARGS[name].items() <= inferred.items()
    assert set(inferred) <= set(FAMILY_ARGS[family_of(model_type)[0]])


def _outputs(name, model, ref):
    """(computed, reference) pairs of the fixture's call (meta 'call'), NHWC."""
    x = nhwc(ref["input"])
    if name.startswith("bicycle_g"):  # dropout (the factory default) is off outside training
        return [(model([x, ref["input_z"]], training=False), nhwc(ref["output/y"]))]
    if name == "bicycle_e":
        mu, logvar = model(x)
        return [(mu, ref["output/mu"]), (logvar, ref["output/logvar"])]
    if name in ("bicycle_d", "unit_dis"):
        return [(out, nhwc(ref[f"output/scale{s}"])) for s, out in enumerate(model(x))]
    if name == "p2phd_dis":
        return [
            (feature, nhwc(ref[f"output/scale{i}/layer{j}"]))
            for i, scale in enumerate(model(x))
            for j, feature in enumerate(scale)
        ]
    if name == "p2phd_encoder":
        return [(model([x, nhwc(ref["input_inst"])]), nhwc(ref["output/y"]))]
    if name == "unit_gen":
        return [(model.encode(x), nhwc(ref["output/h"])), (model(x), nhwc(ref["output/decode_h"]))]
    return [(model(x), nhwc(ref["output/y"]))]


@pytest.mark.parametrize("name", sorted(CASES))
def test_inferred_arguments_convert_to_the_fixture_network(name):
    model_type, _, _ = CASES[name]
    ref = load_parity(f"seeds/{name}.npz")
    inferred = cv.infer_model_args(fixture_state(name), model_type)
    size = None if name.startswith("p2phd") else ref["input"].shape[-1]
    model = cv.convert(SEEDS / f"{name}.npz", model_type, image_size=size, **inferred)
    pairs = _outputs(name, model, ref)
    assert len(pairs) == {"bicycle_e": 2, "bicycle_d": 2, "unit_dis": 3, "p2phd_dis": 10, "unit_gen": 2}.get(name, 1)
    for computed, reference in pairs:
        assert_matches(computed, reference)


def real_state(name):
    keys = json.loads(str(load_parity(f"seeds/{name}.npz")["real_keys"]))["keys"]
    return [shape_only(keys[d]) for d in ("a", "b")] if isinstance(keys, dict) else [shape_only(keys)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_official_key_listings_give_the_full_size_arguments(name):
    model_type, _, full = CASES[name]
    states = real_state(name)
    for state in states:
        assert cv.infer_model_args(state, model_type) == full
    size = 8 * 2 ** full["n_blocks"] if model_type == "bicycle_encoder" else None
    with keras.StatelessScope(initialize_variables=False):
        model = models.build_model(model_type, image_size=size, **full)
    keras.utils.clear_session()
    keymap = cv.torch_key_map(model)
    for state in states:
        assert cv.find_mismatches(keymap, state) == []


#: The families each fixture's keys read as: the same layout key for key (junyanz's ResNet and
#: pix2pixHD's G1 and E, MUNIT's and UNIT's MsImageDis, junyanz's U-Net and G_Unet_add_input).
READS_AS = {
    "bicycle_g_all": ["bicycle_unet"],
    "bicycle_g_input": ["unet", "bicycle_unet"],
    "bicycle_e": ["bicycle_encoder"],
    "bicycle_d": ["bicycle_d"],
    "p2phd_global": ["resnet", "pix2pixhd_global"],
    "p2phd_local": ["pix2pixhd_local"],
    "p2phd_dis": ["pix2pixhd_dis"],
    "p2phd_encoder": ["resnet", "pix2pixhd_encoder"],
    "unit_gen": ["unit"],
    "unit_dis": ["munit_dis", "unit_dis"],
    "cut_gen": ["cut"],
    "cut_dis": ["cut_dis"],
}


def families_reading(state):
    found = []
    for family in FAMILY_ARGS:
        try:
            _read_family(state, family)
        except ValueError:
            continue
        found.append(family)
    return found


@pytest.mark.parametrize("name", sorted(READS_AS))
def test_each_layout_reads_as_its_own_families_only(name):
    assert families_reading(fixture_state(name)) == READS_AS[name]


def mismatch(name, model_type, **kwargs):
    with pytest.raises(cv.CheckpointMismatchError) as info:
        cv.convert(fixture_state(name), model_type, image_size=None, **kwargs)
    return str(info.value)


def test_a_cut_generator_given_as_resnet_is_named():
    """CUT's anti-aliased G has the ResNet's key names at other indices: not read as a ResNet."""
    message = mismatch("cut_gen", "resnet_9blocks")
    assert "It looks like a cut checkpoint ({'in_channels': 3, 'out_channels': 3, 'ngf': 8" in message
    assert "also read as" not in message


def test_a_hint_names_every_family_with_the_same_keys():
    message = mismatch("p2phd_global", "cut")
    assert "It looks like a resnet checkpoint (" in message
    assert "'n_downsampling': 2}; the same keys also read as pix2pixhd_global)" in message
    message = mismatch("unit_dis", "unit")
    assert "It looks like a munit_dis checkpoint" in message and "also read as unit_dis" in message


def test_the_own_family_hint_gives_the_real_widths():
    message = mismatch("bicycle_d", "basic_256_multi", ndf=16)
    assert "key 'model_0.0.weight' has shape (8, 3, 4, 4), expected (16, 3, 4, 4)" in message
    assert "look like bicycle_d with {'in_channels': 3, 'ndf': 8, 'n_layers': 3, 'num_D': 2}" in message


def test_a_family_without_a_reader_says_so():
    with pytest.raises(ValueError, match="arguments of discogan networks cannot be read off a checkpoint"):
        cv.infer_model_args(fixture_state("cut_gen"), "discogan")


def test_the_128_layouts_read_back():
    """basic_128_multi (n_layers 2) and a single-scale D (keys ``model.*``) from built models."""
    for model_type, kwargs in [("basic_128_multi", dict(ndf=8)), ("bicycle_d", dict(ndf=8, num_D=1))]:
        model = models.build_model(model_type, image_size=None, **kwargs)
        state = {
            e.key: npy(e.variable).transpose(3, 2, 0, 1) if e.layout == "conv" else npy(e.variable)
            for e in cv.torch_key_map(model).entries
        }
        expected = dict(
            in_channels=3, ndf=8, n_layers=2 if model_type == "basic_128_multi" else 3, num_D=kwargs.get("num_D", 2)
        )
        assert cv.infer_model_args(state, model_type) == expected


@pytest.mark.parametrize("name", ["bicycle_g_input", "p2phd_local", "bicycle_d", "p2phd_encoder"])
def test_command_line_flags_give_every_architecture_argument(tmp_path, name):
    """--where-add / --nz, the pix2pixHD enhancer counts, --num-d, --nef: with the fixture's
    arguments as flags (no --infer-args) the converted model computes the fixture's outputs."""
    from i2ilab.convert.command import main

    model_type, kwargs, _ = CASES[name]
    ref = load_parity(f"seeds/{name}.npz")
    size = 0 if name.startswith("p2phd") else ref["input"].shape[-1]
    flags = [f for k, v in kwargs.items() for f in ("--" + k.lower().replace("_", "-"), str(v))]
    out = tmp_path / f"{name}.keras"
    argv = ["--from-pytorch", str(SEEDS / f"{name}.npz"), "--model", model_type, *flags]
    assert main([*argv, "--image-size", str(size), "--out", str(out)]) == 0
    model = keras.saving.load_model(out)
    for computed, reference in _outputs(name, model, ref):
        assert_matches(computed, reference)


def test_every_argument_of_a_convertible_family_has_a_flag():
    from i2ilab.convert.command import _ARCH_FLAGS
    from i2ilab.convert.keymap import CONVERTIBLE_FAMILIES

    dests = {dest for _, dest, _, _ in _ARCH_FLAGS} | {"dropout"}
    for family in CONVERTIBLE_FAMILIES:
        assert set(FAMILY_ARGS[family]) <= dests, (family, set(FAMILY_ARGS[family]) - dests)


@pytest.mark.parametrize("name", ["bicycle_g_input", "p2phd_local"])
def test_command_line_infer_args_fills_the_arguments_without_flags(tmp_path, name):
    """--infer-args reads where_add / nz and the pix2pixHD enhancer counts off the checkpoint."""
    from i2ilab.convert.command import main

    model_type, expected, _ = CASES[name]
    ref = load_parity(f"seeds/{name}.npz")
    size = 0 if name.startswith("p2phd") else ref["input"].shape[-1]
    out = tmp_path / f"{name}.keras"
    argv = ["--from-pytorch", str(SEEDS / f"{name}.npz"), "--model", model_type, "--infer-args"]
    assert main([*argv, "--image-size", str(size), "--out", str(out)]) == 0
    model = keras.saving.load_model(out)
    for computed, reference in _outputs(name, model, ref):
        assert_matches(computed, reference)
    with pytest.raises(SystemExit, match="does not fit"):
        main(["--from-pytorch", str(SEEDS / f"{name}.npz"), "--model", model_type, "--out", str(out)])


def test_the_1024p_discriminator_reads_three_scales():
    """The 1024p D (num_D 3) is the 512p listing plus ``scale2_*`` with the same shapes."""
    (state,) = real_state("p2phd_dis")
    extra = {k.replace("scale1_", "scale2_"): v for k, v in state.items() if k.startswith("scale1_")}
    inferred = cv.infer_model_args({**state, **extra}, "pix2pixhd_dis_1024p")
    assert inferred == dict(in_channels=39, ndf=64, n_layers=3, num_D=3, norm="instance")
