"""The rules of the house (DESIGN.md): who may import the CLI, who asks which backend runs, where
the size rules, trainer builders and the Lab conversion live, and the import order of the layers."""

import ast
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
LIBRARY = sorted((REPO / "i2ilab").rglob("*.py"))
#: Everything but the command line, that must use the library instead of it.
CLIENTS = [
    *LIBRARY,
    *(REPO / "course").rglob("*.py"),
    *(REPO / "benchmarks").rglob("*.py"),
    *(REPO / "experiments").rglob("*.py"),
]
COMMAND_LINE = {REPO / "i2ilab" / "cli.py", REPO / "i2ilab" / "__main__.py"}


def _rel(path):
    return str(path.relative_to(REPO))


def _imports(path):
    """Module names a file imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_only_the_command_line_imports_the_cli():
    offenders = [_rel(p) for p in CLIENTS if p not in COMMAND_LINE and "i2ilab.cli" in _imports(p)]
    assert offenders == []


def test_one_module_asks_the_backend_or_uses_private_keras():
    asks = re.compile(r"keras\.(backend|config)\.backend\(\)")
    offenders = [
        _rel(p) for p in LIBRARY if asks.search(p.read_text()) or any(n.startswith("keras.src") for n in _imports(p))
    ]
    assert offenders == ["i2ilab/backend.py"]


@pytest.mark.parametrize(
    "rule",
    [
        "max_patch_layers",
        "patch_layers",
        "resnet_blocks",
        "munit_scales",
        "arch_config",
        "build_networks",
        "make_trainer",
    ],
)
def test_size_rules_and_trainer_builders_live_in_the_recipes(rule):
    defines = re.compile(rf"^\s*def {rule}\(", re.M)
    assert [_rel(p) for p in CLIENTS if defines.search(p.read_text())] == ["i2ilab/recipes.py"]


def test_one_lab_conversion():
    # The sRGB -> XYZ matrix, Lab's 116 f(Y) - 16 and the networks' L / 50 - 1 scaling.
    marks = re.compile(r"0\.412453|116\.0 \* f|/ 50\.0? - 1|/ L_SCALE - 1")
    lab_sources = REPO / "course" / "sources"  # the students' own exercises
    offenders = [_rel(p) for p in CLIENTS if marks.search(p.read_text()) and lab_sources not in p.parents]
    assert offenders == ["i2ilab/color.py"]


#: The floors of the library, lowest first: a module imports (at module level) only from its own
#: floor or below. ``i2ilab.layers`` re-exports blocks from ``models`` lazily (PEP 562).
FLOORS = [
    {"i2ilab", "i2ilab.errors", "i2ilab.backend", "i2ilab.color"},
    {"i2ilab.layers", "i2ilab.losses", "i2ilab.viz", "i2ilab.runs", "i2ilab.metrics", "i2ilab.data"},
    {"i2ilab.models"},
    {"i2ilab.training", "i2ilab.callbacks", "i2ilab.convert"},
    {"i2ilab.recipes", "i2ilab.inference"},
    {"i2ilab.cli", "i2ilab.__main__", "i2ilab.notebook", "i2ilab.grading"},
]


def _floor(module):
    for level, members in enumerate(FLOORS):
        if any(module == m or (m != "i2ilab" and module.startswith(m + ".")) for m in members):
            return level
    raise AssertionError(f"{module} is on no floor of FLOORS")


def _top_level_imports(path):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (
                f"{node.module}.{alias.name}" for alias in node.names if f"{node.module}.{alias.name}".count(".") <= 2
            )


def test_modules_import_only_their_floor_or_below():
    upward = []
    for path in LIBRARY:
        parts = path.relative_to(REPO).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for name in _top_level_imports(path):
            if name.startswith("i2ilab") and _floor(name) > _floor(module):
                upward.append(f"{module} -> {name}")
    assert upward == []


def test_the_command_line_is_a_thin_layer():
    assert len((REPO / "i2ilab" / "cli.py").read_text().splitlines()) <= 450
