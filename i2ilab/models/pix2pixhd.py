"""pix2pixHD networks (Wang et al. 2018, section 3.2-3.4; NVIDIA/pix2pixHD ``models/networks.py``).

- :func:`global_generator`: G1, the coarse-to-fine generator's global network (section 3.2).
- :func:`local_enhancer`: G = {G1, G2}, the local enhancer around a global network (section 3.2);
  :func:`load_global_weights` starts its G1 from a trained global generator.
- :func:`hd_discriminator`: the multi-scale discriminators D1..Dk, each returning every
  intermediate feature map (section 3.2, feature matching eq. 4).
- :func:`feature_encoder`: E, the instance-wise feature encoder (section 3.4).
- :func:`instance_edge_map`: the instance boundary map of section 3.3.

Layouts are NHWC; images in [-1, 1]. All convs keep their bias (InstanceNorm without affine
parameters, eps 1e-5). Init: N(0, 0.02) conv weights as the reference's ``weights_init``;
the biases start at 0 here, where the reference leaves them at PyTorch's default
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (a deliberate difference: the house init, and most of these
biases feed an InstanceNorm that removes them).

``image_size``: an int S for S x S inputs, a pair (H, W) (pix2pixHD trains at 1024 x 512, i.e.
(512, 1024)), or None for a fully convolutional model.
"""

import keras
from keras import ops

from i2ilab.layers import PACKAGE, ConvBlock, ConvTransposeBlock, ResnetBlock
from i2ilab.models.munit_blocks import DownsampleAvgPool

#: Parameter counts of the authors' default networks (shared seeds, measured with their code).
PARAMETER_COUNTS = {
    "global_512p": 182_546_755,
    "local_1024p": 182_857_059,
    "dis_512p": 5_603_202,
    "dis_1024p": 8_404_803,
    "encoder": 788_803,
}


def _hw(image_size):
    if image_size is None:
        return None, None
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return h, w


def _check_divisible(image_size, factor, what):
    for d in _hw(image_size):
        if d is not None and d % factor:
            raise ValueError(f"{what}: image_size={image_size} must be divisible by {factor}.")


def _trunk(h, ngf, n_downsampling, n_blocks, norm, prefix):
    """Global network G1 without its output layer: c7s1-ngf, n stride-2 3x3 convs (zero pad 1)
    doubling the width, n_blocks residual blocks (reflect pad), n transposed 3x3 convs back to
    ngf channels. (B, H, W, C) -> (B, H, W, ngf)."""
    common = dict(norm=norm, activation="relu")
    h = ConvBlock(ngf, 7, padding=3, pad_mode="reflect", name=f"{prefix}_stem", **common)(h)
    for i in range(n_downsampling):
        h = ConvBlock(ngf * 2 ** (i + 1), 3, strides=2, padding=1, name=f"{prefix}_down{i}", **common)(h)
    width = ngf * 2**n_downsampling
    for i in range(n_blocks):
        h = ResnetBlock(width, norm=norm, name=f"{prefix}_res{i}")(h)
    for i in range(n_downsampling):
        h = ConvTransposeBlock(
            ngf * 2 ** (n_downsampling - i - 1),
            3,
            strides=2,
            padding=1,
            output_padding=1,
            name=f"{prefix}_up{i}",
            **common,
        )(h)
    return h


def global_generator(
    image_size=None,
    in_channels=36,
    out_channels=3,
    ngf=64,
    n_downsampling=4,
    n_blocks=9,
    norm="instance",
    name=None,
):
    """pix2pixHD global generator G1 (``--netG global``; Wang et al. section 3.2).

    c7s1-64, d128, d256, d512, d1024 (3x3 stride 2, zero pad 1), 9 residual blocks of 1024
    channels (reflect pad 1, no ReLU after the sum), u512, u256, u128, u64 (transposed 3x3,
    stride 2, pad 1, output_padding 1), c7s1-3 (reflect pad 3) and tanh. The input is the label
    one-hot map and the instance edge map (35 + 1 = 36 channels for Cityscapes); 182,546,755
    parameters at the 512p defaults, as the reference.

    Input (B, H, W, in_channels) -> (B, H, W, out_channels) in [-1, 1]; H and W divisible by
    2**n_downsampling.
    """
    _check_divisible(image_size, 2**n_downsampling, "global_generator")
    h_in, w_in = _hw(image_size)
    inputs = keras.Input((h_in, w_in, in_channels), name="input")
    h = _trunk(inputs, ngf, n_downsampling, n_blocks, norm, "g")
    out = ConvBlock(out_channels, 7, padding=3, pad_mode="reflect", activation="tanh", name="g_head")(h)
    return keras.Model(inputs, out, name=name or "pix2pixhd_global")


def local_enhancer(
    image_size=None,
    in_channels=36,
    out_channels=3,
    ngf=32,
    n_downsample_global=4,
    n_blocks_global=9,
    n_local_enhancers=1,
    n_blocks_local=3,
    norm="instance",
    name=None,
):
    """pix2pixHD coarse-to-fine generator G = {G1, G2} (``--netG local``; section 3.2).

    The global network G1 (width ngf * 2**n_local_enhancers, i.e. 64 for the 1024p ngf 32,
    without its output layer; layers ``g_*`` named as in :func:`global_generator`, so
    :func:`load_global_weights` starts it from a trained 512p G1) runs on the input average-pooled n_local_enhancers times (3x3, stride
    2, pad 1, padding not counted). Each enhancer n = 1..N: front end ``l<n>_stem`` (c7s1) and
    ``l<n>_down`` (3x3 stride 2) on the input pooled N - n times, **added** (not concatenated)
    to the previous output, then n_blocks_local residual blocks and a transposed 3x3 conv; the
    last one ends in c7s1-3 and tanh. 182,857,059 parameters at the 1024p defaults (global part
    182,537,344, enhancer 319,715).

    Input (B, H, W, in_channels) -> (B, H, W, out_channels) in [-1, 1]; H and W divisible by
    2**(n_downsample_global + n_local_enhancers).
    """
    _check_divisible(image_size, 2 ** (n_downsample_global + n_local_enhancers), "local_enhancer")
    h_in, w_in = _hw(image_size)
    inputs = keras.Input((h_in, w_in, in_channels), name="input")
    pyramid = [inputs]
    for i in range(n_local_enhancers):
        pyramid.append(DownsampleAvgPool(name=f"downsample{i}")(pyramid[-1]))
    prev = _trunk(pyramid[-1], ngf * 2**n_local_enhancers, n_downsample_global, n_blocks_global, norm, "g")
    common = dict(norm=norm, activation="relu")
    for n in range(1, n_local_enhancers + 1):
        width = ngf * 2 ** (n_local_enhancers - n)
        h = ConvBlock(width, 7, padding=3, pad_mode="reflect", name=f"l{n}_stem", **common)(
            pyramid[n_local_enhancers - n]
        )
        h = ConvBlock(width * 2, 3, strides=2, padding=1, name=f"l{n}_down", **common)(h)
        h = keras.layers.Add(name=f"l{n}_add")([h, prev])
        for j in range(n_blocks_local):
            h = ResnetBlock(width * 2, norm=norm, name=f"l{n}_res{j}")(h)
        h = ConvTransposeBlock(width, 3, strides=2, padding=1, output_padding=1, name=f"l{n}_up", **common)(h)
        prev = h
    out = ConvBlock(
        out_channels, 7, padding=3, pad_mode="reflect", activation="tanh", name=f"l{n_local_enhancers}_head"
    )(prev)
    return keras.Model(inputs, out, name=name or "pix2pixhd_local")


def load_global_weights(local, global_model):
    """Copy a trained :func:`global_generator`'s weights into the global part of a
    :func:`local_enhancer` (every ``g_*`` layer but G1's output layer ``g_head``), as the
    reference's ``--load_pretrain`` of the 512p model before the 1024p training. Returns the
    number of layers copied; ValueError when a layer is missing or its shapes differ."""
    copied = 0
    for layer in local.layers:
        if not layer.name.startswith("g_") or not layer.weights:
            continue
        try:
            source = global_model.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"load_global_weights: {global_model.name!r} has no layer {layer.name!r}.") from None
        mine, theirs = layer.get_weights(), source.get_weights()
        if [w.shape for w in mine] != [w.shape for w in theirs]:
            raise ValueError(
                f"load_global_weights: layer {layer.name!r} has shapes {[w.shape for w in theirs]} in "
                f"{global_model.name!r} but {[w.shape for w in mine]} here; build the global generator "
                "with ngf = the local enhancer's ngf * 2**n_local_enhancers and the same depth."
            )
        layer.set_weights(theirs)
        copied += 1
    return copied


def hd_discriminator(
    image_size=None,
    in_channels=39,
    ndf=64,
    n_layers=3,
    num_D=2,
    norm="instance",
    name=None,
):
    """pix2pixHD multi-scale discriminator (section 3.2; ``MultiscaleDiscriminator`` with
    ``getIntermFeat``), LSGAN logits (no sigmoid).

    num_D PatchGANs of the same widths; D_k sees the input average-pooled k times (3x3, stride
    2, pad 1, padding not counted). Each is [4x4 s2 conv, LReLU 0.2], (n_layers - 1) x [4x4 s2
    conv, IN, LReLU], [4x4 s1 conv, IN, LReLU], [4x4 s1 conv to 1 channel], widths ndf doubling
    up to 512; every conv pads by **2** (ceil(3/2)), so the maps grow at the stride-1 convs.
    The input is [labels, edges, image] (35 + 1 + 3 = 39 channels for Cityscapes); 2,801,601
    parameters per scale at the defaults (5,603,202 for num_D 2, 8,404,803 for num_D 3).

    Input (B, H, W, in_channels) -> a list over scales (full resolution first) of lists of
    n_layers + 2 maps: the n_layers + 1 intermediate features (for feature matching) then the
    logits. At 1024 x 512 with the defaults the full-resolution logits are 67 x 131.
    """
    h_in, w_in = _hw(image_size)
    inputs = keras.Input((h_in, w_in, in_channels), name="input")
    outputs, x = [], inputs
    for s in range(num_D):
        feats, h, width = [], x, ndf
        h = ConvBlock(width, 4, strides=2, padding=2, activation="lrelu", name=f"d{s}_conv0")(h)
        feats.append(h)
        for j in range(1, n_layers + 1):
            width = min(width * 2, 512)
            stride = 2 if j < n_layers else 1
            h = ConvBlock(width, 4, strides=stride, padding=2, norm=norm, activation="lrelu", name=f"d{s}_conv{j}")(h)
            feats.append(h)
        feats.append(ConvBlock(1, 4, strides=1, padding=2, name=f"d{s}_logits")(h))
        outputs.append(feats)
        if s < num_D - 1:
            x = DownsampleAvgPool(name=f"d{s}_downsample")(x)
    return keras.Model(inputs, outputs, name=name or f"pix2pixhd_dis_{num_D}scales")


@keras.saving.register_keras_serializable(package=PACKAGE)
class InstanceAveragePool(keras.layers.Layer):
    """Instance-wise average pooling of the feature encoder (Wang et al. section 3.4).

    Every pixel of an instance gets that instance's mean feature, per sample and channel. Ids
    are compared within each sample only, so an id present in one sample leaves the others
    unchanged (as the reference, which loops over the ids of the whole batch). Any integer ids
    work (Cityscapes uses e.g. 26001): each sample's ids are ranked by sorting, then summed
    with ``segment_sum``, so the layer compiles with static shapes.

    Inputs: features (B, H, W, C) and instance ids (B, H, W, 1) (int or float holding ints).
    Output: (B, H, W, C), constant on every instance.
    """

    def call(self, features, instances):
        shape = ops.shape(features)
        b, h, w, c = shape[0], shape[1], shape[2], shape[3]
        n = h * w
        ids = ops.reshape(ops.cast(instances, "int32"), (b, n))
        order = ops.argsort(ids, axis=-1)
        ranked = ops.take_along_axis(ids, order, axis=-1)
        new = ops.cast(ranked[:, 1:] != ranked[:, :-1], "int32")
        dense_sorted = ops.concatenate([ops.zeros((b, 1), "int32"), ops.cumsum(new, axis=-1)], axis=-1)
        inverse = ops.argsort(order, axis=-1)
        dense = ops.take_along_axis(dense_sorted, inverse, axis=-1)  # per-sample ranks 0..n-1
        segments = ops.reshape(dense + ops.arange(b, dtype="int32")[:, None] * n, (-1,))
        flat = ops.reshape(ops.cast(features, "float32"), (-1, c))
        total = b * n
        sums = ops.segment_sum(flat, segments, num_segments=total)
        counts = ops.segment_sum(ops.ones_like(flat[:, :1]), segments, num_segments=total)
        means = ops.take(sums / ops.maximum(counts, 1.0), segments, axis=0)
        return ops.cast(ops.reshape(means, shape), self.compute_dtype)

    def compute_output_shape(self, features_shape, instances_shape=None):
        return features_shape


def feature_encoder(
    image_size=None,
    in_channels=3,
    out_channels=3,
    nef=16,
    n_downsampling=4,
    norm="instance",
    name=None,
):
    """pix2pixHD instance-wise feature encoder E (``--instance_feat``; section 3.4).

    c7s1-16, 4 x (3x3 stride 2, zero pad 1, doubling), 4 x (transposed 3x3 stride 2, halving),
    c7s1-3 and tanh, then :class:`InstanceAveragePool` over the instance map. 788,803
    parameters at the defaults. Its 3 feature channels are concatenated to G's input.

    Inputs: image (B, H, W, in_channels) in [-1, 1] and instance ids (B, H, W, 1) ->
    features (B, H, W, out_channels) in [-1, 1], constant on each instance; H and W divisible
    by 2**n_downsampling.
    """
    _check_divisible(image_size, 2**n_downsampling, "feature_encoder")
    h_in, w_in = _hw(image_size)
    image = keras.Input((h_in, w_in, in_channels), name="image")
    instances = keras.Input((h_in, w_in, 1), name="instances", dtype="int32")
    common = dict(norm=norm, activation="relu")
    h = ConvBlock(nef, 7, padding=3, pad_mode="reflect", name="e_stem", **common)(image)
    for i in range(n_downsampling):
        h = ConvBlock(nef * 2 ** (i + 1), 3, strides=2, padding=1, name=f"e_down{i}", **common)(h)
    for i in range(n_downsampling):
        h = ConvTransposeBlock(
            nef * 2 ** (n_downsampling - i - 1),
            3,
            strides=2,
            padding=1,
            output_padding=1,
            name=f"e_up{i}",
            **common,
        )(h)
    h = ConvBlock(out_channels, 7, padding=3, pad_mode="reflect", activation="tanh", name="e_head")(h)
    out = InstanceAveragePool(name="instance_pool")(h, instances)
    return keras.Model([image, instances], out, name=name or "pix2pixhd_encoder")


def instance_edge_map(instances):
    """Instance boundary map (Wang et al. section 3.3; the reference's ``get_edges``).

    A pixel is 1 where its id differs from its left, right, upper or lower neighbour (both
    pixels of a differing pair are marked), else 0. (B, H, W, 1) integer ids (or floats holding
    integers) -> (B, H, W, 1) float32 in {0, 1}.
    """
    t = ops.convert_to_tensor(instances)
    if "float" in keras.backend.standardize_dtype(t.dtype):
        t = ops.cast(ops.round(t), "int32")
    dx = ops.cast(t[:, :, 1:, :] != t[:, :, :-1, :], "float32")
    dy = ops.cast(t[:, 1:, :, :] != t[:, :-1, :, :], "float32")
    zx = ops.zeros_like(ops.cast(t[:, :, :1, :], "float32"))  # one column (not dx's: W - 1 may be 0)
    zy = ops.zeros_like(ops.cast(t[:, :1, :, :], "float32"))
    ex = ops.maximum(ops.concatenate([dx, zx], axis=2), ops.concatenate([zx, dx], axis=2))
    ey = ops.maximum(ops.concatenate([dy, zy], axis=1), ops.concatenate([zy, dy], axis=1))
    return ops.maximum(ex, ey)
