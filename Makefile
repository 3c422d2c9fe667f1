# Two commands do all the set-up on a fresh machine:
#   make demo   - install, then simulate data, mask it, impute it and score it beside the baselines
#   make test   - install, then lint and run every test (unit, CLI, benchmark, Nextflow)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
STAMP  := $(VENV)/.installed
# nf-core tools live in their own venv: their pins need not agree with the package's
NFCORE_VENV  ?= .venv-nfcore
NFCORE_STAMP := $(NFCORE_VENV)/.installed

.PHONY: setup demo test lint benchmark readme-results benchmark-scale containers fuzz clean nfcore-venv nf-test nfcore-lint

# runtime dependencies at the versions of containers/requirements.lock, as in the images
$(STAMP): pyproject.toml containers/requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,benchmark]" -c containers/requirements.lock
	bash scripts/install_nextflow.sh >/dev/null
	touch $(STAMP)

setup: $(STAMP)

$(NFCORE_STAMP): tests/nfcore/requirements.txt
	$(PYTHON) -m venv $(NFCORE_VENV)
	$(NFCORE_VENV)/bin/python -m pip install --quiet -r tests/nfcore/requirements.txt
	touch $(NFCORE_STAMP)

nfcore-venv: $(NFCORE_STAMP)

# nf-test of every module and the pipeline (scripts/nf-test: nf-test on PATH, else the jar)
nf-test: setup nfcore-venv
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/scripts:$$PATH" NXF_OFFLINE=true scripts/nf-test test

# nf-core modules lint, offline, in an nf-core/modules-style tree
nfcore-lint: setup nfcore-venv
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/scripts:$$PATH" bash scripts/nfcore_lint.sh

demo: setup
	@mkdir -p $(DEMO)
	$(BIN)/gnnimpute simulate $(DEMO)/simulated.h5ad --cells 1000 --genes 2000 --groups 6 --dropout-mid 1 --de-fac-scale 0.5 --seed 0 --force
	$(BIN)/gnnimpute mask $(DEMO)/simulated.h5ad $(DEMO)/masked.h5ad $(DEMO)/truth.h5ad --rate 0.1 --seed 0 --force
	$(BIN)/gnnimpute impute $(DEMO)/masked.h5ad $(DEMO)/imputed.h5ad --no-qc --seed 0 --force --plot $(DEMO)/training_curve.png
	$(BIN)/gnnimpute baseline $(DEMO)/masked.h5ad $(DEMO)/baselines.h5ad --force
	@echo "scores on the hidden counts and clustering: gnnimpute's default layer beside no imputation (normalized), kNN averaging (knn) and the kNN level (knn_level)"
	$(BIN)/gnnimpute evaluate $(DEMO)/imputed.h5ad $(DEMO)/truth.h5ad --label-key group --baselines $(DEMO)/baselines.h5ad --json $(DEMO)/metrics.json
	@echo "demo outputs in $(DEMO)/: simulated.h5ad masked.h5ad truth.h5ad imputed.h5ad baselines.h5ad training_curve.png metrics.json"

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

test: setup nfcore-venv
	$(BIN)/ruff check src tests
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/scripts:$$PATH" $(BIN)/pytest

benchmark: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/benchmark.sh

# the README's results block and docs/benchmark/uses.png from docs/benchmark (no rerun: seconds)
readme-results: setup
	$(BIN)/python -m gnnimpute.benchmark.readme docs/benchmark README.md docs/benchmark/uses.png

# Fuzz every reader (h5ad, 10x h5, 10x folder, csv, tsv.gz) for FUZZ_SECONDS each (CI runs 3 s).
FUZZ_SECONDS ?= 600
fuzz: setup
	PYTHONFAULTHANDLER=1 FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/pytest tests/data/test_fuzz_readers.py::test_fuzz_reader -s -q -p no:cacheprovider

# Scale benchmark (hours on 2 cores): 10k-100k PBMC-resampled cells x 2k genes and 100k x ~15k
# Baron-resampled; writes docs/scale.json, docs/scale_table.md, docs/scale.png and the table in docs/scale.md.
# SIZES=10000,25000 SCALE_ARGS=--skip-baron make benchmark-scale runs a subset.
SIZES ?= 10000,25000,50000,100000
benchmark-scale: setup
	$(BIN)/python scripts/benchmark_scale.py --sizes $(SIZES) $(SCALE_ARGS)

# build the CPU and CUDA images and run them for real (needs docker.io; root for dockerd/debootstrap)
containers: setup
	bash scripts/build_containers.sh

clean:
	rm -rf $(VENV) $(NFCORE_VENV) .nf-test $(DEMO) .pytest_cache .cache/nextflow results work .nextflow*
