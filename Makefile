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

$(PY): | system
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# pyfuse3 from its sdist with vsite's 2-line patch (read/readdir get the inode when
# the handle is 0: docs/fs.md, "Zero-message open"), installed before vsite so that
# vsite's `pyfuse3>=` requirement is already met. The local version label makes the
# patched build identifiable (vsite/fs/operations.py looks for it); the patch script
# fails if the source is not what it expects. `--no-binary pyfuse3`, not `:all:`,
# which would also build pyfuse3's build requirements (Cython) from source.
PYFUSE3_VERSION := 3.5.0
PYFUSE3_LABEL   := vsite1
PYFUSE3_CACHE   := .cache/pyfuse3
PYFUSE3_SDIST   := $(PYFUSE3_CACHE)/pyfuse3-$(PYFUSE3_VERSION).tar.gz
PYFUSE3_SRC     := $(PYFUSE3_CACHE)/src/pyfuse3-$(PYFUSE3_VERSION)
PYFUSE3_STAMP   := $(VENV)/.pyfuse3-$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)

$(PYFUSE3_SDIST): | $(PY)
	$(PY) -m pip download -q --no-binary pyfuse3 --no-deps pyfuse3==$(PYFUSE3_VERSION) -d $(PYFUSE3_CACHE)

$(PYFUSE3_STAMP): $(PYFUSE3_SDIST) tools/patch_pyfuse3.py | $(PY)
	rm -rf $(PYFUSE3_CACHE)/src && mkdir -p $(PYFUSE3_CACHE)/src
	tar -xzf $(PYFUSE3_SDIST) -C $(PYFUSE3_CACHE)/src
	$(PY) tools/patch_pyfuse3.py $(PYFUSE3_SRC)
	SETUPTOOLS_SCM_PRETEND_VERSION_FOR_PYFUSE3=$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL) \
	    $(PY) -m pip install -q --no-deps --force-reinstall ./$(PYFUSE3_SRC)
	$(PY) -c 'import importlib.metadata as m, sys; v = m.version("pyfuse3"); \
	    sys.exit(None if v == "$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)" else f"installed pyfuse3 is {v}, not the patched build")'
	@touch $@

$(STAMP): pyproject.toml $(PYFUSE3_STAMP)
	$(PY) -m pip install -q -e '.[test,bench,ray]'
	@# editable installs compile nothing, and PYTHONDONTWRITEBYTECODE may be set: compile once
	$(PY) -m compileall -q vsite bench
	@touch $@

venv: system $(STAMP)

demo: venv
	VSITE=$(CURDIR)/$(VENV)/bin/vsite DEMO_VENV=$(DEMO_DIR) examples/demo/demo.sh

# Lint (ruff) and types (mypy) first, configured in pyproject.toml; then the suite
# (tests/test_stages.py in it checks that stages import one way).
test: venv
	$(PY) -m ruff check .
	$(PY) -m mypy
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
