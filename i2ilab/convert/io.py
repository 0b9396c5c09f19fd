"""Reading reference checkpoints: torch ``.pth`` / ``.pt`` files, ``.npz`` state dicts, dicts."""

import collections
import collections.abc
import pathlib
import zipfile
import zlib

import numpy as np

TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
TORCH_MISSING = (
    "Reading the PyTorch checkpoint {path} needs torch, which is an optional extra of i2ilab: "
    "pip install 'i2ilab[torch]' (or pip install torch). Without torch, convert an .npz state "
    "dict instead (numpy.savez(path, **{{key: tensor.numpy()}}))."
)


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _read_torch(path):
    try:
        import torch
    except ImportError as err:
        raise ImportError(TORCH_MISSING.format(path=path)) from err
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for bad or non-weights files
        raise ValueError(
            f"{path}: torch.load(weights_only=True) failed ({type(err).__name__}: {err}). The "
            "converter reads state dicts of tensors as the reference save functions write them."
        ) from err


def _read_npz(path):
    """The arrays of an ``.npz`` file; ValueError naming the file when it is truncated, not an
    ``.npz`` at all, or holds Python objects (pickled data is never loaded)."""
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path}: not an .npz file (an .npz is a zip archive of arrays, as numpy.savez writes; this one is "
            "truncated, damaged or another kind of file)."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            names = list(f.files)
            if any(n.startswith("state_dict/") for n in names):  # the parity-fixture format
                return {n[len("state_dict/") :]: f[n] for n in names if n.startswith("state_dict/")}
            return {n: f[n] for n in names}
    except ValueError as err:
        if "pickle" not in str(err):
            raise ValueError(f"{path}: not a readable .npz state dict ({err}).") from None
        raise ValueError(
            f"{path}: an entry holds Python objects, not numeric arrays; i2ilab never loads pickled data. "
            "Save the state dict as plain arrays: numpy.savez(path, **{key: tensor.numpy()})."
        ) from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{path}: the .npz file is damaged or truncated ({type(err).__name__}: {err}).") from None


def _select_domain(obj, source, domain):
    """MUNIT's ``gen_*.pt`` / ``dis_*.pt`` hold {'a': state_dict, 'b': state_dict}."""
    two_domain = (
        isinstance(obj, collections.abc.Mapping)
        and set(obj) == {"a", "b"}
        and all(isinstance(v, collections.abc.Mapping) for v in obj.values())
    )
    if two_domain:
        if domain not in ("a", "b"):
            raise ValueError(
                f"{source} holds the networks of two domains ('a' and 'b', a MUNIT gen_*.pt or "
                "dis_*.pt file): pass domain='a' or 'b' (--domain a|b). In MUNIT's test.py, "
                "a2b translation encodes with 'a' and decodes with 'b'."
            )
        return obj[domain]
    if domain is not None:
        raise ValueError(
            f"domain={domain!r} was given, but {source} holds a single network, not MUNIT's "
            "{'a': ..., 'b': ...}: leave domain out."
        )
    return obj


def load_state_dict(source, domain=None):
    """Read a reference state dict into an ordered {key: float/int numpy array} dict.

    Args:
        source: a path to a ``.pth`` / ``.pt`` file (junyanz ``latest_net_G.pth``, MUNIT
            ``gen_00800000.pt``; read with ``torch.load(weights_only=True)``, torch needed), to an
            ``.npz`` file (either plain ``key -> array`` entries or the parity-fixture layout with
            ``state_dict/<key>`` entries; no torch needed), or a mapping key -> tensor/array.
        domain: "a" or "b" to pick one network out of a MUNIT two-domain file; None otherwise.
    Returns: dict in the file's key order, arrays in the torch layout.
    """
    if isinstance(source, collections.abc.Mapping):
        obj, name = source, "the given state dict"
    else:
        path = pathlib.Path(source)
        name = str(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist.")
        if path.suffix == ".npz":
            obj = _read_npz(path)
        elif path.suffix in TORCH_SUFFIXES:
            obj = _read_torch(path)
        else:
            raise ValueError(
                f"{path}: unknown checkpoint type {path.suffix!r}; expected one of {TORCH_SUFFIXES + ('.npz',)}."
            )
    obj = _select_domain(obj, name, domain)
    if not isinstance(obj, collections.abc.Mapping):
        raise ValueError(f"{name} holds a {type(obj).__name__}, not a state dict (key -> tensor).")
    state = collections.OrderedDict()
    for key, value in obj.items():
        if isinstance(value, collections.abc.Mapping):
            raise ValueError(
                f"{name}: entry {key!r} is a nested dict, not a tensor. This is not a bare "
                "network state_dict (a training checkpoint with optimizer state?)."
            )
        state[str(key)] = _to_numpy(value)
    return state
