"""DistanceGAN's CycleGAN-architecture networks (Benaim & Wolf 2017, Sec. 5; sagiebenaim/DistanceGAN
``models/networks.py``, the 2017 CycleGAN code it forked).

Unlike :func:`i2ilab.models.resnet_generator` (the later CycleGAN code), every padding is ZERO
padding and the instance norms have affine parameters (gamma ~ N(1, 0.02), beta 0), which adds
10,496 parameters to the generator and 1,792 to the discriminator. The DiscoGAN-architecture
networks of DistanceGAN are :mod:`i2ilab.models.discogan`'s.
"""

import keras
from keras import ops

from i2ilab.layers import PACKAGE, ConvTransposeBlock, InstanceNormalization, moments, reference_init


@keras.saving.register_keras_serializable(package=PACKAGE)
class AffineInstanceNorm(InstanceNormalization):
    """Instance norm with affine parameters, gamma initialised N(1, 0.02) and beta 0.

    The init of the 2017 CycleGAN code (``weights_init_normal`` on ``InstanceNorm2d(affine=True)``)
    and of DualGAN's "batch_norm" (scale ~ N(1, 0.02), which normalises per sample over H, W).
    ``y = gamma * (x - mean_hw) / sqrt(var_hw + epsilon) + beta``. Shapes: (B, H, W, C) -> same.

    The moments are :func:`i2ilab.layers.moments` (exact to second order, for WGAN-GP).
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        kwargs.pop("affine", None)
        super().__init__(epsilon=epsilon, affine=True, **kwargs)

    def build(self, input_shape):
        c = input_shape[-1]
        self.gamma = self.add_weight(shape=(c,), initializer=keras.initializers.RandomNormal(1.0, 0.02), name="gamma")
        self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")

    def call(self, x):
        x32 = ops.cast(x, "float32")
        mean, var = moments(x32, axes=[1, 2], keepdims=True)
        y = (x32 - mean) * ops.rsqrt(var + self.epsilon)
        y = y * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(y, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.pop("affine")
        return config


def _conv(h, filters, kernel, strides, padding, name):
    if padding:
        h = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(h)
    return keras.layers.Conv2D(filters, kernel, strides=strides, kernel_initializer=reference_init(), name=name)(h)


def _norm_act(h, activation, name):
    h = AffineInstanceNorm(name=f"{name}_norm")(h)
    if activation == "relu":
        return keras.layers.ReLU(name=f"{name}_relu")(h)
    return keras.layers.LeakyReLU(0.2, name=f"{name}_lrelu")(h)


def distancegan_generator(
    image_size=256, in_channels=3, out_channels=3, ngf=64, n_blocks=9, n_downsampling=2, name=None
):
    """ResNet generator of DistanceGAN's CycleGAN-architecture code (``resnet_9blocks``).

    c7s1-64, d128, d256, n_blocks residual blocks of 256 channels, u128, u64 (3x3 transposed
    convs, stride 2, pad 1, output_padding 1), c7s1-out and tanh; zero padding everywhere, affine
    instance norm, conv biases on. 11,388,675 parameters for 9 blocks, as the reference.

    Input (B, S, S, in_channels) in [-1, 1] -> (B, S, S, out_channels) in [-1, 1]; S divisible by
    2**n_downsampling; ``image_size=None`` gives a fully convolutional model.
    """
    if image_size is not None and image_size % 2**n_downsampling:
        raise ValueError(f"image_size={image_size} must be divisible by 2**n_downsampling={2**n_downsampling}.")
    name = name or f"distancegan_resnet_{n_blocks}blocks"
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = _norm_act(_conv(inputs, ngf, 7, 1, 3, "stem"), "relu", "stem")
    for i in range(n_downsampling):
        h = _norm_act(_conv(h, ngf * 2 ** (i + 1), 3, 2, 1, f"down{i}"), "relu", f"down{i}")
    width = ngf * 2**n_downsampling
    for i in range(n_blocks):
        r = _norm_act(_conv(h, width, 3, 1, 1, f"res{i}_conv1"), "relu", f"res{i}_conv1")
        r = AffineInstanceNorm(name=f"res{i}_conv2_norm")(_conv(r, width, 3, 1, 1, f"res{i}_conv2"))
        h = keras.layers.Add(name=f"res{i}")([h, r])
    for i in range(n_downsampling):
        h = ConvTransposeBlock(
            ngf * 2 ** (n_downsampling - i - 1), 3, strides=2, padding=1, output_padding=1, use_bias=True, name=f"up{i}"
        )(h)
        h = _norm_act(h, "relu", f"up{i}")
    h = _conv(h, out_channels, 7, 1, 3, "head")
    out = keras.layers.Activation("tanh", name="tanh")(h)
    return keras.Model(inputs, out, name=name)


def distancegan_discriminator(image_size=256, in_channels=3, ndf=64, n_layers=3, padding=1, name=None):
    """PatchGAN ``basic`` discriminator of DistanceGAN's CycleGAN-architecture code (no sigmoid).

    C64 (no norm) - C128 - C256 at stride 2, C512 at stride 1, a 1-channel conv at stride 1; all
    4x4 with zero padding ``padding``, affine instance norm, LeakyReLU 0.2, biases on:
    2,766,529 parameters (any padding), as the reference.

    ``padding``: 1 (default) is what the authors ran and the paper reports: their
    ``int(np.ceil((kw - 1) / 2))`` is 1 under Python 2; 30x30 logits at S = 256. 2 is what the
    released code computes under Python 3 (``/`` became true division), 35x35 logits at S = 256.

    Input (B, S, S, in_channels) -> logits (B, s, s, 1); ``image_size=None`` is fully convolutional.
    """
    if padding not in (1, 2):
        raise ValueError(f"distancegan_discriminator: padding={padding} must be 1 (Python 2, the authors) or 2.")
    name = name or f"distancegan_basic_pad{padding}"
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = keras.layers.LeakyReLU(0.2, name="conv0_lrelu")(_conv(inputs, ndf, 4, 2, padding, "conv0"))
    for i in range(1, n_layers + 1):
        stride = 2 if i < n_layers else 1
        h = _norm_act(_conv(h, ndf * min(2**i, 8), 4, stride, padding, f"conv{i}"), "lrelu", f"conv{i}")
    out = _conv(h, 1, 4, 1, padding, "logits")
    return keras.Model(inputs, out, name=name)
