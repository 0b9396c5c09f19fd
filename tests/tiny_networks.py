"""Tiny reference networks for the trainers' numerical tests (TF/JAX parity, data parallelism).

The same layers as the papers' networks (TorchBatchNormalization, instance norm, reflection
padding, AdaIN, multi-scale D) at widths of 4, so a compiled step takes well under a second.
Imported by test modules that also run as subprocess scripts (the tests folder is on sys.path).
"""


def tiny_gan_networks(kind, size=16):
    """Networks of the ``kind`` trainer ("pix2pix", "cyclegan", "munit") as the trainer's keyword
    names -> keras.Model, for (size, size, 3) images."""
    from i2ilab.models import (
        multiscale_discriminator,
        munit_generator,
        patch_discriminator,
        resnet_generator,
        unet_generator,
    )

    if kind == "pix2pix":  # TorchBatchNormalization in G and D
        return {
            "generator": unet_generator(size, ngf=4, dropout=False),
            "discriminator": patch_discriminator(size, 6, ndf=4, n_layers=1),
        }
    if kind == "cyclegan":
        return {
            "g_ab": resnet_generator(size, ngf=4, n_blocks=1),
            "g_ba": resnet_generator(size, ngf=4, n_blocks=1),
            "d_a": patch_discriminator(size, 3, ndf=4, n_layers=1, norm="instance"),
            "d_b": patch_discriminator(size, 3, ndf=4, n_layers=1, norm="instance"),
        }
    if kind == "munit":
        return {
            "gen_a": munit_generator(size, dim=4, style_dim=3, n_res=1, mlp_dim=8),
            "gen_b": munit_generator(size, dim=4, style_dim=3, n_res=1, mlp_dim=8),
            "dis_a": multiscale_discriminator(size, dim=4, n_layer=1, num_scales=2),
            "dis_b": multiscale_discriminator(size, dim=4, n_layer=1, num_scales=2),
        }
    raise ValueError(f"tiny_gan_networks: unknown kind {kind!r}")
