"""Pix2PixHD trainer: the reference update order (both gradients at the same G and D, D halved),
the 1024p local-only warm-up and the fresh G optimizer after it, exact resume across that
switch, and one compiled step equal on TensorFlow and JAX (TF in-process, JAX in a subprocess
running this file as a script). The perceptual loss uses VGG19 with random weights
(weights=None): the ImageNet weights would be a download."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from i2ilab import backend as shim
from i2ilab import losses, models
from i2ilab.training import Pix2PixHD
from i2ilab.training.pix2pixhd import global_variables

SIZE = (16, 32)
LABELS = 3


def values(variables):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in variables]


def batch(seed=0, n=2):
    rng = np.random.default_rng(seed)
    labels = np.eye(LABELS, dtype="float32")[rng.integers(0, LABELS, (n, *SIZE))]
    instances = rng.integers(0, 4, (n, *SIZE, 1)).astype("int32") * 1000 + 7
    images = rng.uniform(-1, 1, (n, *SIZE, 3)).astype("float32")
    return (labels, instances), images


def tiny_networks(local=False, encoder=False):
    feat = 3 if encoder else 0
    g_in = LABELS + 1 + feat
    if local:
        g = models.local_enhancer(None, g_in, ngf=2, n_downsample_global=1, n_blocks_global=1, n_blocks_local=1)
    else:
        g = models.global_generator(None, g_in, ngf=4, n_downsampling=1, n_blocks=1)
    nets = {"generator": g, "discriminator": models.hd_discriminator(None, LABELS + 4, ndf=4, num_D=2)}
    if encoder:
        nets["encoder"] = models.feature_encoder(None, nef=2, n_downsampling=1)
    return nets


@pytest.fixture(scope="module")
def vgg():
    return losses.vgg19_features(weights=None)


def small_features():
    """A stand-in for VGG19 in the eager reference computations (fast on JAX): five ReLU conv
    maps, two of them pooled, like vgg19_features' five outputs."""
    inputs = keras.Input((None, None, 3))
    h, maps = inputs, []
    for i in range(5):
        h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(h)
        if i in (1, 3):
            h = keras.layers.MaxPooling2D()(h)
        maps.append(h)
    model = keras.Model(inputs, maps)
    model.trainable = False
    return model


def tiny_trainer(vgg, local=False, encoder=False, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return Pix2PixHD(**tiny_networks(local, encoder), vgg=vgg, **kwargs)


@pytest.mark.tf_only  # eager JAX takes minutes here; JAX's step = TF's by the last test
def test_step_takes_both_gradients_at_the_same_g_and_d():
    """With SGD(lr=1) the weight changes are minus the gradients. G's: of GAN + FM + VGG at the
    old G and old D; D's: of 0.5 * (real + fake) at the old D on the detached fake (the
    reference's one forward, then G step, then D step). A small conv stack stands in for VGG19
    (the reference computation runs eagerly); the TF = JAX test uses VGG19 itself."""
    keras.utils.set_random_seed(0)
    vgg = small_features()
    trainer = tiny_trainer(vgg, encoder=True)
    trainer.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    (labels, inst), y = batch()
    g, d, e = trainer.generator, trainer.discriminator, trainer.encoder
    g_vars, d_vars = g.trainable_variables + e.trainable_variables, d.trainable_variables
    g0, d0 = values(g_vars), values(d_vars)
    cond = np.concatenate([labels, keras.ops.convert_to_numpy(models.instance_edge_map(inst))], -1)
    lsgan = losses.gan_loss("lsgan")

    def fake_image():
        return g(keras.ops.concatenate([cond, e([y, inst])], -1))

    def g_objective():
        fake = fake_image()
        fake_out = d(keras.ops.concatenate([cond, fake], -1))
        real_out = d(np.concatenate([cond, y], -1))
        return (
            lsgan.g_loss(losses.final_logits(fake_out))
            + losses.feature_matching_loss(fake_out, real_out)
            + losses.vgg_perceptual_loss(vgg, fake, y)
        ), ()

    def d_objective():
        fake = keras.ops.stop_gradient(fake_image())
        r, f = lsgan.d_loss(
            losses.final_logits(d(np.concatenate([cond, y], -1))),
            losses.final_logits(d(keras.ops.concatenate([cond, fake], -1))),
        )
        return 0.5 * (r + f), ()

    _, _, g_grads, _ = shim.value_and_grad(g_objective, g_vars)
    _, _, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
    logs = trainer.train_on_batch((labels, inst), y, return_dict=True)
    assert set(logs) == {"G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake"}
    moved = 0
    for before, after, grad in zip(g0 + d0, values(g_vars + d_vars), g_grads + d_grads, strict=True):
        grad = keras.ops.convert_to_numpy(grad)
        np.testing.assert_allclose(after, before - grad, rtol=1e-3, atol=1e-5)
        moved += np.abs(grad).max() > 1e-4
    assert moved > len(g0 + d0) // 2  # G, E and D all received gradient


def test_local_only_warm_up_then_fresh_optimizer():
    trainer = tiny_trainer(None, local=True, fix_global_epochs=2)
    trainer.compile()
    x, y = batch()
    g = trainer.generator
    fixed = global_variables(g)
    fixed_ids = {id(v) for v in fixed}
    local = [v for v in g.trainable_variables if id(v) not in fixed_ids]
    assert fixed and local
    f0, l0 = values(fixed), values(local)
    trainer.fit(x, y, batch_size=2, epochs=2, verbose=0)
    assert trainer.global_is_fixed()
    for before, after in zip(f0, values(fixed), strict=True):
        np.testing.assert_array_equal(after, before)  # G1 exactly untouched for 2 epochs
    assert all(not np.array_equal(a, b) for a, b in zip(l0, values(local), strict=True))
    assert int(keras.ops.convert_to_numpy(trainer.g_optimizer.iterations)) == 2
    assert sum(np.abs(v).sum() > 0 for v in values(trainer.g_optimizer.variables)) > 10  # moments moved

    # release_global: a fresh optimizer, every slot 0 but the learning rate
    trainer.release_global()
    assert not trainer.global_is_fixed()
    for v in trainer.g_optimizer.variables:
        if v.name != "learning_rate":
            assert not np.any(keras.ops.convert_to_numpy(v.value)), v.path
    assert float(keras.ops.convert_to_numpy(trainer.g_optimizer.learning_rate)) == pytest.approx(2e-4)

    # fit's own switch, at the start of epoch fix_global_epochs (set the phase back first)
    trainer.global_fixed.assign(1.0)
    trainer.fit(x, y, batch_size=2, epochs=3, initial_epoch=2, verbose=0)
    assert not trainer.global_is_fixed()
    assert int(keras.ops.convert_to_numpy(trainer.g_optimizer.iterations)) == 1
    assert int(keras.ops.convert_to_numpy(trainer.d_optimizer.iterations)) == 3
    assert all(not np.array_equal(a, b) for a, b in zip(f0, values(fixed), strict=True))


def test_resume_across_the_warm_up_switch_in_a_new_trainer(tmp_path):
    """2 epochs straight == 1 epoch + save + new trainer + load + 1 epoch, the switch to the
    whole G (and the fresh optimizer) happening at the start of epoch 2 in both. (No VGG here:
    it is frozen; the step tests cover it.)"""
    x, y = batch()
    straight = tiny_trainer(None, local=True, encoder=True, fix_global_epochs=1)
    straight.compile()
    straight.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    path = straight.save_checkpoint(tmp_path / "ckpt.npz", metadata={"epoch": 1})
    logs = straight.fit(x, y, batch_size=2, epochs=2, initial_epoch=1, shuffle=False, verbose=0).history
    assert set(logs) == {"G_GAN", "G_GAN_Feat", "D_real", "D_fake"}

    resumed = tiny_trainer(None, local=True, encoder=True, fix_global_epochs=1, seed=5)
    resumed.compile()
    assert resumed.load_checkpoint(path) == {"epoch": 1}
    assert resumed.global_is_fixed()
    again = resumed.fit(x, y, batch_size=2, epochs=2, initial_epoch=1, shuffle=False, verbose=0).history
    for name in logs:
        np.testing.assert_allclose(again[name], logs[name], rtol=1e-5, err_msg=name)
    for a, b in zip(straight.networks.values(), resumed.networks.values(), strict=True):
        for u, v in zip(values(a.variables), values(b.variables), strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    for u, v in zip(values(straight.optimizer.variables), values(resumed.optimizer.variables), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    out = resumed.translate(x, image=y)
    assert out.shape == (2, *SIZE, 3) and np.abs(out).max() <= 1.0
    assert list(resumed.sample_columns(x, y)) == ["output", "target"]


def test_errors_a_user_can_meet():
    with pytest.raises(ValueError, match="local_enhancer"):
        tiny_trainer(None, local=False, fix_global_epochs=10)
    trainer = tiny_trainer(None, encoder=True)
    with pytest.raises(ValueError, match="image="):
        trainer.translate(batch()[0])
    with pytest.raises(ValueError, match="wgangp"):
        tiny_trainer(None, gan_mode="wgangp")


# --- learning: the instance edge map separates touching objects of one class (section 3.3) -------

COLORS = np.array([[-0.6, 0.2, 0.8], [0.9, -0.5, -0.3]], "float32")  # background, object


def touching_objects(n, size=32, seed=0):
    """Label maps with two touching objects of the same class, side by side, so that only the
    instance map tells where one ends; the photo paints each class's colour and a dark line on
    every instance boundary (the line between the two objects included)."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, size, size), "int32")
    inst = np.zeros((n, size, size, 1), "int32")
    for i in range(n):
        top, bottom = rng.integers(4, 10), rng.integers(22, 28)
        left, right, split = rng.integers(3, 8), rng.integers(24, 29), rng.integers(12, 20)
        labels[i, top:bottom, left:right] = 1
        inst[i, top:bottom, left:split, 0] = 1000
        inst[i, top:bottom, split:right, 0] = 1001
    images = COLORS[labels]
    edges = keras.ops.convert_to_numpy(models.instance_edge_map(inst))[..., 0]
    images[(edges > 0) & (labels == 1)] = -1.0
    return (np.eye(2, dtype="float32")[labels], inst), images


@pytest.mark.slow
def test_learns_and_the_edge_map_draws_the_line_labels_cannot():
    """Two trainings of 160 steps at 32 x 32 (about 50 s on TF): held-out L1 falls below 0.4x its start, and on
    the pixels of the line between the two objects the error with the edge map is under 0.6x the
    error of the same training on labels only (measured 0.36 vs 0.83; L1 0.65 -> 0.19)."""
    x, y = touching_objects(64)
    (labels_t, inst_t), y_t = touching_objects(16, seed=1)
    ids = inst_t[..., 0]
    line = ((ids == 1000) & (np.roll(ids, -1, axis=2) == 1001)) | ((ids == 1001) & (np.roll(ids, 1, axis=2) == 1000))
    assert line.sum() > 16 * 20

    def train(with_instances):
        keras.utils.set_random_seed(0)
        g = models.global_generator(None, 3 if with_instances else 2, ngf=8, n_downsampling=2, n_blocks=2)
        d = models.hd_discriminator(None, 6 if with_instances else 5, ndf=8, n_layers=2, num_D=2)
        trainer = Pix2PixHD(g, d, vgg=None)
        trainer.compile()
        inputs, held_out = (x, (labels_t, inst_t)) if with_instances else (x[0], labels_t)
        start = np.abs(trainer.translate(held_out) - y_t).mean()
        trainer.fit(inputs, y, batch_size=8, epochs=20, verbose=0)
        error = np.abs(trainer.translate(held_out) - y_t)
        return start, error.mean(), error[line].mean()

    start, l1, line_error = train(True)
    assert l1 < 0.4 * start
    _, _, line_error_labels_only = train(False)
    assert line_error < 0.6 * line_error_labels_only


# --- one compiled step, TensorFlow = JAX ---------------------------------------------------------


def write_inputs(path):
    """Initial weights of the tiny networks and of a random-weight VGG19, and one batch."""
    keras.utils.set_random_seed(3)
    arrays = {}
    nets = tiny_networks(local=True, encoder=True)
    nets["vgg"] = losses.vgg19_features(weights=None)
    for name, net in nets.items():
        for i, w in enumerate(net.get_weights()):
            arrays[f"{name}/{i}"] = w
    (labels, inst), y = batch(seed=4)
    arrays.update(labels=labels, instances=inst, y=y)
    np.savez(path, **arrays)


def run_step(path):
    """One train step (warm-up on: only the enhancer and E move) then a second after the switch."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    nets = tiny_networks(local=True, encoder=True)
    nets["vgg"] = losses.vgg19_features(weights=None)
    for name, net in nets.items():
        net.set_weights([arrays[f"{name}/{i}"] for i in range(len(net.get_weights()))])
    trainer = Pix2PixHD(fix_global_epochs=1, **nets)
    # epsilon 1e-3: the float noise of the gradients of biases in front of InstanceNorm would
    # otherwise become +-lr Adam updates that differ between backends (test_training_parity.py)
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
        d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
    )
    x, y = (arrays["labels"], arrays["instances"]), arrays["y"]
    out = {}
    for epoch in range(2):
        logs = trainer.fit(x, y, batch_size=2, epochs=epoch + 1, initial_epoch=epoch, verbose=0).history
        for key, value in logs.items():
            out[f"loss{epoch}/{key}"] = np.asarray(value, "float64")
    for name in ("generator", "discriminator", "encoder"):
        for i, w in enumerate(nets[name].get_weights()):
            out[f"{name}/{i}"] = w
    return out


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="compares TensorFlow (in-process) with JAX (subprocess); run once, from the TF session",
)
def test_compiled_steps_match_across_tensorflow_and_jax(tmp_path):
    inputs, jax_out = tmp_path / "inputs.npz", tmp_path / "jax.npz"
    write_inputs(inputs)
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip(),
    )
    repo = pathlib.Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, str(pathlib.Path(__file__).resolve()), str(inputs), str(jax_out)],
        env=env,
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tf_results = run_step(inputs)
    log, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, log[-4000:]
    with np.load(jax_out) as f:
        jax_results = {k: f[k] for k in f.files}
    assert tf_results.keys() == jax_results.keys()
    assert len([k for k in tf_results if k.startswith("loss")]) == 10
    for key, tf_value in tf_results.items():
        if key.startswith("loss"):
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, err_msg=key)
        else:
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, atol=2e-5, err_msg=key)


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
    np.savez(sys.argv[2], **run_step(sys.argv[1]))
