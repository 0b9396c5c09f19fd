"""The pix2pixhd recipe: size rules, networks, the streets training run, translate, resume, errors.

No test downloads the ImageNet VGG19: runs train with --no-vgg-loss, or with
``losses.vgg19_features`` patched to random weights (``weights=None``), and the offline test
makes the download itself fail.
"""

import json
import shutil
import urllib.error

import numpy as np
import pytest
from PIL import Image

from i2ilab import cli, recipes, viz
from i2ilab.errors import UsageError

TINY = ("--image-size", "32", "--ngf", "4", "--ndf", "4", "--n-train", "4", "--quiet", "--samples", "2")


pytestmark = pytest.mark.usefixtures("synthetic_cache")  # synthetic sets written once per module


def _train(*argv):
    return cli.run_train(cli.build_parser().parse_args(["train", "pix2pixhd", "--data", "synthetic", *argv]))


def _streets():
    from i2ilab.data import synthetic_root

    return synthetic_root("streets", image_size=32, n_train=4)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Every Keras download fails as without a network, into an empty Keras cache."""
    from keras.src.utils import file_utils

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    monkeypatch.setattr(file_utils.config, "keras_home", lambda: str(tmp_path / "keras_home"))


def test_arch_config_defaults_and_size_rules():
    cfg = recipes.arch_config("pix2pixhd", 512)
    assert {k: cfg[k] for k in ("n_layers_d", "num_scales", "n_blocks", "n_downsampling", "n_classes")} == {
        "n_layers_d": 3,
        "num_scales": 2,
        "n_blocks": 9,
        "n_downsampling": 4,
        "n_classes": 35,
    }
    assert cfg["instances"] is True and cfg["vgg_loss"] is True
    assert recipes.arch_config("pix2pixhd", 32)["n_blocks"] == 6  # resnet_blocks, as CycleGAN below 256 px
    assert recipes.arch_config("pix2pixhd", 16)["n_downsampling"] == 3  # a 2x2 bottleneck
    assert recipes.arch_config("pix2pixhd", 48, n_scales_d=3)["num_scales"] == 3
    assert set(recipes.pix2pixhd_config(64)) <= set(recipes.ARCH_KEYS)
    for kwargs, match in (
        ({"image_size": 40}, r"--image-size 40: pix2pixhd needs a multiple of 16 >= 16"),
        ({"image_size": 32, "n_scales_d": 4}, r"--n-scales-d 4: use 1 to 3 discriminator scales for 32x32"),
        ({"image_size": 32, "n_classes": 0}, r"--n-classes 0: use 1 to 256"),
        ({"image_size": 32, "n_layers_d": -1}, r"--n-layers-d -1"),
    ):
        with pytest.raises(UsageError, match=match):
            recipes.arch_config("pix2pixhd", **kwargs)
    with pytest.raises(UsageError, match=r"--n-classes, --no-instance: pix2pixhd options; pix2pix takes none"):
        recipes.arch_config("pix2pix", 32, n_classes=4, instances=False)
    assert recipes.data_classes("synthetic") == 4 and recipes.data_classes("/no/such/folder") == 35


@pytest.mark.parametrize("instances", [True, False])
def test_networks_take_labels_edges_and_the_photo(instances):
    cfg = recipes.arch_config("pix2pixhd", 16, 4, 4, n_classes=5, instances=instances, vgg_loss=False)
    trainer = recipes.build_trainer(cfg, lr=1e-3)
    g, d = trainer.networks["generator"], trainer.networks["discriminator"]
    assert sorted(trainer.networks) == ["discriminator", "generator"] and trainer.vgg is None
    assert g.input_shape == (None, 16, 16, 5 + instances) and g.output_shape == (None, 16, 16, 3)
    assert d.input_shape == (None, 16, 16, 8 + instances) and len(d.output) == 2  # num_D 2
    assert float(trainer.g_optimizer.learning_rate) == pytest.approx(1e-3)


@pytest.mark.tf_only
def test_summary_builds_the_reference_512p_networks(capsys):
    """The counts themselves are tested in test_models_pix2pixhd; the recipe's defaults (35
    labels + the edge map, 9 blocks from 256 px, num_D 2) give the same networks."""
    from i2ilab.models.pix2pixhd import PARAMETER_COUNTS

    assert cli.main(["summary", "pix2pixhd", "--image-size", "256"]) == 0
    out = capsys.readouterr().out
    assert f"generator: {PARAMETER_COUNTS['global_512p']:,} trainable parameters" in out
    assert f"discriminator: {PARAMETER_COUNTS['dis_512p']:,} trainable parameters" in out
    assert "n_classes=35, instances=True" in out


@pytest.fixture(scope="module")
def hd_run(tmp_path_factory):
    """One epoch on synthetic streets at 32 px (4 steps) without the VGG loss."""
    out = tmp_path_factory.mktemp("hd") / "run"
    trainer, status = _train("--epochs", "1", "--no-vgg-loss", "--out", str(out), *TINY)
    assert status == 0
    return out, trainer


def test_train_writes_the_run_and_translate_reproduces_the_trainer(hd_run, tmp_path):
    from i2ilab.data import label_instance_dataset

    out, trainer = hd_run
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "pix2pixhd" and config["n_classes"] == 4 and config["vgg_loss"] is False
    assert config["networks"] == {"generator": "generator.keras", "discriminator": "discriminator.keras"}
    assert (out / "samples.png").is_file() and (out / "checkpoints" / "ckpt-epoch0001.npz").is_file()
    assert set(viz.history_dict(out / "log.csv")[1]) == {"G_GAN", "G_GAN_Feat", "D_real", "D_fake"}
    assert int(trainer.g_optimizer.iterations) == 4

    root = _streets()
    assert (
        cli.main(
            ["translate", "--checkpoint", str(out), "--input", str(root / "test_label"), "--out", str(tmp_path / "t")]
        )
        == 0
    )
    (labels, inst), _ = next(
        iter(label_instance_dataset(root, "test", 32, 4, batch_size=3, shuffle=False, jitter=False))
    )
    expected = viz.to_uint8(trainer.translate((labels.numpy(), inst.numpy())))
    got = np.stack([np.asarray(Image.open(tmp_path / "t" / f"{i:05d}.png")) for i in range(3)]).astype(int)
    diff = np.abs(got - expected.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99
    # One file, with its instance map named explicitly, at twice the size (resized nearest to 32).
    big = tmp_path / "big"
    big.mkdir()
    ids = np.asarray(Image.open(root / "test_label" / "00000.png"))
    Image.fromarray(ids.repeat(2, 0).repeat(2, 1)).save(big / "00000.png")
    inst_big = tmp_path / "inst"
    inst_big.mkdir()
    Image.fromarray(np.asarray(Image.open(root / "test_inst" / "00000.png")).repeat(2, 0).repeat(2, 1)).save(
        inst_big / "00000.png"
    )
    args = ["translate", "--checkpoint", str(out), "--input", str(big / "00000.png"), "--instances", str(inst_big)]
    assert cli.main([*args, "--out", str(tmp_path / "one")]) == 0
    one = np.asarray(Image.open(tmp_path / "one" / "00000.png")).astype(int)
    assert np.abs(one - expected[0]).max() <= 1


def test_resume_continues_the_step_count(hd_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(hd_run[0], out)
    trainer, status = _train("--epochs", "2", "--no-vgg-loss", "--out", str(out), "--resume", *TINY)
    assert status == 0 and int(trainer.g_optimizer.iterations) == 8
    np.testing.assert_array_equal(viz.history_dict(out / "log.csv")[0], [1, 2])
    with pytest.raises(UsageError, match=r"--vgg-loss: checkpoint False vs now True"):
        _train("--epochs", "3", "--out", str(out), "--resume", *TINY)


@pytest.mark.slow
def test_vgg_loss_with_random_weights_and_translate_from_a_checkpoint(monkeypatch, tmp_path, request):
    """The VGG term with a random-weights VGG19 (patched in: no download); an unfinished run
    translates from its checkpoint, which restores the VGG, without downloading anything."""
    from i2ilab import losses

    real = losses.vgg19_features
    monkeypatch.setattr(losses, "vgg19_features", lambda weights="imagenet", **kw: real(None, **kw))
    out = tmp_path / "run"
    args = ("--image-size", "32", "--ngf", "4", "--ndf", "4", "--n-train", "2", "--quiet", "--samples", "1")
    _, status = _train("--epochs", "1", "--keep", "1", "--out", str(out), *args)
    assert status == 0 and "G_VGG" in viz.history_dict(out / "log.csv")[1]
    monkeypatch.setattr(losses, "vgg19_features", real)
    request.getfixturevalue("offline")
    for name in ("config.json", "generator.keras", "discriminator.keras"):
        (out / name).unlink()  # as if training had not finished
    root = _streets()
    argv = ["translate", "--checkpoint", str(out), "--input", str(root / "test_label" / "00001.png")]
    assert cli.main([*argv, "--out", str(tmp_path / "t")]) == 0
    assert np.asarray(Image.open(tmp_path / "t" / "00001.png")).shape == (32, 32, 3)


def _one_line_error(capsys, argv):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("i2ilab: error: "), err
    return err[0]


def test_offline_first_use_of_the_vgg_loss_names_no_vgg_loss(offline, capsys, tmp_path):
    argv = ["train", "pix2pixhd", "--data", "synthetic", "--out", str(tmp_path / "r"), *TINY]
    err = _one_line_error(capsys, argv)
    assert "ImageNet VGG19 weights" in err and "Temporary failure in name resolution" in err and "--no-vgg-loss" in err


def test_bad_inputs_exit_2_with_one_line(hd_run, capsys, tmp_path):
    out = str(tmp_path / "r")
    train = ["train", "pix2pixhd", "--no-vgg-loss", "--out", out, *TINY]
    assert "--image-size 40: pix2pixhd needs a multiple of 16" in _one_line_error(
        capsys, [*train, "--data", "synthetic", "--image-size", "40"]
    )
    assert "--n-scales-d 5" in _one_line_error(capsys, [*train, "--data", "synthetic", "--n-scales-d", "5"])
    assert "label id 3 >= n_classes 3" in _one_line_error(capsys, [*train, "--data", "synthetic", "--n-classes", "3"])
    assert "--direction applies to paired data" in _one_line_error(
        capsys, [*train, "--data", "synthetic", "--direction", "BtoA"]
    )
    assert "pix2pix takes none" in _one_line_error(
        capsys, ["train", "pix2pix", "--data", "synthetic", "--no-instance", "--out", out]
    )
    bad = tmp_path / "bad"
    shutil.copytree(_streets(), bad)
    (bad / "train_inst" / "00001.png").unlink()
    err = _one_line_error(capsys, [*train, "--data", str(bad)])
    assert "train_inst holds 3 files" in err and "00001" in err
    shutil.rmtree(bad / "train_img")
    assert "train_img not found" in _one_line_error(capsys, [*train, "--data", str(bad)])

    run = str(hd_run[0])
    labels = tmp_path / "labels"
    labels.mkdir()
    shutil.copy(_streets() / "test_label" / "00000.png", labels / "00000.png")
    translate = ["translate", "--checkpoint", run, "--out", str(tmp_path / "t")]
    assert "pass --instances FOLDER" in _one_line_error(capsys, [*translate, "--input", str(labels)])
    rgb = tmp_path / "rgb"
    rgb.mkdir()
    shutil.copy(_streets() / "test_img" / "00000.png", rgb / "00000.png")
    err = _one_line_error(capsys, [*translate, "--input", str(rgb), "--instances", str(labels)])
    assert "a RGB image, not a label map of ids" in err
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(labels / "00000.png")
    err = _one_line_error(capsys, [*translate, "--input", str(labels), "--instances", str(labels)])
    assert "label id 7 >= 4" in err
