"""DualGAN networks (Yi et al. 2017, Sec. 3.2; duxingren14/DualGAN ``model.py``, ``ops.py``).

TensorFlow 1 code, so the layers are Keras' own: convs with ``padding="same"`` (TF 'SAME',
the extra pixel at the bottom/right), 3x3 kernels (5x5 for the first conv and the last
transposed conv), stride 2 everywhere. The code's ``batch_norm`` is an instance norm (moments
over H, W per sample) with a learnt scale ~ N(1, 0.02) and offset, eps 1e-6:
:class:`i2ilab.models.distancegan.AffineInstanceNorm`. Weights: conv truncated N(0, 0.02),
transposed conv and dense N(0, 0.02), biases 0.
"""

import keras

from i2ilab.models.distancegan import AffineInstanceNorm

EPSILON = 1e-6


def _conv(h, filters, kernel, name):
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    return keras.layers.Conv2D(filters, kernel, strides=2, padding="same", kernel_initializer=init, name=name)(h)


def _deconv(h, filters, kernel, name):
    init = keras.initializers.RandomNormal(stddev=0.02)
    return keras.layers.Conv2DTranspose(filters, kernel, strides=2, padding="same", kernel_initializer=init, name=name)(
        h
    )


def dualgan_generator(image_size=256, in_channels=3, out_channels=3, gcn=64, num_downs=8, name="dualgan_generator"):
    """DualGAN's U-Net generator (``A_g`` / ``B_g``): 30,627,907 parameters, as the reference.

    Encoder e1 = conv5x5(x) (no norm), e_k = IN(conv3x3(lrelu(e_{k-1}))) for k = 2..num_downs,
    widths gcn * (1, 2, 4, 8, 8, ...). Decoder d_k = concat(IN(deconv3x3(relu(.))), e_{n-k}),
    the last one deconv5x5(relu(d_{n-1})) -> tanh. The skips carry the normalised encoder
    outputs before their activation. At the 1x1 bottleneck (num_downs 8, S = 256) the instance
    norm outputs exactly its offset: e8 carries no information, as in the reference (all of
    it reaches the decoder through the skips).

    Input (B, S, S, in_channels) in [-1, 1] -> (B, S, S, out_channels) in [-1, 1]; S divisible
    by 2**num_downs (num_downs 8 for 256x256; smaller values give small test networks).
    """
    if image_size is not None and image_size % 2**num_downs:
        raise ValueError(f"dualgan_generator: image_size={image_size} must be divisible by 2**{num_downs}.")
    widths = [gcn * min(2**i, 8) for i in range(num_downs)]
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    encoders = [_conv(inputs, widths[0], 5, "e1")]
    for k in range(1, num_downs):
        h = keras.layers.LeakyReLU(0.2, name=f"e{k + 1}_lrelu")(encoders[-1])
        h = AffineInstanceNorm(EPSILON, name=f"e{k + 1}_norm")(_conv(h, widths[k], 3, f"e{k + 1}"))
        encoders.append(h)
    h = encoders[-1]
    for k in range(1, num_downs):
        up = keras.layers.ReLU(name=f"d{k}_relu")(h)
        up = AffineInstanceNorm(EPSILON, name=f"d{k}_norm")(_deconv(up, widths[num_downs - 1 - k], 3, f"d{k}"))
        h = keras.layers.Concatenate(name=f"d{k}_skip")([up, encoders[num_downs - 1 - k]])
    h = _deconv(keras.layers.ReLU(name=f"d{num_downs}_relu")(h), out_channels, 5, f"d{num_downs}")
    out = keras.layers.Activation("tanh", name="tanh")(h)
    return keras.Model(inputs, out, name=name)


def dualgan_discriminator(image_size=256, in_channels=3, dcn=64, disc_type="globalgan", name=None):
    """DualGAN's critic (``A_d`` / ``B_d``), no sigmoid (WGAN): one unbounded score per image.

    h0 = lrelu(conv5x5), h1..h3 = lrelu(IN(conv3x3)) with 2, 4, 8 dcn channels, h3_1 =
    lrelu(IN(conv3x3)) 8 dcn; all stride 2. ``globalgan`` (the default): a dense layer on the
    flattened (S/32, S/32, 8 dcn) map, 3,949,441 parameters at S = 256, as the reference; it
    needs a fixed ``image_size``. ``patchgan``: a 3x3 stride-2 conv to 1 channel instead,
    3,921,281 parameters, (B, S/64, S/64, 1) scores.

    Input (B, S, S, in_channels) in [-1, 1] -> (B, 1) (globalgan) or (B, S/64, S/64, 1).
    """
    if disc_type not in ("globalgan", "patchgan"):
        raise ValueError(f"dualgan_discriminator: disc_type={disc_type!r} must be 'globalgan' or 'patchgan'.")
    if disc_type == "globalgan" and image_size is None:
        raise ValueError("dualgan_discriminator: the globalgan critic needs an image_size (its dense layer).")
    name = name or f"dualgan_{disc_type}"
    inputs = keras.Input((image_size, image_size, in_channels), name="input")
    h = keras.layers.LeakyReLU(0.2, name="h0_lrelu")(_conv(inputs, dcn, 5, "h0"))
    for label, width in (("h1", 2), ("h2", 4), ("h3", 8), ("h3_1", 8)):
        h = AffineInstanceNorm(EPSILON, name=f"{label}_norm")(_conv(h, dcn * width, 3, label))
        h = keras.layers.LeakyReLU(0.2, name=f"{label}_lrelu")(h)
    if disc_type == "patchgan":
        return keras.Model(inputs, _conv(h, 1, 3, "h4"), name=name)
    h = keras.layers.Flatten(name="flatten")(h)
    init = keras.initializers.RandomNormal(stddev=0.02)
    out = keras.layers.Dense(1, kernel_initializer=init, name="d_h3_lin")(h)
    return keras.Model(inputs, out, name=name)
