# bedrock-watch — every target sets itself up: a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
PY        := $(BIN)/python
STAMP     := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/core/requirements.txt pyproject.toml | sha1sum | cut -c1-12)
# sam needs python3.13 on PATH to build the python3.13 layer and functions: the venv's bin/ gives it.
export PATH := $(abspath $(BIN)):$(PATH)
export SAM_CLI_TELEMETRY := 0
# sam build expands AWS::LanguageExtensions (Fn::ForEach) locally only when asked to.
export SAM_CLI_ENABLE_LANGUAGE_EXTENSIONS := 1
SAM       ?= $(BIN)/sam
ASL       := $(wildcard statemachines/*.asl.json)
SCENARIO  ?= default
STACK     ?= bedrock-watch

.PHONY: help install lint format typecheck validate lint-asl build test test-fast demo report bench deploy clean

# The offline tools (sam validate's transform, the tests, the drill, the report) need some region
# and never talk to AWS: us-east-1 unless one is set. `make deploy` gets none of this: it deploys
# where the caller's own AWS_REGION / profile point (or REGION=… PROFILE=…).
OFFLINE := lint typecheck validate lint-asl build test test-fast demo report bench
$(OFFLINE): export AWS_DEFAULT_REGION ?= us-east-1

help:
	@echo "make demo     run the drill on the embedded AWS emulator (no account needed)"
	@echo "make test     set up, lint, type-check, validate, build and run every test"
	@echo "make report FILES=…  meter exported invocation logs and backtest the alarms on them"
	@echo "make bench    print the metering, own-cost and report benchmarks"
	@echo "make deploy   check the configuration, then sam deploy to your own region/profile"
	@echo "              (ENV=prod, REGION=…, PROFILE=…, GUIDED=1 for sam deploy --guided)"

$(PY):
	@py=$$(scripts/find-python313.sh) && echo "creating $(VENV) with $$py" && "$$py" -m venv $(VENV)

$(STAMP): $(PY) requirements-dev.txt layers/core/requirements.txt pyproject.toml
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	# the `bedrock-watch` command, editable: it runs this checkout's code
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP)
	$(SAM) validate --lint --template template.yaml

lint-asl: $(STAMP)
	$(PY) scripts/lint_asl.py $(ASL)

build: $(STAMP)
	$(SAM) build --template template.yaml --cached --parallel > .sam-build.log 2>&1 || { cat .sam-build.log; exit 1; }
	@tail -n 3 .sam-build.log

test: lint typecheck validate lint-asl build
	$(PY) -m pytest

# Unit tests only, no build: for the edit loop.
test-fast: $(STAMP)
	$(PY) -m pytest tests/unit -q

demo: $(STAMP)
	$(BIN)/bedrock-watch drill --scenario $(SCENARIO)

# FILES: invocation-log files or folders (S3 or CloudWatch Logs exports); ARGS: e.g. --html report.html
report: $(STAMP)
	$(BIN)/bedrock-watch report $(FILES) $(ARGS)

bench: $(STAMP)
	$(PY) bench/metering.py
	$(PY) bench/cost.py
	$(PY) bench/report.py

# ENV picks the samconfig.toml environment; the configuration is refused here, offline, before
# anything is uploaded (bedrock-watch check); then the target region and profile are shown.
# The SAM CLI reads AWS_DEFAULT_REGION and the profile's region but not AWS_REGION, which the AWS
# CLI honours first: pass it on explicitly, so the region you set is the one deployed to.
DEPLOY_REGION := $(or $(REGION),$(AWS_REGION))
DEPLOY_TARGET := $(if $(DEPLOY_REGION),--region $(DEPLOY_REGION)) $(if $(PROFILE),--profile $(PROFILE))
deploy: build
	$(BIN)/bedrock-watch check --config-env $${ENV:-default}
	$(PY) scripts/deploy_target.py $(DEPLOY_TARGET)
	$(SAM) deploy --config-env $${ENV:-default} $(if $(GUIDED),--guided) $(DEPLOY_TARGET)

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .sam-build.log
