"""The MUNIT-only blocks (Huang et al. 2018, appendix B): AdaIN, its residual block, the decoder's
upsample-conv and the discriminator's average-pool downsampling; also importable from
:mod:`i2ilab.layers`. NHWC, ``keras.ops`` only, equal to the reference modules
(``tests/test_parity.py``)."""

import keras
from keras import ops

from i2ilab.layers import PACKAGE, ConvBlock, activate, serialize_init


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaIN(keras.layers.Layer):
    """Adaptive instance norm (Huang & Belongie 2017; MUNIT section 3): ``gamma * IN(x) + beta``.

    gamma and beta are call inputs (computed by MUNIT's MLP from a style code), so the layer holds
    no state and nothing is mutated between calls (the reference assigns them to module
    attributes). Instance statistics use the biased variance and eps 1e-5; gamma is used as is
    (no +1), as in MUNIT.

    Call: ``AdaIN()(x, gamma, beta)`` with x (B, H, W, C), gamma and beta (B, C) -> (B, H, W, C).
    """

    def __init__(self, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x, gamma, beta):
        x32 = ops.cast(x, "float32")
        mean, var = ops.moments(x32, axes=[1, 2], keepdims=True)
        y = (x32 - mean) * ops.rsqrt(var + self.epsilon)
        gamma = ops.cast(gamma, "float32")[:, None, None, :]
        beta = ops.cast(beta, "float32")[:, None, None, :]
        return ops.cast(gamma * y + beta, self.compute_dtype)

    def compute_output_shape(self, x_shape, gamma_shape=None, beta_shape=None):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class DownsampleAvgPool(keras.layers.Layer):
    """3x3 average pool, stride 2, pad 1, padding not counted (MUNIT's multi-scale D).

    Equals ``torch.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)``; Keras
    AveragePooling2D('same') pads only at the end, so its windows differ.
    Shapes: (B, H, W, C) -> (B, floor((H - 1) / 2) + 1, floor((W - 1) / 2) + 1, C).
    """

    def call(self, x):
        pads = [[0, 0], [1, 1], [1, 1], [0, 0]]
        sums = ops.average_pool(ops.pad(x, pads), 3, strides=2, padding="valid")
        ones = ops.pad(ops.ones_like(x[..., :1]), pads)
        counts = ops.average_pool(ones, 3, strides=2, padding="valid")
        return sums / counts

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        half = lambda d: None if d is None else (d - 1) // 2 + 1  # noqa: E731
        return (n, half(h), half(w), c)


def _phase_taps(kernel_size, padding):
    """0/1 matrix (2, K, k): for output phase a of a nearest-x2 upsample followed by a stride-1
    conv (k taps, padding p), which low-resolution offset in [-q, q] (K = 2q + 1, q = ceil(p/2))
    each tap t reads: output row 2i + a, tap t reads upsampled row 2i + a + t - p, i.e. input
    row i + floor((a + t - p) / 2)."""
    import numpy as np

    q = (padding + 1) // 2
    taps = np.zeros((2, 2 * q + 1, kernel_size), "float32")
    for a in range(2):
        for t in range(kernel_size):
            taps[a, (a + t - padding) // 2 + q, t] = 1.0
    return taps


@keras.saving.register_keras_serializable(package=PACKAGE)
class UpsampleConvBlock(ConvBlock):
    """Nearest x2 upsampling -> pad k // 2 -> Conv k x k (stride 1) -> norm -> activation.

    The MUNIT decoder's upsampling stage (Huang et al. 2018, appendix B.2: ``nn.Upsample(2)``
    then ``Conv2dBlock(k=5, s=1, p=2, norm='ln', pad_type='reflect')``). It computes the same
    numbers (up to float rounding) as ``UpSampling2D(2)`` followed by
    ``ConvBlock(filters, k, padding=k // 2, ...)`` with the same weights and weight names, but
    never convolves the upsampled map: output pixel (2i + a, 2j + b) reads only a K x K
    neighbourhood of input pixel (i, j) (K = 3 for k = 5), with the k x k taps that land on the
    same input pixel summed. The four phases (a, b) are one K x K convolution of the input with
    4 x filters outputs, interleaved into the 2H x 2W map: 9 / 25 of the multiply-adds for k = 5.

    Zero padding of the upsampled map is the upsampling of the zero-padded input, so that case
    is exact as it stands. Reflect padding is not: the phase convolution pads the input
    symmetrically, which is exact except on an output border of width k // 2 - 1 (the outer
    ring of the reflected map), and that border is recomputed directly from thin
    reflect-padded strips. ``tests/test_layers.py`` checks values and gradients against the
    plain layers. Shapes: (B, H, W, Cin) -> (B, 2H, 2W, filters); H, W >= k // 2.
    """

    def __init__(self, filters, kernel_size=5, pad_mode="reflect", **kwargs):
        if not (isinstance(kernel_size, int) and kernel_size % 2 == 1):
            raise ValueError(f"UpsampleConvBlock: kernel_size={kernel_size!r} must be an odd int.")
        super().__init__(filters, kernel_size, strides=1, padding=kernel_size // 2, pad_mode=pad_mode, **kwargs)
        self._taps = _phase_taps(kernel_size, kernel_size // 2)

    def build(self, input_shape):
        n, h, w, c = input_shape
        super().build((n, None if h is None else 2 * h, None if w is None else 2 * w, c))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return super().compute_output_shape((n, None if h is None else 2 * h, None if w is None else 2 * w, c))

    def _border(self, x, kernel, axis, end):
        """Exact output rows (axis 1) or columns (axis 2) at the start or the end of the map, the
        first or last ``k // 2 - 1``, from the ``k // 2`` input rows/cols that reach them."""
        p = self.kernel_size // 2
        width = p - 1
        keep = width + 2 * p  # padded rows the `width` output rows read

        def edge(t, n):
            index = slice(-n, None) if end else slice(0, n)
            return t[:, index] if axis == 1 else t[:, :, index]

        u = ops.repeat(ops.repeat(edge(x, p), 2, axis=1), 2, axis=2)
        u = ops.pad(u, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")
        return ops.conv(edge(u, keep), kernel)

    def call(self, x, training=None):
        x = activate(x, self.pre_activation)
        p = self.kernel_size // 2
        q = (p + 1) // 2
        kernel32 = ops.cast(self.conv.kernel, "float32")
        kernel = ops.cast(kernel32, x.dtype)
        taps = ops.convert_to_tensor(self._taps)
        # (K, K, Cin, 2, 2, Cout): tap sums of each output phase (a, b).
        phased = ops.einsum("aiu,bjv,uvcd->ijcabd", taps, taps, kernel32)
        k_small, c_in = phased.shape[0], phased.shape[2]
        phased = ops.cast(ops.reshape(phased, (k_small, k_small, c_in, 4 * self.filters)), x.dtype)
        mode = "constant" if self.pad_mode == "zero" else "symmetric"
        y = ops.conv(ops.pad(x, [[0, 0], [q, q], [q, q], [0, 0]], mode=mode), phased)
        shape = ops.shape(x)
        b, h, w = shape[0], shape[1], shape[2]
        y = ops.reshape(y, (b, h, w, 2, 2, self.filters))
        y = ops.reshape(ops.transpose(y, (0, 1, 3, 2, 4, 5)), (b, 2 * h, 2 * w, self.filters))
        if self.pad_mode == "reflect" and p >= 2:
            width = p - 1
            y = ops.concatenate(
                [self._border(x, kernel, 2, False), y[:, :, width:-width], self._border(x, kernel, 2, True)], axis=2
            )
            y = ops.concatenate(
                [self._border(x, kernel, 1, False), y[:, width:-width], self._border(x, kernel, 1, True)], axis=1
            )
        if self.use_bias:
            y = y + ops.cast(self.conv.bias, y.dtype)
        if self.norm_layer is not None:
            y = self.norm_layer(y, training=training) if self.norm == "batch" else self.norm_layer(y)
        return activate(y, self.activation)

    def get_config(self):
        config = super().get_config()
        del config["strides"], config["padding"]
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaINResBlock(keras.layers.Layer):
    """MUNIT decoder residual block with AdaIN (MUNIT section 3, Fig. 3).

    ``x + [pad 1, conv 3x3, AdaIN, ReLU, pad 1, conv 3x3, AdaIN](x)`` with reflect padding.
    Call ``block(x, adain_params)`` where adain_params (B, P) holds the parameters of every AdaIN
    of the decoder, produced by MUNIT's MLP; this block reads its slice
    ``[4 * filters * block_index, 4 * filters * (block_index + 1))`` laid out as the reference:
    (beta_1, gamma_1, beta_2, gamma_2), C values each (mean first, then std).
    Shapes: (B, H, W, filters), (B, P) -> (B, H, W, filters).
    """

    def __init__(self, filters, block_index=0, kernel_initializer="kaiming", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.block_index = block_index
        self.kernel_initializer = kernel_initializer
        common = dict(
            padding=1,
            pad_mode="reflect",
            norm="none",
            use_bias=True,
            kernel_initializer=kernel_initializer,
        )
        self.conv1 = ConvBlock(filters, 3, name="conv1", **common)
        self.conv2 = ConvBlock(filters, 3, name="conv2", **common)
        self.adain = AdaIN(name="adain")

    @property
    def num_adain_params(self):
        return 4 * self.filters

    def build(self, x_shape, adain_params_shape=None):
        self.conv1.build(x_shape)
        self.conv2.build(x_shape)

    def call(self, x, adain_params):
        c = self.filters
        p = adain_params[:, 4 * c * self.block_index : 4 * c * (self.block_index + 1)]
        y = self.adain(self.conv1(x), p[:, c : 2 * c], p[:, :c])
        y = self.adain(self.conv2(ops.relu(y)), p[:, 3 * c :], p[:, 2 * c : 3 * c])
        return x + y

    def compute_output_shape(self, x_shape, adain_params_shape=None):
        return x_shape

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "block_index": self.block_index,
            "kernel_initializer": serialize_init(self.kernel_initializer),
        }
