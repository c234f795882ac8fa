"""Stage 1: trains the paper's convolutional autoencoder on a folder of micrographs.

Runs ``complexstep train`` as a script, from a clone's root;
``complexstep.commands.train`` says what it writes and ``--help`` what each flag does.
"""

from complexstep.commands import cli, train

if __name__ == "__main__":
    cli.run(train.main)
