"""Attribution by region: how much of each map the phases, labels and boundaries of its micrograph
carry, per micrograph and over the folder, with bootstrap intervals.

Runs ``complexstep regions`` as a script, from a clone's root;
``complexstep.commands.regions`` says what it writes and ``--help`` what each flag does.
"""

from complexstep.commands import cli, regions

if __name__ == "__main__":
    cli.run(regions.main)
