"""Fixtures shared across test modules."""

import pytest

import models
from complexstep import api


@pytest.fixture(scope="session")
def random_model():
    """The paper's autoencoder with seeded random weights and biases."""
    return models.random_autoencoder(seed=3)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory, random_model):
    """``random_model`` saved as a ``.keras`` file, as stage 1 writes it, for the scripts."""
    path = tmp_path_factory.mktemp("models") / "autoencoder_microstructure.keras"
    random_model.save(path)
    return path


@pytest.fixture(scope="module")
def explainer(random_model):
    """An Explainer of ``random_model`` at its default layer, one per test module."""
    return api.Explainer(random_model)


@pytest.fixture(scope="session")
def trained_model():
    """The paper's autoencoder after a short training run."""
    return models.trained_autoencoder(seed=4)
