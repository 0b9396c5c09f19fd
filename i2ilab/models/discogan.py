"""DiscoGAN networks (Kim et al. 2017, Sec. 3 and Fig. 3; SKTBrain/DiscoGAN ``model.py``).

Also the DiscoGAN-architecture generators of DistanceGAN (Benaim & Wolf 2017, Sec. 5:
``discogan_arch/``), which only change the number of down/up-sampling levels.

Images are in [0, 1] (the authors divide by 255 and end the generator with a sigmoid), not in
[-1, 1] like the rest of the library; :class:`i2ilab.training.DiscoGAN` converts. Every conv is
4x4 with explicit zero padding and no bias, BatchNorm after every conv but the first and the
last, PyTorch's default weight init (kaiming-uniform, a = sqrt(5): U(+-1/sqrt(fan_in))).
BatchNorm gamma starts at N(1, 0.02), the library's BatchNorm init, where PyTorch starts at 1.
"""

import keras

from i2ilab.layers import ConvBlock, ConvTransposeBlock


def torch_default_init():
    """PyTorch's default conv init ``kaiming_uniform_(a=sqrt(5))``: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


def _conv(filters, strides, padding, norm, activation, name):
    return ConvBlock(
        filters,
        4,
        strides=strides,
        padding=padding,
        norm=norm,
        activation=activation,
        use_bias=False,
        kernel_initializer=torch_default_init(),
        name=name,
    )


def _up(filters, norm, activation, name, padding=1, strides=2):
    return ConvTransposeBlock(
        filters,
        4,
        strides=strides,
        padding=padding,
        norm=norm,
        activation=activation,
        use_bias=False,
        kernel_initializer=torch_default_init(),
        name=name,
    )


def discogan_generator(image_size=64, in_channels=3, out_channels=3, ngf=64, num_layers=4, name=None):
    """DiscoGAN generator: a conv encoder-decoder without skips, sigmoid output (Fig. 3).

    num_layers 4 (DiscoGAN; DistanceGAN's default) is C64 (no norm) - C128 - C256 - C512 with
    4x4 stride-2 convs, LeakyReLU 0.2, then U256 - U128 - U64 (4x4 stride-2 transposed convs,
    BatchNorm, ReLU) and a last transposed conv to ``out_channels`` with a sigmoid: 5,513,856
    parameters, as the reference. num_layers 3 (DistanceGAN's edges2shoes/handbags setting)
    drops the 512 level: 1,318,016. num_layers 5 (``extra_layers``) adds a 4x4 valid conv to 100
    channels (BatchNorm, LeakyReLU) and its transposed conv back to 512: 7,153,480.

    Input (B, S, S, in_channels) in [0, 1] -> (B, S, S, out_channels) in [0, 1]; S divisible by
    2**min(num_layers, 4) (64 for num_layers 5, whose bottleneck is 1x1 at S = 64).
    """
    if num_layers not in (3, 4, 5):
        raise ValueError(f"discogan_generator: num_layers={num_layers} must be 3, 4 or 5.")
    levels = min(num_layers, 4)
    if image_size is not None and image_size % 2**levels:
        raise ValueError(f"discogan_generator: image_size={image_size} must be divisible by {2**levels}.")
    name = name or f"discogan_generator_{num_layers}"
    widths = [ngf * 2**i for i in range(levels)]
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = inputs
    for i, width in enumerate(widths):
        h = _conv(width, 2, 1, "none" if i == 0 else "batch", "lrelu", f"down{i}")(h)
    if num_layers == 5:
        h = _conv(100, 1, 0, "batch", "lrelu", "bottleneck")(h)
        h = _up(widths[-1], "batch", "relu", "unbottleneck", padding=0, strides=1)(h)
    for i, width in enumerate(reversed(widths[:-1])):
        h = _up(width, "batch", "relu", f"up{i}")(h)
    h = _up(out_channels, "none", "none", f"up{levels - 1}")(h)
    out = keras.layers.Activation("sigmoid", name="sigmoid")(h)
    return keras.Model(inputs, out, name=name)


def discogan_discriminator(image_size=64, in_channels=3, ndf=64, name="discogan_discriminator"):
    """DiscoGAN discriminator: one logit per image and the three features of feature matching.

    C64 (no norm) - C128 - C256 - C512 (4x4 stride-2 convs, BatchNorm, LeakyReLU 0.2), then a 4x4
    valid conv to 1 channel: 2,765,568 parameters, as the reference. The reference applies a
    sigmoid and BCE; here the model returns the logit and the trainer uses BCE on logits
    (``softplus``), the same loss without the saturation of log(sigmoid).

    Input (B, S, S, in_channels) in [0, 1] -> ``[logits (B, S/16 - 3, S/16 - 3, 1), feat1
    (B, S/4, S/4, 2 ndf), feat2 (B, S/8, S/8, 4 ndf), feat3 (B, S/16, S/16, 8 ndf)]``; the
    features are the LeakyReLU outputs of the 2nd to 4th convs. At S = 64 the logits are 1x1.
    """
    if image_size is not None and (image_size % 16 or image_size < 64):
        raise ValueError(f"discogan_discriminator: image_size={image_size} must be a multiple of 16, >= 64.")
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = _conv(ndf, 2, 1, "none", "lrelu", "conv0")(inputs)
    features = []
    for i in range(1, 4):
        h = _conv(ndf * 2**i, 2, 1, "batch", "lrelu", f"conv{i}")(h)
        features.append(h)
    logits = _conv(1, 1, 0, "none", "none", "logits")(h)
    return keras.Model(inputs, [logits, *features], name=name)
