"""ResNet generator of CycleGAN (Zhu et al. 2017, appendix 7.2; Johnson et al. 2016)."""

import keras

from i2ilab.layers import ConvBlock, ConvTransposeBlock, ResnetBlock


def resnet_generator(
    image_size=256,
    in_channels=3,
    out_channels=3,
    ngf=64,
    n_blocks=9,
    norm="instance",
    dropout=False,
    n_downsampling=2,
    name=None,
):
    """CycleGAN generator ``resnet_<n_blocks>blocks`` (9 blocks for 256x256, 6 for 128x128).

    c7s1-64 (reflect pad 3), d128, d256 (3x3 stride 2, zero pad 1), n_blocks residual blocks of
    256 channels (reflect padding), u128, u64 (3x3 transposed convs, stride 2, pad 1,
    output_padding 1), c7s1-out (reflect pad 3) and tanh. Norm layers are InstanceNorm without
    affine parameters (eps 1e-5); convs keep their bias unless ``norm="batch"``.
    resnet_9blocks has 11,378,179 trainable parameters, like the reference.

    Input (B, S, S, in_channels) in [-1, 1] -> (B, S, S, out_channels) in [-1, 1]; S must be
    divisible by 2**n_downsampling. ``image_size=None`` gives a fully convolutional model.
    """
    if image_size is not None and image_size % 2**n_downsampling:
        raise ValueError(f"image_size={image_size} must be divisible by 2**n_downsampling={2**n_downsampling}.")
    name = name or f"resnet_{n_blocks}blocks"
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = ConvBlock(ngf, 7, padding=3, pad_mode="reflect", norm=norm, activation="relu", name="stem")(inputs)
    for i in range(n_downsampling):
        h = ConvBlock(ngf * 2 ** (i + 1), 3, strides=2, padding=1, norm=norm, activation="relu", name=f"down{i}")(h)
    width = ngf * 2**n_downsampling
    for i in range(n_blocks):
        h = ResnetBlock(width, norm=norm, dropout=0.5 if dropout else 0.0, name=f"res{i}")(h)
    for i in range(n_downsampling):
        h = ConvTransposeBlock(
            ngf * 2 ** (n_downsampling - i - 1),
            3,
            strides=2,
            padding=1,
            output_padding=1,
            norm=norm,
            activation="relu",
            name=f"up{i}",
        )(h)
    out = ConvBlock(out_channels, 7, padding=3, pad_mode="reflect", activation="tanh", use_bias=True, name="head")(h)
    return keras.Model(inputs, out, name=name)
