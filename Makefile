# crm_analysis: common tasks.  Run `make` (or `make help`) to list them.
#
# Needs GNU make, bash and Python >= 3.11; everything else is installed into .venv
# from PyPI by `make install` (the other targets do that for you when needed).
# Override any variable on the command line, e.g.
#     make reports DATA=data/my_group REPORT_LANGS=zh
#     make test JOBS=4 PYTEST_ARGS="-k synth -x"

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# ------------------------------------------------------------------------- variables
PYTHON ?= python3## interpreter used to create the virtual environment (>= 3.11)
VENV := .venv## virtual environment folder
DATA := data/sample## dataset folder used by `data` and `reports`
REPORTS := reports## output folder of the HTML reports
SEED := 2026## seed of the generated dataset
STORES := 3## number of stores of the generated dataset
REPORT_LANGS ?= en zh## report languages of `reports` (REPORTS/<run>/<store>/<lang>/)
JOBS ?= 3## pytest-xdist workers of `test` and `test-slow` (0: no xdist; 3 on 2 cores: notebook tests wait on their kernels)
BENCH_SIZES ?= 1## millions of orders measured by `make bench` (1,10,30: the full run; benchmarks/README.md)
BENCH_ARGS ?=## extra benchmarks/bench_scale.py arguments, e.g. "--engines pandas,polars --json bench.json"
PYTEST_ARGS ?=## extra pytest arguments, e.g. "-k synth -x"
REPORT_JOBS ?=## notebooks run at the same time by `reports` (empty: one per CPU)
REPORT_ARGS ?=## extra `crm-analysis batch` arguments, e.g. "--stores 001 --notebooks 01 --force"

MIN_PYTHON := 3.11
VPY := $(VENV)/bin/python
# The install stamp is named after a checksum of pyproject.toml: a changed pyproject
# (dependencies, extras, entry points) reinstalls, an unchanged one is a no-op.
PYPROJECT_SUM := $(firstword $(shell cksum pyproject.toml 2>/dev/null))
INSTALL_STAMP := $(VENV)/.installed-$(PYPROJECT_SUM)
DATA_STAMP := $(DATA)/repair_orders.parquet
HELP_VARS := PYTHON VENV DATA REPORTS SEED STORES REPORT_LANGS REPORT_JOBS JOBS BENCH_SIZES \
	BENCH_ARGS PYTEST_ARGS REPORT_ARGS LAB_ARGS
# `make help` shows $(VAR) in target descriptions with its current value
HELP_SED := $(foreach v,$(HELP_VARS),-e 's|\$$($(v))|$($(v))|g')
comma := ,
empty :=
space := $(empty) $(empty)
# no progress bars in CI logs
PROGRESS_FLAG := $(if $(filter true 1,$(CI)),--no-progress,)

# Determinism: the same hash seed in every process that make starts. MPLBACKEND is
# deliberately not set here: the report runner gives the notebook kernels their backend.
export PYTHONHASHSEED := 0

.PHONY: help install notebook-setup notebook-copies lab data data-clean reports reports-en reports-zh test test-spark test-slow lint bench \
	notebooks-sync clean distclean

# ------------------------------------------------------------------------- help
help: ## show this help (the default target)
	@printf 'Usage: make <target> [VARIABLE=value ...]\n\nTargets:\n'
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
		| sed $(HELP_SED) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-15s %s\n", $$1, $$2}'
	@printf '\nVariables (current value):\n'
	@$(foreach v,$(HELP_VARS),printf '  %-12s %-14s %s\n' '$(v)' '$(or $($(v)),"")' \
		"$$(sed -nE 's/^$(v) [?:]?=[^#]*## (.*)$$/\1/p' $(firstword $(MAKEFILE_LIST)))";)

# ------------------------------------------------------------------------- environment
install: $(INSTALL_STAMP) ## create .venv and install the package editable with its dev extra

$(VPY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { \
		echo "error: '$(PYTHON)' not found; install Python >= $(MIN_PYTHON) or run" \
		     "make install PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: crm_analysis needs Python >= $(MIN_PYTHON), but '$(PYTHON)' is" \
		     "$$($(PYTHON) -c 'import platform; print(platform.python_version())')." >&2; \
		echo "       Run: make install PYTHON=/path/to/python3.11 (or newer)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { \
		echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu install the" \
		     "python3-venv package first" >&2; exit 1; }

$(INSTALL_STAMP): | $(VPY)
	@$(VPY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "error: $(VENV) uses Python $$($(VPY) -c 'import platform; print(platform.python_version())')," \
		     "crm_analysis needs >= $(MIN_PYTHON); run 'make distclean' and" \
		     "'make install PYTHON=/path/to/python3.11'" >&2; exit 1; }
	$(VPY) -m pip install --upgrade pip
	$(VPY) -m pip install -e ".[dev]"
	@$(MAKE) --no-print-directory notebook-setup
	@rm -f $(VENV)/.installed-*
	@touch $@

# Notebooks are tracked as py:percent scripts only (README, "Explore the notebooks"): the
# .ipynb beside each script is the reader's working copy, made here when missing and
# git-ignored, so running and saving a notebook leaves `git status` clean. nbstripout
# stays installed as a safety net for any notebook that is committed on purpose, and
# the project's interpreter is this environment's "python3" kernel.
NBSTRIPOUT_KEYS := metadata.language_info metadata.jupytext metadata.papermill \
	metadata.widgets cell.metadata.papermill cell.metadata.jupyter
NOTEBOOK_SCRIPTS = $(wildcard notebooks/[0-9][0-9]_*.py notebooks/lessons/L[0-9]_*.py)
MISSING_IPYNB = $(filter-out $(patsubst %.ipynb,%.py,$(wildcard notebooks/*.ipynb notebooks/lessons/*.ipynb)),$(NOTEBOOK_SCRIPTS))
notebook-setup: | $(VPY) ## install the notebooks' git filter, the project's kernel and the .ipynb copies
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		$(VPY) -m nbstripout --install && \
		git config filter.nbstripout.extrakeys "$(NBSTRIPOUT_KEYS)" && \
		echo "git filter nbstripout installed (notebook outputs are never committed)"; \
	else echo "not a git checkout: no notebook git filter installed"; fi
	$(VPY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	@$(MAKE) --no-print-directory notebook-copies
	@echo "kernel python3 -> $(VPY)"

notebook-copies: | $(VPY) ## make the missing .ipynb working copies of the notebook scripts (git-ignored)
	@$(if $(strip $(MISSING_IPYNB)),$(VENV)/bin/jupytext --quiet --to ipynb --set-kernel python3 $(MISSING_IPYNB),true)

# ------------------------------------------------------------------------- data
data: $(DATA_STAMP) ## generate the synthetic dataset into $(DATA) unless it exists

# Raw data is immutable: an existing dataset is never overwritten (see data-clean).
# The dataset is written to a temporary folder and moved into place only when complete.
# The install stamp is order-only: reinstalling does not regenerate the data.
# A CSV dataset (repair_orders.csv) in $(DATA) is used as it is.
$(DATA_STAMP): | $(INSTALL_STAMP)
	@if [ -e "$(DATA)/repair_orders.csv" ]; then \
		echo "using the existing CSV dataset in $(DATA)"; exit 0; fi; \
	if [ -e "$(DATA)" ] && [ -n "$$(ls -A "$(DATA)" 2>/dev/null)" ]; then \
		echo "error: $(DATA) exists but holds no repair_orders table; refusing to" \
		     "overwrite it. Delete it with 'make data-clean' or use DATA=<other folder>." >&2; \
		exit 1; fi; \
	rm -rf "$(DATA).partial"; mkdir -p "$$(dirname "$(DATA)")"; \
	echo "$(VPY) -m crm_analysis.synth --stores $(STORES) --seed $(SEED) --out $(DATA).partial"; \
	$(VPY) -m crm_analysis.synth --stores $(STORES) --seed $(SEED) --out "$(DATA).partial"; \
	rmdir "$(DATA)" 2>/dev/null || true; \
	mv "$(DATA).partial" "$(DATA)"; \
	echo "dataset ready in $(DATA) (moved from $(DATA).partial)"

data-clean: ## delete the generated dataset in $(DATA) (only if made by the generator)
	@rm -rf "$(DATA).partial"; \
	if [ ! -e "$(DATA)" ]; then echo "nothing to delete: $(DATA) does not exist"; exit 0; fi; \
	if grep -qs '"generator": "crm_analysis.synth"' "$(DATA)/meta.json"; then \
		rm -rf "$(DATA)"; echo "deleted $(DATA)"; \
	else \
		echo "error: $(DATA) was not written by crm_analysis.synth (no meta.json saying" \
		     "so); not deleting it. Remove it by hand if you really mean to." >&2; exit 1; \
	fi

# ------------------------------------------------------------------------- reports
reports: $(INSTALL_STAMP) $(DATA_STAMP) ## every notebook for every store of $(DATA) in $(REPORT_LANGS), in parallel, skipping up-to-date reports ($(REPORTS)/<as-of month>/index.html)
	$(VPY) -m crm_analysis batch --data $(DATA) --out $(REPORTS) \
		--lang $(subst $(space),$(comma),$(strip $(REPORT_LANGS))) \
		$(if $(strip $(REPORT_JOBS)),--jobs $(REPORT_JOBS),) $(PROGRESS_FLAG) $(REPORT_ARGS)

LAB_ARGS ?=## extra `crm-analysis lab` / JupyterLab arguments, e.g. "--lang zh" or "--no-browser --port 8899"
lab: $(INSTALL_STAMP) $(DATA_STAMP) ## open JupyterLab at notebooks/ with the project's kernel (LAB_ARGS="--lang zh": one-language copies)
	@$(MAKE) --no-print-directory notebook-copies
	$(VPY) -m crm_analysis lab $(LAB_ARGS)

reports-en: ## the English reports only
	$(MAKE) reports REPORT_LANGS=en

reports-zh: ## the Chinese reports only
	$(MAKE) reports REPORT_LANGS=zh

# ------------------------------------------------------------------------- quality
# Bytecode caching on for the tests even where the environment turns it off
# (PYTHONDONTWRITEBYTECODE): pytest keeps its rewritten test modules, and each notebook
# kernel reads the package's compiled modules instead of compiling them again.
PYTEST_ENV := PYTHONDONTWRITEBYTECODE=
# The tests read the default dataset from $(DATA) (tests/conftest.py), so `test` makes it first.
test: $(INSTALL_STAMP) $(DATA_STAMP) ## check the import contract, then run the fast tests (not marked slow or spark) on $(JOBS) workers
	$(VENV)/bin/lint-imports --no-cache
	$(PYTEST_ENV) $(VPY) -m pytest -m "not slow and not spark" -n $(JOBS) $(PYTEST_ARGS)

# PySpark needs Java 17 or newer: without it the target says so and succeeds (skipped).
SPARK_STAMP := $(VENV)/.spark-installed-$(PYPROJECT_SUM)
$(SPARK_STAMP): $(INSTALL_STAMP)
	$(VPY) -m pip install -e ".[dev,spark]"
	@rm -f $(VENV)/.spark-installed-*
	@touch $@

test-spark: $(INSTALL_STAMP) ## the engine-equivalence tests on a local PySpark session (local[2]; needs Java >= 17, installs the spark extra)
	@if ! command -v java >/dev/null 2>&1 && [ -z "$${JAVA_HOME:-}" ]; then \
		echo "test-spark: SKIPPED: Java is not installed. PySpark needs Java 17 or newer" \
		     "(Debian/Ubuntu: apt install openjdk-17-jre-headless), on PATH or in JAVA_HOME."; \
		exit 0; fi; \
	$(MAKE) --no-print-directory $(SPARK_STAMP) && \
	$(VPY) -m pytest -m spark $(PYTEST_ARGS) tests/test_engines_spark.py

test-slow: $(INSTALL_STAMP) $(DATA_STAMP) ## run only the slow-marked tests
	$(PYTEST_ENV) $(VPY) -m pytest -m slow -n $(JOBS) $(PYTEST_ARGS)

lint: $(INSTALL_STAMP) ## check the code with ruff and the import contract (docs/CONVENTIONS.md)
	$(VPY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache

# bench_scale.py generates its own data into benchmarks/.work (git-ignored, reused by
# later runs); the other benchmarks/bench_*.py scripts are run by hand (benchmarks/README.md).
bench: $(INSTALL_STAMP) ## one markdown table: pandas/Polars/DuckDB at $(BENCH_SIZES)M orders, lifetimes, BG/NBD (BENCH_SIZES=1,10,30 for the full run)
	$(VPY) benchmarks/bench_scale.py --sizes $(BENCH_SIZES) $(BENCH_ARGS)

notebooks-sync: $(INSTALL_STAMP) ## sync the notebook scripts with their .ipynb working copies (both ways, newest wins)
	$(VENV)/bin/jupytext --sync $(NOTEBOOK_SCRIPTS)

# ------------------------------------------------------------------------- cleaning
clean: ## delete generated reports and caches (keeps .venv and data)
	@if [ -d "$(REPORTS)" ]; then \
		find "$(REPORTS)" -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +; fi
	rm -rf .pytest_cache .ruff_cache build dist
	find . -path ./$(VENV) -prune -o \
		\( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -prune -exec rm -rf {} +

distclean: clean data-clean ## also delete .venv, the notebooks' git filter, the generated dataset and build metadata
	-@[ -x $(VPY) ] && git rev-parse --is-inside-work-tree >/dev/null 2>&1 && $(VPY) -m nbstripout --uninstall
	rm -rf $(VENV) *.egg-info
