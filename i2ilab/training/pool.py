"""History buffer of generated images for the discriminator (Shrivastava et al. 2017; CycleGAN Sec. 4)."""

import keras
from keras import ops

from i2ilab.training import backend as shim


@keras.saving.register_keras_serializable(package="i2ilab")
class ImagePool(keras.layers.Layer):
    """Keeps up to ``pool_size`` past fakes; the discriminator is updated on the pool's output.

    The reference rule, applied image by image in batch order: while the pool holds fewer than
    ``pool_size`` images, store the new fake and return it; once full, with probability 0.5
    return a random stored fake (uniform over the pool) and store the new fake in its place,
    otherwise return the new fake. An image stored earlier in the same batch can be returned
    later in that batch, as in the reference.

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
    """

    def __init__(self, pool_size=50, image_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
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
        zeros = [0] * len(self.image_shape)
        full_slice = (1,) + self.image_shape
        outputs = []
        for i in range(batch):
            image = images[i : i + 1]
            filling = count < self.pool_size
            swap = ops.logical_and(ops.logical_not(filling), u[i] > 0.5)
            index = ops.where(filling, count, picks[i])
            stored = ops.slice(buffer, [index] + zeros, full_slice)
            outputs.append(ops.where(swap, stored, image))
            write = ops.where(ops.logical_or(filling, swap), image, stored)
            buffer = ops.slice_update(buffer, [index] + zeros, write)
            count = count + ops.cast(filling, "int32")
        self.buffer.assign(buffer)
        self.count.assign(count)
        return ops.concatenate(outputs, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def call(self, images):
        return self.query(images)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, image_shape=self.image_shape, seed=self.seed)
        return config
