"""PatchGAN discriminators of pix2pix / CycleGAN (Isola et al. 2017, 3.2.2 and appendix 6.1.2)."""

import keras

from i2ilab.layers import ConvBlock

#: Receptive field of ``patch_discriminator(n_layers=n)`` (pix2pix Table 3 and Fig. 6).
RECEPTIVE_FIELDS = {0: 1, 1: 16, 2: 34, 3: 70, 4: 142, 5: 286}


def receptive_field(n_layers):
    """Receptive field in pixels of one output logit, computed from the layer geometry.

    The net is n_layers stride-2 4x4 convs then two stride-1 4x4 convs; walking back from one
    logit, each layer maps a field r to (r - 1) * stride + kernel. n_layers 0 is the 1x1
    "pixel" discriminator. ``tests/test_models.py`` also measures it from gradients.
    """
    if n_layers == 0:
        return 1
    kernels_strides = [(4, 2)] * n_layers + [(4, 1), (4, 1)]
    rf = 1
    for k, s in reversed(kernels_strides):
        rf = (rf - 1) * s + k
    return rf


def patch_discriminator(
    image_size=256,
    in_channels=6,
    ndf=64,
    n_layers=3,
    norm="batch",
    name=None,
):
    """PatchGAN: a conv net whose every output logit judges one N x N patch (no sigmoid).

    n_layers 3 is the 70x70 "basic" D: C64 (no norm) - C128 - C256 at stride 2, C512 at stride
    1, then a 1-channel conv at stride 1; all 4x4 with explicit zero padding 1 and LeakyReLU 0.2,
    widths ndf * min(2**i, 8). n_layers 1..5 give receptive fields 16, 34, 70, 142, 286; n_layers
    0 is the reference's "pixel" D (three 1x1 convs, receptive field 1).
    pix2pix D is conditional: in_channels = 6 (input and output concatenated); CycleGAN's is 3.
    Parameters: 2,768,705 (6 ch, BatchNorm), 2,764,737 (3 ch, InstanceNorm), as the reference.

    Input (B, S, S, in_channels) -> logits (B, s, s, 1): 30x30 for S = 256, 14x14 for 128, 6x6
    for 64 (n_layers 3). ``image_size=None`` gives a fully convolutional model.
    """
    if n_layers not in RECEPTIVE_FIELDS:
        raise ValueError(f"n_layers={n_layers} must be in 0..5 (receptive fields {RECEPTIVE_FIELDS}).")
    name = name or f"patchgan_{RECEPTIVE_FIELDS[n_layers]}"
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    if n_layers == 0:
        h = ConvBlock(ndf, 1, activation="lrelu", use_bias=True, name="conv0")(inputs)
        h = ConvBlock(2 * ndf, 1, norm=norm, activation="lrelu", name="conv1")(h)
        out = ConvBlock(1, 1, use_bias=norm != "batch", name="logits")(h)
        return keras.Model(inputs, out, name=name)
    h = ConvBlock(ndf, 4, strides=2, padding=1, activation="lrelu", use_bias=True, name="conv0")(inputs)
    for i in range(1, n_layers):
        h = ConvBlock(ndf * min(2**i, 8), 4, strides=2, padding=1, norm=norm, activation="lrelu", name=f"conv{i}")(h)
    h = ConvBlock(
        ndf * min(2**n_layers, 8),
        4,
        strides=1,
        padding=1,
        norm=norm,
        activation="lrelu",
        name=f"conv{n_layers}",
    )(h)
    out = ConvBlock(1, 4, strides=1, padding=1, use_bias=True, name="logits")(h)
    return keras.Model(inputs, out, name=name)
