"""The README's test command is the contract: .ci/run runs it verbatim and `make test` runs the
same pytest lines, so the three cannot drift apart."""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]


def readme_test_command():
    """The bash block that follows "Tests (the command CI runs" in the README."""
    text = (REPO / "README.md").read_text()
    after = text[text.index("Tests (the command CI runs") :]
    return re.search(r"```bash\n(.*?)```", after, re.S).group(1)


def command_lines(block):
    return [line.removesuffix(" && \\").strip() for line in block.strip().splitlines()]


def test_readme_test_command_is_the_four_pytest_passes():
    lines = command_lines(readme_test_command())
    assert len(lines) == 4 and all("python -m pytest" in line for line in lines)
    assert [re.findall(r'-m ("[^"]+"|\S+)', line)[-1] for line in lines] == [
        '"not notebook"',
        '"not notebook and not tf_only and not slow"',
        '"notebook and not timed"',
        '"notebook and timed"',
    ]
    assert "-n 2" not in lines[3], "the timed smoke runs run alone"
    assert lines[1].startswith("KERAS_BACKEND=jax ")


def test_ci_runs_the_readme_command_verbatim_and_fails_on_failure():
    ci = (REPO / ".ci" / "run").read_text()
    assert readme_test_command() in ci
    assert "set -euo pipefail" in ci
    assert ci.rstrip().endswith(command_lines(readme_test_command())[-1])  # its status is the script's


def test_make_test_runs_the_same_lines():
    makefile = (REPO / "Makefile").read_text()
    recipes = [line.strip().removesuffix(" $(ARGS)") for line in makefile.splitlines() if line.startswith("\t")]
    assert recipes == command_lines(readme_test_command())


def test_ci_checks_lint_and_format_with_the_configured_ruff():
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m ruff check . && python -m ruff format --check ." in ci
    pyproject = (REPO / "pyproject.toml").read_text()
    assert "[tool.ruff]" in pyproject and "line-length = 120" in pyproject and '"ruff>=' in pyproject
