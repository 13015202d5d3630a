# Two entry points for a fresh machine: `make demo` and `make test`. Both create .venv when
# missing and reinstall when setup.cfg or the constraints change, or when what .venv holds
# differs from them. Every install goes through constraints.txt, which pins torch==2.13.0
# (the CPU wheel; any other torch pulls CUDA).
VENV ?= .venv
PY := $(VENV)/bin/python
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export RAY_USAGE_STATS_ENABLED := 0
export RAY_AUTH_MODE := disabled
# ONNX Runtime's telemetry: a device ID and a queue of events in ~/.cache/Microsoft, a .ses file
# in $TMPDIR, from every process that loads it (an ONNX export, a latency measurement)
export ORT_DISABLE_TELEMETRY := 1

.PHONY: demo test lint env
env: $(VENV)/.installed

# A venv changed after its set-up (a `pip install` of another optuna into it) is reinstalled
# from the constraints, not run as it is: DRIFT names what differs (.ci/venv_drift.py).
DRIFT := $(strip $(if $(wildcard $(VENV)/.installed),\
    $(shell $(PY) .ci/venv_drift.py constraints.txt 2>&1 || echo "$(PY) does not run")))
ifneq ($(DRIFT),)
$(info $(VENV) differs from constraints.txt, reinstalling: $(DRIFT))
.PHONY: $(VENV)/.installed
endif

# A venv without pip (`python3 -m venv` stopped, or failed for want of Debian's python3-venv)
# gets it from `python3 -m venv` again; one whose Python is gone cannot be mended.
$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PY) -m pip --version >/dev/null 2>&1 || python3 -m venv $(VENV) || \
	    { echo "$(VENV) cannot be made or mended: remove it and run make again"; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

# The winner goes to a folder of its own: in RUN/export (where a plain `hwnas export runs/demo`
# writes), a user's own exports were trained too, and the last in glob order became winner.*
demo: env
	$(VENV)/bin/hwnas search examples/demo.yaml
	$(VENV)/bin/hwnas pareto runs/demo
	$(VENV)/bin/hwnas export runs/demo --top 1 --format onnx -o runs/demo/winner
	for config in runs/demo/winner/trial*.json; do \
	    $(VENV)/bin/hwnas train $$config --force -o runs/demo/winner/winner.trained.pt && \
	    $(VENV)/bin/hwnas build $$config --weights runs/demo/winner/winner.trained.pt \
	        --onnx runs/demo/winner/winner.onnx --calibration mnist1d || exit 1; \
	done

lint: env
	$(VENV)/bin/ruff check hwnas tests benchmarks
	$(VENV)/bin/ruff format --check hwnas tests benchmarks

# two test processes: most tests wait on one core (a training step, a Ray start, a child
# process); pytest-xdist runs them side by side, about halving the suite's time here, and
# keeps a module's tests marked as one group (xdist_group) in one process: one Ray for them
test: lint
	$(PY) -m pytest -q -n 2 --dist loadgroup
