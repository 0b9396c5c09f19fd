"""The optimizers of the GAN trainers: the references' Adam and the group ``fit`` carries."""

import keras

from i2ilab import backend


def default_adam(learning_rate=2e-4):
    """Adam with the references' settings: beta_1 0.5, beta_2 0.999, epsilon 1e-8 (PyTorch's)."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5, beta_2=0.999, epsilon=1e-8)


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
        variables = backend.own_variables(self)
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
            raise AttributeError("OptimizerGroup has no single learning rate: set it on g_optimizer / d_optimizer.")
        keras.optimizers.Optimizer.learning_rate.fset(self, value)

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
