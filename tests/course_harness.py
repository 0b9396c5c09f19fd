"""Helpers that run the nbgrader course for real: smoke executions and autograde round trips.

Shared by ``tests/test_course.py`` (every lab) and the lesson tests ``tests/test_lab*_lesson.py``.
Everything happens in temporary folders: a copy of ``solutions/<lab>/`` for a smoke run, a copy
of the course (``course/`` + ``solutions/`` + ``labs/``) for grading, so the checkout's
``course/gradebook.db`` and ``labs/`` are never touched. nbgrader runs as subprocesses
(``python -m nbgrader ...``) with the copy's config file, exactly as an instructor runs it.

Main entry points:

- ``labs()``: lab names, from ``course/sources/*.py``.
- ``execute_smoke(lab, workdir) -> SmokeRun(nb, seconds, metrics, cpu_seconds)``: the solution
  notebook executed top to bottom by nbclient with ``I2ILAB_SMOKE=1``; ``metrics`` is the
  notebook's ``lesson_metrics.json``; ``cpu_seconds`` the kernel's user + system CPU time.
- ``check_smoke_run(run, lab)``: the checks every smoke run passes (metrics written, budget).
- ``cell_source(nb, tag)``: the source of a tagged cell (full-mode pipeline checks).
- ``make_course_copy(tmp) -> root``: a course copy whose config root is ``root/course``.
- ``autograde(root, lab, {student: notebook}) -> {student: Grade}``: submit and autograde each
  submission (one ``nbgrader autograde --student`` process each, timed).
- ``stub_first_solution(nb)``, ``tamper_tests(nb)``: the partly wrong and the cheating submission.
- ``export_grades(root) -> list of dict``: the rows of ``nbgrader export`` (CSV).
"""

import contextlib
import copy
import csv
import dataclasses
import json
import os
import pathlib
import re
import resource
import shutil
import subprocess
import sys
import time
import typing
import warnings

import nbformat

REPO = pathlib.Path(__file__).resolve().parents[1]
COURSE = REPO / "course"
SOURCES = COURSE / "sources"
SOLUTIONS = REPO / "solutions"
LABS = REPO / "labs"
COURSE_ID = "i2ilab"
#: Seconds one notebook cell may run in a smoke execution (a whole lab must stay <= 300 s anyway).
SMOKE_CELL_TIMEOUT = 900
#: Files of course/ that a course copy needs (not the gradebook or students' folders).
COURSE_FILES = ("nbgrader_config.py", "build_notebooks.py")
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def budget(name, default):
    """A time budget in seconds: the environment variable ``name`` if set (slow shared machines), else ``default``."""
    value = os.environ.get(name)
    return float(value) if value else float(default)


def labs():
    """Lab names (``lab1_colorization``, ...) discovered from ``course/sources/*.py``, sorted."""
    return sorted(p.stem for p in SOURCES.glob("*.py"))


#: Variables of the test process that an instructor's or a student's shell does not have.
#: PYTEST_CURRENT_TEST matters: ipykernel stops capturing the kernel's file descriptors 1 and 2
#: when it is set (``ipykernel.iostream.OutStream``), so TensorFlow's C-level log lines would
#: leave the notebook instead of landing in the running cell as they do on a real machine.
TEST_ONLY_VARIABLES = ("PYTEST_CURRENT_TEST", "PYTEST_VERSION", "PYTEST_XDIST_WORKER")

#: What the simulated chatter writes to file descriptor 2 (the lines TensorFlow writes on a CPU
#: machine with a CUDA runtime and no driver, and on XLA's first use).
CHATTER_LINES = (
    "E0000 00:00:1796193382.387109    2441 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796193383.123456    2441 service.cc:153] XLA service 0x55d0c0a0 initialized for platform Host",
)

_CHATTER_STARTUP = '''"""Test chatter: C-level log lines on file descriptor 2 before and after every cell (i2ilab tests)."""
import os

_LINES = {lines!r}


def _chatter(*args, **kwargs):
    for line in _LINES:
        os.write(2, (line + "\\n").encode())


get_ipython().events.register("pre_run_cell", _chatter)
get_ipython().events.register("post_run_cell", _chatter)
'''


def chatter_ipython_dir(folder):
    """An IPYTHONDIR whose start-up file makes every kernel write ``CHATTER_LINES`` to file
    descriptor 2 (below Python, as TensorFlow's C++ logging does) before and after every cell.

    Pass it to ``course_env(IPYTHONDIR=...)``: every kernel nbgrader or nbclient starts then
    behaves like one on a grading machine where the backend writes log lines at unpredictable
    moments, graded cells included.
    """
    startup = pathlib.Path(folder) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-chatter.py").write_text(_CHATTER_STARTUP.format(lines=CHATTER_LINES))
    return pathlib.Path(folder)


def course_env(**extra):
    """The environment of an instructor's or student's shell for nbgrader and notebook kernels.

    It is this process's environment with the venv's ``bin`` first on PATH (an activated venv:
    nbgrader runs ``alembic`` from it), minus what only pytest sets (``TEST_ONLY_VARIABLES``).
    Nothing is quietened: no log level, no warning filter, no matplotlib backend.
    ``extra``: variables to set (str() of the value), or to remove when the value is None.
    """
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES}
    bindir = str(pathlib.Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("CI", "true")
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class SmokeRun(typing.NamedTuple):
    """Result of ``execute_smoke``: the executed notebook, wall seconds, lesson_metrics.json, kernel CPU seconds."""

    nb: nbformat.NotebookNode
    seconds: float
    metrics: dict
    cpu_seconds: float


def execute_smoke(lab, workdir, timeout=SMOKE_CELL_TIMEOUT, **env):
    """Execute ``solutions/<lab>/<lab>.ipynb`` top to bottom in smoke mode in a copy under ``workdir``.

    The kernel (python3, this venv) runs with cwd = ``workdir/<lab>`` (a copy of
    ``solutions/<lab>/``) and ``I2ILAB_SMOKE=1`` (+ ``env``). A failing cell
    raises ``nbclient.exceptions.CellExecutionError``. The executed notebook is also written to
    ``workdir/<lab>/<lab>.executed.ipynb`` for inspection.
    """
    from nbclient import NotebookClient

    src = SOLUTIONS / lab
    run_dir = pathlib.Path(workdir) / lab
    shutil.copytree(src, run_dir, dirs_exist_ok=True)
    metrics_path = run_dir / "lesson_metrics.json"
    metrics_path.unlink(missing_ok=True)
    nb = nbformat.read(run_dir / f"{lab}.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(run_dir)}},
        extra_arguments=["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"],
    )
    cpu0, t0 = _children_cpu(), time.perf_counter()
    try:
        client.execute(env=course_env(I2ILAB_SMOKE="1", **env))
    finally:
        seconds = time.perf_counter() - t0
        nbformat.write(nb, run_dir / f"{lab}.executed.ipynb")
    cpu = _children_cpu() - cpu0
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    return SmokeRun(nb, seconds, metrics, cpu)


#: Seconds a lab's smoke run may take (CI: 2 cores); I2ILAB_NOTEBOOK_BUDGET_S overrides it on a slow shared machine.
NOTEBOOK_BUDGET_S = budget("I2ILAB_NOTEBOOK_BUDGET_S", 300.0)


def check_smoke_run(run, lab, metric_keys=None):
    """The checks every lab's smoke run passes: it wrote ``lesson_metrics.json`` in smoke mode at
    32x32 (with exactly ``metric_keys`` under "metrics" when given) within the notebook budget."""
    print(f"{lab}: smoke run {run.seconds:.0f} s wall, {run.cpu_seconds:.0f} s CPU (kernel)")
    assert run.metrics, f"{lab}: the notebook wrote no lesson_metrics.json"
    assert run.metrics["mode"] == "smoke" and run.metrics["image_size"] == 32
    if metric_keys is not None:
        assert set(run.metrics["metrics"]) == set(metric_keys)
    assert run.seconds <= NOTEBOOK_BUDGET_S, (
        f"{lab}: smoke run took {run.seconds:.0f} s > {NOTEBOOK_BUDGET_S:g} s (I2ILAB_NOTEBOOK_BUDGET_S)"
    )


def cell_source(nb, tag):
    """The source of the one cell tagged ``tag`` in ``nb``."""
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0].source


def execute_until(lab, workdir, tag, extra_source="", timeout=SMOKE_CELL_TIMEOUT, allow_errors=False, **env):
    """Execute the solution notebook's cells up to and including the first cell tagged ``tag``, then
    ``extra_source`` as one more cell; return the executed notebook.

    For checks of code paths too long to run whole, e.g. full mode (``I2ILAB_SMOKE=None``
    removes the variable) building its 256x256 pipelines on a stand-in dataset. Runs in a copy
    of ``solutions/<lab>/`` under ``workdir``, like ``execute_smoke``. ``allow_errors``: a failing
    cell leaves its ``error`` output and the run goes on (nbclient's option).
    """
    from nbclient import NotebookClient

    run_dir = pathlib.Path(workdir) / lab
    shutil.copytree(SOLUTIONS / lab, run_dir, dirs_exist_ok=True)
    nb = nbformat.read(run_dir / f"{lab}.ipynb", as_version=4)
    stop = next((i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])), None)
    if stop is None:
        raise ValueError(f"{lab}: no cell tagged {tag!r}.")
    nb.cells = nb.cells[: stop + 1]
    if extra_source:
        nb.cells.append(nbformat.v4.new_code_cell(extra_source))
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(run_dir)}},
        extra_arguments=["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"],
        allow_errors=allow_errors,
    )
    client.execute(env=course_env(**env))
    return nb


def make_course_copy(tmp):
    """Copy the course into ``tmp`` (course config, solutions/, labs/) and return the copy's root.

    ``course/nbgrader_config.py`` takes its root from ``__file__``, so the copy's config points at
    the copy: its gradebook, submitted/ and autograded/ folders live under ``<root>/course``.
    """
    root = pathlib.Path(tmp) / "course_copy"
    (root / "course").mkdir(parents=True)
    for name in COURSE_FILES:
        shutil.copy2(COURSE / name, root / "course" / name)
    ignore = shutil.ignore_patterns("*.executed.ipynb", "lesson_metrics.json", ".ipynb_checkpoints", "__pycache__")
    for folder in ("solutions", "labs"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, root / folder, ignore=ignore)
    return root


def nbgrader(root, *args, check=True, timeout=900, **env):
    """Run ``python -m nbgrader <args>`` in ``root`` with the config of ``root/course``; return the CompletedProcess."""
    cmd = [sys.executable, "-m", "nbgrader", *map(str, args), f"--NbGrader.config_file={root}/course/nbgrader_config"]
    proc = subprocess.run(
        cmd, cwd=root, env=course_env(**env), capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def regenerate_release(lab, dest, root=REPO):
    """``nbgrader generate_assignment --no-db`` of ``lab`` into ``dest/<lab>``; returns that folder."""
    nbgrader(root, "generate_assignment", lab, "--force", "--no-db", f"--CourseDirectory.release_directory={dest}")
    return pathlib.Path(dest) / lab


def _db_url(root):
    return f"sqlite:///{pathlib.Path(root) / 'course' / 'gradebook.db'}"


@contextlib.contextmanager
def gradebook(root):
    """The copy's ``nbgrader.api.Gradebook``, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nbgrader.api import Gradebook

        with Gradebook(_db_url(root), course_id=COURSE_ID) as gb:
            yield gb


@dataclasses.dataclass
class Grade:
    """Autograde result of one submission.

    auto_score / auto_max: the autograded test cells; score / max_score: nbgrader's totals
    (written answers count 0 until graded by hand); cells: grade_id -> score of every autograded
    cell; seconds: wall time of the student's ``nbgrader autograde`` process.
    """

    score: float
    max_score: float
    auto_score: float
    auto_max: float
    cells: dict
    seconds: float
    cpu_seconds: float


def _ensure_assignment(root, lab, env=None):
    """Fill the copy's gradebook with ``lab`` (generate_assignment with the db), once."""
    with gradebook(root) as gb:
        try:
            gb.find_assignment(lab)
            return
        except Exception:  # nbgrader.api.MissingEntry
            pass
    nbgrader(root, "generate_assignment", lab, "--force", **(env or {}))


def _grade_of(root, lab, student, seconds, cpu_seconds):
    with gradebook(root) as gb:
        sub = gb.find_submission(lab, student)
        cells, auto_score, auto_max = {}, 0.0, 0.0
        for snb in sub.notebooks:
            for grade in snb.grades:
                if grade.cell.cell_type == "code":
                    cells[grade.name] = float(grade.score)
                    auto_score += float(grade.score)
                    auto_max += float(grade.max_score)
        return Grade(float(sub.score), float(sub.max_score), auto_score, auto_max, cells, seconds, cpu_seconds)


def autograde(root, lab, submissions, env=None):
    """Submit ``{student: notebook}`` to the course copy at ``root`` and autograde each one.

    ``env``: extra environment variables of the nbgrader processes and their kernels
    (``course_env`` keywords, e.g. ``IPYTHONDIR`` from :func:`chatter_ipython_dir`).

    Each notebook (an nbformat node or a path) becomes
    ``course/submitted/<student>/<lab>/<lab>.ipynb``; each student is graded by its own
    ``nbgrader autograde <lab> --student <s> --force`` process, timed. Returns ``{student: Grade}``.
    """
    root = pathlib.Path(root)
    _ensure_assignment(root, lab, env)
    for student, nb in submissions.items():
        if not re.fullmatch(r"[A-Za-z0-9_]+", student):
            raise ValueError(f"student id {student!r}: use letters, digits and _ only.")
        folder = root / "course" / "submitted" / student / lab
        folder.mkdir(parents=True, exist_ok=True)
        if isinstance(nb, (str, os.PathLike)):
            shutil.copy2(nb, folder / f"{lab}.ipynb")
        else:
            nbformat.write(nb, folder / f"{lab}.ipynb")
    grades = {}
    for student in submissions:
        cpu0, t0 = _children_cpu(), time.perf_counter()
        nbgrader(root, "autograde", lab, "--student", student, "--force", **(env or {}))
        seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
        grades[student] = _grade_of(root, lab, student, seconds, cpu)
    return grades


def export_grades(root):
    """``nbgrader export`` of the course copy at ``root``: a list of CSV rows (dicts of strings)."""
    out = pathlib.Path(root) / "grades.csv"
    nbgrader(root, "export", f"--to={out}")
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def _nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test_cell(cell):
    """An autograded test cell: code, grade true, solution false."""
    meta = _nbgrader_meta(cell)
    return cell.cell_type == "code" and meta.get("grade", False) and not meta.get("solution", False)


def _replace_solution(source, code):
    """``source`` with its ``### BEGIN SOLUTION`` .. ``### END SOLUTION`` region replaced by ``code``,
    indented like the region."""
    lines = source.split("\n")
    begin = next(i for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line)
    end = next(i for i, line in enumerate(lines) if i > begin and "### END SOLUTION" in line)
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    body = [indent + line if line else line for line in code.strip("\n").split("\n")]
    return "\n".join(lines[:begin] + body + lines[end + 1 :])


def _graded_cell(nb, grade_id, caller):
    """The one cell of ``nb`` whose nbgrader grade_id is ``grade_id``."""
    cells = [c for c in nb.cells if _nbgrader_meta(c).get("grade_id") == grade_id]
    if len(cells) != 1:
        raise ValueError(f"{caller}: no single cell with grade_id {grade_id!r}")
    return cells[0]


def stub_first_solution(nb):
    """A partly wrong submission: a copy of the solution notebook ``nb`` whose first solution
    region (``### BEGIN SOLUTION`` .. ``### END SOLUTION`` in a code cell) is replaced by the stub
    ``raise NotImplementedError()``, indented like the region."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
            cell.source = _replace_solution(cell.source, CODE_STUB)
            return nb
    raise ValueError("stub_first_solution: the notebook has no '### BEGIN SOLUTION' region in a code cell.")


def edit_cell(nb, grade_id, old, new, count=1):
    """A copy of ``nb`` whose cell ``grade_id`` has ``old`` replaced by ``new`` (a student's variant
    or mistake); ``old`` must occur exactly ``count`` times in that cell."""
    nb = copy.deepcopy(nb)
    cell = _graded_cell(nb, grade_id, "edit_cell")
    found = cell.source.count(old)
    if found != count:
        raise ValueError(f"edit_cell: {old!r} occurs {found} times in {grade_id}, expected {count}")
    cell.source = cell.source.replace(old, new)
    return nb


def set_cell(nb, grade_id, source):
    """A copy of ``nb`` whose cell ``grade_id`` holds ``source`` (a student's whole answer cell)."""
    nb = copy.deepcopy(nb)
    _graded_cell(nb, grade_id, "set_cell").source = source
    return nb


def set_answer(nb, grade_id, code):
    """A copy of ``nb`` whose cell ``grade_id`` holds ``code`` in place of its whole solution region
    (``### BEGIN SOLUTION`` .. ``### END SOLUTION``; ``code`` is indented like the region)."""
    nb = copy.deepcopy(nb)
    cell = _graded_cell(nb, grade_id, "set_answer")
    cell.source = _replace_solution(cell.source, code)
    return nb


def grade_submissions(tmp_path, lab, submissions):
    """Autograde ``{student: notebook}`` in a fresh course copy under ``tmp_path`` in the hostile
    grading environment: TensorFlow's C++ log level at 0 (every line) and every kernel writing
    C-level stderr chatter (:func:`chatter_ipython_dir`) before and after each cell.

    Returns ``(root, grades, full)``: the copy's root, ``{student: Grade}``, and grade_id -> points
    of the solution's test cells (for :func:`check_scores`).
    """
    root = make_course_copy(tmp_path)
    grades = autograde(
        root,
        lab,
        submissions,
        env={"TF_CPP_MIN_LOG_LEVEL": "0", "IPYTHONDIR": chatter_ipython_dir(pathlib.Path(tmp_path) / "ipython")},
    )
    return root, grades, points(solution_notebook(lab))


def points(nb):
    """grade_id -> points of every autograded test cell of ``nb``."""
    return {_nbgrader_meta(c)["grade_id"]: float(_nbgrader_meta(c)["points"]) for c in nb.cells if is_test_cell(c)}


def autograded_notebook(root, lab, student):
    """``student``'s autograded notebook of ``lab`` in the course copy at ``root``."""
    return read_notebook(pathlib.Path(root) / "course" / "autograded" / student / lab / f"{lab}.ipynb")


def graded_cell(root, lab, student, grade_id):
    """The cell ``grade_id`` of ``student``'s autograded notebook, with its outputs."""
    return _graded_cell(autograded_notebook(root, lab, student), grade_id, "graded_cell")


def feedback(root, lab, student):
    """grade_id -> the error text (what the student reads) of every autograded test cell of
    ``student``'s autograded notebook in the course copy at ``root`` ("" for a passing cell)."""
    return {
        _nbgrader_meta(c)["grade_id"]: "".join(o.get("evalue", "") for o in c.outputs)
        for c in autograded_notebook(root, lab, student).cells
        if is_test_cell(c)
    }


def check_scores(grades, expected, full):
    """Assert every submission's per-cell scores: ``expected[student]`` maps the test cells that
    score 0 (a set of grade_ids); every other cell of ``full`` (grade_id -> points) scores full.
    Prints a table first, and checks that no submission took longer to autograde than the
    budget (``I2ILAB_AUTOGRADE_BUDGET_S``, default 20 s)."""
    for student, g in grades.items():
        print(
            f"{student:>28s}: {g.auto_score:g}/{g.auto_max:g}  zero: {sorted(k for k, v in g.cells.items() if v == 0)}"
            f"  ({g.seconds:.1f} s)"
        )
    for student, zero in expected.items():
        want = {k: (0.0 if k in zero else v) for k, v in full.items()}
        assert grades[student].cells == want, f"{student}: got {grades[student].cells}, expected {want}"
    limit = budget("I2ILAB_AUTOGRADE_BUDGET_S", 20.0)
    slow = {s: round(g.seconds, 1) for s, g in grades.items() if g.seconds > limit}
    assert not slow, f"autograde over {limit:g} s per submission (I2ILAB_AUTOGRADE_BUDGET_S): {slow}"


def tamper_tests(nb):
    """A cheating submission: a copy of ``nb`` with every autograded test cell's source replaced by ``pass``."""
    nb = copy.deepcopy(nb)
    n = 0
    for cell in nb.cells:
        if is_test_cell(cell):
            cell.source = "pass"
            n += 1
    if not n:
        raise ValueError("tamper_tests: the notebook has no autograded test cells.")
    return nb


def read_notebook(path):
    return nbformat.read(path, as_version=4)


def solution_notebook(lab):
    return read_notebook(SOLUTIONS / lab / f"{lab}.ipynb")


def release_notebook(lab, root=REPO):
    return read_notebook(pathlib.Path(root) / "labs" / lab / f"{lab}.ipynb")


def tree_files(folder):
    """Relative path -> bytes of every file under ``folder``."""
    folder = pathlib.Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
