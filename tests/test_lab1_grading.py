"""Lab 1 graded as an instructor grades it: a student's plausible submissions, scores exact.

Each submission is the solution notebook with one change. Graded with nbgrader autograde in a
course copy whose kernels write C-level stderr chatter before and after every cell
(``course_harness.chatter_ipython_dir``). Correct variants get full marks, a single mistake
costs exactly its exercise, and answers delegated to the library score 0 with a message.
"""

import course_harness as ch
import pytest

LAB = "lab1_colorization"
ALL = {"test_rgb_to_lab", "test_rgb_to_l_ab", "test_losses", "test_mean_chroma"}


def submissions():
    sol = ch.solution_notebook(LAB)
    edit, answer = ch.edit_cell, ch.set_answer
    return {
        # correct, written otherwise: a debug print to stderr and a warning; einsum; hypot; sum / size
        "variant": answer(
            answer(
                answer(
                    sol,
                    "ex_mean_chroma",
                    """
import sys
import warnings

print("debug: computing chroma", file=sys.stderr)
warnings.warn("a warning from a correct answer")
lab = to_numpy(rgb_to_lab((np.asarray(images, np.float32) + 1.0) / 2.0))
return np.hypot(lab[..., 1], lab[..., 2]).reshape(len(lab), -1).mean(axis=1)
""",
                ),
                "ex_losses",
                """
d = ops.cast(x, "float32") - ops.cast(y, "float32")
return ops.sum(d * d) / ops.cast(ops.size(d), "float32")
""".replace("\n", "\n", 1),
            ),
            "ex_rgb_to_l_ab",
            """
lab = rgb_to_lab(ops.divide(ops.add(ops.convert_to_tensor(rgb, "float32"), 1.0), 2.0))
return ops.expand_dims(lab[..., 0], -1) / 50.0 - 1.0, ops.stack([lab[..., 1], lab[..., 2]], axis=-1) / 110.0
""",
        ),
        "wrong_rgb_to_lab": edit(sol, "ex_rgb_to_lab", " / ops.convert_to_tensor(WHITE_D65)", ""),
        "typo_rgb_to_lab": edit(
            sol, "ex_rgb_to_lab", "def rgb_to_lab(rgb):", "from keras import opss\n\n\ndef rgb_to_lab(rgb):"
        ),
        "wrong_rgb_to_l_ab": edit(
            sol,
            "ex_rgb_to_l_ab",
            '(ops.cast(ops.convert_to_tensor(rgb), "float32") + 1.0) * 0.5',
            'ops.cast(ops.convert_to_tensor(rgb), "float32")',
        ),
        "wrong_l1_sum": edit(sol, "ex_losses", "return ops.mean(ops.abs(", "return ops.sum(ops.abs("),
        "wrong_chroma_rms": edit(
            sol,
            "ex_mean_chroma",
            "np.sqrt(lab[..., 1] ** 2 + lab[..., 2] ** 2).mean(axis=(1, 2))",
            "np.sqrt((lab[..., 1] ** 2 + lab[..., 2] ** 2).mean(axis=(1, 2)))",
        ),
        "delegate": answer(
            answer(
                answer(
                    answer(
                        sol,
                        "ex_rgb_to_lab",
                        """
from i2ilab.data import rgb_to_lab as _library_rgb_to_lab
return _library_rgb_to_lab(rgb)
""",
                    ),
                    "ex_rgb_to_l_ab",
                    """
import i2ilab.data
return i2ilab.data.rgb_to_l_ab(rgb)
""",
                ),
                "ex_losses",
                """
from i2ilab import losses
return losses.l2_loss(x, y)
""".strip(),
            ),
            "ex_mean_chroma",
            """
from i2ilab.metrics import mean_chroma as library_mean_chroma
return library_mean_chroma(images)
""",
        ),
    }


EXPECTED_ZERO = {
    "solution": set(),
    "variant": set(),
    "wrong_rgb_to_lab": {"test_rgb_to_lab"},
    "typo_rgb_to_lab": {"test_rgb_to_lab"},
    "wrong_rgb_to_l_ab": {"test_rgb_to_l_ab"},
    "wrong_l1_sum": {"test_losses"},
    "wrong_chroma_rms": {"test_mean_chroma"},
    "delegate": ALL,
}


@pytest.mark.notebook
def test_submissions_score_exactly(tmp_path):
    subs = {"solution": ch.solution_notebook(LAB), **submissions()}
    root, grades, full = ch.grade_submissions(tmp_path, LAB, subs)
    assert set(full) == ALL
    ch.check_scores(grades, EXPECTED_ZERO, full)
    feedback = ch.feedback(root, LAB, "delegate")
    assert "0 points for this exercise" in feedback["test_losses"], feedback["test_losses"]
    assert "i2ilab.losses.l1_loss" in feedback["test_losses"] or "i2ilab.losses.l2_loss" in feedback["test_losses"]
    assert "calls `i2ilab.metrics.color.mean_chroma`" in feedback["test_mean_chroma"], feedback["test_mean_chroma"]
    message = ch.feedback(root, LAB, "wrong_chroma_rms")["test_mean_chroma"]
    assert "mean chroma of 4 random images: got" in message and "expected" in message, message
