"""Measure how faithful attribution maps are: the complex step beside other methods and controls.

Runs ``complexstep evaluate`` as a script, from a clone's root;
``complexstep.commands.evaluate`` says what it writes and ``--help`` what each flag does.
"""

from complexstep.commands import cli, evaluate

if __name__ == "__main__":
    cli.run(evaluate.main)
