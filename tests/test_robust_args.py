"""Bad command-line options: one line naming the flag and the allowed values, exit status 2,
before anything is built or written (issue 18, list items 2 and 6)."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from i2ilab import cli, inference, runs, viz

TINY = ["--ngf", "4", "--ndf", "4", "--n-train", "4", "--batch-size", "2", "--epochs", "1", "--quiet"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("I2ILAB_CACHE", str(tmp_path / "cache"))


def _train_error(capsys, tmp_path, model, *argv):
    out = tmp_path / "out"
    status = cli.main(["train", model, "--data", "synthetic", "--out", str(out), "--image-size", "32", *TINY, *argv])
    err = capsys.readouterr().err
    assert not out.exists(), "nothing may be written for a bad option"
    assert not (tmp_path / "cache").exists(), "no data may be built for a bad option"
    return status, err


@pytest.mark.parametrize(
    ("model", "argv", "message"),
    [
        ("pix2pix", ["--batch-size", "0"], "--batch-size 0: use a batch of 1 or more"),
        ("pix2pix", ["--image-size", "0"], "--image-size 0: pix2pix needs a power of two >= 16 (16, 32, 64"),
        ("pix2pix", ["--image-size", "20"], "--image-size 20: pix2pix needs a power of two >= 16"),
        ("pix2pix", ["--image-size", "36"], "--image-size 36: pix2pix needs a power of two >= 16"),
        ("colorize", ["--image-size", "48"], "--image-size 48: colorize needs a power of two >= 16"),
        ("cyclegan", ["--image-size", "18"], "--image-size 18: cyclegan needs a multiple of 4 >= 16"),
        ("pix2pix", ["--ngf", "0"], "--ngf 0: use a network width >= 1"),
        ("munit", ["--ndf", "0"], "--ndf 0: use a network width >= 1"),
        ("pix2pix", ["--n-layers-d", "-1"], "--n-layers-d -1: use 0 to 3 for 32x32 images"),
        ("pix2pix", ["--keep", "0"], "--keep 0: keep 1 or more checkpoints"),
        ("pix2pix", ["--save-every", "0"], "--save-every 0: use a number of epochs >= 1"),
        ("pix2pix", ["--sample-every", "0"], "--sample-every 0: use a number of epochs >= 1"),
        ("pix2pix", ["--samples", "0"], "--samples 0: use 1 or more rows"),
        ("pix2pix", ["--lr", "0"], "--lr 0.0: use a learning rate > 0 and <= 1"),
        ("pix2pix", ["--lr", "-1"], "--lr -1.0: use a learning rate > 0 and <= 1"),
        ("pix2pix", ["--lr", "1e6"], "--lr 1000000.0: use a learning rate > 0 and <= 1"),
        ("pix2pix", ["--load-size", "20"], "--load-size 20 is smaller than --image-size 32"),
        ("pix2pix", ["--epochs", "0"], "--epochs 0: use 1 or more epochs"),
        ("pix2pix", ["--epochs-decay", "-1"], "--epochs-decay -1: use 0 or more"),
        ("pix2pix", ["--n-train", "0"], "--n-train 0: use 1 or more"),
    ],
)
def test_bad_train_option_is_one_line_exit_2(capsys, tmp_path, model, argv, message):
    status, err = _train_error(capsys, tmp_path, model, *argv)
    assert status == 2
    assert err.startswith("i2ilab: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert "Traceback" not in err and "num_downs" not in err and "jitter" not in err


def test_load_size_error_names_the_default(capsys, tmp_path):
    _, err = _train_error(capsys, tmp_path, "pix2pix", "--load-size", "20")
    assert "(default 36," in err


# ------------------------------------------------------------------------------------ translate
def _tiny_generator(path):
    from i2ilab.models.registry import build_model

    build_model("unet", 16, ngf=4, name="generator").save(path)
    return path


def _image(path, size=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _translate(*argv):
    return cli.main(["translate", *argv])


def test_garbage_keras_file_is_named_not_file_not_found(capsys, tmp_path):
    bad = tmp_path / "g.keras"
    bad.write_bytes(os.urandom(300))
    inp = _image(tmp_path / "in" / "a.png")
    assert _translate("--checkpoint", str(bad), "--input", str(inp), "--out", str(tmp_path / "t")) == 2
    err = capsys.readouterr().err
    assert f"{bad}: not a Keras model file" in err and "File not found" not in err
    assert not (tmp_path / "t").exists()  # the empty --out made for the check is removed again


@pytest.fixture
def no_networks(monkeypatch):
    """Fail the test if translate loads networks before the --out check."""

    def refuse(*args, **kwargs):
        raise AssertionError("networks were loaded before --out was checked")

    monkeypatch.setattr(inference, "Translator", refuse)


@pytest.mark.parametrize("where", ["file", "devnull", "proc"])
def test_translate_out_that_cannot_be_a_folder(capsys, tmp_path, no_networks, where):
    inp = _image(tmp_path / "in" / "a.png")
    ckpt = tmp_path / "g.keras"
    ckpt.write_bytes(b"x")
    out = {"file": tmp_path / "taken.txt", "devnull": "/dev/null", "proc": "/proc/i2ilab-test/out"}[where]
    if where == "file":
        out.write_text("keep me")
    assert _translate("--checkpoint", str(ckpt), "--input", str(inp), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert f"--out {out}" in err and err.count("\n") == 1, err
    assert ("is a file, not a folder" in err) if where != "proc" else ("cannot write there" in err)
    if where == "file":
        assert out.read_text() == "keep me"


def test_translate_read_only_out_is_refused_before_networks(capsys, tmp_path, no_networks, monkeypatch):
    inp = _image(tmp_path / "in" / "a.png")
    ckpt = tmp_path / "g.keras"
    ckpt.write_bytes(b"x")
    out = tmp_path / "ro"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o500)
    else:  # root writes anywhere: the write test fails as on a read-only mount

        def read_only(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(runs.tempfile, "mkstemp", read_only)
    assert _translate("--checkpoint", str(ckpt), "--input", str(inp), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: cannot write there" in err
    out.chmod(0o700)


def test_translate_full_disk_names_the_file(capsys, tmp_path, monkeypatch):
    gen = _tiny_generator(tmp_path / "g.keras")
    inp = _image(tmp_path / "in" / "a.png")

    def full(path, image):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(viz, "save_image", full)
    assert _translate("--checkpoint", str(gen), "--input", str(inp), "--out", str(tmp_path / "t")) == 2
    err = capsys.readouterr().err
    assert f"cannot write {tmp_path / 't' / 'a.png'} (No space left on device)" in err


def test_translate_checks_every_input_and_skip_bad_counts(capsys, tmp_path):
    gen = _tiny_generator(tmp_path / "g.keras")
    inputs = tmp_path / "in"
    _image(inputs / "a.png")
    _image(inputs / "c.png")
    whole = _image(inputs / "b.png").read_bytes()
    (inputs / "b.png").write_bytes(whole[: len(whole) // 2] + whole[-12:])  # truncated, IEND kept
    (inputs / "d.jpg").write_bytes(b"not a jpeg at all")
    out = tmp_path / "t"
    assert _translate("--checkpoint", str(gen), "--input", str(inputs), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert "2 of 4 image files" in err and "b.png: " in err and "d.jpg: " in err and "--skip-bad" in err
    assert not out.exists()  # nothing half done
    assert _translate("--checkpoint", str(gen), "--input", str(inputs), "--out", str(out), "--skip-bad") == 0
    printed = capsys.readouterr().out
    assert "translated 2 image(s)" in printed and "skipped 2 bad image(s): b.png, d.jpg" in printed
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png"]


def test_translate_out_into_the_input_folder_is_refused(capsys, tmp_path, no_networks):
    inp = _image(tmp_path / "in" / "a.png")
    before = inp.read_bytes()
    ckpt = tmp_path / "g.keras"
    ckpt.write_bytes(b"x")
    assert _translate("--checkpoint", str(ckpt), "--input", str(inp.parent), "--out", str(inp.parent)) == 2
    assert "is the --input folder" in capsys.readouterr().err
    assert inp.read_bytes() == before


# -------------------------------------------------------------------------------------- convert
@pytest.mark.parametrize("kind", ["truncated", "random", "pickled", "suffix"])
def test_convert_bad_file_is_one_line_exit_2(capsys, tmp_path, kind):
    path = tmp_path / ("state.txt" if kind == "suffix" else "state.npz")
    if kind in ("truncated", "suffix"):
        np.savez(tmp_path / "good.npz", w=np.zeros((64, 64), np.float32))
        whole = (tmp_path / "good.npz").read_bytes()
        path.write_bytes(whole[: len(whole) // 2] if kind == "truncated" else whole)
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(500))
    else:
        np.savez(path, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SystemExit) as exc:
        cli.main(["convert", "--from-pytorch", str(path), "--model", "unet_256", "--out", str(tmp_path / "g.keras")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("i2ilab convert: ") and err.count("\n") == 1, err
    assert str(path) in err and "allow_pickle" not in err and "Traceback" not in err
    assert not (tmp_path / "g.keras").exists()


def test_convert_exit_status_of_the_console_command(tmp_path):
    path = tmp_path / "state.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "i2ilab.convert",
            "--from-pytorch",
            str(path),
            "--model",
            "unet_256",
            "--out",
            "x.keras",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"{path}: not an .npz file" in run.stderr and "Traceback" not in run.stderr
