"""MUNIT's extension points for Lab 4 (a student's pieces in the library's networks and trainer):

- ``munit_generator(..., adain=fn)``: the decoder's AdaIN residual blocks use ``fn(x, gamma, beta)``;
- ``MUNIT(..., style_reconstruction_loss=fn, content_reconstruction_loss=fn)``: the latent terms;
- ``MUNIT(..., style_sampler=fn)``: ``fn(n, style_dim, seed)`` gives the sample grids' and
  translate()'s codes, and a bank of codes that training picks its random styles from.

Defaults keep the library's behaviour (tests/test_training_engine.py and friends). Runs on TF and JAX.
"""

import keras
import numpy as np
import pytest
from keras import ops

from i2ilab import losses
from i2ilab.models import multiscale_discriminator, munit_generator
from i2ilab.models.munit import FunctionAdaIN
from i2ilab.training import MUNIT


def own_adain(x, gamma, beta, epsilon=1e-5):
    """A lab's AdaIN, spelled with ops.mean / ops.var (the library uses ops.moments / rsqrt)."""
    x = ops.cast(x, "float32")
    mean = ops.mean(x, axis=(1, 2), keepdims=True)
    var = ops.var(x, axis=(1, 2), keepdims=True)
    return ops.expand_dims(ops.expand_dims(gamma, 1), 1) * (x - mean) / ops.sqrt(var + epsilon) + beta[:, None, None, :]


def no_style_adain(x, gamma, beta, epsilon=1e-5):
    """A wrong AdaIN: normalises but ignores gamma and beta."""
    mean, var = ops.moments(ops.cast(x, "float32"), axes=[1, 2], keepdims=True)
    return (x - mean) / ops.sqrt(var + epsilon)


def gens(adain=None, seed=0, size=16):
    keras.utils.set_random_seed(seed)
    return [munit_generator(size, dim=4, style_dim=3, n_res=1, mlp_dim=8, adain=adain) for _ in range(2)]


def tiny_munit(adain=None, seed=0, size=16, **kwargs):
    g = gens(adain, seed, size)
    keras.utils.set_random_seed(seed + 1)
    d = [multiscale_discriminator(size, dim=4, n_layer=1, num_scales=2) for _ in range(2)]
    return MUNIT(*g, *d, seed=seed, **kwargs)


def images(n=2, size=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    return x, np.tanh(2 * x[..., ::-1]).astype("float32")


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def weights(model):
    return [numpy(v.value) for v in model.weights]


# ----------------------------------------------------------------------------- adain=


def test_generator_with_own_adain_has_the_same_weights_and_numbers():
    lib, own = gens()[0], gens(own_adain)[0]
    assert own.count_params() == lib.count_params()
    assert [v.path for v in own.weights] == [v.path for v in lib.weights]
    for a, b in zip(weights(own), weights(lib), strict=True):
        np.testing.assert_array_equal(a, b)
    blocks = [layer for layer in own.decoder.layers if layer.name.startswith("res")]
    assert blocks and all(isinstance(block.adain, FunctionAdaIN) for block in blocks)
    assert all(sum(1 for sub in block._layers if sub.name == "adain") == 1 for block in blocks)
    x, _ = images()
    style = np.random.default_rng(3).standard_normal((2, 3)).astype("float32")
    content, _ = lib.encode(x)
    np.testing.assert_allclose(numpy(own.decode(content, style)), numpy(lib.decode(content, style)), atol=1e-5)
    np.testing.assert_allclose(numpy(own(x)), numpy(lib(x)), atol=1e-5)


def test_generator_uses_the_given_adain():
    calls = []

    def counted(x, gamma, beta):
        calls.append(1)
        return own_adain(x, gamma, beta)

    g = gens(counted)[0]
    wrong = gens(no_style_adain)[0]
    x, _ = images()
    content, _ = wrong.encode(x)
    one, two = (np.random.default_rng(s).standard_normal((2, 3)).astype("float32") for s in (1, 2))
    # The style enters the decoder only through AdaIN: ignoring gamma/beta ignores the style.
    np.testing.assert_allclose(numpy(wrong.decode(content, one)), numpy(wrong.decode(content, two)), atol=1e-6)
    assert np.abs(numpy(g.decode(content, one)) - numpy(g.decode(content, two))).mean() > 1e-4
    assert len(calls) >= 2, "two AdaINs per residual block, called on each decode"
    with pytest.raises(TypeError, match="must be callable"):
        FunctionAdaIN("adain")


def test_own_adain_trains_like_the_library():
    x, y = images()
    results = []
    for adain in (None, own_adain):
        trainer = tiny_munit(adain, weight_decay=0.0)
        # SGD: the weight change is the gradient (Adam's first step is sign-like, noise-sensitive)
        trainer.compile(g_optimizer=keras.optimizers.SGD(0.1), d_optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
        logs = trainer.train_on_batch(x, y, return_dict=True)
        results.append((logs, weights(trainer.gen_b)))
    for name in results[0][0]:
        assert results[1][0][name] == pytest.approx(results[0][0][name], rel=1e-4, abs=1e-5), name
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


# ------------------------------------------------------------ latent reconstruction losses


def test_own_latent_losses_are_the_trainers_terms():
    x, y = images()
    seen = {"style": [], "content": []}

    def style_loss(style, recon):
        seen["style"].append(tuple(style.shape))
        return 2.0 + 0.0 * ops.mean(recon)

    def content_loss(content, recon):
        seen["content"].append(tuple(content.shape))
        return 0.5 + 0.0 * ops.mean(recon)

    trainer = tiny_munit(style_reconstruction_loss=style_loss, content_reconstruction_loss=content_loss)
    trainer.compile(run_eagerly=True)
    logs = trainer.train_on_batch(x, y, return_dict=True)
    assert logs["recon_s"] == pytest.approx(4.0) and logs["recon_c"] == pytest.approx(1.0)  # two domains each
    assert (2, 3) in seen["style"] and (2, 4, 4, 16) in seen["content"]


def test_default_trainer_uses_the_library_losses():
    trainer = tiny_munit()
    assert trainer.style_loss is losses.style_reconstruction_loss
    assert trainer.content_loss is losses.content_reconstruction_loss
    assert trainer.style_sampler is None and trainer.style_bank is None


# -------------------------------------------------------------------------- style_sampler


def randn_sampler(n, style_dim, seed=0):
    np.random.seed(seed)
    return np.random.randn(n, style_dim).astype(np.float32)


def test_style_sampler_gives_the_sample_and_translate_codes():
    trainer = tiny_munit(style_sampler=randn_sampler)
    np.testing.assert_array_equal(trainer.sample_styles(4, seed=5), randn_sampler(4, 3, 5))
    assert trainer.sample_styles(4, seed=5).dtype == np.float32
    x, _ = images()
    np.testing.assert_allclose(
        trainer.translate(x, seed=2), trainer.translate(x, style=randn_sampler(2, 3, 2)), atol=1e-6
    )
    cols = trainer.sample_columns(x, x)
    codes = randn_sampler(trainer.num_sample_styles, 3, 0)
    np.testing.assert_allclose(cols["style_1"], trainer.translate(x, style=codes[0]), atol=1e-6)
    # The training bank: style_bank_size codes drawn once with the trainer's seed.
    np.testing.assert_array_equal(trainer.style_bank, randn_sampler(16384, 3, 0))
    small = tiny_munit(seed=3, style_sampler=randn_sampler, style_bank_size=10)
    np.testing.assert_array_equal(small.style_bank, randn_sampler(10, 3, 3))


def test_training_styles_come_from_the_bank():
    trainer = tiny_munit(style_sampler=randn_sampler, style_bank_size=6)
    drawn = np.concatenate([numpy(trainer._random_styles(5)) for _ in range(8)])
    assert drawn.shape == (40, 3)
    distance = np.abs(drawn[:, None] - trainer.style_bank[None]).max(axis=2).min(axis=1)
    assert distance.max() == 0.0, "every training code is a row of the bank"
    assert len(np.unique(drawn, axis=0)) > 3, "rows picked at random"
    zeros = tiny_munit(style_sampler=lambda n, d, seed=0: np.zeros((n, d), np.float32), style_bank_size=8)

    np.testing.assert_array_equal(numpy(zeros._random_styles(4)), np.zeros((4, 3), np.float32))


def test_every_own_piece_in_one_compiled_step():
    """A lab's AdaIN, latent losses and sampler together, in the compiled step (tf.function / jax.jit)."""

    def l1(a, b):
        return ops.mean(ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32")))

    trainer = tiny_munit(
        own_adain, style_reconstruction_loss=l1, content_reconstruction_loss=l1, style_sampler=randn_sampler
    )
    trainer.compile()
    x, y = images()
    logs = trainer.fit(x, y, batch_size=2, epochs=2, verbose=0).history
    assert set(logs) == {"D", "G_adv", "recon_x", "recon_s", "recon_c"}
    assert all(np.isfinite(v).all() for v in logs.values())


def test_style_sampler_errors():
    with pytest.raises(TypeError, match="style_sampler must be a function"):
        tiny_munit(style_sampler="normal")
    with pytest.raises(ValueError, match=r"returned shape \(4, 2\), expected \(4, 3\)"):
        tiny_munit(style_sampler=lambda n, d, seed=0: np.zeros((n, 2), np.float32), style_bank_size=4)
