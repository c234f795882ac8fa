# The two commands of the README: `make demo` and `make test`. Both build .venv from the
# requirements first, so that a fresh clone needs nothing but Python 3.11; make test also builds
# .venv-jax, with JAX and PyTorch and without TensorFlow, runs the core tests and the PyTorch
# tests there, and builds the documentation site with warnings as errors (pytest runs
# examples/quickstart.ipynb).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
JAX_VENV := .venv-jax
JAX_INSTALLED := $(JAX_VENV)/.installed
# Material's notice about MkDocs 2 is silenced: it is not a warning about these pages.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs

# The tests that run again on JAX: the twin, the engines, training, the stage scripts, and the
# zoo of encoders against jax.jacrev.
CORE_TESTS := tests/twin/test_twin.py tests/engines/test_engines.py tests/model/test_training.py \
	tests/commands/test_build_convolutional_autoencoder.py \
	tests/commands/test_obtain_attribution_contours.py tests/twin/test_encoders.py
# PyTorch encoders, run in the JAX environment, which has torch and no TensorFlow.
TORCH_TESTS := tests/pytorch/test_pytorch.py
# Left to the TensorFlow run: stage 2's argument errors, its --skip-existing bookkeeping, its
# two-engine comparison and the graphs' tiles against their whole images, which do not depend on
# the backend (the engines' agreement is checked on JAX by test_engines.py and the zoo), so that
# CI takes less time.
CORE_SKIP := bad_input_is_one_clear_line or skip_existing or complex_step_run_agrees or \
	tiles_of_any_graph

# Demo-sized settings: a few epochs on a few hundred synthetic micrographs.
DEMO_TRAIN_IMAGES ?= 200
DEMO_TEST_IMAGES ?= 50
DEMO_CONTOUR_IMAGES ?= 4
DEMO_EPOCHS ?= 3

.PHONY: demo test lint clean browser docs test-slurm figures

$(INSTALLED): requirements.txt requirements-base.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	touch $@

$(JAX_INSTALLED): requirements-jax.txt requirements-base.txt pyproject.toml
	$(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(JAX_VENV)/bin/python -m pip install --quiet -r requirements-jax.txt
	$(JAX_VENV)/bin/python -m pip install --quiet --no-deps --editable .
	touch $@

# The explorer's page tests run in headless Chromium from the Debian packages. They are installed
# where missing and apt-get can (as root); elsewhere those tests fail saying what is missing.
BROWSER_PACKAGES := chromium chromium-driver
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0

browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			$(APT_GET) install -y $(BROWSER_PACKAGES) >/dev/null 2>&1 || \
			{ $(APT_GET) update >/dev/null 2>&1 && \
			  $(APT_GET) install -y $(BROWSER_PACKAGES) >/dev/null 2>&1; } || \
			echo "could not install $(BROWSER_PACKAGES) with apt-get"; \
		else \
			echo "$(BROWSER_PACKAGES) are missing; installing them needs root and apt-get"; \
		fi; \
	fi

test: $(INSTALLED) $(JAX_INSTALLED) browser
	$(BIN)/ruff check codes tests benchmarks
	$(BIN)/ruff format --check codes tests benchmarks
	$(MKDOCS) build --strict --quiet --site-dir site
	$(BIN)/python -m pytest -n auto
	KERAS_BACKEND=jax $(JAX_VENV)/bin/python -m pytest -n auto $(CORE_TESTS) $(TORCH_TESTS) \
		-k "not ($(CORE_SKIP))"

# Stage 2 on a real single-node SLURM (tests/cluster/test_slurm.py): slurm-wlm and munge are
# installed where missing (as root, with apt-get), and dask-jobqueue into the venv where pip can;
# the tests start munged, slurmctld and slurmd with a slurm.conf of their own in a temporary
# folder, run the docs' job array and a SLURMCluster, and stop them. Left out of make test: CI's
# time is tight.
SLURM_PACKAGES := slurm-wlm munge

test-slurm: $(INSTALLED)
	@if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			$(APT_GET) install -y --no-install-recommends $(SLURM_PACKAGES) >/dev/null 2>&1 || \
			{ $(APT_GET) update >/dev/null 2>&1 && \
			  $(APT_GET) install -y --no-install-recommends $(SLURM_PACKAGES) >/dev/null; }; \
		else \
			echo "$(SLURM_PACKAGES) are missing; installing them needs root and apt-get"; exit 1; \
		fi; \
	fi
	@$(BIN)/python -c "import dask_jobqueue" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet dask-jobqueue || \
		echo "could not install dask-jobqueue: its test is skipped"
	COMPLEXSTEP_SLURM=1 $(BIN)/python -m pytest -v -p no:xdist tests/cluster/test_slurm.py

# The documentation site, into site/: warnings (a broken link, a docstring the API reference
# cannot read) are errors.
docs: $(INSTALLED)
	$(MKDOCS) build --strict --site-dir site

lint: $(INSTALLED)
	$(BIN)/ruff check codes tests benchmarks
	$(BIN)/ruff format --check codes tests benchmarks

demo: $(INSTALLED)
	$(BIN)/python codes/generate_synthetic_micrographs.py --train $(DEMO_TRAIN_IMAGES) \
		--test $(DEMO_TEST_IMAGES) --contour-inputs $(DEMO_CONTOUR_IMAGES)
	$(BIN)/python codes/build_convolutional_autoencoder.py --epochs $(DEMO_EPOCHS)
	$(BIN)/python codes/obtain_attribution_contours.py --inputs contour_inputs \
		--outputs contour_outputs/all
	$(BIN)/python codes/generate_heatmaps.py --inputs contour_outputs/all --outputs smaps \
		--micrographs contour_inputs --overlay --panel
	@echo "Results: models/ (model, loss curves, reconstructions), contour_outputs/all/"
	@echo "(attribution maps) and smaps/ (heatmaps, overlays and panels)."
	@echo "The demo's model trained $(DEMO_EPOCHS) epochs on synthetic micrographs: a toy that"
	@echo "reconstructs grey blurs, so its heatmaps are speckle. For maps worth reading, explain"
	@echo "with the model trained at the paper's settings:"
	@echo "  $(BIN)/complexstep explain --inputs contour_inputs --outputs contour_outputs/all --model pretrained"

# The README's figure, figures/pretrained_panel.png, drawn by the stages themselves, so that it is
# remade whenever the drawing changes: the shipped model's panel of the study's test micrograph
# image_1018 (GPL-3.0, not in the repository; STUDY_TEST names its folder).
STUDY_TEST ?= ../shared/data/micrographs/test
FIGURE_MICROGRAPH ?= image_1018.jpg
FIGURE_WORK := build/figure

figures: $(INSTALLED)
	rm -rf $(FIGURE_WORK) && mkdir -p $(FIGURE_WORK)/micrographs
	cp $(STUDY_TEST)/$(FIGURE_MICROGRAPH) $(FIGURE_WORK)/micrographs/
	$(BIN)/python -m complexstep explain --inputs $(FIGURE_WORK)/micrographs \
		--outputs $(FIGURE_WORK)/maps --model pretrained
	$(BIN)/python -m complexstep heatmaps --inputs $(FIGURE_WORK)/maps \
		--outputs $(FIGURE_WORK)/heatmaps --micrographs $(FIGURE_WORK)/micrographs --panel
	cp $(FIGURE_WORK)/heatmaps/panel_$(basename $(FIGURE_MICROGRAPH)).png figures/pretrained_panel.png

clean:
	rm -rf models contour_outputs/all/* sinps/all/* smaps/*
