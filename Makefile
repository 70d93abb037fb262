# Two commands on a fresh machine: `make run` (main job on the bundled sample) and `make test`.
# The first interpreter that actually runs and is 3.11 or 3.12 (bytewax 0.21.1 has no 3.13 wheels; pyenv shims may
# exist for versions that are not active, so each candidate is executed, not just looked up).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' 2>/dev/null && { command -v $$p; break; }; \
	done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "arbflow needs Python 3.11 or 3.12 (bytewax 0.21.1); none found" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bytewax.run flows.arbitrage:flow
	$(BIN)/python -m arbflow.cli summary

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/replay_throughput.py

clean:
	rm -rf data
