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
    block=None,
):
    """CycleGAN generator ``resnet_<n_blocks>blocks`` (9 blocks for 256x256, 6 for 128x128).

    c7s1-64 (reflect pad 3), d128, d256 (3x3 stride 2, zero pad 1), n_blocks residual blocks of
    256 channels (reflect padding), u128, u64 (3x3 transposed convs, stride 2, pad 1,
    output_padding 1), c7s1-out (reflect pad 3) and tanh. Norm layers are InstanceNorm without
    affine parameters (eps 1e-5); convs keep their bias unless ``norm="batch"``.
    resnet_9blocks has 11,378,179 trainable parameters, like the reference.

    Input (B, S, S, in_channels) in [-1, 1] -> (B, S, S, out_channels) in [-1, 1]; S must be
    divisible by 2**n_downsampling. ``image_size=None`` gives a fully convolutional model.

    ``block``: the class (or any callable) that makes each residual block, called as
    ``block(filters, name="res<i>")`` for ``filters = ngf * 2**n_downsampling``; it must return
    a layer that keeps the shape (B, h, w, filters). None (the default) uses
    :class:`i2ilab.layers.ResnetBlock` with this ``norm`` and ``dropout``. A lab passes its own
    block class here (e.g. ``resnet_generator(32, ngf=16, n_blocks=3, block=ResnetBlock)``);
    ``norm`` then applies to the other layers only, and ``dropout`` must stay False (dropout
    inside a custom block is the block's own business).
    """
    if block is not None and dropout:
        raise ValueError(
            "resnet_generator: dropout=True applies to the library's ResnetBlock only; with a "
            "custom `block`, put the dropout inside the block (or leave dropout=False)."
        )
    if image_size is not None and image_size % 2**n_downsampling:
        raise ValueError(f"image_size={image_size} must be divisible by 2**n_downsampling={2**n_downsampling}.")
    name = name or f"resnet_{n_blocks}blocks"
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = ConvBlock(ngf, 7, padding=3, pad_mode="reflect", norm=norm, activation="relu", name="stem")(inputs)
    for i in range(n_downsampling):
        h = ConvBlock(ngf * 2 ** (i + 1), 3, strides=2, padding=1, norm=norm, activation="relu", name=f"down{i}")(h)
    width = ngf * 2**n_downsampling
    for i in range(n_blocks):
        if block is None:
            h = ResnetBlock(width, norm=norm, dropout=0.5 if dropout else 0.0, name=f"res{i}")(h)
        else:
            h = block(width, name=f"res{i}")(h)
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
