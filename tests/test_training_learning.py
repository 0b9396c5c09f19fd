"""Learning, not just running: small trainers on the synthetic sets improve within fixed budgets.

CPU-sized (a few hundred steps of tiny networks); marked slow.
"""

import keras
import numpy as np
import pytest

from i2ilab.data import generate
from i2ilab.models import (
    multiscale_discriminator,
    munit_generator,
    patch_discriminator,
    resnet_generator,
    unet_generator,
)
from i2ilab.training import MUNIT, CycleGAN, Pix2Pix

pytestmark = pytest.mark.slow


def test_pix2pix_halves_held_out_l1_at_64px():
    """edges -> objects at 64x64: 160 steps of batch 4 at least halve the held-out L1."""
    keras.utils.set_random_seed(0)
    train = generate("edges2objects", 64, image_size=64, seed=0, split="train")
    test = generate("edges2objects", 16, image_size=64, seed=0, split="test")
    trainer = Pix2Pix(
        unet_generator(64, ngf=8, dropout=False),
        patch_discriminator(64, 6, ndf=8, n_layers=2),
        seed=0,
    )
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
    )

    def held_out_l1():
        return float(np.abs(trainer.translate(test["A"]) - test["B"]).mean())

    before = held_out_l1()
    trainer.fit(train["A"], train["B"], batch_size=4, epochs=10, verbose=0)
    after = held_out_l1()
    assert after <= 0.5 * before, (before, after)


def test_cyclegan_cycle_loss_falls():
    keras.utils.set_random_seed(0)
    data = generate("day2night", 32, image_size=32, seed=0, split="train")
    nets = [resnet_generator(32, ngf=8, n_blocks=2) for _ in range(2)]
    nets += [patch_discriminator(32, 3, ndf=8, n_layers=2, norm="instance") for _ in range(2)]
    trainer = CycleGAN(*nets, pool_size=10, seed=0)
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
    )
    logs = trainer.fit(data["A"], data["B"], batch_size=4, epochs=10, verbose=0).history
    for name in ("cycle_A", "cycle_B"):
        assert logs[name][-1] < 0.6 * logs[name][0], (name, logs[name])


def test_munit_reconstruction_falls_and_styles_differ():
    keras.utils.set_random_seed(0)
    data = generate("styles", 32, image_size=32, seed=0, split="train")
    gens = [munit_generator(32, dim=8, style_dim=4, n_res=1, mlp_dim=32) for _ in range(2)]
    diss = [multiscale_discriminator(32, dim=8, n_layer=2, num_scales=2) for _ in range(2)]
    trainer = MUNIT(*gens, *diss, seed=0)
    trainer.compile(
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
    )
    logs = trainer.fit(data["A"], data["B"], batch_size=4, epochs=10, verbose=0).history
    assert logs["recon_x"][-1] < 0.6 * logs["recon_x"][0], logs["recon_x"]
    x = data["A"][:4]
    styles = trainer.sample_styles(2, seed=1)
    one = trainer.translate(x, style=styles[0])
    two = trainer.translate(x, style=styles[1])
    assert np.abs(one - two).mean() > 0.02
