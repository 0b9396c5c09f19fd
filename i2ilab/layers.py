"""Small Keras layers shared by every i2ilab network (NHWC, ``keras.ops`` only).

The U-Net blocks live in :mod:`i2ilab.models.unet` and the MUNIT-only blocks in
:mod:`i2ilab.models.munit_blocks`, next to their networks; they stay importable from here
(:data:`MOVED`).

Every layer here computes the same numbers as the PyTorch reference module it mirrors
(junyanz pytorch-CycleGAN-and-pix2pix, NVlabs MUNIT); ``tests/test_parity.py`` checks this
against fixtures computed by the reference code. Padding is always explicit (``ops.pad`` then a
'valid' convolution), never Keras 'same', because 'same' pads asymmetrically for odd kernels
(shared/REFERENCE.md section 3).

Normalisations compute their statistics in float32 and cast back, so they stay accurate under a
``mixed_bfloat16`` policy.
"""

import keras
from keras import ops

from i2ilab.backend import all_reduce_sum, tf_replica_context

PACKAGE = "i2ilab"
#: Blocks that live next to their networks, still importable from here (``i2ilab.layers.UNetDown``).
MOVED = {
    "UNetDown": "i2ilab.models.unet",
    "UNetUp": "i2ilab.models.unet",
    "AdaIN": "i2ilab.models.munit_blocks",
    "AdaINResBlock": "i2ilab.models.munit_blocks",
    "DownsampleAvgPool": "i2ilab.models.munit_blocks",
    "UpsampleConvBlock": "i2ilab.models.munit_blocks",
}
NORMS = ("batch", "instance", "layer", "none")
ACTIVATIONS = ("relu", "lrelu", "tanh", "none")
LEAKY_SLOPE = 0.2  # every reference uses 0.2; Keras' LeakyReLU default is 0.3


def reference_init():
    """N(0, 0.02) weight init of pix2pix / CycleGAN (and of MUNIT's discriminator)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def kaiming_init():
    """PyTorch ``kaiming_normal_(a=0, mode='fan_in')``: untruncated N(0, 2 / fan_in) (MUNIT G)."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_in", distribution="untruncated_normal")


def get_initializer(init):
    """Return a Keras initializer for "reference", "kaiming" or any Keras identifier."""
    if init == "reference":
        return reference_init()
    if init == "kaiming":
        return kaiming_init()
    return keras.initializers.get(init)


def serialize_init(init):
    return init if isinstance(init, str) else keras.initializers.serialize(init)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {choices}.")


def _pad_pairs(padding):
    """Normalise an int, (h, w) or ((top, bottom), (left, right)) padding to pairs."""
    if isinstance(padding, int):
        return ((padding, padding), (padding, padding))
    h, w = padding
    h = (h, h) if isinstance(h, int) else tuple(h)
    w = (w, w) if isinstance(w, int) else tuple(w)
    return (h, w)


def _add(dim, extra):
    return None if dim is None else dim + extra


def activate(x, activation):
    """Apply "relu", "lrelu" (slope 0.2), "tanh" or "none"."""
    if activation == "relu":
        return ops.relu(x)
    if activation == "lrelu":
        return ops.leaky_relu(x, negative_slope=LEAKY_SLOPE)
    if activation == "tanh":
        return ops.tanh(x)
    return x


def make_norm(norm, name=None):
    """Return the normalisation layer for ``norm``, or None for "none".

    "batch": TorchBatchNormalization, i.e. BatchNormalization with the PyTorch defaults
    (momentum 0.9 in Keras terms = torch's 0.1, eps 1e-5, gamma ~ N(1, 0.02) as the reference
    init) that also updates its moving variance as torch does (unbiased batch variance).
    "instance": InstanceNormalization without affine parameters, eps 1e-5.
    "layer": MUNITLayerNorm.
    """
    _check_choice("norm", norm, NORMS)
    if norm == "batch":
        return TorchBatchNormalization(
            momentum=0.9,
            epsilon=1e-5,
            gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
            name=name,
        )
    if norm == "instance":
        return InstanceNormalization(name=name)
    if norm == "layer":
        return MUNITLayerNorm(name=name)
    return None


@keras.saving.register_keras_serializable(package=PACKAGE)
class TorchBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose moving statistics follow ``torch.nn.BatchNorm2d`` exactly.

    In training mode the output is Keras' (batch mean, biased batch variance), but the moving
    variance is updated with the *unbiased* batch variance ``var * n / (n - 1)``, n = values per
    channel in the batch, as torch does; Keras' own layer uses the biased one, which differs by
    a factor n / (n - 1): 8 / 7 for a 2x2 map at batch 2. With n = 1 the biased variance is kept
    (torch refuses that case). Inference, weights (gamma, beta, moving_mean, moving_variance)
    and serialisation are those of keras.layers.BatchNormalization; renorm, Keras' own
    ``synchronized`` argument and masks are not supported.

    Data parallelism: under a multi-replica ``tf.distribute`` strategy the layer normalises
    with the statistics of the *global* batch when ``sync_replicas`` is True (the default; a
    runtime attribute, not part of the config; ``GANTrainer.compile(sync_batchnorm=...)`` sets
    it): per-channel sums and counts, then squared deviations from the global mean, are
    all-reduced across replicas (two passes, like the one-device moments), so training on N
    replicas equals training on one device with the whole batch. Under JAX's
    ``keras.distribution.DataParallel`` the jitted step is one global program and the batch
    statistics are global without any code here.
    Shapes: any -> same (normalised over every axis but ``axis``).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.renorm or self.synchronized:
            raise ValueError("TorchBatchNormalization supports neither renorm nor synchronized.")
        self.sync_replicas = True

    def _moments_and_count(self, x):
        """Batch mean, biased variance and values per channel: global across TF replicas."""
        n = ops.cast(ops.size(x), x.dtype) / ops.cast(ops.shape(x)[self.axis], x.dtype)
        axes = [i for i in range(len(x.shape)) if i != self.axis % len(x.shape)]
        context = tf_replica_context() if self.sync_replicas else None
        if context is None:
            mean, variance = ops.moments(x, axes=axes)
            return mean, variance, n
        # One tensor per all-reduce (sums and count together): a list would be packed
        # differently on different replicas and the collectives would not match.
        sums = ops.concatenate([ops.sum(x, axis=axes), ops.reshape(n, (1,))], 0)
        sums = all_reduce_sum(context, sums)
        count = sums[-1]
        mean = sums[:-1] / count
        shape = [1] * len(x.shape)
        shape[self.axis] = -1
        squares = ops.sum(ops.square(x - ops.reshape(mean, shape)), axis=axes)
        variance = all_reduce_sum(context, squares) / count
        return mean, variance, count

    def call(self, inputs, training=None):
        if not (training and self.trainable):
            return super().call(inputs, training=False)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance, n = self._moments_and_count(x)
        unbiased = variance * n / ops.maximum(n - 1.0, 1.0)
        m = self.momentum
        self.moving_mean.assign(ops.cast(self.moving_mean, x.dtype) * m + mean * (1.0 - m))
        self.moving_variance.assign(ops.cast(self.moving_variance, x.dtype) * m + unbiased * (1.0 - m))
        y = ops.batch_normalization(
            x,
            mean,
            variance,
            axis=self.axis,
            offset=ops.cast(self.beta, x.dtype) if self.center else None,
            scale=ops.cast(self.gamma, x.dtype) if self.scale else None,
            epsilon=self.epsilon,
        )
        return ops.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ReflectionPadding2D(keras.layers.Layer):
    """Reflect-pad H and W like ``torch.nn.ReflectionPad2d`` (edge pixel not repeated).

    Args:
        padding: int, (pad_h, pad_w), or ((top, bottom), (left, right)).
    Shapes: (B, H, W, C) -> (B, H + top + bottom, W + left + right, C).
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pad_pairs(padding)

    def call(self, x):
        (top, bottom), (left, right) = self.padding
        return ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        n, h, w, c = input_shape
        return (n, _add(h, top + bottom), _add(w, left + right), c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def moments(x, axes, keepdims=False):
    """Mean and biased variance of ``x`` over ``axes``, differentiable to every order.

    ``keras.ops.moments`` on TensorFlow stops the gradient through the mean inside the variance:
    right to first order, wrong to second order, so a gradient penalty (WGAN-GP) through a
    normalisation would get other critic gradients on TensorFlow than on JAX. Written out here:
    ``mean(x)``, ``mean((x - mean)^2)``. Used by the normalisations of networks trained with a
    gradient penalty (DualGAN's ``AffineInstanceNorm``). The shared :class:`InstanceNormalization`,
    AdaIN and BatchNorm keep ``keras.ops.moments``: the written-out form rounds first-order
    gradients differently, which moves the labs' measured lesson numbers, so switching them waits
    for those to be measured again (until then ``CycleGAN(gan_mode="wgangp")`` with instance-norm
    critics gets a different penalty gradient on TensorFlow than on JAX).
    """
    mean = ops.mean(x, axis=axes, keepdims=True)
    var = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
    if not keepdims:
        mean, var = ops.squeeze(mean, axis=axes), ops.squeeze(var, axis=axes)
    return mean, var


@keras.saving.register_keras_serializable(package=PACKAGE)
class InstanceNormalization(keras.layers.Layer):
    """Instance norm (Ulyanov et al.): per sample and channel over H, W; biased variance.

    ``y = (x - mean_hw) / sqrt(var_hw + epsilon)``, then ``gamma * y + beta`` when ``affine``.
    Defaults are those of ``torch.nn.InstanceNorm2d`` (eps 1e-5, no affine), used by CycleGAN and
    MUNIT; Keras' GroupNormalization(groups=-1) defaults to eps 1e-3 with affine on.
    Shapes: (B, H, W, C) -> same.
    """

    def __init__(self, epsilon=1e-5, affine=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.affine = affine

    def build(self, input_shape):
        if self.affine:
            c = input_shape[-1]
            self.gamma = self.add_weight(shape=(c,), initializer="ones", name="gamma")
            self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")

    def call(self, x):
        x32 = ops.cast(x, "float32")
        mean, var = ops.moments(x32, axes=[1, 2], keepdims=True)
        y = (x32 - mean) * ops.rsqrt(var + self.epsilon)
        if self.affine:
            y = y * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "affine": self.affine}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MUNITLayerNorm(keras.layers.Layer):
    """MUNIT's LayerNorm (decoder upsampling blocks), not keras.layers.LayerNormalization.

    Per sample, mean and *unbiased* standard deviation over all of C, H, W, then
    ``(x - mean) / (std + epsilon)`` (eps added to the std, not the variance), then per-channel
    ``gamma`` (init U(0, 1)) and ``beta`` (init 0). Keras' LayerNormalization uses the biased
    variance inside the square root and per-element affine weights: different numbers.
    Shapes: (B, H, W, C) -> same.
    """

    def __init__(self, epsilon=1e-5, affine=True, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.affine = affine

    def build(self, input_shape):
        if self.affine:
            c = input_shape[-1]
            self.gamma = self.add_weight(
                shape=(c,), initializer=keras.initializers.RandomUniform(0.0, 1.0), name="gamma"
            )
            self.beta = self.add_weight(shape=(c,), initializer="zeros", name="beta")

    def call(self, x):
        x32 = ops.cast(x, "float32")
        n = ops.cast(ops.prod(ops.shape(x32)[1:]), "float32")
        mean = ops.mean(x32, axis=[1, 2, 3], keepdims=True)
        sq = ops.sum(ops.square(x32 - mean), axis=[1, 2, 3], keepdims=True)
        std = ops.sqrt(sq / (n - 1.0))
        y = (x32 - mean) / (std + self.epsilon)
        if self.affine:
            y = y * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "affine": self.affine}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvBlock(keras.layers.Layer):
    """Explicit pad -> Conv2D ('valid') -> norm -> activation, as the references' conv blocks.

    Args:
        filters, kernel_size, strides: as Conv2D.
        padding: torch-style padding (int or pairs), applied explicitly before the conv.
        pad_mode: "zero" or "reflect".
        norm: "batch" | "instance" | "layer" | "none" (see ``make_norm``).
        activation: "relu" | "lrelu" (0.2) | "tanh" | "none", applied after the norm.
        pre_activation: activation applied to the input before padding (pix2pix U-Net style).
        use_bias: default ``norm != "batch"`` (no conv bias before BatchNorm, as the references).
        kernel_initializer: "reference" N(0, 0.02), "kaiming", or a Keras initializer.
    Shapes: (B, H, W, Cin) -> (B, (H + pads - k) // s + 1, ..., filters).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=1,
        padding=0,
        pad_mode="zero",
        norm="none",
        activation="none",
        pre_activation="none",
        use_bias=None,
        kernel_initializer="reference",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_choice("pad_mode", pad_mode, ("zero", "reflect"))
        _check_choice("activation", activation, ACTIVATIONS)
        _check_choice("pre_activation", pre_activation, ACTIVATIONS)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = _pad_pairs(padding)
        self.pad_mode = pad_mode
        self.norm = norm
        self.activation = activation
        self.pre_activation = pre_activation
        self.use_bias = (norm != "batch") if use_bias is None else bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="valid",
            use_bias=self.use_bias,
            kernel_initializer=get_initializer(kernel_initializer),
            name="conv",
        )
        self.norm_layer = make_norm(norm, name="norm")

    def build(self, input_shape):
        (top, bottom), (left, right) = self.padding
        n, h, w, c = input_shape
        self.conv.build((n, _add(h, top + bottom), _add(w, left + right), c))
        if self.norm_layer is not None:
            self.norm_layer.build(self.conv.compute_output_shape((n, _add(h, top + bottom), _add(w, left + right), c)))

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        n, h, w, c = input_shape
        return self.conv.compute_output_shape((n, _add(h, top + bottom), _add(w, left + right), c))

    def call(self, x, training=None):
        x = activate(x, self.pre_activation)
        (top, bottom), (left, right) = self.padding
        if top or bottom or left or right:
            mode = "reflect" if self.pad_mode == "reflect" else "constant"
            x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], mode=mode)
        x = self.conv(x)
        if self.norm_layer is not None:
            x = self.norm_layer(x, training=training) if self.norm == "batch" else self.norm_layer(x)
        return activate(x, self.activation)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "pad_mode": self.pad_mode,
            "norm": self.norm,
            "activation": self.activation,
            "pre_activation": self.pre_activation,
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_init(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvTransposeBlock(keras.layers.Layer):
    """pre-activation -> Conv2DTranspose with torch padding semantics -> norm -> activation.

    ``padding`` and ``output_padding`` mean what they mean in ``torch.nn.ConvTranspose2d``: the
    full ('valid') transposed convolution is cropped by ``padding`` at the start and by
    ``padding - output_padding`` at the end of H and W. So k4 s2 p1 doubles the size (U-Net) and
    k3 s2 p1 op1 doubles it too (ResNet generator) without the one-pixel shift of Keras 'same'.
    Shapes: (B, H, W, Cin) -> (B, (H - 1) * s - 2p + k + op, ..., filters).
    """

    def __init__(
        self,
        filters,
        kernel_size,
        strides=2,
        padding=1,
        output_padding=0,
        norm="none",
        activation="none",
        pre_activation="none",
        use_bias=None,
        kernel_initializer="reference",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_choice("activation", activation, ACTIVATIONS)
        _check_choice("pre_activation", pre_activation, ACTIVATIONS)
        if not 0 <= output_padding <= padding:
            raise ValueError(f"output_padding={output_padding} must lie in [0, padding={padding}].")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.output_padding = output_padding
        self.norm = norm
        self.activation = activation
        self.pre_activation = pre_activation
        self.use_bias = (norm != "batch") if use_bias is None else bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.conv = keras.layers.Conv2DTranspose(
            filters,
            kernel_size,
            strides=strides,
            padding="valid",
            use_bias=self.use_bias,
            kernel_initializer=get_initializer(kernel_initializer),
            name="conv",
        )
        self.norm_layer = make_norm(norm, name="norm")

    def build(self, input_shape):
        self.conv.build(input_shape)
        if self.norm_layer is not None:
            n, h, w, _ = input_shape
            self.norm_layer.build((n, h, w, self.filters))

    def call(self, x, training=None):
        x = activate(x, self.pre_activation)
        x = self.conv(x)
        start, end = self.padding, self.padding - self.output_padding
        if start or end:
            h, w = ops.shape(x)[1], ops.shape(x)[2]
            x = x[:, start : h - end, start : w - end, :]
        if self.norm_layer is not None:
            x = self.norm_layer(x, training=training) if self.norm == "batch" else self.norm_layer(x)
        return activate(x, self.activation)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape

        def grow(d):
            if d is None:
                return None
            return (d - 1) * self.strides - 2 * self.padding + self.kernel_size + self.output_padding

        return (n, grow(h), grow(w), self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "norm": self.norm,
            "activation": self.activation,
            "pre_activation": self.pre_activation,
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_init(self.kernel_initializer),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResnetBlock(keras.layers.Layer):
    """Residual block (He et al.; CycleGAN appendix 7.2; MUNIT content encoder).

    ``x + [pad 1, conv 3x3, norm, ReLU, (dropout), pad 1, conv 3x3, norm](x)``; no ReLU after the
    sum. Shapes: (B, H, W, filters) -> same.
    """

    def __init__(
        self,
        filters,
        norm="instance",
        pad_mode="reflect",
        dropout=0.0,
        use_bias=None,
        kernel_initializer="reference",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = filters
        self.norm = norm
        self.pad_mode = pad_mode
        self.dropout = dropout
        self.use_bias = (norm != "batch") if use_bias is None else bool(use_bias)
        self.kernel_initializer = kernel_initializer
        common = dict(
            padding=1,
            pad_mode=pad_mode,
            norm=norm,
            use_bias=self.use_bias,
            kernel_initializer=kernel_initializer,
        )
        self.conv1 = ConvBlock(filters, 3, activation="relu", name="conv1", **common)
        self.drop = keras.layers.Dropout(dropout, name="dropout") if dropout else None
        self.conv2 = ConvBlock(filters, 3, activation="none", name="conv2", **common)

    def build(self, input_shape):
        if input_shape[-1] != self.filters:
            raise ValueError(
                f"ResnetBlock({self.filters}) got {input_shape[-1]} input channels; "
                "a residual block keeps the channel count."
            )
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)

    def call(self, x, training=None):
        y = self.conv1(x, training=training)
        if self.drop is not None:
            y = self.drop(y, training=training)
        return x + self.conv2(y, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "norm": self.norm,
            "pad_mode": self.pad_mode,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_init(self.kernel_initializer),
        }


def __getattr__(name):
    """The blocks of :data:`MOVED`, imported from their network's module on first use."""
    if name in MOVED:
        import importlib

        return getattr(importlib.import_module(MOVED[name]), name)
    raise AttributeError(f"module 'i2ilab.layers' has no attribute {name!r}")
