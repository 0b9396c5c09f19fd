# The README's test command is `make test`; .ci/run calls exactly that.
PYTHON ?= python
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider

.PHONY: test test-unit test-tf test-jax test-notebooks

test: test-tf test-jax test-notebooks

test-unit: test-tf test-jax

test-tf:
	KERAS_BACKEND=tensorflow $(PYTEST) -m "not notebook"

# On JAX the CPU time goes to XLA compiles of tiny test models: compile with less
# optimisation, and leave the slow learning runs to the TensorFlow pass (TF/JAX agreement of
# each trainer's step is tested separately in tests/test_training_parity.py).
test-jax:
	KERAS_BACKEND=jax XLA_FLAGS=--xla_backend_optimization_level=0 $(PYTEST) -m "not notebook and not tf_only and not slow"

test-notebooks:
	KERAS_BACKEND=tensorflow I2ILAB_SMOKE=1 $(PYTEST) -m notebook
