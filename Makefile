# The README's test command is `make test`; .ci/run calls exactly that.
PYTHON ?= python
PYTEST = $(PYTHON) -m pytest -q -p no:cacheprovider

.PHONY: test test-unit test-tf test-jax test-notebooks

test: test-tf test-jax test-notebooks

test-unit: test-tf test-jax

test-tf:
	KERAS_BACKEND=tensorflow $(PYTEST) -m "not notebook"

test-jax:
	KERAS_BACKEND=jax $(PYTEST) -m "not notebook and not tf_only"

test-notebooks:
	KERAS_BACKEND=tensorflow I2ILAB_SMOKE=1 $(PYTEST) -m notebook
