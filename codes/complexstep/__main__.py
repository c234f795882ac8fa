"""``python -m complexstep``: the ``complexstep`` command."""

from complexstep.commands.main import run

run()
