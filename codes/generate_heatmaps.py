"""Stage 3: renders grey attribution images as the paper's heatmaps.

Every grey attribution image in ``--inputs`` and its subfolders (stage 2's ``<stem>.png``, read
from the lossless ``<stem>.npy`` beside it where there is one) becomes ``smp_cpa_<stem>.jpeg`` in
``--outputs``, under the same subfolder: min-max scaled, smoothed with a Gaussian and coloured with
the paper's 'bwr' colormap between 0.15 and 0.4. ``--overlay`` and ``--panel`` add the heatmap
blended over its micrograph and a panel of all views for review. Every wavelet map
(``<stem>.wavelet.npy``) becomes ``wavelet_<stem>.png`` (its coefficients in the dyadic layout),
``scales_<stem>.png`` (a map per level over the micrograph) and ``shares_<stem>.png`` (the shares
of levels and orientations).

Run from the repository root: ``python codes/generate_heatmaps.py [options]``.
"""

from complexstep.commands import cli, heatmaps

if __name__ == "__main__":
    cli.run(heatmaps.main)
