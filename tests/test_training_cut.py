"""The CUT / FastCUT trainer: the mode settings, the reference update order (D first, then G and F
at the new D) with hand-computed gradients (flip equivariance, identity NCE), exact resume, columns,
and one compiled step TF = JAX.

Run as a script (``python tests/test_training_cut.py inputs.npz out.npz``) it computes the one step
on the current backend; the cross-backend test uses that for JAX in a subprocess."""

import pathlib
import sys

import keras
import numpy as np
import pytest

SIZE = 16
PATCHES = 8


def tiny_cut(seed=0, **kwargs):
    from i2ilab import models
    from i2ilab.training import CUT

    keras.utils.set_random_seed(seed)
    return CUT(
        models.cut_generator(SIZE, ngf=4, n_blocks=1),
        models.cut_discriminator(SIZE, ndf=4, n_layers=1),
        models.patch_sample_f(None, nc=8),
        num_patches=PATCHES,
        seed=seed,
        **kwargs,
    )


def batch(n=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, SIZE, SIZE, 3)).astype("float32")
    return x, np.tanh(2 * x[..., ::-1]).astype("float32")


def values(variables):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in variables]


def fixed_ids(seed):
    """Two id lists (NCE on X, NCE on Y) for the 5 NCE maps of the tiny G: 22^2, 16^2, 8^2, 4^2 and
    8^2 (with one residual block, index 16 is the ReLU after the first upsampling conv)."""
    rng = np.random.default_rng(seed)
    return [[rng.permutation(hw)[:PATCHES].astype("int32") for hw in (484, 256, 64, 16, 64)] for _ in range(2)]


def with_fixed_draws(trainer, ids, flip):
    calls = {"i": 0}

    def patch_ids(shapes):
        calls["i"] += 1
        return [keras.ops.convert_to_tensor(i) for i in ids[(calls["i"] - 1) % 2]]

    trainer._patch_ids = patch_ids
    trainer._flip_draw = lambda: keras.ops.convert_to_tensor(flip)
    return trainer


def test_modes_are_the_authors_settings():
    cut, fast = tiny_cut(), tiny_cut(cut_mode="FastCUT")
    assert (cut.lambda_nce, cut.nce_idt, cut.flip_equivariance) == (1.0, True, False)
    assert (fast.lambda_nce, fast.nce_idt, fast.flip_equivariance) == (10.0, False, True)
    assert cut.nce_layers == (0, 4, 8, 12, 16) and cut.nce_t == 0.07 and cut.lambda_gan == 1.0
    assert tiny_cut(cut_mode="FastCUT", lambda_nce=2.0).lambda_nce == 2.0
    with pytest.raises(ValueError, match="cut_mode"):
        tiny_cut(cut_mode="cut")
    # F's MLPs were created from the generator's NCE-layer channels
    assert cut.patch_sampler.feature_channels == [3, 8, 16, 16, 8]
    cut.compile()
    g_count = len(cut.generator.trainable_variables) + len(cut.patch_sampler.trainable_variables)
    assert len(cut.g_optimizer.variables) == 2 + 2 * g_count  # G and F share one Adam


def reference_order_check(trainer, flip, ids):
    """One train step with SGD(1) vs the reference's order computed by hand."""
    from i2ilab import losses
    from i2ilab.models import nce_feature_model
    from i2ilab.training import backend as shim

    with_fixed_draws(trainer, ids, flip)
    trainer.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    x, y = batch()
    G, D, F = trainer.generator, trainer.discriminator, trainer.patch_sampler
    feats = nce_feature_model(G)
    g_vars = G.trainable_variables + F.trainable_variables
    d_vars = D.trainable_variables
    g0, d0 = values(g_vars), values(d_vars)
    real = np.concatenate([x, y]) if trainer.nce_idt else x
    if flip:
        real = real[:, :, ::-1]

    def d_objective():
        fake_b = G(real)[:2]
        mse = lambda t, v: keras.ops.mean(keras.ops.square(t - v))  # noqa: E731
        return 0.5 * (mse(D(fake_b), 0.0) + mse(D(y), 1.0)), ()

    _, _, d_grads, _ = shim.value_and_grad(d_objective, d_vars)
    logs = trainer.train_on_batch(x, y, return_dict=True)
    g1, d1 = values(g_vars), values(d_vars)
    for before, after, grad in zip(d0, d1, d_grads, strict=True):
        np.testing.assert_allclose(after, before - keras.ops.convert_to_numpy(grad), rtol=1e-4, atol=1e-5)

    for v, w in zip(g_vars, g0, strict=True):
        v.assign(w)

    def nce(src, tgt, layer_ids):  # reference calculate_NCE_loss
        feat_q = feats(tgt)
        if flip:
            feat_q = [keras.ops.flip(f, axis=2) for f in feat_q]
        k_pool, q_pool = F(feats(src), layer_ids), F(feat_q, layer_ids)
        total = sum(
            trainer.lambda_nce * keras.ops.mean(losses.patch_nce_loss(q, k, 2))
            for q, k in zip(q_pool, k_pool, strict=True)
        )
        return total / 5

    def g_objective():
        fake = G(real)
        g_gan = keras.ops.mean(keras.ops.square(D(fake[:2]) - 1.0))
        nce_x = nce(x, fake[:2], ids[0])
        total = g_gan + (0.5 * (nce_x + nce(y, fake[2:], ids[1])) if trainer.nce_idt else nce_x)
        return total, ()

    _, _, g_grads, _ = shim.value_and_grad(g_objective, g_vars)
    g_grads = [keras.ops.convert_to_numpy(g) for g in g_grads]
    # G's gradients reach ~300 (1 / 0.07 factors), F's biases ~1e6 (x / (|x| + 1e-7) of small outputs)
    scale = max(np.abs(g).max() for g in g_grads[: len(G.trainable_variables)])
    moved = 0
    for before, after, grad in zip(g0, g1, g_grads, strict=True):
        if np.abs(grad).max() <= 1e-4 * scale:  # biases cancelled by InstanceNorm: float noise
            assert np.abs(after - before).max() <= 1e-4 * scale
            continue
        # float32 sums in another order
        np.testing.assert_allclose(after, before - grad, rtol=1e-3, atol=1e-5 * max(1.0, np.abs(grad).max()))
        moved += 1
    assert moved > len(g0) // 2
    return logs


@pytest.mark.slow
def test_cut_step_equals_the_reference_update_order():
    logs = reference_order_check(tiny_cut(), False, fixed_ids(1))
    assert set(logs) == {"D_real", "D_fake", "G_GAN", "NCE", "NCE_Y"}


@pytest.mark.slow
def test_fastcut_flipped_step_equals_the_reference_update_order():
    logs = reference_order_check(tiny_cut(cut_mode="FastCUT"), True, fixed_ids(2))
    assert set(logs) == {"D_real", "D_fake", "G_GAN", "NCE"}
    assert logs["NCE"] > 10  # lambda_NCE 10: about 10 log(P) at init


@pytest.mark.slow
def test_resume_is_exact_and_columns(tmp_path):
    from test_training_engine import _two_epochs_and_reload

    trainer = tiny_cut(flip_equivariance=True)  # CUT with identity NCE and flips: every draw
    trainer.compile()
    x, y = batch(4)
    history = _two_epochs_and_reload(trainer, x, y, tmp_path, 2)
    assert set(history) == {"D_real", "D_fake", "G_GAN", "NCE", "NCE_Y"}
    cols = trainer.sample_columns(x[:2], y[:2])
    assert list(cols) == ["real_A", "fake_B", "real_B", "idt_B"]
    np.testing.assert_allclose(cols["fake_B"], trainer.translate(x[:2]), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------ TF = JAX, one step


def write_inputs(path):
    trainer = tiny_cut(seed=3, flip_equivariance=True)
    arrays = {f"{name}/{i}": w for name, net in trainer.networks.items() for i, w in enumerate(net.get_weights())}
    arrays["x"], arrays["y"] = batch(2, seed=4)
    for j, layer_ids in enumerate(fixed_ids(5)):
        for i, a in enumerate(layer_ids):
            arrays[f"ids{j}/{i}"] = a
    np.savez(path, **arrays)


def run_step(path):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    ids = [[arrays[f"ids{j}/{i}"] for i in range(5)] for j in range(2)]
    trainer = with_fixed_draws(tiny_cut(seed=3, flip_equivariance=True), ids, True)
    for name, net in trainer.networks.items():
        net.set_weights([arrays[f"{name}/{i}"] for i in range(len(net.get_weights()))])
    # epsilon 1e-2: see tests/test_training_parity.py (zero-gradient biases before InstanceNorm).
    # The first conv's bias gets a rounding-noise gradient of ~5e-5 here (bilinear resize's
    # backward on each backend), which epsilon 1e-3 still turns into +-1e-5 updates of either sign.
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-2),
        d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-2),
    )
    logs = trainer.train_on_batch(arrays["x"], arrays["y"], return_dict=True)
    out = {f"loss/{k}": np.asarray(v, "float64") for k, v in logs.items()}
    for name, net in trainer.networks.items():
        for i, w in enumerate(net.get_weights()):
            out[f"{name}/{i}"] = w
    return out


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="compares TensorFlow (in-process) with JAX (subprocess); run once, from the TF session",
)
def test_one_step_matches_across_tensorflow_and_jax(tmp_path):
    from test_training_unit import compare_with_jax

    compare_with_jax(pathlib.Path(__file__).resolve(), tmp_path, write_inputs, run_step, 5)


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    np.savez(sys.argv[2], **run_step(sys.argv[1]))
