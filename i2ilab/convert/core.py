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
        blocks = _indices(state, r"model\.(\d+)\.conv_block\..*")
        plain = _indices(state, r"model\.(\d+)\.weight")
        plain = [i for i in plain if len(_shape(state, f"model.{i}.weight")) == 4]
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
            n_downsampling=(len(plain) - 2) // 2,
        )
    if family == "patchgan":
        if "net.0.weight" in state:
            first = _shape(state, "net.0.weight")
            return dict(in_channels=first[1], ndf=first[0], n_layers=0, norm=_norm_from_keys(state))
        first = _shape(state, "model.0.weight")
        convs = [i for i in _indices(state, r"model\.(\d+)\.weight") if len(_shape(state, f"model.{i}.weight")) == 4]
        return dict(in_channels=first[1], ndf=first[0], n_layers=len(convs) - 2, norm=_norm_from_keys(state))
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
    raise ValueError(f"unknown family {family!r}")


def infer_model_args(state_dict, model_type):
    """Factory arguments of ``model_type``'s family read off a reference state dict's key
    names and shapes, e.g. {'in_channels': 3, 'out_channels': 3, 'ngf': 64, 'num_downs': 8,
    'norm': 'batch'} for pix2pix unet_256. ``dropout`` is returned for the ResNet generator
    only: it moves a key there, while the U-Net's keys are the same with and without dropout.
    Raises ValueError when the keys do not look like that family at all.
    """
    family, _ = family_of(model_type)
    state = state_dict if isinstance(state_dict, dict) else load_state_dict(state_dict)
    try:
        args = _infer(state, family)
    except (KeyError, IndexError) as err:
        raise ValueError(
            f"the checkpoint does not look like a {family} network: no key like {err} (first keys: {list(state)[:3]})."
        ) from None
    return {k: (int(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v) for k, v in args.items()}


def _call_string(model_type, kwargs):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"{model_type}({args})"


def convert(source, model_type, domain=None, image_size=256, **model_kwargs):
    """Reference checkpoint -> i2ilab keras.Model with the reference weights.

    Args:
        source: path (.pth/.pt read with torch, .npz without) or a state dict (see
            ``load_state_dict``).
        model_type: one of MODEL_TYPES, e.g. "unet_256" (pix2pix), "resnet_9blocks"
            (CycleGAN), "patchgan" / "pixel" (junyanz D), "munit", "munit_dis".
        domain: "a" or "b" for MUNIT's two-domain gen_*.pt / dis_*.pt files.
        image_size: the model's input size (default 256, the size the reference models were
            trained and tested at), or None for a fully convolutional model.
        **model_kwargs: factory arguments (ngf, norm, n_blocks, in_channels, ...); those not
            given keep the factory defaults, which are the references' defaults. They are
            checked, not guessed: a checkpoint of another architecture raises
            CheckpointMismatchError naming the first mismatching key, with the arguments
            ``infer_model_args`` reads off the checkpoint as a hint.
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
        others = [t for t in ("unet", "resnet", "patchgan", "munit", "munit_dis") if t != family]
        for other in others:
            try:
                guess = infer_model_args(state, other)
            except ValueError:
                continue
            hint = f"It looks like a {other} checkpoint ({guess}): check model_type / --model."
            break
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
