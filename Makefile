# `make test` runs the README's test command (the four lines of its test block, which .ci/run
# runs verbatim; tests/test_ci_command.py keeps them in step). ARGS: extra pytest arguments.
ARGS ?=

.PHONY: test test-unit test-tf test-jax test-notebooks

test: test-tf test-jax test-notebooks

test-unit: test-tf test-jax

test-tf:
	KERAS_BACKEND=tensorflow python -m pytest -q -p no:cacheprovider -n 2 -m "not notebook" $(ARGS)

test-jax:
	KERAS_BACKEND=jax XLA_FLAGS=--xla_backend_optimization_level=0 python -m pytest -q -p no:cacheprovider -n 2 -m "not notebook and not tf_only and not slow" $(ARGS)

test-notebooks:
	KERAS_BACKEND=tensorflow I2ILAB_SMOKE=1 python -m pytest -q -p no:cacheprovider -n 2 -m "notebook and not timed" $(ARGS)
	KERAS_BACKEND=tensorflow I2ILAB_SMOKE=1 python -m pytest -q -p no:cacheprovider -m "notebook and timed" $(ARGS)
