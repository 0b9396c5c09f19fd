"""DiscoGAN trainer (and DistanceGAN in the DiscoGAN architecture): the 1 D : 2 G update order
against a hand-written objective, coupled weight decay, exact resume."""

import keras
import numpy as np
import pytest
from test_training_engine import _two_epochs_and_reload, values
from unpaired_networks import tiny_trainer, unpaired_batch

from i2ilab.training import backend as shim


def bce_logits(logits, label):
    logits = keras.ops.reshape(logits, (-1,))
    return keras.ops.mean(keras.ops.softplus(-logits if label else logits))


def fm(real, fake):
    return sum(
        keras.ops.mean(keras.ops.square(keras.ops.mean(r, 0) - keras.ops.mean(f, 0)))
        for r, f in zip(real, fake, strict=True)
    )


def reference_objectives(t, a, b, rate):
    """DiscoGAN's image_translation.py, written out: (gen_loss, dis_loss) on [0, 1] images."""
    ab, ba = t.g_ab(a, training=True), t.g_ba(b, training=True)
    aba, bab = t.g_ba(ab, training=True), t.g_ab(ba, training=True)
    a_real, *a_feats_real = t.d_a(a, training=True)
    a_fake, *a_feats_fake = t.d_a(ba, training=True)
    b_real, *b_feats_real = t.d_b(b, training=True)
    b_fake, *b_feats_fake = t.d_b(ab, training=True)
    recon_a = keras.ops.mean(keras.ops.square(aba - a))
    recon_b = keras.ops.mean(keras.ops.square(bab - b))
    gen_loss_a, gen_loss_b = bce_logits(a_fake, 1), bce_logits(b_fake, 1)
    fm_a, fm_b = fm(a_feats_real, a_feats_fake), fm(b_feats_real, b_feats_fake)
    gen_a_total = (0.1 * gen_loss_b + 0.9 * fm_b) * (1 - rate) + rate * recon_a
    gen_b_total = (0.1 * gen_loss_a + 0.9 * fm_a) * (1 - rate) + rate * recon_b
    dis_a = 0.5 * bce_logits(a_real, 1) + 0.5 * bce_logits(a_fake, 0)
    dis_b = 0.5 * bce_logits(b_real, 1) + 0.5 * bce_logits(b_fake, 0)
    return gen_a_total + gen_b_total, dis_a + dis_b


@pytest.mark.slow
def test_one_d_step_for_two_g_steps_with_the_reference_gradients():
    """With SGD(lr=1) a weight change is minus the gradient: iteration 0 moves the Ds only, by the
    gradient of dis_loss (+ weight decay * w); iterations 1 and 2 move the Gs only; 3 the Ds."""
    t = tiny_trainer("discogan", weight_decay=0.01)
    t.compile(g_optimizer=keras.optimizers.SGD(1.0), d_optimizer=keras.optimizers.SGD(1.0))
    g_vars = t.g_ab.trainable_variables + t.g_ba.trainable_variables
    d_vars = t.d_a.trainable_variables + t.d_b.trainable_variables
    a, b = unpaired_batch("discogan", 2)
    a01, b01 = (a + 1) / 2, (b + 1) / 2
    moved = []
    for it in range(4):
        g0, d0 = values(g_vars), values(d_vars)
        state0 = values(t.g_ab.non_trainable_variables)
        turn_vars = d_vars if it % 3 == 0 else g_vars

        def objective(turn_vars=turn_vars):
            gen, dis = reference_objectives(t, a01, b01, 0.01)
            return (dis if turn_vars is d_vars else gen), ()

        _, _, grads, _ = shim.value_and_grad(objective, turn_vars)
        for v, s in zip(t.g_ab.non_trainable_variables, state0, strict=True):
            v.assign(s)  # the reference pass above moved the BatchNorm statistics
        t.train_on_batch(a, b)
        g1, d1 = values(g_vars), values(d_vars)
        before, after = (d0, d1) if it % 3 == 0 else (g0, g1)
        still0, still1 = (g0, g1) if it % 3 == 0 else (d0, d1)
        for u, v in zip(still0, still1, strict=True):
            np.testing.assert_array_equal(u, v)
        for w0, w1, g in zip(before, after, grads, strict=True):
            np.testing.assert_allclose(w1, w0 - keras.ops.convert_to_numpy(g) - 0.01 * w0, rtol=1e-3, atol=1e-5)
        moved.append(sum(np.abs(w1 - w0).max() > 1e-6 for w0, w1 in zip(before, after, strict=True)))
    assert all(m > 10 for m in moved)
    assert int(keras.ops.convert_to_numpy(t.d_optimizer.iterations)) == 2
    assert int(keras.ops.convert_to_numpy(t.g_optimizer.iterations)) == 2


@pytest.mark.slow
def test_discogan_resumes_exactly(tmp_path):
    t = tiny_trainer("discogan")
    t.compile()
    a, b = unpaired_batch("discogan", 6)
    history = _two_epochs_and_reload(t, a, b, tmp_path, 2)
    assert set(history) == {"G_A", "fm_A", "G_B", "fm_B", "recon_A", "recon_B", "D_A", "D_B"}
    assert int(keras.ops.convert_to_numpy(t.d_optimizer.iterations)) == 2  # iterations 0 and 3 of 0..5
    out = t.translate(a[:2])
    assert out.shape == (2, 64, 64, 3) and -1.0 <= out.min() and out.max() <= 1.0


@pytest.mark.slow
def test_distancegan_in_the_discogan_architecture():
    t = tiny_trainer("discogan", distance_stats=((0.5, 0.1), (0.6, 0.2)))
    assert t.distance_stats == ((0.25, 0.05), (0.3, 0.1))  # halved for the [0, 1] images
    t.compile()
    a, b = unpaired_batch("discogan", 4)
    history = t.fit(a, b, batch_size=2, epochs=1, shuffle=False, verbose=0).history
    assert set(history) == {"G_A", "fm_A", "G_B", "fm_B", "dist_A", "dist_B", "D_A", "D_B"}
    with pytest.raises(ValueError, match="needs distance_stats"):
        tiny_trainer("discogan", reconstruction=False)


def test_sample_columns_are_the_translations_and_the_cycles():
    """The columns map [-1, 1] to the networks' [0, 1] and back: fake_B = translate(A), rec_A =
    translate(fake_B, "BtoA"), and the same from B."""
    t = tiny_trainer("discogan")
    t.compile()
    a, b = unpaired_batch("discogan", 2)
    cols = t.sample_columns(a, b)
    np.testing.assert_allclose(cols["real_A"], a)
    np.testing.assert_allclose(cols["fake_B"], t.translate(a), atol=1e-5)
    np.testing.assert_allclose(cols["rec_A"], t.translate(cols["fake_B"], "BtoA"), atol=1e-5)
    np.testing.assert_allclose(cols["fake_A"], t.translate(b, "BtoA"), atol=1e-5)
    np.testing.assert_allclose(cols["rec_B"], t.translate(cols["fake_A"]), atol=1e-5)
