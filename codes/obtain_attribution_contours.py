"""Stage 2: explain the trained autoencoder's latent code, pixel by pixel.

Runs ``complexstep explain`` as a script, from a clone's root;
``complexstep.commands.explain`` says what it writes and ``--help`` what each flag does.
"""

from complexstep.commands import cli, explain

if __name__ == "__main__":
    cli.run(explain.main)
