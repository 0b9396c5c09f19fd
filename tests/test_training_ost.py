"""OneShot (OST) trainer: the A-side losses never reach the shared layers, D_b's two halves,
both phases' logs, exact resume with the pool."""

import keras
import numpy as np
import pytest
from test_training_engine import _two_epochs_and_reload, values
from unpaired_networks import tiny_trainer, tiny_unpaired_networks, unpaired_batch

from i2ilab.training import OneShot
from i2ilab.training import backend as shim


def mse(x, target):
    return keras.ops.mean(keras.ops.square(x - target))


def l1(x, y):
    return keras.ops.mean(keras.ops.abs(x - y))


def test_a_side_losses_train_enc_a_and_dec_a_only():
    """With SGD(lr=1): Enc_a / Dec_a move by -grad(loss_G_A); Enc_b, the shared layers and Dec_b
    by -grad(loss_G_B) (the reference's Enc_shared step uses grad(loss_G_B) exactly); D_b by
    -grad of its two halves."""
    t = tiny_trainer("ost", pool_size=0)
    t.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    a, b = unpaired_batch("ost", 1)
    enc_a, enc_b, enc_s, dec_s, dec_a, dec_b, d_b = (
        t.enc_a,
        t.enc_b,
        t.enc_shared,
        t.dec_shared,
        t.dec_a,
        t.dec_b,
        t.d_b,
    )
    a_vars = enc_a.trainable_variables + dec_a.trainable_variables
    b_vars = [v for n in (enc_b, enc_s, dec_s, dec_b) for v in n.trainable_variables]
    d_vars = d_b.trainable_variables
    a0, b0, d0 = values(a_vars), values(b_vars), values(d_vars)

    def loss_g_a():
        ab = dec_b(dec_s(enc_s(enc_a(a))))
        aa = dec_a(dec_s(enc_s(enc_a(a))))
        aba = dec_a(dec_s(enc_s(enc_b(ab))))
        return mse(d_b(ab), 1.0) + 10.0 * l1(aba, a) + 1.0 * l1(aa, a), ab

    def loss_g_b():
        z = enc_s(enc_b(b))
        bb = dec_b(dec_s(z))
        return l1(bb, b) + 0.1 * keras.ops.mean(keras.ops.square(z)) + mse(d_b(bb), 1.0), bb

    _, ab, a_grads, _ = shim.value_and_grad(loss_g_a, a_vars)
    _, bb, b_grads, _ = shim.value_and_grad(loss_g_b, b_vars)
    _, _, shared_from_a, _ = shim.value_and_grad(loss_g_a, enc_s.trainable_variables)

    def d_loss():
        half_ab = 0.5 * (mse(d_b(b), 1.0) + mse(d_b(ab), 0.0))
        half_bb = 0.5 * (mse(d_b(b), 1.0) + mse(d_b(bb), 0.0))
        return half_ab + half_bb, ()

    _, _, d_grads, _ = shim.value_and_grad(d_loss, d_vars)
    logs = t.train_on_batch(a, b, return_dict=True)
    assert set(logs) == {"G_A", "cycle_A", "idt_A", "G_B", "idt_B", "kl", "D"}
    grads = [keras.ops.convert_to_numpy(g) for g in a_grads + b_grads + d_grads]
    scale = max(np.abs(g).max() for g in grads)
    for w0, w1, g in zip(a0 + b0 + d0, values(a_vars) + values(b_vars) + values(d_vars), grads, strict=True):
        np.testing.assert_allclose(w0 - w1, g, rtol=1e-3, atol=1e-4 * scale)
    # the A-side loss does depend on the shared layers: its gradient there is large, and unused
    assert max(np.abs(keras.ops.convert_to_numpy(g)).max() for g in shared_from_a) > 1e-2
    assert "d_a" not in t.networks


@pytest.mark.slow
def test_ost_phase_resumes_exactly_with_the_pool(tmp_path):
    t = tiny_trainer("ost", pool_size=3)
    t.compile()
    a, b = unpaired_batch("ost", 4)
    a[:] = a[:1]  # the one A image
    history = _two_epochs_and_reload(t, a, b, tmp_path, 2)
    assert set(history) == {"G_A", "cycle_A", "idt_A", "G_B", "idt_B", "kl", "D"}
    assert int(keras.ops.convert_to_numpy(t.pool.count)) == 3  # two fakes per image: full
    cols = t.sample_columns(a[:2], b[:2])
    assert list(cols) == ["real_A", "fake_B", "real_B", "rec_B"]
    assert cols["fake_B"].shape == (2, 16, 16, 3)


def test_autoencoder_phase_and_errors(tmp_path):
    nets = tiny_unpaired_networks("ost")
    enc_a, dec_a = nets.pop("enc_a"), nets.pop("dec_a")
    t = OneShot(**nets, phase="autoencoder", pool_size=2, seed=1)
    assert t.lambda_idt_b == 10.0 and set(t.networks) == {"enc_b", "enc_shared", "dec_shared", "dec_b", "d_b"}
    t.compile()
    a, b = unpaired_batch("ost", 4)
    history = _two_epochs_and_reload(t, a, b, tmp_path, 2)
    assert set(history) == {"G_gan", "idt_B", "kl", "D"}
    with pytest.raises(ValueError, match="direction must be one of"):
        t.translate(a, "AtoB")
    assert t.translate(b[:1], "BtoB").shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="needs enc_a and dec_a"):
        OneShot(**nets)
    with pytest.raises(ValueError, match="leave enc_a and dec_a out"):
        OneShot(**nets, enc_a=enc_a, dec_a=dec_a, phase="autoencoder")
