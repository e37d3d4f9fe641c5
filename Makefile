# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= $(firstword $(wildcard ../shared/data) $(wildcard data))
NB201 ?= $(DATA)/nb201/nb201_cifar10.csv

.PHONY: setup demo pipeline bench-nb201 test test-slow lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# the main job: the whole supernet pipeline on Fashion-MNIST, quick preset (about 10 minutes on
# 2 cores): train a supernet, fit the predictor, search under the budget, fine-tune, export and
# report into runs/demo (summary.md, result.json, model.pt, model.onnx, plots/); resumable
demo: setup
	BUDGETNAS_DATA=$(abspath $(DATA)) $(VENV)/bin/budgetnas run --data fashion-mnist --preset quick \
		--budget 'params_m<=0.3' --out runs/demo

pipeline: demo

# hard-constrained search on NAS-Bench-201, scored exactly (12 s)
bench-nb201: setup
	$(VENV)/bin/budgetnas bench nb201 --table $(NB201) --cost lat_pixel3_ms \
		--budget-quantiles 0.1,0.25,0.5 --solvers iqnas,evolution,optuna,random \
		--queries 100 --seeds 2 --json runs/bench-nb201/nb201.json --plot runs/bench-nb201/nb201.png

test: setup
	$(VENV)/bin/ruff check src tests
	BUDGETNAS_DATA=$(abspath $(DATA)) $(PY) -m pytest -q -n 2 --dist worksteal

test-slow: setup
	BUDGETNAS_DATA=$(abspath $(DATA)) $(PY) -m pytest -q -m slow

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

clean:
	rm -rf $(VENV) runs .pytest_cache build *.egg-info src/*.egg-info
