"""The run folder under careless use: --resume with changed options, damaged checkpoints, two
runs into one --out, NaN and exploding losses (issue 18, list items 3, 4 and 7)."""

import json
import math
import socket
import subprocess
import sys

import numpy as np
import pytest

from i2ilab import callbacks as cb
from i2ilab import cli, recipes, runs

TINY = ["--image-size", "16", "--ngf", "4", "--ndf", "4", "--n-train", "4", "--batch-size", "2", "--quiet"]


pytestmark = pytest.mark.usefixtures("synthetic_cache")  # synthetic sets written once per module


def _train(*argv):
    return cli.run_train(cli.build_parser().parse_args(["train", "pix2pix", "--data", "synthetic", *TINY, *argv]))


def _fake_run(out, epochs=3, **config):
    """A checkpoint folder as far as the resume checks look: readable .npz files and latest.json
    with the config `i2ilab train` stores (pix2pix 16x16, ngf 4, synthetic data, seed 0, ...)."""
    ckpt = out / "checkpoints"
    ckpt.mkdir(parents=True)
    for e in range(1, epochs + 1):
        np.savez(runs.checkpoint_path(ckpt, e), x=np.zeros(3))
    cfg = recipes.arch_config("pix2pix", 16, 4, 4)
    stored = {
        **cfg,
        "data": "synthetic",
        "seed": 0,
        "batch_size": 2,
        "load_size": 18,
        "direction": "AtoB",
        "n_train": 4,
        "lr": 2e-4,
        **config,
    }
    runs.write_latest(ckpt, runs.checkpoint_path(ckpt, epochs), epochs, stored, {"epoch": [0.0, 1.0, 2.0]}, {})
    return ckpt


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seed", "1"], "--seed: checkpoint 0 vs now 1"),
        (["--batch-size", "4"], "--batch-size: checkpoint 2 vs now 4"),
        (["--load-size", "20"], "--load-size: checkpoint 18 vs now 20"),
        (["--n-train", "8"], "--n-train: checkpoint 4 vs now 8"),
        (["--direction", "BtoA"], "--direction: checkpoint 'AtoB' vs now 'BtoA'"),
        (["--image-size", "32"], "--image-size: checkpoint 16 vs now 32"),
        (["--ndf", "8"], "--ndf: checkpoint 4 vs now 8"),
    ],
)
def test_resume_refuses_changed_options(tmp_path, capsys, argv, message):
    ckpt = _fake_run(tmp_path / "run")
    before = {p.name: p.read_bytes() for p in ckpt.iterdir()}
    assert cli.main(["train", "pix2pix", "--data", "synthetic", *TINY, "--epochs", "4", *argv,
                     "--out", str(tmp_path / "run"), "--resume"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert {p.name: p.read_bytes() for p in ckpt.iterdir()} == before
    assert not (tmp_path / "run" / runs.LOCK).exists()


def test_resume_refuses_other_data_folder(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    _fake_run(tmp_path / "run", data=str(tmp_path / "a"))
    argv = ["train", "pix2pix", "--data", str(tmp_path / "b"), *TINY, "--epochs", "4"]
    assert cli.main([*argv, "--out", str(tmp_path / "run"), "--resume"]) == 2
    assert f"--data: checkpoint '{tmp_path / 'a'}' vs now '{tmp_path / 'b'}'" in capsys.readouterr().err


def test_resume_with_fewer_epochs_than_trained_is_refused(tmp_path, capsys):
    _fake_run(tmp_path / "run", epochs=3)
    argv = ["train", "pix2pix", "--data", "synthetic", *TINY, "--epochs", "2", "--out", str(tmp_path / "run")]
    assert cli.main([*argv, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "--epochs: " in err and "already trained for 3 epochs, more than the 2 asked" in err
    assert not (tmp_path / "run" / "generator.keras").exists()


def test_damaged_checkpoints_are_found_before_anything_is_built(tmp_path):
    ckpt = _fake_run(tmp_path / "run", epochs=3)
    runs.checkpoint_path(ckpt, 3).write_bytes(b"")
    whole = runs.checkpoint_path(ckpt, 2).read_bytes()
    runs.checkpoint_path(ckpt, 2).write_bytes(whole[:-40])
    info = runs.find_resumable(ckpt)
    assert info["epoch"] == 1 and info["file"] == runs.checkpoint_path(ckpt, 1)
    assert [(p.name, problem.split(" (")[0]) for p, problem in info["skipped"]] == [
        ("ckpt-epoch0003.npz", "the file is empty"),
        ("ckpt-epoch0002.npz", "not a complete .npz archive"),
    ]
    assert info["history"] == {"epoch": [0.0, 1.0, 2.0]}  # the run's history is kept
    runs.checkpoint_path(ckpt, 1).write_bytes(b"junk")
    with pytest.raises(runs.UsageError, match=r"no readable checkpoint .*ckpt-epoch0001\.npz: not a complete"):
        runs.find_resumable(ckpt)


@pytest.mark.slow
def test_resume_falls_back_to_the_newest_readable_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train("--epochs", "3", "--out", str(out))[1] == 0
    ckpt = out / "checkpoints"
    history = json.loads((ckpt / runs.LATEST).read_text())["history"]
    runs.checkpoint_path(ckpt, 3).unlink()  # deleted by hand
    damaged = runs.checkpoint_path(ckpt, 2).read_bytes()[:1000]
    runs.checkpoint_path(ckpt, 2).write_bytes(damaged)  # truncated
    good = runs.checkpoint_path(ckpt, 1).read_bytes()
    capsys.readouterr()
    trainer, status = _train("--epochs", "3", "--out", str(out), "--resume")
    assert status == 0
    printed = capsys.readouterr().out
    assert "skipped ckpt-epoch0002.npz (not a complete .npz archive" in printed
    assert "resuming from ckpt-epoch0001.npz" in printed and "kept as ckpt-epoch0002.npz.damaged" in printed
    assert "resuming from epoch 1" in printed
    assert (ckpt / "ckpt-epoch0002.npz.damaged").read_bytes() == damaged  # never deleted
    latest = json.loads((ckpt / runs.LATEST).read_text())
    assert latest["epoch"] == 3 and latest["history"]["epoch"] == [0.0, 1.0, 2.0]
    assert latest["history"]["G_L1"][0] == history["G_L1"][0]  # epoch 1's entry survived
    assert runs.checkpoint_path(ckpt, 1).read_bytes() == good


@pytest.mark.slow
def test_resume_applies_an_explicit_lr_with_a_note_and_keeps_the_runs_lr(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train("--epochs", "1", "--lr", "5e-4", "--out", str(out))[1] == 0
    capsys.readouterr()
    trainer, status = _train("--epochs", "2", "--out", str(out), "--resume")  # no --lr: the run's 5e-4
    assert status == 0 and "--lr" not in capsys.readouterr().out
    assert math.isclose(float(trainer.g_optimizer.learning_rate), 5e-4, rel_tol=1e-6)
    trainer, status = _train("--epochs", "3", "--lr", "1e-3", "--out", str(out), "--resume")
    assert status == 0
    assert "note: --lr 0.001 replaces the checkpoint's learning rate 0.0005 from epoch 3 on" in capsys.readouterr().out
    for opt in (trainer.g_optimizer, trainer.d_optimizer):
        assert math.isclose(float(opt.learning_rate), 1e-3, rel_tol=1e-6)
    assert json.loads((out / "checkpoints" / runs.LATEST).read_text())["config"]["lr"] == 1e-3


# ----------------------------------------------------------------------------------- the lock
def test_second_run_into_the_same_out_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = {"pid": other.pid, "host": socket.gethostname(), "time": "2026-01-01T00:00:00"}
        (out / runs.LOCK).write_text(json.dumps(lock))
        assert cli.main(["train", "pix2pix", "--data", "synthetic", *TINY, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"--out {out} is in use by another run (pid {other.pid} on {socket.gethostname()}" in err
        assert json.loads((out / runs.LOCK).read_text()) == lock  # the other run's lock is untouched
        assert sorted(p.name for p in out.iterdir()) == [runs.LOCK]
    finally:
        other.kill()
        other.wait()


def test_stale_lock_is_taken_over_with_a_note(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / runs.LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    # takes the lock over, then stops at the data check (no dataset there)
    assert cli.main(["train", "pix2pix", "--data", str(tmp_path / "none"), *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"taking over {out / runs.LOCK} left by pid {dead.pid}, which no longer runs" in err
    assert "--data" in err and not (out / runs.LOCK).exists()


def test_lock_is_exclusive_within_one_process(tmp_path):
    with runs.run_lock(tmp_path):
        with pytest.raises(runs.UsageError, match="is in use by another run"), runs.run_lock(tmp_path):
            pass
        assert (tmp_path / runs.LOCK).exists()
    assert not (tmp_path / runs.LOCK).exists()


# ------------------------------------------------------------------------------- loss messages
@pytest.mark.tf_only
def test_nan_message_once_and_short(tmp_path, monkeypatch, capsys):
    import tensorflow as tf

    original = cli.make_data
    count = tf.Variable(0, dtype=tf.int64)

    def poisoned(args, image_size):
        train, sample, desc = original(args, image_size)
        return train.map(lambda x, y: (tf.where(count.assign_add(1) == 3, x * np.nan, x), y)), sample, desc

    monkeypatch.setattr(cli, "make_data", poisoned)
    out = tmp_path / "run"
    assert cli.main(["train", "pix2pix", "--data", "synthetic", *TINY, "--epochs", "2", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    both = captured.out + captured.err
    assert both.count("became nan at epoch 2/2, batch 1") == 1, both
    assert '"history"' not in both and "'history'" not in both
    assert f"newest checkpoint: {runs.checkpoint_path(out / 'checkpoints', 1)})" in both
    good = runs.checkpoint_path(out / "checkpoints", 1)
    assert good.is_file() and not runs.checkpoint_path(out / "checkpoints", 2).exists()


def test_exploded_losses_note(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,G_GAN,G_L1,D_real,lr\n0,0.7,0.3,1e-05,2e-4\n1,7000.0,0.2,0.5,2e-4\n2,3e13,0.2,0.4,2e-4\n")
    note = cb.exploded_losses(log)
    assert note.startswith("the losses exploded: G_GAN reached 3e+13 at epoch 3 (epoch 1: 0.7)")
    assert "D_real" not in note and "G_L1" not in note and "--lr" in note
    log.write_text("epoch,G_GAN,D_real\n0,0.7,1e-05\n1,0.9,0.6\n2,2.0,0.4\n")
    assert cb.exploded_losses(log) is None


@pytest.mark.tf_only
def test_finite_but_exploding_losses_are_noted_at_exit_0(tmp_path, monkeypatch, capsys):
    original = cli.make_data

    def huge_targets(args, image_size):
        train, sample, desc = original(args, image_size)
        return train.map(lambda x, y: (x, y * 1e8)), sample, desc

    monkeypatch.setattr(cli, "make_data", huge_targets)
    out = tmp_path / "run"
    assert cli.main(["train", "pix2pix", "--data", "synthetic", *TINY, "--epochs", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "i2ilab: note: the losses exploded: G_L1 reached" in err and "--lr" in err
