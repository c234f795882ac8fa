"""Every default of the project in one place: the paper's settings, folder and file names.

This module imports nothing, so that the scripts can show these values in their help and check
their flags before Keras takes seconds to start; the scripts, the benchmarks and the README's tables
all take their defaults from here.
"""

# Stage 1: the paper's training settings.
EPOCHS = 50
BATCH_SIZE = 32
LEARNING_RATE = 5e-4
# The paper gives no seed; this one makes the project's runs repeatable.
SEED = 0
# The paper's micrographs are resized to this side before training and explaining.
IMAGE_SIZE = 256
# Training computes in float32 as Keras does by default; bfloat16 is mixed precision with float32
# weights, for GPUs with bfloat16 units.
PRECISIONS = ("float32", "bfloat16")
PRECISION = "float32"
# Threads decoding training images ahead of the model; more help a fast GPU.
WORKERS = 1

# Stage 2: the complex step and the engines.
LAYER = "code"
# The engines that compute a map, by name, here so that stage 2 can check its flags before Keras
# starts: the jacobian engine's reverse-mode passes, the default, the faster of the two and the one
# that gives a Jacobian's rows; the complex-step engine's complex forward passes, as in the paper.
JACOBIAN_ENGINE = "jacobian"
COMPLEX_STEP_ENGINE = "complex-step"
ENGINES = (JACOBIAN_ENGINE, COMPLEX_STEP_ENGINE)
ENGINE = JACOBIAN_ENGINE
H = 0.1
# The steps float32 passes carry through a network: the imaginary part is h times derivatives that
# layers shrink or grow by orders of magnitude, and below 1e-20 or above 1e20 it can leave float32's
# range (1e-38 to 3e38) inside the network, where the map would come out zero or NaN.
H_RANGE = (1e-20, 1e20)
# Perturbed copies of a full-resolution tile pushed through a layer at once.
ENGINE_BATCH_SIZE = 8
# Images of one size explained together in one compiled call by the jacobian engine, on JAX,
# whose vmap turns them into larger operations; other backends explain one image at a time.
IMAGES_PER_CALL = 8
# The largest side, in pixels, of the part of an image one engine call explains; larger images are
# split into overlapping tiles no larger. The jacobian engine's memory grows with a tile's area
# (its patch Jacobians), the complex-step engine's does not, and larger tiles overlap less.
TILE_SIZES = {JACOBIAN_ENGINE: 640, COMPLEX_STEP_ENGINE: 1280}
# On a Dask cluster: how long to wait for a scheduler to answer, and the tasks kept submitted per
# worker thread, enough that no worker waits while the client reads and few enough that the
# client holds few images.
CLUSTER_CONNECT_SECONDS = 30
TASKS_PER_WORKER_THREAD = 2
# In one process: the chunks read ahead of the engines, and those handed to the engines' thread
# ahead of the one being written, so that the engines wait for no file and few images are held.
CHUNKS_READ_AHEAD = 2
CHUNKS_COMPUTED_AHEAD = 1

# Stage 3: the paper's heatmaps.
SIGMA = 1.0
# The widest smoothing, in map pixels: wider blurs a map of the largest micrograph into a few
# blobs, and the kernel of a sigma of millions alone takes gigabytes.
SIGMA_MAX = 100.0
CMAP = "bwr"
VMIN = 0.15
VMAX = 0.4
DPI = 600.0
# Stage 3's pictures: "readable" heatmaps and overlays carry a colour bar that says what their
# colours mean, so that each can be read alone; "paper" draws them bare, as the paper printed them.
HEATMAP_STYLES = ("readable", "paper")
HEATMAP_STYLE = HEATMAP_STYLES[0]
# How maps are scaled to [0, 1] before colouring: each by its own min-max, as the paper does, or
# all maps of a run by one range from their raw values, so that colours compare between maps.
SCALES = ("map", "folder")
SCALE = SCALES[0]
# The dpi a heatmap may be drawn at, 1/100 inch per map pixel: from 25, where the smallest map the
# paper's network gives (16x16) still makes a 4x4 picture, to 2400, each map pixel a 24x24 block,
# where a 2048x2048 map stays within the 65535 pixels a side matplotlib draws.
DPI_RANGE = (25.0, 2400.0)
# The longest side, in pixels, of a map stage 3 reads: twice the longest frame scanning electron
# microscopes write (32768 pixels, the 32k x 24k scans). A file whose header declares more is not a
# map of a micrograph, and is refused before numpy allocates what the header asks for.
MAP_MAX_SIDE = 2 * 32768

# Folders, relative to the repository root, that hand work from stage to stage.
TRAIN_DIR = "microstructural_images/train"
TEST_DIR = "microstructural_images/test"
MODELS_DIR = "models"
CONTOUR_INPUTS = "contour_inputs"
CONTOUR_OUTPUTS = "contour_outputs/all"
SMAPS = "smaps"
# Synthetic micrographs, written where a folder holds none so that the pipeline runs without the
# study's: how many go into the training and test folders (a subfolder of each, as the paper's
# were) and into the contour inputs.
SYNTHETIC_TRAIN = 400
SYNTHETIC_TRAIN_DIR = f"{TRAIN_DIR}/all"
SYNTHETIC_TEST = 100
SYNTHETIC_TEST_DIR = f"{TEST_DIR}/all"
SYNTHETIC_CONTOUR_INPUTS = 4

# A partial file (``.<name>.partial-*``) older than this is taken for one a killed run left behind
# and removed by the next run into its folder; a younger one may be another run's, still writing.
STALE_PARTIAL_SECONDS = 600

# The model's name, and the file stage 1 writes and stage 2 reads.
MODEL_NAME = "autoencoder_microstructure"
MODEL_FILE = f"{MODEL_NAME}.keras"
MODEL_PATH = f"{MODELS_DIR}/{MODEL_FILE}"
# What names the model that comes with the package, wherever a model's path is asked for.
PRETRAINED = "pretrained"

# The explorer: one self-contained page per micrograph, and a figure of the code's channels.
# Bits per Jacobian value in a page: 16 keep each cell's row to 1/65534 of its largest value, and
# a 256x256 page of the paper's code under 15 MB even where compression gains nothing (about 4 MB
# as measured; 8 bits make it 2.3 MB).
EXPLORER_BITS = 16
EXPLORER_BITS_CHOICES = (8, 16)
# The most pixels a page explains: it holds the code's whole Jacobian, 66 values a pixel for the
# paper's code, and a 512x512 page took 15 MB.
EXPLORER_MAX_PIXELS = 512 * 512
# The colormaps the page offers for the heatmap; the first is stage 3's.
EXPLORER_CMAPS = (CMAP, "viridis", "magma", "coolwarm", "gray")
# Attribution in the wavelet domain: which coefficients, positions at scales, the output rests on.
PIXEL_DOMAIN = "pixel"
WAVELET_DOMAIN = "wavelet"
DOMAINS = (PIXEL_DOMAIN, WAVELET_DOMAIN)
DOMAIN = PIXEL_DOMAIN
# Any orthogonal PyWavelets wavelet; Haar's basis images are the most local.
WAVELET = "haar"
WAVELET_LEVELS = 3

# The kinds of map stage 2 and the evaluation make, the paper's first; a run measures one kind.
# "complex-step" names both the paper's map (``kind=``, here) and an engine (``engine=``, above):
# either engine makes the paper's map, to the same numbers.
COMPLEX_STEP_KIND = "complex-step"
GRADIENT_INPUT_KIND = "gradient-input"
INTEGRATED_COMPLEX_STEP_KIND = "integrated-complex-step"
MAP_KINDS = (COMPLEX_STEP_KIND, GRADIENT_INPUT_KIND, INTEGRATED_COMPLEX_STEP_KIND)
MAP_KIND = COMPLEX_STEP_KIND

# The evaluation of attribution maps: faithfulness, fidelity and stability, beside other methods.
EVALUATION_DIR = "evaluation"
# The attribution methods the evaluation compares, the project's own first (stage 2's kinds of
# map), the controls last.
ATTRIBUTION_METHODS = (
    COMPLEX_STEP_KIND,
    GRADIENT_INPUT_KIND,
    "integrated-gradients",
    INTEGRATED_COMPLEX_STEP_KIND,
    "smoothgrad",
    "occlusion",
    "edges",
    "darkness",
    "shuffled",
    "random",
)
# What removed pixels are replaced by: the micrograph blurred by a Gaussian of this sigma, in
# pixels, or its mean grey value.
BLUR_BASELINE = "blur"
MEAN_BASELINE = "mean"
BASELINES = (BLUR_BASELINE, MEAN_BASELINE)
BASELINE = BLUR_BASELINE
BLUR_SIGMA = 8.0
# Deletion and insertion curves have this many steps, from no pixel replaced to all of them.
EVALUATION_STEPS = 20
# The fractions of top-ranked pixels deleted for the representation shift (Crabbe & van der
# Schaar's test).
SHIFT_FRACTIONS = (0.05, 0.10, 0.20, 0.50)
# Path points of integrated gradients and the integrated complex step, by the midpoint rule.
INTEGRATION_STEPS = 32
# SmoothGrad: noisy copies of the micrograph, and the deviation of their Gaussian noise.
SMOOTHGRAD_SAMPLES = 16
SMOOTHGRAD_NOISE = 0.05
# Occlusion: square patches replaced by the baseline, and how far apart they start.
OCCLUSION_PATCH = 8
OCCLUSION_STRIDE = 8
# Local fidelity: single-pixel steps of random pixels, and Gaussian noise over every pixel.
FIDELITY_PIXELS = 64
FIDELITY_STEP = 1e-3
FIDELITY_SAMPLES = 64
FIDELITY_NOISE = 1e-3
# Stability, as Captum's sensitivity_max: copies under uniform noise of this radius.
STABILITY_SAMPLES = 8
STABILITY_RADIUS = 0.02

# Regions: how much of a map each phase, label or boundary of the micrograph carries.
REGIONS_DIR = "regions"
# Stage 3's colour limits for each map kind, on the map scaled to [0, 1]. The paper's 'bwr'
# 0.15-0.4 suit its map, the norm of the Jacobian's columns, which is broad: most of a micrograph
# lies between those values, and the window stretches that bulk over the colormap. The other two
# are products with |x - b|, which is near zero wherever a pixel is close to its baseline (the
# blurred micrograph: every flat grain interior), so their scaled values crowd near 0 with a few
# pixels carrying most of the map (on the study's 163 test micrographs with the shipped model, 78 %
# of a smoothed gradient-input map lies below 0.15, against 2 % of the paper's map, and its median
# is 0.06 against 0.34); 0.15 would paint most of the map one blue and 0.4 merge the
# pixels that carry it into one red, hiding their ranking, which is what the evaluation found these
# maps best at. They are drawn over the full range, 0 to 1, so that colour stays proportional to
# attribution and 'bwr' keeps its meaning: blue little, white half the strongest, red the most.
KIND_COLOUR_LIMITS = {
    COMPLEX_STEP_KIND: (VMIN, VMAX),
    GRADIENT_INPUT_KIND: (0.0, 1.0),
    INTEGRATED_COMPLEX_STEP_KIND: (0.0, 1.0),
}
# Otsu's threshold splits a micrograph into two phases, multi-Otsu into more, after a Gaussian
# smoothing of this sigma in pixels, so that noise does not speckle the phases.
REGION_CLASSES = 2
REGION_SIGMA = 1.0
# Multi-Otsu searches every set of thresholds among 256 grey levels: 4 phases take a tenth of a
# second a micrograph, 5 about fifteen seconds, 6 minutes.
REGION_MAX_CLASSES = 4
# The half-width of the boundary region: pixels whose centre lies within this of the line between
# two regions, in pixels, or in micrometres where the pixel size is given; 0 for no boundary.
BOUNDARY_WIDTH = 2.0
# The names of a folder of label images' labels, a JSON object {label: name} in that folder.
LABEL_NAMES_FILE = "labels.json"
# Bootstrap intervals over micrographs: resamples, and the level of the percentile interval.
BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95
# Below this many micrographs the regions command cautions that its intervals are rough: a
# percentile bootstrap over a few micrographs resamples the same few values, and its intervals
# come out narrower than the spread they stand for.
FEWEST_MICROGRAPHS_FOR_INTERVALS = 20
# Fewer resamples make a percentile interval of two or three resampled means, which need not even
# hold the mean.
BOOTSTRAP_MIN_SAMPLES = 20

# Reading micrographs as microscopes write them (TIFFs of 12 or 14 bits, vendor metadata).
# How integer values become [0, 1]: by the significant bits, by the type's maximum, or by a
# stretch between two percentiles of each image. "bits" is the default because the training
# micrographs are 8-bit JPEGs spanning their range: a 12-bit SEM frame in a 16-bit file scaled by
# 4095 spans it too, where "dtype" (65535) makes it a near-black image the model never saw, and it
# keeps the microscope's own brightness and contrast, which "percentile" replaces image by image
# (stretching the noise of a flat frame). 8-bit files read the same in both.
INTENSITIES = ("bits", "dtype", "percentile")
INTENSITY = INTENSITIES[0]
INTENSITY_PERCENTILES = (0.5, 99.5)
# The most pixels an image may have: larger files are refused as possible decompression bombs.
# SEMs write frames up to 6144x4096 (25 million pixels); 16384x16384 takes 1 GiB as float32.
MAX_PIXELS = 16384 * 16384
# Resolution tags giving larger pixels, in µm, are ignored: image software writes 72, 96 or 300 dpi
# by default (353, 265 and 85 µm), larger than the pixel of any microscope's camera or scan.
LARGEST_RESOLUTION_PIXEL_SIZE = 50.0
# Data bars found from the pixels, where no metadata says where the scan ends: a band of at least
# 2 % and at most 25 % of the height at the bottom (or top) whose first row is flat (90 % of it
# within one 255th of the image's range of one value: a margin or a separator line, the sharp
# straight edge) below frame rows less than 80 % flat, and whose rows show one background value
# over 60 % of the band and over 20 % of each row that is not itself flat (text, logos and scale
# bars cover the rest). Bars run 5 to 15 % of the height. No row of the study's 815 micrographs is
# more than 74 % flat, and bars of five styles under each of them are all found exactly.
DATA_BAR_LARGEST = 0.25
DATA_BAR_LEAST = 0.02
DATA_BAR_LEVELS = 255
DATA_BAR_EDGE_FLATNESS = 0.9
DATA_BAR_BACKGROUND = 0.6
DATA_BAR_ROW_BACKGROUND = 0.2
DATA_BAR_FRAME_FLATNESS = 0.8
DATA_BAR_FRAME_ROWS = 4
DATA_BAR_CHOICES = ("auto", "none")
# A page choice for 2-D models reading multi-page files: every page, the first, or a number.
PAGES = ("all", "first")
PAGE_CHOICE = "first"
# The scale bar drawn on pictures of micrographs whose pixel size is known: at most a fifth of the
# width, as thick as 1.5 % of the height (one pixel at least), white on the usual dark corner.
SCALE_BAR_FRACTION = 0.2
SCALE_BAR_THICKNESS = 0.015
SCALE_BAR_COLOUR = "white"
SCALE_BAR_LOCATION = "lower right"
# A box behind the bar and its label, half-opaque black, so that the white bar reads over light
# phases (ferrite) as well as over dark ones.
SCALE_BAR_BOX_COLOUR = "black"
SCALE_BAR_BOX_ALPHA = 0.5

# Importing the package makes process-wide settings for TensorFlow and Keras (the package's
# docstring lists them); this environment variable, set to anything but "" or "0" before the
# import, declines them all.
NO_PROCESS_SETTINGS = "COMPLEXSTEP_NO_PROCESS_SETTINGS"
