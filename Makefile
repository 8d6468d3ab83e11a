# Fresh machine: `make demo` (install + a real job on bundled data), `make test` (install + tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast demo lint bench clean upgrade-constraints

install: $(STAMP)

# The tested versions of every other dependency come from constraints.txt (pip -c); pip takes
# torch/torchvision from the machine (capped by /etc/xdg/pip where present), never pinned here.
$(STAMP): pyproject.toml setup.py constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt -e ".[all,dev]"
	touch $(STAMP)

# Move the tested versions forward: the newest releases within pyproject.toml's bounds,
# resolved in a fresh venv outside the tree, written into constraints.txt (same packages).
# Then `make test` reinstalls .venv from the new file and tests it; commit both if it passes.
upgrade-constraints:
	@lock=$$(mktemp -d) && trap 'rm -rf "$$lock"' EXIT && \
	$(PYTHON) -m venv "$$lock" && \
	"$$lock/bin/pip" install -q --upgrade pip && \
	"$$lock/bin/pip" install -q -e ".[all,dev]" && \
	"$$lock/bin/pip" freeze --exclude-editable | $(PYTHON) .ci/update_constraints.py constraints.txt
	@git diff --stat constraints.txt 2>/dev/null || true
	@echo "constraints.txt updated; now run: make test"

# Two workers, one core each (tests/conftest.py). Whole test modules are handed out (their
# module-scoped fixtures run once) in collection order: modules with slow tests first.
XDIST := -n 2 --dist loadscope --no-loadscope-reorder

test: install
	$(BIN)/pytest $(XDIST) -q

test-fast: install
	$(BIN)/pytest $(XDIST) -q -m "not slow"

# Each run gets its own run directory (runs/demo/demo_classification[-<time>-<suffix>]/):
# run names are unique, a run record is never overwritten.
demo: install
	$(BIN)/automl job create --file examples/jobs/demo_classification.yml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache *.egg-info build dist
