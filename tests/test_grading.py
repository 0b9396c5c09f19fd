"""i2ilab.grading: own-work trip wires, reference swaps and messages of the labs' hidden tests."""

import numpy as np
import pytest
from keras import ops

from i2ilab import grading, losses
from i2ilab.training import ImagePool


def my_cycle_loss(real, reconstructed):
    return ops.mean(ops.abs(ops.cast(reconstructed, "float32") - ops.cast(real, "float32")))


def wrapped_cycle_loss(real, reconstructed):
    return losses.cycle_loss(real, reconstructed)


def test_own_answer_passes_and_returns_run_result():
    x = np.zeros((1, 2, 2, 3), np.float32)
    value = grading.own_work("cycle_loss", my_cycle_loss, losses.cycle_loss, run=lambda: my_cycle_loss(x, x + 1))
    assert float(value) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "answer, words",
    [
        (losses.cycle_loss, "is `i2ilab.losses.cycle_loss` itself"),
        (wrapped_cycle_loss, "calls `i2ilab.losses.cycle_loss`"),
    ],
)
def test_delegation_scores_zero_with_a_message(answer, words):
    x = np.zeros((1, 2, 2, 3), np.float32)
    with pytest.raises(grading.GradingError, match="0 points for this exercise") as err:
        grading.own_work("Exercise 3", answer, losses.cycle_loss, run=lambda: answer(x, x))
    assert words in str(err.value)
    # the trip wire is removed afterwards
    assert float(losses.cycle_loss(x, x + 2)) == pytest.approx(2.0)


def test_an_alias_caught_in_a_closure_or_a_broad_except_still_trips():
    impl = losses.identity_loss

    def sneaky(real, same):
        try:
            return impl(real, same)
        except Exception:  # an answer that swallows errors does not hide the call
            return ops.mean(ops.abs(same - real))

    x = np.zeros((1, 2, 2, 3), np.float32)
    with pytest.raises(grading.GradingError, match="calls `i2ilab.losses.identity_loss`"):
        grading.own_work("identity_loss", sneaky, losses.identity_loss, run=lambda: sneaky(x, x))


def test_subclass_and_wrapped_library_class_are_caught():
    class MyPool(ImagePool):
        pass

    with pytest.raises(grading.GradingError, match="subclasses `i2ilab.training.pool.ImagePool`"):
        grading.own_work("ImagePool", MyPool, ImagePool)

    class WrappingPool:
        def __init__(self, size):
            self.inner = ImagePool(size, image_shape=(2, 2, 1))

    with pytest.raises(grading.GradingError, match="calls `i2ilab.training.pool.ImagePool.__init__`"):
        grading.own_work("ImagePool", WrappingPool, ImagePool, run=lambda: WrappingPool(2))
    assert ImagePool(2, image_shape=(2, 2, 1)).pool_size == 2  # restored


def test_bound_method_of_library_object_is_guarded():
    gan = losses.gan_loss("lsgan")

    def my_g_loss(fake):
        return gan.g_loss(fake)

    with pytest.raises(grading.GradingError, match="GANLoss.g_loss"):
        grading.own_work("lsgan_g_loss", my_g_loss, gan.g_loss, run=lambda: my_g_loss(np.ones((1, 2, 2, 1))))


def test_using_swaps_and_restores_names():
    namespace = {"piece": "student"}
    with grading.using(namespace, piece="reference", absent="reference"):
        assert namespace == {"piece": "reference", "absent": "reference"}
    assert namespace == {"piece": "student"}


def test_assert_close_messages_name_property_and_numbers():
    grading.assert_close(np.float32(1.0), 1.0 + 1e-7, "a value")
    with pytest.raises(grading.GradingError, match=r"the mean: got 0.5, expected 1 \(largest difference 0.5"):
        grading.assert_close(0.5, 1.0, "the mean")
    with pytest.raises(grading.GradingError, match=r"got shape \(2,\), expected \(3,\)"):
        grading.assert_close(np.zeros(2), np.zeros(3), "shape")
    with pytest.raises(grading.GradingError, match="non-finite"):
        grading.assert_close(np.nan, 1.0, "finite")
