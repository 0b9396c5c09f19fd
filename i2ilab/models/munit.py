"""MUNIT networks (Huang et al. 2018, section 3 and appendix B): AdaIN generator, multi-scale D."""

import keras
from keras import ops

from i2ilab.layers import ConvBlock, ResnetBlock, kaiming_init
from i2ilab.models.munit_blocks import AdaINResBlock, DownsampleAvgPool, UpsampleConvBlock


def content_encoder(image_size=256, in_channels=3, dim=64, n_downsample=2, n_res=4, name="content_encoder"):
    """c7s1-dim, n_downsample x (4x4 stride 2, doubling), n_res residual blocks; IN, reflect pad.

    (B, S, S, in_channels) -> content code (B, S / 2**n, S / 2**n, dim * 2**n): 64 x 64 x 256
    for a 256 input with the defaults. Kaiming init, as the MUNIT generator.
    """
    common = dict(pad_mode="reflect", norm="instance", activation="relu", kernel_initializer="kaiming")
    inputs = keras.Input((image_size, image_size, in_channels), name="image")
    h = ConvBlock(dim, 7, padding=3, name="stem", **common)(inputs)
    for i in range(n_downsample):
        dim *= 2
        h = ConvBlock(dim, 4, strides=2, padding=1, name=f"down{i}", **common)(h)
    for i in range(n_res):
        h = ResnetBlock(dim, norm="instance", kernel_initializer="kaiming", name=f"res{i}")(h)
    return keras.Model(inputs, h, name=name)


def style_encoder(image_size=256, in_channels=3, dim=64, style_dim=8, n_downsample=4, name="style_encoder"):
    """c7s1-dim, 2 x (4x4 stride 2, doubling), n_downsample - 2 more at constant width, global
    average pool, linear map to ``style_dim``; no normalisation (it would remove the style).

    (B, S, S, in_channels) -> style code (B, style_dim). The reference ends in a 1x1 conv on the
    pooled 1x1 map and keeps codes as (B, style_dim, 1, 1); here that conv is a Dense layer with
    the same parameters and codes are (B, style_dim).
    """
    common = dict(pad_mode="reflect", activation="relu", kernel_initializer="kaiming")
    inputs = keras.Input((image_size, image_size, in_channels), name="image")
    h = ConvBlock(dim, 7, padding=3, name="stem", **common)(inputs)
    for i in range(n_downsample):
        if i < 2:
            dim *= 2
        h = ConvBlock(dim, 4, strides=2, padding=1, name=f"down{i}", **common)(h)
    h = keras.layers.GlobalAveragePooling2D(name="pool")(h)
    out = keras.layers.Dense(style_dim, kernel_initializer=kaiming_init(), name="style")(h)
    return keras.Model(inputs, out, name=name)


def style_mlp(style_dim=8, mlp_dim=256, num_adain_params=4096, n_blk=3, name="mlp"):
    """MLP from a style code to every AdaIN parameter of the decoder: style_dim -> mlp_dim ->
    ... -> num_adain_params, ReLU between (n_blk linear layers). (B, style_dim) -> (B, P)."""
    inputs = keras.Input((style_dim,), name="style")
    h = inputs
    for i in range(n_blk - 1):
        h = keras.layers.Dense(mlp_dim, activation="relu", kernel_initializer=kaiming_init(), name=f"fc{i}")(h)
    out = keras.layers.Dense(num_adain_params, kernel_initializer=kaiming_init(), name=f"fc{n_blk - 1}")(h)
    return keras.Model(inputs, out, name=name)


class FunctionAdaIN(keras.layers.Layer):
    """AdaIN computed by a plain function, e.g. a lab's own ``adain(x, gamma, beta)``.

    ``fn(x, gamma, beta) -> y`` with x (B, H, W, C) and gamma, beta (B, C), written with
    ``keras.ops`` (it runs inside the decoder's compiled step); the result is cast to the
    layer's compute dtype, as :class:`i2ilab.layers.AdaIN` does. No weights, no state. Not
    serializable (a function is not a config): a reloaded model uses the library's AdaIN.
    """

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        if not callable(fn):
            raise TypeError(f"FunctionAdaIN: fn must be callable (x, gamma, beta) -> y, got {fn!r}.")
        self.fn = fn

    def call(self, x, gamma, beta):
        return ops.cast(self.fn(x, gamma, beta), self.compute_dtype)

    def compute_output_shape(self, x_shape, gamma_shape=None, beta_shape=None):
        return x_shape


def _with_adain(block, adain):
    """``block`` (an AdaINResBlock) with its AdaIN layer replaced by ``FunctionAdaIN(adain)``."""
    old = block.adain
    block.adain = FunctionAdaIN(adain, name="adain")
    tracked = getattr(block, "_layers", None)  # Keras tracks sub-layers here; drop the replaced one
    if isinstance(tracked, list) and any(layer is old for layer in tracked):
        tracked[:] = [layer for layer in tracked if layer is not old]
    return block


def adain_decoder(
    content_size=64,
    content_dim=256,
    out_channels=3,
    n_upsample=2,
    n_res=4,
    name="decoder",
    adain=None,
):
    """n_res AdaIN residual blocks, n_upsample x (nearest x2, conv 5x5, MUNIT LayerNorm, ReLU),
    c7s1-out and tanh; reflect padding. Each upsampling stage is one ``UpsampleConvBlock``
    (the same numbers as the reference's upsample-then-conv, at 9 / 25 of its multiply-adds).

    Inputs: content (B, h, w, content_dim) and AdaIN parameters (B, 4 * content_dim * n_res)
    from ``style_mlp``. Output: image (B, h * 2**n, w * 2**n, out_channels) in [-1, 1].

    ``adain``: None (the library's :class:`i2ilab.layers.AdaIN`) or a function
    ``adain(x, gamma, beta) -> y`` (x (B, H, W, C), gamma and beta (B, C), ``keras.ops``) used
    for every AdaIN of the residual blocks instead (e.g. Lab 4's own), through
    :class:`FunctionAdaIN`; the weights and their names are the same either way.
    """
    content = keras.Input((content_size, content_size, content_dim), name="content")
    params = keras.Input((4 * content_dim * n_res,), name="adain_params")
    h = content
    for i in range(n_res):
        block = AdaINResBlock(content_dim, block_index=i, name=f"res{i}")
        if adain is not None:
            block = _with_adain(block, adain)
        h = block(h, params)
    dim = content_dim
    for i in range(n_upsample):
        dim //= 2
        h = UpsampleConvBlock(
            dim,
            5,
            pad_mode="reflect",
            norm="layer",
            activation="relu",
            kernel_initializer="kaiming",
            name=f"up{i}",
        )(h)
    out = ConvBlock(
        out_channels,
        7,
        padding=3,
        pad_mode="reflect",
        activation="tanh",
        kernel_initializer="kaiming",
        name="head",
    )(h)
    return keras.Model([content, params], out, name=name)


@keras.saving.register_keras_serializable(package="i2ilab")
class MUNITGenerator(keras.Model):
    """MUNIT auto-encoder for one domain: content encoder, style encoder, MLP, AdaIN decoder.

    Attributes ``content_encoder``, ``style_encoder``, ``mlp``, ``decoder`` (keras.Models) and
    ``style_dim``. ``encode(x) -> (content, style)``, ``decode(content, style) -> image``;
    calling the model on x reconstructs it: ``decode(*encode(x))``. Images in [-1, 1].

    ``adain``: None (the library's AdaIN) or a function ``adain(x, gamma, beta) -> y`` used by
    the decoder's AdaIN residual blocks (see :func:`adain_decoder`); not part of the config.
    """

    def __init__(
        self,
        image_size=256,
        in_channels=3,
        dim=64,
        style_dim=8,
        n_downsample=2,
        n_res=4,
        mlp_dim=256,
        style_n_downsample=4,
        adain=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.in_channels = in_channels
        self.dim = dim
        self.style_dim = style_dim
        self.n_downsample = n_downsample
        self.n_res = n_res
        self.mlp_dim = mlp_dim
        self.style_n_downsample = style_n_downsample
        content_dim = dim * 2**n_downsample
        content_size = None if image_size is None else image_size // 2**n_downsample
        self.style_encoder = style_encoder(image_size, in_channels, dim, style_dim, style_n_downsample)
        self.content_encoder = content_encoder(image_size, in_channels, dim, n_downsample, n_res)
        self.decoder = adain_decoder(content_size, content_dim, in_channels, n_downsample, n_res, adain=adain)
        self.mlp = style_mlp(style_dim, mlp_dim, 4 * content_dim * n_res)
        self.built = True  # the functional sub-models hold every weight from construction

    @property
    def num_adain_params(self):
        return self.mlp.output_shape[-1]

    def encode(self, x, training=None):
        """Image (B, S, S, C) -> (content (B, S/4, S/4, 4 dim), style (B, style_dim))."""
        return self.content_encoder(x, training=training), self.style_encoder(x, training=training)

    def decode(self, content, style, training=None):
        """Content code and style code (B, style_dim) -> image (B, S, S, C) in [-1, 1]."""
        content, style = ops.convert_to_tensor(content), ops.convert_to_tensor(style)
        return self.decoder([content, self.mlp(style, training=training)], training=training)

    def build(self, input_shape=None):
        """Nothing to build: the sub-models are built at construction, for any image_size."""
        self.built = True

    def call(self, x, training=None):
        content, style = self.encode(x, training=training)
        return self.decode(content, style, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "image_size": self.image_size,
            "in_channels": self.in_channels,
            "dim": self.dim,
            "style_dim": self.style_dim,
            "n_downsample": self.n_downsample,
            "n_res": self.n_res,
            "mlp_dim": self.mlp_dim,
            "style_n_downsample": self.style_n_downsample,
        }


def munit_generator(
    image_size=256,
    in_channels=3,
    dim=64,
    style_dim=8,
    n_downsample=2,
    n_res=4,
    mlp_dim=256,
    name="munit_generator",
    adain=None,
):
    """MUNIT generator of one domain (edges2shoes config: 15,026,187 parameters; style encoder
    2,764,936, content encoder 5,385,856, decoder 5,754,627, MLP 1,120,768). See MUNITGenerator.

    ``adain``: None (the library's :class:`i2ilab.layers.AdaIN`) or a function
    ``adain(x, gamma, beta) -> y`` (x (B, H, W, C), gamma and beta (B, C), written with
    ``keras.ops``) that every AdaIN of the decoder uses instead, e.g. Lab 4's own
    ``munit_generator(..., adain=adain)``. Same weights, names and parameter counts.
    """
    model = MUNITGenerator(
        image_size, in_channels, dim, style_dim, n_downsample, n_res, mlp_dim, adain=adain, name=name
    )
    return model


def multiscale_discriminator(
    image_size=256, in_channels=3, dim=64, n_layer=4, num_scales=3, name="multiscale_discriminator"
):
    """MUNIT multi-scale discriminator (appendix B; Wang et al. 2018 pix2pixHD).

    At each of ``num_scales`` scales a plain PatchGAN: 4x4 stride-2 convs (reflect pad 1,
    LeakyReLU 0.2, no norm) from ``dim`` doubling to dim * 2**(n_layer-1), then a 1x1 conv to one
    logit map; between scales the input is average-pooled (3x3, stride 2, pad 1, padding not
    counted). N(0, 0.02) init (MUNIT trains D with the 'gaussian' init).
    Input (B, S, S, in_channels) -> list of logits [(B, S/16, S/16, 1), (B, S/32, ...), ...]:
    16x16, 8x8, 4x4 for a 256 input. 8,271,171 parameters with the defaults.
    """
    inputs = keras.Input((image_size, image_size, in_channels), name="image")
    outputs, x = [], inputs
    for s in range(num_scales):
        h, width = x, dim
        for i in range(n_layer):
            h = ConvBlock(
                width,
                4,
                strides=2,
                padding=1,
                pad_mode="reflect",
                activation="lrelu",
                name=f"scale{s}_conv{i}",
            )(h)
            if i < n_layer - 1:
                width *= 2
        outputs.append(ConvBlock(1, 1, name=f"scale{s}_logits")(h))
        if s < num_scales - 1:
            x = DownsampleAvgPool(name=f"scale{s}_downsample")(x)
    return keras.Model(inputs, outputs, name=name)
