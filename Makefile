# `make run` and `make test` each create or refresh the virtualenv they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# A second virtualenv holding velocitas-sdk with its own pinned dependencies (grpcio, protobuf),
# which cannot share .venv; the test that runs an unmodified Velocitas app uses its python.
VELOCITAS_SDK_VERSION ?= 0.15.7
VELOCITAS_VENV ?= .venv-velocitas
VELOCITAS_STAMP := $(VELOCITAS_VENV)/.installed-$(VELOCITAS_SDK_VERSION)
BENCH_STAMP := $(VENV)/.installed-bench
MOSQUITTO := /usr/sbin/mosquitto
# Debian's Chromium, which the browser tests drive through Playwright (no browser download).
CHROMIUM := /usr/bin/chromium
ARGS ?=

.PHONY: run test lint typecheck unit chromium mosquitto bench bench-grpc bench-hmi bench-apps bench-media example-apps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# velocitas-sdk pins old grpcio/protobuf; only its generated sdv.databroker.v1 stubs are used.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'velocitas-sdk>=0.14'
	@touch $(STAMP)

$(VELOCITAS_STAMP):
	@test -x $(VELOCITAS_VENV)/bin/python || $(PYTHON) -m venv $(VELOCITAS_VENV)
	$(VELOCITAS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'velocitas-sdk==$(VELOCITAS_SDK_VERSION)'
	@touch $(VELOCITAS_STAMP)

run: $(STAMP) mosquitto
	$(BIN)/carmesh run $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(VELOCITAS_STAMP) chromium mosquitto
	$(BIN)/pytest $(ARGS)

chromium:
	@test -x $(CHROMIUM) || { \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get update -qq && apt-get install -y -qq chromium; \
		else echo "chromium is missing, so the browser tests will be skipped:" \
			"sudo apt-get install chromium"; fi; }

# Debian's Mosquitto: the MQTT broker `carmesh run` offers Velocitas apps (and their tests use).
mosquitto:
	@test -x $(MOSQUITTO) || { \
		if [ "$$(id -u)" = 0 ]; then \
			export DEBIAN_FRONTEND=noninteractive; \
			apt-get update -qq && apt-get install -y -qq mosquitto; \
		else echo "mosquitto is missing, so the MQTT tests will be skipped and carmesh run" \
			"cannot offer MQTT to Velocitas apps: sudo apt-get install mosquitto"; fi; }

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/broker_core.py

bench-apps: $(STAMP)
	$(BIN)/python benchmarks/apps.py $(ARGS)

bench-media: $(STAMP)
	$(BIN)/python benchmarks/media.py $(ARGS)

# Build and sign the sample apps with the development key, make the running car (`make run`
# in another terminal; CAR=http://HOST:PORT for another address) trust that key, and install
# them with every permission granted. (The Velocitas example needs `--mqtt` and
# `--velocitas-venv`; install examples/apps/dist/seat-adjuster-velocitas.cmapp by hand.)
CAR ?=
EXAMPLE_APPS := trip-computer charging-assistant seat-memory
example-apps: $(STAMP)
	$(BIN)/python examples/apps/build.py
	$(BIN)/carmesh app trust examples/apps/dev-publisher.key.pub $(if $(CAR),--car $(CAR))
	$(BIN)/carmesh app install --grant all $(EXAMPLE_APPS:%=examples/apps/dist/%.cmapp) \
		$(if $(CAR),--car $(CAR))

bench-hmi: $(STAMP) chromium
	$(BIN)/python benchmarks/hmi_latency.py $(ARGS)

# The gRPC benchmark's peers and options: Mosquitto (Debian), paho-mqtt, uvloop, py-spy.
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench-grpc: $(BENCH_STAMP)
	@test -x $(MOSQUITTO) || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq mosquitto; \
		else echo "mosquitto is missing (sudo apt-get install mosquitto); measuring the rest"; fi; }
	$(BIN)/python benchmarks/grpc_broker.py $(ARGS)

clean:
	rm -rf $(VENV) $(VELOCITAS_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
