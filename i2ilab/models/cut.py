"""CUT / FastCUT networks (Park, Efros, Zhang & Zhu 2020, section 3 and appendix; the authors'
taesungp/contrastive-unpaired-translation ``models/networks.py``): the anti-aliased ResNet
generator with its NCE feature layers, the anti-aliased PatchGAN and the patch sampler F.

Anti-aliasing (Zhang 2019) is on by default in the authors' code: every stride-2 conv becomes a
stride-1 conv followed by a fixed blur-pool, and every transposed conv becomes a fixed blur
upsampling followed by a stride-1 conv. The blur filters are constants here (the reference keeps
them as ``filt`` buffers in the state dict; the converter skips them, and
``tests/test_parity_cut.py`` checks that they hold these constants).
"""

import keras
import numpy as np
from keras import ops

from i2ilab.layers import PACKAGE, ConvBlock, InstanceNormalization, ReflectionPadding2D, ResnetBlock

#: The generator's default NCE layers: positions in the reference ``netG.model`` Sequential.
NCE_LAYERS = (0, 4, 8, 12, 16)


def xavier_init(gain=0.02):
    """torch ``xavier_normal_(gain=0.02)``: N(0, gain^2 * 2 / (fan_in + fan_out)), CUT's init."""
    return keras.initializers.VarianceScaling(scale=gain**2, mode="fan_avg", distribution="untruncated_normal")


@keras.saving.register_keras_serializable(package=PACKAGE)
class BlurDownsample(keras.layers.Layer):
    """Anti-aliased downsampling (CUT ``Downsample``, filter size 3): reflect pad 1, then a
    depthwise [1, 2, 1] x [1, 2, 1] / 16 blur with stride 2. No weights.
    Shapes: (B, H, W, C) -> (B, floor((H - 1) / 2) + 1, floor((W - 1) / 2) + 1, C).
    """

    def call(self, x):
        x = ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
        taps = np.array([1.0, 2.0, 1.0], "float32")
        kernel = np.outer(taps, taps) / 16.0
        c = x.shape[-1]
        kernel = ops.cast(np.tile(kernel[:, :, None, None], (1, 1, c, 1)), x.dtype)
        return ops.depthwise_conv(x, kernel, strides=2, padding="valid")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        half = lambda d: None if d is None else (d - 1) // 2 + 1  # noqa: E731
        return (n, half(h), half(w), c)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BlurUpsample(keras.layers.Layer):
    """Anti-aliased upsampling (CUT ``Upsample``, filter size 4): replicate pad 1, depthwise
    transposed conv with [1, 3, 3, 1] x [1, 3, 3, 1] / 16 at stride 2, cropped. It equals
    bilinear x2 upsampling with align_corners=False (as measured on the reference): output
    2i = x[i-1] / 4 + 3 x[i] / 4, 2i + 1 = 3 x[i] / 4 + x[i+1] / 4, with edge replication, per
    axis. It is computed as that resize (``keras.ops.image.resize``, bilinear, no antialias),
    whose kernels are 8x faster forward and backward on a CPU than the same sums written with
    slices. No weights. Shapes: (B, H, W, C) -> (B, 2H, 2W, C).
    """

    def call(self, x):
        return ops.image.resize(x, (2 * x.shape[1], 2 * x.shape[2]), interpolation="bilinear", antialias=False)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else 2 * h, None if w is None else 2 * w, c)


def _norm_relu(h, name):
    h = InstanceNormalization(name=f"{name}_norm")(h)
    return keras.layers.ReLU(name=f"{name}_relu")(h)


def cut_generator(
    image_size=256, in_channels=3, out_channels=3, ngf=64, n_blocks=9, n_downsampling=2, name="cut_generator"
):
    """CUT ``resnet_9blocks`` generator, anti-aliased (11,378,179 parameters at the defaults).

    c7s1-64 (reflect pad 3, IN, ReLU); per downsampling a conv 3x3 **stride 1** (zero pad 1), IN,
    ReLU and a :class:`BlurDownsample`; n_blocks residual blocks (IN, reflect pad); per upsampling
    a :class:`BlurUpsample`, conv 3x3 (zero pad 1), IN, ReLU; reflect pad 3, c7s1-out, tanh.
    Convs keep their bias; xavier-normal init with gain 0.02 (the authors' default).

    One Keras layer per module of the reference ``netG.model`` Sequential, in the same order, so
    the reference's NCE layer indices name layers here: :data:`CUT_LAYER_NAMES` /
    :func:`cut_layer_names`, and :func:`nce_feature_model` gives their outputs. Index 0 is the
    reflection-padded input itself, 4 and 8 the downsampling convs **before** IN, 12 and 16 the
    outputs of residual blocks 0 and 4.
    Input (B, S, S, in_channels) in [-1, 1] -> (B, S, S, out_channels) in [-1, 1]; S divisible
    by 2**n_downsampling. ``image_size=None`` gives a fully convolutional model.
    """
    if image_size is not None and image_size % 2**n_downsampling:
        raise ValueError(f"image_size={image_size} must be divisible by 2**n_downsampling={2**n_downsampling}.")
    init = xavier_init()
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = ReflectionPadding2D(3, name="stem_pad")(inputs)
    h = ConvBlock(ngf, 7, kernel_initializer=init, use_bias=True, name="stem")(h)
    h = _norm_relu(h, "stem")
    for i in range(n_downsampling):
        h = ConvBlock(ngf * 2 ** (i + 1), 3, padding=1, kernel_initializer=init, use_bias=True, name=f"down{i}")(h)
        h = _norm_relu(h, f"down{i}")
        h = BlurDownsample(name=f"down{i}_blur")(h)
    width = ngf * 2**n_downsampling
    for i in range(n_blocks):
        h = ResnetBlock(width, norm="instance", kernel_initializer=init, name=f"res{i}")(h)
    for i in range(n_downsampling):
        h = BlurUpsample(name=f"up{i}_blur")(h)
        h = ConvBlock(
            ngf * 2 ** (n_downsampling - i - 1), 3, padding=1, kernel_initializer=init, use_bias=True, name=f"up{i}"
        )(h)
        h = _norm_relu(h, f"up{i}")
    h = ReflectionPadding2D(3, name="head_pad")(h)
    h = ConvBlock(out_channels, 7, kernel_initializer=init, use_bias=True, name="head")(h)
    out = keras.layers.Activation("tanh", name="head_tanh")(h)
    return keras.Model(inputs, out, name=name)


def cut_layer_names(n_blocks=9, n_downsampling=2):
    """Keras layer names of :func:`cut_generator`, indexed like the reference ``netG.model``."""
    names = ["stem_pad", "stem", "stem_norm", "stem_relu"]
    for i in range(n_downsampling):
        names += [f"down{i}", f"down{i}_norm", f"down{i}_relu", f"down{i}_blur"]
    names += [f"res{i}" for i in range(n_blocks)]
    for i in range(n_downsampling):
        names += [f"up{i}_blur", f"up{i}", f"up{i}_norm", f"up{i}_relu"]
    return names + ["head_pad", "head", "head_tanh"]


#: Layer names of the default resnet_9blocks generator, by reference index.
CUT_LAYER_NAMES = tuple(cut_layer_names())


def _generator_shape(generator):
    n_blocks = sum(1 for layer in generator.layers if isinstance(layer, ResnetBlock))
    n_down = sum(1 for layer in generator.layers if isinstance(layer, BlurDownsample))
    return n_blocks, n_down


def nce_feature_model(generator, nce_layers=NCE_LAYERS, name=None):
    """A keras.Model sharing ``generator``'s weights: image -> [outputs of the ``nce_layers``]
    (reference ``netG(x, nce_layers, encode_only=True)``), NHWC; for a 256 input and the default
    layers (B, 262, 262, 3), (B, 256, 256, 128), (B, 128, 128, 256), (B, 64, 64, 256) twice."""
    names = cut_layer_names(*_generator_shape(generator))
    bad = [i for i in nce_layers if not 0 <= i < len(names)]
    if bad:
        raise ValueError(f"nce_layers {bad} are outside this generator's {len(names)} layers (0..{len(names) - 1}).")
    outputs = [generator.get_layer(names[i]).output for i in nce_layers]
    return keras.Model(generator.input, outputs, name=name or f"{generator.name}_nce")


def cut_discriminator(image_size=256, in_channels=3, ndf=64, n_layers=3, name="cut_discriminator"):
    """CUT ``basic`` PatchGAN, anti-aliased (2,764,737 parameters at the defaults).

    Conv 4x4 **stride 1** zero pad 1 -> LeakyReLU 0.2 -> :class:`BlurDownsample` (no norm in the
    first layer); n_layers - 1 more of conv -> IN -> LeakyReLU -> blur-pool, widths ndf * min(2**i,
    8); conv 4x4 s1 -> IN -> LeakyReLU; conv 4x4 s1 to one logit map. Xavier-normal init, gain 0.02.
    Input (B, S, S, in_channels) -> logits (B, s, s, 1): 30x30 for 256, 6x6 for 64.
    """
    init = xavier_init()
    common = dict(padding=1, kernel_initializer=init, use_bias=True)
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = ConvBlock(ndf, 4, activation="lrelu", name="conv0", **common)(inputs)
    h = BlurDownsample(name="conv0_blur")(h)
    for i in range(1, n_layers):
        h = ConvBlock(ndf * min(2**i, 8), 4, norm="instance", activation="lrelu", name=f"conv{i}", **common)(h)
        h = BlurDownsample(name=f"conv{i}_blur")(h)
    h = ConvBlock(ndf * min(2**n_layers, 8), 4, norm="instance", activation="lrelu", name=f"conv{n_layers}", **common)(
        h
    )
    out = ConvBlock(1, 4, name="logits", **common)(h)
    return keras.Model(inputs, out, name=name)


def _is_shape(s):
    return isinstance(s, (list, tuple)) and len(s) == 4 and all(d is None or isinstance(d, int) for d in s)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PatchSampleF(keras.Model):
    """CUT's patch sampler and projection head F (``netF mlp_sample``; Park et al. section 3.2).

    For each feature map (B, H, W, C_l) of the NCE layers: take the positions ``patch_ids[l]``
    (ids h * W + w, the **same** ids for every image of the batch), stack the rows sample-major
    (row b * P + n), apply that layer's MLP Linear(C_l, nc) -> ReLU -> Linear(nc, nc) and
    L2-normalise each row, x / (||x|| + 1e-7). Output per layer: (B * P, nc). (A deliberate
    difference: the gradient of the norm stays finite for an all-zero row, where the
    reference formula gives NaN.)

    The MLPs are created from the feature channels: at construction when ``feature_channels``
    is given, else on the first call (the reference creates them on its first forward).
    560,384 parameters for CUT's channels (3, 128, 256, 256, 256) and nc 256. Xavier-normal
    init with gain 0.02, biases 0. Call ``F(features, patch_ids)``; :meth:`sample_ids` draws
    ids as the reference (a random permutation's first ``num_patches``).
    """

    def __init__(self, nc=256, feature_channels=None, **kwargs):
        super().__init__(**kwargs)
        self.nc = int(nc)
        self.feature_channels = None
        self.mlps = []
        if feature_channels is not None:
            self.create_mlps(feature_channels)

    def create_mlps(self, feature_channels):
        """Create (and build) one MLP per feature map with these channel counts."""
        if self.feature_channels is not None:
            if list(feature_channels) != self.feature_channels:
                raise ValueError(
                    f"PatchSampleF: built for feature channels {self.feature_channels}, got {list(feature_channels)}."
                )
            return
        self.feature_channels = [int(c) for c in feature_channels]
        init = xavier_init()
        mlps = []
        for i, c in enumerate(self.feature_channels):
            first = keras.layers.Dense(self.nc, activation="relu", kernel_initializer=init, name=f"mlp_{i}_0")
            second = keras.layers.Dense(self.nc, kernel_initializer=init, name=f"mlp_{i}_2")
            first.build((None, c))
            second.build((None, self.nc))
            mlps.append((first, second))
        self.mlps = mlps
        self._mlp_layers = [layer for pair in mlps for layer in pair]  # tracked by Keras
        self.built = True

    def build(self, input_shape=None):
        """Create the MLPs from the feature maps' shapes (B, H, W, C_l), if not created yet."""
        if self.feature_channels is None and input_shape is not None:
            shapes = list(input_shape)
            if shapes and not _is_shape(shapes[0]):
                shapes = list(shapes[0])  # (feature shapes, id shapes)
            if shapes and all(_is_shape(s) for s in shapes):
                self.create_mlps([s[-1] for s in shapes])
        self.built = True

    @staticmethod
    def sample_ids(feature_shape, num_patches=256, seed=None):
        """Random patch ids for one map (B, H, W, C): the first min(num_patches, H * W) entries
        of a random permutation of range(H * W), int32 (``seed``: int or SeedGenerator)."""
        hw = int(feature_shape[1]) * int(feature_shape[2])
        order = ops.argsort(keras.random.uniform((hw,), seed=seed))
        return ops.cast(order[: min(int(num_patches), hw)], "int32")

    def call(self, features, patch_ids):
        if len(features) != len(self.mlps) or len(patch_ids) != len(self.mlps):
            raise ValueError(
                f"PatchSampleF: {len(self.mlps)} MLPs, got {len(features)} feature maps and {len(patch_ids)} id lists."
            )
        out = []
        for feat, ids, (first, second) in zip(features, patch_ids, self.mlps, strict=True):
            shape = ops.shape(feat)
            rows = ops.reshape(feat, (shape[0], shape[1] * shape[2], shape[3]))
            rows = ops.take(rows, ops.cast(ids, "int32"), axis=1)
            rows = ops.reshape(rows, (-1, feat.shape[-1]))
            x = ops.cast(second(first(rows)), "float32")
            # max(., 1e-30): the same values, but a finite gradient for an all-zero row (all hidden
            # ReLUs off), where the reference's sqrt would give 0 * inf = NaN
            norm = ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=1, keepdims=True), 1e-30))
            out.append(x / (norm + 1e-7))
        return out

    def get_config(self):
        return {**super().get_config(), "nc": self.nc, "feature_channels": self.feature_channels}


def patch_sample_f(feature_channels=(3, 128, 256, 256, 256), nc=256, name="patch_sample_f"):
    """CUT's F for these NCE-layer channel counts (560,384 parameters at the defaults);
    ``feature_channels=None`` leaves the MLPs to the first call. See :class:`PatchSampleF`."""
    return PatchSampleF(nc=nc, feature_channels=None if feature_channels is None else list(feature_channels), name=name)
