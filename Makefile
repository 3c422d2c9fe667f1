# Two commands do all the set-up on a fresh machine:
#   make demo   - install, then simulate data, mask it, impute it and score the result
#   make test   - install, then lint and run every test (unit, CLI, benchmark, Nextflow)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO   ?= demo
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint benchmark containers clean

# runtime dependencies at the versions of containers/requirements.lock, as in the images
$(STAMP): pyproject.toml containers/requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,benchmark]" -c containers/requirements.lock
	bash scripts/install_nextflow.sh >/dev/null
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	@mkdir -p $(DEMO)
	$(BIN)/gnnimpute simulate $(DEMO)/simulated.h5ad --cells 1000 --genes 2000 --groups 6 --dropout-mid 1 --de-fac-scale 0.5 --seed 0 --force
	$(BIN)/gnnimpute mask $(DEMO)/simulated.h5ad $(DEMO)/masked.h5ad $(DEMO)/truth.h5ad --rate 0.1 --seed 0 --force
	$(BIN)/gnnimpute impute $(DEMO)/masked.h5ad $(DEMO)/imputed.h5ad --no-qc --seed 0 --force --plot $(DEMO)/training_curve.png
	$(BIN)/gnnimpute evaluate $(DEMO)/imputed.h5ad $(DEMO)/truth.h5ad --label-key group --json $(DEMO)/metrics.json
	@echo "demo outputs in $(DEMO)/: simulated.h5ad masked.h5ad truth.h5ad imputed.h5ad training_curve.png metrics.json"

lint: setup
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

test: setup
	$(BIN)/ruff check src tests
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/scripts:$$PATH" $(BIN)/pytest

benchmark: setup
	bash scripts/benchmark.sh

# build the CPU and CUDA images and run them for real (needs docker.io; root for dockerd/debootstrap)
containers: setup
	bash scripts/build_containers.sh

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .cache/nextflow results work .nextflow*
