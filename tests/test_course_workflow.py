"""The instructor workflow of course/README.md, run from the README itself.

Every shell block of the README that starts with ``# ci: workflow <step>`` is parsed out and run,
unchanged, in a temporary copy of the course: generate the release, hand it out through the
nbgrader exchange, a student fetches and submits, the instructor collects (exchange and LMS zip),
autogrades, writes and releases feedback, and exports the grades to CSV, which must hold the
expected scores. So the README and this test cannot drift apart. Other commands of the README
(``i2ilab train``, ``i2ilab convert``, the demo scripts) are checked to parse.

The test supplies three things: where the exchange is (``I2ILAB_EXCHANGE``, which the course
config and the README's exchange commands read, instead of ``/srv/nbgrader/exchange``), the
student's home folder (``HOME``, where the README's student configuration goes) and the
submissions' archive (the zip an LMS would give). Every other command of the README is run by
another test or checked to parse (``test_every_readme_command_is_run_or_checked``).
"""

import argparse
import csv
import getpass
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import zipfile

import course_harness as ch
import nbformat
import pytest

README = ch.COURSE / "README.md"
LAB = "lab1_colorization"
#: The workflow steps, in the order the README gives them.
STEPS = (
    "generate",
    "exchange",
    "release",
    "student-config",
    "student-fetch",
    "student-submit",
    "collect",
    "zip-collect",
    "autograde",
    "feedback",
    "release-feedback",
    "student-feedback",
    "export",
)
INSTRUCTOR_STEPS = tuple(s for s in STEPS if not s.startswith("student-"))
FENCE = re.compile(r"( *)```(\S*)\s*")
SHELLS = ("bash", "sh", "shell", "")


def shell_blocks(text=None):
    """Every fenced shell block of the course README, as source text."""
    text = README.read_text() if text is None else text
    blocks, fence, body = [], None, []
    for line in text.splitlines():
        m = FENCE.fullmatch(line)
        if fence is None:
            if m:
                fence, body = m.groups(), []
        elif m and m.group(1) == fence[0] and not m.group(2):
            if fence[1] in SHELLS:
                blocks.append(textwrap.dedent("\n".join(body) + "\n"))
            fence = None
        else:
            body.append(line)
    return blocks


def workflow_blocks(text=None):
    """{step: commands} of the blocks marked ``# ci: workflow <step>``, in README order."""
    steps = {}
    for block in shell_blocks(text):
        first, _, rest = block.partition("\n")
        m = re.fullmatch(r"#\s*ci:\s*workflow\s+(\S+)\s*", first)
        if m:
            if m.group(1) in steps:
                raise ValueError(f"course/README.md: two blocks for workflow step {m.group(1)!r}")
            steps[m.group(1)] = rest
    return steps


def commands(block):
    """The commands of a shell block: continuation lines joined, comments and blanks dropped."""
    out, current = [], ""
    for line in block.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        current += stripped
        out.append(current)
        current = ""
    return out


def run_step(step, cwd, blocks, **env):
    """Run the README's block for ``step`` with bash in ``cwd`` (``env``: variables to set);
    fail with its output."""
    script = "set -euo pipefail\n" + blocks[step]
    proc = subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=ch.course_env(**env),
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"README step {step!r} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def expected_points(nb):
    """(points of the autograded test cells, points of every graded cell) of a notebook."""
    auto = total = 0.0
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            total += float(meta.get("points", 0))
            if ch.is_test_cell(cell):
                auto += float(meta.get("points", 0))
    return auto, total


# ----------------------------------------------------------------------------- fast checks
def test_readme_marks_every_workflow_step_in_order():
    blocks = workflow_blocks()
    assert tuple(blocks) == STEPS
    for step in INSTRUCTOR_STEPS:
        for cmd in commands(blocks[step]):
            if cmd.startswith("nbgrader "):
                assert f"{LAB} " in cmd + " " or step == "export", cmd
                assert "--NbGrader.config_file=course/nbgrader_config" in cmd, (
                    f"README step {step}: instructor commands run from the repository root with "
                    f"the course config: {cmd}"
                )
    for step in ("student-fetch", "student-submit", "student-feedback"):
        assert all("--course=i2ilab" in c for c in commands(blocks[step]) if c.startswith("nbgrader"))


def test_workflow_block_parser():
    text = (
        "intro\n```bash\n# ci: workflow a\nx --y \\\n  --z  # note\n\n# c\nw\n```\n"
        "```bash\necho plain\n```\n```python\n# ci: workflow b\n```\n"
        "- item:\n\n  ```bash\n  # ci: workflow c\n  y\n  ```\n"
    )
    blocks = workflow_blocks(text)
    assert list(blocks) == ["a", "c"]
    assert commands(blocks["a"]) == ["x --y --z  # note", "w"]
    assert commands(blocks["c"]) == ["y"]
    with pytest.raises(ValueError, match="two blocks"):
        workflow_blocks(text + "```bash\n# ci: workflow a\nq\n```\n")


def _parsers():
    from i2ilab import cli
    from i2ilab.convert.command import add_convert_parser

    sys.path.insert(0, str(ch.COURSE / "demos"))
    import make_figures
    import step_times  # noqa: F401

    convert = argparse.ArgumentParser(prog="i2ilab")
    add_convert_parser(convert.add_subparsers(dest="command"))
    return {
        "i2ilab": cli.build_parser(),
        "i2ilab convert": convert,
        "course/demos/make_figures.py": make_figures.build_parser(),
    }


def test_readme_commands_parse():
    """Every `i2ilab ...` and `python course/demos/make_figures.py ...` line of the README is a
    valid command line (options spelled as the parsers know them)."""
    parsers = _parsers()
    checked = 0
    for block in shell_blocks():
        for cmd in commands(block):
            words = shlex.split(cmd, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
                words = words[1:]  # environment assignments, e.g. KERAS_BACKEND=jax
            if not words:
                continue
            if words[0] == "i2ilab":
                parser = parsers["i2ilab convert" if words[1:2] == ["convert"] else "i2ilab"]
                args = words[1:]
            elif words[:2] == ["python", "course/demos/make_figures.py"]:
                parser, args = parsers["course/demos/make_figures.py"], words[2:]
            else:
                continue
            try:
                parser.parse_args(args)
            except SystemExit as err:
                pytest.fail(f"course/README.md: `{cmd}` does not parse (exit {err.code})")
            checked += 1
    assert checked >= 8, "the README lost its training / conversion commands"


#: README commands that are neither a workflow step nor an `i2ilab` / make_figures.py command
#: line (those are parsed above), and where they run.
RUN_ELSEWHERE = {
    "git clone <your private fork of i2ilab> i2ilab && cd i2ilab": ".ci/run (CI's checkout)",
    "python3 -m venv .venv && . .venv/bin/activate": ".ci/run",
    'pip install -e ".[dev]"': ".ci/run",
    "python course/demos/demo_widgets.py": "tests/test_demos.py",
    "jupyter lab": "tests/test_browser.py",
    "jupyter lab course/demos/lecture.ipynb": "tests/test_browser.py",
}
#: README commands no test runs, and why.
NOT_RUN = {
    "pip wheel --no-deps . -w dist": "builds the package CI installs from the same pyproject.toml",
    'pip install -e ".[torch]"': "PyTorch (about 1 GB) is only needed to read official .pth files",
    "python data_scripts/download_pix2pix.py facades --out data": "downloads a dataset (network)",
}


def test_every_readme_command_is_run_or_checked():
    """Each command of course/README.md is a workflow step (run above), an i2ilab or
    make_figures.py command line (parsed), run by the test named in RUN_ELSEWHERE, or one of the
    few in NOT_RUN; nothing is forgotten and no entry is stale."""
    workflow = {c for block in workflow_blocks().values() for c in commands(block)}
    seen, unaccounted = set(), []
    for block in shell_blocks():
        for cmd in commands(block):
            bare = cmd.split("  #")[0].strip()
            words = shlex.split(bare, comments=True)
            seen.add(bare)
            if cmd in workflow or words[:1] == ["i2ilab"] or bare in RUN_ELSEWHERE or bare in NOT_RUN:
                continue
            if words[:2] == ["python", "course/demos/make_figures.py"]:
                continue
            unaccounted.append(bare)
    assert not unaccounted, f"course/README.md commands no test runs or checks: {unaccounted}"
    assert not (set(RUN_ELSEWHERE) | set(NOT_RUN)) - seen, "stale entries: the README lost these commands"
    for cmd, where in RUN_ELSEWHERE.items():
        path = ch.REPO / where.split(" ")[0]
        text = path.read_text()
        words = shlex.split(cmd)
        if where.startswith("tests/"):
            assert all(w in text for w in words if not w.startswith("<")), f"{where} does not run `{cmd}`"


# --------------------------------------------------------------------- the whole workflow
@pytest.mark.notebook
def test_instructor_workflow_from_the_readme(tmp_path):
    blocks = workflow_blocks()
    root = ch.make_course_copy(tmp_path)
    shutil.copytree(ch.SOURCES, root / "course" / "sources")  # for build_notebooks.py --check
    exchange = tmp_path / "srv" / "exchange"
    student_home = tmp_path / "student"
    student_home.mkdir()
    instructor = {"I2ILAB_EXCHANGE": exchange}
    student = {"I2ILAB_EXCHANGE": exchange, "HOME": student_home, "JUPYTER_CONFIG_DIR": None}

    solution = ch.solution_notebook(LAB)
    auto_points, all_points = expected_points(solution)
    assert 0 < auto_points < all_points
    stated = " ".join(README.read_text().split())
    assert f"scores all {auto_points:g} autograded points (of {all_points:g}:" in stated, (
        "course/README.md states other points"
    )

    run_step("generate", root, blocks, **instructor)
    assert (root / "labs" / LAB / f"{LAB}.ipynb").is_file()
    run_step("exchange", root, blocks, **instructor)
    assert exchange.is_dir() and exchange.stat().st_mode & 0o7777 == 0o1777
    run_step("release", root, blocks, **instructor)
    run_step("student-config", student_home, blocks, **student)
    config = (student_home / ".jupyter" / "nbgrader_config.py").read_text()
    assert config == f"c.Exchange.root = '{exchange}'\n"

    # a student fetches the lab, does it (here: the solution), and submits it
    run_step("student-fetch", student_home, blocks, **student)
    fetched = student_home / LAB / f"{LAB}.ipynb"
    assert ch.read_notebook(fetched).cells[0].source == ch.release_notebook(LAB, root).cells[0].source
    nbformat.write(solution, fetched)
    run_step("student-submit", student_home, blocks, **student)
    run_step("collect", root, blocks, **instructor)
    exchange_student = getpass.getuser()
    assert (root / "course" / "submitted" / exchange_student / LAB / f"{LAB}.ipynb").is_file()

    run_step("autograde", root, blocks, **instructor)
    run_step("feedback", root, blocks, **instructor)
    assert (root / "course" / "feedback" / exchange_student / LAB / f"{LAB}.html").is_file()
    run_step("release-feedback", root, blocks, **instructor)
    run_step("student-feedback", student_home, blocks, **student)
    assert list((student_home / LAB / "feedback").rglob(f"{LAB}.html"))

    # two more students hand in through an LMS: one zip, a folder per student; grading again
    # grades only the new submissions
    archive = root / "course" / "downloaded" / LAB / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as z:
        z.writestr(f"{LAB}_submissions/blank/{LAB}.ipynb", nbformat.writes(ch.release_notebook(LAB, root)))
        z.writestr(f"{LAB}_submissions/partial/{LAB}.ipynb", nbformat.writes(ch.stub_first_solution(solution)))
        z.writestr(f"__MACOSX/{LAB}_submissions/partial/._{LAB}.ipynb", "resource fork")
    run_step("zip-collect", root, blocks, **instructor)
    submitted = sorted(p.name for p in (root / "course" / "submitted").iterdir())
    assert submitted == sorted([exchange_student, "blank", "partial"])
    run_step("autograde", root, blocks, **instructor)
    run_step("feedback", root, blocks, **instructor)
    for student in submitted:
        assert (root / "course" / "feedback" / student / LAB / f"{LAB}.html").is_file()

    run_step("export", root, blocks, **instructor)
    rows = _grades(root)
    assert set(rows) == set(submitted)
    for row in rows.values():
        assert float(row["max_score"]) == pytest.approx(all_points)
    # full marks on every autograded test; written answers wait for the formgrader
    assert float(rows[exchange_student]["score"]) == pytest.approx(auto_points)
    assert float(rows["blank"]["score"]) == 0
    assert 0 < float(rows["partial"]["score"]) < auto_points

    # what the formgrader does when the instructor marks the written answers; the export follows
    with ch.gradebook(root) as gb:
        sub = gb.find_submission(LAB, exchange_student)
        for snb in sub.notebooks:
            for grade in snb.grades:
                if grade.cell.cell_type == "markdown":
                    grade.manual_score = grade.max_score
        gb.db.commit()
    run_step("export", root, blocks, **instructor)
    assert float(_grades(root)[exchange_student]["score"]) == pytest.approx(all_points)


def _grades(root):
    out = pathlib.Path(root) / "grades.csv"
    with open(out, newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f) if row["assignment"] == LAB}
