"""The GAN engine on the current backend: gradients, both optimizers under fit, image pool,
exact checkpoint resume, trainer options. Tiny networks from i2ilab.models keep it fast."""

import keras
import numpy as np
import pytest

from i2ilab.models import (
    multiscale_discriminator,
    munit_generator,
    patch_discriminator,
    resnet_generator,
    unet_generator,
)
from i2ilab.training import MUNIT, Colorizer, CycleGAN, GANTrainer, ImagePool, Pix2Pix
from i2ilab.training import backend as shim

# ------------------------------------------------------------------------------ tiny networks


def dropout_generator(size=16):
    """Conv - BatchNorm - ReLU - Dropout - Conv - tanh: small, with the state pix2pix's G has."""
    inputs = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.Dropout(0.5)(keras.layers.ReLU()(h))
    return keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(h))


def tiny_pix2pix(size=16, dropout=False, conditional=True, with_d=True, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    g = dropout_generator(size) if dropout else unet_generator(size, ngf=4, dropout=False)
    d = patch_discriminator(size, 6 if conditional else 3, ndf=4, n_layers=1) if with_d else None
    return Pix2Pix(g, d, conditional=conditional, seed=seed, **kwargs)


def tiny_cyclegan(size=16, pool_size=0, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    nets = [resnet_generator(size, ngf=4, n_blocks=1) for _ in range(2)]
    nets += [patch_discriminator(size, 3, ndf=4, n_layers=1, norm="instance") for _ in range(2)]
    return CycleGAN(*nets, pool_size=pool_size, seed=seed, **kwargs)


def tiny_munit(size=16, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    gens = [munit_generator(size, dim=4, style_dim=3, n_res=1, mlp_dim=8) for _ in range(2)]
    diss = [multiscale_discriminator(size, dim=4, n_layer=1, num_scales=2) for _ in range(2)]
    return MUNIT(*gens, *diss, seed=seed, **kwargs)


def batch(n=2, size=16, seed=0, channels=3):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, channels)).astype("float32")
    y = np.tanh(2 * x[..., ::-1]).astype("float32")
    return x, y


def values(variables):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in variables]


def state_of(trainer):
    """All variable values of all networks, the trainer and both optimizers."""
    sections = trainer._state_sections()
    return {k: values(v) for k, v in sections.items()}


def assert_same_state(a, b, **tol):
    assert a.keys() == b.keys()
    for key in a:
        assert len(a[key]) == len(b[key]), key
        for i, (u, v) in enumerate(zip(a[key], b[key], strict=False)):
            np.testing.assert_allclose(u, v, err_msg=f"{key}/{i}", **tol)


# ---------------------------------------------------------------------------------- the shim


def test_value_and_grad_vjp_match_closed_form_and_keep_state_writes():
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(2, use_bias=False)
    bn = keras.layers.BatchNormalization(momentum=0.5)
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], "float32")
    dense.build((None, 3))
    bn.build((None, 2))
    w = values(dense.trainable_variables)[0]
    z = np.array([[0.5, -1.0]], "float32")

    def objective(shift):
        h = dense(x) + shift
        bn(h, training=True)  # writes moving statistics
        return keras.ops.sum(h * h), h

    loss, h, (gw,), (gs,) = shim.value_and_grad(objective, dense.trainable_variables, (z,))
    h_np = x @ w + z
    np.testing.assert_allclose(np.asarray(keras.ops.convert_to_numpy(loss)), (h_np**2).sum(), rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gw), x.T @ (2 * h_np), rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gs), (2 * h_np).sum(0, keepdims=True), rtol=1e-5)
    # The BatchNorm write inside the gradient call is kept (0.5 * 0 + 0.5 * batch mean).
    np.testing.assert_allclose(values([bn.moving_mean])[0], 0.5 * h_np.mean(0), rtol=1e-5)

    out, pullback = shim.vjp(lambda: dense(x), dense.trainable_variables)
    cot = np.ones((2, 2), "float32") * np.array([1.0, -2.0], "float32")
    (gw2,) = pullback(cot)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), x @ w, rtol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gw2), x.T @ cot, rtol=1e-5)


# -------------------------------------------------------------------------------- image pool


def test_pool_size_zero_is_passthrough():
    pool = ImagePool(0)
    x, _ = batch(3, 4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(pool.query(x)), x)
    assert pool.variables == []


def test_pool_fills_then_conserves_images():
    """While filling it returns and stores each image; once full every image is either returned
    or stored, and every returned image is the new one or one that was stored."""
    pool = ImagePool(3, image_shape=(1, 1, 1), seed=1)
    ids = np.arange(40, dtype="float32").reshape(20, 2, 1, 1, 1)
    out = keras.ops.convert_to_numpy(pool.query(ids[0])).ravel()
    np.testing.assert_array_equal(out, [0, 1])
    assert int(keras.ops.convert_to_numpy(pool.count)) == 2
    history_returns = 0
    for step in range(1, 20):
        before = sorted(values([pool.buffer])[0].ravel().tolist())
        new = ids[step].ravel().tolist()
        out = keras.ops.convert_to_numpy(pool.query(ids[step])).ravel().tolist()
        after = sorted(values([pool.buffer])[0].ravel().tolist())
        if step == 1:
            assert out[0] == new[0]  # the third image still fills the pool
        else:
            assert sorted(before + new) == sorted(after + out)
            history_returns += sum(o != n for o, n in zip(out, new, strict=False))
        assert all(o in before + new for o in out)
    assert int(keras.ops.convert_to_numpy(pool.count)) == 3
    assert 5 <= history_returns <= 31  # about half of 36 draws


class PoolProbe(GANTrainer):
    """Runs an ImagePool inside fit's compiled step and records where its outputs came from."""

    def __init__(self, pool_size):
        super().__init__(("history", "not_future"))
        self.net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        self.pool = ImagePool(pool_size, image_shape=(2, 2, 1), seed=5)
        self.pool_size = pool_size
        self.built = True

    @property
    def networks(self):
        return {"net": self.net}

    def _optimizer_targets(self):
        return {"g": self.net.trainable_variables}

    def _train_step(self, data):
        x, _ = data
        out = self.pool.query(x)
        ids_in, ids_out = x[:, 0, 0, 0], out[:, 0, 0, 0]
        full = keras.ops.cast(ids_in >= self.pool_size, "float32")
        self.trackers["history"].update_state(keras.ops.cast(ids_out != ids_in, "float32"), sample_weight=full)
        self.trackers["not_future"].update_state(keras.ops.cast(ids_out <= ids_in, "float32"))


def test_pool_statistics_inside_compiled_fit():
    pool_size, n_after, b = 50, 800, 5
    ids = np.arange(pool_size + n_after, dtype="float32")
    x = np.broadcast_to(ids[:, None, None, None], (len(ids), 2, 2, 1)).copy()
    probe = PoolProbe(pool_size)
    probe.compile()
    logs = probe.fit(x, x, batch_size=b, epochs=1, shuffle=False, verbose=0).history
    # 800 draws with p = 0.5: standard deviation 0.018.
    assert abs(logs["history"][0] - 0.5) < 0.08
    assert logs["not_future"][0] == 1.0
    assert int(keras.ops.convert_to_numpy(probe.pool.count)) == pool_size
    stored = values([probe.pool.buffer])[0][:, 0, 0, 0]
    assert len(set(stored.tolist())) == pool_size  # distinct past images


# --------------------------------------------------------------------------- exact resume


def _two_epochs_and_reload(trainer, x, y, tmp_path, batch_size):
    """Epoch 1, save, epoch 2 (the straight run); then load the epoch-1 checkpoint into the same,
    advanced trainer and run epoch 2 again. Any state missing from the checkpoint (optimizer
    moments or counters, pool, seed generators, BatchNorm statistics) makes the two differ."""
    trainer.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    path = trainer.save_checkpoint(tmp_path / "ckpt.npz", metadata={"epoch": 1})
    logs = trainer.fit(x, y, batch_size=batch_size, epochs=2, initial_epoch=1, shuffle=False, verbose=0)
    straight = state_of(trainer)
    assert trainer.load_checkpoint(path) == {"epoch": 1}
    again = trainer.fit(x, y, batch_size=batch_size, epochs=2, initial_epoch=1, shuffle=False, verbose=0)
    assert_same_state(straight, state_of(trainer), rtol=1e-5, atol=1e-6)
    for name, series in logs.history.items():
        np.testing.assert_allclose(series, again.history[name], rtol=1e-5, err_msg=name)
    return logs.history


def test_pix2pix_fit_updates_both_optimizers_and_resumes_exactly_in_a_new_trainer(tmp_path):
    """2 epochs straight == 1 epoch + save + new trainer + load + 1 epoch (dropout on).

    Also the silent JAX pitfall: both optimizers' counters and moments must advance under fit."""
    x, y = batch(2)
    straight = tiny_pix2pix(dropout=True)
    assert any(isinstance(layer, keras.layers.Dropout) for layer in straight.generator._flatten_layers())
    straight.compile()
    g0 = values(straight.generator.trainable_variables)
    d0 = values(straight.discriminator.trainable_variables)
    straight.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "ckpt.npz"
    straight.save_checkpoint(path, metadata={"epoch": 1})
    history = straight.fit(x, y, batch_size=2, epochs=2, initial_epoch=1, shuffle=False, verbose=0).history
    assert set(history) == {"G_GAN", "G_L1", "D_real", "D_fake"}
    for opt in (straight.g_optimizer, straight.d_optimizer, straight.optimizer):
        assert int(keras.ops.convert_to_numpy(opt.iterations)) == 2
    for opt in (straight.g_optimizer, straight.d_optimizer):
        assert min(np.abs(v).sum() for v in values(opt.variables[2:])) > 0, "an Adam moment stayed 0"
    for before, net in ((g0, straight.generator), (d0, straight.discriminator)):
        assert all(not np.allclose(u, v) for u, v in zip(before, values(net.trainable_variables), strict=False))

    resumed = tiny_pix2pix(dropout=True)
    resumed.compile()
    assert resumed.load_checkpoint(path) == {"epoch": 1}
    resumed.fit(x, y, batch_size=2, epochs=2, initial_epoch=1, shuffle=False, verbose=0)
    assert_same_state(state_of(straight), state_of(resumed), rtol=1e-5, atol=1e-6)

    # translate / sample_columns on the trained model
    stats = values(resumed.generator.non_trainable_variables)
    a, b = resumed.translate(x), resumed.translate(x)
    np.testing.assert_array_equal(a, b)
    paper = resumed.translate(x, training=True)
    assert paper.shape == (2, 16, 16, 3) and not np.allclose(paper, a)
    # The paper's test protocol leaves moving statistics and dropout seeds untouched.
    assert_same_state({"s": stats}, {"s": values(resumed.generator.non_trainable_variables)})
    cols = resumed.sample_columns(x, y)
    assert list(cols) == ["input", "output", "target"]
    assert all(c.shape == (2, 16, 16, 3) for c in cols.values())
    np.testing.assert_allclose(cols["output"], a, rtol=1e-5, atol=1e-6)
    assert np.abs(a).max() <= 1.0


def test_cyclegan_resume_with_pool_lazy_build_and_columns(tmp_path):
    trainer = tiny_cyclegan(pool_size=3, lambda_identity=0.5)
    trainer.compile()
    # compile builds each optimizer on its own networks: Adam has iterations, learning rate,
    # then m and v per variable; the group adds its own two.
    g_count = len(trainer.g_ab.trainable_variables) + len(trainer.g_ba.trainable_variables)
    d_count = len(trainer.d_a.trainable_variables) + len(trainer.d_b.trainable_variables)
    assert len(trainer.g_optimizer.variables) == 2 + 2 * g_count
    assert len(trainer.d_optimizer.variables) == 2 + 2 * d_count
    assert len(trainer.optimizer.variables) == 2 + (2 + 2 * g_count) + (2 + 2 * d_count)
    assert float(keras.ops.convert_to_numpy(trainer.g_optimizer.learning_rate)) == pytest.approx(2e-4)
    assert trainer.g_optimizer.beta_1 == 0.5
    with pytest.raises(AttributeError, match="no single learning rate"):
        trainer.optimizer.learning_rate  # noqa: B018
    assert not trainer.pool_a.built  # built from the first batch at fit
    x, y = batch(4)
    history = _two_epochs_and_reload(trainer, x, y, tmp_path, 2)
    assert set(history) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"}
    assert trainer.pool_a.buffer.shape == (3, 16, 16, 3)
    assert int(keras.ops.convert_to_numpy(trainer.pool_a.count)) == 3
    cols = trainer.sample_columns(x[:2], y[:2])
    assert list(cols) == ["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"]
    np.testing.assert_allclose(cols["fake_B"], trainer.translate(x[:2]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cols["fake_A"], trainer.translate(y[:2], direction="BtoA"), rtol=1e-5, atol=1e-6)


def test_munit_resume_logs_and_columns(tmp_path):
    trainer = tiny_munit(recon_x_cyc_w=10.0, num_sample_styles=2)
    trainer.compile()
    lr = float(keras.ops.convert_to_numpy(trainer.d_optimizer.learning_rate))
    assert lr == pytest.approx(1e-4)
    x, y = batch(2)
    history = _two_epochs_and_reload(trainer, x, y, tmp_path, 1)
    assert set(history) == {"D", "G_adv", "recon_x", "recon_s", "recon_c", "recon_cyc"}
    cols = trainer.sample_columns(x, y)
    assert list(cols) == ["input", "recon", "style_1", "style_2", "style_source", "guided"]
    np.testing.assert_allclose(cols["style_1"], trainer.sample_columns(x, y)["style_1"], atol=1e-6)
    assert not np.allclose(cols["style_1"], cols["style_2"])
    styles = trainer.sample_styles(2, seed=1)
    one = trainer.translate(x, style=np.repeat(styles[:1], 2, 0))
    np.testing.assert_allclose(one, trainer.translate(x, style=styles[0]), atol=1e-6)


@pytest.mark.tf_only
def test_munit_fits_a_short_last_batch():
    """5 pairs at batch 2: the tf.function step sees batches of 2 and then 1, traced once with an
    unknown batch size (random styles drawn for the dynamic size). JAX retraces per shape."""
    import tensorflow as tf

    trainer = tiny_munit()
    trainer.compile()
    x, y = batch(5)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    history = trainer.fit(data, epochs=1, verbose=0).history
    assert int(keras.ops.convert_to_numpy(trainer.g_optimizer.iterations)) == 3
    assert all(np.isfinite(v[-1]) for v in history.values())


def test_load_checkpoint_errors(tmp_path):
    trainer = tiny_pix2pix()
    trainer.compile()
    path = trainer.save_checkpoint(tmp_path / "p.npz")
    other = Colorizer(trainer.generator)
    other.compile()
    with pytest.raises(ValueError, match="holds a Pix2Pix checkpoint"):
        other.load_checkpoint(path)
    wider = Pix2Pix(unet_generator(16, ngf=8, dropout=False), patch_discriminator(16, 6, ndf=4, n_layers=1))
    wider.compile()
    with pytest.raises(ValueError, match="has shape"):
        wider.load_checkpoint(path)
    with pytest.raises(ValueError, match="call compile"):
        tiny_pix2pix().save_checkpoint(tmp_path / "q.npz")


# ------------------------------------------------------------------------- trainer options


def test_pix2pix_ablations():
    x, y = batch(2)
    l1_only = tiny_pix2pix(with_d=False)
    l1_only.compile()
    logs = l1_only.fit(x, y, batch_size=2, epochs=1, verbose=0).history
    assert set(logs) == {"G_L1"} and l1_only.d_optimizer is None
    assert set(l1_only.networks) == {"generator"}

    # cGAN without L1, unconditional D (3 channels), WGAN-GP: the GAN term alone moves G.
    gan_only = tiny_pix2pix(conditional=False, lambda_l1=0.0, gan_mode="wgangp")
    gan_only.compile()
    g0 = values(gan_only.generator.trainable_variables)
    logs = gan_only.fit(x, y, batch_size=2, epochs=1, verbose=0).history
    assert set(logs) == {"G_GAN", "G_L1", "D_real", "D_fake", "D_gp"}
    assert logs["D_gp"][0] > 0
    assert any(not np.allclose(u, v) for u, v in zip(g0, values(gan_only.generator.trainable_variables), strict=False))


def test_munit_step_equals_the_reference_update_order():
    """The step encodes each image once (its pullback serves the G step) where the reference
    encodes twice; with SGD(lr=1) the weight changes are minus the gradients, and they equal the
    reference's: D on fakes from the plain encode, then G's gradient of the whole objective
    (encode inside) at the old G weights and the updated D weights."""
    trainer = tiny_munit(weight_decay=0.0, recon_x_cyc_w=10.0)
    rng = np.random.default_rng(1)
    styles = [rng.standard_normal((2, 3)).astype("float32") for _ in range(4)]
    draws = iter(styles * 2)
    trainer._random_styles = lambda n: keras.ops.convert_to_tensor(next(draws))
    trainer.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    x, y = batch(2)
    trainer.build(x.shape)
    gen_a, gen_b, dis_a, dis_b = trainer.gen_a, trainer.gen_b, trainer.dis_a, trainer.dis_b
    g_vars = gen_a.trainable_variables + gen_b.trainable_variables
    d_vars = dis_a.trainable_variables + dis_b.trainable_variables
    g0, d0 = values(g_vars), values(d_vars)

    def d_objective():
        fake_a = gen_a.decode(gen_b.encode(y, training=True)[0], styles[0], training=True)
        fake_b = gen_b.decode(gen_a.encode(x, training=True)[0], styles[1], training=True)
        total = 0.0
        for disc, real, fake in ((dis_a, x, fake_a), (dis_b, y, fake_b)):
            d_real, d_fake = trainer.gan.d_loss(disc(real, training=True), disc(fake, training=True))
            total = total + d_real + d_fake
        return total, ()

    _, _, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
    trainer.train_on_batch(x, y)
    g1, d1 = values(g_vars), values(d_vars)
    for before, after, grad in zip(d0, d1, d_grads, strict=False):
        np.testing.assert_allclose(after, before - keras.ops.convert_to_numpy(grad), rtol=1e-4, atol=1e-5)

    for v, w in zip(g_vars, g0, strict=False):
        v.assign(w)
    codes = lambda: (*gen_a.encode(x, training=True), *gen_b.encode(y, training=True))  # noqa: E731
    _, _, g_grads, _ = shim.value_and_grad(lambda: trainer._g_objective(x, y, codes(), styles[2], styles[3]), g_vars)
    moved = 0
    for before, after, grad in zip(g0, g1, g_grads, strict=False):
        grad = keras.ops.convert_to_numpy(grad)
        # float32 sums in another order: measured differences up to 3e-5 (JAX, XLA opt level 0)
        np.testing.assert_allclose(after, before - grad, rtol=1e-3, atol=1e-4)
        moved += np.abs(grad).max() > 1e-3
    assert moved > len(g0) // 2  # encoders, MLP and decoders all received gradient


def test_munit_weight_decay_is_coupled_l2():
    """With zero loss gradients the update is Adam's on weight_decay * w (torch's coupled L2)."""
    trainer = tiny_munit(weight_decay=0.0)
    grads = [keras.ops.zeros_like(v.value) for v in trainer.dis_a.trainable_variables]
    trainer.weight_decay = 0.5
    decayed = trainer._decayed(grads, trainer.dis_a.trainable_variables)
    for g, w in zip(decayed, values(trainer.dis_a.trainable_variables), strict=False):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(g), 0.5 * w, rtol=1e-6)


def test_colorizer_trains_and_returns_rgb():
    keras.utils.set_random_seed(0)
    trainer = Colorizer(unet_generator(16, 1, 2, ngf=4, dropout=False), loss="l1")
    trainer.compile()
    assert trainer.d_optimizer is None and set(trainer.networks) == {"generator"}
    rng = np.random.default_rng(0)
    lum = rng.uniform(-1, 1, (4, 16, 16, 1)).astype("float32")
    ab = (0.3 * lum * np.array([1.0, -0.5])).astype("float32")
    logs = trainer.fit(lum, ab, batch_size=2, epochs=3, verbose=0).history
    assert list(logs) == ["loss"] and logs["loss"][-1] < logs["loss"][0]
    rgb = trainer.translate(lum[:2])
    assert rgb.shape == (2, 16, 16, 3) and rgb.min() >= -1.001 and rgb.max() <= 1.001
    cols = trainer.sample_columns(lum[:2], ab[:2])
    assert list(cols) == ["input", "output", "target"]
    grey = cols["input"]
    np.testing.assert_allclose(grey[..., 0], grey[..., 1], atol=2e-2)
    with pytest.raises(ValueError, match="loss must be one of"):
        Colorizer(trainer.generator, loss="ce")
