"""The package's layout keeps its rules: imports run from higher concerns to lower ones only, only
rendering draws, only commands print."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "codes" / "complexstep"

# The concerns from the lowest to the highest: a module may import its own concern and those
# before it. The face (``__init__``, ``__main__``) stands above them all.
ORDER = [
    ("errors", "defaults", "progress", "quiet"),
    ("io",),
    ("model",),
    ("twin", "pytorch"),
    ("engines",),
    ("explain",),
    ("api",),
    ("evaluation",),
    ("regions",),
    ("rendering",),
    ("explorer",),
    ("cluster",),
    ("folders",),
    ("commands",),
]
RANK = {concern: rank for rank, concerns in enumerate(ORDER) for concern in concerns}
MODULES = sorted(
    path
    for path in PACKAGE.rglob("*.py")
    if path.relative_to(PACKAGE).parts[0] not in ("__init__.py", "__main__.py")
)


def _concern(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    """The complexstep modules a file imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [name for name in names if name.startswith("complexstep.")]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("complexstep.")]
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_run_from_higher_concerns_to_lower_ones(path):
    """Data flows one way: no module imports a concern above its own."""
    concern = _concern(path)
    above = sorted(
        {
            name
            for name in _imports(path)
            if name.split(".")[1] in RANK and RANK[name.split(".")[1]] > RANK[concern]
        }
    )
    assert above == [], f"{path.relative_to(PACKAGE)} ({concern}) imports {above}"


def test_only_rendering_imports_matplotlib_and_only_commands_print():
    """Figures are drawn in one place and lines are printed in one place."""
    drawing, printing = [], []
    for path in MODULES:
        tree = ast.parse(path.read_text())
        modules = [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ] + [
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        ]
        if any(name.split(".")[0] == "matplotlib" for name in modules):
            drawing.append(_concern(path))
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
        ]
        if calls:
            printing.append(_concern(path))
    assert set(drawing) == {"rendering"}
    assert set(printing) == {"commands"}
