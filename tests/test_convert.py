"""i2ilab.convert: key checks and their error messages, skippable buffers, MUNIT domains, the
.keras round trip, architecture inference and the command line. Numerical parity of the
converted networks: tests/test_parity.py."""

import argparse
import json
import sys

import keras
import numpy as np
import pytest
from conftest import PARITY_DIR, load_parity

from i2ilab import convert as cv
from i2ilab import models
from i2ilab.layers import TorchBatchNormalization

UNET = dict(ngf=8, num_downs=5, dropout=False)


def state(name):
    return cv.load_state_dict(PARITY_DIR / f"{name}.npz")


def nhwc(a):
    return np.asarray(a).transpose(0, 2, 3, 1)


def npy(x):
    return keras.ops.convert_to_numpy(x)


def uninitialized(factory, *args, **kwargs):
    """A model whose variables have shapes but no values: for tests of key names only.

    Drawing random initial values costs about a second per new weight shape on JAX's CPU
    backend (an XLA compilation each); the pending initialisations are dropped afterwards.
    """
    with keras.StatelessScope(initialize_variables=False):
        model = factory(*args, **kwargs)
    keras.utils.clear_session()
    return model


def mismatch(source, model_type, **kwargs):
    with pytest.raises(cv.CheckpointMismatchError) as info:
        cv.convert(source, model_type, **kwargs)
    return info.value


# --- wrong checkpoints name the first mismatch -------------------------------------------


def test_other_model_type_names_first_key_and_guesses_the_family():
    err = mismatch(state("resnet"), "unet", **UNET)
    assert (err.key, err.shape, err.expected) == ("model.1.weight", (8, 3, 7, 7), None)
    message = str(err)
    assert "key 'model.1.weight' (shape (8, 3, 7, 7)) is not part of this model" in message
    assert "unet(" in message and "looks like a resnet checkpoint" in message


def test_other_width_names_key_shape_and_expected_shape():
    err = mismatch(state("patchgan_in"), "patchgan", in_channels=3, ndf=16, norm="instance")
    assert (err.key, err.shape, err.expected) == ("model.0.weight", (8, 3, 4, 4), (16, 3, 4, 4))
    assert "has shape (8, 3, 4, 4), expected (16, 3, 4, 4)" in str(err)
    assert "'ndf': 8" in str(err)  # the hint reads the real width off the checkpoint
    assert len(err.problems) == 9  # every tensor but the 1-channel output bias


def test_other_norm():
    err = mismatch(state("unet"), "unet", **dict(UNET, norm="instance"))
    # InstanceNorm nets have conv biases and no norm tensors: the first BatchNorm weight is extra
    assert (err.key, err.shape, err.expected) == ("model.model.1.model.2.weight", (16,), None)
    assert "'norm': 'batch'" in str(err)


def test_other_n_blocks():
    err = mismatch(state("resnet"), "resnet_9blocks", ngf=8)
    # blocks 0-5 (model.10-15) fit; the 6-block net's first upsampling sits where block 6 is
    assert (err.key, err.expected) == ("model.16.weight", None)
    assert "'n_blocks': 6" in str(err)


def test_missing_key():
    sd = state("unet")
    del sd["model.model.3.bias"]
    err = mismatch(sd, "unet", **UNET)
    assert (err.key, err.shape, err.expected) == ("model.model.3.bias", None, (3,))
    assert "key 'model.model.3.bias' (shape (3,)) is missing from the checkpoint" in str(err)


def test_extra_key():
    sd = state("unet")
    sd["model.model.1.model.9.weight"] = np.zeros((4,), "float32")
    err = mismatch(sd, "unet", **UNET)
    assert (err.key, err.expected) == ("model.model.1.model.9.weight", None)
    assert len(err.problems) == 1


def test_shape_mismatch_in_the_middle():
    sd = state("patchgan")
    sd["model.6.running_var"] = np.ones((33,), "float32")
    err = mismatch(sd, "patchgan", ndf=8)
    assert (err.key, err.shape, err.expected) == ("model.6.running_var", (33,), (32,))
    assert len(err.problems) == 1


def test_integer_tensor_is_rejected():
    sd = state("patchgan_in")
    sd["model.0.bias"] = sd["model.0.bias"].astype("int64")
    err = mismatch(sd, "patchgan", in_channels=3, ndf=8, norm="instance")
    assert err.key == "model.0.bias" and "not a floating-point tensor" in str(err)


def test_nothing_is_assigned_when_the_check_fails():
    model = models.unet_generator(None, **UNET)
    before = [npy(w).copy() for w in model.weights]
    sd = state("unet")
    del sd["model.model.3.bias"]
    with pytest.raises(cv.CheckpointMismatchError):
        cv.load_weights(model, sd)
    assert all(np.array_equal(a, npy(w)) for a, w in zip(before, model.weights, strict=False))
    sd["model.model.3.bias"] = np.zeros((3,), "float32")
    cv.load_weights(model, sd)
    np.testing.assert_array_equal(npy(model.get_layer("up0").up.conv.bias), np.zeros(3))


# --- buffers a checkpoint may or may not hold ---------------------------------------------


def test_batchnorm_num_batches_tracked_is_optional():
    """Checkpoints written before PyTorch 0.4.1 have no num_batches_tracked."""
    full = state("unet")
    old = {k: v for k, v in full.items() if not k.endswith("num_batches_tracked")}
    assert len(old) == len(full) - 7
    x = nhwc(load_parity("unet.npz")["input"])
    a = cv.convert(full, "unet", image_size=32, **UNET)(x, training=False)
    b = cv.convert(old, "unet", image_size=32, **UNET)(x, training=False)
    np.testing.assert_array_equal(npy(a), npy(b))


def test_pre_04_instance_norm_buffers_are_skipped_only_where_a_norm_is():
    sd = state("patchgan_in")
    for key in ("model.3.running_mean", "model.3.running_var", "model.6.running_mean"):
        sd[key] = np.zeros((16 if key.startswith("model.3") else 32,), "float32")
    cv.convert(sd, "patchgan", in_channels=3, ndf=8, norm="instance")
    sd["model.4.running_mean"] = np.zeros((16,), "float32")  # index 4 is a LeakyReLU
    err = mismatch(sd, "patchgan", in_channels=3, ndf=8, norm="instance")
    assert err.key == "model.4.running_mean"


def test_munit_adain_buffers_are_skipped():
    sd = state("munit_gen")
    buffers = [k for k in sd if ".norm.running_" in k]
    assert len(buffers) == 16
    model = cv.convert(sd, "munit", dim=8, mlp_dim=16)
    assert len(cv.torch_key_map(model).entries) == len(sd) - 16
    cv.convert({k: v for k, v in sd.items() if k not in buffers}, "munit", dim=8, mlp_dim=16)


# --- MUNIT two-domain files -----------------------------------------------------------------


def test_munit_two_domain_file_needs_a_domain():
    a = state("munit_gen")
    b = dict(a, **{"mlp.model.2.fc.bias": a["mlp.model.2.fc.bias"] + 1.0})
    both = {"a": a, "b": b}
    with pytest.raises(ValueError, match="--domain"):
        cv.convert(both, "munit", dim=8, mlp_dim=16)
    model = cv.convert(both, "munit", domain="b", dim=8, mlp_dim=16)
    np.testing.assert_array_equal(npy(model.mlp.get_layer("fc2").bias), b["mlp.model.2.fc.bias"])
    with pytest.raises(ValueError, match="single network"):
        cv.load_state_dict(a, domain="a")


# --- reading files ---------------------------------------------------------------------------


def test_pth_without_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match=r"pip install 'i2ilab\[torch\]'"):
        cv.load_state_dict(PARITY_DIR / "unet_small.pth")


def test_bad_sources(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cv.load_state_dict(tmp_path / "nope.pth")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="unknown checkpoint type"):
        cv.load_state_dict(tmp_path / "weights.h5")
    with pytest.raises(ValueError, match="not one of"):
        cv.convert(state("unet"), "unet_512")
    with pytest.raises(ValueError, match="num_downs=8"):
        cv.convert(state("unet"), "unet_256", num_downs=5)


def test_plain_npz_state_dict(tmp_path):
    sd = state("resnet")
    np.savez(tmp_path / "g.npz", **sd)
    again = cv.load_state_dict(tmp_path / "g.npz")
    assert list(again) == list(sd)


# --- architecture inference --------------------------------------------------------------------

INFERRED = {
    "unet": ("unet", dict(in_channels=3, out_channels=3, ngf=8, num_downs=5, norm="batch")),
    "patchgan": ("patchgan", dict(in_channels=6, ndf=8, n_layers=3, norm="batch")),
    "patchgan_in": ("patchgan", dict(in_channels=3, ndf=8, n_layers=3, norm="instance")),
    "resnet": (
        "resnet",
        dict(in_channels=3, out_channels=3, ngf=8, n_blocks=6, norm="instance", dropout=False, n_downsampling=2),
    ),
    "munit_gen": ("munit", dict(in_channels=3, dim=8, style_dim=8, n_downsample=2, n_res=4, mlp_dim=16)),
    "munit_dis": ("munit_dis", dict(in_channels=3, dim=8, n_layer=4, num_scales=3)),
}


@pytest.mark.parametrize("name", sorted(INFERRED))
def test_infer_model_args_on_fixtures(name):
    model_type, expected = INFERRED[name]
    sd = state(name)
    assert cv.infer_model_args(sd, model_type) == expected
    cv.convert(sd, model_type, **expected)  # and the inferred arguments fit every key


def test_infer_model_args_on_full_size_listings():
    def shapes(keys):
        return {k: np.broadcast_to(np.zeros((), d), tuple(s)) for k, s, d in keys}

    resnet = shapes(json.loads(str(load_parity("resnet.npz")["real_keys"]))["keys"])
    assert cv.infer_model_args(resnet, "resnet_9blocks") == dict(
        in_channels=3, out_channels=3, ngf=64, n_blocks=9, norm="instance", dropout=False, n_downsampling=2
    )
    munit = shapes(json.loads(str(load_parity("munit_gen.npz")["real_keys"]))["keys"]["a"])
    assert cv.infer_model_args(munit, "munit") == dict(
        in_channels=3, dim=64, style_dim=8, n_downsample=2, n_res=4, mlp_dim=256
    )
    with pytest.raises(ValueError, match="does not look like a munit network"):
        cv.infer_model_args(resnet, "munit")


# --- keys of reference variants without a fixture --------------------------------------------


def test_pixel_discriminator_keys():
    model = uninitialized(models.patch_discriminator, None, in_channels=6, ndf=64, n_layers=0)
    keys = [(e.key, e.torch_shape) for e in cv.torch_key_map(model).entries]
    assert keys == [
        ("net.0.weight", (64, 6, 1, 1)),
        ("net.0.bias", (64,)),
        ("net.2.weight", (128, 64, 1, 1)),
        ("net.3.weight", (128,)),
        ("net.3.bias", (128,)),
        ("net.3.running_mean", (128,)),
        ("net.3.running_var", (128,)),
        ("net.5.weight", (1, 128, 1, 1)),
    ]


def test_resnet_dropout_moves_the_second_conv():
    """README: with use_dropout each block's second conv is conv_block.6, not .5."""
    model = uninitialized(models.resnet_generator, None, ngf=8, n_blocks=2, dropout=True)
    keys = {e.key for e in cv.torch_key_map(model).entries}
    assert {"model.10.conv_block.6.weight", "model.11.conv_block.6.bias"} <= keys
    assert not any("conv_block.5" in k for k in keys)
    assert "model.19.weight" in keys  # reflect pad, head conv, tanh after the two upsamplings


def test_286_patchgan_keys():
    model = uninitialized(models.patch_discriminator, None, in_channels=3, ndf=8, n_layers=5, norm="instance")
    keys = [e.key for e in cv.torch_key_map(model).entries]
    assert keys[::2] == [
        "model.0.weight",
        "model.2.weight",
        "model.5.weight",
        "model.8.weight",
        "model.11.weight",
        "model.14.weight",
        "model.17.weight",
    ]


def test_encoder_decoder_has_no_reference_layout():
    model = uninitialized(models.encoder_decoder_generator, None, **UNET)
    with pytest.raises(ValueError, match="no skip connections"):
        cv.torch_key_map(model)


# --- saving ------------------------------------------------------------------------------------


def test_converted_unet_saves_and_loads_back(tmp_path):
    ref = load_parity("unet.npz")
    x = nhwc(ref["input"])
    model = cv.convert(PARITY_DIR / "unet.npz", "unet", image_size=None, **UNET)
    path = cv.save(model, tmp_path / "unet.keras")
    loaded = keras.saving.load_model(path)
    assert any(
        isinstance(layer.up.norm_layer, TorchBatchNormalization) for layer in loaded.layers if hasattr(layer, "up")
    )
    np.testing.assert_array_equal(npy(loaded(x, training=False)), npy(model(x, training=False)))
    np.testing.assert_allclose(npy(loaded(x, training=True)), nhwc(ref["output/y"]), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=".keras"):
        cv.save(model, tmp_path / "unet.h5")


def test_converted_munit_saves_and_loads_back(tmp_path):
    ref = load_parity("munit_gen.npz")
    x = nhwc(ref["input"])
    model = cv.convert(PARITY_DIR / "munit_gen.npz", "munit", image_size=32, dim=8, mlp_dim=16)
    loaded = keras.saving.load_model(cv.save(model, tmp_path / "munit.keras"))
    content, style = loaded.encode(x)
    np.testing.assert_allclose(npy(style), ref["output/style"][:, :, 0, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        npy(loaded.decode(content, style)), nhwc(ref["output/decode_own_style"]), rtol=1e-5, atol=1e-5
    )


# --- command line ------------------------------------------------------------------------------


def test_cli_converts_and_the_file_reproduces_the_reference(tmp_path, capsys):
    out = tmp_path / "g.keras"
    code = cv.main(
        [
            "--from-pytorch",
            str(PARITY_DIR / "resnet.npz"),
            "--model",
            "resnet_6blocks",
            "--ngf",
            "8",
            "--image-size",
            "64",
            "--out",
            str(out),
        ]
    )
    assert code == 0 and out.is_file()
    assert str(out) in capsys.readouterr().out
    ref = load_parity("resnet.npz")
    loaded = keras.saving.load_model(out)
    np.testing.assert_allclose(npy(loaded(nhwc(ref["input"]))), nhwc(ref["output/y"]), rtol=1e-5, atol=1e-5)


def test_cli_infer_args_and_subcommand_wiring(tmp_path):
    parser = argparse.ArgumentParser(prog="i2ilab")
    cv.add_convert_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "d.keras"
    args = parser.parse_args(
        [
            "convert",
            "--from-pytorch",
            str(PARITY_DIR / "patchgan_in.npz"),
            "--model",
            "patchgan",
            "--infer-args",
            "--image-size",
            "0",
            "--out",
            str(out),
        ]
    )
    assert args.func(args) == 0
    d = keras.saving.load_model(out)
    assert d.input_shape == (None, None, None, 3)


def test_cli_errors_are_one_line_exits(tmp_path):
    base = ["--from-pytorch", str(PARITY_DIR / "unet.npz"), "--out", str(tmp_path / "u.keras")]
    with pytest.raises(SystemExit, match="--n-blocks does not apply to --model unet_256"):
        cv.main(base + ["--model", "unet_256", "--n-blocks", "9"])
    with pytest.raises(SystemExit, match="key 'model.model.1.model.2.weight' .* is not part of"):
        cv.main(base + ["--model", "unet", "--ngf", "8", "--num-downs", "5", "--norm", "instance"])
    with pytest.raises(SystemExit, match="must end in .keras"):
        cv.main(base[:2] + ["--out", "u.h5", "--model", "unet"])


def test_convert_offers_exactly_the_families_with_a_key_map(capsys):
    """`--model` lists the types whose family has a torch key map; the others are refused by argparse."""
    from i2ilab.convert import command
    from i2ilab.convert.keymap import CONVERTIBLE_FAMILIES
    from i2ilab.models.registry import FACTORIES, MODEL_TYPES

    assert CONVERTIBLE_FAMILIES <= set(FACTORIES)
    parser = argparse.ArgumentParser()
    command._add_arguments(parser)
    offered = set(next(a for a in parser._actions if a.dest == "model").choices)
    assert offered == {t for t, (family, _) in MODEL_TYPES.items() if family in CONVERTIBLE_FAMILIES}
    assert {"basic_256_multi", "pix2pixhd_dis", "unit", "cut"} <= offered
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--from-pytorch", "x.npz", "--model", "ost_enc", "--out", "x.keras"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'ost_enc'" in capsys.readouterr().err
