"""The BicycleGAN trainer: the reference's update (batch halves, E frozen for the z loss, D on the
pre-update fakes), exact resume in a new trainer, sampling, errors, and one compiled step equal on
TensorFlow and JAX (the JAX step runs in a subprocess executing this file as a script)."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from test_training_engine import assert_same_state, state_of, values

from i2ilab import losses
from i2ilab.data import synthetic
from i2ilab.metrics import multimodal_scores
from i2ilab.models import bicycle_discriminator, bicycle_encoder, bicycle_unet_generator, noise_encoder
from i2ilab.training import BicycleGAN, default_adam
from i2ilab.training import backend as shim
from i2ilab.training.bicyclegan import clr_gan_terms, cvae_gan_terms

SIZE, NZ = 32, 2


def tiny_networks(dropout=False):
    """G on 1-channel inputs (as edges2shoes), E with one BasicBlock, two-scale D, widths 4."""
    return dict(
        generator=bicycle_unet_generator(SIZE, in_channels=1, nz=NZ, ngf=4, num_downs=5, dropout=dropout),
        encoder=bicycle_encoder(SIZE, nz=NZ, ndf=4, n_blocks=2),
        discriminator=bicycle_discriminator(SIZE, ndf=4, n_layers=2),
        discriminator2=bicycle_discriminator(SIZE, ndf=4, n_layers=2),
    )


def tiny_bicyclegan(dropout=False, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return BicycleGAN(**tiny_networks(dropout), seed=seed, **kwargs)


def pairs(n=2, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, SIZE, SIZE, 1)).astype("float32")
    b = np.tanh(np.concatenate([2 * a, -a, a**2], axis=-1) + 0.1 * rng.normal(size=(n, SIZE, SIZE, 3)))
    return a, b.astype("float32")


class FixedDraws:
    """Replaces ``_random_z``: the step's draws (eps, then the random z) come from a list."""

    def __init__(self, draws):
        self.draws, self.calls = draws, 0

    def __call__(self, n):
        draw = self.draws[self.calls % len(self.draws)]
        self.calls += 1
        return keras.ops.convert_to_tensor(draw)


@pytest.mark.slow
@pytest.mark.parametrize("z_trains_e", [False, True])
def test_step_equals_the_reference_update(z_trains_e):
    """With SGD(lr=1) each weight moves by minus its gradient: G by the gradient of the whole G
    objective (z loss included), E by that of the G objective *without* the z loss (which does
    reach E's weights when not frozen), D and D2 by their losses on the halves' reals and the
    fakes G made before its update. Batch 4: the cVAE half is pairs 0-1, D2's reals pairs 2-3.
    With ``z_loss_trains_encoder`` (the paper's cLR-GAN) E gets the z loss's gradient too."""
    trainer = tiny_bicyclegan(z_loss_trains_encoder=z_trains_e)
    # xavier gain 1 instead of 0.02: with the reference's tiny weights G's outputs are almost
    # constant images, and E's InstanceNorm on them cancels catastrophically (float noise of %)
    for net in trainer.networks.values():
        for v in net.trainable_variables:
            if len(v.shape) > 1:
                v.assign(v * 50.0)
    rng = np.random.default_rng(1)
    eps, z = (rng.standard_normal((2, NZ)).astype("float32") for _ in range(2))
    trainer._random_z = FixedDraws([eps, z])
    eps, z = keras.ops.convert_to_tensor(eps), keras.ops.convert_to_tensor(z)
    trainer.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    a_np, b_np = pairs(4)
    a, b = keras.ops.convert_to_tensor(a_np), keras.ops.convert_to_tensor(b_np)
    G, E, D, D2 = trainer.generator, trainer.encoder, trainer.discriminator, trainer.discriminator2
    g_vars, e_vars = G.trainable_variables, E.trainable_variables
    d_vars = D.trainable_variables + D2.trainable_variables
    g0, e0, d0 = values(g_vars), values(e_vars), values(d_vars)
    gan = losses.gan_loss("lsgan")

    def forward():
        mu, logvar = E(b[:2], training=True)
        fake_enc = G([a[:2], mu + keras.ops.exp(0.5 * logvar) * eps], training=True)
        fake_rand = G([a[:2], z], training=True)
        return mu, logvar, fake_enc, fake_rand

    def loss_g():
        mu, logvar, fake_enc, fake_rand = forward()
        total = gan.g_loss(D(fake_enc)) + gan.g_loss(D2(fake_rand)) + 10.0 * losses.l1_loss(fake_enc, b[:2])
        return total + 0.01 * losses.kl_loss(mu, logvar), ()

    def loss_z():
        fake_rand = forward()[3]
        return 0.5 * losses.latent_regression_loss(z, E(fake_rand, training=True)[0]), ()

    def loss_d():
        _, _, fake_enc, fake_rand = forward()
        total = 0.0
        for disc, real, fake in ((D, b[:2], fake_enc), (D2, b[2:], fake_rand)):
            d_real, d_fake = gan.d_loss(disc(real), disc(keras.ops.stop_gradient(fake)))
            total = total + d_real + d_fake
        return total, ()

    _, _, ge_grads, _ = shim.value_and_grad(loss_g, g_vars + e_vars)
    _, _, gz_grads, _ = shim.value_and_grad(loss_z, g_vars + e_vars)
    d_value, _, d_grads, _ = shim.value_and_grad(loss_d, d_vars)
    n = len(g_vars)
    expected_g = [u + v for u, v in zip(ge_grads[:n], gz_grads[:n], strict=True)]
    expected_e = ge_grads[n:]
    if z_trains_e:
        expected_e = [u + v for u, v in zip(expected_e, gz_grads[n:], strict=True)]
    z_into_e = max(float(np.abs(keras.ops.convert_to_numpy(g)).max()) for g in gz_grads[n:])
    assert z_into_e > 1e-3  # unfrozen, the z loss would move E: the test can tell

    logs = trainer.train_on_batch(a_np, b_np, return_dict=True)
    for before, after, grad in (
        *zip(g0, values(g_vars), expected_g, strict=True),
        *zip(e0, values(e_vars), expected_e, strict=True),
        *zip(d0, values(d_vars), d_grads, strict=True),
    ):
        np.testing.assert_allclose(after, before - keras.ops.convert_to_numpy(grad), rtol=1e-3, atol=1e-5)
    assert trainer._random_z.calls == 2
    assert set(logs) == {"G_GAN", "G_GAN2", "G_L1", "kl", "z_L1", "D", "D2"}
    # D and D2 are logged as d_real + d_fake summed over the scales, without a 0.5
    d_sum = float(logs["D"]) + float(logs["D2"])
    assert d_sum == pytest.approx(float(keras.ops.convert_to_numpy(d_value)), rel=1e-4)


@pytest.mark.slow
def test_fit_resumes_exactly_in_a_new_trainer(tmp_path):
    """2 epochs straight == 1 epoch + save + new trainer + load + 1 epoch (dropout on, random
    codes from the trainer's SeedGenerator)."""
    a, b = pairs(4)
    straight = tiny_bicyclegan(dropout=True)
    straight.compile()
    straight.fit(a, b, batch_size=2, epochs=1, shuffle=False, verbose=0)
    path = straight.save_checkpoint(tmp_path / "ckpt.npz", metadata={"epoch": 1})
    history = straight.fit(a, b, batch_size=2, epochs=2, initial_epoch=1, shuffle=False, verbose=0).history
    assert all(np.isfinite(v[0]) for v in history.values())
    for opt in (straight.g_optimizer, straight.d_optimizer, straight.optimizer):
        assert int(keras.ops.convert_to_numpy(opt.iterations)) == 4
    resumed = tiny_bicyclegan(dropout=True, seed=5)
    resumed.compile()
    assert resumed.load_checkpoint(path) == {"epoch": 1}
    again = resumed.fit(a, b, batch_size=2, epochs=2, initial_epoch=1, shuffle=False, verbose=0).history
    assert_same_state(state_of(straight), state_of(resumed), rtol=1e-5, atol=1e-6)
    for name, series in history.items():
        np.testing.assert_allclose(series, again[name], rtol=1e-5, err_msg=name)
    assert set(state_of(resumed)) == {
        "net/generator",
        "net/encoder",
        "net/discriminator",
        "net/discriminator2",
        "trainer",
        "opt/group",
        "opt/g",
        "opt/d",
    }


def test_translate_encode_and_columns():
    trainer = tiny_bicyclegan(num_sample_z=2)
    trainer.compile()
    a, b = pairs(2)
    mu = trainer.encode(b)
    assert mu.shape == (2, NZ)
    encoded = trainer.translate(a, mu)
    np.testing.assert_allclose(
        encoded, keras.ops.convert_to_numpy(trainer.generator([a, mu], training=False)), rtol=1e-5, atol=1e-6
    )
    z = trainer.sample_z(1, seed=3)[0]
    np.testing.assert_allclose(trainer.translate(a, z), trainer.translate(a, np.stack([z, z])), atol=1e-6)
    cols = trainer.sample_columns(a, b)
    assert list(cols) == ["input", "encoded", "random_1", "random_2", "target"]
    assert cols["random_1"].shape == (2, SIZE, SIZE, 3)
    assert not np.allclose(cols["random_1"], cols["random_2"])
    np.testing.assert_allclose(cols["random_1"], trainer.sample_columns(a, b)["random_1"], atol=1e-6)
    with pytest.raises(ValueError, match="z has shape"):
        trainer.translate(a, np.zeros((3, NZ), "float32"))


def test_a_labs_own_kl_and_latent_losses_are_used():
    """kl_loss= / latent_loss=: here a mean-KL and a squared error, logged as kl and z_L1."""
    calls = []

    def mean_kl(mu, logvar):
        calls.append("kl")
        return -0.5 * keras.ops.mean(1.0 + logvar - keras.ops.square(mu) - keras.ops.exp(logvar))

    def squared(z, z_recon):
        calls.append("z")
        return keras.ops.mean(keras.ops.square(z_recon - z))

    trainer = tiny_bicyclegan(kl_loss=mean_kl, latent_loss=squared)
    rng = np.random.default_rng(2)
    eps, z = (rng.standard_normal((1, NZ)).astype("float32") for _ in range(2))
    trainer._random_z = FixedDraws([eps, z])
    trainer.compile()
    a, b = pairs(2)
    mu, logvar = (keras.ops.convert_to_numpy(t) for t in trainer.encoder(b[:1]))
    fake_rand = trainer.generator([keras.ops.convert_to_tensor(a[:1]), keras.ops.convert_to_tensor(z)])
    mu2 = keras.ops.convert_to_numpy(trainer.encoder(fake_rand)[0])
    logs = trainer.train_on_batch(a, b, return_dict=True)
    assert set(calls) == {"kl", "z"}
    assert float(logs["kl"]) == pytest.approx(-0.5 * np.mean(1 + logvar - mu**2 - np.exp(logvar)), rel=1e-4)
    assert float(logs["z_L1"]) == pytest.approx(np.mean((mu2 - z) ** 2), rel=1e-4)


class Calls:
    """Stand-in G, E, D and adversarial term: simple functions of their inputs, each call recorded."""

    def __init__(self):
        self.seen = []

    def generator(self, inputs, training=False):
        a, z = inputs
        self.seen.append(("G", keras.ops.convert_to_numpy(z), training))
        return 0.5 * a + keras.ops.mean(z, axis=1)[:, None, None, None]

    def encoder(self, x, training=False):
        self.seen.append(("E", training))
        mean = keras.ops.mean(x, axis=(1, 2))  # (B, C)
        return mean[:, :2], 7.0 + mean[:, :2]  # mu, and a logvar that must not be used

    def discriminator(self, x, training=False):
        self.seen.append(("D", training))
        return [2.0 * x, x[:, ::2, ::2]]

    @staticmethod
    def adversarial(outputs):
        return sum(keras.ops.mean(keras.ops.square(o - 1.0)) for o in outputs)


def stand_in_batch():
    rng = np.random.default_rng(4)
    a = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    b = rng.uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    mu, logvar, eps = (rng.normal(size=(2, 2)).astype("float32") for _ in range(3))
    return a, b, mu, logvar, eps


def lsgan_g(outputs):
    return sum(np.mean((o - 1.0) ** 2) for o in outputs)


def test_cvae_gan_terms_on_stand_ins():
    """z = mu + exp(logvar / 2) * eps goes into G; G_GAN = adversarial(D(fake)), G_L1 = mean|fake - b|,
    kl the KL sum; G and D in training mode unless told."""
    a, b, mu, logvar, eps = stand_in_batch()
    nets = Calls()
    fake, terms = cvae_gan_terms(nets.generator, nets.discriminator, a, b, mu, logvar, eps, nets.adversarial)
    z = mu + np.exp(logvar / 2) * eps
    np.testing.assert_allclose(nets.seen[0][1], z, rtol=1e-6)
    expected = 0.5 * a + z.mean(axis=1)[:, None, None, None]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fake), expected, rtol=1e-6, atol=1e-6)
    assert set(terms) == {"G_GAN", "G_L1", "kl"}
    values_ = {k: float(keras.ops.convert_to_numpy(v)) for k, v in terms.items()}
    assert values_["G_GAN"] == pytest.approx(lsgan_g([2 * expected, expected[:, ::2, ::2]]), rel=1e-5)
    assert values_["G_L1"] == pytest.approx(np.abs(expected - b).mean(), rel=1e-5)
    assert values_["kl"] == pytest.approx(-0.5 * np.sum(1 + logvar - mu**2 - np.exp(logvar)), rel=1e-5)
    assert [s[-1] for s in nets.seen] == [True, True]
    nets.seen.clear()
    _, terms = cvae_gan_terms(
        nets.generator,
        nets.discriminator,
        a,
        b,
        mu,
        logvar,
        eps,
        nets.adversarial,
        kl=lambda m, lv: keras.ops.sum(m),
        training=False,
    )
    assert float(keras.ops.convert_to_numpy(terms["kl"])) == pytest.approx(mu.sum(), rel=1e-5)
    assert [s[-1] for s in nets.seen] == [False, False]


def test_clr_gan_terms_on_stand_ins():
    """fake = G(a, z); G_GAN2 = adversarial(D2(fake)); z_L1 = mean|mu2 - z| with mu2 = E(fake)'s
    mean, not its logvar."""
    a, _, z, _, _ = stand_in_batch()
    nets = Calls()
    fake, terms = clr_gan_terms(nets.generator, nets.encoder, nets.discriminator, a, z, nets.adversarial)
    expected = 0.5 * a + z.mean(axis=1)[:, None, None, None]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fake), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(nets.seen[0][1], z)
    assert set(terms) == {"G_GAN2", "z_L1"}
    mu2 = expected.mean(axis=(1, 2))[:, :2]
    assert float(keras.ops.convert_to_numpy(terms["z_L1"])) == pytest.approx(np.abs(mu2 - z).mean(), rel=1e-5)
    g_gan2 = float(keras.ops.convert_to_numpy(terms["G_GAN2"]))
    assert g_gan2 == pytest.approx(lsgan_g([2 * expected, expected[:, ::2, ::2]]), rel=1e-5)
    _, squared = clr_gan_terms(
        nets.generator,
        nets.encoder,
        nets.discriminator,
        a,
        z,
        nets.adversarial,
        latent=lambda z_, r: keras.ops.mean(keras.ops.square(r - z_)),
    )
    assert float(keras.ops.convert_to_numpy(squared["z_L1"])) == pytest.approx(np.mean((mu2 - z) ** 2), rel=1e-5)


def own_cvae_half(generator, discriminator, a, b, mu, logvar, eps, adversarial):
    """The cVAE-GAN half written out with keras.ops (the lab's exercise)."""
    ops = keras.ops
    z = mu + ops.exp(0.5 * logvar) * eps
    fake = generator([a, z], training=True)
    kl = -0.5 * ops.sum(1.0 + logvar - ops.square(mu) - ops.exp(logvar))
    terms = {"G_GAN": adversarial(discriminator(fake, training=True)), "G_L1": ops.mean(ops.abs(fake - b)), "kl": kl}
    return fake, terms


def own_clr_half(generator, encoder, discriminator2, a, z, adversarial):
    """The cLR-GAN half written out with keras.ops."""
    fake = generator([a, z], training=True)
    mu2, _ = encoder(fake, training=True)
    terms = {"G_GAN2": adversarial(discriminator2(fake, training=True)), "z_L1": keras.ops.mean(keras.ops.abs(mu2 - z))}
    return fake, terms


def one_step(**kwargs):
    """Logs and weights after one compiled step of a tiny trainer (fixed draws, batch 4)."""
    trainer = tiny_bicyclegan(**kwargs)
    rng = np.random.default_rng(2)
    trainer._random_z = FixedDraws([rng.standard_normal((2, NZ)).astype("float32") for _ in range(2)])
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
        d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
    )
    logs = trainer.train_on_batch(*pairs(4), return_dict=True)
    return {k: float(v) for k, v in logs.items()}, [w for net in trainer.networks.values() for w in net.get_weights()]


def test_a_labs_own_halves_are_used_and_equal_the_default():
    """cvae_half= / clr_half=: hand-written halves give the default trainer's logs and weights
    (same seeds, same draws)."""
    calls = []

    def cvae(*args):
        calls.append("cvae")
        return own_cvae_half(*args)

    def clr(*args):
        calls.append("clr")
        return own_clr_half(*args)

    default_logs, default_weights = one_step()
    own_logs, own_weights = one_step(cvae_half=cvae, clr_half=clr)
    assert set(calls) == {"cvae", "clr"}
    assert own_logs.keys() == default_logs.keys()
    for name, value in default_logs.items():
        assert own_logs[name] == pytest.approx(value, rel=1e-5), name
    assert len(own_weights) == len(default_weights)
    initial = [w for net in tiny_bicyclegan().networks.values() for w in net.get_weights()]
    moved = 0
    for own, default, before in zip(own_weights, default_weights, initial, strict=True):
        np.testing.assert_allclose(own, default, rtol=1e-5, atol=1e-7)
        moved += not np.allclose(default, before)
    assert moved > len(default_weights) // 2


@pytest.mark.parametrize(
    "half, result, message",
    [
        ("cvae_half", lambda fake, terms: fake, "cvae_half must return \\(fake, terms\\)"),
        ("cvae_half", lambda fake, terms: (fake, list(terms.values())), "cvae_half must return"),
        ("cvae_half", lambda fake, terms: (fake, {"G_GAN": terms["G_GAN"]}), "missing \\['G_L1', 'kl'\\]"),
        ("clr_half", lambda fake, terms: (fake, terms, fake), "clr_half must return \\(fake, terms\\)"),
        (
            "clr_half",
            lambda fake, terms: (fake, {"G_GAN2": terms["G_GAN2"]}),
            "clr_half returned .*missing \\['z_L1'\\]",
        ),
    ],
)
def test_a_half_of_the_wrong_shape_is_named(half, result, message):
    own = own_cvae_half if half == "cvae_half" else own_clr_half
    trainer = tiny_bicyclegan(**{half: lambda *args: result(*own(*args))})
    trainer.compile()
    with pytest.raises(ValueError, match=message):
        trainer.train_on_batch(*pairs(2))


def test_a_noise_encoder_trains_pix2pix_with_noise():
    """noise_encoder (no variables): z = eps, kl = 0; the step updates G and D (the encoder's
    empty variable list goes through the backend's vjp). With lambda_gan2 = lambda_z = 0 the
    cLR-GAN half is not computed: no G_GAN2, z_L1 or D2 in the logs, D2 unchanged."""
    keras.utils.set_random_seed(0)
    nets = tiny_networks()
    nets["encoder"] = noise_encoder(SIZE, nz=NZ)
    assert not nets["encoder"].weights
    trainer = BicycleGAN(**nets, seed=0, lambda_gan2=0.0, lambda_kl=0.0, lambda_z=0.0, lambda_l1=100.0)
    rng = np.random.default_rng(2)
    eps, z = (rng.standard_normal((1, NZ)).astype("float32") for _ in range(2))
    trainer._random_z = FixedDraws([eps, z])
    trainer.compile()
    a, b = pairs(2)
    expected_l1 = losses.l1_loss(trainer.generator([a[:1], eps]), b[:1])
    before = {name: net.get_weights() for name, net in nets.items()}
    logs = trainer.train_on_batch(a, b, return_dict=True)
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(logs["kl"]) == 0.0
    assert float(logs["G_L1"]) == pytest.approx(float(keras.ops.convert_to_numpy(expected_l1)), rel=1e-5)
    assert set(logs) == {"G_GAN", "G_L1", "kl", "D"}
    for name in ("generator", "discriminator"):
        after = nets[name].get_weights()
        assert any(not np.allclose(u, v) for u, v in zip(before[name], after, strict=True)), name
    for u, v in zip(before["discriminator2"], nets["discriminator2"].get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)
    np.testing.assert_array_equal(trainer.encode(b), np.zeros((2, NZ), "float32"))


def test_errors_name_the_fix():
    nets = tiny_networks()
    with pytest.raises(ValueError, match="codes of size 2, the encoder gives 3"):
        BicycleGAN(
            nets["generator"],
            bicycle_encoder(SIZE, nz=3, ndf=4, n_blocks=2),
            nets["discriminator"],
            nets["discriminator2"],
        )
    with pytest.raises(ValueError, match="wgangp"):
        BicycleGAN(**nets, gan_mode="wgangp")
    trainer = BicycleGAN(**nets)
    trainer.compile()
    a, b = pairs(1)
    with pytest.raises(ValueError, match="batch_size >= 2"):
        trainer.train_on_batch(a, b)


# ------------------------------------------------------------------- TensorFlow == JAX


def write_inputs(path):
    """Initial weights (built on this backend), a batch of 4 and the step's two draws."""
    keras.utils.set_random_seed(3)
    arrays = {}
    for name, net in tiny_networks().items():
        for i, w in enumerate(net.get_weights()):
            arrays[f"{name}/{i}"] = w
    arrays["a"], arrays["b"] = pairs(4, seed=2)
    rng = np.random.default_rng(0)
    arrays["eps"], arrays["z"] = (rng.standard_normal((2, NZ)).astype("float32") for _ in range(2))
    np.savez(path, **arrays)


def run_step(path):
    """One compiled train step from the saved state; losses and updated weights."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    nets = tiny_networks()
    for name, net in nets.items():
        net.set_weights([arrays[f"{name}/{i}"] for i in range(len(net.get_weights()))])
    trainer = BicycleGAN(**nets)
    trainer._random_z = FixedDraws([arrays["eps"], arrays["z"]])
    # epsilon 1e-3: the zero-gradient biases in front of InstanceNorm get float-noise gradients
    # that Adam would turn into +-lr updates differing between backends (test_training_parity.py).
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
        d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5, epsilon=1e-3),
    )
    logs = trainer.train_on_batch(arrays["a"], arrays["b"], return_dict=True)
    out = {f"loss/{k}": np.asarray(v, "float64") for k, v in logs.items()}
    for name, net in nets.items():
        for i, w in enumerate(net.get_weights()):
            out[f"{name}/{i}"] = w
    return out


@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="compares TensorFlow (in-process) with JAX (subprocess); run once, from the TF session",
)
def test_one_step_matches_across_tensorflow_and_jax(tmp_path):
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
    assert len([k for k in tf_results if k.startswith("loss/")]) == 7
    with np.load(inputs) as f:
        moved = sum(not np.allclose(f[k], v) for k, v in tf_results.items() if not k.startswith("loss/"))
    assert moved > len(tf_results) // 2
    for key, tf_value in tf_results.items():
        if key.startswith("loss/"):
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, err_msg=key)
        else:
            np.testing.assert_allclose(jax_results[key], tf_value, rtol=1e-4, atol=2e-5, err_msg=key)


if __name__ == "__main__":
    np.savez(sys.argv[2], **run_step(sys.argv[1]))


# ------------------------------------------------------------------------- learning (slow)

PALETTE_SIZE, PALETTE_STEPS = 16, 1536  # 6 epochs of 256 batches of 2


def palette_trainer(noise_only, seed=0):
    """BicycleGAN or pix2pix + noise (noise_encoder, z at G's input only, the GAN and L1 terms with
    pix2pix's lambda_l1 100) with small networks at 16 px, Adam 4e-4 (the lab's smoke settings at half its size)."""
    keras.utils.set_random_seed(seed)
    size, nz = PALETTE_SIZE, 8
    generator = bicycle_unet_generator(
        size, in_channels=1, nz=nz, ngf=16, num_downs=4, where_add="input" if noise_only else "all", dropout=False
    )
    encoder = noise_encoder(size, nz=nz) if noise_only else bicycle_encoder(size, nz=nz, ndf=16, n_blocks=1)
    weights = dict(lambda_gan2=0.0, lambda_kl=0.0, lambda_z=0.0, lambda_l1=100.0) if noise_only else {}
    trainer = BicycleGAN(
        generator,
        encoder,
        bicycle_discriminator(size, ndf=16, n_layers=1),
        bicycle_discriminator(size, ndf=16, n_layers=1),
        seed=seed,
        **weights,
    )
    trainer.compile(g_optimizer=default_adam(4e-4), d_optimizer=default_adam(4e-4))
    return trainer


def palette_scores(trainer, test, codes=8):
    """multimodal_scores of ``codes`` random codes (seeds 0, 1, ...) for each test input."""
    samples = np.stack([trainer.translate(test["A"][..., :1], seed=k) for k in range(codes)], axis=1)
    return multimodal_scores(samples, test["all_outputs"])


@pytest.mark.slow
@pytest.mark.tf_only  # the numbers and the time budget are TensorFlow's (not measured on JAX)
def test_bicyclegan_is_diverse_where_pix2pix_with_noise_is_not():
    """Issue 20 on edges2palette (an object's edges; its colour one of 4, the true set of outputs
    the 4 renderings): after 1536 steps at 16 px, BicycleGAN's 8 random codes per input are as
    diverse as > 0.5x the true set's with a fidelity (L1 to the nearest true output) within 1.5x
    of pix2pix + noise's, which is far less diverse.

    Measured (TF, 2 CPU cores, ~30 s per model), seeds 0 / 1 / 2: BicycleGAN relative diversity
    1.02 / 0.97 / 0.91, coverage 0.90 / 0.89 / 0.88, fidelity 0.135 / 0.129 / 0.128; pix2pix +
    noise relative diversity 0.21 / 0.15 / 0.22, coverage 0.49 / 0.49 / 0.48, fidelity 0.109 /
    0.115 / 0.109 (BicycleGAN's fidelity 1.12-1.24x; the true set's diversity 0.209).

    pix2pix + noise does **not** reach the issue's < 0.1x here: its relative diversity was
    0.16-0.29 between 500 and 3000 steps at 16 px and 0.14-0.22 at 32 px (0.13 in the lab at
    1500 steps), 0.12-0.16 even without the GAN term (lambda_gan 0), 0.17-0.25 with batches of 8
    or 16, 0.30-0.44 with lambda_l1 10. With 4 equally likely colours the L1 optimum is not
    unique (any value between the 2nd and 3rd of the 4 per channel: red between 45 and 215 of
    255), so L1 does not remove the dependence on z that the stochastic steps and the GAN term
    put there. The test asserts what holds: < 0.35 and below a third of BicycleGAN's.
    """
    train = synthetic.generate("edges2palette", 512, PALETTE_SIZE, seed=0, split="train")
    test = synthetic.generate("edges2palette", 32, PALETTE_SIZE, seed=0, split="test")
    scores = {}
    for name, noise_only in (("pix2pix + noise", True), ("BicycleGAN", False)):
        trainer = palette_trainer(noise_only)
        trainer.fit(train["A"][..., :1], train["B"], batch_size=2, epochs=PALETTE_STEPS // 256, verbose=0)
        scores[name] = palette_scores(trainer, test)
    p2p, bicycle = scores["pix2pix + noise"], scores["BicycleGAN"]
    summary = {name: {k: round(v, 3) for k, v in s.items()} for name, s in scores.items()}
    assert bicycle["relative_diversity"] > 0.5, summary
    assert bicycle["fidelity"] < 1.5 * p2p["fidelity"], summary
    assert bicycle["coverage"] >= 0.6, summary
    assert p2p["relative_diversity"] < min(0.35, bicycle["relative_diversity"] / 3), summary


def test_a_half_with_zero_weights_is_skipped():
    """cLR-GAN alone (lambda_gan = lambda_l1 = lambda_kl = 0, z loss training E): D does not move
    and only G_GAN2, z_L1 and D2 are logged; G, E and D2 learn. All weights 0 is an error."""
    keras.utils.set_random_seed(0)
    nets = tiny_networks()
    trainer = BicycleGAN(**nets, seed=0, lambda_gan=0.0, lambda_l1=0.0, lambda_kl=0.0, z_loss_trains_encoder=True)
    trainer.compile()
    a, b = pairs(2)
    before = {name: net.get_weights() for name, net in nets.items()}
    logs = trainer.train_on_batch(a, b, return_dict=True)
    assert set(logs) == {"G_GAN2", "z_L1", "D2"}
    for name in ("generator", "encoder", "discriminator2"):
        after = nets[name].get_weights()
        assert any(not np.allclose(u, v) for u, v in zip(before[name], after, strict=True)), name
    for u, v in zip(before["discriminator"], nets["discriminator"].get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(ValueError, match="every loss weight is 0"):
        BicycleGAN(**tiny_networks(), lambda_gan=0, lambda_gan2=0, lambda_l1=0, lambda_kl=0, lambda_z=0)
