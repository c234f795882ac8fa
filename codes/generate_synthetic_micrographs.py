"""Fills empty image folders with synthetic ferrite-pearlite micrographs, so the pipeline can run.

Run from the repository root as ``python codes/generate_synthetic_micrographs.py``; ``--help``
explains each flag. A folder that already holds any image is left alone, so real micrographs put
in place of the synthetic ones are never overwritten; the same seed always gives the same images.
"""

from complexstep.commands import cli, synthesize

if __name__ == "__main__":
    cli.run(synthesize.main)
