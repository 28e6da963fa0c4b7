# Set-up and entry points. Both `make demo` and `make test` install what they
# need (Debian packages, a .venv with vsite) and are quick to re-run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_LOCK := examples/demo/uv.lock
DEMO_DIR  := $(CURDIR)/.cache/demo-venv
PYTEST_ARGS ?=

.PHONY: demo test reliability system venv clean

# Debian packages: fuse3 (fusermount3), libfuse3-dev + pkg-config (to build pyfuse3).
system:
	@if command -v fusermount3 >/dev/null 2>&1 && pkg-config --exists fuse3 2>/dev/null \
	    && $(PYTHON) -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")))'; then :; \
	else \
	    echo ">> installing Debian packages: fuse3 libfuse3-dev pkg-config gcc python3-dev"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        fuse3 libfuse3-dev pkg-config gcc python3-dev >/dev/null; \
	fi

$(STAMP): pyproject.toml | system
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: system $(STAMP)

demo: venv
	VSITE=$(CURDIR)/$(VENV)/bin/vsite DEMO_VENV=$(DEMO_DIR) examples/demo/demo.sh

test: venv
	$(PY) -m pytest $(PYTEST_ARGS)

# The reliability suite in full counts (docs/reliability.md): ~15 min on 2 cores.
# Figures of each test are appended to $(RELIABILITY_REPORT), one JSON line each.
RELIABILITY_TESTS := tests/test_lock_fuzz_cli.py tests/test_store_unpack.py tests/test_store_seal.py \
	tests/test_store_faults.py tests/test_fs_faults.py tests/test_fs_security.py
RELIABILITY_REPORT ?= $(CURDIR)/.cache/reliability.jsonl
reliability: venv
	@mkdir -p $(dir $(RELIABILITY_REPORT)) && rm -f $(RELIABILITY_REPORT)
	VSITE_RELIABILITY=full VSITE_RELIABILITY_REPORT=$(RELIABILITY_REPORT) $(PY) -m pytest $(PYTEST_ARGS) $(RELIABILITY_TESTS)
	@cat $(RELIABILITY_REPORT)

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis
