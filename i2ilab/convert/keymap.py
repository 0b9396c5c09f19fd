"""Reference (PyTorch) state_dict key names for every variable of an i2ilab network.

``torch_key_map(model)`` walks a built i2ilab model layer by layer and returns, for each Keras
variable, the key the reference implementation gives the same tensor in its ``state_dict()``,
and the layout change between the two. Nothing here is a table per model size: the key of a
layer follows from its position in the reference module tree (junyanz
``UnetSkipConnectionBlock`` nesting, ``nn.Sequential`` indices, MUNIT ``Conv2dBlock``), so any
num_downs / ngf / n_blocks / n_layers / dim works.

Layouts (torch -> Keras; both as in shared/parity/README.md):
- "conv":  Conv2d weight (O, I, kh, kw) -> Conv2D kernel (kh, kw, I, O), ``transpose(2, 3, 1, 0)``
- "convT": ConvTranspose2d weight (I, O, kh, kw) -> Conv2DTranspose kernel (kh, kw, O, I), the
  same transpose, no spatial flip
- "dense": Linear weight (O, I) -> Dense kernel (I, O)
- "conv1x1_dense": a 1x1 Conv2d on a 1x1 map (O, I, 1, 1) -> Dense kernel (I, O) (MUNIT's style
  encoder ends in one; i2ilab uses a Dense layer there)
- "vector": biases and norm parameters (C,), unchanged
"""

import dataclasses

import keras
import numpy as np

from i2ilab.layers import (
    AdaINResBlock,
    ConvBlock,
    ConvTransposeBlock,
    InstanceNormalization,
    MUNITLayerNorm,
    ResnetBlock,
    UNetDown,
    UNetUp,
    UpsampleConvBlock,
)

LAYOUTS = ("conv", "convT", "dense", "conv1x1_dense", "vector")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One reference tensor: its state_dict key, the Keras variable it fills, its layout."""

    key: str
    variable: object
    layout: str

    @property
    def torch_shape(self):
        """Shape the reference stores this tensor with (derived from the Keras variable)."""
        s = tuple(self.variable.shape)
        if self.layout in ("conv", "convT"):
            return (s[3], s[2], s[0], s[1])
        if self.layout == "dense":
            return (s[1], s[0])
        if self.layout == "conv1x1_dense":
            return (s[1], s[0], 1, 1)
        return s

    def to_keras(self, value):
        """Torch-layout array -> float32 array in the Keras variable's layout."""
        value = np.asarray(value, dtype="float32")
        if self.layout in ("conv", "convT"):
            return value.transpose(2, 3, 1, 0)
        if self.layout == "dense":
            return value.T
        if self.layout == "conv1x1_dense":
            return value[:, :, 0, 0].T
        return value


@dataclasses.dataclass
class KeyMap:
    """Reference keys of one model: ``entries`` (one per Keras variable, in model order) and
    ``skippable``, keys a reference checkpoint may hold that carry nothing i2ilab uses
    (BatchNorm ``num_batches_tracked``, InstanceNorm running buffers of pre-0.4 checkpoints, the
    never-used running buffers of MUNIT's AdaIN)."""

    family: str
    entries: list
    skippable: set

    def by_key(self):
        return {e.key: e for e in self.entries}


class _Builder:
    def __init__(self, family):
        self.family = family
        self.entries = []
        self.skippable = set()

    def add(self, key, variable, layout):
        self.entries.append(Entry(key, variable, layout))

    def conv(self, prefix, conv, layout="conv"):
        """A Conv2D / Conv2DTranspose / Dense layer stored as ``<prefix>.weight/.bias``."""
        self.add(f"{prefix}.weight", conv.kernel, layout)
        if conv.use_bias:
            self.add(f"{prefix}.bias", conv.bias, "vector")

    def norm(self, prefix, layer):
        """The normalisation layer ``layer`` stored under ``prefix`` (None: nothing)."""
        if layer is None:
            return
        if isinstance(layer, keras.layers.BatchNormalization):
            if not (layer.center and layer.scale):
                raise ValueError(f"{layer.path}: BatchNorm without gamma/beta has no reference.")
            self.add(f"{prefix}.weight", layer.gamma, "vector")
            self.add(f"{prefix}.bias", layer.beta, "vector")
            self.add(f"{prefix}.running_mean", layer.moving_mean, "vector")
            self.add(f"{prefix}.running_var", layer.moving_variance, "vector")
            self.skippable.add(f"{prefix}.num_batches_tracked")
        elif isinstance(layer, InstanceNormalization):
            if layer.affine:
                self.add(f"{prefix}.weight", layer.gamma, "vector")
                self.add(f"{prefix}.bias", layer.beta, "vector")
            # torch < 0.4 InstanceNorm kept running statistics it never used in training mode.
            for buf in ("running_mean", "running_var", "num_batches_tracked"):
                self.skippable.add(f"{prefix}.{buf}")
        elif isinstance(layer, MUNITLayerNorm):
            self.add(f"{prefix}.gamma", layer.gamma, "vector")
            self.add(f"{prefix}.beta", layer.beta, "vector")
        else:
            raise ValueError(f"{layer.path}: no reference key layout for {type(layer).__name__}.")

    def block(self, conv_prefix, norm_prefix, block):
        """A ConvBlock / ConvTransposeBlock: its conv, then its norm."""
        layout = "convT" if isinstance(block, ConvTransposeBlock) else "conv"
        self.conv(conv_prefix, block.conv, layout)
        self.norm(norm_prefix, block.norm_layer)

    def result(self):
        return KeyMap(self.family, self.entries, self.skippable)


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _unet(model):
    """junyanz ``UnetGenerator``: ``self.model`` is the outermost ``UnetSkipConnectionBlock``;
    each block's ``nn.Sequential`` is ``model.*`` and nests the next block at index 1
    (outermost) or 3 (others). Indices inside a block:
    outermost [downconv 0, sub 1, relu 2, upconv 3, tanh 4];
    innermost [lrelu 0, downconv 1, relu 2, upconv 3, upnorm 4];
    middle [lrelu 0, downconv 1, downnorm 2, sub 3, relu 4, upconv 5, upnorm 6, (dropout 7)]."""
    if not any(layer.name.startswith("skip") for layer in model.layers):
        raise ValueError(
            f"model {model.name!r} has no skip connections: the encoder-decoder ablation has no "
            "reference checkpoint format."
        )
    b = _Builder("unet")
    n = len(_layers_of(model, UNetDown))
    for i in range(n):
        down, up = model.get_layer(f"down{i}"), model.get_layer(f"up{i}")
        prefix = "model.model." if i == 0 else "model.model.1.model." + "3.model." * (i - 1)
        if down.outermost:
            idx = dict(down=0, down_norm=None, up=3, up_norm=None)
        elif down.innermost:
            idx = dict(down=1, down_norm=None, up=3, up_norm=4)
        else:
            idx = dict(down=1, down_norm=2, up=5, up_norm=6)
        b.conv(f"{prefix}{idx['down']}", down.conv)
        if down.norm_layer is not None:
            b.norm(f"{prefix}{idx['down_norm']}", down.norm_layer)
        b.conv(f"{prefix}{idx['up']}", up.up.conv, "convT")
        if up.up.norm_layer is not None:
            b.norm(f"{prefix}{idx['up_norm']}", up.up.norm_layer)
    return b.result()


def _resnet(model):
    """junyanz ``ResnetGenerator``: one ``nn.Sequential`` ``model.*``:
    [pad 0, conv 1, norm 2, relu 3], per downsampling [conv, norm, relu], one index per residual
    block (``conv_block.1`` conv, ``.2`` norm, ``.5``/``.6`` second conv (``.6`` with dropout),
    then its norm), per upsampling [convT, norm, relu], then [pad, conv, tanh]."""
    b = _Builder("resnet")
    n_down = sum(1 for layer in model.layers if layer.name.startswith("down"))
    res = _layers_of(model, ResnetBlock)
    n_up = len(_layers_of(model, ConvTransposeBlock))
    stem = model.get_layer("stem")
    b.block("model.1", "model.2", stem)
    idx = 4
    for i in range(n_down):
        b.block(f"model.{idx}", f"model.{idx + 1}", model.get_layer(f"down{i}"))
        idx += 3
    for j in range(len(res)):
        block = model.get_layer(f"res{j}")
        second = 6 if block.drop is not None else 5
        b.block(f"model.{idx}.conv_block.1", f"model.{idx}.conv_block.2", block.conv1)
        b.block(f"model.{idx}.conv_block.{second}", f"model.{idx}.conv_block.{second + 1}", block.conv2)
        idx += 1
    for i in range(n_up):
        b.block(f"model.{idx}", f"model.{idx + 1}", model.get_layer(f"up{i}"))
        idx += 3
    b.block(f"model.{idx + 1}", None, model.get_layer("head"))
    return b.result()


def _patchgan(model):
    """junyanz ``NLayerDiscriminator``: ``model.*`` = [conv 0, lrelu 1], per further layer
    [conv, norm, lrelu], then the 1-channel conv. ``PixelDiscriminator``: ``net.*`` =
    [conv 0, lrelu 1, conv 2, norm 3, lrelu 4, conv 5]."""
    b = _Builder("patchgan")
    conv0, logits = model.get_layer("conv0"), model.get_layer("logits")
    n_layers = len(_layers_of(model, ConvBlock)) - 2
    if conv0.kernel_size == 1:
        b.block("net.0", None, conv0)
        b.block("net.2", "net.3", model.get_layer("conv1"))
        b.block("net.5", None, logits)
        return b.result()
    b.block("model.0", None, conv0)
    for i in range(1, n_layers + 1):
        b.block(f"model.{3 * i - 1}", f"model.{3 * i}", model.get_layer(f"conv{i}"))
    b.block(f"model.{3 * n_layers + 2}", None, logits)
    return b.result()


def _munit_block(b, prefix, block):
    """MUNIT ``Conv2dBlock``: ``<prefix>.conv.*`` and ``<prefix>.norm.*``."""
    b.block(f"{prefix}.conv", f"{prefix}.norm", block)


def _munit_generator(model):
    """MUNIT ``AdaINGen``: ``enc_style``, ``enc_content``, ``dec``, ``mlp``.

    StyleEncoder ``model.*`` = [Conv2dBlock x (1 + n_down), AdaptiveAvgPool, Conv2d 1x1];
    ContentEncoder ``model.*`` = [Conv2dBlock x (1 + n_down), ResBlocks] with
    ``ResBlocks.model.<j>.model.<0|1>`` Conv2dBlocks; Decoder ``model.*`` = [ResBlocks (AdaIN),
    per upsampling (Upsample, Conv2dBlock with LayerNorm), Conv2dBlock]; MLP ``model.<i>.fc``.
    """
    b = _Builder("munit")
    se, ce, dec, mlp = model.style_encoder, model.content_encoder, model.decoder, model.mlp

    n_style_down = sum(1 for layer in se.layers if layer.name.startswith("down"))
    _munit_block(b, "enc_style.model.0", se.get_layer("stem"))
    for i in range(n_style_down):
        _munit_block(b, f"enc_style.model.{i + 1}", se.get_layer(f"down{i}"))
    b.conv(f"enc_style.model.{n_style_down + 2}", se.get_layer("style"), "conv1x1_dense")

    n_down = sum(1 for layer in ce.layers if layer.name.startswith("down"))
    _munit_block(b, "enc_content.model.0", ce.get_layer("stem"))
    for i in range(n_down):
        _munit_block(b, f"enc_content.model.{i + 1}", ce.get_layer(f"down{i}"))
    for j, block in enumerate(_layers_of(ce, ResnetBlock)):
        prefix = f"enc_content.model.{n_down + 1}.model.{j}.model"
        _munit_block(b, f"{prefix}.0", block.conv1)
        _munit_block(b, f"{prefix}.1", block.conv2)

    for j, block in enumerate(_layers_of(dec, AdaINResBlock)):
        prefix = f"dec.model.0.model.{j}.model"
        for k, conv in enumerate((block.conv1, block.conv2)):
            _munit_block(b, f"{prefix}.{k}", conv)
            # AdaIN's running buffers: registered by the reference, never used.
            b.skippable.update({f"{prefix}.{k}.norm.running_mean", f"{prefix}.{k}.norm.running_var"})
    n_up = sum(1 for layer in dec.layers if isinstance(layer, UpsampleConvBlock))
    for i in range(n_up):
        _munit_block(b, f"dec.model.{2 * i + 2}", dec.get_layer(f"up{i}"))
    _munit_block(b, f"dec.model.{2 * n_up + 1}", dec.get_layer("head"))

    dense = _layers_of(mlp, keras.layers.Dense)
    for i, layer in enumerate(dense):
        b.conv(f"mlp.model.{i}.fc", layer, "dense")
    return b.result()


def _munit_discriminator(model):
    """MUNIT ``MsImageDis``: ``cnns.<s>`` = [Conv2dBlock x n_layer, Conv2d 1x1] per scale."""
    b = _Builder("munit_dis")
    s = 0
    while any(layer.name == f"scale{s}_logits" for layer in model.layers):
        n_layer = sum(1 for layer in model.layers if layer.name.startswith(f"scale{s}_conv"))
        for i in range(n_layer):
            _munit_block(b, f"cnns.{s}.{i}", model.get_layer(f"scale{s}_conv{i}"))
        b.block(f"cnns.{s}.{n_layer}", None, model.get_layer(f"scale{s}_logits"))
        s += 1
    return b.result()


# --- the unpaired family: UNIT and CUT ----------------------------------------------


def _unit_generator(model):
    """UNIT ``VAEGen``: ``enc`` = MUNIT's ContentEncoder (``enc.model.*``: Conv2dBlocks, then
    ``ResBlocks.model.<j>.model.<0|1>``); ``dec.model.*`` = [ResBlocks (IN), per upsampling
    (Upsample, Conv2dBlock with LayerNorm), Conv2dBlock]."""
    b = _Builder("unit")
    enc, dec = model.encoder, model.decoder
    n_down = sum(1 for layer in enc.layers if layer.name.startswith("down"))
    _munit_block(b, "enc.model.0", enc.get_layer("stem"))
    for i in range(n_down):
        _munit_block(b, f"enc.model.{i + 1}", enc.get_layer(f"down{i}"))
    for j, block in enumerate(_layers_of(enc, ResnetBlock)):
        _munit_block(b, f"enc.model.{n_down + 1}.model.{j}.model.0", block.conv1)
        _munit_block(b, f"enc.model.{n_down + 1}.model.{j}.model.1", block.conv2)
    for j, block in enumerate(_layers_of(dec, ResnetBlock)):
        _munit_block(b, f"dec.model.0.model.{j}.model.0", block.conv1)
        _munit_block(b, f"dec.model.0.model.{j}.model.1", block.conv2)
    n_up = len(_layers_of(dec, UpsampleConvBlock))
    for i in range(n_up):
        _munit_block(b, f"dec.model.{2 * i + 2}", dec.get_layer(f"up{i}"))
    _munit_block(b, f"dec.model.{2 * n_up + 1}", dec.get_layer("head"))
    return b.result()


def _cut_generator(model):
    """CUT ``ResnetGenerator`` (anti-aliased): ``model.<i>`` with i the position in the reference
    Sequential (:func:`i2ilab.models.cut.cut_layer_names`); convs ``model.<i>.*``, residual blocks
    ``model.<i>.conv_block.{1,5}.*``; the blur layers' fixed ``model.<i>.filt`` buffers carry
    nothing to load (skippable; ``tests/test_parity_cut.py`` checks their values)."""
    from i2ilab.models.cut import BlurDownsample, BlurUpsample, cut_layer_names

    b = _Builder("cut")
    n_blocks = len(_layers_of(model, ResnetBlock))
    n_down = len(_layers_of(model, BlurDownsample))
    for i, name in enumerate(cut_layer_names(n_blocks, n_down)):
        layer = model.get_layer(name)
        if isinstance(layer, ResnetBlock):
            b.block(f"model.{i}.conv_block.1", f"model.{i}.conv_block.2", layer.conv1)
            b.block(f"model.{i}.conv_block.5", f"model.{i}.conv_block.6", layer.conv2)
        elif isinstance(layer, ConvBlock):
            b.block(f"model.{i}", None, layer)
        elif isinstance(layer, (BlurDownsample, BlurUpsample)):
            b.skippable.add(f"model.{i}.filt")
        elif isinstance(layer, InstanceNormalization):
            b.norm(f"model.{i}", layer)
    return b.result()


def _cut_discriminator(model):
    """CUT ``NLayerDiscriminator`` (anti-aliased): ``model.*`` = [conv 0, lrelu 1, blur 2], per
    further strided layer [conv, norm, lrelu, blur], [conv, norm, lrelu], the 1-channel conv."""
    b = _Builder("cut_dis")
    n_layers = len([layer for layer in model.layers if isinstance(layer, ConvBlock)]) - 2
    b.block("model.0", None, model.get_layer("conv0"))
    b.skippable.add("model.2.filt")
    for i in range(1, n_layers):
        b.block(f"model.{4 * i - 1}", f"model.{4 * i}", model.get_layer(f"conv{i}"))
        b.skippable.add(f"model.{4 * i + 2}.filt")
    b.block(f"model.{4 * n_layers - 1}", f"model.{4 * n_layers}", model.get_layer(f"conv{n_layers}"))
    b.block(f"model.{4 * n_layers + 2}", None, model.get_layer("logits"))
    return b.result()


def _patch_sample_f(model):
    """CUT ``PatchSampleF`` (mlp_sample): ``mlp_<i>`` = Sequential(Linear 0, ReLU 1, Linear 2)."""
    b = _Builder("cut_f")
    for i, (first, second) in enumerate(model.mlps):
        b.conv(f"mlp_{i}.0", first, "dense")
        b.conv(f"mlp_{i}.2", second, "dense")
    return b.result()


def model_family(model):
    """Which reference network ``model`` mirrors: "unet", "resnet", "patchgan", "munit",
    "munit_dis", "bicycle_unet", "bicycle_encoder", "bicycle_d", the pix2pixHD networks, "unit",
    "cut", "cut_dis", "cut_f"; ValueError for anything else."""
    from i2ilab.models.cut import PatchSampleF
    from i2ilab.models.munit import MUNITGenerator
    from i2ilab.models.unit import VAEGen

    if isinstance(model, MUNITGenerator):
        return "munit"
    if isinstance(model, VAEGen):
        return "unit"
    if isinstance(model, PatchSampleF):
        return "cut_f"
    names = {layer.name for layer in model.layers}
    bicycle = _bicycle_family(model, names)
    if bicycle is not None:
        return bicycle
    if "stem_pad" in names and "head_tanh" in names:
        return "cut"
    if "conv0_blur" in names and "logits" in names:
        return "cut_dis"
    if _layers_of(model, UNetDown) and _layers_of(model, UNetUp):
        return "unet"
    if "stem" in names and "head" in names and _layers_of(model, ResnetBlock):
        return "resnet"
    if "conv0" in names and "logits" in names:
        return "patchgan"
    if "scale0_logits" in names:
        return "munit_dis"
    if _p2phd_family(names):
        return _p2phd_family(names)
    raise ValueError(
        f"model {model.name!r} is not an i2ilab reference network (unet_generator, "
        "resnet_generator, patch_discriminator, munit_generator, multiscale_discriminator, the "
        "BicycleGAN and pix2pixHD networks, vae_generator, cut_generator, cut_discriminator, "
        "patch_sample_f)."
    )


_WALKERS = {
    "unet": _unet,
    "resnet": _resnet,
    "patchgan": _patchgan,
    "munit": _munit_generator,
    "munit_dis": _munit_discriminator,
    "unit": _unit_generator,
    "cut": _cut_generator,
    "cut_dis": _cut_discriminator,
    "cut_f": _patch_sample_f,
}


# --- BicycleGAN (junyanz/BicycleGAN models/networks.py) -------------------------------------


def _bicycle_family(model, names):
    from i2ilab.models.bicyclegan import EncoderBasicBlock, TileConcat

    if _layers_of(model, TileConcat):
        return "bicycle_unet"
    if "mu" in names and "logvar" in names and ("conv0" in names or _layers_of(model, EncoderBasicBlock)):
        return "bicycle_encoder"
    n_scales = sum(1 for name in names if name.endswith("_logits"))
    if "d0_logits" in names and len(model.outputs) == n_scales:  # pix2pixHD's D also returns features
        return "bicycle_d"
    return None


def _bicycle_unet(model):
    """``G_Unet_add_all``: nested ``UnetBlock_with_z`` modules, level i at ``model.`` +
    ``submodule.`` * i, each with ``down`` = [(LReLU 0), conv, (norm)] and ``up`` = [ReLU 0,
    convT 1, norm 2 / tanh]: the outermost down conv is ``down.0``, the others ``down.1``.
    ``G_Unet_add_input`` (z at the input only) nests pix2pix-style ``UnetBlock`` modules whose
    ``model`` Sequentials have the indices of junyanz's U-Net, so its keys are :func:`_unet`'s."""
    if "z1" not in {layer.name for layer in model.layers}:
        keymap = _unet(model)
        keymap.family = "bicycle_unet"
        return keymap
    b = _Builder("bicycle_unet")
    n = len(_layers_of(model, UNetDown))
    for i in range(n):
        down, up = model.get_layer(f"down{i}"), model.get_layer(f"up{i}")
        prefix = "model." + "submodule." * i
        b.conv(f"{prefix}down.{0 if down.outermost else 1}", down.conv)
        b.norm(f"{prefix}down.2", down.norm_layer)
        b.conv(f"{prefix}up.1", up.up.conv, "convT")
        b.norm(f"{prefix}up.2", up.up.norm_layer)
    return b.result()


def _bicycle_encoder(model):
    """``E_ResNet``: ``fc.0`` (mu) and ``fcVar.0`` (logvar) Linear layers; ``conv.0`` the first
    conv, ``conv.<k>`` the BasicBlocks: ``conv.<k>.conv`` = [IN 0, LReLU 1, conv3x3 2, IN 3,
    LReLU 4, convMeanpool 5 = [conv3x3 0, pool 1]] and ``conv.<k>.shortcut`` = [pool 0, conv1x1 1]."""
    from i2ilab.models.bicyclegan import EncoderBasicBlock

    b = _Builder("bicycle_encoder")
    b.conv("fc.0", model.get_layer("mu"), "dense")
    b.conv("fcVar.0", model.get_layer("logvar"), "dense")
    b.block("conv.0", None, model.get_layer("conv0"))
    for k in range(1, len(_layers_of(model, EncoderBasicBlock)) + 1):
        block = model.get_layer(f"block{k}")
        b.norm(f"conv.{k}.conv.0", block.norm)
        b.block(f"conv.{k}.conv.2", f"conv.{k}.conv.3", block.conv1)
        b.block(f"conv.{k}.conv.5.0", None, block.conv2)
        b.block(f"conv.{k}.shortcut.1", None, block.shortcut)
    return b.result()


def _bicycle_discriminator(model):
    """``D_NLayersMulti``: scale s is ``model_<s>`` (``model`` when num_D is 1), an
    ``nn.Sequential`` [conv 0, lrelu 1, per further layer [conv, norm, lrelu], logits conv]."""
    b = _Builder("bicycle_d")
    names = {layer.name for layer in model.layers}
    num_d = sum(1 for name in names if name.endswith("_logits"))
    for s in range(num_d):
        root = "model" if num_d == 1 else f"model_{s}"
        n_layers = sum(1 for name in names if name.startswith(f"d{s}_conv")) - 1
        b.block(f"{root}.0", None, model.get_layer(f"d{s}_conv0"))
        for i in range(1, n_layers + 1):
            b.block(f"{root}.{3 * i - 1}", f"{root}.{3 * i}", model.get_layer(f"d{s}_conv{i}"))
        b.block(f"{root}.{3 * n_layers + 2}", None, model.get_layer(f"d{s}_logits"))
    return b.result()


_WALKERS.update(
    bicycle_unet=_bicycle_unet,
    bicycle_encoder=_bicycle_encoder,
    bicycle_d=_bicycle_discriminator,
)


#: Registry families (:mod:`i2ilab.models.registry`) that have a torch key map, so ``convert``
#: offers their model types. DiscoGAN, DistanceGAN, DualGAN and OST have no key map: no official
#: checkpoint of theirs is known to the course's reference notes (``seeds/``), nor a fixture.
CONVERTIBLE_FAMILIES = frozenset(
    {
        "unet",
        "resnet",
        "patchgan",
        "munit",
        "munit_dis",
        "bicycle_unet",
        "bicycle_encoder",
        "bicycle_d",
        "pix2pixhd_global",
        "pix2pixhd_local",
        "pix2pixhd_dis",
        "pix2pixhd_encoder",
        "unit",
        "unit_dis",
        "cut",
        "cut_dis",
    }
)


def torch_key_map(model):
    """KeyMap of a built i2ilab model: the reference key and layout of each of its variables.

    Also checks that the walk covered every variable of the model exactly once, so a converted
    model never keeps a randomly initialised weight.
    """
    keymap = _WALKERS[model_family(model)](model)
    seen = {}
    for e in keymap.entries:
        if e.key in seen:
            raise AssertionError(f"reference key {e.key!r} generated twice")
        seen[e.key] = e
    mapped = [id(e.variable) for e in keymap.entries]
    if len(set(mapped)) != len(mapped):
        raise AssertionError("a Keras variable is mapped to two reference keys")
    missing = [v.path for v in model.weights if id(v) not in set(mapped)]
    if missing or len(mapped) != len(model.weights):
        raise AssertionError(f"variables without a reference key: {missing}")
    return keymap


# --- pix2pixHD (NVIDIA/pix2pixHD models/networks.py) -----------------------------------------


def _count(model, prefix):
    return sum(1 for layer in model.layers if layer.name.startswith(prefix))


def _p2phd_trunk(b, model, prefix="model"):
    """``GlobalGenerator.model``: [pad 0, conv 1, norm 2, relu 3], per downsampling [conv, norm,
    relu], one index per residual block (``conv_block.1`` and ``.5``), per upsampling [convT,
    norm, relu]. Returns the next free index (the output ReflectionPad's)."""
    n_down, n_res = _count(model, "g_down"), _count(model, "g_res")
    b.block(f"{prefix}.1", None, model.get_layer("g_stem"))
    idx = 4
    for i in range(n_down):
        b.block(f"{prefix}.{idx}", None, model.get_layer(f"g_down{i}"))
        idx += 3
    for j in range(n_res):
        block = model.get_layer(f"g_res{j}")
        b.block(f"{prefix}.{idx}.conv_block.1", None, block.conv1)
        b.block(f"{prefix}.{idx}.conv_block.5", None, block.conv2)
        idx += 1
    for i in range(n_down):
        b.block(f"{prefix}.{idx}", None, model.get_layer(f"g_up{i}"))
        idx += 3
    return idx


def _p2phd_global(model):
    """pix2pixHD ``GlobalGenerator``: the trunk, then [pad, conv 7x7, tanh]."""
    b = _Builder("pix2pixhd_global")
    idx = _p2phd_trunk(b, model)
    b.block(f"model.{idx + 1}", None, model.get_layer("g_head"))
    return b.result()


def _p2phd_local(model):
    """pix2pixHD ``LocalEnhancer``: ``model.*`` the global trunk (no output layer);
    ``model<n>_1`` = [pad 0, conv 1, norm 2, relu 3, conv 4, norm 5, relu 6];
    ``model<n>_2`` = [res blocks 0..k-1, convT k, norm, relu, (pad k+3, conv k+4, tanh)]."""
    b = _Builder("pix2pixhd_local")
    _p2phd_trunk(b, model)
    n_enh = _count(model, "downsample")
    for n in range(1, n_enh + 1):
        b.block(f"model{n}_1.1", None, model.get_layer(f"l{n}_stem"))
        b.block(f"model{n}_1.4", None, model.get_layer(f"l{n}_down"))
        n_res = _count(model, f"l{n}_res")
        for j in range(n_res):
            block = model.get_layer(f"l{n}_res{j}")
            b.block(f"model{n}_2.{j}.conv_block.1", None, block.conv1)
            b.block(f"model{n}_2.{j}.conv_block.5", None, block.conv2)
        b.block(f"model{n}_2.{n_res}", None, model.get_layer(f"l{n}_up"))
        if n == n_enh:
            b.block(f"model{n}_2.{n_res + 4}", None, model.get_layer(f"l{n}_head"))
    return b.result()


def _p2phd_dis(model):
    """pix2pixHD ``MultiscaleDiscriminator`` (getIntermFeat): ``scale<k>_layer<j>.0`` is layer
    group j's conv. Output scale s (s = 0 full resolution) uses the modules of
    ``scale<num_D - 1 - s>``: the reference's key order runs opposite to its outputs."""
    b = _Builder("pix2pixhd_dis")
    num_d = sum(1 for layer in model.layers if layer.name.startswith("d") and layer.name.endswith("_logits"))
    for s in range(num_d):
        n_conv = _count(model, f"d{s}_conv")
        k = num_d - 1 - s
        for j in range(n_conv):
            b.block(f"scale{k}_layer{j}.0", None, model.get_layer(f"d{s}_conv{j}"))
        b.block(f"scale{k}_layer{n_conv}.0", None, model.get_layer(f"d{s}_logits"))
    return b.result()


def _p2phd_encoder(model):
    """pix2pixHD ``Encoder``: ``model.*`` = [pad 0, conv 1, norm 2, relu 3], per downsampling
    [conv, norm, relu], per upsampling [convT, norm, relu], then [pad, conv 7x7, tanh]."""
    b = _Builder("pix2pixhd_encoder")
    n = _count(model, "e_down")
    b.block("model.1", None, model.get_layer("e_stem"))
    for i in range(n):
        b.block(f"model.{4 + 3 * i}", None, model.get_layer(f"e_down{i}"))
    for i in range(n):
        b.block(f"model.{4 + 3 * n + 3 * i}", None, model.get_layer(f"e_up{i}"))
    b.block(f"model.{4 + 6 * n + 1}", None, model.get_layer("e_head"))
    return b.result()


def _p2phd_family(names):
    """The pix2pixHD family of a model from its layer names, or None."""
    if "g_stem" in names and "g_head" in names:
        return "pix2pixhd_global"
    if "g_stem" in names and "l1_stem" in names:
        return "pix2pixhd_local"
    if "d0_logits" in names:
        return "pix2pixhd_dis"
    if "e_stem" in names and "instance_pool" in names:
        return "pix2pixhd_encoder"
    return None


_WALKERS.update(
    {
        "pix2pixhd_global": _p2phd_global,
        "pix2pixhd_local": _p2phd_local,
        "pix2pixhd_dis": _p2phd_dis,
        "pix2pixhd_encoder": _p2phd_encoder,
    }
)
