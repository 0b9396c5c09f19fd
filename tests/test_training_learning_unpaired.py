"""Issue 21: the unpaired family learns on day2night (32 px; DiscoGAN's fixed 64 px), within CPU budgets.

Every trainer is built and trained as in ``experiments/unpaired_family.py`` (the recipes'
networks at width 8 with 2 residual blocks, each trainer's losses, Adam / RMSprop at 1e-3
(DualGAN 2.5e-4), 200 steps of batch 4, seed 0) and scored on the 64 test images against their
true night counterparts: counterpart retrieval (chance 1/64) and translation error
mean |G(a) - true b|. The baseline is "GAN alone", a CycleGAN with lambda_cycle = lambda_identity
= 0 trained the same way (a module fixture). The identity mapping's error |a - true b| is 0.879.

Numbers in the comments: measured with TensorFlow on a shared 2-core machine, seed 0 / seed 1
(the seed of the networks and the data order), and a third run of seed 0 on 2026-12-08 (other
rounding: the same seed takes another path). Retrieval after 200 steps is trajectory-dependent
(GAN alone 0.234 / 0.047 / 0.078), so the assertions compare against the baseline with margins
all three runs allow and fall back on errors and the trainers' own loss terms where retrieval
does not separate.
"""

import keras
import numpy as np
import pytest

from experiments import unpaired_family as uf
from i2ilab.metrics import counterpart_retrieval, translation_error

pytestmark = pytest.mark.slow

SIZE, WIDTH, BLOCKS, STEPS, LR, SEED = 32, 8, 2, 200, 1e-3, 0
EPOCHS = 10  # the loss curves: 10 means of 20 steps
IDENTITY_ERROR = 0.879  # |testA - testA_true| at 32 px


def scores(method, steps=STEPS):
    trainer = uf.build(method, SIZE, WIDTH, BLOCKS, SEED, LR)
    history, _ = uf.fit(trainer, uf.train_data(method, SIZE, 4, SEED), steps, epochs=EPOCHS)
    test_a, true_b = uf.test_images(SIZE, 64)
    fake_b = uf.translate(method, trainer, test_a, SIZE)
    out = {
        "retrieval": counterpart_retrieval(fake_b, true_b),
        "error": translation_error(fake_b, true_b),
        "first": {k: round(float(v[0]), 3) for k, v in history.items()},
        "last": {k: round(float(v[-1]), 3) for k, v in history.items()},
    }
    print(method, out)
    return out


def falls(s, key):
    """Last epoch mean of ``key`` / its first."""
    return s["last"][key] / s["first"][key]


@pytest.fixture(scope="module")
def gan_alone():
    # seed 0 / 1: retrieval 0.234 / 0.047, error 0.229 / 0.361
    return scores("gan_alone")


def test_cut_retrieves_counterparts_above_gan_alone(gan_alone):
    s = scores("cut")
    # retrieval 0.422 / 0.438 / 0.484 (GAN alone 0.234 / 0.047 / 0.078); error 0.216 / 0.217 /
    # 0.185 (0.229 / 0.361 / 0.250); the third run after the one-forward CUT step
    assert s["retrieval"] > gan_alone["retrieval"] + 0.1, (s, gan_alone)
    assert s["error"] < min(0.25, 1.1 * gan_alone["error"]), (s, gan_alone)


def test_fastcut_nce_falls_and_output_moves_towards_night(gan_alone):
    s = scores("fastcut")
    # FastCUT does NOT beat GAN alone at this budget: retrieval 0.000 / 0.000, error 0.634 /
    # 0.754 (the identity's 0.879); also at width 16, 300 steps, 5e-4 (experiment: 0.000 / 0.642).
    # What holds: its PatchNCE term falls and the output is closer to the truth than the input.
    assert s["error"] < 0.95 * IDENTITY_ERROR, s
    assert falls(s, "NCE") < 0.9, s


def test_distancegan_translates_but_not_above_gan_alone(gan_alone):
    s = scores("distancegan")
    # retrieval 0.125 / 0.062 (GAN alone 0.234 / 0.047): NOT well above GAN alone here; error
    # 0.314 / 0.322 (GAN alone 0.229 / 0.361). What holds: far below the identity's error.
    assert s["error"] < 0.45 * IDENTITY_ERROR, s
    assert s["retrieval"] >= 2 / 64, s


def test_unit_translates_closer_to_the_truth_than_gan_alone(gan_alone):
    s = scores("unit")
    # retrieval 0.438 / 0.391 / 0.141 (GAN alone 0.234 / 0.047 / 0.078); error 0.131 / 0.163 /
    # 0.162 (0.229 / 0.361 / 0.250): the retrieval margin over GAN alone is trajectory-dependent
    # (the third run: another machine's rounding), the error ratio (0.45-0.65) is not.
    assert s["retrieval"] > 4 / 64, (s, gan_alone)
    assert s["error"] < 0.8 * gan_alone["error"], (s, gan_alone)


def test_discogan_output_moves_towards_night():
    s = scores("discogan")  # trains at 64 px, scored at 32 (outputs averaged 2x2)
    # retrieval 0.125 / 0.016 / 0.172, error 0.475 / 0.305 / 0.510 (identity 0.879). Its
    # reconstruction loss fell to 0.5x on seeds 0 and 1 but rose 1.06x on a third run (its G
    # losses tripled as D won): only the output's move towards the night truth holds every time.
    assert s["error"] < 0.7 * IDENTITY_ERROR, s
    assert all(np.isfinite(v) for v in s["last"].values()), s


def test_dualgan_reconstruction_falls_and_beats_identity():
    s = scores("dualgan")
    # retrieval 0.000 / 0.000, error 0.359 / 0.574 (identity 0.879). At 32 px DualGAN's critic
    # ends on a 1x1 map after instance norm: a constant, so only the reconstruction trains.
    assert s["error"] < 0.8 * IDENTITY_ERROR, s
    assert falls(s, "recon_A") < 0.7, s


def test_oneshot_autoencoder_then_one_a_image():
    """OST: phase autoencoder on B, then phase ost from one A image (testA[0])."""
    from i2ilab import models
    from i2ilab.data import synthetic_root
    from i2ilab.data.synthetic import load_images
    from i2ilab.training import OneShot

    root = synthetic_root("day2night", SIZE)
    train_b = load_images(root, "trainB")[:128]
    test_b = load_images(root, "testB")[:64]
    one_a, true_b = load_images(root, "testA")[:1], load_images(root, "testA_true")[:1]
    keras.utils.set_random_seed(SEED)
    ngf, ch = WIDTH, 4 * WIDTH
    b_nets = {
        "enc_b": models.ost_encoder(SIZE, ngf=ngf),
        "enc_shared": models.ost_shared(SIZE // 4, channels=ch, n_blocks=1),
        "dec_shared": models.ost_shared(SIZE // 4, channels=ch, n_blocks=1),
        "dec_b": models.ost_decoder(SIZE // 4, ngf=ngf),
    }

    def d_b():
        return models.patch_discriminator(SIZE, 3, ndf=WIDTH, n_layers=2, norm="instance")

    ae = OneShot(**b_nets, d_b=d_b(), phase="autoencoder", seed=SEED)
    ae.compile(g_optimizer=keras.optimizers.Adam(LR, 0.5), d_optimizer=keras.optimizers.Adam(LR, 0.5))
    rec_before = float(np.abs(ae.translate(test_b, "BtoB") - test_b).mean())
    ae.fit(train_b, train_b, batch_size=4, epochs=4, verbose=0)  # 128 steps
    rec_after = float(np.abs(ae.translate(test_b, "BtoB") - test_b).mean())

    ost = OneShot(
        **b_nets,
        d_b=d_b(),
        enc_a=models.ost_encoder(SIZE, ngf=ngf),
        dec_a=models.ost_decoder(SIZE // 4, ngf=ngf),
        phase="ost",
        seed=SEED,
    )
    ost.compile(g_optimizer=keras.optimizers.Adam(LR, 0.5), d_optimizer=keras.optimizers.Adam(LR, 0.5))
    ost.fit(np.repeat(one_a, len(train_b), axis=0), train_b, batch_size=4, epochs=3, verbose=0)  # 96 steps
    error = float(np.abs(ost.translate(one_a) - true_b).mean())
    identity = float(np.abs(one_a - true_b).mean())
    print({"rec_before": rec_before, "rec_after": rec_after, "error": error, "identity": identity})
    assert rec_after < 0.5 * rec_before, (rec_before, rec_after)
    assert error < 0.8 * identity, (error, identity)
