"""The paper's training settings, kept apart from Keras so that stage 1 can show them in its
``--help`` and check its flags before Keras takes seconds to start."""

EPOCHS = 50
BATCH_SIZE = 32
LEARNING_RATE = 5e-4
# The paper gives no seed; this one makes the project's runs repeatable.
SEED = 0
