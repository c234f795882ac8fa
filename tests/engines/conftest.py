"""Fixtures of the engines' tests."""

import pytest

import models


@pytest.fixture(scope="module")
def small_model():
    """The small network of the paper's layer kinds, seeded."""
    return models.small_autoencoder(seed=5)
