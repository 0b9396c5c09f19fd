"""The nbgrader course, for every lab in course/sources: sources built, release current, grading works.

(a) solutions/<lab>/<lab>.ipynb is what course/build_notebooks.py makes from the source;
(b) labs/<lab>/ is byte for byte what `nbgrader generate_assignment` makes from solutions/;
(c) a real autograde round trip in a temporary course copy (notebook marker: runs under
    `make test-notebooks`), in an instructor's environment (no pytest variables, so ipykernel
    captures the kernel's file descriptor 2 as on a real machine) with TF_CPP_MIN_LOG_LEVEL unset
    (the per-lab grading tests grade at 0 with simulated C-level stderr chatter, and the
    validator runs in that environment too): the solution scores full marks, the blank release 0, a partly wrong
    submission in between, a student who weakens the tests is graded by the original tests, the
    CSV export has the scores, and grading one submission takes <= 20 s.
"""

import json
import subprocess
import sys

import course_harness as ch
import pytest

LABS = ch.labs()
#: Seconds one submission may take to autograde (200 students an hour on 2 cores, NBGRADER.md);
#: I2ILAB_AUTOGRADE_BUDGET_S overrides it on a slow shared machine.
AUTOGRADE_BUDGET_S = ch.budget("I2ILAB_AUTOGRADE_BUDGET_S", 20.0)


def test_labs_discovered():
    assert LABS, "no lab sources found in course/sources/"
    for lab in LABS:
        assert (ch.SOLUTIONS / lab / f"{lab}.ipynb").is_file(), (
            f"solutions/{lab} missing: run course/build_notebooks.py"
        )


@pytest.mark.parametrize("lab", LABS)
def test_solutions_built_from_sources(lab):
    proc = subprocess.run(
        [sys.executable, str(ch.COURSE / "build_notebooks.py"), "--check", lab],
        capture_output=True,
        text=True,
        env=ch.course_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("lab", LABS)
def test_release_is_generated_from_solutions(lab, tmp_path):
    fresh = ch.regenerate_release(lab, tmp_path / "release")
    committed = ch.tree_files(ch.LABS / lab)
    regenerated = ch.tree_files(fresh)
    assert sorted(committed) == sorted(regenerated), "labs/ holds other files than a fresh release"
    stale = [name for name in committed if committed[name] != regenerated[name]]
    assert not stale, (
        f"labs/{lab} differs from a fresh release in {stale}: regenerate it with "
        f"`nbgrader generate_assignment {lab} --NbGrader.config_file=course/nbgrader_config --force`"
    )


@pytest.mark.parametrize("lab", LABS)
def test_release_has_no_solutions(lab):
    nb = ch.release_notebook(lab)
    text = "\n".join(c.source for c in nb.cells)
    for marker in ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"):
        assert marker not in text
    assert sum(ch.is_test_cell(c) for c in nb.cells) >= 3
    assert "raise NotImplementedError()" in text


#: The grading environments: TF_CPP_MIN_LOG_LEVEL unset (TensorFlow's default, an instructor's
#: plain shell: every log line) for the round trip below, and at 0 with C-level stderr chatter in
#: every cell (IPYTHONDIR start-up hook) for the validator. The per-lab grading tests
#: (``test_labN_grading``) grade every submission in the second, hostile one
#: (``course_harness.grade_submissions``), so each environment grades solution and mistakes.
ENVIRONMENTS = {
    "log-level-unset": {"TF_CPP_MIN_LOG_LEVEL": None},
    "log-level-0-chatter": {"TF_CPP_MIN_LOG_LEVEL": "0", "IPYTHONDIR": "chatter"},
}
#: The round trip's environment (the hostile one is the per-lab grading tests').
ROUND_TRIP_ENVIRONMENT = "log-level-unset"


def _environment(name, tmp_path):
    env = dict(ENVIRONMENTS[name])
    if env.get("IPYTHONDIR") == "chatter":
        env["IPYTHONDIR"] = ch.chatter_ipython_dir(tmp_path / "ipython")
    return env


_VALIDATE = (
    "import json, sys\n"
    "from nbgrader.validator import Validator\n"
    "print('RESULT ' + json.dumps(Validator().validate(sys.argv[1])))\n"
)


def validate(path, **env):
    """nbgrader's Validator (the student's Validate button) in a fresh process with a student's environment."""
    proc = subprocess.run(
        [sys.executable, "-c", _VALIDATE, str(path)],
        capture_output=True,
        text=True,
        env=ch.course_env(**env),
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT ") :])


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_validator(lab, tmp_path):
    """Validate (what students run) with stderr chatter in every cell: the solution passes, the blank release fails."""
    import shutil

    for kind, folder in (("solution", ch.SOLUTIONS / lab), ("release", ch.LABS / lab)):
        shutil.copytree(folder, tmp_path / kind)
    env = {"I2ILAB_SMOKE": "1", **_environment("log-level-0-chatter", tmp_path)}
    solved = validate(tmp_path / "solution" / f"{lab}.ipynb", **env)
    blank = validate(tmp_path / "release" / f"{lab}.ipynb", **env)
    assert solved == {}, [c.get("raw_error", c) for c in solved.get("failed", [])]
    assert set(blank) == {"failed"}, blank.keys()
    failed_sources = "\n".join(c["source"] for c in blank["failed"])
    assert "NotImplementedError" in "".join(c["raw_error"] for c in blank["failed"]), failed_sources


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_autograde_round_trip(lab, tmp_path):
    environment = ROUND_TRIP_ENVIRONMENT
    root = ch.make_course_copy(tmp_path)
    solution = ch.solution_notebook(lab)
    release = ch.release_notebook(lab, root)
    grades = ch.autograde(
        root,
        lab,
        {
            "solution": solution,
            "blank": release,
            "partial": ch.stub_first_solution(solution),
            "tamper": ch.tamper_tests(release),
        },
        env=_environment(environment, tmp_path),
    )
    for student, g in grades.items():
        print(
            f"{lab} [{environment}] {student}: auto {g.auto_score:g}/{g.auto_max:g}, total {g.score:g}/{g.max_score:g}, "
            f"autograde {g.seconds:.1f} s wall, {g.cpu_seconds:.1f} s CPU"
        )
    full = grades["solution"]
    assert full.auto_max > 0
    assert full.auto_score == full.auto_max, {k: v for k, v in full.cells.items()}
    assert full.max_score > full.auto_max, "the lab has no manually graded written answers"
    assert grades["blank"].auto_score == 0
    assert 0 < grades["partial"].auto_score < full.auto_max
    # The tampered tests (`pass`) would give full marks; the gradebook's originals give 0.
    assert grades["tamper"].auto_score == 0
    assert grades["tamper"].cells.keys() == full.cells.keys()

    rows = {row["student_id"]: row for row in ch.export_grades(root) if row["assignment"] == lab}
    assert set(rows) == set(grades)
    for student, g in grades.items():
        assert float(rows[student]["score"]) == pytest.approx(g.score)
        assert float(rows[student]["max_score"]) == pytest.approx(full.max_score)
    assert float(rows["solution"]["score"]) == pytest.approx(full.auto_max)

    worst = max(g.seconds for g in grades.values())
    assert worst <= AUTOGRADE_BUDGET_S, (
        f"autograde of one {lab} submission took {worst:.1f} s (budget {AUTOGRADE_BUDGET_S:g} s; "
        "set I2ILAB_AUTOGRADE_BUDGET_S on a slow shared machine)"
    )


# ------------------------------------------------------------------------ opening a notebook
@pytest.mark.parametrize("lab", LABS)
def test_notebooks_carry_the_metadata_jupyterlab_writes_on_opening(lab):
    """JupyterLab writes ``language_info`` into a notebook without it as soon as the kernel starts,
    so a lab was modified by opening it (tests/test_browser.py checks what opening changes)."""
    sys.path.insert(0, str(ch.COURSE))
    import build_notebooks

    for nb in (ch.solution_notebook(lab), ch.release_notebook(lab)):
        assert nb.metadata["language_info"] == build_notebooks.LANGUAGE_INFO
        assert nb.metadata["kernelspec"]["name"] == "python3"
        assert (nb.nbformat, nb.nbformat_minor) == (4, 5) and all(c.get("id") for c in nb.cells)


# ------------------------------------------------------------------- full mode, offline
def test_full_mode_data_turns_a_download_error_into_one_message():
    from i2ilab import notebook
    from i2ilab.data.download import DownloadError

    with pytest.raises(notebook.FullModeUnavailable) as info:
        with notebook.full_mode_data():
            raise DownloadError("https://x/y.zip: download interrupted at 0 bytes (URLError: gaierror).\nmore")
    err = info.value
    assert err.__cause__ is None and err.__suppress_context__
    lines = err._render_traceback_()
    assert len(lines) == 3
    assert lines[0].endswith(
        "full mode could not get its data: https://x/y.zip: download interrupted at 0 bytes (URLError: gaierror)."
    )
    assert "I2ILAB_SMOKE=1 jupyter lab" in lines[2]
    with pytest.raises(ZeroDivisionError):  # other errors pass through
        with notebook.full_mode_data():
            1 / 0


def test_start_in_full_mode_without_a_gpu_says_how_to_run_smoke_mode(monkeypatch, capsys):
    import keras

    from i2ilab import notebook

    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["cpu:0"])
    notebook.start(mode="full", image_size=256)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "full mode, 256x256" in out[0]
    assert out[1] == f"No GPU found: full mode would take hours here. {notebook.SMOKE_HINT}"
    notebook.start(mode="smoke", image_size=32)
    assert len(capsys.readouterr().out.splitlines()) == 1
    monkeypatch.setattr(keras.distribution, "list_devices", lambda: ["gpu:0", "cpu:0"])
    notebook.start(mode="full", image_size=256)
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.notebook
def test_lab_started_offline_in_full_mode_shows_how_to_run_smoke_mode(tmp_path):
    """Lab 1 without I2ILAB_SMOKE on a machine without network (a proxy nobody listens on): the
    data cell shows one message naming I2ILAB_SMOKE=1, no traceback of the socket error."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    nb = ch.execute_until(
        "lab1_colorization",
        tmp_path,
        "data-pipeline",
        allow_errors=True,
        I2ILAB_SMOKE=None,
        I2ILAB_DATA=tmp_path / "data",
        http_proxy=dead,
        https_proxy=dead,
        HTTP_PROXY=dead,
        HTTPS_PROXY=dead,
    )
    setup = next(c for c in nb.cells if "setup" in c.metadata.get("tags", []))
    assert "full mode" in "".join(o.get("text", "") for o in setup.outputs)
    errors = [
        (i, o) for i, c in enumerate(nb.cells) if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert len(errors) == 1, [o["ename"] for _, o in errors]
    index, error = errors[0]
    assert "data-pipeline" in nb.cells[index].metadata.get("tags", [])
    assert error["ename"] == "FullModeUnavailable"
    shown = "\n".join(error["traceback"])
    assert len(error["traceback"]) == 3, shown
    assert "I2ILAB_SMOKE=1 jupyter lab" in shown and "download interrupted" in shown
    assert "Traceback" not in shown and "During handling" not in shown


# ----------------------------------------------------------------------------- grid titles
@pytest.mark.parametrize("title", ["ab at L=50", "ab (target, at L=50)", "a-very-long-unbreakable-column-title"])
def test_grid_titles_are_never_cut(title):
    """Lab 1's grids show 32x32 images enlarged to 96 px: a long title shrinks or wraps, whole."""
    import numpy as np
    from PIL import Image, ImageDraw

    from i2ilab import viz

    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines, size = viz.fit_title(draw, title, 96, 13)
    assert " ".join(lines) == title and 8 <= size <= 13
    if " " in title:
        assert len(lines) <= 2 and all(draw.textlength(line, font=viz._font(size)) <= 96 for line in lines)
    grid = viz.image_grid({"photo": np.zeros((1, 32, 32, 3)), title: np.zeros((1, 32, 32, 3))})
    top = grid.shape[0] - (2 + 96 + 2)
    assert top >= len(lines) * (size + 2) + 6
    assert (grid[:top, 2 + 98 : 2 + 98 + 96] < 128).any()
