"""Stage 1: trains the paper's convolutional autoencoder on a folder of micrographs.

Run from the repository root as ``python codes/build_convolutional_autoencoder.py``; every flag
defaults to the paper's setting, and ``--help`` explains each. The trained model, its weights, the
loss per epoch and two plots are written to the models folder for stages 2 and 3; the training
state is saved there after every epoch, so that ``--resume`` continues an interrupted run.
"""

from complexstep.commands import cli, train

if __name__ == "__main__":
    cli.run(train.main)
