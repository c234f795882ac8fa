"""Explore each micrograph's code in the browser: from a pixel to the code cells it drives and back.

Writes, for every micrograph in the inputs folder, a self-contained web page
``explore_<stem>.html`` (open it in any browser; it needs no server and no network) that links the
micrograph, its attribution heatmap, the code's channels, the reconstruction and its error through
the code's exact Jacobian, and a figure of the code's channels, ``activations_<stem>.png``.
Where a micrograph's pixel size is known, both draw a scale bar and the page gives lengths in µm.

    python codes/explore_attributions.py --inputs contour_inputs --model pretrained
    python codes/explore_attributions.py --scale folder --pixel-size 0.05
    python codes/explore_attributions.py --shard $SLURM_ARRAY_TASK_ID/100
    python codes/explore_attributions.py --cluster local:2
"""

from complexstep.commands import cli, explore

if __name__ == "__main__":
    cli.run(explore.main)
