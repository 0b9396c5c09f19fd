"""i2ilab.notebook in a real Jupyter kernel: start-up logs kept out of the cells, benign stderr
(C-level and Python warnings) shown as ordinary output, real errors still errors."""

import course_harness as ch
import nbformat
from nbclient import NotebookClient

CELLS = [
    "from i2ilab import notebook\nnotebook.start(seed=3, mode='smoke', image_size=32)",
    "import os\nos.write(2, b'E0000 cuda_platform.cc:52] failed call to cuInit\\n')\nimport time; time.sleep(0.3)",
    "import warnings\nwarnings.warn('a benign deprecation')",
    "import keras\nkeras.layers.LeakyReLU(alpha=0.2)",
    "assert 1 + 1 == 3, 'a real failure'",
    "print(len(notebook.startup_log()) >= 0, notebook.to_numpy(keras.ops.ones((2,))).tolist())",
]


def _run(tmp_path, **env):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=ch.course_env(**env))
    return nb


def _streams(cell, name):
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)


def test_benign_output_is_stdout_and_errors_stay_errors(tmp_path):
    nb = _run(tmp_path, IPYTHONDIR=ch.chatter_ipython_dir(tmp_path / "ipython"), TF_CPP_MIN_LOG_LEVEL=None)
    setup, c_level, py_warning, keras_warning, failing, last = nb.cells
    assert "i2ilab 0.1.0, Keras" in _streams(setup, "stdout") and "smoke mode, 32x32" in _streams(setup, "stdout")
    for cell in (c_level, py_warning, keras_warning, last):
        assert _streams(cell, "stderr") == "", cell.outputs
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
    assert "failed call to cuInit" in _streams(c_level, "stdout")  # still visible to the student
    assert "a benign deprecation" in _streams(py_warning, "stdout")
    assert any(o.output_type == "error" and o.ename == "AssertionError" for o in failing.outputs)
    assert "True [1.0, 1.0]" in _streams(last, "stdout")
