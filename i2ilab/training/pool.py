"""History buffer of generated images for the discriminator (Shrivastava et al. 2017; CycleGAN Sec. 4)."""

import keras
from keras import ops

from i2ilab.training import backend as shim


def pool_update(buffer, count, image, u, pick):
    """The image pool's rule for ONE new fake, a pure function of tensors (``keras.ops`` only).

    The reference rule (Shrivastava et al. 2017; CycleGAN Sec. 4): while the pool holds fewer
    than ``pool_size`` images, store the new fake (in the next free slot, ``count``) and return
    it; once full, if ``u > 0.5`` return the stored fake at ``pick`` and store the new fake in
    its place, otherwise return the new fake and leave the pool as it is.

    No Python branches on tensor values (both candidates are computed and ``ops.where`` picks
    one), so the rule runs inside a compiled train step (tf.function, jax.jit); the random
    draws are arguments, so it can be tested with explicit values.

    Args:
        buffer: (pool_size, H, W, C) float32, the stored fakes (slots ``count`` and above unused).
        count: int32 scalar, the number of stored fakes (0 .. pool_size).
        image: (H, W, C), the new fake.
        u: float scalar in [0, 1) (the coin: swap when ``u > 0.5``).
        pick: int32 scalar in [0, pool_size) (the slot a swap uses).

    Returns:
        ``(output, buffer, count)``: the image for the discriminator (H, W, C), the updated
        buffer and the updated count.
    """
    pool_size = buffer.shape[0]
    filling = count < pool_size
    swap = ops.logical_and(ops.logical_not(filling), u > 0.5)
    index = ops.where(filling, count, pick)
    start = [index] + [0] * len(image.shape)
    stored = ops.slice(buffer, start, (1,) + tuple(image.shape))[0]
    output = ops.where(swap, stored, image)
    write = ops.where(ops.logical_or(filling, swap), image, stored)
    buffer = ops.slice_update(buffer, start, write[None])
    count = count + ops.cast(filling, "int32")
    return output, buffer, count


@keras.saving.register_keras_serializable(package="i2ilab")
class ImagePool(keras.layers.Layer):
    """Keeps up to ``pool_size`` past fakes; the discriminator is updated on the pool's output.

    The reference rule (:func:`pool_update`), applied image by image in batch order: while the
    pool holds fewer than ``pool_size`` images, store the new fake and return it; once full,
    with probability 0.5 return a random stored fake (uniform over the pool) and store the new
    fake in its place, otherwise return the new fake. An image stored earlier in the same batch
    can be returned later in that batch, as in the reference.

    The rule is a pure function, ``rule(buffer, count, image, u, pick) -> (output, buffer,
    count)`` for one image (see :func:`pool_update` for the arguments), and can be replaced
    (``rule=``, e.g. a lab's own version). The pool keeps the state and the randomness: per
    query it draws ``u`` (B,) uniform in [0, 1) and ``pick`` (B,) integers in [0, pool_size)
    from its SeedGenerator, calls the rule once per image in batch order, threading the buffer
    and count through the calls, and stores the final buffer and count in its variables. So a
    custom rule runs inside the compiled train step, sees the same draws as the default one, and
    changes neither the checkpoint variables nor the data-parallel behaviour below.

    Unlike the reference's Python list, the state lives in Keras variables (``buffer``
    (pool_size, H, W, C) float32, ``count`` int32) and the draws use ``keras.random`` with the
    layer's ``SeedGenerator``, so :meth:`query` runs inside a compiled train step (tf.function,
    jax.jit) and the state is saved with the trainer's checkpoint. ``pool_size=0`` returns the
    input unchanged and holds no state.

    Data parallelism: there is ONE pool, updated from the GLOBAL batch, exactly as on one device
    with the whole batch (same draws, same order, same contents). Under JAX's DataParallel the
    jitted step is a global program, so this holds as written. Under TensorFlow's
    MirroredStrategy every replica all-gathers the fakes of all replicas (in replica order),
    applies the rule above to that global batch (the buffer, counter and seed are mirrored and
    every replica computes the same update, so the copies stay identical) and returns its own
    rows. The cost is one all-gather of the fakes per step, small next to the gradient
    all-reduce. (Per-replica pools would each see 1/N of the fakes and hold pool_size/N images
    of the recent past each, and would change the checkpoint layout with the device count.)

    Args:
        pool_size: number of stored images (CycleGAN: 50).
        image_shape: ``(H, W, C)`` of one image; if None the pool is built by ``build`` from the
            first batch shape ``(B, H, W, C)`` (the CycleGAN trainer does this before ``fit``).
        seed: seed of the pool's SeedGenerator.
        rule: the per-image update, ``rule(buffer, count, image, u, pick) -> (output, buffer,
            count)`` written with ``keras.ops`` (no Python branches on tensor values);
            None = :func:`pool_update`. It must keep the shapes of ``image`` and ``buffer``.
            A custom rule is not part of ``get_config`` (pass it again when rebuilding).
    """

    def __init__(self, pool_size=50, image_shape=None, seed=None, rule=None, **kwargs):
        super().__init__(**kwargs)
        if rule is not None and not callable(rule):
            raise TypeError(
                f"ImagePool: rule must be a function (buffer, count, image, u, pick) -> "
                f"(output, buffer, count), got {rule!r}."
            )
        self.rule = pool_update if rule is None else rule
        if int(pool_size) < 0:
            raise ValueError(f"ImagePool: pool_size must be >= 0, got {pool_size}.")
        self.pool_size = int(pool_size)
        self.image_shape = None if image_shape is None else tuple(int(d) for d in image_shape)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if self.pool_size else None
        if self.image_shape is not None:
            self.build((None,) + self.image_shape)
        elif not self.pool_size:
            self.built = True

    def build(self, input_shape):
        shape = tuple(input_shape)[1:]
        if any(d is None for d in shape):
            raise ValueError(
                f"ImagePool: the image shape must be fully known to build the buffer, got "
                f"{tuple(input_shape)}; pass image_shape=(H, W, C)."
            )
        self.image_shape = tuple(int(d) for d in shape)
        if self.pool_size:
            self.buffer = self.add_weight(
                shape=(self.pool_size,) + self.image_shape,
                initializer="zeros",
                dtype="float32",
                trainable=False,
                name="buffer",
            )
            self.count = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False, name="count")
        self.built = True

    def query(self, images):
        """Return a batch for the discriminator and update the pool.

        Args:
            images: (B, H, W, C) new fakes (B static), any float dtype; under a TF strategy the
                replica's share of the global batch.

        Returns:
            (B, H, W, C) float32: for each image, itself or a stored past fake.
        """
        images = ops.stop_gradient(ops.cast(images, "float32"))
        if not self.pool_size:
            return images
        if not self.built:
            raise ValueError("ImagePool: call build((B, H, W, C)) or pass image_shape before query.")
        return shim.local_slice(self._query_global(shim.all_gather(images)))

    def _query_global(self, images):
        batch = images.shape[0]
        if batch is None:
            raise ValueError("ImagePool.query needs a static batch size.")
        u = keras.random.uniform((batch,), seed=self.seed_generator)
        picks = keras.random.randint((batch,), 0, self.pool_size, seed=self.seed_generator)
        buffer = self.buffer.value
        count = self.count.value
        outputs = []
        for i in range(batch):
            output, buffer, count = self._apply_rule(buffer, count, images[i], u[i], picks[i])
            outputs.append(output)
        self.buffer.assign(buffer)
        self.count.assign(count)
        return ops.stack(outputs, axis=0)

    def _apply_rule(self, buffer, count, image, u, pick):
        """One call of the rule, its results checked (shapes) and cast (float32, int32)."""
        result = self.rule(buffer, count, image, u, pick)
        if not (isinstance(result, (tuple, list)) and len(result) == 3):
            raise ValueError(
                f"ImagePool: the rule {getattr(self.rule, '__name__', self.rule)!r} must return "
                f"(output, buffer, count), got {type(result).__name__}."
            )
        output, new_buffer, new_count = result
        for what, got, want in (("output", output, image), ("buffer", new_buffer, buffer)):
            if tuple(ops.shape(got)) != tuple(ops.shape(want)):
                raise ValueError(
                    f"ImagePool: the rule's {what} has shape {tuple(ops.shape(got))}, expected "
                    f"{tuple(ops.shape(want))} (the {'image' if what == 'output' else 'buffer'}'s shape)."
                )
        if tuple(ops.shape(new_count)) != ():
            raise ValueError(f"ImagePool: the rule's count must be a scalar, got shape {tuple(ops.shape(new_count))}.")
        return ops.cast(output, "float32"), ops.cast(new_buffer, "float32"), ops.cast(new_count, "int32")

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, images):
        return self.query(images)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, image_shape=self.image_shape, seed=self.seed)
        return config
