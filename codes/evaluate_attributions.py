"""Measure how faithful attribution maps are: the complex step beside other methods and controls.

For every micrograph in the inputs folder (or a random sample of them), computes each method's map
of the layer's whole output and measures it: the deletion and insertion curves and their areas,
the representation shift after deleting 5 to 50 % of the pixels, whether the map is the derivative
it claims to be (single-pixel steps and small noise), its stability under noise, and its cost.
Writes metrics.csv, curves.csv, summary.md, curves.png and a panel of every method's maps per
micrograph, and prints the summary.

    python codes/evaluate_attributions.py --inputs contour_inputs --model pretrained
"""

from complexstep.commands import cli, evaluate

if __name__ == "__main__":
    cli.run(evaluate.main)
