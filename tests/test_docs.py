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
import re
from pathlib import Path

import pytest

import scripts
from complexstep.commands.main import SUBCOMMANDS

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
