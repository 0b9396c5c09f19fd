"""Base class of the i2ilab trainers: optimizers, the compiled step, named losses, checkpoints.

A trainer is a ``keras.Model`` that owns its networks (generators, discriminators) and trains them
with ``fit`` on a dataset of ``(x, y)`` batches. Subclasses write ``_train_step(data) -> logs``
once, in stateful style, using :mod:`i2ilab.training.backend` for gradients; this class wires it
into ``fit`` on TensorFlow (tf.function), JAX (jax.jit) and PyTorch.

Interface relied on by callbacks and the CLI:

- ``g_optimizer``, ``d_optimizer``: the Keras optimizers (``d_optimizer`` is None without a
  discriminator). Set their ``learning_rate`` to change the LR; ``iterations`` counts their steps.
  ``model.optimizer`` is an :class:`OptimizerGroup` holding both (its ``iterations`` counts
  train steps; its ``optimizers`` property lists the members, which Keras' LR callbacks use).
- ``networks``: dict name -> keras.Model of everything that is trained.
- ``save_checkpoint(path, metadata=None)`` / ``load_checkpoint(path) -> metadata``: the complete
  training state in one ``.npz`` file (see :meth:`GANTrainer.save_checkpoint`).
- ``sample_columns(x, y)`` and ``translate(x)``: numpy images in [-1, 1] for grids and the CLI.
"""

import contextlib
import json
import os
import pathlib
import tempfile

import keras
import numpy as np
from keras import ops

from i2ilab.layers import TorchBatchNormalization
from i2ilab.training import backend as shim

CHECKPOINT_FORMAT = "i2ilab-trainer-checkpoint-v1"


def default_adam(learning_rate=2e-4):
    """Adam with the references' settings: beta_1 0.5, beta_2 0.999, epsilon 1e-8 (PyTorch's)."""
    return keras.optimizers.Adam(
        learning_rate=learning_rate, beta_1=0.5, beta_2=0.999, epsilon=1e-8
    )


@keras.saving.register_keras_serializable(package="i2ilab")
class OptimizerGroup(keras.optimizers.Optimizer):
    """Several built optimizers presented to ``fit`` as one, so their state travels with it.

    Under JAX, ``fit`` threads only ``model.optimizer.variables`` through the compiled step; a
    second optimizer kept elsewhere has its updates silently dropped (shared/KERAS3.md). This
    group's ``variables`` are its own (``iterations``, counting train steps, and an unused
    learning-rate slot) followed by every member's, in order. Members are applied individually by
    the train step (``apply`` on the group is an error). Like ``keras.optimizers.MultiOptimizer``
    it has no single learning rate: Keras' ``LearningRateScheduler`` and ``ReduceLROnPlateau``
    find the members through :attr:`optimizers`.

    Args:
        optimizers: dict name -> (optimizer, variables); each optimizer is built on its variables.
    """

    def __init__(self, optimizers, name="optimizer_group"):
        super().__init__(learning_rate=0.0, name=name)
        # Bypass attribute tracking: the members' variable lists must not become group variables.
        object.__setattr__(self, "_members", tuple(optimizers.items()))
        for member_name, (optimizer, variables) in self._members:
            if not isinstance(optimizer, keras.optimizers.Optimizer):
                raise TypeError(
                    f"OptimizerGroup: {member_name} must be a keras.optimizers.Optimizer, got "
                    f"{type(optimizer).__name__}."
                )
            if not optimizer.built:
                optimizer.build(list(variables))
        self.built = True

    def build(self, var_list):
        self.built = True

    @property
    def optimizers(self):
        return [optimizer for _, (optimizer, _) in self._members]

    @property
    def variables(self):
        variables = self._variables[:]
        for optimizer in self.optimizers:
            variables.extend(optimizer.variables)
        return variables

    @property
    def learning_rate(self):
        raise AttributeError(
            "OptimizerGroup has no single learning rate: set trainer.g_optimizer.learning_rate "
            "and trainer.d_optimizer.learning_rate."
        )

    @learning_rate.setter
    def learning_rate(self, value):
        if hasattr(self, "_members"):
            raise AttributeError(
                "OptimizerGroup has no single learning rate: set it on g_optimizer / d_optimizer."
            )
        self._learning_rate = value

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "OptimizerGroup.apply: a GAN train step applies each member optimizer to its own "
            "network's variables (trainer.g_optimizer / trainer.d_optimizer)."
        )

    def finalize_variable_values(self, var_list):
        for _, (optimizer, variables) in self._members:
            optimizer.finalize_variable_values(list(variables))

    def get_config(self):
        return {"name": self.name}


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def to_float32(x):
    """Cast a tensor or a list of tensors (multi-scale logits) to float32 (mixed precision)."""
    if isinstance(x, (list, tuple)):
        return [ops.cast(t, "float32") for t in x]
    return ops.cast(x, "float32")


def unpack_pair(data, trainer_name):
    """Return ``(x, y)`` from a batch; trainers train on datasets of 2-tuples."""
    if isinstance(data, (list, tuple)) and len(data) == 2:
        return data[0], data[1]
    if isinstance(data, (list, tuple)) and len(data) == 3 and data[2] is None:
        return data[0], data[1]
    raise ValueError(
        f"{trainer_name}.fit: each batch must be a 2-tuple (x, y) of image batches, got "
        f"{type(data).__name__} of length {len(data) if hasattr(data, '__len__') else '?'}. "
        "Use the i2ilab.data loaders, or pass fit(x=inputs, y=targets)."
    )


def _first_batch_shape(data, trainer_name):
    """Shape (B, H, W, C) of the first input batch of a tf.data dataset or an array."""
    spec = getattr(data, "element_spec", None)
    if spec is not None:
        first = spec[0] if isinstance(spec, (tuple, list)) else spec
        shape = tuple(first.shape)
        if None in shape[1:]:
            batch = next(iter(data))
            shape = tuple((batch[0] if isinstance(batch, (tuple, list)) else batch).shape)
        return shape
    if hasattr(data, "shape"):
        return tuple(data.shape)
    raise ValueError(
        f"{trainer_name}.fit: cannot read the image shape from {type(data).__name__} to build "
        "the image pools; pass image_shape=(H, W, C) to the trainer, or fit on a tf.data "
        "dataset or arrays."
    )


def _check_built(network, role, trainer_name):
    if network is not None and not network.trainable_variables and not network.built:
        raise ValueError(
            f"{trainer_name}: the {role} network has no variables yet; build it first (call it "
            "once on a batch, or create it with an input shape) before compile()."
        )


class GANTrainer(keras.Model):
    """Common machinery of the i2ilab trainers (not used directly).

    Subclasses pass their logged loss names to ``__init__`` and define ``networks``,
    ``_optimizer_targets()`` (dict "g"/"d" -> variables), ``_train_step(data) -> None`` (which
    reports its terms with ``self._track``), and the sampling methods. The train step runs once per batch in the update order documented by the subclass.
    """

    _default_learning_rate = 2e-4

    def __init__(self, loss_names, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in loss_names}
        self.g_optimizer = None
        self.d_optimizer = None

    # ----------------------------------------------------------------------------- keras plumbing
    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def networks(self):
        raise NotImplementedError

    def _optimizer_targets(self):
        raise NotImplementedError

    def compile(
        self,
        g_optimizer=None,
        d_optimizer=None,
        jit_compile=None,
        run_eagerly=False,
        steps_per_execution=1,
        sync_batchnorm=True,
    ):
        """Set the optimizers and how the train step is compiled.

        Args:
            g_optimizer: optimizer of the generator(s); default Adam(lr, beta_1=0.5,
                beta_2=0.999, epsilon=1e-8) with lr 2e-4 (MUNIT 1e-4), the references' settings.
            d_optimizer: optimizer of the discriminator(s), same default; ignored (None) when the
                trainer has no discriminator.
            jit_compile: None = backend default (TensorFlow: plain tf.function, since XLA did not
                pay off on CPU; JAX: jax.jit; torch: eager). True/False force it.
            run_eagerly: run the step uncompiled (debugging).
            steps_per_execution: as in ``keras.Model.compile``.
            sync_batchnorm: when training data-parallel (:func:`i2ilab.training.distribute`),
                BatchNorm layers normalise with the statistics of the global batch (True, the
                default) or, on TensorFlow only, of each replica's share (False). JAX's
                DataParallel always gives global statistics, so False is refused there.
                Without distribution it changes nothing.

        Each optimizer is built on its own networks' variables here, before ``fit``. When
        distributing, call it inside the ``distribute(...)`` scope, like the networks'
        construction.
        """
        targets = self._optimizer_targets()
        for network in self.networks.values():
            _check_built(network, network.name, type(self).__name__)
        if not sync_batchnorm and shim.BACKEND == "jax" and shim.distributed_devices() > 1:
            raise ValueError(
                f"{type(self).__name__}.compile: sync_batchnorm=False is not available on JAX: "
                "keras.distribution.DataParallel compiles one global program, whose batch "
                "statistics are those of the global batch. Use sync_batchnorm=True, or the "
                "TensorFlow backend for per-replica statistics."
            )
        self.sync_batchnorm = bool(sync_batchnorm)
        for layer in self._batchnorm_layers():
            if isinstance(layer, TorchBatchNormalization):
                layer.sync_replicas = self.sync_batchnorm
        if g_optimizer is None:
            g_optimizer = default_adam(self._default_learning_rate)
        members = {"g": (g_optimizer, targets["g"])}
        if targets.get("d") is not None:
            if d_optimizer is None:
                d_optimizer = default_adam(self._default_learning_rate)
            if d_optimizer is g_optimizer:
                raise ValueError(
                    f"{type(self).__name__}.compile: g_optimizer and d_optimizer must be two "
                    "different optimizer objects."
                )
            members["d"] = (d_optimizer, targets["d"])
        else:
            d_optimizer = None
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        shim.check_distributed(
            self.networks, [g_optimizer] + ([d_optimizer] if d_optimizer else []),
            type(self).__name__,
        )
        if jit_compile is None:
            jit_compile = shim.default_jit_compile()
        super().compile(
            optimizer=OptimizerGroup(members),
            jit_compile=bool(jit_compile) and not run_eagerly,
            run_eagerly=run_eagerly,
            steps_per_execution=steps_per_execution,
            auto_scale_loss=False,
        )

    def build(self, input_shape):
        self.built = True

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit`` on batches ``(x, y)``; builds lazily sized state (pools) first.

        Data-parallel inside :func:`i2ilab.training.distribute`: each batch of ``x`` is the
        global batch, split equally over the devices by Keras.
        """
        if not self.built:
            self.build(_first_batch_shape(x, type(self).__name__))
        with self._keras_batchnorm_sync():
            return super().fit(x, y, *args, **kwargs)

    def train_on_batch(self, x, y=None, *args, **kwargs):
        """``keras.Model.train_on_batch`` on one batch; builds lazily sized state first.

        Under a TF strategy the batch is split over the replicas (Keras' own
        ``train_on_batch`` would give every replica the whole batch).
        """
        if not self.built:
            self.build(tuple(x.shape))
        x, y = shim.split_batch(self, x, y)
        with self._keras_batchnorm_sync():
            return super().train_on_batch(x, y, *args, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Skip Keras' TF peek at the data when everything is built (TensorFlow only).

        Under a ``tf.distribute`` strategy Keras' TF ``fit`` draws one batch from an extra pass
        over the dataset to build compiled losses and metrics, which GAN trainers do not have.
        That extra pass advances a shuffled dataset's reshuffle seed, so epoch k would no longer
        see the k-th pass and a resumed run would not see the batches of an unbroken one.
        Networks, pools and optimizers are all built before ``fit`` here.
        """
        if all(layer.built for layer in self._flatten_layers()):
            return None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def _batchnorm_layers(self):
        layers = []
        for network in self.networks.values():
            if network is not None:
                layers += [
                    layer
                    for layer in network._flatten_layers(include_self=False)
                    if isinstance(layer, keras.layers.BatchNormalization)
                ]
        return layers

    @contextlib.contextmanager
    def _keras_batchnorm_sync(self):
        """Plain ``keras.layers.BatchNormalization`` layers synchronise through Keras' own
        ``synchronized`` flag (TF only), set for the duration of training so that a network
        saved afterwards keeps its original, backend-portable config."""
        layers = []
        if shim.BACKEND == "tensorflow" and getattr(self, "sync_batchnorm", False):
            layers = [
                layer
                for layer in self._batchnorm_layers()
                if not isinstance(layer, TorchBatchNormalization) and not layer.synchronized
            ]
        for layer in layers:
            layer.synchronized = True
        try:
            yield
        finally:
            for layer in layers:
                layer.synchronized = False

    def train_step(self, *args):
        """Keras hook; runs the subclass's stateful ``_train_step`` through the backend shim."""
        return shim.run_train_step(self, self._logged_step, *args)

    def _logged_step(self, data):
        self._train_step(data)
        self.optimizer.iterations.assign_add(1)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _track(self, **values):
        for name, value in values.items():
            self.trackers[name].update_state(value)

    def test_step(self, *args):
        raise NotImplementedError(
            f"{type(self).__name__}: evaluate() and fit(validation_data=...) are not supported by "
            "GAN trainers; measure held-out quality with translate() in a callback instead."
        )

    def _apply(self, optimizer, grads, variables):
        shim.apply_gradients(optimizer, grads, variables)

    # ------------------------------------------------------------------------------ checkpoints
    def _require_compiled(self, what):
        if self.g_optimizer is None:
            raise ValueError(
                f"{type(self).__name__}.{what}: call compile() first (the optimizers' state is "
                "part of the checkpoint)."
            )

    def _prepare_load(self, arrays, meta):
        """Hook: build lazily created state (image pools) from a checkpoint before loading."""

    def _state_sections(self):
        """Ordered dict section -> list of variables: the complete training state."""
        sections = {}
        seen = set()
        for name, network in self.networks.items():
            if network is None:
                continue
            sections[f"net/{name}"] = list(network.variables)
            seen.update(id(v) for v in network.variables)
        sections["trainer"] = [v for v in self.variables if id(v) not in seen]
        sections["opt/group"] = list(self.optimizer._variables)
        sections["opt/g"] = list(self.g_optimizer.variables)
        if self.d_optimizer is not None:
            sections["opt/d"] = list(self.d_optimizer.variables)
        return sections

    def save_checkpoint(self, path, metadata=None):
        """Write the complete training state to one ``.npz`` file at ``path`` (atomically).

        Saved: every variable of every network (weights, BatchNorm moving statistics, dropout
        SeedGenerator states), the trainer's own state (image pool buffers and counters, its
        SeedGenerators), both optimizers' variables (iteration counters, learning rates, Adam
        moments) plus the group's step counter, and on torch the global torch RNG state (Keras'
        torch backend draws unseeded Dropout masks from it). ``metadata`` (a JSON-serialisable dict, e.g.
        ``{"epoch": 3}``) is stored alongside and returned by :meth:`load_checkpoint`.
        Safe to call from a callback during ``fit`` (the JAX state is synced first).
        """
        self._require_compiled("save_checkpoint")
        shim.sync_state(self)
        arrays = {}
        paths = {}
        for section, variables in self._state_sections().items():
            paths[section] = [v.path for v in variables]
            for i, variable in enumerate(variables):
                arrays[f"{section}/{i}"] = np.array(variable.numpy())  # numpy(): scalar mirrored variables too
        meta = {
            "format": CHECKPOINT_FORMAT,
            "trainer": type(self).__name__,
            "backend": shim.BACKEND,
            "paths": paths,
            "pool_shapes": self._pool_shapes(),
            "metadata": metadata or {},
        }
        for name, value in shim.global_rng_state().items():
            arrays[f"rng/{name}"] = value
        arrays["__meta__"] = np.asarray(json.dumps(meta))
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path

    def load_checkpoint(self, path):
        """Restore the state written by :meth:`save_checkpoint`; returns its ``metadata`` dict.

        The trainer must be constructed with the same networks and compiled with the same kind of
        optimizers. Variables are matched by position within each section (networks by their key
        in ``networks``); a count or shape mismatch raises an error naming the entry. Call it
        before ``fit``, not during.
        """
        self._require_compiled("load_checkpoint")
        path = pathlib.Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{type(self).__name__}.load_checkpoint: no file {path}.")
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        meta = json.loads(str(arrays.pop("__meta__")))
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not an i2ilab trainer checkpoint ({meta.get('format')}).")
        if meta["trainer"] != type(self).__name__:
            raise ValueError(
                f"{path} holds a {meta['trainer']} checkpoint; this trainer is "
                f"{type(self).__name__}."
            )
        self._prepare_load(arrays, meta)
        for section, variables in self._state_sections().items():
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
        shim.set_global_rng_state({k[4:]: v for k, v in arrays.items() if k.startswith("rng/")})
        return meta["metadata"]

    def _pool_shapes(self):
        return {}

    # ---------------------------------------------------------------------------------- helpers
    @staticmethod
    def _numpy(x):
        return np.asarray(keras.ops.convert_to_numpy(x))

    def _sync(self):
        shim.sync_state(self)

    def _inference(self, name, fn, *inputs):
        """Run ``fn(*inputs)`` compiled (cached under ``name``), after syncing JAX state."""
        self._sync()
        cache = self.__dict__.setdefault("_inference_cache", {})
        if name not in cache:
            cache[name] = shim.compile_inference(fn, self.variables)
        inputs = tuple(ops.convert_to_tensor(x, "float32") for x in inputs)
        return keras.tree.map_structure(self._numpy, cache[name](*inputs))
