"""U-Net generator of pix2pix and its encoder-decoder ablation (Isola et al. 2017, 3.2.1, 6.1.1)."""

import inspect
import math

import keras

from i2ilab.layers import PACKAGE, ConvBlock, ConvTransposeBlock, serialize_init


# ------------------------------------------------------------------------------------- blocks
@keras.saving.register_keras_serializable(package=PACKAGE)
class UNetDown(ConvBlock):
    """U-Net encoder block (pix2pix section 3.2.1): LeakyReLU(0.2) -> Conv 4x4 s2 pad 1 -> norm.

    The outermost block is the bare conv (no activation, no norm); the innermost has no norm
    (normalising the 1x1 bottleneck would zero it). As in the reference, the conv has a bias
    unless the network uses BatchNorm, also where no norm follows.
    Shapes: (B, H, W, Cin) -> (B, H / 2, W / 2, filters).
    """

    def __init__(self, filters, norm="batch", outermost=False, innermost=False, **kwargs):
        for key in ("kernel_size", "strides", "padding", "pre_activation"):
            kwargs.pop(key, None)
        kwargs.setdefault("use_bias", norm != "batch")
        super().__init__(
            filters,
            4,
            strides=2,
            padding=1,
            norm="none" if (outermost or innermost) else norm,
            pre_activation="none" if outermost else "lrelu",
            **kwargs,
        )
        self.net_norm = norm
        self.outermost = outermost
        self.innermost = innermost

    def get_config(self):
        config = super().get_config()
        for key in ("kernel_size", "strides", "padding", "pre_activation"):
            config.pop(key)
        config.update(norm=self.net_norm, outermost=self.outermost, innermost=self.innermost)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class UNetUp(keras.layers.Layer):
    """U-Net decoder block: ReLU -> ConvTranspose 4x4 s2 pad 1 -> norm (-> Dropout).

    The outermost block ends in tanh (conv with bias, no norm) and gives the image in [-1, 1].
    The skip concatenation happens outside the block, in ``unet_generator``.
    Shapes: (B, H, W, Cin) -> (B, 2H, 2W, filters).
    """

    def __init__(self, filters, norm="batch", outermost=False, dropout=0.0, **kwargs):
        kernel_initializer = kwargs.pop("kernel_initializer", "reference")
        super().__init__(**kwargs)
        self.filters = filters
        self.norm = norm
        self.outermost = outermost
        self.dropout = dropout
        self.kernel_initializer = kernel_initializer
        self.up = ConvTransposeBlock(
            filters,
            4,
            strides=2,
            padding=1,
            norm="none" if outermost else norm,
            activation="tanh" if outermost else "none",
            pre_activation="relu",
            use_bias=True if outermost else norm != "batch",
            kernel_initializer=kernel_initializer,
            name="up",
        )
        self.drop = keras.layers.Dropout(dropout, name="dropout") if dropout else None

    def build(self, input_shape):
        self.up.build(input_shape)

    def call(self, x, training=None):
        x = self.up(x, training=training)
        if self.drop is not None:
            x = self.drop(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return self.up.compute_output_shape(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "norm": self.norm,
            "outermost": self.outermost,
            "dropout": self.dropout,
            "kernel_initializer": serialize_init(self.kernel_initializer),
        }


# ----------------------------------------------------------------------------------- networks
def _level_filters(ngf, num_downs):
    """Encoder widths: ngf * min(2**i, 8), i.e. 64, 128, 256, 512, 512, ... for ngf 64."""
    return [ngf * min(2**i, 8) for i in range(num_downs)]


def _default_num_downs(image_size, num_downs):
    if num_downs is not None:
        if num_downs < 1:
            raise ValueError(f"num_downs={num_downs} must be >= 1.")
        if image_size is not None and image_size % 2**num_downs:
            raise ValueError(
                f"image_size={image_size} is not divisible by 2**num_downs={2**num_downs}; "
                "choose num_downs <= log2(image_size) or a multiple of that size."
            )
        return num_downs
    if image_size is None:
        return 8
    n = int(round(math.log2(image_size)))
    if 2**n != image_size:
        raise ValueError(
            f"image_size={image_size} is not a power of 2: pass num_downs explicitly "
            f"(the input must be divisible by 2**num_downs)."
        )
    return n


def _down_block(down_block, filters, norm, outermost, innermost, name):
    """One encoder block: the library's UNetDown (named ``down<i>``), or ``down_block(filters,
    norm=..., outermost=..., innermost=...)`` (a lab's own block; ``name=`` only if it takes one)."""
    if down_block is None:
        return UNetDown(filters, norm=norm, outermost=outermost, innermost=innermost, name=name)
    kwargs = {"norm": norm, "outermost": outermost, "innermost": innermost}
    try:
        params = inspect.signature(down_block).parameters
    except (TypeError, ValueError):
        params = {}
    if "name" in params or any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs["name"] = name
    block = down_block(filters, **kwargs)
    if not callable(block):
        raise TypeError(
            f"down_block({filters}, ...) returned {block!r}; it must return a Keras layer "
            "(B, H, W, C) -> (B, H / 2, W / 2, filters)."
        )
    return block


def _halved(tensor, filters):
    _, h, w, _ = tensor.shape
    return (None if h is None else h // 2, None if w is None else w // 2, filters)


def _unet(image_size, in_channels, out_channels, ngf, num_downs, norm, dropout, skips, name, down_block=None):
    num_downs = _default_num_downs(image_size, num_downs)
    filters = _level_filters(ngf, num_downs)
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    downs, h = [], inputs
    for i, f in enumerate(filters):
        block = _down_block(down_block, f, norm, i == 0, i == num_downs - 1, f"down{i}")
        before, h = h, block(h)
        if down_block is not None and tuple(h.shape[1:]) != _halved(before, f):
            raise ValueError(
                f"down_block({f}, outermost={i == 0}, innermost={i == num_downs - 1}) maps "
                f"{tuple(before.shape[1:])} to {tuple(h.shape[1:])}; a U-Net encoder block must "
                f"give {_halved(before, f)} (half the height and width, {f} channels)."
            )
        downs.append(h)
    for i in reversed(range(num_downs)):
        if i < num_downs - 1 and skips:
            h = keras.layers.Concatenate(name=f"skip{i}")([downs[i], h])
        # The reference puts dropout on the 512-wide blocks between the innermost and the
        # 512 -> 256 block: levels 4 .. num_downs - 2 (three of them in unet_256).
        use_dropout = dropout and 4 <= i <= num_downs - 2
        h = UNetUp(
            out_channels if i == 0 else filters[i - 1],
            norm=norm,
            outermost=i == 0,
            dropout=0.5 if use_dropout else 0.0,
            name=f"up{i}",
        )(h)
    return keras.Model(inputs, h, name=name)


def unet_generator(
    image_size=256,
    in_channels=3,
    out_channels=3,
    ngf=64,
    num_downs=None,
    norm="batch",
    dropout=True,
    name="unet_generator",
    down_block=None,
):
    """pix2pix U-Net generator ``unet_<image_size>`` (pix2pix 3.2.1, appendix 6.1.1).

    ``num_downs`` stride-2 blocks (default log2(image_size): unet_256 has 8, the bottleneck is
    1x1) with encoder widths ngf * (1, 2, 4, 8, 8, ...); each decoder block is concatenated with
    the mirrored encoder output (skip first, then the upsampled features), dropout 0.5 on the
    512-wide decoder blocks after the innermost (three in unet_256), tanh output.
    unet_256 with BatchNorm has 54,413,955 trainable parameters, like the reference.

    Args:
        image_size: input height = width, or None for a fully convolutional model (inputs must
            then be divisible by 2**num_downs; num_downs defaults to 8).
        norm: "batch" (pix2pix), "instance" or "none". With "batch" the convs have no bias.
        dropout: the reference's ``use_dropout`` (pix2pix uses it, also at test time).
        down_block: None (the library's :class:`i2ilab.layers.UNetDown`, named ``down<i>``) or
            a factory of encoder blocks called as ``down_block(filters, norm=norm,
            outermost=..., innermost=...)`` (plus ``name="down<i>"`` when it accepts ``name``),
            e.g. a lab's own ``UNetDown``; each block must map (B, H, W, C) to
            (B, H / 2, W / 2, filters). The decoder blocks stay the library's.
    Input (B, S, S, in_channels) in [-1, 1] -> output (B, S, S, out_channels) in [-1, 1].
    The reference only builds num_downs >= 5; smaller values continue the same width rule.
    """
    return _unet(image_size, in_channels, out_channels, ngf, num_downs, norm, dropout, True, name, down_block)


def encoder_decoder_generator(
    image_size=256,
    in_channels=3,
    out_channels=3,
    ngf=64,
    num_downs=None,
    norm="batch",
    dropout=True,
    name="encoder_decoder_generator",
    down_block=None,
):
    """The U-Net without its skip connections: pix2pix's encoder-decoder ablation (Table 2).

    Same blocks, widths and arguments (``down_block`` included) as ``unet_generator``; each decoder block sees only the
    upsampled features, so the decoder's input widths are halved and all detail must pass the
    1x1 bottleneck.
    """
    return _unet(image_size, in_channels, out_channels, ngf, num_downs, norm, dropout, False, name, down_block)
