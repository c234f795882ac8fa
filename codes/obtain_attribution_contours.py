"""Stage 2: explain the trained autoencoder's latent code, pixel by pixel.

Builds the complex-valued twin of the model trained by stage 1 and writes, for every micrograph in
the inputs folder, how strongly each pixel drives the chosen layer's output: the norm of the
output's imaginary part when that pixel alone is perturbed by i*h, divided by h. In the wavelet
domain the same for every coefficient of the micrograph's wavelet transform, perturbed along its
basis image.

    python codes/obtain_attribution_contours.py --inputs contour_inputs --resize none
    python codes/obtain_attribution_contours.py --domain wavelet --wavelet db2 --levels 4
"""

from complexstep.commands import cli, explain

if __name__ == "__main__":
    cli.run(explain.main)
