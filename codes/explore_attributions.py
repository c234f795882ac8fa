"""Explore each micrograph's code in the browser: from a pixel to the code cells it drives and back.

Runs ``complexstep explore`` as a script, from a clone's root;
``complexstep.commands.explore`` says what it writes and ``--help`` what each flag does.
"""

from complexstep.commands import cli, explore

if __name__ == "__main__":
    cli.run(explore.main)
