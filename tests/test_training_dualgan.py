"""DualGAN trainer: D step then G step (against the critic updated in the same iteration),
WGAN-GP with fixed draws, the TF1 RMSProp, n_critic, the wgan clipping, exact resume."""

import keras
import numpy as np
import pytest
from test_training_engine import _two_epochs_and_reload, values
from unpaired_networks import tiny_trainer, unpaired_batch

from i2ilab.training import backend as shim
from i2ilab.training.dualgan import TF1RMSprop


def assert_sgd_step(before, after, grads, lr):
    """``after = before - lr * grad`` for every variable, compared on the step itself. The biases
    in front of an instance norm have a zero gradient in exact arithmetic (float noise here),
    hence the absolute tolerance relative to the largest gradient."""
    grads = [keras.ops.convert_to_numpy(g) for g in grads]
    scale = max(np.abs(g).max() for g in grads)
    for w0, w1, g in zip(before, after, grads, strict=True):
        np.testing.assert_allclose((w0 - w1) / lr, g, rtol=1e-2, atol=1e-3 * scale)


def fixed_eps(trainer, eps_b, eps_a):
    trainer._penalty_eps = lambda batch: (keras.ops.convert_to_tensor(eps_b), keras.ops.convert_to_tensor(eps_a))


def penalty(critic, real, fake, eps):
    x = keras.ops.convert_to_tensor(real + eps * (fake - real))
    _, _, _, (grad,) = shim.value_and_grad(lambda z: (keras.ops.sum(critic(z)), ()), [], (x,))
    slope = keras.ops.sqrt(1e-8 + keras.ops.sum(keras.ops.square(grad), axis=(1, 2, 3)))
    return 10.0 * keras.ops.mean(keras.ops.square(slope - 1.0))


@pytest.mark.slow
def test_d_step_then_g_step_equal_the_reference():
    t = tiny_trainer("dualgan")
    t.compile(g_optimizer=keras.optimizers.SGD(1e-3), d_optimizer=keras.optimizers.SGD(1e-3))
    a, b = unpaired_batch("dualgan", 2)
    rng = np.random.default_rng(5)
    eps_b, eps_a = (rng.uniform(size=(2, 1, 1, 1)).astype("float32") for _ in range(2))
    fixed_eps(t, eps_b, eps_a)
    g_vars = t.g_ab.trainable_variables + t.g_ba.trainable_variables
    d_vars = t.d_a.trainable_variables + t.d_b.trainable_variables
    g0, d0 = values(g_vars), values(d_vars)
    fake_b = keras.ops.convert_to_numpy(t.g_ab(a))
    fake_a = keras.ops.convert_to_numpy(t.g_ba(b))

    def d_objective():
        loss_b = keras.ops.mean(t.d_b(fake_b)) - keras.ops.mean(t.d_b(b)) + penalty(t.d_b, b, fake_b, eps_b)
        loss_a = keras.ops.mean(t.d_a(fake_a)) - keras.ops.mean(t.d_a(a)) + penalty(t.d_a, a, fake_a, eps_a)
        return loss_a + loss_b, ()

    _, _, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
    t.train_on_batch(a, b)
    d1 = values(d_vars)
    assert_sgd_step(d0, d1, d_grads, 1e-3)
    g1 = values(g_vars)
    for v, w in zip(g_vars, g0, strict=True):
        v.assign(w)

    def g_objective():
        ab, ba = t.g_ab(a), t.g_ba(b)
        recon_a = keras.ops.mean(keras.ops.abs(t.g_ba(ab) - a))
        recon_b = keras.ops.mean(keras.ops.abs(t.g_ab(ba) - b))
        # the critics are the UPDATED ones (d1): the G step follows the D step
        return -keras.ops.mean(t.d_b(ab)) - keras.ops.mean(t.d_a(ba)) + 500.0 * (recon_a + recon_b), ()

    _, _, g_grads, _ = shim.value_and_grad(g_objective, g_vars)
    assert_sgd_step(g0, g1, g_grads, 1e-3)


def test_tf1_rmsprop_starts_its_mean_square_at_one():
    v = keras.Variable(np.array([1.0, -2.0], "float32"))
    opt = TF1RMSprop(0.1)
    opt.build([v])
    g = np.array([0.5, -3.0], "float32")
    opt.apply([keras.ops.convert_to_tensor(g)], [v])
    ms = 0.9 * 1.0 + 0.1 * g**2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(v), np.array([1.0, -2.0]) - 0.1 * g / np.sqrt(ms + 1e-10), rtol=1e-6
    )


@pytest.mark.slow
def test_n_critic_wgan_clipping_and_resume(tmp_path):
    t = tiny_trainer("dualgan", gan_mode="wgan", n_critic=2)
    t.compile()
    assert isinstance(t.g_optimizer, TF1RMSprop)
    assert float(keras.ops.convert_to_numpy(t.g_optimizer.learning_rate)) == pytest.approx(5e-5)
    a, b = unpaired_batch("dualgan", 6)
    history = _two_epochs_and_reload(t, a, b, tmp_path, 2)
    assert set(history) == {"G_A", "G_B", "recon_A", "recon_B", "D_A", "D_B"}
    assert int(keras.ops.convert_to_numpy(t.d_optimizer.iterations)) == 6
    assert int(keras.ops.convert_to_numpy(t.g_optimizer.iterations)) == 3  # iterations 0, 2, 4
    assert max(np.abs(w).max() for w in values(t.d_a.trainable_variables)) <= 0.01 + 1e-7


@pytest.mark.slow
def test_wgangp_resumes_exactly(tmp_path):
    t = tiny_trainer("dualgan", seed=3)
    t.compile()
    a, b = unpaired_batch("dualgan", 4)
    history = _two_epochs_and_reload(t, a, b, tmp_path, 2)
    assert history["gp_A"][0] > 0
    assert list(t.sample_columns(a[:2], b[:2])) == ["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"]
