"""Recipes of the systems beyond the first four labs (BicycleGAN so far): the parameter counts of
the reference architecture at the default size (the numbers tests/test_models_bicyclegan.py
asserts), ``i2ilab summary``, a bad size, and a one-epoch ``i2ilab train`` smoke run."""

import keras
import pytest

from i2ilab import cli, recipes
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


def test_train_bicyclegan_smoke(tmp_path):
    out = tmp_path / "run"
    argv = "--data synthetic --image-size 32 --epochs 1 --n-train 8 --batch-size 2 --ngf 4 --ndf 4 --quiet"
    assert cli.main(["train", "bicyclegan", *argv.split(), "--out", str(out)]) == 0
    for name in (
        "config.json",
        "log.csv",
        "samples.png",
        "checkpoints/latest.json",
        "generator.keras",
        "encoder.keras",
    ):
        assert (out / name).is_file(), name
