"""The UNIT trainer: the reference update order (D first, then G at the new D) with hand-computed
gradients, the coupled weight decay, exact resume, columns, and one compiled step TF = JAX.

Run as a script (``python tests/test_training_unit.py inputs.npz out.npz``) it computes the one
step on the current backend; the cross-backend test uses that for JAX in a subprocess."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

SIZE = 16


def tiny_unit(seed=0, **kwargs):
    from i2ilab import models
    from i2ilab.training import UNIT

    keras.utils.set_random_seed(seed)
    gens = [models.vae_generator(SIZE, dim=4, n_res=1) for _ in range(2)]
    diss = [models.unit_discriminator(SIZE, dim=4, n_layer=1, num_scales=2) for _ in range(2)]
    return UNIT(*gens, *diss, seed=seed, **kwargs)


def batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, SIZE, SIZE, 3)).astype("float32")
    return x, np.tanh(2 * x[..., ::-1]).astype("float32")


def values(variables):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in variables]


def noise_draws(seed, n=6):
    """D: n_a, n_b; G: n_a, n_b, n_b', n_a' (latent (2, 4, 4, 16))."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, SIZE // 4, SIZE // 4, 16)).astype("float32") for _ in range(n)]


def with_fixed_noise(trainer, draws):
    state = {"i": 0}

    def fixed(h):
        state["i"] += 1
        return keras.ops.convert_to_tensor(draws[(state["i"] - 1) % len(draws)])

    trainer._noise = fixed
    return trainer


@pytest.mark.slow
def test_step_equals_the_reference_update_order():
    from i2ilab.training import backend as shim

    draws = noise_draws(1)
    trainer = with_fixed_noise(tiny_unit(weight_decay=0.0), draws)
    trainer.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    x, y = batch()
    gen_a, gen_b, dis_a, dis_b = trainer.gen_a, trainer.gen_b, trainer.dis_a, trainer.dis_b
    g_vars = gen_a.trainable_variables + gen_b.trainable_variables
    d_vars = dis_a.trainable_variables + dis_b.trainable_variables
    g0, d0 = values(g_vars), values(d_vars)

    def d_objective():  # reference dis_update, LSGAN summed over domains and scales, no 0.5
        x_ba = gen_a.decode(gen_b.encode(y) + draws[1])
        x_ab = gen_b.decode(gen_a.encode(x) + draws[0])
        total = 0.0
        for disc, real, fake in ((dis_a, x, x_ba), (dis_b, y, x_ab)):
            for r, f in zip(disc(real), disc(fake), strict=True):
                total = total + keras.ops.mean(keras.ops.square(f)) + keras.ops.mean(keras.ops.square(r - 1))
        return total, ()

    _, _, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
    logs = trainer.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"D", "G_adv", "recon_x", "kl", "recon_cyc", "kl_cyc"}
    g1, d1 = values(g_vars), values(d_vars)
    for before, after, grad in zip(d0, d1, d_grads, strict=True):
        np.testing.assert_allclose(after, before - keras.ops.convert_to_numpy(grad), rtol=1e-4, atol=1e-5)

    for v, w in zip(g_vars, g0, strict=True):
        v.assign(w)
    n_a, n_b, n_b2, n_a2 = draws[2:6]

    def g_objective():  # reference gen_update, at the old G and the updated D
        mse1 = lambda maps: sum(keras.ops.mean(keras.ops.square(m - 1)) for m in maps)  # noqa: E731
        l1 = lambda u, v: keras.ops.mean(keras.ops.abs(u - v))  # noqa: E731
        h_a, h_b = gen_a.encode(x), gen_b.encode(y)
        x_ba, x_ab = gen_a.decode(h_b + n_b), gen_b.decode(h_a + n_a)
        h_b_r, h_a_r = gen_a.encode(x_ba), gen_b.encode(x_ab)
        total = mse1(dis_a(x_ba)) + mse1(dis_b(x_ab))
        total += 10 * (l1(gen_a.decode(h_a + n_a), x) + l1(gen_b.decode(h_b + n_b), y))
        total += 0.01 * (keras.ops.mean(h_a**2) + keras.ops.mean(h_b**2))
        total += 10 * (l1(gen_a.decode(h_a_r + n_a2), x) + l1(gen_b.decode(h_b_r + n_b2), y))
        total += 0.01 * (keras.ops.mean(h_a_r**2) + keras.ops.mean(h_b_r**2))
        return total, ()

    _, _, g_grads, _ = shim.value_and_grad(g_objective, g_vars)
    moved = 0
    for before, after, grad in zip(g0, g1, g_grads, strict=True):
        grad = keras.ops.convert_to_numpy(grad)
        np.testing.assert_allclose(after, before - grad, rtol=1e-3, atol=1e-4)
        moved += np.abs(grad).max() > 1e-4
    assert moved > len(g0) // 2


def test_weight_decay_is_coupled_l2_and_defaults():
    trainer = tiny_unit()
    assert (trainer.weight_decay, trainer.recon_x_w, trainer.recon_kl_w, trainer.recon_x_cyc_w) == (1e-4, 10, 0.01, 10)
    trainer.compile()
    assert float(keras.ops.convert_to_numpy(trainer.g_optimizer.learning_rate)) == pytest.approx(1e-4)
    grads = [keras.ops.zeros_like(v.value) for v in trainer.dis_a.trainable_variables]
    trainer.weight_decay = 0.5
    decayed = trainer._decayed(grads, trainer.dis_a.trainable_variables)
    for g, w in zip(decayed, values(trainer.dis_a.trainable_variables), strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(g), 0.5 * w, rtol=1e-6)
    with pytest.raises(ValueError, match="gradient penalty"):
        tiny_unit(gan_mode="wgangp")


@pytest.mark.slow
def test_resume_is_exact_and_columns(tmp_path):
    from test_training_engine import _two_epochs_and_reload

    trainer = tiny_unit()
    trainer.compile()
    x, y = batch(4)
    history = _two_epochs_and_reload(trainer, x, y, tmp_path, 2)
    assert set(history) == {"D", "G_adv", "recon_x", "kl", "recon_cyc", "kl_cyc"}
    cols = trainer.sample_columns(x[:2], y[:2])
    assert list(cols) == ["real_A", "recon_A", "fake_B", "real_B", "recon_B", "fake_A"]
    np.testing.assert_allclose(cols["fake_B"], trainer.translate(x[:2]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cols["fake_A"], trainer.translate(y[:2], direction="BtoA"), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ TF = JAX, one step


def write_inputs(path):
    keras.utils.set_random_seed(3)
    trainer = tiny_unit(seed=3)
    arrays = {f"{name}/{i}": w for name, net in trainer.networks.items() for i, w in enumerate(net.get_weights())}
    arrays["x"], arrays["y"] = batch(2, seed=4)
    for k, n in enumerate(noise_draws(5)):
        arrays[f"noise{k}"] = n
    np.savez(path, **arrays)


def run_step(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    trainer = with_fixed_noise(tiny_unit(seed=3), [arrays[f"noise{k}"] for k in range(6)])
    for name, net in trainer.networks.items():
        net.set_weights([arrays[f"{name}/{i}"] for i in range(len(net.get_weights()))])
    # epsilon 1e-3: see tests/test_training_parity.py (zero-gradient biases before InstanceNorm)
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-3),
        d_optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-3),
    )
    logs = trainer.train_on_batch(arrays["x"], arrays["y"], return_dict=True)
    out = {f"loss/{k}": np.asarray(v, "float64") for k, v in logs.items()}
    for name, net in trainer.networks.items():
        for i, w in enumerate(net.get_weights()):
            out[f"{name}/{i}"] = w
    return out


def compare_with_jax(script, tmp_path, write, run, min_losses):
    inputs, jax_out = tmp_path / "inputs.npz", tmp_path / "jax.npz"
    write(inputs)
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        TF_CPP_MIN_LOG_LEVEL="3",
        XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip(),
    )
    repo = pathlib.Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, str(script), str(inputs), str(jax_out)],
        env=env,
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tf_results = run(inputs)
    log, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, log[-4000:]
    with np.load(jax_out) as f:
        jax_results = {k: f[k] for k in f.files}
    assert tf_results.keys() == jax_results.keys()
    assert len([k for k in tf_results if k.startswith("loss/")]) >= min_losses
    for key, tf_value in tf_results.items():
        if key.startswith("loss/"):
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, err_msg=key)
        else:
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, atol=2e-5, err_msg=key)


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="compares TensorFlow (in-process) with JAX (subprocess); run once, from the TF session",
)
def test_one_step_matches_across_tensorflow_and_jax(tmp_path):
    compare_with_jax(pathlib.Path(__file__).resolve(), tmp_path, write_inputs, run_step, 6)


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    np.savez(sys.argv[2], **run_step(sys.argv[1]))
