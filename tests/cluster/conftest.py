"""Fixtures of the tests that run stage 2 on a cluster: one folder of micrographs, and the maps
this process writes of it, which every cluster's maps are checked against."""

import pytest

import models
from cluster_helpers import maps_of
from complexstep.folders import attribution as attribution_folder


@pytest.fixture(scope="module")
def micrographs(tmp_path_factory):
    """Six 32x32 micrographs, two in a subfolder."""
    return models.write_micrograph_folder(tmp_path_factory.mktemp("micrographs"), seed=20)


@pytest.fixture(scope="module")
def in_process(micrographs, explainer, tmp_path_factory):
    """The maps of the micrographs explained in this process, by path relative to the outputs."""
    outputs = tmp_path_factory.mktemp("in_process")
    report = attribution_folder.attribute_folder(micrographs, outputs, explainer, resize=None)
    assert len(report.written) == 6 and not report.failed
    return maps_of(outputs)
