"""Attribution by region: how much of each map the phases, labels and boundaries of its micrograph
carry, per micrograph and over the folder, with bootstrap intervals.

Every map stage 2 wrote in ``--inputs`` (``<stem>.npy``, and ``<stem>.wavelet.npy`` level by
level) is divided by the micrograph of the same stem in ``--micrographs`` into Otsu phases, or by
the label images in ``--labels``, and the boundary between them; ``--outputs`` receives
``regions.csv``, ``regions_summary.md``, ``regions_enrichment.png`` and ``regions_<stem>.png``.

Run from the repository root: ``python codes/measure_regions.py [options]``.
"""

from complexstep.commands import cli, regions

if __name__ == "__main__":
    cli.run(regions.main)
