# Fresh machine: `make demo` (install + a real job on bundled data), `make test` (install + tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast demo lint bench clean

install: $(STAMP)

# pip takes torch/torchvision from the machine (capped by /etc/xdg/pip where present);
# nothing here pins another version.
$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

test: install
	$(BIN)/pytest -n 2 -q

test-fast: install
	$(BIN)/pytest -n 2 -q -m "not slow"

# Each run gets its own run directory (runs/demo-<time>/): a run record is never overwritten.
demo: install
	$(BIN)/automl job create --file examples/jobs/demo_classification.yml \
		--name demo-$$(date +%Y%m%d-%H%M%S)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info build dist
