"""Stage 3: renders grey attribution images as the paper's heatmaps.

Runs ``complexstep heatmaps`` as a script, from a clone's root;
``complexstep.commands.heatmaps`` says what it writes and ``--help`` what each flag does.
"""

from complexstep.commands import cli, heatmaps

if __name__ == "__main__":
    cli.run(heatmaps.main)
