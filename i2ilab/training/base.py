"""Base class of the i2ilab trainers: compile policy, the fit wrappers, named losses.

A trainer is a ``keras.Model`` that owns its networks (generators, discriminators) and trains them
with ``fit`` on a dataset of ``(x, y)`` batches. Subclasses write ``_train_step(data) -> logs``
once, in stateful style, using :mod:`i2ilab.backend` for gradients; this class wires it
into ``fit`` on TensorFlow (tf.function), JAX (jax.jit) and PyTorch. The optimizers live in
:mod:`i2ilab.training.optimizers`, the checkpoint format in :mod:`i2ilab.training.state`.

Interface relied on by callbacks and the CLI:

- ``g_optimizer``, ``d_optimizer``: the Keras optimizers (``d_optimizer`` is None without a
  discriminator). Set their ``learning_rate`` to change the LR; ``iterations`` counts their steps.
  ``model.optimizer`` is an :class:`OptimizerGroup` holding both (its ``iterations`` counts
  train steps; its ``optimizers`` property lists the members, which Keras' LR callbacks use).
- ``networks``: dict name -> keras.Model of everything that is trained.
- ``save_checkpoint(path, metadata=None)`` / ``load_checkpoint(path) -> metadata``: the complete
  training state in one ``.npz`` file (see :mod:`i2ilab.training.state`).
- ``sample_columns(x, y)`` and ``translate(x)``: numpy images in [-1, 1] for grids and the CLI.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from i2ilab import backend as shim
from i2ilab.layers import TorchBatchNormalization
from i2ilab.training import state
from i2ilab.training.optimizers import OptimizerGroup, default_adam
from i2ilab.training.state import CHECKPOINT_FORMAT

__all__ = ["CHECKPOINT_FORMAT", "GANTrainer", "OptimizerGroup", "default_adam", "to_float32", "unpack_pair"]


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


class GANTrainer(shim.SkipSymbolicBuild, keras.Model):
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
            self.networks,
            [g_optimizer] + ([d_optimizer] if d_optimizer else []),
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

    def _batchnorm_layers(self):
        layers = []
        for network in self.networks.values():
            if network is not None:
                layers += [
                    layer for layer in shim.sublayers(network) if isinstance(layer, keras.layers.BatchNormalization)
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
                f"{type(self).__name__}.{what}: call compile() first (the optimizers' state is part of the checkpoint)."
            )

    def _prepare_load(self, arrays, meta):
        """Hook: build lazily created state (image pools) from a checkpoint before loading."""

    def save_checkpoint(self, path, metadata=None):
        """Write the complete training state to one ``.npz`` file at ``path`` (atomically);
        see :func:`i2ilab.training.state.save_state`. Safe to call from a callback during
        ``fit`` (the JAX state is synced first)."""
        self._require_compiled("save_checkpoint")
        return state.save_state(self, path, metadata)

    def load_checkpoint(self, path):
        """Restore the state written by :meth:`save_checkpoint`; returns its ``metadata`` dict
        (see :func:`i2ilab.training.state.load_state`). Call it before ``fit``, not during."""
        self._require_compiled("load_checkpoint")
        return state.load_state(self, path)

    def _state_sections(self):
        return state.state_sections(self)

    def _pool_shapes(self):
        return {}

    # ---------------------------------------------------------------------------------- helpers
    @staticmethod
    def _numpy(x):
        return np.asarray(keras.ops.convert_to_numpy(x))

    def _sync(self):
        shim.sync_state(self)

    def _cycle_columns(self, x, y, to_net=None, from_net=None):
        """Columns ``real_A, fake_B, rec_A, real_B, fake_A, rec_B`` (numpy, [-1, 1]) of a trainer
        with generators ``g_ab`` and ``g_ba``; x: A images, y: B images (same batch size).
        ``to_net`` / ``from_net`` map [-1, 1] to the networks' range and back (identity: None)."""
        to_net = to_net or (lambda t: t)
        from_net = from_net or (lambda t: t)

        def cycles(a, b):
            fake_b = self.g_ab(to_net(a), training=False)
            fake_a = self.g_ba(to_net(b), training=False)
            outs = (fake_b, self.g_ba(fake_b, training=False), fake_a, self.g_ab(fake_a, training=False))
            return tuple(from_net(t) for t in outs)

        fake_b, rec_a, fake_a, rec_b = self._inference("cycles", cycles, x, y)
        return {
            "real_A": self._numpy(x),
            "fake_B": fake_b,
            "rec_A": rec_a,
            "real_B": self._numpy(y),
            "fake_A": fake_a,
            "rec_B": rec_b,
        }

    def _inference(self, name, fn, *inputs):
        """Run ``fn(*inputs)`` compiled (cached under ``name``), after syncing JAX state."""
        self._sync()
        cache = self.__dict__.setdefault("_inference_cache", {})
        if name not in cache:
            cache[name] = shim.compile_inference(fn, self.variables)
        inputs = tuple(ops.convert_to_tensor(x, "float32") for x in inputs)
        return keras.tree.map_structure(self._numpy, cache[name](*inputs))
