"""The ``ost`` recipe (one-shot translation, Benaim & Wolf 2018): the reference's parameter counts
in ``i2ilab summary``, both phases of ``i2ilab train ost`` at 32 px (phase 1 ``--phase
autoencoder`` on domain B; phase 2 ``--phase ost --from RUN1`` from one A image, starting from
phase 1's B networks), ``translate`` A -> B, an exact ``--resume``, the one-shot data, and the
bad options (one line naming the flag, exit 2, nothing written). Also the two older defects it
mends: ``--n-layers-d`` for a model without a PatchGAN, and CUT's patch sampler F in ``summary``."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from i2ilab import callbacks as cb
from i2ilab import cli, data, inference, recipes, viz
from i2ilab.data import oneshot
from i2ilab.errors import UsageError

pytestmark = pytest.mark.usefixtures("synthetic_cache")  # synthetic sets written once per module

#: The reference's counts at the facades setting (shared/seeds/OST.md, tests/test_models_ost.py).
REFERENCE_COUNTS = {
    "enc_a": 378_496,
    "enc_b": 378_496,
    "enc_shared": 7_080_960,
    "dec_shared": 7_080_960,
    "dec_a": 378_243,
    "dec_b": 378_243,
    "d_b": 2_764_737,
}
TINY = "--data synthetic --image-size 32 --ngf 4 --ndf 4 --n-train 4 --batch-size 2 --quiet".split()


def _trainable(net):
    return sum(int(np.prod(v.shape)) for v in net.trainable_variables)


def train(*argv):
    return cli.main(["train", "ost", *TINY, *map(str, argv)])


# ------------------------------------------------------------------------------------- summary
def test_default_settings_are_the_reference_architecture():
    cfg = recipes.arch_config("ost", recipes.default_image_size("ost", data=None))
    assert {k: cfg[k] for k in ("image_size", "phase", "n_downsampling", "n_blocks", "n_layers_d")} == {
        "image_size": 256,
        "phase": "ost",
        "n_downsampling": 2,
        "n_blocks": 6,
        "n_layers_d": 3,
    }
    with keras.StatelessScope(initialize_variables=False):
        nets = recipes.summary_networks(cfg)
        phase_1 = recipes.build_networks(recipes.arch_config("ost", 256, phase="autoencoder"))
    keras.utils.clear_session()
    assert list(nets) == list(recipes.NETWORKS["ost"])
    assert {name: _trainable(net) for name, net in nets.items()} == REFERENCE_COUNTS
    assert sorted(phase_1) == ["d_b", "dec_b", "dec_shared", "enc_b", "enc_shared"]


def test_summary_lists_every_network_with_its_count(capsys):
    assert cli.main(["summary", "ost", "--image-size", "32", "--ngf", "4", "--ndf", "4", "--n-layers-d", "2"]) == 0
    out = capsys.readouterr().out
    for name in recipes.NETWORKS["ost"]:
        assert f"{name}: " in out
    assert "phase=ost" in out and "n_layers_d=2" in out


def test_cut_summary_lists_the_patch_sampler(capsys):
    with keras.StatelessScope(initialize_variables=False):
        nets = recipes.summary_networks(recipes.arch_config("cut", 256))
    keras.utils.clear_session()
    assert _trainable(nets["patch_sampler"]) == 560_384
    assert cli.main(["summary", "fastcut", "--image-size", "32", "--ngf", "4", "--ndf", "4"]) == 0
    assert "patch_sampler: " in capsys.readouterr().out


@pytest.mark.parametrize("model", ["unit", "discogan", "dualgan", "munit", "colorize"])
def test_n_layers_d_is_refused_where_there_is_no_patchgan(model, capsys):
    with pytest.raises(UsageError, match="--n-layers-d 2") as err:
        recipes.arch_config(model, 64, n_layers_d=2)
    assert "\n" not in str(err.value)
    assert cli.main(["summary", model, "--image-size", "64", "--n-layers-d", "2"]) == 2
    assert "--n-layers-d 2" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- data
def test_the_one_a_image_is_augmented_anew_beside_every_b_image():
    root = data.synthetic_root("day2night", image_size=32, n_train=4, seed=0)
    image = inference.read_image(sorted((root / "trainA").iterdir())[2])
    plain = oneshot.oneshot_dataset(root, image_size=32, jitter=False, batch_size=4, one_shot=2, shuffle=False)
    (a, b), *rest = list(plain)
    assert rest == [] and a.shape == (4, 32, 32, 3)
    np.testing.assert_allclose(np.asarray(a), np.repeat(image[None], 4, axis=0), atol=1e-6)
    jittered = np.asarray(
        next(iter(oneshot.oneshot_dataset(root, image_size=32, load_size=36, batch_size=4, one_shot=2, seed=0)))[0]
    )
    assert np.abs(jittered[0] - jittered[1]).mean() > 0.01  # a crop, flip and rotation each
    a, b = next(
        iter(oneshot.oneshot_dataset(root, image_size=32, load_size=36, batch_size=2, phase="autoencoder", seed=0))
    )
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # phase 1: domain B only


# ------------------------------------------------------------------------------ both phases
@pytest.fixture(scope="module")
def phase_1(tmp_path_factory):
    out = tmp_path_factory.mktemp("ost") / "autoencoder"
    assert train("--phase", "autoencoder", "--epochs", "1", "--out", out) == 0
    return out


@pytest.fixture(scope="module")
def phase_2(phase_1, tmp_path_factory):
    """Two epochs (1 + 1 of decay) of phase ost from trainA image 1."""
    out = tmp_path_factory.mktemp("ost") / "oneshot"
    argv = ["--phase", "ost", "--from", phase_1, "--one-shot-index", "1", "--epochs", "1", "--epochs-decay", "1"]
    assert train(*argv, "--out", out) == 0
    return out, argv


def test_phase_1_trains_the_b_autoencoder(phase_1):
    config = json.loads((phase_1 / "config.json").read_text())
    assert config["model"] == "ost" and config["phase"] == "autoencoder"
    assert sorted(config["networks"]) == ["d_b", "dec_b", "dec_shared", "enc_b", "enc_shared"]
    assert set(viz.history_dict(phase_1 / "log.csv")[1]) >= {"G_gan", "idt_B", "kl", "D"}


def test_phase_2_starts_from_phase_1s_b_networks_with_a_fresh_d(phase_1):
    cfg = recipes.arch_config("ost", 32, 4, 4, phase="ost")
    trainer = recipes.build_trainer(cfg, seed=0)
    recipes.start_from_phase_1(trainer, cfg, phase_1)
    for name in recipes.OST_FROM_PHASE_1:
        saved = inference.load_keras(phase_1 / f"{name}.keras").get_weights()
        for got, want in zip(trainer.networks[name].get_weights(), saved, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=name)
    saved_d = inference.load_keras(phase_1 / "d_b.keras").get_weights()
    assert any(not np.array_equal(x, y) for x, y in zip(trainer.d_b.get_weights(), saved_d, strict=True))
    keras.utils.clear_session()


def test_phase_2_trains_the_a_side_and_translate_runs_a_to_b(phase_2, tmp_path):
    out, _ = phase_2
    config = json.loads((out / "config.json").read_text())
    assert config["phase"] == "ost" and set(config["networks"]) == set(recipes.NETWORKS["ost"])
    assert set(viz.history_dict(out / "log.csv")[1]) >= {"G_A", "cycle_A", "idt_A", "G_B", "idt_B", "kl", "D"}
    folder = tmp_path / "inputs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for k in range(2):
        viz.save_image(folder / f"e{k}.png", viz.to_uint8(rng.uniform(-1, 1, (32, 32, 3)).astype("float32")))
    assert cli.main(["translate", "--checkpoint", str(out), "--input", str(folder), "--out", str(tmp_path / "t")]) == 0
    trainer, _ = inference.load_trainer(out, "ost")
    want = trainer.translate(inference.read_image(folder / "e0.png")[None])[0]
    np.testing.assert_allclose(inference.read_image(tmp_path / "t" / "e0.png"), want, atol=1.5 / 127.5)
    with Image.open(tmp_path / "t" / "e1.png") as img:
        assert img.size == (32, 32)


def test_interrupted_and_resumed_phase_2_equals_the_straight_run(phase_2, tmp_path, monkeypatch):
    straight, argv = phase_2
    stopped = tmp_path / "stopped"
    original = cb.SampleGrid.on_epoch_end

    def interrupt_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(cb.SampleGrid, "on_epoch_end", interrupt_after_first_epoch)
    assert train(*argv, "--out", stopped) == 130
    monkeypatch.setattr(cb.SampleGrid, "on_epoch_end", original)
    assert train(*argv, "--out", stopped, "--resume") == 0
    for name in recipes.NETWORKS["ost"]:
        want = inference.load_keras(straight / f"{name}.keras").get_weights()
        got = inference.load_keras(stopped / f"{name}.keras").get_weights()
        for x, y in zip(got, want, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=name)
    log_a, log_b = viz.history_dict(straight / "log.csv")[1], viz.history_dict(stopped / "log.csv")[1]
    for key, values in log_a.items():
        np.testing.assert_allclose(log_b[key], values, rtol=1e-5, err_msg=key)


def test_resume_with_another_one_shot_image_names_the_flag(phase_2, tmp_path, capsys):
    out, argv = phase_2
    changed = [a if a != "1" or argv[i - 1] != "--one-shot-index" else "3" for i, a in enumerate(argv)]
    assert train(*changed, "--out", out, "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert "--one-shot-index: checkpoint 1 vs now 3" in err and "\n" not in err, err


# -------------------------------------------------------------------------------- bad options
@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cyclegan") / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"model": "cyclegan", "networks": {}}))
    return out


def _bad(tmp_path, capsys, argv, model="ost"):
    out = tmp_path / "out"
    status = cli.main(["train", model, *TINY, "--epochs", "1", *map(str, argv), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and err.startswith("i2ilab: error: ") and "\n" not in err, err
    assert not out.exists(), "nothing may be written for a bad option"
    return err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--phase: ost trains in two phases"),
        (["--phase", "ost", "--one-shot-index", "0"], "--from: ost --phase ost starts from a --phase autoencoder run"),
        (["--phase", "ost", "--from", "{missing}", "--one-shot-index", "0"], "no such folder"),
        (["--phase", "ost", "--from", "{cyclegan}", "--one-shot-index", "0"], "a cyclegan run, not an ost"),
        (["--phase", "ost", "--from", "{phase_1}"], "--one-shot-image / --one-shot-index: pass exactly one"),
        (
            ["--phase", "ost", "--from", "{phase_1}", "--one-shot-index", "0", "--one-shot-image", "{image}"],
            "pass exactly one",
        ),
        (["--phase", "ost", "--from", "{phase_1}", "--one-shot-index", "4"], "--one-shot-index 4: --data synthetic"),
        (["--phase", "ost", "--from", "{phase_1}", "--one-shot-image", "{broken}"], "--one-shot-image"),
        (["--phase", "ost", "--from", "{phase_1}", "--one-shot-image", "{missing}"], "cannot read it as an image"),
        (["--phase", "ost", "--from", "{phase_1}", "--one-shot-index", "0", "--ngf", "8"], "--ngf 4"),
        (["--phase", "autoencoder", "--one-shot-index", "0"], "--one-shot-index: options of ost --phase ost"),
        (["--phase", "autoencoder", "--n-layers-d", "9"], "--n-layers-d 9"),
    ],
)
def test_bad_ost_options_are_one_line_exit_2(phase_1, cyclegan_run, tmp_path, capsys, argv, message):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    image = tmp_path / "a.png"
    viz.save_image(image, np.zeros((32, 32, 3), "uint8"))
    places = {"missing": tmp_path / "nope", "cyclegan": cyclegan_run, "phase_1": phase_1, "image": image}
    places["broken"] = broken
    argv = [str(a).format(**places) for a in argv]
    assert message in _bad(tmp_path, capsys, argv)


@pytest.mark.parametrize(
    ("model", "argv", "message"),
    [
        ("cyclegan", ["--phase", "ost"], "--phase ost: an ost option"),
        ("cyclegan", ["--one-shot-index", "0"], "--one-shot-index: options of ost --phase ost (not for cyclegan)"),
        ("unit", ["--n-layers-d", "2"], "--n-layers-d 2: unit's discriminator is not a PatchGAN"),
    ],
)
def test_ost_flags_on_other_models_exit_2(tmp_path, capsys, model, argv, message):
    assert message in _bad(tmp_path, capsys, argv, model)


def test_ost_refuses_tfds_data(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["train", "ost", "--phase", "autoencoder", "--data", "tfds:cycle_gan/horse2zebra", "--out", str(out)]
    assert cli.main(argv) == 2
    assert "ost reads a folder dataset" in capsys.readouterr().err and not out.exists()
