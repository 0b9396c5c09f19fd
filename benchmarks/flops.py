"""Analytic FLOP count of one i2ilab training step (convolutions and dense layers only).

A multiply-add counts as 2 FLOPs. Per example (batch 1), from each layer's built input shape:

- Conv2D: ``2 * H_out * W_out * C_out * k_h * k_w * C_in``;
- Conv2DTranspose: ``2 * H_in * W_in * C_in * k_h * k_w * C_out`` (every input pixel is scattered
  over a k x k window of the full, uncropped output);
- Dense: ``2 * in * out``.

Normalisations, activations, padding, pooling and the optimizer update are left out: they are
memory-bound and a few percent of the FLOPs, so the count is the usual "model FLOPs" for
setting achieved FLOP/s against a GPU's peak.

One training step touches each network several times. A forward pass whose weights are trained
costs 3x its forward FLOPs (forward, gradient w.r.t. activations, gradient w.r.t. weights); a
pass differentiated only w.r.t. its input (D inside the generator step) 2x; a pass without
gradient 1x. ``STEP_CALLS`` lists those counts as each trainer's update order implies
(i2ilab/training): for example pix2pix runs G once (its pullback is reused for the G step), D on
the real and the fake pair in the D step, and D once more in the G step against the updated D.
"""

import keras

#: Per model: network part -> (trained passes, input-gradient-only passes, no-gradient passes).
#: MUNIT encodes both images once per step (trained passes; the D step reuses the content codes).
STEP_CALLS = {
    "colorize": {"generator": (1, 0, 0)},
    "pix2pix": {"generator": (1, 0, 0), "discriminator": (2, 1, 0)},
    "cyclegan": {"generators": (6, 0, 0), "discriminators": (4, 2, 0)},
    "munit": {
        "content_encoder": (4, 0, 0),
        "style_encoder": (4, 0, 0),
        "decoder": (4, 0, 2),
        "discriminator": (4, 2, 0),
    },
}
PASS_COST = (3, 2, 1)


def _example_input_shape(layer):
    """The built input shape of ``layer`` without the batch axis; ValueError if not fully known."""
    config = layer.get_build_config() or {}
    shape = config.get("input_shape")
    if shape is None or any(d is None for d in tuple(shape)[1:]):
        raise ValueError(
            f"benchmarks.flops: layer {layer.path} has no fully known input shape ({shape}); build "
            "the network with a fixed image_size to count its FLOPs."
        )
    return tuple(int(d) for d in tuple(shape)[1:])


def layer_flops(layer):
    """Forward FLOPs of one Conv2D / Conv2DTranspose / Dense layer for one example, else 0.

    The layer must be built; its built input shape (``get_build_config()``) must be fully known
    apart from the batch axis.
    """
    if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)):
        return 0
    shape = _example_input_shape(layer)
    if isinstance(layer, keras.layers.Dense):
        return 2 * shape[-1] * layer.units
    kh, kw = layer.kernel_size
    if isinstance(layer, keras.layers.Conv2DTranspose):
        h, w, c_in = shape
        return 2 * h * w * c_in * kh * kw * layer.filters
    out = layer.compute_output_shape((1,) + shape)
    c_in = shape[-1] // layer.groups
    return 2 * out[1] * out[2] * layer.filters * kh * kw * c_in


def upsample_conv_flops(block):
    """Forward FLOPs of an ``UpsampleConvBlock`` for one example, as it computes them: the
    K x K phase convolution with 4 x filters outputs on the H x W input, plus the k x k
    convolutions of its border strips (k // 2 - 1 rows or columns on each side)."""
    h, w, c_in = _example_input_shape(block)
    k = block.kernel_size
    k_phase = block._taps.shape[1]
    border = max(k // 2 - 1, 0) if block.pad_mode == "reflect" else 0
    border_pixels = 2 * border * (2 * h + 2 * w)
    return 2 * c_in * block.filters * (h * w * 4 * k_phase**2 + border_pixels * k * k)


def network_flops(model):
    """Forward FLOPs of a network for one example: sum over its (nested) conv and dense layers
    (an ``UpsampleConvBlock`` counted as it computes, not as the 4x larger conv it equals)."""
    from i2ilab.backend import sublayers
    from i2ilab.layers import UpsampleConvBlock

    layers = sublayers(model)
    inner = {id(layer.conv) for layer in layers if isinstance(layer, UpsampleConvBlock)}
    return sum(
        upsample_conv_flops(layer) if isinstance(layer, UpsampleConvBlock) else layer_flops(layer)
        for layer in layers
        if id(layer) not in inner
    )


def _parts(model_name, networks):
    """Forward FLOPs per example of each network part named in ``STEP_CALLS[model_name]``."""
    if model_name in ("colorize",):
        return {"generator": network_flops(networks["generator"])}
    if model_name == "pix2pix":
        return {
            "generator": network_flops(networks["generator"]),
            "discriminator": network_flops(networks["discriminator"]),
        }
    if model_name == "cyclegan":
        # g_ab and g_ba have the same architecture; 6 passes in all (3 each), likewise for D.
        g = (network_flops(networks["g_ab"]) + network_flops(networks["g_ba"])) / 2
        d = (network_flops(networks["d_a"]) + network_flops(networks["d_b"])) / 2
        return {"generators": int(g), "discriminators": int(d)}
    if model_name == "munit":
        gen = networks["gen_a"]
        return {
            "content_encoder": network_flops(gen.content_encoder),
            "style_encoder": network_flops(gen.style_encoder),
            "decoder": network_flops(gen.decoder) + network_flops(gen.mlp),
            "discriminator": network_flops(networks["dis_a"]),
        }
    raise ValueError(f"benchmarks.flops: unknown model {model_name!r}; choose one of {sorted(STEP_CALLS)}.")


def step_flops(model_name, networks, batch=1):
    """FLOPs of one training step of ``model_name`` at ``batch``, with a breakdown.

    Args:
        model_name: "pix2pix", "cyclegan", "munit" or "colorize".
        networks: the trainer's ``networks`` dict (built at a fixed image size).
        batch: batch size (FLOPs scale linearly).

    Returns:
        dict with ``total`` (FLOPs per step), ``forward`` (forward FLOPs per example of each
        part) and ``per_part`` (FLOPs per step of each part, passes and batch included).
    """
    forward = _parts(model_name, networks)
    per_part = {}
    for part, passes in STEP_CALLS[model_name].items():
        multiplier = sum(n * cost for n, cost in zip(passes, PASS_COST, strict=False))
        per_part[part] = forward[part] * multiplier * batch
    return {"total": sum(per_part.values()), "forward": forward, "per_part": per_part}
