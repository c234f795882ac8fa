"""Fills empty image folders with synthetic ferrite-pearlite micrographs, so the pipeline can run.

Runs ``complexstep synthesize`` as a script, from a clone's root;
``complexstep.commands.synthesize`` says what it writes and ``--help`` what each flag does.
"""

from complexstep.commands import cli, synthesize

if __name__ == "__main__":
    cli.run(synthesize.main)
