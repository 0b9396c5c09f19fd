"""Checking a reference state dict against an i2ilab model, loading it, building converted models."""

import pathlib
import re

import numpy as np

from i2ilab.convert.io import load_state_dict
from i2ilab.convert.keymap import torch_key_map
from i2ilab.models.registry import FAMILY_ARGS, MODEL_TYPES, build_model, family_of  # re-exported


class CheckpointMismatchError(ValueError):
    """A state dict does not fit the model. ``key``, ``shape`` (None: key missing from the
    checkpoint) and ``expected`` (None: key unknown to the model) describe the first mismatch;
    ``problems`` lists all of them as (key, shape, expected)."""

    def __init__(self, message, problems):
        super().__init__(message)
        self.problems = problems
        self.key, self.shape, self.expected = problems[0]


def _fmt(shape):
    return "missing" if shape is None else str(tuple(int(d) for d in shape))


def find_mismatches(keymap, state_dict):
    """[(key, checkpoint shape or None, expected shape or None)]: wrong shapes and unknown keys
    in checkpoint order, then keys the checkpoint lacks in model order. Empty list: it fits."""
    expected = keymap.by_key()
    problems = []
    for key, value in state_dict.items():
        shape = tuple(np.shape(value))
        if key in expected:
            want = tuple(expected[key].torch_shape)
            if shape != want:
                problems.append((key, shape, want))
            elif not np.issubdtype(np.asarray(value).dtype, np.floating):
                problems.append((key, shape, want))
        elif key not in keymap.skippable:
            problems.append((key, shape, None))
    problems += [(e.key, None, tuple(e.torch_shape)) for e in keymap.entries if e.key not in state_dict]
    return problems


def _describe(problem):
    key, shape, want = problem
    if shape is None:
        return f"key {key!r} (shape {_fmt(want)}) is missing from the checkpoint"
    if want is None:
        return f"key {key!r} (shape {_fmt(shape)}) is not part of this model"
    if shape == want:
        return f"key {key!r} is not a floating-point tensor"
    return f"key {key!r} has shape {_fmt(shape)}, expected {_fmt(want)}"


def check_state_dict(model, state_dict, description=None, hint=None):
    """Raise CheckpointMismatchError unless ``state_dict`` fills every variable of ``model``
    exactly: each expected key present once with its shape, nothing left over but skippable
    buffers. The message names the first mismatch. Returns the model's KeyMap."""
    keymap = torch_key_map(model)
    problems = find_mismatches(keymap, state_dict)
    if problems:
        what = description or f"model {model.name!r}"
        lines = [f"The checkpoint does not fit {what}: {_describe(problems[0])}."]
        if len(problems) > 1:
            more = "; ".join(_describe(p) for p in problems[1:4])
            lines.append(f"{len(problems) - 1} more mismatch(es), e.g. {more}.")
        if hint:
            lines.append(hint)
        raise CheckpointMismatchError(" ".join(lines), problems)
    return keymap


def load_weights(model, state_dict, description=None, hint=None):
    """Check ``state_dict`` (torch layout) against ``model`` and copy every tensor into it.
    Returns the model."""
    keymap = check_state_dict(model, state_dict, description, hint)
    for entry in keymap.entries:
        entry.variable.assign(entry.to_keras(state_dict[entry.key]))
    return model


# --- inferring the architecture from the key names and shapes -------------------------------


def _shape(state, key):
    if key not in state:
        raise KeyError(key)
    return tuple(np.shape(state[key]))


def _norm_from_keys(state):
    """BatchNorm (affine, with running stats) leaves 1-D ``.weight`` tensors; junyanz's
    InstanceNorm (affine=False) leaves none."""
    has_bn = any(k.endswith(".weight") and len(np.shape(v)) == 1 for k, v in state.items())
    return "batch" if has_bn else "instance"


def _indices(state, pattern):
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state for m in [rx.fullmatch(k)] if m})


def _convs(state, prefix):
    """Indices i of the 4-D ``<prefix>.<i>.weight`` tensors (plain convs of a Sequential)."""
    rx = re.escape(prefix) + r"\.(\d+)\.weight"
    return [i for i in _indices(state, rx) if len(_shape(state, f"{prefix}.{i}.weight")) == 4]


def _blocks(state, prefix):
    """Indices of the residual blocks ``<prefix>.<i>.conv_block.1.weight`` of a Sequential."""
    return _indices(state, re.escape(prefix) + r"\.(\d+)\.conv_block\.1\.weight")


def _require(condition, what):
    if not condition:
        raise KeyError(what)


def _resnet_layout(state, prefix, head):
    """junyanz ``ResnetGenerator`` / pix2pixHD ``GlobalGenerator`` Sequential ``<prefix>.*``:
    conv 1, n stride-2 convs at 4, 7, ..., the residual blocks one index each, n transposed
    convs three apart, then (``head``) the output conv after its ReflectionPad. Checks that the
    conv indices are exactly these; returns (conv indices, block indices, n)."""
    plain, blocks = _convs(state, prefix), _blocks(state, prefix)
    n = (len(plain) - (2 if head else 1)) // 2
    nb = len(blocks)
    expected = [1] + [4 + 3 * i for i in range(n)] + [4 + 3 * n + nb + 3 * i for i in range(n)]
    expected += [4 + 6 * n + nb + 1] if head else []
    _require(plain == expected and blocks == list(range(4 + 3 * n, 4 + 3 * n + nb)), f"{prefix}.1.weight")
    return plain, blocks, n


def _patch_layers(state, prefix, step):
    """n_layers of a PatchGAN Sequential ``<prefix>.*``: conv 0, conv i = 1..n at ``step * i - 1``
    (junyanz: 3, [conv, norm, lrelu]; CUT's anti-aliased D: 4, a blur after each), the logits
    conv at ``step * n + 2``. Checks the indices."""
    convs = _convs(state, prefix)
    n = len(convs) - 2
    expected = [0] + [step * i - 1 for i in range(1, n + 1)] + [step * n + 2]
    _require(n >= 0 and convs == expected, f"{prefix}.0.weight")
    return n


def _bicycle_unet(state):
    """``G_Unet_add_all``: nz = the second level's input width minus ngf. ``G_Unet_add_input``
    (junyanz U-Net keys) stores only in_channels + nz: nz is taken as the reference's --nz 8."""
    if "model.down.0.weight" not in state:
        unet = _infer(state, "unet")
        _require(unet["in_channels"] > 8 and unet["norm"] == "instance", "model.down.0.weight")
        return dict(
            in_channels=unet["in_channels"] - 8,
            out_channels=unet["out_channels"],
            nz=8,
            ngf=unet["ngf"],
            num_downs=unet["num_downs"],
            where_add="input",
        )
    first = _shape(state, "model.down.0.weight")
    nz = _shape(state, "model.submodule.down.1.weight")[1] - first[0]
    levels = sum(1 for k in state if re.fullmatch(r"model\.(submodule\.)*down\.[01]\.weight", k))
    return dict(
        in_channels=first[1] - nz,
        out_channels=_shape(state, "model.up.1.weight")[1],
        nz=nz,
        ngf=first[0],
        num_downs=levels,
        where_add="all",
    )


def _bicycle_encoder(state):
    first, mu = _shape(state, "conv.0.weight"), _shape(state, "fc.0.weight")
    _require(_shape(state, "fcVar.0.weight") == mu, "fcVar.0.weight")
    blocks = _indices(state, r"conv\.(\d+)\.conv\.2\.weight")
    return dict(in_channels=first[1], nz=mu[0], ndf=first[0], n_blocks=len(blocks) + 1)


def _bicycle_d(state):
    """``D_NLayersMulti``: ``model_<s>`` per scale, ``model`` alone when num_D is 1."""
    scales = _indices(state, r"model_(\d+)\.0\.weight")
    root = "model_0" if scales else "model"
    first = _shape(state, f"{root}.0.weight")
    return dict(
        in_channels=first[1], ndf=first[0], n_layers=_patch_layers(state, root, step=3), num_D=max(1, len(scales))
    )


def _p2phd_global(state):
    first = _shape(state, "model.1.weight")
    plain, blocks, n = _resnet_layout(state, "model", head=True)
    _require(blocks and not any(k.startswith("model1_") for k in state), "model.<i>.conv_block.1.weight")
    return dict(
        in_channels=first[1],
        out_channels=_shape(state, f"model.{plain[-1]}.weight")[0],
        ngf=first[0],
        n_downsampling=n,
        n_blocks=len(blocks),
        norm=_norm_from_keys(state),
    )


def _p2phd_local(state):
    """``LocalEnhancer``: ``model.*`` the global trunk of width ngf * 2**N without its output conv,
    ``model<n>_1`` / ``model<n>_2`` enhancer n = 1..N; the last one holds the output conv."""
    enhancers = _indices(state, r"model(\d+)_1\.1\.weight")
    n_enh = len(enhancers)
    _require(enhancers == list(range(1, n_enh + 1)) and n_enh, "model1_1.1.weight")
    first = _shape(state, "model.1.weight")
    _, blocks, n = _resnet_layout(state, "model", head=False)
    n_local = len(_blocks(state, f"model{n_enh}_2"))
    return dict(
        in_channels=first[1],
        out_channels=_shape(state, f"model{n_enh}_2.{n_local + 4}.weight")[0],
        ngf=_shape(state, f"model{n_enh}_1.1.weight")[0],
        n_downsample_global=n,
        n_blocks_global=len(blocks),
        n_local_enhancers=n_enh,
        n_blocks_local=n_local,
        norm=_norm_from_keys(state),
    )


def _p2phd_dis(state):
    """``MultiscaleDiscriminator`` (getIntermFeat): ``scale<k>_layer<j>.0``, n_layers + 2 groups."""
    scales = _indices(state, r"scale(\d+)_layer0\.0\.weight")
    first = _shape(state, "scale0_layer0.0.weight")
    layers = _indices(state, r"scale0_layer(\d+)\.0\.weight")
    _require(len(layers) >= 2, "scale0_layer1.0.weight")
    return dict(
        in_channels=first[1], ndf=first[0], n_layers=len(layers) - 2, num_D=len(scales), norm=_norm_from_keys(state)
    )


def _p2phd_encoder(state):
    """pix2pixHD ``Encoder``: the global generator's layout without residual blocks."""
    first = _shape(state, "model.1.weight")
    plain, blocks, n = _resnet_layout(state, "model", head=True)
    _require(not blocks, "model.1.weight")
    return dict(
        in_channels=first[1],
        out_channels=_shape(state, f"model.{plain[-1]}.weight")[0],
        nef=first[0],
        n_downsampling=n,
        norm=_norm_from_keys(state),
    )


def _unit(state):
    """UNIT ``VAEGen``: ``enc`` (MUNIT's content encoder) and ``dec``; one n_res for both."""
    first = _shape(state, "enc.model.0.conv.weight")
    n_down = len(_indices(state, r"enc\.model\.(\d+)\.conv\.weight")) - 1
    res = _indices(state, rf"enc\.model\.{n_down + 1}\.model\.(\d+)\..*")
    _require(res == _indices(state, r"dec\.model\.0\.model\.(\d+)\..*"), "dec.model.0.model.0.model.0.conv.weight")
    return dict(in_channels=first[1], dim=first[0], n_downsample=n_down, n_res=len(res))


def _cut(state):
    """CUT's anti-aliased ``ResnetGenerator``: conv indices as :func:`cut_layer_names` places them."""
    from i2ilab.models.cut import cut_layer_names

    first = _shape(state, "model.1.weight")
    plain, blocks = _convs(state, "model"), _blocks(state, "model")
    n_down = (len(plain) - 2) // 2
    names = cut_layer_names(len(blocks), n_down)
    convs = [i for i, name in enumerate(names) if re.fullmatch(r"stem|head|(down|up)\d+", name)]
    _require(
        plain == convs and blocks == [i for i, name in enumerate(names) if name.startswith("res")], "model.4.weight"
    )
    return dict(
        in_channels=first[1],
        out_channels=_shape(state, f"model.{plain[-1]}.weight")[0],
        ngf=first[0],
        n_blocks=len(blocks),
        n_downsampling=n_down,
    )


def _cut_dis(state):
    first = _shape(state, "model.0.weight")
    return dict(in_channels=first[1], ndf=first[0], n_layers=_patch_layers(state, "model", step=4))


#: Family -> reader of its factory arguments, for the families added after pix2pix, CycleGAN, MUNIT.
_READERS = {
    "bicycle_unet": _bicycle_unet,
    "bicycle_encoder": _bicycle_encoder,
    "bicycle_d": _bicycle_d,
    "pix2pixhd_global": _p2phd_global,
    "pix2pixhd_local": _p2phd_local,
    "pix2pixhd_dis": _p2phd_dis,
    "pix2pixhd_encoder": _p2phd_encoder,
    "unit": _unit,
    "unit_dis": lambda state: _infer(state, "munit_dis"),
    "cut": _cut,
    "cut_dis": _cut_dis,
}


def _infer(state, family):
    if family == "unet":
        first = _shape(state, "model.model.0.weight")
        out = _shape(state, "model.model.3.weight")
        n4 = sum(1 for v in state.values() if len(np.shape(v)) == 4)
        return dict(
            in_channels=first[1], out_channels=out[1], ngf=first[0], num_downs=n4 // 2, norm=_norm_from_keys(state)
        )
    if family == "resnet":
        first = _shape(state, "model.1.weight")
        plain, blocks, n_down = _resnet_layout(state, "model", head=True)
        dropout = any(
            re.fullmatch(r"model\.\d+\.conv_block\.6\.weight", k) and len(np.shape(v)) == 4 for k, v in state.items()
        )
        return dict(
            in_channels=first[1],
            out_channels=_shape(state, f"model.{plain[-1]}.weight")[0],
            ngf=first[0],
            n_blocks=len(blocks),
            norm=_norm_from_keys(state),
            dropout=dropout,
            n_downsampling=n_down,
        )
    if family == "patchgan":
        if "net.0.weight" in state:
            first = _shape(state, "net.0.weight")
            return dict(in_channels=first[1], ndf=first[0], n_layers=0, norm=_norm_from_keys(state))
        first = _shape(state, "model.0.weight")
        n_layers = _patch_layers(state, "model", step=3)
        return dict(in_channels=first[1], ndf=first[0], n_layers=n_layers, norm=_norm_from_keys(state))
    if family == "munit":
        first = _shape(state, "enc_content.model.0.conv.weight")
        downs = _indices(state, r"enc_content\.model\.(\d+)\.conv\.weight")
        n_down = len(downs) - 1
        res = _indices(state, rf"enc_content\.model\.{n_down + 1}\.model\.(\d+)\..*")
        style = _indices(state, r"enc_style\.model\.(\d+)\.weight")
        return dict(
            in_channels=first[1],
            dim=first[0],
            style_dim=_shape(state, f"enc_style.model.{style[-1]}.weight")[0],
            n_downsample=n_down,
            n_res=len(res),
            mlp_dim=_shape(state, "mlp.model.0.fc.weight")[0],
        )
    if family == "munit_dis":
        first = _shape(state, "cnns.0.0.conv.weight")
        return dict(
            in_channels=first[1],
            dim=first[0],
            n_layer=len(_indices(state, r"cnns\.0\.(\d+)\.conv\.weight")),
            num_scales=len(_indices(state, r"cnns\.(\d+)\..*")),
        )
    if family in _READERS:
        return _READERS[family](state)
    raise ValueError(f"the arguments of {family} networks cannot be read off a checkpoint.")


def _read_family(state, family):
    try:
        args = _infer(state, family)
    except (KeyError, IndexError) as err:
        raise ValueError(
            f"the checkpoint does not look like a {family} network: no key like {err} (first keys: {list(state)[:3]})."
        ) from None
    return {k: (int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v) for k, v in args.items()}


def infer_model_args(state_dict, model_type):
    """Factory arguments of ``model_type``'s family read off a reference state dict's key
    names and shapes, e.g. {'in_channels': 3, 'out_channels': 3, 'ngf': 64, 'num_downs': 8,
    'norm': 'batch'} for pix2pix unet_256. ``dropout`` is returned for the ResNet generator
    only: it moves a key there, while the U-Net's keys are the same with and without dropout.
    A BicycleGAN ``where_add='input'`` generator stores only in_channels + nz (one first conv):
    nz is taken as the reference's ``--nz`` 8 there. Families: unet, resnet, patchgan, munit,
    munit_dis, the BicycleGAN, pix2pixHD, UNIT and CUT networks. Raises ValueError when the
    keys do not look like that family at all (the conv indices are checked against the
    family's layout, so e.g. CUT's anti-aliased generator is not read as a ResNet).
    """
    family, _ = family_of(model_type)
    state = state_dict if isinstance(state_dict, dict) else load_state_dict(state_dict)
    return _read_family(state, family)


def _call_string(model_type, kwargs):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{model_type}({args})"


def convert(source, model_type, domain=None, image_size=256, **model_kwargs):
    """Reference checkpoint -> i2ilab keras.Model with the reference weights.

    Args:
        source: path (.pth/.pt read with torch, .npz without) or a state dict (see
            ``load_state_dict``).
        model_type: one of MODEL_TYPES, e.g. "unet_256" (pix2pix), "resnet_9blocks"
            (CycleGAN), "patchgan" / "pixel" (junyanz D), "munit", "munit_dis",
            "bicycle_unet_256" / "resnet_256" / "basic_256_multi" (BicycleGAN G, E, D),
            "global" / "local" / "pix2pixhd_dis" / "encoder" (pix2pixHD), "unit", "unit_dis",
            "cut" / "cut_dis" (CUT, FastCUT); i2ilab/convert/CHECKPOINTS.md lists the files.
        domain: "a" or "b" for MUNIT's and UNIT's two-domain gen_*.pt / dis_*.pt files.
        image_size: the model's input size (default 256, the size the reference models were
            trained and tested at), or None for a fully convolutional model.
        **model_kwargs: factory arguments (ngf, norm, n_blocks, in_channels, ...); those not
            given keep the factory defaults, which are the references' defaults. They are
            checked, not guessed: a checkpoint of another architecture raises
            CheckpointMismatchError naming the first mismatching key, with the arguments
            ``infer_model_args`` reads off the checkpoint as a hint (or, when the keys are
            not of ``model_type``'s family, the registered families they read as).
    """
    state = load_state_dict(source, domain)
    family, fixed = family_of(model_type)
    model = build_model(model_type, image_size=image_size, **model_kwargs)
    description = _call_string(model_type, {**fixed, **model_kwargs})
    hint = None
    try:
        inferred = infer_model_args(state, model_type)
        hint = (
            f"The checkpoint's keys and shapes look like {family} with {inferred}; "
            "pass those arguments if that is the network you meant."
        )
    except ValueError:
        guesses = []
        for other in FAMILY_ARGS:  # every registered family, in the registry's order
            if other == family:
                continue
            try:
                guesses.append((other, _read_family(state, other)))
            except ValueError:
                continue
        if guesses:
            (other, guess), same = guesses[0], [f for f, _ in guesses[1:]]
            also = f"; the same keys also read as {', '.join(same)}" if same else ""
            hint = f"It looks like a {other} checkpoint ({guess}{also}): check model_type / --model."
    return load_weights(model, state, description, hint)


def save(model, path):
    """Save a converted model as a ``.keras`` file (loadable with keras.saving.load_model once
    i2ilab is imported). Returns the path."""
    path = pathlib.Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"out={path}: the file name must end in .keras (Keras 3 format).")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


__all__ = [
    "CheckpointMismatchError",
    "FAMILY_ARGS",
    "MODEL_TYPES",
    "build_model",
    "check_state_dict",
    "convert",
    "family_of",
    "find_mismatches",
    "infer_model_args",
    "load_weights",
    "save",
]
