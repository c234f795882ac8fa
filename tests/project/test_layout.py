"""The package keeps every rule docs/layout.md states: each is checked on the package's source,
parsed with ``ast``, and each checker is shown to catch a module written to break its rule."""

import ast
import builtins
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "codes" / "complexstep"
PAGE = ROOT / "docs" / "layout.md"

# Each rule's allowed breaches, with why; docs/layout.md names the same ones. A test fails where
# an entry no longer breaks its rule, so that none outlives its reason.
PRINTING_ALLOWED = {
    "quiet.py": "writes back what Keras and TensorFlow wrote while starting, less their start-up "
    "notices: their words, not the library's",
    "progress.py": "its tqdm bars are what a caller asks for with show_progress=True",
}
FLAGS_ALLOWED = {
    f"folders/attribution.py: {flag}": "its errors for a 3-D model given a size and for "
    "per_channel on a grey model name the argument's flag beside it for the command's users; to "
    "go once commands/explain.py adds the flag to those errors itself"
    for flag in ("--resize", "--per-channel")
}
DEFAULTS_ALLOWED = {
    "api.py: register_twin's state": "the empty description of a twin without a state, as "
    "twin/graph_layers.py takes it, not a setting",
}

FACE = ("__init__.py", "__main__.py", "api.py")
WALKING = {"walk", "fwalk", "scandir", "listdir", "iterdir", "glob", "rglob", "iglob"}
FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")
BUILTIN_EXCEPTIONS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}


def _tree(text: str) -> tuple[set[str], list[set[str]]]:
    """The paths the page's tree names, relative to the repository, and the package's concerns in
    the tree's order, those of one line together."""
    block = text.split("```text\n", 1)[1].split("```", 1)[0]
    named, concerns = set(), []
    folders: list[tuple[int, str]] = []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        names = []
        for word in line.split():
            if not re.fullmatch(r"[\w./-]+(\.py|\.ipynb|/)", word):
                break
            names.append(word)
        if not names:
            continue
        while folders and folders[-1][0] >= indent:
            folders.pop()
        parent = folders[-1][1] if folders else ""
        named |= {parent + name for name in names}
        if parent == "codes/complexstep/":
            concerns.append({name.removesuffix("/").removesuffix(".py") for name in names})
        if len(names) == 1 and names[0].endswith("/"):
            folders.append((indent, parent + names[0]))
    return named, concerns


NAMED, CONCERNS = _tree(PAGE.read_text())
RANK = {concern: rank for rank, line in enumerate(CONCERNS) for concern in line}
MODULES = {
    path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text())
    for path in sorted(PACKAGE.rglob("*.py"))
}


def _concern(module: str) -> str:
    return module.split("/")[0].removesuffix(".py")


def _source(module: str, node: ast.ImportFrom) -> str:
    """The module a ``from ... import`` names, made absolute where it is relative."""
    if not node.level:
        return node.module or ""
    package = ["complexstep", *module.removesuffix(".py").split("/")][: -node.level]
    return ".".join([*package, node.module] if node.module else package)


def _imported(module: str, tree: ast.Module) -> list[str]:
    """Every module and name a module imports, as dotted names."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _source(module, node)
            found += [source] + [f"{source}.{alias.name}" for alias in node.names]
    return found


def imports_above(module: str, tree: ast.Module) -> list[str]:
    """Rule 1: the package's modules a module imports from concerns after its own in the tree."""
    return sorted(
        {
            name
            for name in _imported(module, tree)
            if name.startswith("complexstep.")
            and RANK.get(name.split(".")[1], -1) > RANK[_concern(module)]
        }
    )


def imports_of_the_face(module: str, tree: ast.Module) -> list[str]:
    """Rule 2: ``complexstep.api`` or the package root, where a module imports them."""
    if module in FACE or _concern(module) == "commands":
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name == "complexstep"]
        elif isinstance(node, ast.ImportFrom) and _source(module, node) == "complexstep":
            found += [
                f"complexstep.{alias.name}"
                for alias in node.names
                if not (PACKAGE / alias.name).is_dir()
                and not (PACKAGE / f"{alias.name}.py").is_file()
            ]
    found += [
        name for name in _imported(module, tree) if name.split(".")[:2] == ["complexstep", "api"]
    ]
    return sorted(set(found))


def _lines(found: list[tuple[int, str]]) -> list[str]:
    """What a checker found, by line."""
    return [f"line {line}: {what}" for line, what in sorted(found)]


def _imports_of(tree: ast.Module, names: set[str]) -> list[tuple[int, str]]:
    """Where a module imports one of the top-level packages ``names``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, f"imports {alias.name}")
                for alias in node.names
                if alias.name.split(".")[0] in names
            ]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            if node.module.split(".")[0] in names:
                found.append((node.lineno, f"imports {node.module}"))
    return found


def prints(tree: ast.Module) -> list[str]:
    """Rule 3: where a module prints, uses standard output or error but to flush them, writes to
    descriptor 1 or 2, or imports tqdm."""
    flushed = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "flush"
    }
    found = _imports_of(tree, {"tqdm"})
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "print":
            found.append((node.lineno, "print"))
        elif isinstance(node, ast.Attribute) and id(node) not in flushed:
            if ast.unparse(node) in ("sys.stdout", "sys.stderr"):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Call) and ast.unparse(node.func) == "os.write" and node.args:
            descriptor = node.args[0]
            if isinstance(descriptor, ast.Constant) and descriptor.value in (1, 2):
                found.append((node.lineno, f"os.write to {descriptor.value}"))
    return _lines(found)


def names_flags(tree: ast.Module) -> list[str]:
    """Rule 4: where a module imports argparse or holds a string naming a flag."""
    found = _imports_of(tree, {"argparse"})
    found += [
        (node.lineno, FLAG.search(node.value).group())
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and FLAG.search(node.value)
    ]
    return _lines(found)


def draws(tree: ast.Module) -> list[str]:
    """Rule 5: where a module imports matplotlib."""
    return _lines(_imports_of(tree, {"matplotlib"}))


def walks(tree: ast.Module) -> list[str]:
    """Rule 6: where a module lists a folder or imports the glob module."""
    found = _imports_of(tree, {"glob"})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            if isinstance(function, ast.Attribute):
                name = function.attr
            else:
                name = getattr(function, "id", None)
            if name in WALKING:
                found.append((node.lineno, ast.unparse(function)))
    return _lines(found)


FILE_CALLS = {
    "open",
    "save",
    "savefig",
    "load",
    "dump",
    "read_text",
    "write_text",
    "read_bytes",
    "write_bytes",
    "imread",
    "imwrite",
    "imsave",
}
FILE_HELPERS = {"write_atomically", "save_figure", "read_image", "read_micrograph", "read_map"}


def touches_files(tree: ast.Module) -> list[str]:
    """Rule 11: where a module opens, reads or writes a file, or imports the package's helpers
    that do."""
    found = [
        (node.lineno, f"imports {alias.name}")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in FILE_HELPERS
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            function = node.func
            name = (
                function.attr
                if isinstance(function, ast.Attribute)
                else getattr(function, "id", None)
            )
            if name in FILE_CALLS | FILE_HELPERS:
                found.append((node.lineno, ast.unparse(function)))
    return _lines(found)


DRIVER_LINES = 60
"""The most lines a function of ``folders/`` takes, its signature and docstring included."""


def long_functions(tree: ast.Module) -> list[str]:
    """Functions and methods longer than ``DRIVER_LINES``, from ``def`` to their last line."""
    return [
        f"line {node.lineno}: {node.name} is {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > DRIVER_LINES
    ]


def _made_of_defaults(value: ast.expr) -> bool:
    """``None``, a bool, or an expression of ``defaults``' names alone, types called on them."""
    if isinstance(value, ast.Constant):
        return value.value is None or isinstance(value.value, bool)
    nodes = list(ast.walk(value))
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    bases = {id(node.value) for node in nodes if isinstance(node, ast.Attribute)}
    read = set()
    for node in nodes:
        if isinstance(node, ast.Constant):
            return False
        if id(node) in called:
            continue
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            read.add(node.value.id)
        elif isinstance(node, ast.Name) and id(node) not in bases:
            read.add(node.id)
    return read == {"defaults"}


def defaults_elsewhere(module: str, tree: ast.Module) -> list[str]:
    """Rule 7: where ``defaults.py`` imports; every flag's default, and every default of a
    function ``api.py`` defines, not made of ``defaults``' names."""
    if module == "defaults.py":
        return _lines(
            [
                (node.lineno, "imports")
                for node in tree.body
                if isinstance(node, ast.Import | ast.ImportFrom)
            ]
        )
    found, functions = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "add_argument" and node.args:
                name = ast.unparse(node.args[0])
                given = [(name, word.value) for word in node.keywords if word.arg == "default"]
            elif node.func.attr == "set_defaults":
                given = [(word.arg, word.value) for word in node.keywords]
            else:
                given = []
            found += [
                (node.lineno, f"the default of {name}")
                for name, value in given
                if not _made_of_defaults(value)
            ]
        elif module == "api.py" and isinstance(node, ast.FunctionDef):
            positional = node.args.posonlyargs + node.args.args
            given = list(zip(positional[::-1], node.args.defaults[::-1]))
            given += list(zip(node.args.kwonlyargs, node.args.kw_defaults))
            functions += [
                f"{node.name}'s {parameter.arg}"
                for parameter, value in given
                if value is not None and not _made_of_defaults(value)
            ]
    return _lines(found) + sorted(functions)


def _exception_names(tree: ast.Module, known: set[str]) -> set[str]:
    """The classes a module defines that derive from an exception: a built-in one, one in
    ``known``, or one the module defines."""
    classes = [node for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    found: set[str] = set()
    while True:
        more = {
            node.name
            for node in classes
            if any(
                ast.unparse(base).split(".")[-1] in BUILTIN_EXCEPTIONS | known | found
                for base in node.bases
            )
        }
        if more <= found:
            return found
        found |= more


ERRORS = _exception_names(MODULES["errors.py"], set())


def exceptions_elsewhere(module: str, tree: ast.Module, imported: set[str]) -> list[str]:
    """Rule 8: the exceptions a module other than ``errors.py`` defines, but private ones no other
    module imports (``imported`` holds the names other modules import)."""
    if module == "errors.py":
        return []
    return sorted(
        name
        for name in _exception_names(tree, ERRORS)
        if not name.startswith("_") or name in imported
    )


def _imported_names(but: str) -> set[str]:
    """The names every module of the package but ``but`` imports from another."""
    return {
        name.split(".")[-1]
        for module, tree in MODULES.items()
        if module != but
        for name in _imported(module, tree)
    }


def unnamed_and_missing(named: set[str]) -> tuple[list[str], list[str]]:
    """Rule 9: the files and folders the tree must name but does not, and what it names that does
    not exist."""
    must = {f"codes/{path.name}" for path in (ROOT / "codes").glob("*.py")}
    must |= {
        f"{folder}/{path.name}"
        for folder in ("benchmarks", "examples")
        for path in (ROOT / folder).iterdir()
        if path.is_file()
    }
    for path in PACKAGE.rglob("*"):
        relative = "codes/complexstep/" + path.relative_to(PACKAGE).as_posix()
        if "__pycache__" in path.parts or relative.startswith(
            ("codes/complexstep/explorer/assets/", "codes/complexstep/model/pretrained/")
        ):
            continue
        if path.is_dir():
            must.add(relative + "/")
        elif path.suffix == ".py":
            body = ast.parse(path.read_text()).body
            docstring_alone = len(body) == 1 and isinstance(body[0], ast.Expr)
            if not (path.name == "__init__.py" and path.parent != PACKAGE and docstring_alone):
                must.add(relative)
    missing = [name for name in named if not (ROOT / name).exists()]
    return sorted(must - named), sorted(missing)


def _file_of(dotted: str, modules) -> str | None:
    """The package's file of a dotted module name, or None for a name that is not a module."""
    relative = "/".join(dotted.split(".")[1:])
    for candidate in (f"{relative}.py", f"{relative}/__init__.py" if relative else "__init__.py"):
        if dotted.split(".")[0] == "complexstep" and candidate in modules:
            return candidate
    return None


def import_cycles(modules: dict[str, ast.Module]) -> list[list[str]]:
    """Rule 10: every set of modules that import one another, however indirectly; imports for
    type hints and inside functions count, and ``from a import b`` counts as an import of ``a.b``
    where that is a module."""
    graph = {}
    for module, tree in modules.items():
        reached = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                reached |= {_file_of(alias.name, modules) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                source = _source(module, node)
                reached |= {
                    _file_of(f"{source}.{alias.name}", modules) or _file_of(source, modules)
                    for alias in node.names
                }
        graph[module] = reached - {None, module}
    # Tarjan's strongly connected components, iteratively: each of more than one module is a cycle.
    order, low, stack, on_stack, cycles = {}, {}, [], set(), []
    for root in graph:
        if root in order:
            continue
        work = [(root, iter(sorted(graph[root])))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in order:
                    order[child] = low[child] = len(order)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], order[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == order[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return sorted(cycles)


# The package as it is.


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_tree(module):
    """Rule 1: no module imports a concern after its own in the page's tree."""
    assert _concern(module) in RANK, f"{module}'s concern is not in the tree"
    assert imports_above(module, MODULES[module]) == []


def test_only_the_face_and_commands_import_the_face():
    """Rule 2: no internal module imports ``complexstep.api`` or the package root."""
    found = {module: imports_of_the_face(module, tree) for module, tree in MODULES.items()}
    assert {module: names for module, names in found.items() if names} == {}


def test_only_commands_print():
    """Rule 3: outside commands/, only the allowed modules print, and each of them does."""
    found = {
        module: prints(tree)
        for module, tree in MODULES.items()
        if _concern(module) != "commands" and prints(tree)
    }
    assert sorted(found) == sorted(PRINTING_ALLOWED), found


def test_only_commands_know_flag_names():
    """Rule 4: outside commands/, no module imports argparse or names a flag, but the allowed
    ones, each of which still does."""
    found = {
        f"{module}: {entry.split(': ', 1)[1]}"
        for module, tree in MODULES.items()
        if _concern(module) != "commands"
        for entry in names_flags(tree)
    }
    assert sorted(found) == sorted(FLAGS_ALLOWED)


def test_only_rendering_draws():
    """Rule 5: outside rendering/, no module imports matplotlib."""
    found = [
        module
        for module, tree in MODULES.items()
        if _concern(module) != "rendering" and draws(tree)
    ]
    assert found == []


def test_only_folders_walk_folders():
    """Rule 6: outside folders/, no module lists a folder."""
    found = {
        module: walks(tree)
        for module, tree in MODULES.items()
        if _concern(module) != "folders" and walks(tree)
    }
    assert found == {}


def test_a_folder_driver_fits_in_a_screen():
    """Rule 12: no function of folders/ is longer than 60 lines."""
    found = {
        module: long_functions(tree)
        for module, tree in MODULES.items()
        if _concern(module) == "folders" and long_functions(tree)
    }
    assert found == {}


def test_the_length_checker_catches_a_long_function_and_a_long_method():
    """A function or a method one line over is caught; one of 60 lines is not."""
    body = "    x = 1\n" * (DRIVER_LINES - 1)
    tree = ast.parse(
        f"def fits():\n{body}\ndef over():\n{body}    x = 2\n"
        f"class Run:\n    def method(self):\n{body.replace('    ', '        ')}        x = 2\n"
    )
    assert long_functions(tree) == [
        f"line {DRIVER_LINES + 2}: over is 61 lines",
        f"line {2 * DRIVER_LINES + 4}: method is 61 lines",
    ]


def test_defaults_live_in_defaults():
    """Rule 7: defaults.py imports nothing, and every flag's and API call's default is made of its
    names, but the allowed ones, each of which still breaks the rule."""
    found = [
        f"{module}: {entry}"
        for module, tree in MODULES.items()
        for entry in defaults_elsewhere(module, tree)
    ]
    assert sorted(found) == sorted(DEFAULTS_ALLOWED)


def test_exceptions_live_in_errors():
    """Rule 8: only errors.py defines exceptions, but private ones no other module imports."""
    found = {
        module: exceptions_elsewhere(module, tree, _imported_names(but=module))
        for module, tree in MODULES.items()
    }
    assert {module: names for module, names in found.items() if names} == {}


def test_the_tree_names_every_file_and_nothing_else():
    """Rule 9: the page's tree is the code's tree."""
    assert unnamed_and_missing(NAMED) == ([], [])


def test_no_modules_import_one_another():
    """Rule 10: the package's imports make no cycle."""
    assert import_cycles(MODULES) == []


def test_rendering_reads_and_writes_no_file():
    """Rule 11: rendering/ makes Figures from arrays and touches no file."""
    found = {
        module: touches_files(tree)
        for module, tree in MODULES.items()
        if _concern(module) == "rendering" and touches_files(tree)
    }
    assert found == {}


# Each checker catches a module written to break its rule.


def test_the_import_checker_catches_an_import_from_a_later_concern():
    """An input module importing a folder driver, or rendering through a relative import, is
    caught."""
    tree = ast.parse("from complexstep.folders import loop\nfrom ..rendering import heatmaps\n")
    assert imports_above("io/images.py", tree) == [
        "complexstep.folders",
        "complexstep.folders.loop",
        "complexstep.rendering",
        "complexstep.rendering.heatmaps",
    ]
    assert imports_above("commands/cli.py", tree) == []


def test_the_face_checker_catches_the_api_and_the_root():
    """The root, the api module and the root's names are caught however imported; the package's
    other modules are not."""
    tree = ast.parse(
        "import complexstep\nfrom complexstep import api, defaults, attribute\n"
        "from complexstep.api import Explainer\nfrom .. import ImageError, io\n"
    )
    assert imports_of_the_face("folders/attribution.py", tree) == [
        "complexstep",
        "complexstep.ImageError",
        "complexstep.api",
        "complexstep.api.Explainer",
        "complexstep.attribute",
    ]
    assert imports_of_the_face("commands/explain.py", tree) == []


def test_the_printing_checker_catches_every_way_to_the_terminal():
    """print, the standard streams (even handed on), os.write to 2 and tqdm are caught; flushing
    is not."""
    tree = ast.parse(
        "import os, sys\nfrom tqdm.auto import tqdm\nprint('x')\nsys.stderr.write('x')\n"
        "report(file=sys.stdout)\nos.write(2, b'x')\nsys.stderr.flush()\nos.write(handle, b'x')\n"
    )
    assert prints(tree) == [
        "line 2: imports tqdm.auto",
        "line 3: print",
        "line 4: sys.stderr",
        "line 5: sys.stdout",
        "line 6: os.write to 2",
    ]


def test_the_flag_checker_catches_argparse_and_a_flag_in_a_message():
    """argparse and flags in docstrings and messages are caught; two hyphens amid words are not."""
    tree = ast.parse(
        '"""Set ``--layer`` to choose."""\nimport argparse\n'
        "raise ValueError(f'pass --resume to {name}')\nx = 'a -- b, e--mail, 3--4'\n"
    )
    assert names_flags(tree) == ["line 1: --layer", "line 2: imports argparse", "line 3: --resume"]


def test_the_drawing_checker_catches_matplotlib():
    """Every import of matplotlib is caught."""
    tree = ast.parse("from matplotlib.figure import Figure\nimport matplotlib.pyplot as plt\n")
    assert draws(tree) == ["line 1: imports matplotlib.figure", "line 2: imports matplotlib.pyplot"]


def test_the_walking_checker_catches_every_way_to_list_a_folder():
    """os's, pathlib's and glob's listings are caught, however imported; a function of another
    name is not."""
    tree = ast.parse(
        "import glob, os\nfrom os import scandir\nos.walk(a)\nscandir(a)\nos.listdir(a)\n"
        "path.iterdir()\npath.glob('*')\npath.rglob('*')\n_walk(graph)\n"
    )
    assert walks(tree) == [
        "line 1: imports glob",
        "line 3: os.walk",
        "line 4: scandir",
        "line 5: os.listdir",
        "line 6: path.iterdir",
        "line 7: path.glob",
        "line 8: path.rglob",
    ]


def test_the_defaults_checker_catches_a_literal_or_a_name_from_elsewhere():
    """A flag's or an API call's default made of a literal or another module's name is caught,
    and so is defaults.py importing anything."""
    flags = ast.parse(
        "parser.add_argument('--seed', default=0)\n"
        "parser.add_argument('--dir', default=Path('contour_inputs'))\n"
        "parser.add_argument('--kind', default=kinds.DEFAULT)\n"
        "parser.add_argument('--sigma', default=defaults.SIGMA)\n"
        "parser.add_argument('--folder', default=Path(defaults.SMAPS))\n"
        "parser.add_argument('--quiet', default=False)\n"
        "parser.set_defaults(style='paper', sigma=defaults.SIGMA)\n"
    )
    assert defaults_elsewhere("commands/heatmaps.py", flags) == [
        "line 1: the default of '--seed'",
        "line 2: the default of '--dir'",
        "line 3: the default of '--kind'",
        "line 7: the default of style",
    ]
    api = ast.parse(
        "def attribute(model, h=0.1, *, layer=defaults.LAYER, step=STEP, batch_size=None):\n"
        "    pass\n"
    )
    assert defaults_elsewhere("api.py", api) == ["attribute's h", "attribute's step"]
    assert defaults_elsewhere("defaults.py", ast.parse("import os\nSEED = 0\n")) == [
        "line 1: imports"
    ]


def test_the_exception_checker_catches_an_exception_defined_elsewhere():
    """Exceptions derived from built-in ones, the library's or the module's own are caught, and a
    private one that another module imports."""
    tree = ast.parse(
        "class Refusal(Exception): pass\nclass Nearer(Refusal): pass\n"
        "class NoImages(FolderError): pass\nclass _Stopped(Exception): pass\n"
        "class _Shared(Exception): pass\nclass Style: pass\n"
    )
    assert exceptions_elsewhere("twin/graph_layers.py", tree, {"_Shared"}) == [
        "Nearer",
        "NoImages",
        "Refusal",
        "_Shared",
    ]


def test_the_tree_checker_catches_a_file_left_out_and_a_file_that_is_gone():
    """A module the page's tree leaves out is caught, and a name on it that does not exist."""
    page = PAGE.read_text()
    named, concerns = _tree(page.replace("      cache.py ", "      gone.py "))
    assert unnamed_and_missing(named) == (
        ["codes/complexstep/explain/cache.py"],
        ["codes/complexstep/explain/gone.py"],
    )
    assert concerns[0] == {"defaults"} and concerns[-1] == {"__init__", "__main__"}


def test_the_cycle_checker_catches_modules_that_import_one_another():
    """Three modules in a ring, one of them through a hint for type checkers and one inside a
    function, are caught; a module that only imports them is not in the cycle."""
    modules = {
        "explain/kinds.py": ast.parse("from complexstep.explain import domains\n"),
        "explain/domains.py": ast.parse(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from complexstep.explain.explainer import Explainer\n"
        ),
        "explain/explainer.py": ast.parse("def f():\n    from . import kinds\n"),
        "api.py": ast.parse("from complexstep.explain.explainer import Explainer\n"),
        "explain/__init__.py": ast.parse(""),
    }
    assert import_cycles(modules) == [
        ["explain/domains.py", "explain/explainer.py", "explain/kinds.py"]
    ]
    modules["explain/domains.py"] = ast.parse("import numpy\n")
    assert import_cycles(modules) == []


def test_the_file_checker_catches_every_way_to_a_file():
    """Opening, NumPy's, JSON's, pathlib's, Pillow's and matplotlib's reads and writes, and the
    package's own file helpers, are caught; drawing is not."""
    tree = ast.parse(
        "from complexstep.io.images import write_atomically\nopen(p)\nnp.save(p, a)\n"
        "np.load(p)\njson.dump(d, f)\np.write_text(t)\nImage.open(p)\nfigure.savefig(p)\n"
        "read_map(p)\naxes.imshow(a)\n"
    )
    assert touches_files(tree) == [
        "line 1: imports write_atomically",
        "line 2: open",
        "line 3: np.save",
        "line 4: np.load",
        "line 5: json.dump",
        "line 6: p.write_text",
        "line 7: Image.open",
        "line 8: figure.savefig",
        "line 9: read_map",
    ]
