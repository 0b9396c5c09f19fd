"""A trainer's complete training state as one ``.npz`` checkpoint file (format v1).

The file holds, by section, every variable of every network (weights, BatchNorm moving
statistics, dropout SeedGenerator states: ``net/<name>/<i>``), the trainer's own state (image
pool buffers and counters, its SeedGenerators: ``trainer/<i>``), the optimizer group's step
counter and both optimizers' variables (iteration counters, learning rates, Adam moments:
``opt/group``, ``opt/g``, ``opt/d``), on torch the global torch RNG state (``rng/...``; Keras'
torch backend draws unseeded Dropout masks from it), and ``__meta__``: JSON with the format,
trainer class, backend, variable paths, image-pool shapes and the caller's metadata.
Variables are matched by position within each section when loading.
"""

import json
import pathlib

import keras
import numpy as np

from i2ilab import backend, runs

CHECKPOINT_FORMAT = "i2ilab-trainer-checkpoint-v1"


def state_sections(trainer):
    """Ordered dict section -> list of variables: the complete training state of ``trainer``."""
    sections = {}
    seen = set()
    for name, network in trainer.networks.items():
        if network is None:
            continue
        sections[f"net/{name}"] = list(network.variables)
        seen.update(id(v) for v in network.variables)
    sections["trainer"] = [v for v in trainer.variables if id(v) not in seen]
    sections["opt/group"] = backend.own_variables(trainer.optimizer)
    sections["opt/g"] = list(trainer.g_optimizer.variables)
    if trainer.d_optimizer is not None:
        sections["opt/d"] = list(trainer.d_optimizer.variables)
    return sections


def save_state(trainer, path, metadata=None):
    """Write the complete state of the compiled ``trainer`` to ``path`` (atomically).

    ``metadata`` (a JSON-serialisable dict, e.g. ``{"epoch": 3}``) is stored alongside and
    returned by :func:`load_state`. The JAX state of a running ``fit`` is synced first.
    """
    backend.sync_state(trainer)
    arrays = {}
    paths = {}
    for section, variables in state_sections(trainer).items():
        paths[section] = [v.path for v in variables]
        for i, variable in enumerate(variables):
            arrays[f"{section}/{i}"] = np.array(variable.numpy())  # numpy(): scalar mirrored variables too
    meta = {
        "format": CHECKPOINT_FORMAT,
        "trainer": type(trainer).__name__,
        "backend": backend.BACKEND,
        "paths": paths,
        "pool_shapes": trainer._pool_shapes(),
        "metadata": metadata or {},
    }
    for name, value in backend.global_rng_state().items():
        arrays[f"rng/{name}"] = value
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    return runs.atomic_write(path, lambda f: np.savez(f, **arrays))


def load_state(trainer, path):
    """Restore the state written by :func:`save_state` into ``trainer``; returns its metadata.

    The trainer must be constructed with the same networks and compiled with the same kind of
    optimizers; a count or shape mismatch raises an error naming the entry.
    """
    name = type(trainer).__name__
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{name}.load_checkpoint: no file {path}.")
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an i2ilab trainer checkpoint ({meta.get('format')}).")
    if meta["trainer"] != name:
        raise ValueError(f"{path} holds a {meta['trainer']} checkpoint; this trainer is {name}.")
    trainer._prepare_load(arrays, meta)
    for section, variables in state_sections(trainer).items():
        stored = meta["paths"].get(section)
        if stored is None or len(stored) != len(variables):
            raise ValueError(
                f"{path}: section {section!r} holds {0 if stored is None else len(stored)} "
                f"variables but this trainer has {len(variables)}; build the trainer with the "
                "same networks and options as the one that saved it."
            )
        for i, variable in enumerate(variables):
            value = arrays[f"{section}/{i}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"{path}: {section}/{i} ({stored[i]}) has shape {value.shape}, but "
                    f"{variable.path} has shape {tuple(variable.shape)}."
                )
            variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
    backend.set_global_rng_state({k[4:]: v for k, v in arrays.items() if k.startswith("rng/")})
    return meta["metadata"]
