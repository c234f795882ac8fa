"""Running the folder drivers on a Dask cluster, an optional extra: ``pip install
"complexstep[cluster]"``.

- ``clients``: a ``distributed.Client`` for a scheduler's address, or for a ``LocalCluster``.
- ``executor``: ``run``, which runs a function of each chunk of a folder as a Dask task, a
  bounded number at a time, and yields the results as they come back; ``folders.runner`` runs
  every driver's step with it on a cluster.
- ``workers``: what runs on the workers, and what each keeps between tasks (explainers, the
  evaluation's methods), built from the model's bytes.

Nothing else in the package imports Dask, and this package imports it only in ``executor`` and
``workers`` and when ``clients.connect`` is called, so that a command's help, and a run on no
cluster, never load it.
"""
