"""Every command, flag and picture the README and the documentation name exists.

A document names commands in code blocks (one a line, continued with a backslash) and in inline
code spans. A command of this project, ``python codes/<script>.py ...``, ``complexstep <sub> ...``
or ``python -m complexstep <sub> ...``, must name a script or subcommand that exists, and each of
its flags must be in that script's ``--help``. A flag named alone, as in a table of flags or
running text, must be in the ``--help`` of a script named in the same section, or of any script
where the section names none. Commands of other programs (pip, make, mkdocs) are left alone.
"""

import dataclasses
import functools
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import scripts
from complexstep import defaults
from complexstep.commands import main
from complexstep.commands.cli import SUBCOMMANDS
from complexstep.model import architecture, synthetic

DOCUMENTS = [scripts.REPOSITORY / "README.md", *sorted((scripts.REPOSITORY / "docs").glob("*.md"))]
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
SCRIPT = re.compile(r"codes/(\w+\.py)")
PROJECT_COMMAND = re.compile(
    r"^(?:\w+=\S+\s+)*(?:python3?\s+codes/(?P<script>\w+\.py)"
    r"|(?:python3?\s+-m\s+)?complexstep(?:\s+(?P<sub>[a-z]\w*))?)(?=\s|$)"
)
OTHER_PROGRAMS = (
    "pip",
    "make",
    "mkdocs",
    "git",
    "jupyter",
    "python -m pytest",
    "ruff",
    # A cluster's own programs, and the benchmarks, whose flags are theirs.
    "dask",
    "sbatch",
    "srun",
    "benchmarks/",
    "python benchmarks/",
)


@dataclasses.dataclass
class Section:
    """The text under one heading of a document."""

    document: Path
    heading: str
    text: str


def sections(document: Path) -> list[Section]:
    """A document split at its headings (headings inside code blocks do not count)."""
    found, lines, heading, fence = [], [], "(top)", False
    for line in document.read_text().splitlines():
        if line.startswith("```"):
            fence = not fence
        if not fence and line.startswith("#"):
            found.append(Section(document, heading, "\n".join(lines)))
            lines, heading = [], line.lstrip("# ")
        else:
            lines.append(line)
    found.append(Section(document, heading, "\n".join(lines)))
    return found


def commands(section: Section) -> list[str]:
    """Every command line of a section's shell code blocks, and every inline code span."""
    found = []
    shell_blocks = re.findall(r"```(\w*)\n(.*?)```", section.text, re.DOTALL)
    for language, block in shell_blocks:
        if language == "python":
            continue
        for line in block.replace("\\\n", " ").splitlines():
            found.append(line.split("#", 1)[0].strip())
    prose = re.sub(r"```.*?```", "", section.text, flags=re.DOTALL)
    found += [span.strip() for span in re.findall(r"`([^`\n]+)`", prose)]
    return [command for command in found if command]


@functools.cache
def help_flags(script: str) -> frozenset[str]:
    """The flags ``codes/<script> --help`` lists."""
    result = scripts.run(script, "--help", timeout=120)
    assert result.returncode == 0, result.stderr
    return frozenset(FLAG.findall(result.stdout))


SCRIPTS = {script for script, _ in SUBCOMMANDS.values()}


def script_of(command: str) -> str | None:
    """The script a project command runs, or None for anything else; fails for a script or
    subcommand that does not exist."""
    match = PROJECT_COMMAND.match(command)
    if match is None:
        return None
    if match["script"]:
        assert (scripts.REPOSITORY / "codes" / match["script"]).is_file(), command
        return match["script"]
    if match["sub"] is None:
        return ""
    assert match["sub"] in SUBCOMMANDS, f"no subcommand {match['sub']!r}: {command}"
    return SUBCOMMANDS[match["sub"]][0]


def all_sections() -> list[Section]:
    return [section for document in DOCUMENTS for section in sections(document)]


def section_id(section: Section) -> str:
    return f"{section.document.relative_to(scripts.REPOSITORY)}: {section.heading}"


def test_the_documents_are_found():
    """The README and every page of the site are checked, so that none escapes by a wrong path."""
    names = {document.name for document in DOCUMENTS}
    assert {"README.md", "index.md", "pipeline.md", "api.md", "reference.md"} <= names


@pytest.mark.parametrize("section", all_sections(), ids=section_id)
def test_every_command_and_flag_exists(section):
    """Each project command names a script or subcommand that exists and flags its --help lists;
    each flag named alone is a flag of a script the section names."""
    named = {script for script in SCRIPT.findall(section.text) if script in SCRIPTS}
    named |= {
        SUBCOMMANDS[sub][0]
        for sub in re.findall(r"complexstep (\w+)", section.text)
        if sub in SUBCOMMANDS
    }
    unknown = []
    for command in commands(section):
        script = script_of(command)
        if script == "":
            continue
        if script is not None:
            flags = FLAG.findall(command)
            unknown += [(command, flag) for flag in flags if flag not in help_flags(script)]
        elif not command.startswith(OTHER_PROGRAMS):
            candidates = named or SCRIPTS
            known = set().union(*(help_flags(script) for script in candidates))
            unknown += [(command, flag) for flag in FLAG.findall(command) if flag not in known]
    assert unknown == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_picture_is_in_the_repository(document):
    """Each picture a document shows is a file, relative to the document, so none is broken."""
    pictures = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", document.read_text())
    missing = [path for path in pictures if not (document.parent / path).is_file()]
    assert missing == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_linked_file_is_in_the_repository(document):
    """Each relative link of a document leads to a file, so that the README's links to the site
    work on a forge as well as in the built site."""
    links = re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s#]+)(?:#[^)]*)?\)", document.read_text())
    local = [link for link in links if "://" not in link]
    missing = [link for link in local if not (document.parent / link).exists()]
    assert missing == []


def test_the_site_lists_every_page():
    """Every page of docs/ is in the site's navigation, and the navigation names no other."""
    config = (scripts.REPOSITORY / "mkdocs.yml").read_text()
    listed = set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", config, re.M))
    assert listed == {path.name for path in DOCUMENTS if path.name != "README.md"}


# Every fenced block of the README and the site is code a reader may paste, or text it shows; each
# block says which by its language, and every block of code runs here, on files the test makes.
CODE_LANGUAGES = ("python", "sh")
TEXT_LANGUAGE = "text"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)

# What runs nowhere but where it is meant to, each with why: a line of a shell block that holds
# one of SKIPPED_LINES, and a whole block, shell or Python, that holds one of SKIPPED_BLOCKS.
SKIPPED_LINES = {
    "make demo": "the whole demo, minutes of training; the commands it runs are run here",
    "make test": "this suite itself",
    "pip install": "installs from a package index; tests/commands/test_entry_point.py installs "
    "the package",
    "tcp://scheduler": "the address of a Dask scheduler that exists only on a cluster",
    "--cluster local:2": "starts a Dask cluster of processes; tests/cluster/test_cluster.py runs "
    "one",
    "examples/regions_on_test_micrographs.py": (
        "the study's numbers: stage 2 twice in subprocesses over its micrographs; the folder "
        "driver it calls is tested by tests/folders/test_regions_folder.py"
    ),
}
SKIPPED_BLOCKS = {
    "#SBATCH": "a SLURM job script; make test-slurm runs it on a real SLURM",
    "dask scheduler": "starts a Dask scheduler and GPU workers (dask-cuda)",
    "tcp://scheduler": "the address of a Dask scheduler that exists only on a cluster",
    "LocalCUDACluster": "needs NVIDIA GPUs and dask-cuda",
    "SLURMCluster": "submits SLURM jobs; make test-slurm runs it on a real SLURM",
    # PyTorch is installed beside JAX, not beside TensorFlow, where these blocks run.
    "MyEncoder()": "a PyTorch module of the reader's own; tests/pytorch/test_pytorch.py makes "
    "the same calls on its zoo of modules, in the environment that has PyTorch",
    "torch.export": "exports a PyTorch module; tests/pytorch/test_pytorch.py exports and "
    "explains one",
    "encoder.pt2": "a PyTorch archive; tests/pytorch/test_pytorch.py runs stage 2 on one",
    "benchmarks/pytorch_speed.py": "the PyTorch benchmark, run where PyTorch is installed",
}
# The Python blocks tests/project/test_readme.py runs, and checks that they give what they say.
CHECKED_ELSEWHERE = ("README.md", "api.md")
# A placeholder of the docs for a folder of the reader's, and the name the test gives it.
PLACEHOLDERS = {"<study>": "study"}
# Where the docs' commands look for micrographs, relative to the folder they run in, and how many
# small synthetic ones the test puts there: one where the evaluation reads, whose many methods
# take the longest, two where the regions compare micrographs.
MICROGRAPH_FOLDERS = {
    "contour_inputs": 1,
    "my_micrographs": 2,
    "frames": 2,
    "microstructural_images/train/all": 4,
    "microstructural_images/test/all": 2,
    "study/train": 4,
    "study/test": 1,
    "../shared/data/micrographs/test": 2,
}
# The micrographs the test makes, and the side the stages resize them to in place of the paper's
# 256, so that every stage, the evaluation's many methods included, takes seconds.
DOC_IMAGE_SIDE = 48
DOC_STAGE_SIDE = 64


@dataclasses.dataclass
class Block:
    """One fenced block of a document."""

    document: Path
    number: int
    language: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.document.name} block {self.number} ({self.language or 'no language'})"


def blocks(document: Path) -> list[Block]:
    """The fenced blocks of a document, in order."""
    return [
        Block(document, number, language, code)
        for number, (language, code) in enumerate(FENCE.findall(document.read_text()), 1)
    ]


ALL_BLOCKS = [block for document in DOCUMENTS for block in blocks(document)]


def skip_reason(text: str, skipped: dict[str, str]) -> str | None:
    """Why a line or block is not run here, or None."""
    return next((why for what, why in skipped.items() if what in text), None)


def test_every_block_says_whether_it_is_code_or_text():
    """Each fenced block is marked python, sh or text, so that none escapes the run below."""
    unmarked = [
        block.name for block in ALL_BLOCKS if block.language not in (*CODE_LANGUAGES, TEXT_LANGUAGE)
    ]
    assert unmarked == []


def shell_lines(code: str) -> list[str]:
    """The commands of a shell block: continuations joined, comments and blank lines left out."""
    found = []
    for line in code.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            found.append(line)
    return found


def project_arguments(line: str) -> list[str]:
    """The arguments of the complexstep command a documented line of this project runs."""
    words = shlex.split(os.path.expandvars(line))
    if words[:1] == ["complexstep"]:
        return words[1:]
    if words[:3] == ["python", "-m", "complexstep"]:
        return words[3:]
    script = SCRIPT.fullmatch(words[1]) if words[0] == "python" and len(words) > 1 else None
    assert script, f"not a command of this project: {line}"
    subcommand = {name for name, (file, _) in SUBCOMMANDS.items() if file == script[1]}
    return [subcommand.pop(), *words[2:]]


def make_micrograph_folders(root: Path) -> None:
    """Small synthetic micrographs wherever the docs' commands look for some, and label images
    beside them for the regions' --labels."""
    rng = np.random.default_rng(3)
    for folder, count in MICROGRAPH_FOLDERS.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            pixels = synthetic.generate_micrograph(rng, 128)[:DOC_IMAGE_SIDE, :DOC_IMAGE_SIDE]
            Image.fromarray(pixels.astype(np.uint8)).save(root / folder / f"sample_{index}.png")
    (root / "my_micrographs" / "sample_0.png").rename(root / "my_micrographs" / "sample.png")
    (root / "my_labels").mkdir()
    labels = np.zeros((DOC_IMAGE_SIDE, DOC_IMAGE_SIDE), np.uint8)
    labels[:, DOC_IMAGE_SIDE // 2 :] = 1
    for stem in ("sample", "sample_1"):
        Image.fromarray(labels).save(root / "my_labels" / f"{stem}.png")


def run_block(block: Block, namespace: dict, ran: set[str]) -> None:
    """Runs a block of code in the working folder: a Python block in its document's namespace,
    each line of a shell block as the command it is, in this process, but a line already run
    (the pipeline's three commands appear on four pages), which would only repeat its result."""
    if block.language == "python":
        exec(compile(block.code, block.name, "exec"), namespace)
        return
    for line in shell_lines(block.code):
        for placeholder, name in PLACEHOLDERS.items():
            line = line.replace(placeholder, name)
        if skip_reason(line, SKIPPED_LINES) or line in ran:
            continue
        ran.add(line)
        try:
            status = main.main(project_arguments(line))
        except SystemExit as exit:  # --help ends that way, as argparse does
            status = exit.code
        assert status == 0, f"{block.name}: {line} exited with {status}"


def test_every_code_block_runs(tmp_path, monkeypatch, capsys):
    """Each python and sh block of the README and the site runs as written, document after
    document in one folder holding the micrographs the docs name, so that a page may use what an
    earlier one made (the demo's model): every command exits 0, every Python block completes.
    Stage 1 trains 1 epoch where the docs say the paper's 50, and the stages resize to 64x64 where
    they say 256, so that the whole run takes a few minutes; what cannot run here is in
    SKIPPED_LINES and SKIPPED_BLOCKS, with why."""
    folder = tmp_path / "work"
    make_micrograph_folders(folder)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "0")
    monkeypatch.setattr(defaults, "EPOCHS", 1)
    # The paper's side, 256, made 64: the stages resize to it and stage 1 builds its network for it.
    monkeypatch.setattr(defaults, "IMAGE_SIZE", DOC_STAGE_SIDE)
    monkeypatch.setattr(architecture, "INPUT_SHAPE", (DOC_STAGE_SIDE, DOC_STAGE_SIDE, 1))
    ran: set[str] = set()
    for document in DOCUMENTS:
        namespace: dict = {}
        for block in blocks(document):
            if block.language not in CODE_LANGUAGES or skip_reason(block.code, SKIPPED_BLOCKS):
                continue
            if block.language == "python" and document.name in CHECKED_ELSEWHERE:
                continue
            run_block(block, namespace, ran)
    capsys.readouterr()
