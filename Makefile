# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= $(firstword $(wildcard ../shared/data) $(wildcard data))
NB201 ?= $(DATA)/nb201/nb201_cifar10.csv

.PHONY: setup demo supernet pipeline bench-nb201 test test-slow lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,ray]'
	touch $@

setup: $(VENV)/.installed

# the main job (about 5 minutes on 2 cores after set-up): on the shipped, trained supernet
# `fmnist-small` (no training; the predictor's evaluations travel with it), the most accurate
# Fashion-MNIST network under this machine's latency (table built in seconds), parameters and
# FLOPs at once; closed loop, fine-tuning on every search-train image, export, report, the
# Pareto front over latency and the ResNet-20 baseline measured beside it; prints summary.md
DEMO_BUDGETS := --budget 'latency_ms<=4.5' --budget 'params_m<=0.35' --budget 'flops_m<=9'
demo: setup
	BUDGETNAS_DATA=$(abspath $(DATA)) $(VENV)/bin/budgetnas run --data fashion-mnist --preset demo \
		$(DEMO_BUDGETS) --out runs/demo
	@cat runs/demo/summary.md

# the shipped files of src/budgetnas/hub (about an hour on 2 cores): train the supernet with its
# recipe and the ResNet-20 baseline, pack them, measure the predictor's evaluations with the
# demo's settings and register all three in the shipped registry (resumable: rerun to continue)
HUB := src/budgetnas/hub
SN := runs/supernets
supernet: setup
	BUDGETNAS_DATA=$(abspath $(DATA)) $(VENV)/bin/budgetnas train \
		--config $(HUB)/recipes/fmnist-small.toml --out $(SN)/fmnist-small --no-progress \
		$$(test -f $(SN)/fmnist-small/supernet.pt && echo --resume)
	$(VENV)/bin/budgetnas supernet pack $(SN)/fmnist-small --out $(HUB)/files/fmnist-small.pt
	BUDGETNAS_DATA=$(abspath $(DATA)) $(VENV)/bin/budgetnas train-baseline --data fashion-mnist \
		--model resnet20 --epochs 6 --out $(SN)/resnet20 \
		$$(test -f $(SN)/resnet20/train_state.pt && echo --resume)
	cp $(SN)/resnet20/resnet20_fashion-mnist.pt $(HUB)/files/resnet20-fmnist.pt
	$(VENV)/bin/budgetnas supernet register resnet20-fmnist $(HUB)/files/resnet20-fmnist.pt \
		--baseline --registry $(HUB)/supernets.toml --recipe 'make supernet' \
		--description 'ResNet-20 (16/32/64), 6 epochs on the 60,000 Fashion-MNIST training images'
	BUDGETNAS_DATA=$(abspath $(DATA)) $(VENV)/bin/budgetnas run --data fashion-mnist --preset demo \
		--supernet $(HUB)/files/fmnist-small.pt $(DEMO_BUDGETS) --out $(SN)/records-run
	$(VENV)/bin/budgetnas supernet records $(SN)/records-run/store.sqlite \
		--out $(HUB)/files/fmnist-small.records.json.gz
	$(VENV)/bin/budgetnas supernet register fmnist-small $(HUB)/files/fmnist-small.pt \
		--registry $(HUB)/supernets.toml --records $(HUB)/files/fmnist-small.records.json.gz \
		--recipe 'make supernet' \
		--description 'recipe $(HUB)/recipes/fmnist-small.toml: 8 + 4 epochs on 50,000 images'

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
