"""The ``complexstep`` command: one subcommand for each thing the project does.

``complexstep explain ...`` runs exactly what ``python codes/obtain_attribution_contours.py ...``
runs, with the same flags; the scripts in ``codes/`` keep the paper's names for its pipeline.
"""

import importlib
import sys
from collections.abc import Sequence

from complexstep.commands import cli


def usage() -> str:
    """The command's help: its subcommands and what each does."""
    width = max(map(len, cli.SUBCOMMANDS))
    lines = [
        "usage: complexstep COMMAND [flags]",
        "",
        "Complex-step saliency maps for convolutional autoencoders of metal micrographs.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {what}" for name, (_, what) in cli.SUBCOMMANDS.items()),
        "",
        "complexstep COMMAND --help explains a command's flags.",
        cli.RELATIVE_FOLDERS,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the subcommand the first argument names with the rest of the arguments.

    Returns:
        The subcommand's exit status, or 0 after printing the help.

    Raises:
        UsageError: for a missing or unknown subcommand.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in cli.SUBCOMMANDS:
        raise cli.UsageError(
            f"unknown command {name!r}; the commands are {', '.join(cli.SUBCOMMANDS)}"
        )
    module = importlib.import_module(f"complexstep.commands.{name}")
    return module.main(rest, prog=f"complexstep {name}")


def run() -> None:
    """The console entry point."""
    cli.run(main)
