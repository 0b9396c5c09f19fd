"""Tiny networks of the DiscoGAN, DistanceGAN, DualGAN and OneShot trainers for their numerical
tests (the papers' layers at widths of 4). Imported by test modules that also run as subprocess
scripts (the tests folder is on sys.path)."""

import keras
import numpy as np

#: image size of each trainer's tiny networks (the DiscoGAN D and the DualGAN critic need 64: below, their
#: last maps are 1x1 and the critic's instance norm makes it a constant).
SIZES = {"discogan": 64, "distancegan": 16, "dualgan": 64, "ost": 16}


def tiny_unpaired_networks(kind):
    """Networks of the ``kind`` trainer as its keyword names -> keras.Model."""
    from i2ilab import models

    size = SIZES[kind]
    if kind == "discogan":
        return {
            "g_ab": models.discogan_generator(size, ngf=4),
            "g_ba": models.discogan_generator(size, ngf=4),
            "d_a": models.discogan_discriminator(size, ndf=4),
            "d_b": models.discogan_discriminator(size, ndf=4),
        }
    if kind == "distancegan":
        return {
            "g_ab": models.distancegan_generator(size, ngf=4, n_blocks=1),
            "d_b": models.distancegan_discriminator(size, ndf=4, n_layers=1),
            "g_ba": models.distancegan_generator(size, ngf=4, n_blocks=1),
            "d_a": models.distancegan_discriminator(size, ndf=4, n_layers=1),
        }
    if kind == "dualgan":
        return {
            "g_ab": models.dualgan_generator(size, gcn=4, num_downs=4),
            "g_ba": models.dualgan_generator(size, gcn=4, num_downs=4),
            "d_a": models.dualgan_discriminator(size, dcn=4),
            "d_b": models.dualgan_discriminator(size, dcn=4),
        }
    if kind == "ost":
        return {
            "enc_a": models.ost_encoder(size, ngf=4),
            "enc_b": models.ost_encoder(size, ngf=4),
            "enc_shared": models.ost_shared(size // 4, channels=16, n_blocks=1),
            "dec_shared": models.ost_shared(size // 4, channels=16, n_blocks=1),
            "dec_a": models.ost_decoder(size // 4, ngf=4),
            "dec_b": models.ost_decoder(size // 4, ngf=4),
            "d_b": models.patch_discriminator(size, 3, ndf=4, n_layers=1, norm="instance"),
        }
    raise ValueError(f"tiny_unpaired_networks: unknown kind {kind!r}")


def unpaired_batch(kind, n=2, seed=0):
    """(a, b) in [-1, 1] for the ``kind`` trainer's tiny networks."""
    size = SIZES[kind]
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    b = np.tanh(2 * a[..., ::-1] + 0.3).astype("float32")
    return a, b


def make_trainer(kind, nets, seed=0, **kwargs):
    """The ``kind`` trainer on ``nets`` (DistanceGAN with fixed statistics)."""
    from i2ilab.training import DiscoGAN, DistanceGAN, DualGAN, OneShot

    if kind == "discogan":
        return DiscoGAN(**nets, **kwargs)
    if kind == "distancegan":
        nets = {**nets, **{k: kwargs.pop(k) for k in ("g_ba", "d_a") if k in kwargs}}
        kwargs.setdefault("stats_a", (0.5, 0.1))
        kwargs.setdefault("stats_b", (0.6, 0.2))
        return DistanceGAN(**nets, seed=seed, **kwargs)
    if kind == "dualgan":
        return DualGAN(**nets, seed=seed, **kwargs)
    return OneShot(**nets, seed=seed, **kwargs)


def tiny_trainer(kind, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return make_trainer(kind, tiny_unpaired_networks(kind), seed=seed, **kwargs)
