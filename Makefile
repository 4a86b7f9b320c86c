# City climate station: the commands the README names.
#   make run    a virtual station doing a day of the main job on simulated hardware
#   make test   the whole test suite (pytest; firmware tests run inside unix MicroPython)
# Both create or refresh .venv from the pinned requirements first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp
RUN_ARGS ?=

.PHONY: run test venv bench soak lint format clean

WASM32 := tests/wasm32

$(STAMP): requirements.txt constraints.txt pyproject.toml mplib.lock.json $(WASM32)/package-lock.json
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/stationctl mplib install
	@# the 32-bit MicroPython (WebAssembly port, runs under Node), pinned with its integrity hash
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(VENV)/wasm32 && cp $(WASM32)/package.json $(WASM32)/package-lock.json $(VENV)/wasm32/ && \
		npm ci --prefix $(VENV)/wasm32 --ignore-scripts --no-audit --no-fund --loglevel=error; \
	else echo "npm not found: the 32-bit MicroPython tests ([wasm32]) cannot run (install Node 18+)"; fi
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/stationctl run $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/stationctl bench

soak: $(STAMP)
	$(BIN)/stationctl soak --days 30 --seed 1 --seed 2 --seed 3 --modem-firmware 3.4.2 --modem-firmware 4.2.0
	$(BIN)/stationctl soak --days 5 --seed 42 --seed 105 --uplink mqtt
	STATION_SOAK=1 $(BIN)/python -m pytest -q tests/test_heap.py -k ten_thousand

lint: $(STAMP)
	$(BIN)/ruff check firmware drivers sim host_tools tests
	$(BIN)/ruff format --check firmware drivers sim host_tools tests

format: $(STAMP)
	$(BIN)/ruff format firmware drivers sim host_tools tests

clean:
	rm -rf $(VENV) .pytest_cache build .run
