"""Tests of i2ilab.callbacks: LR schedule, checkpoint/resume, NaN stop, sample grids, logging."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from i2ilab import callbacks as cb


# ---------------------------------------------------------------------------------------------
# A minimal stand-in implementing the trainer interface (g/d optimizers, networks,
# save/load_checkpoint, sample_columns) with Keras' own train step.
class TinyTrainer(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.generator = keras.Sequential(
            [keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 3, padding="same", activation="tanh")],
            name="generator",
        )

    def call(self, x, training=False):
        return self.generator(x, training=training)

    def compile(self, g_optimizer=None, d_optimizer=None):
        super().compile(optimizer=g_optimizer or keras.optimizers.Adam(0.05), loss="mae")
        self.g_optimizer = self.optimizer
        self.d_optimizer = d_optimizer

    @property
    def networks(self):
        return {"generator": self.generator}

    def _state(self):
        if not self.optimizer.built:
            self.optimizer.build(self.trainable_variables)
        return list(self.variables) + list(self.optimizer.variables)

    def save_checkpoint(self, path):
        with open(path, "wb") as f:
            np.savez(f, *[keras.ops.convert_to_numpy(v) for v in self._state()])

    def load_checkpoint(self, path):
        with np.load(path) as f:
            values = [f[f"arr_{i}"] for i in range(len(f.files))]
        state = self._state()
        if len(values) != len(state):
            raise ValueError(f"{len(values)} arrays in the file, {len(state)} variables here")
        for v, a in zip(state, values, strict=False):
            v.assign(a)

    def sample_columns(self, x, y):
        return {"input": x, "output": keras.ops.convert_to_numpy(self(x)), "target": y}


def _data(n=16, nan_at=None):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, 4, 4, 1)).astype("float32")
    y = np.tanh(2 * x[..., ::-1, :]).astype("float32")
    if nan_at is not None:
        x[nan_at] = np.nan
    return x, y


def _trainer(lr=0.05, with_d=True):
    keras.utils.set_random_seed(7)
    t = TinyTrainer()
    t(np.zeros((1, 4, 4, 1), "float32"))
    t.compile(keras.optimizers.Adam(lr), keras.optimizers.Adam(lr / 2) if with_d else None)
    return t


class LRRecorder(keras.callbacks.Callback):
    """Records the learning rates in force while each epoch trains (at its first batch)."""

    def __init__(self):
        super().__init__()
        self.g, self.d, self.logged = {}, {}, {}
        self._epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.g[self._epoch] = float(self.model.g_optimizer.learning_rate)
            if self.model.d_optimizer is not None:
                self.d[self._epoch] = float(self.model.d_optimizer.learning_rate)

    def on_epoch_end(self, epoch, logs=None):
        self.logged[epoch] = logs["lr"]


# ---------------------------------------------------------------------------------------------
def _reference_lambda_lr(n_epochs, n_decay, epoch_count):
    """The reference procedure: LambdaLR(lambda_rule) stepped at the start of each epoch."""

    def lambda_rule(k):
        return 1.0 - max(0, k + epoch_count - n_epochs) / float(n_decay + 1)

    last_epoch, out = 0, {}  # LambdaLR's constructor evaluates lambda_rule(0)
    for epoch in range(epoch_count, n_epochs + n_decay + 1):
        last_epoch += 1  # scheduler.step() at the beginning of the epoch
        out[epoch] = lambda_rule(last_epoch)
    return out


@pytest.mark.parametrize("n_epochs,n_decay", [(100, 100), (3, 4), (1, 2), (5, 0)])
def test_linear_decay_factor_matches_reference_procedure(n_epochs, n_decay):
    for epoch_count in (1, 2, n_epochs + 1):
        ref = _reference_lambda_lr(n_epochs, n_decay, epoch_count)
        for epoch_1based, factor in ref.items():
            got = cb.linear_decay_factor(epoch_1based - 1, n_epochs, n_decay)
            assert got == pytest.approx(factor, abs=1e-12), (epoch_1based, epoch_count)
    assert cb.linear_decay_factor(n_epochs + n_decay - 1, n_epochs, n_decay) == 0.0
    assert cb.linear_decay_factor(n_epochs + n_decay + 5, n_epochs, n_decay) == 0.0
    with pytest.raises(ValueError, match="n_epochs"):
        cb.linear_decay_factor(0, 0, 3)


def test_linear_decay_sets_both_optimizers_and_logs_lr():
    t = _trainer(lr=0.04)
    rec = LRRecorder()
    x, y = _data()
    t.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[cb.LinearDecay(2, 3), rec])
    factors = [cb.linear_decay_factor(e, 2, 3) for e in range(5)]
    np.testing.assert_allclose(factors, [1, 0.75, 0.5, 0.25, 0.0])
    np.testing.assert_allclose([rec.g[e] for e in range(5)], np.multiply(factors, 0.04), rtol=1e-6)
    np.testing.assert_allclose([rec.d[e] for e in range(5)], np.multiply(factors, 0.02), rtol=1e-6)
    np.testing.assert_allclose([rec.logged[e] for e in range(5)], [rec.g[e] for e in range(5)])


def test_linear_decay_refuses_unknown_base_inside_decay():
    t = _trainer()
    x, y = _data()
    with pytest.raises(ValueError, match="base learning rate"):
        t.fit(x, y, epochs=4, initial_epoch=3, verbose=0, callbacks=[cb.LinearDecay(2, 3)])
    t2 = _trainer(lr=0.3)
    rec = LRRecorder()
    t2.fit(x, y, epochs=4, initial_epoch=3, verbose=0, callbacks=[cb.LinearDecay(2, 3, base_lr=0.04), rec])
    assert rec.g[3] == pytest.approx(0.04 * 0.25) and rec.d[3] == pytest.approx(0.04 * 0.25)


# ---------------------------------------------------------------------------------------------
def test_checkpoint_keeps_last_k_atomically_and_writes_latest(tmp_path):
    t = _trainer()
    x, y = _data()
    ck = cb.Checkpoint(tmp_path, every=1, keep=2, config={"model": "tiny"})
    t.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[cb.LinearDecay(3, 1), ck])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ckpt-epoch0003.npz", "ckpt-epoch0004.npz", "latest.json"]
    info = json.loads((tmp_path / "latest.json").read_text())
    assert info["epoch"] == 4 and info["path"] == "ckpt-epoch0004.npz"
    assert info["config"] == {"model": "tiny"}
    assert info["history"]["epoch"] == [0, 1, 2, 3]
    assert len(info["history"]["loss"]) == 4 and info["history"]["lr"][-1] == 0.0
    assert info["lr"]["g_optimizer"] == 0.0
    found = cb.find_latest(tmp_path)
    assert found["file"] == tmp_path / "ckpt-epoch0004.npz"
    # without the pointer the newest file is found by name
    (tmp_path / "latest.json").unlink()
    assert cb.find_latest(tmp_path)["epoch"] == 4
    assert cb.find_latest(tmp_path / "nothing") is None


def test_checkpoint_every_n_and_last_epoch(tmp_path):
    t = _trainer()
    x, y = _data()
    t.fit(x, y, epochs=5, verbose=0, callbacks=[cb.Checkpoint(tmp_path, every=2, keep=10)])
    assert [e for e, _ in cb.list_checkpoints(tmp_path)] == [2, 4, 5]


def test_resume_errors_are_clear(tmp_path):
    t = _trainer()
    x, y = _data()
    t.fit(x, y, epochs=1, verbose=0, callbacks=[cb.Checkpoint(tmp_path, config={"model": "tiny", "image_size": 4})])
    assert cb.resume(_trainer(), tmp_path / "empty") == 0
    with pytest.raises(ValueError, match="image_size: checkpoint 4 vs now 8"):
        cb.resume(_trainer(), tmp_path, expect_config={"model": "tiny", "image_size": 8})

    class Other(TinyTrainer):
        def _state(self):
            return super()._state()[:-1]

    other = Other()
    other(np.zeros((1, 4, 4, 1), "float32"))
    other.compile()
    with pytest.raises(ValueError, match="Could not load checkpoint .*ckpt-epoch0001.npz"):
        cb.resume(other, tmp_path)


def _weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.variables]


def test_exact_resume_with_stand_in(tmp_path):
    """2 epochs straight == 1 epoch, new trainer, resume(), 1 more epoch (stand-in trainer)."""
    x, y = _data(24)
    kw = dict(batch_size=8, shuffle=False, verbose=0)
    straight = _trainer()
    rec_a = LRRecorder()
    straight.fit(x, y, epochs=3, callbacks=[cb.LinearDecay(1, 2), rec_a], **kw)

    first = _trainer()
    first.fit(x, y, epochs=1, callbacks=[cb.LinearDecay(1, 2), cb.Checkpoint(tmp_path)], **kw)
    second = _trainer()  # a fresh process would build and compile the same way
    start = cb.resume(second, tmp_path)
    assert start == 1
    rec_b = LRRecorder()
    hist = second.fit(
        x, y, epochs=3, initial_epoch=start, callbacks=[cb.LinearDecay(1, 2), cb.Checkpoint(tmp_path), rec_b], **kw
    )
    assert hist.epoch == [1, 2]
    assert rec_b.g == {1: rec_a.g[1], 2: rec_a.g[2]} and rec_b.d == {1: rec_a.d[1], 2: rec_a.d[2]}
    for a, b in zip(_weights(straight), _weights(second), strict=False):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    it = [int(keras.ops.convert_to_numpy(m.optimizer.iterations)) for m in (straight, second)]
    assert it == [9, 9]
    info = cb.find_latest(tmp_path)
    assert info["epoch"] == 3 and info["history"]["epoch"] == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
def test_nan_stop_names_loss_epoch_batch_and_keeps_last_good_checkpoint(tmp_path, capsys):
    x, y = _data(16)
    t = _trainer()
    t.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[cb.Checkpoint(tmp_path)])
    good = cb.find_latest(tmp_path)
    good_bytes = good["file"].read_bytes()
    x_bad, _ = _data(16, nan_at=9)  # third batch of 4
    nan = cb.NaNStop()
    sg = cb.SampleGrid((x[:2], y[:2]), out_dir=tmp_path / "samples", show=False)
    t2 = _trainer()
    start = cb.resume(t2, tmp_path)
    hist = t2.fit(
        x_bad,
        y,
        batch_size=4,
        epochs=3,
        initial_epoch=start,
        shuffle=False,
        verbose=0,
        callbacks=[cb.Checkpoint(tmp_path), nan, sg],
    )
    out = capsys.readouterr().out
    assert nan.stopped[:1] == ("loss",) and nan.stopped[2:] == (1, 2)
    assert "loss 'loss' became nan at epoch 2/3, batch 3" in out
    assert "not saved" in out
    assert hist.epoch == [1]  # stopped in the first resumed epoch
    info = cb.find_latest(tmp_path)
    assert info["epoch"] == 1 and info["file"].read_bytes() == good_bytes
    assert not list(tmp_path.glob(".tmp-*")) and not (tmp_path / "samples").exists()
    t3 = _trainer()
    assert cb.resume(t3, tmp_path) == 1
    assert all(np.isfinite(w).all() for w in _weights(t3))


def test_nan_stop_passes_finite_training():
    t = _trainer()
    nan = cb.NaNStop()
    hist = t.fit(*_data(), epochs=2, verbose=0, callbacks=[nan])
    assert nan.stopped is None and hist.epoch == [0, 1]


# ---------------------------------------------------------------------------------------------
def test_sample_grid_writes_pngs(tmp_path):
    import tensorflow as tf

    x, y = _data(8)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    t = _trainer()
    sg = cb.SampleGrid(ds, out_dir=tmp_path, every=2, show=False, max_rows=2)
    np.testing.assert_array_equal(sg.x, x[:3])
    t.fit(x, y, epochs=3, verbose=0, callbacks=[sg])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0002.png", "epoch_0003.png"]
    img = np.asarray(Image.open(tmp_path / "epoch_0003.png"))
    np.testing.assert_array_equal(img, sg.last_grid)
    expected = cb.viz.image_grid(t.sample_columns(x[:3], y[:3]), max_rows=2)
    np.testing.assert_array_equal(img, expected)
    with pytest.raises(ValueError, match="batch"):
        cb.SampleGrid(5)


def test_csv_log_and_tensorboard_events(tmp_path):
    t = _trainer()
    csv_path = tmp_path / "log.csv"
    x, y = _data()
    t.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        callbacks=[
            cb.LinearDecay(2, 1),
            cb.CSVLog(csv_path),
            keras.callbacks.TensorBoard(str(tmp_path / "tb"), write_graph=False),
        ],
    )
    header = csv_path.read_text().splitlines()[0]
    assert header == "epoch,loss,lr"
    epochs, series = cb.viz.history_dict(csv_path)
    np.testing.assert_array_equal(epochs, [1, 2, 3])
    np.testing.assert_allclose(series["lr"], [0.05, 0.025, 0.0], rtol=1e-6)
    events = list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    # a run resumed at epoch index 1 replaces the rows from epoch 1 on and keeps epoch 0
    first_row = csv_path.read_text().splitlines()[1]
    t.fit(x, y, epochs=4, initial_epoch=1, verbose=0, callbacks=[cb.LinearDecay(2, 1), cb.CSVLog(csv_path)])
    lines = csv_path.read_text().splitlines()
    assert lines[1] == first_row and [r.split(",")[0] for r in lines[1:]] == ["0", "1", "2", "3"]
    # a fresh run (epoch 0) starts a new file
    t.fit(x, y, epochs=1, verbose=0, callbacks=[cb.CSVLog(csv_path)])
    assert len(csv_path.read_text().splitlines()) == 2


# ---------------------------------------------------------------------------------------------
# The same guarantees with the real Pix2Pix trainer (U-Net with dropout, PatchGAN, two Adams).
def _pix2pix(size=64):
    from i2ilab.models import patch_discriminator, unet_generator
    from i2ilab.training import Pix2Pix

    keras.utils.set_random_seed(11)
    # at 64: 6 levels, one dropout block, so its SeedGenerator state matters for exact resume
    g = unet_generator(size, ngf=4)
    d = patch_discriminator(size, in_channels=6, ndf=4, n_layers=2)
    t = Pix2Pix(g, d, seed=5)
    t.compile()
    return t


def _paired(n=8, nan_batch=None, size=64):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    y = np.tanh(x[:, ::-1] * 1.5).astype("float32")
    if nan_batch is not None:
        x[4 * nan_batch] = np.nan
    return x, y


def _state(trainer):
    vals = [keras.ops.convert_to_numpy(v) for n in trainer.networks.values() for v in n.variables]
    for opt in (trainer.g_optimizer, trainer.d_optimizer):
        vals += [keras.ops.convert_to_numpy(v) for v in opt.variables]
    return vals


@pytest.mark.slow
def test_pix2pix_exact_resume(tmp_path):
    """2 epochs straight == stop after epoch 1 + resume in a new trainer + 1 epoch (Pix2Pix).

    The straight run's own epoch-1 checkpoint is the "stopped" state: the newer files are
    deleted, so resume() also has to find it without latest.json.
    """
    x, y = _paired()
    kw = dict(batch_size=4, shuffle=False, verbose=0)
    straight = _pix2pix()
    rec_a = LRRecorder()
    h_a = straight.fit(x, y, epochs=2, callbacks=[cb.LinearDecay(1, 2), rec_a, cb.Checkpoint(tmp_path)], **kw)
    (tmp_path / "latest.json").unlink()
    cb.checkpoint_path(tmp_path, 2).unlink()

    second = _pix2pix()
    start = cb.resume(second, tmp_path)
    rec_b = LRRecorder()
    h_b = second.fit(
        x, y, epochs=2, initial_epoch=start, callbacks=[cb.LinearDecay(1, 2), cb.Checkpoint(tmp_path), rec_b], **kw
    )
    assert start == 1 and h_b.epoch == [1]
    assert rec_a.g[1] == pytest.approx(2e-4 / 3) and rec_b.g[1] == rec_a.g[1]
    assert rec_b.d[1] == rec_a.d[1]
    for k in ("G_GAN", "G_L1", "D_real", "D_fake"):
        assert h_b.history[k][0] == pytest.approx(h_a.history[k][1], rel=1e-5)
    a, b = _state(straight), _state(second)
    assert len(a) == len(b)
    for va, vb in zip(a, b, strict=False):
        np.testing.assert_allclose(va, vb, rtol=1e-5, atol=1e-6)
    assert int(straight.g_optimizer.iterations) == int(second.g_optimizer.iterations) == 4
    assert cb.find_latest(tmp_path)["epoch"] == 2


def test_pix2pix_nan_batch_stops_and_keeps_last_checkpoint(tmp_path, capsys):
    x, y = _paired(size=32)
    x_bad, _ = _paired(nan_batch=1, size=32)  # the second batch of the second epoch
    t = _pix2pix(32)
    t.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[cb.Checkpoint(tmp_path)])
    good = cb.find_latest(tmp_path)["file"].read_bytes()
    nan = cb.NaNStop()
    t.fit(
        x_bad,
        y,
        batch_size=4,
        epochs=3,
        initial_epoch=1,
        shuffle=False,
        verbose=0,
        callbacks=[nan, cb.Checkpoint(tmp_path)],
    )
    out = capsys.readouterr().out
    assert nan.stopped[2:] == (1, 1) and nan.stopped[0] in ("G_GAN", "G_L1", "D_real", "D_fake")
    assert f"loss '{nan.stopped[0]}' became nan at epoch 2/3, batch 2" in out
    info = cb.find_latest(tmp_path)
    assert info["epoch"] == 1 and info["file"].read_bytes() == good
    assert [e for e, _ in cb.list_checkpoints(tmp_path)] == [1]
    fresh = _pix2pix(32)
    assert cb.resume(fresh, tmp_path) == 1
    assert all(np.isfinite(v).all() for v in _state(fresh))


def test_linear_decay_reaches_the_compiled_step():
    """A rate set by LinearDecay is the one the compiled step uses (JAX: fit's state).

    LinearDecay(1, 0) trains its only epoch at rate 0: no trainable weight of G or D moves,
    while the iteration counters do advance.
    """
    x, y = _paired(size=32)
    t = _pix2pix(32)
    before = [keras.ops.convert_to_numpy(v) for n in t.networks.values() for v in n.trainable_variables]
    t.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[cb.LinearDecay(1, 0)])
    after = [keras.ops.convert_to_numpy(v) for n in t.networks.values() for v in n.trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=False))
    assert int(t.g_optimizer.iterations) == int(t.d_optimizer.iterations) == 2
    t.g_optimizer.learning_rate = 2e-4
    t.fit(x, y, batch_size=4, epochs=1, verbose=0)
    moved = [keras.ops.convert_to_numpy(v) for v in t.generator.trainable_variables]
    assert any(not np.array_equal(a, b) for a, b in zip(before, moved, strict=False))
