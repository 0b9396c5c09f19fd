"""Recipes of the systems beyond the first four labs (BicycleGAN so far): the parameter counts of
the reference architecture at the default size (the numbers tests/test_models_bicyclegan.py
asserts), ``i2ilab summary``, a bad size, a one-epoch ``i2ilab train`` smoke run, and
``i2ilab translate`` with random codes and with an example's code."""

import keras
import numpy as np
import pytest

from i2ilab import cli, inference, recipes
from i2ilab.errors import UsageError
from i2ilab.models import registry


@pytest.fixture(scope="module", autouse=True)
def _synthetic_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("I2ILAB_CACHE", str(tmp_path_factory.mktemp("i2ilab_cache")))
        yield


def test_bicyclegan_256_is_the_reference_architecture():
    """edges2shoes' resnet_256 E (2,590,032) and basic_256_multi D (3,458,978); G is the
    registry's bicycle_unet_256 on 3-channel inputs (the paired loader's A)."""
    cfg = recipes.arch_config("bicyclegan", 256)
    assert cfg["num_downs"] == 8 and cfg["n_blocks_e"] == 5 and cfg["n_layers_d"] == 3
    with keras.StatelessScope(initialize_variables=False):
        nets = recipes.build_networks(cfg)
        g_ref = registry.build_model("bicycle_unet_256", image_size=None, in_channels=3)
    keras.utils.clear_session()
    assert set(nets) == set(recipes.NETWORKS["bicyclegan"])
    assert nets["encoder"].count_params() == 2_590_032
    assert nets["discriminator"].count_params() == nets["discriminator2"].count_params() == 3_458_978
    assert nets["generator"].count_params() == g_ref.count_params()


def test_bicyclegan_n_layers_d_is_honoured_up_to_the_half_size_scale():
    """--n-layers-d sets both D scales; the half-size scale's logit map bounds it (2 at 32 px)."""
    assert recipes.arch_config("bicyclegan", 64, n_layers_d=1)["n_layers_d"] == 1
    with pytest.raises(UsageError, match=r"--n-layers-d 3: use 0 to 2 for 32x32"):
        recipes.arch_config("bicyclegan", 32, n_layers_d=3)


def test_summary_prints_bicyclegan_counts(capsys):
    assert cli.main(["summary", "bicyclegan", "--image-size", "32", "--ngf", "4", "--ndf", "4"]) == 0
    out = capsys.readouterr().out
    for name in recipes.NETWORKS["bicyclegan"]:
        assert f"{name}: " in out


@pytest.mark.parametrize("size", [16, 48, 100])
def test_bad_bicyclegan_size_names_image_size(size):
    with pytest.raises(UsageError, match="--image-size") as err:
        recipes.arch_config("bicyclegan", size)
    assert "\n" not in str(err.value) and "power of two >= 32" in str(err.value)
    assert cli.main(["summary", "bicyclegan", "--image-size", str(size)]) == 2


@pytest.fixture(scope="module")
def bicycle_run(tmp_path_factory):
    """A one-epoch ``i2ilab train bicyclegan`` run folder (32x32, widths 4)."""
    out = tmp_path_factory.mktemp("bicycle") / "run"
    argv = "--data synthetic --image-size 32 --epochs 1 --n-train 8 --batch-size 2 --ngf 4 --ndf 4 --quiet"
    assert cli.main(["train", "bicyclegan", *argv.split(), "--out", str(out)]) == 0
    return out


def test_train_bicyclegan_smoke(bicycle_run):
    for name in (
        "config.json",
        "log.csv",
        "samples.png",
        "checkpoints/latest.json",
        "generator.keras",
        "encoder.keras",
    ):
        assert (bicycle_run / name).is_file(), name


def _edges(tmp_path, n=2):
    from i2ilab import viz

    folder = tmp_path / "edges"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (n, 32, 32, 3)).astype("float32")
    for k, image in enumerate(images):
        viz.save_image(folder / f"e{k}.png", viz.to_uint8(image))
    return folder, [inference.read_image(folder / f"e{k}.png") for k in range(n)]


def test_translate_bicyclegan_random_codes_and_an_examples_code(bicycle_run, tmp_path):
    """--z random: --n-samples files per input, G(x, z_k) with sample_z(n, seed) codes, distinct;
    --z encode --from IMAGE: G(x, mu of E(example)), one file per input."""
    folder, inputs = _edges(tmp_path)
    trainer, _ = inference.load_trainer(bicycle_run, "bicyclegan")
    run = ["translate", "--checkpoint", str(bicycle_run), "--input", str(folder)]
    assert cli.main([*run, "--out", str(tmp_path / "rand"), "--n-samples", "3", "--seed", "5"]) == 0
    assert sorted(p.name for p in (tmp_path / "rand").iterdir()) == [
        f"e{i}_z{k}.png" for i in (0, 1) for k in (1, 2, 3)
    ]
    want = trainer.translate(np.repeat(inputs[0][None], 3, axis=0), trainer.sample_z(3, 5))
    got = np.stack([inference.read_image(tmp_path / "rand" / f"e0_z{k}.png") for k in (1, 2, 3)])
    np.testing.assert_allclose(got, want, atol=1.5 / 127.5)
    assert np.abs(got[0] - got[1]).mean() > 0, "random codes gave the same output"

    example = folder / "e1.png"
    assert cli.main([*run, "--out", str(tmp_path / "enc"), "--z", "encode", "--from", str(example)]) == 0
    assert sorted(p.name for p in (tmp_path / "enc").iterdir()) == ["e0.png", "e1.png"]
    want = trainer.translate(inputs[0][None], trainer.encode(inputs[1][None]))[0]
    np.testing.assert_allclose(inference.read_image(tmp_path / "enc" / "e0.png"), want, atol=1.5 / 127.5)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--z", "encode"], "--z encode: pass --from IMAGE"),
        (["--from", "x.png"], "--from IMAGE: the example's code is used with --z encode only"),
        (["--n-samples", "0"], "--n-samples 0 must be >= 1"),
        (["--full-size"], "--full-size: bicyclegan's generator runs at its training size"),
        (["--direction", "BtoA"], "--direction BtoA: bicyclegan translates AtoB only"),
    ],
)
def test_translate_bicyclegan_bad_flags_exit_2_naming_the_flag(bicycle_run, tmp_path, capsys, flags, message):
    folder, _ = _edges(tmp_path, 1)
    argv = ["translate", "--checkpoint", str(bicycle_run), "--input", str(folder), "--out", str(tmp_path / "o")]
    assert cli.main([*argv, *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err


def test_latent_flags_on_a_model_without_a_code_exit_2(tmp_path, capsys):
    from i2ilab.models import registry as reg

    net = reg.build_model("unet", image_size=32, num_downs=5, ngf=4)
    net.save(tmp_path / "g.keras")
    folder, _ = _edges(tmp_path, 1)
    argv = [
        "translate",
        "--checkpoint",
        str(tmp_path / "g.keras"),
        "--input",
        str(folder),
        "--out",
        str(tmp_path / "o"),
    ]
    assert cli.main([*argv, "--n-samples", "2"]) == 2
    assert "takes no latent code" in capsys.readouterr().err
