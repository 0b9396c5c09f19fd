"""One-shot translation (OST) networks (Benaim & Wolf 2018, Sec. 3; sagiebenaim/OneShotTranslation
``drawing_and_style_transfer/models/networks.py``).

A 12-block CycleGAN ResNet generator cut in four: a domain-specific encoder (``Enc_a`` /
``Enc_b``: the 7x7 stem and the stride-2 convs), a shared encoder (6 residual blocks), a shared
decoder (6 residual blocks) and a domain-specific decoder (``Dec_a`` / ``Dec_b``: the transposed
convs and the 7x7 head). The facades setting of the README: n_downsampling = num_unshared = 2,
so exactly the down/up-sampling layers are domain specific. Instance norm without affine
parameters, reflection padding for the 7x7 convs and the residual blocks, zero padding for the
stride-2 convs, conv biases on, weights N(0, 0.02). The discriminator D_b is the 70x70 PatchGAN
with instance norm, :func:`i2ilab.models.patch_discriminator` (``in_channels=3``,
``norm="instance"``: 2,764,737 parameters).
"""

import keras

from i2ilab.layers import ConvBlock, ConvTransposeBlock, ResnetBlock


def ost_encoder(image_size=256, in_channels=3, ngf=64, n_downsampling=2, name="ost_encoder"):
    """Domain-specific encoder ``Enc_a`` / ``Enc_b``: 378,496 parameters, as the reference.

    ReflectionPad 3, conv 7x7 to ngf, IN, ReLU; n_downsampling 3x3 stride-2 convs (zero pad 1)
    doubling the width, IN, ReLU. Input (B, S, S, in_channels) in [-1, 1] -> (B, S / 4, S / 4,
    4 ngf) for n_downsampling 2.
    """
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = ConvBlock(ngf, 7, padding=3, pad_mode="reflect", norm="instance", activation="relu", name="stem")(inputs)
    for i in range(n_downsampling):
        h = ConvBlock(ngf * 2 ** (i + 1), 3, strides=2, padding=1, norm="instance", activation="relu", name=f"down{i}")(
            h
        )
    return keras.Model(inputs, h, name=name)


def ost_shared(image_size=64, channels=256, n_blocks=6, name="ost_shared"):
    """Shared encoder or decoder (``Enc_shared`` / ``Dec_shared``): n_blocks residual blocks.

    Each block: reflect pad 1, conv 3x3, IN, ReLU, reflect pad 1, conv 3x3, IN, plus the input.
    7,080,960 parameters for 6 blocks of 256 channels, as the reference.
    ``image_size`` is the size of the code, S / 4. Shapes (B, s, s, channels) -> same.
    """
    inputs = keras.Input((image_size, image_size, channels), name="input")
    h = inputs
    for i in range(n_blocks):
        h = ResnetBlock(channels, norm="instance", name=f"res{i}")(h)
    return keras.Model(inputs, h, name=name)


def ost_decoder(image_size=64, out_channels=3, ngf=64, n_downsampling=2, name="ost_decoder"):
    """Domain-specific decoder ``Dec_a`` / ``Dec_b``: 378,243 parameters, as the reference.

    n_downsampling 3x3 stride-2 transposed convs (pad 1, output_padding 1) halving the width, IN,
    ReLU; ReflectionPad 3, conv 7x7 to out_channels, tanh. ``image_size`` is the size of the
    code: (B, s, s, ngf * 2**n_downsampling) -> (B, s * 2**n_downsampling, ..., out_channels) in
    [-1, 1].
    """
    inputs = keras.Input((image_size, image_size, ngf * 2**n_downsampling), name="input")
    h = inputs
    for i in range(n_downsampling):
        h = ConvTransposeBlock(
            ngf * 2 ** (n_downsampling - i - 1),
            3,
            strides=2,
            padding=1,
            output_padding=1,
            norm="instance",
            activation="relu",
            name=f"up{i}",
        )(h)
    out = ConvBlock(out_channels, 7, padding=3, pad_mode="reflect", activation="tanh", use_bias=True, name="head")(h)
    return keras.Model(inputs, out, name=name)
