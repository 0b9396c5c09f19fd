"""BicycleGAN networks (Zhu et al. 2017b, "Toward Multimodal Image-to-Image Translation", Sec. 3 and
appendix): the U-Net generator with the latent code z injected, the ResNet encoder E (VAE-like,
mu and logvar) and the multi-scale PatchGAN discriminator.

All three compute the numbers of the authors' code (junyanz/BicycleGAN ``G_Unet_add_all``,
``G_Unet_add_input``, ``E_ResNet``, ``D_NLayersMulti``; ``tests/test_parity_bicyclegan.py``).
InstanceNorm (no affine parameters) throughout, every conv with a bias, xavier-normal init with
gain 0.02 (the reference's ``--init_type xavier --init_gain 0.02``). NHWC; images in [-1, 1].
Only the settings of the released models are built: ``--norm instance``, ``--upsample basic``
(ConvTranspose), ``--nl relu`` in G's up path, a VAE-like E; the reference's other choices
(BatchNorm, bilinear upsampling, the conv encoder ``conv_256``) are not offered.
"""

import math

import keras
from keras import ops

from i2ilab.layers import PACKAGE, ConvBlock, InstanceNormalization
from i2ilab.models.munit_blocks import DownsampleAvgPool
from i2ilab.models.unet import UNetDown, UNetUp, _level_filters

WHERE_ADD = ("all", "input")


def xavier_init(gain=0.02):
    """torch ``xavier_normal_(w, gain)``: N(0, gain^2 * 2 / (fan_in + fan_out)), the reference init."""
    return keras.initializers.VarianceScaling(scale=gain**2, mode="fan_avg", distribution="untruncated_normal")


# ------------------------------------------------------------------------------------- blocks
@keras.saving.register_keras_serializable(package=PACKAGE)
class TileConcat(keras.layers.Layer):
    """Inject a latent code: ``concat([x, tile(z)])`` on the channel axis (BicycleGAN Sec. 3.4).

    z (B, nz) is repeated over every pixel of x (the reference's ``z.view(B, nz, 1, 1).expand``),
    after x's channels. Shapes: (B, H, W, C), (B, nz) -> (B, H, W, C + nz).
    """

    def call(self, x, z):
        shape = ops.shape(x)
        z = ops.cast(z, x.dtype)
        tiled = ops.broadcast_to(z[:, None, None, :], (shape[0], shape[1], shape[2], ops.shape(z)[-1]))
        return ops.concatenate([x, tiled], axis=-1)

    def compute_output_shape(self, x_shape, z_shape=None):
        channels = None if x_shape[-1] is None or z_shape is None or z_shape[-1] is None else x_shape[-1] + z_shape[-1]
        return (*x_shape[:-1], channels)


@keras.saving.register_keras_serializable(package=PACKAGE)
class EncoderBasicBlock(keras.layers.Layer):
    """E's residual block (reference ``BasicBlock``), halving the size.

    main = IN -> LReLU 0.2 -> conv 3x3 (cin -> cin) -> IN -> LReLU -> conv 3x3 (cin -> filters) ->
    AvgPool 2; shortcut = AvgPool 2 -> conv 1x1 (cin -> filters); out = main + shortcut.
    3x3 convs zero-pad 1; all convs have a bias. Shapes: (B, H, W, cin) -> (B, H/2, W/2, filters).
    """

    def __init__(self, filters, gain=0.02, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.gain = gain
        self.norm = InstanceNormalization(name="norm")
        self.conv2 = ConvBlock(
            filters, 3, padding=1, pre_activation="lrelu", kernel_initializer=xavier_init(gain), name="conv2"
        )
        self.shortcut = ConvBlock(filters, 1, kernel_initializer=xavier_init(gain), name="shortcut")

    def build(self, input_shape):
        n, h, w, c = input_shape
        self.conv1 = ConvBlock(
            c,
            3,
            padding=1,
            norm="instance",
            pre_activation="lrelu",
            kernel_initializer=xavier_init(self.gain),
            name="conv1",
        )
        self.norm.build(input_shape)
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)
        half = self.compute_output_shape(input_shape)
        self.shortcut.build((n, half[1], half[2], c))

    @staticmethod
    def _pool(x):
        return ops.average_pool(x, 2, strides=2, padding="valid")

    def call(self, x):
        main = self._pool(self.conv2(self.conv1(self.norm(x))))
        return main + self.shortcut(self._pool(x))

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        return (n, None if h is None else h // 2, None if w is None else w // 2, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "gain": self.gain}


# ----------------------------------------------------------------------------------- networks
def _check_num_downs(image_size, num_downs):
    if num_downs < 1:
        raise ValueError(f"num_downs={num_downs} must be >= 1.")
    if image_size is not None and image_size % 2**num_downs:
        raise ValueError(
            f"image_size={image_size} is not divisible by 2**num_downs={2**num_downs}; "
            "choose num_downs <= log2(image_size) (unet_256 has 8, unet_128 7)."
        )


def bicycle_unet_generator(
    image_size=256,
    in_channels=3,
    out_channels=3,
    nz=8,
    ngf=64,
    num_downs=8,
    where_add="all",
    dropout=True,
    name=None,
    z_layer=None,
):
    """BicycleGAN's U-Net generator G(A, z) (Zhu et al. 2017b, Sec. 3.4 and Fig. 3).

    ``num_downs`` stride-2 levels of widths ngf * (1, 2, 4, 8, 8, ...) as pix2pix's U-Net, with
    InstanceNorm and the reference's block layout: down = [LeakyReLU 0.2] -> conv 4x4 s2 p1 ->
    [IN] (the outermost has neither, the innermost no IN); up = ReLU -> ConvTranspose 4x4 s2 p1
    -> IN (the outermost: Tanh), dropout 0.5 after the 512-wide up blocks between the innermost
    and the 512 -> 256 block (three in unet_256). The skip concatenation is ``[up(h), x]``
    (upsampled features first, unlike pix2pix), x being the level's input *without* z.

    where_add: ``"all"`` (``G_Unet_add_all``, BicycleGAN's default): z (B, nz) is tiled and
    concatenated to the input of *every* down conv, the outermost included, so each down conv
    sees its input's channels + nz and the LeakyReLU before it also acts on z; ``"input"``
    (``G_Unet_add_input``): z only concatenated to the image before the first conv.

    Parameters with in_channels 1 (edges2shoes), nz 8: unet_256 (num_downs 8) "all" has
    54,792,579, "input" 54,415,747, as the reference.
    The reference always builds at least 6 ("all") or 5 ("input") levels; smaller num_downs
    continue the same width rule here (for tiny test networks).

    Inputs: image (B, S, S, in_channels) in [-1, 1] and z (B, nz); output (B, S, S, out_channels)
    in [-1, 1]. ``image_size=None`` gives a fully convolutional model (S divisible by
    2**num_downs). ``dropout`` is the reference's ``--use_dropout`` (on for edges2shoes; off at
    test time, as the reference's ``eval()``).

    ``z_layer``: None (:class:`TileConcat`, named ``z<i>``) or a factory of the layers that
    inject z, called as ``z_layer(name="z<i>")``, e.g. a lab's own layer class; each layer is
    called as ``layer(x, z)`` and must return (B, H, W, C + nz), x's channels first. The
    converter's key maps know the library's layer only.
    """
    if where_add not in WHERE_ADD:
        raise ValueError(f"where_add={where_add!r} is not one of {WHERE_ADD}.")
    _check_num_downs(image_size, num_downs)
    filters = _level_filters(ngf, num_downs)
    image = keras.Input((image_size, image_size, in_channels), name="image")
    z = keras.Input((nz,), name="z")
    inits = dict(kernel_initializer=xavier_init())
    levels, h = [], image
    for i, f in enumerate(filters):
        levels.append(h)
        if i == 0 or where_add == "all":
            before, h = h, (TileConcat if z_layer is None else z_layer)(name=f"z{i}")(h, z)
            want = (*before.shape[1:-1], before.shape[-1] + nz)
            if tuple(h.shape[1:]) != want:
                raise ValueError(
                    f"z_layer(name='z{i}') maps x {tuple(before.shape[1:])} and z (B, {nz}) to "
                    f"{tuple(h.shape[1:])}; injecting z must give {want} (z tiled over H x W, "
                    "concatenated after x's channels)."
                )
        h = UNetDown(f, norm="instance", outermost=i == 0, innermost=i == num_downs - 1, name=f"down{i}", **inits)(h)
    for i in reversed(range(num_downs)):
        use_dropout = dropout and 4 <= i <= num_downs - 2
        h = UNetUp(
            out_channels if i == 0 else filters[i - 1],
            norm="instance",
            outermost=i == 0,
            dropout=0.5 if use_dropout else 0.0,
            name=f"up{i}",
            **inits,
        )(h)
        if i > 0:
            h = keras.layers.Concatenate(name=f"skip{i - 1}")([h, levels[i]])
    name = name or f"bicycle_unet_{2**num_downs}_{where_add}"
    return keras.Model([image, z], h, name=name)


def bicycle_encoder(image_size=256, in_channels=3, nz=8, ndf=64, n_blocks=5, name=None):
    """BicycleGAN's encoder E(B) -> (mu, logvar) (Zhu et al. 2017b, Sec. 3.4; ``E_ResNet``, vaeLike).

    conv 4x4 s2 p1 (ndf), then n_blocks - 1 :class:`EncoderBasicBlock` of widths
    ndf * min(4, n + 1) (64 -> 128 -> 192 -> 256 -> 256 for resnet_256), each halving the size,
    then LeakyReLU 0.2, a fixed 8x8 average pool and two linear heads: mu and logvar (log of
    the variance of q(z|B)), nz each. 2,590,032 parameters for resnet_256 (n_blocks 5).

    The 8x8 pool is not global: the input must be 8 * 2**n_blocks pixels (256 for resnet_256,
    128 for resnet_128), as in the reference. Input (B, S, S, in_channels) in [-1, 1] ->
    [mu (B, nz), logvar (B, nz)]. ``image_size=None`` accepts any size at build time and fails
    at call time on a size whose pooled map is not 1x1.
    """
    size = 8 * 2**n_blocks
    if image_size is not None and image_size != size:
        raise ValueError(
            f"image_size={image_size}: an encoder with n_blocks={n_blocks} takes {size}x{size} images "
            f"(its 8x8 average pool must leave 1x1); use n_blocks={int(math.log2(max(image_size, 8) / 8))} "
            "or resize the images."
        )
    image = keras.Input((image_size, image_size, in_channels), name="image")
    h = ConvBlock(ndf, 4, strides=2, padding=1, kernel_initializer=xavier_init(), name="conv0")(image)
    width = ndf
    for n in range(1, n_blocks):
        width = ndf * min(4, n + 1)
        h = EncoderBasicBlock(width, name=f"block{n}")(h)
    h = keras.layers.LeakyReLU(negative_slope=0.2, name="lrelu")(h)
    h = keras.layers.AveragePooling2D(8, name="pool")(h)
    h = keras.layers.Reshape((width,), name="flatten")(h)
    mu = keras.layers.Dense(nz, kernel_initializer=xavier_init(), name="mu")(h)
    logvar = keras.layers.Dense(nz, kernel_initializer=xavier_init(), name="logvar")(h)
    return keras.Model(image, [mu, logvar], name=name or f"bicycle_encoder_{size}")


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroCode(keras.layers.Layer):
    """(B, ...) -> (B, nz) zeros: the code of an encoder that ignores its input."""

    def __init__(self, nz, **kwargs):
        super().__init__(**kwargs)
        self.nz = int(nz)

    def call(self, x):
        return ops.zeros((ops.shape(x)[0], self.nz), dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.nz)

    def get_config(self):
        return {**super().get_config(), "nz": self.nz}


def noise_encoder(image_size=256, in_channels=3, nz=8, name=None):
    """An E that ignores B: mu = 0 and logvar = 0, so the trainer's z = mu + exp(logvar / 2) * eps
    is pure noise N(0, I): pix2pix with a noise input (Isola et al. 2017, Sec. 2.2; the
    "pix2pix+noise" baseline of Zhu et al. 2017b, Sec. 4). No variables. With
    ``BicycleGAN(..., lambda_gan2=0, lambda_kl=0, lambda_z=0)`` G learns to ignore z.

    Input (B, S, S, in_channels) -> [zeros (B, nz), zeros (B, nz)].
    """
    image = keras.Input((image_size, image_size, in_channels), name="image")
    mu = ZeroCode(nz, name="mu")(image)
    logvar = ZeroCode(nz, name="logvar")(image)
    return keras.Model(image, [mu, logvar], name=name or "noise_encoder")


def bicycle_discriminator(image_size=256, in_channels=3, ndf=64, n_layers=3, num_D=2, name=None):
    """BicycleGAN's multi-scale PatchGAN (``D_NLayersMulti``; basic_256_multi = n_layers 3, num_D 2).

    Scale s is a PatchGAN of width round(ndf / 2**s) on the input average-pooled s times (3x3,
    stride 2, pad 1, padding not counted): conv 4x4 p1 at strides 2 (n_layers times) then 1, 1,
    widths ndf_s * min(2**i, 8), InstanceNorm + LeakyReLU 0.2 after all convs but the first
    (LeakyReLU only) and the last (the 1-channel logits; no sigmoid). Every conv has a bias.
    basic_256_multi has 3,458,978 parameters (2,764,737 + 694,241). D sees only the output
    image (the reference's ``conditional_D`` off).

    Input (B, S, S, in_channels) -> a list of num_D logit maps, [(B, 30, 30, 1), (B, 14, 14, 1)]
    at S = 256 ([6x6, 2x2] at 64); one map when num_D is 1. ``image_size=None``: any size.
    """
    if num_D < 1:
        raise ValueError(f"num_D={num_D} must be >= 1.")
    image = keras.Input((image_size, image_size, in_channels), name="image")
    outputs, x = [], image
    for s in range(num_D):
        width = int(round(ndf / 2**s))
        h = ConvBlock(
            width, 4, strides=2, padding=1, activation="lrelu", kernel_initializer=xavier_init(), name=f"d{s}_conv0"
        )(x)
        for i in range(1, n_layers + 1):
            h = ConvBlock(
                width * min(2**i, 8),
                4,
                strides=2 if i < n_layers else 1,
                padding=1,
                norm="instance",
                activation="lrelu",
                kernel_initializer=xavier_init(),
                name=f"d{s}_conv{i}",
            )(h)
        outputs.append(ConvBlock(1, 4, padding=1, kernel_initializer=xavier_init(), name=f"d{s}_logits")(h))
        if s < num_D - 1:
            x = DownsampleAvgPool(name=f"d{s}_downsample")(x)
    name = name or f"bicycle_d_{num_D}scales"
    return keras.Model(image, outputs if num_D > 1 else outputs[0], name=name)
