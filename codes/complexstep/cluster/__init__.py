"""Running the folder drivers on a Dask cluster, an optional extra: ``pip install
"complexstep[cluster]"``.

- ``clients``: a ``distributed.Client`` for a scheduler's address, or for a ``LocalCluster``.
- ``executor``: ``DaskExecutor``, which explains chunks of read micrographs as Dask tasks and
  yields their maps as they come back; ``folders.loop.executor`` hands it to the drivers.
- ``workers``: what runs on the workers, and the explainers each keeps between tasks.

Nothing else in the package imports Dask, and this package imports it only in ``executor`` and
``workers`` and when ``clients.connect`` is called, so that ``--help`` and runs without
``--cluster`` never load it.
"""
