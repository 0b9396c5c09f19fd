"""Recipes of the systems beyond the first four labs (BicycleGAN and the unpaired family UNIT, CUT,
FastCUT, DiscoGAN, DualGAN, DistanceGAN): the parameter counts of the reference architecture at
the default size (the numbers tests/test_models_*.py assert), ``i2ilab summary``, bad sizes, a
one-epoch ``i2ilab train`` smoke run per model and ``i2ilab translate`` on it (BicycleGAN with
random codes and with an example's code), ``--lr`` keeping each trainer's optimizer, and
DistanceGAN's data statistics across a ``--resume``."""

import json
import shutil

import keras
import numpy as np
import pytest

from i2ilab import cli, inference, recipes
from i2ilab.errors import UsageError
from i2ilab.models import registry

pytestmark = pytest.mark.usefixtures("synthetic_cache")  # synthetic sets written once per module


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


# ----------------------------------------------------------------------------- unpaired family
NEW_UNPAIRED = ("unit", "cut", "fastcut", "discogan", "dualgan", "distancegan")
#: Trainable parameters per network at each model's default size (256; DiscoGAN 64), the
#: references' counts (tests/test_models_unit.py, _cut, _discogan, _dualgan).
REFERENCE_COUNTS = {
    "unit": {"gen_a": 11_140_483, "gen_b": 11_140_483, "dis_a": 8_271_171, "dis_b": 8_271_171},
    "cut": {"generator": 11_378_179, "discriminator": 2_764_737},
    "fastcut": {"generator": 11_378_179, "discriminator": 2_764_737},
    "discogan": {"g_ab": 5_513_856, "g_ba": 5_513_856, "d_a": 2_765_568, "d_b": 2_765_568},
    "dualgan": {"g_ab": 30_627_907, "g_ba": 30_627_907, "d_a": 3_949_441, "d_b": 3_949_441},
    "distancegan": {"g_ab": 11_388_675, "g_ba": 11_388_675, "d_a": 2_766_529, "d_b": 2_766_529},
}
TINY = "--epochs 1 --n-train 8 --batch-size 2 --ngf 4 --ndf 4 --quiet"


def _trainable(net):
    return sum(int(np.prod(v.shape)) for v in net.trainable_variables)


def _small_size(model):
    return 64 if model == "discogan" else 32


@pytest.mark.parametrize("model", NEW_UNPAIRED)
def test_unpaired_default_size_is_the_reference_architecture(model):
    """CUT's patch sampler F (560,384) is created by the trainer from G's NCE layers."""
    size = recipes.default_image_size(model, data=None)
    assert size == (64 if model == "discogan" else 256)
    cfg = recipes.arch_config(model, size)
    with keras.StatelessScope(initialize_variables=False):
        nets = recipes.build_networks(cfg)
        f_count = recipes.make_trainer(model, nets).patch_sampler.count_params() if "cut" in model else None
    keras.utils.clear_session()
    assert set(nets) == set(recipes.NETWORKS[model])
    assert {name: _trainable(net) for name, net in nets.items()} == REFERENCE_COUNTS[model]
    if f_count is not None:
        assert f_count == 560_384


@pytest.mark.parametrize("model", NEW_UNPAIRED)
def test_summary_prints_every_unpaired_network(model, capsys):
    argv = ["summary", model, "--image-size", str(_small_size(model)), "--ngf", "4", "--ndf", "4"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    for name in recipes.NETWORKS[model]:
        assert f"{name}: " in out


@pytest.mark.parametrize(
    ("model", "size", "rule"),
    [
        ("discogan", 32, "64 (its fixed 64x64"),
        ("discogan", 128, "64 (its fixed 64x64"),
        ("dualgan", 48, "power of two >= 16"),
        ("unit", 30, "multiple of 4"),
    ],
)
def test_bad_unpaired_size_names_image_size(model, size, rule, capsys):
    with pytest.raises(UsageError, match="--image-size") as err:
        recipes.arch_config(model, size)
    assert "\n" not in str(err.value) and rule in str(err.value)
    assert cli.main(["summary", model, "--image-size", str(size)]) == 2
    assert "--image-size" in capsys.readouterr().err


def test_distancegan_needs_batches_of_two(tmp_path, capsys):
    argv = ["train", "distancegan", "--data", "synthetic", "--batch-size", "1", "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--batch-size 1" in err and "\n" not in err


@pytest.mark.parametrize(
    ("n_images", "same", "message"), [(5, False, "at least 6 training images"), (6, True, "sigma 0")]
)
def test_distancegan_statistics_need_images_that_differ(tmp_path, capsys, n_images, same, message):
    """Too few images, or images all equally far apart, give a one-line exit 2 (the loss would divide by 0)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for domain in ("trainA", "trainB"):
        (tmp_path / "d" / domain).mkdir(parents=True)
        for i in range(n_images):
            pixels = np.full((16, 16, 3), 128, np.uint8) if same else rng.integers(0, 256, (16, 16, 3), np.uint8)
            Image.fromarray(pixels).save(tmp_path / "d" / domain / f"{i}.png")
    argv = ["train", "distancegan", "--data", str(tmp_path / "d"), "--image-size", "16", "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "--data" in err and "\n" not in err, err


def test_tfds_sets_are_offered_to_every_unpaired_model():
    for model in recipes.UNPAIRED:
        assert recipes._data_source(model, "tfds:cycle_gan/horse2zebra", 32)[1] == "tfds:cycle_gan/horse2zebra"
    with pytest.raises(UsageError, match="tensorflow-datasets sets are unpaired"):
        recipes._data_source("pix2pix", "tfds:cycle_gan/horse2zebra", 32)


@pytest.mark.parametrize(("model", "size"), [("dualgan", 16), ("unit", 16), ("discogan", 64), ("cut", 16)])
def test_lr_sets_the_rate_of_the_trainers_own_optimizers(model, size):
    """--lr keeps DualGAN's TF1RMSprop (and the others' Adam) and only sets the rate."""
    cfg = recipes.arch_config(model, size, ngf=2, ndf=2)
    default = recipes.build_trainer(cfg)
    trainer = recipes.build_trainer(cfg, lr=3e-3)
    for name in ("g_optimizer", "d_optimizer"):
        opt, ref = getattr(trainer, name), getattr(default, name)
        assert type(opt) is type(ref), name
        assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(3e-3)
    if model == "dualgan":
        from i2ilab.training.dualgan import TF1RMSprop

        assert isinstance(trainer.g_optimizer, TF1RMSprop) and isinstance(trainer.d_optimizer, TF1RMSprop)
        assert float(keras.ops.convert_to_numpy(default.g_optimizer.learning_rate)) == pytest.approx(5e-5)
    keras.utils.clear_session()


@pytest.fixture(scope="module", params=NEW_UNPAIRED)
def unpaired_run(request, tmp_path_factory):
    """``(model, folder)`` of a one-epoch ``i2ilab train MODEL --data synthetic`` run (widths 4)."""
    model = request.param
    out = tmp_path_factory.mktemp(model) / "run"
    argv = ["train", model, "--data", "synthetic", "--image-size", str(_small_size(model)), *TINY.split()]
    assert cli.main([*argv, "--out", str(out)]) == 0
    return model, out


def test_train_unpaired_smoke(unpaired_run):
    model, out = unpaired_run
    for name in ("config.json", "log.csv", "samples.png", "checkpoints/latest.json"):
        assert (out / name).is_file(), name
    for name in recipes.GENERATORS[model]:
        assert (out / f"{name}.keras").is_file(), name


def _images(tmp_path, size, n=2):
    from i2ilab import viz

    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k, image in enumerate(rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")):
        viz.save_image(folder / f"e{k}.png", viz.to_uint8(image))
    return folder, [inference.read_image(folder / f"e{k}.png") for k in range(n)]


def test_translate_unpaired_both_directions(unpaired_run, tmp_path):
    """One PNG per input and direction, equal to the trainer's translate (UNIT's encode/decode,
    DiscoGAN's [0, 1] networks)."""
    model, out = unpaired_run
    folder, inputs = _images(tmp_path, _small_size(model))
    trainer, _ = inference.load_trainer(out, model)
    for direction in recipes.TRANSLATORS[model]:
        target = tmp_path / direction
        argv = ["translate", "--checkpoint", str(out), "--input", str(folder), "--out", str(target)]
        assert cli.main([*argv, "--direction", direction]) == 0
        assert sorted(p.name for p in target.iterdir()) == ["e0.png", "e1.png"]
        args = () if model in ("cut", "fastcut") else (direction,)
        want = trainer.translate(inputs[0][None], *args)[0]
        np.testing.assert_allclose(inference.read_image(target / "e0.png"), want, atol=1.5 / 127.5)
    assert ("BtoA" in recipes.TRANSLATORS[model]) == (len(recipes.GENERATORS[model]) == 2)


def test_distancegan_statistics_of_the_training_images_survive_resume(unpaired_run, tmp_path, monkeypatch):
    """stats_a, stats_b = distance_statistics(group=2) of the training images (file order); a
    --resume keeps the checkpoint's (a recomputation here would use 4 images only)."""
    model, out = unpaired_run
    if model != "distancegan":
        pytest.skip("DistanceGAN only")
    from i2ilab import data
    from i2ilab.training.distancegan import distance_statistics

    root = data.synthetic_root("day2night", image_size=32, n_train=8, seed=0)
    config = json.loads((out / "config.json").read_text())
    for key, domain in (("stats_a", "trainA"), ("stats_b", "trainB")):
        images = np.stack([inference.read_image(p) for p in sorted((root / domain).iterdir())])
        np.testing.assert_allclose(config[key], distance_statistics(images, group=2), rtol=1e-5)
    resumed = tmp_path / "run"
    shutil.copytree(out, resumed)
    monkeypatch.setattr(recipes, "STATS_IMAGES", 4)
    argv = f"train distancegan --data synthetic --image-size 32 {TINY} --epochs 2 --resume --out {resumed}"
    trainer, status = cli.run_train(cli.build_parser().parse_args(argv.split()))
    assert status == 0
    latest = json.loads((resumed / "checkpoints" / "latest.json").read_text())
    saved = latest.get("config", latest)
    assert saved["stats_a"] == config["stats_a"] and saved["stats_b"] == config["stats_b"]
    assert list(trainer.stats_a) == config["stats_a"] and list(trainer.stats_b) == config["stats_b"]


def test_distancegan_trainer_needs_statistics_to_train_not_to_translate():
    cfg = recipes.arch_config("distancegan", 16, ngf=2, ndf=2)
    nets = recipes.build_networks(cfg)
    with pytest.raises(ValueError, match="stats_a and stats_b"):
        recipes.make_trainer("distancegan", nets)
    translating = recipes.make_trainer("distancegan", {**nets, "d_a": None, "d_b": None})
    x = np.zeros((1, 16, 16, 3), "float32")
    assert translating.translate(x, "BtoA").shape == (1, 16, 16, 3)
    trainer = recipes.make_trainer("distancegan", nets, cfg={**cfg, "stats_a": [0.2, 0.03], "stats_b": [0.3, 0.04]})
    assert trainer.two_sided and trainer.stats_b == (0.3, 0.04)
    keras.utils.clear_session()
