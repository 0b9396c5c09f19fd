"""Tests of the i2ilab command line (in-process through cli.main, plus one console-script run)."""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from i2ilab import callbacks as cb
from i2ilab import cli, inference, recipes, viz

TINY = "--image-size 16 --ngf 4 --ndf 4 --n-train 16 --batch-size 8 --quiet".split()


pytestmark = pytest.mark.usefixtures("synthetic_cache")  # synthetic sets written once per module


def _train(*argv):
    return cli.run_train(cli.build_parser().parse_args(["train", *argv]))


def _inputs(tmp_path, model, n=3, folder="testA"):
    """Write n test images of the model's synthetic set as single files; return folder, arrays."""
    from i2ilab.data import synthetic_root

    root = synthetic_root(recipes.SYNTHETIC[model], image_size=16, n_train=16)
    src = sorted((root / ("test" if model in ("pix2pix", "colorize") else folder)).iterdir())[:n]
    out = tmp_path / "inputs"
    out.mkdir()
    arrays = []
    for p in src:
        img = np.asarray(Image.open(p).convert("RGB"))[:, :16]  # pix2pix: the A (label) half
        Image.fromarray(img).save(out / p.name)
        arrays.append(img.astype("float32") / 127.5 - 1.0)
    return out, np.stack(arrays)


def _read_pngs(folder, names):
    return np.stack([np.asarray(Image.open(folder / n)) for n in names]).astype(int)


def _assert_same_image(cli_png, in_memory):
    diff = np.abs(cli_png - viz.to_uint8(in_memory).astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="backend-independent; building models is slow on JAX CPU"
)
def test_summary_prints_parameter_counts(capsys):
    assert cli.main(["summary", "pix2pix", "--image-size", "16", "--ngf", "4", "--ndf", "4"]) == 0
    out = capsys.readouterr().out
    from i2ilab.models import patch_discriminator, unet_generator

    counts = {}
    for name, net in (
        ("generator", unet_generator(16, ngf=4)),
        ("discriminator", patch_discriminator(16, 6, 4, n_layers=2)),
    ):
        counts[name] = sum(int(np.prod(v.shape)) for v in net.trainable_variables)
        assert f"{name}: {counts[name]:,} trainable parameters" in out
    assert f"{sum(counts.values()):,} trainable parameters in all" in out
    assert "n_layers_d=2" in out


def test_train_pix2pix_writes_outputs_and_translate_reproduces_memory(tmp_path, capsys):
    out = tmp_path / "run"
    trainer, status = _train(
        "pix2pix", "--data", "synthetic", "--epochs", "2", "--out", str(out), "--tensorboard", *TINY
    )
    assert status == 0
    assert list((out / "tensorboard").rglob("events.out.tfevents.*"))
    for name in (
        "generator.keras",
        "discriminator.keras",
        "config.json",
        "log.csv",
        "losses.png",
        "samples.png",
        "samples/epoch_0001.png",
        "samples/epoch_0002.png",
        "checkpoints/ckpt-epoch0002.npz",
        "checkpoints/latest.json",
    ):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "pix2pix" and config["image_size"] == 16 and config["ngf"] == 4
    assert config["networks"] == {"generator": "generator.keras", "discriminator": "discriminator.keras"}
    assert cb.find_latest(out / "checkpoints")["epoch"] == 2
    epochs, series = viz.history_dict(out / "log.csv")
    np.testing.assert_array_equal(epochs, [1, 2])
    assert set(series) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    grid = np.asarray(Image.open(out / "samples.png"))
    assert grid.shape[0] > 4 * 16 and grid.ndim == 3  # 4 sample rows with titles

    inputs, x = _inputs(tmp_path, "pix2pix")
    assert cli.main(["translate", "--checkpoint", str(out), "--input", str(inputs), "--out", str(tmp_path / "t")]) == 0
    names = sorted(p.name for p in inputs.iterdir())
    got = _read_pngs(tmp_path / "t", names)
    _assert_same_image(got, trainer.translate(x))
    # the .keras file directly, and an input of another size (resized to 16x16)
    Image.fromarray(viz.to_uint8(x[0])).resize((40, 24)).save(tmp_path / "big.png")
    assert (
        cli.main(
            [
                "translate",
                "--checkpoint",
                str(out / "generator.keras"),
                "--input",
                str(tmp_path / "big.png"),
                "--out",
                str(tmp_path / "t2"),
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "t2" / "big.png").size == (16, 16)
    # fully convolutional at the image's own size (a multiple of 16 here)
    Image.fromarray(viz.to_uint8(np.tile(x[0], (2, 3, 1)))).save(tmp_path / "wide.png")
    assert (
        cli.main(
            [
                "translate",
                "--checkpoint",
                str(out),
                "--input",
                str(tmp_path / "wide.png"),
                "--out",
                str(tmp_path / "t3"),
                "--full-size",
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "t3" / "wide.png").size == (48, 32)


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_straight_run(tmp_path, monkeypatch):
    common = ["pix2pix", "--data", "synthetic", "--epochs", "1", "--epochs-decay", "1", *TINY]
    straight = tmp_path / "straight"
    assert cli.main(["train", *common, "--out", str(straight)]) == 0

    stopped = tmp_path / "stopped"
    original = cb.SampleGrid.on_epoch_end

    def interrupt_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(cb.SampleGrid, "on_epoch_end", interrupt_after_first_epoch)
    assert cli.main(["train", *common, "--out", str(stopped)]) == 130
    monkeypatch.setattr(cb.SampleGrid, "on_epoch_end", original)
    assert cb.find_latest(stopped / "checkpoints")["epoch"] == 1
    assert not (stopped / "generator.keras").exists()
    # an unfinished run translates from its newest checkpoint
    inputs, x = _inputs(tmp_path, "pix2pix", n=1)
    assert (
        cli.main(["translate", "--checkpoint", str(stopped), "--input", str(inputs), "--out", str(tmp_path / "t")]) == 0
    )
    assert Image.open(next((tmp_path / "t").iterdir())).size == (16, 16)
    assert cli.main(["train", *common, "--out", str(stopped), "--resume"]) == 0

    for name in ("generator", "discriminator"):
        a = inference.load_keras(straight / f"{name}.keras").get_weights()
        b = inference.load_keras(stopped / f"{name}.keras").get_weights()
        for wa, wb in zip(a, b, strict=False):
            np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    log_a = viz.history_dict(straight / "log.csv")
    log_b = viz.history_dict(stopped / "log.csv")
    np.testing.assert_array_equal(log_b[0], [1, 2])
    np.testing.assert_allclose(log_b[1]["lr"], [1e-4, 0.0])  # reference schedule, (1, 1)
    for key, values in log_a[1].items():
        np.testing.assert_allclose(log_b[1][key], values, rtol=1e-5, err_msg=key)


def test_clear_errors(tmp_path, capsys):
    assert cli.main(["train", "pix2pix", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert cli.main(["train", "pix2pix", "--data", "tfds:cycle_gan/horse2zebra", "--out", str(tmp_path / "o")]) == 2
    assert "unpaired" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "train",
                "pix2pix",
                "--data",
                "synthetic",
                "--out",
                str(tmp_path / "o"),
                "--image-size",
                "16",
                "--n-layers-d",
                "4",
            ]
        )
        == 2
    )
    assert "at most 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "pix3pix", "--data", "synthetic", "--out", str(tmp_path / "o")])
    assert exc.value.code == 2
    assert "invalid choice: 'pix3pix'" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "translate",
                "--checkpoint",
                str(tmp_path / "none"),
                "--input",
                str(tmp_path),
                "--out",
                str(tmp_path / "t"),
            ]
        )
        == 2
    )
    assert "no such file or folder" in capsys.readouterr().err

    # a finished 16x16 pix2pix run with ngf 4, as far as these checks look (no training needed)
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "ckpt-epoch0001.npz").write_bytes(b"")
    (out / "checkpoints" / "latest.json").write_text(
        json.dumps({"epoch": 1, "path": "ckpt-epoch0001.npz", "config": recipes.arch_config("pix2pix", 16, 4, 4)})
    )
    (out / "config.json").write_text(json.dumps({"model": "pix2pix", "networks": {"generator": "generator.keras"}}))
    assert cli.main(["train", "pix2pix", "--data", "synthetic", "--epochs", "2", "--out", str(out), *TINY]) == 2
    assert "pass --resume" in capsys.readouterr().err
    wider = [a if a != "4" else "8" for a in TINY]
    assert (
        cli.main(["train", "pix2pix", "--data", "synthetic", "--epochs", "2", "--out", str(out), "--resume", *wider])
        == 2
    )
    assert "--ngf: checkpoint 4 vs now 8, --ndf: checkpoint 4 vs now 8" in capsys.readouterr().err
    assert (
        cli.main(
            ["translate", "--checkpoint", str(out), "--input", str(tmp_path / "none.png"), "--out", str(tmp_path / "t")]
        )
        == 2
    )
    assert "--input" in capsys.readouterr().err
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "x.png")
    assert (
        cli.main(["sample", "--checkpoint", str(out), "--input", str(tmp_path / "x.png"), "--out", str(tmp_path / "s")])
        == 2
    )
    assert "no gen_a, gen_b" in capsys.readouterr().err


# The command-line paths are the same code on every backend; the trainers themselves are tested
# on JAX in tests/test_training*.py. Training three more models through the CLI on JAX CPU
# (slow transposed convolutions, a compile per model) would add minutes for no new coverage.
@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="backend-independent CLI paths; run on TensorFlow only (time)"
)
def test_cyclegan_colorize_munit_train_translate_and_sample(tmp_path, capsys):
    # CycleGAN: translate BtoA reproduces g_ba in memory
    trainer, status = _train("cyclegan", "--data", "synthetic", "--epochs", "1", "--out", str(tmp_path / "cg"), *TINY)
    assert status == 0
    inputs, x = _inputs(tmp_path / "cg", "cyclegan", folder="testB")
    assert (
        cli.main(
            [
                "translate",
                "--checkpoint",
                str(tmp_path / "cg"),
                "--input",
                str(inputs),
                "--out",
                str(tmp_path / "cg_t"),
                "--direction",
                "BtoA",
            ]
        )
        == 0
    )
    names = sorted(p.name for p in inputs.iterdir())
    _assert_same_image(_read_pngs(tmp_path / "cg_t", names), trainer.translate(x, "BtoA"))

    # colorize: RGB files in, the L channel is colourised, RGB out
    from i2ilab.data import rgb_to_lab_np

    trainer, status = _train("colorize", "--data", "synthetic", "--epochs", "1", "--out", str(tmp_path / "co"), *TINY)
    assert status == 0
    inputs, x = _inputs(tmp_path / "co", "colorize")
    assert (
        cli.main(
            ["translate", "--checkpoint", str(tmp_path / "co"), "--input", str(inputs), "--out", str(tmp_path / "co_t")]
        )
        == 0
    )
    l_scaled = rgb_to_lab_np((x + 1) / 2)[..., :1] / 50.0 - 1.0
    names = sorted(p.name for p in inputs.iterdir())
    _assert_same_image(_read_pngs(tmp_path / "co_t", names), trainer.translate(l_scaled))

    # MUNIT: k random styles per input, the trainer's N(0, I) codes for the same seed
    trainer, status = _train("munit", "--data", "synthetic", "--epochs", "1", "--out", str(tmp_path / "mu"), *TINY)
    assert status == 0
    inputs, x = _inputs(tmp_path / "mu", "munit", n=2)
    assert (
        cli.main(
            [
                "sample",
                "--checkpoint",
                str(tmp_path / "mu"),
                "--input",
                str(inputs),
                "--out",
                str(tmp_path / "mu_s"),
                "--n-styles",
                "3",
                "--seed",
                "4",
            ]
        )
        == 0
    )
    styles = trainer.sample_styles(3, seed=4)
    for i, name in enumerate(sorted(p.stem for p in inputs.iterdir())):
        got = _read_pngs(tmp_path / "mu_s", [f"{name}_style{k + 1}.png" for k in range(3)])
        _assert_same_image(got, trainer.translate(np.repeat(x[i : i + 1], 3, 0), styles))
        assert (tmp_path / "mu_s" / f"{name}_grid.png").is_file()
    style_file = sorted(inputs.iterdir())[1]
    assert (
        cli.main(
            [
                "sample",
                "--checkpoint",
                str(tmp_path / "mu"),
                "--input",
                str(sorted(inputs.iterdir())[0]),
                "--style-from",
                str(style_file),
                "--out",
                str(tmp_path / "mu_g"),
            ]
        )
        == 0
    )
    got = _read_pngs(tmp_path / "mu_g", [f"{sorted(inputs.iterdir())[0].stem}_guided.png"])
    _assert_same_image(got, trainer.translate(x[:1], style=x[1:2]))
    assert (
        cli.main(
            ["translate", "--checkpoint", str(tmp_path / "mu"), "--input", str(inputs), "--out", str(tmp_path / "mu_t")]
        )
        == 2
    )
    assert "i2ilab sample" in capsys.readouterr().err


def test_train_mixed_precision_munit(tmp_path, capsys):
    """--mixed-precision builds the networks under mixed_bfloat16 (bf16 compute, float32
    weights), trains to finite losses, records the precision, and restores the global policy."""
    import keras

    out = tmp_path / "mu"
    trainer, status = _train(
        "munit", "--data", "synthetic", "--epochs", "1", "--out", str(out), "--mixed-precision", *TINY
    )
    assert status == 0
    assert keras.mixed_precision.global_policy().name == "float32"
    up = trainer.gen_a.decoder.get_layer("up0")
    assert (up.compute_dtype, up.conv.kernel.dtype) == ("bfloat16", "float32")
    _, series = viz.history_dict(out / "log.csv")
    assert set(series) == {"D", "G_adv", "recon_x", "recon_s", "recon_c"}
    assert all(np.isfinite(v).all() for v in series.values())
    assert json.loads((out / "config.json").read_text())["precision"] == "mixed_bfloat16"
    assert cb.find_latest(out / "checkpoints")["config"]["precision"] == "mixed_bfloat16"
    # resuming in float32 says so, and goes on from the bfloat16 run's weights
    capsys.readouterr()
    _, status = _train("munit", "--data", "synthetic", "--epochs", "2", "--out", str(out), "--resume", *TINY)
    assert status == 0
    printed = capsys.readouterr().out
    assert "resuming from epoch 1" in printed
    assert "trained in mixed_bfloat16, this run computes in float32" in printed


@pytest.mark.tf_only
def test_console_script_and_python_m(tmp_path):
    """The installed entry points start and dispatch (once; the backend does not matter)."""
    exe = shutil.which("i2ilab") or os.path.join(os.path.dirname(sys.executable), "i2ilab")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run(
        [exe, "summary", "pix2pix", "--image-size", "16", "--ngf", "4", "--ndf", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "i2ilab pix2pix at 16x16" in run.stdout and "trainable parameters in all" in run.stdout
    run = subprocess.run(
        [sys.executable, "-m", "i2ilab", "train", "--help"], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0 and "--epochs-decay" in run.stdout


def test_convert_subcommand_then_translate(tmp_path, parity_dir, capsys):
    """`i2ilab convert` (delegated to i2ilab.convert) feeds `i2ilab translate`."""
    out = tmp_path / "g.keras"
    assert (
        cli.main(
            [
                "convert",
                "--from-pytorch",
                str(parity_dir / "resnet.npz"),
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
        == 0
    )
    assert out.is_file()
    Image.fromarray(np.full((80, 48, 3), 90, np.uint8)).save(tmp_path / "in.png")
    assert (
        cli.main(
            ["translate", "--checkpoint", str(out), "--input", str(tmp_path / "in.png"), "--out", str(tmp_path / "t")]
        )
        == 0
    )
    assert Image.open(tmp_path / "t" / "in.png").size == (64, 64)
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "pix2pix", "--data", "synthetic", "--out", str(tmp_path), "--bogus"])
    assert exc.value.code == 2 and "--bogus" in capsys.readouterr().err


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="backend-independent CLI path (NaNStop itself is tested on both)"
)
def test_nan_loss_exits_1_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    original = cli.make_data

    count = tf.Variable(0, dtype=tf.int64)

    def poison(x, y):  # the 4th batch drawn (epoch 2, batch 2 of 2) becomes NaN
        return tf.where(count.assign_add(1) == 4, x * np.nan, x), y

    def poisoned(args, image_size):
        train, sample, desc = original(args, image_size)
        return train.map(poison), sample, desc

    monkeypatch.setattr(cli, "make_data", poisoned)
    out = tmp_path / "run"
    assert cli.main(["train", "pix2pix", "--data", "synthetic", "--epochs", "3", "--out", str(out), *TINY]) == 1
    captured = capsys.readouterr()
    assert "became nan at epoch 2/3, batch 2" in captured.err
    assert cb.find_latest(out / "checkpoints")["epoch"] == 1
    assert (out / "losses.png").is_file() and not (out / "generator.keras").exists()
