# Set-up and entry points. Both `make demo` and `make test` install what they
# need (Debian packages, a .venv with vsite) and are quick to re-run.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_LOCK := examples/demo/uv.lock
DEMO_DIR  := $(CURDIR)/.cache/demo-venv
PYTEST_ARGS ?=

.PHONY: demo test reliability system venv clean dist pyfuse3-wheel

# Debian packages: fuse3 (fusermount3), libfuse3-dev + pkg-config (to build pyfuse3),
# squashfs-tools (mksquashfs: the tests pack a published store as a squashfs image).
system:
	@if command -v fusermount3 >/dev/null 2>&1 && pkg-config --exists fuse3 2>/dev/null \
	    && command -v mksquashfs >/dev/null 2>&1 \
	    && $(PYTHON) -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")))'; then :; \
	else \
	    echo ">> installing Debian packages: fuse3 libfuse3-dev pkg-config gcc python3-dev squashfs-tools"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        fuse3 libfuse3-dev pkg-config gcc python3-dev squashfs-tools >/dev/null; \
	fi

$(PY): | system
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# pyfuse3 from its sdist with vsite's small patch (read/readdir get the inode when
# the handle is 0; init can ask for symlink caching and reports what it asked for:
# docs/fs.md, "Zero-message open", "Symlink caching"), installed before vsite so that
# vsite's `pyfuse3>=` requirement is already met. The local version label (+vsiteN,
# N the patch level) makes the patched build identifiable (vsite/fs/pyfuse3_build.py
# reads it); the patch script fails if the source is not what it expects. `--no-binary pyfuse3`, not `:all:`,
# which would also build pyfuse3's build requirements (Cython) from source.
PYFUSE3_VERSION := 3.5.0
PYFUSE3_LABEL   := vsite2
PYFUSE3_CACHE   := .cache/pyfuse3
PYFUSE3_SDIST   := $(PYFUSE3_CACHE)/pyfuse3-$(PYFUSE3_VERSION).tar.gz
PYFUSE3_STAMP   := $(VENV)/.pyfuse3-$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)
# Built wheels, one per CPython version, kept by the patch script's hash (a changed patch is a
# new directory): `make venv` and `make dist` for the same version build it once between them.
PYFUSE3_WHEELS  := $(PYFUSE3_CACHE)/wheels/$(shell sha256sum tools/patch_pyfuse3.py 2>/dev/null | cut -c1-16)
PYTAG_OF        = $(shell $(1) -c 'import sys; print("cp%d%d" % sys.version_info[:2])' 2>/dev/null)

$(PYFUSE3_SDIST): | $(PY)
	$(PY) -m pip download -q --no-binary pyfuse3 --no-deps pyfuse3==$(PYFUSE3_VERSION) -d $(PYFUSE3_CACHE)

# The patched wheel for interpreter $(1) (tag $(2)) in $(PYFUSE3_WHEELS), built from the sdist unless there.
define pyfuse3_wheel
	@if ! ls $(PYFUSE3_WHEELS)/pyfuse3-$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)-$(2)-*.whl >/dev/null 2>&1; then \
	    set -ex; rm -rf $(PYFUSE3_CACHE)/src-$(2) && mkdir -p $(PYFUSE3_CACHE)/src-$(2); \
	    tar -xzf $(PYFUSE3_SDIST) -C $(PYFUSE3_CACHE)/src-$(2); \
	    $(1) tools/patch_pyfuse3.py $(PYFUSE3_CACHE)/src-$(2)/pyfuse3-$(PYFUSE3_VERSION); \
	    SETUPTOOLS_SCM_PRETEND_VERSION_FOR_PYFUSE3=$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL) \
	        $(1) -m pip wheel -q --no-deps -w $(PYFUSE3_WHEELS) ./$(PYFUSE3_CACHE)/src-$(2)/pyfuse3-$(PYFUSE3_VERSION); \
	fi
	@ls $(PYFUSE3_WHEELS)/pyfuse3-$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)-$(2)-*.whl >/dev/null
endef

$(PYFUSE3_STAMP): $(PYFUSE3_SDIST) tools/patch_pyfuse3.py | $(PY)
	$(call pyfuse3_wheel,$(PY),$(call PYTAG_OF,$(PY)))
	$(PY) -m pip install -q --no-deps --force-reinstall $(PYFUSE3_WHEELS)/pyfuse3-$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)-$(call PYTAG_OF,$(PY))-*.whl
	$(PY) -c 'import importlib.metadata as m, sys; v = m.version("pyfuse3"); \
	    sys.exit(None if v == "$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)" else f"installed pyfuse3 is {v}, not the patched build")'
	@touch $@

$(STAMP): pyproject.toml vsite/shared/bin/vsite $(PYFUSE3_STAMP)
	$(PY) -m pip install -q -e '.[test,bench,ray]'
	@# editable installs compile nothing, and PYTHONDONTWRITEBYTECODE may be set: compile once
	$(PY) -m compileall -q vsite bench
	@touch $@

venv: system $(STAMP)

demo: venv
	VSITE=$(CURDIR)/$(VENV)/bin/vsite DEMO_VENV=$(DEMO_DIR) examples/demo/demo.sh

# Lint (ruff) and types (mypy) first, configured in pyproject.toml; then the suite
# (tests/test_stages.py in it checks that stages import one way). The slow end-to-end tests
# (marked `slow`: the wheelhouse on every Python, numpy's own suite from a mount, the bench's
# smoke run, a Ray cluster, ...) run where CI is set (CI=true, as .ci/run sets it) or with SLOW=1;
# elsewhere they are deselected, and pytest's summary says how many.
SLOW ?= $(CI)
PYTEST_MARK := $(if $(filter-out 0 false,$(SLOW)),,-m "not slow")
test: venv
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_MARK) $(PYTEST_ARGS)

# The reliability suite in full counts (docs/reliability.md): ~15 min on 2 cores.
# Figures of each test are appended to $(RELIABILITY_REPORT), one JSON line each.
RELIABILITY_TESTS := tests/test_lock_fuzz_cli.py tests/test_store_unpack.py tests/test_store_seal.py \
	tests/test_store_faults.py tests/test_fs_faults.py tests/test_fs_security.py
RELIABILITY_REPORT ?= $(CURDIR)/.cache/reliability.jsonl
reliability: venv
	@mkdir -p $(dir $(RELIABILITY_REPORT)) && rm -f $(RELIABILITY_REPORT)
	VSITE_RELIABILITY=full VSITE_RELIABILITY_REPORT=$(RELIABILITY_REPORT) $(PY) -m pytest $(PYTEST_ARGS) $(RELIABILITY_TESTS)
	@cat $(RELIABILITY_REPORT)

# A wheelhouse that installs vsite with no compiler, no libfuse3-dev and no index
# (docs/install.md): `pip install --no-index --only-binary :all: --find-links dist vsite`.
# It holds the vsite wheel, the patched pyfuse3 wheel (built from the same sdist
# and patch as `make venv`, for $(PYTHON)'s version and this platform; it links
# libfuse3.so.3) and every wheel they depend on. Built in its own venv and
# directories under .cache/dist-build/cpXY (never .venv); stamps make a re-run with
# nothing changed a no-op. DIST_EXTRAS=ray adds vsite[ray]'s wheels (53 more, ~100 MB).
# dist/src/ carries the pyfuse3 source and patch (LGPL-2.1: docs/fs.md), dist/mount/ the
# worker scripts.
DIST        ?= dist
DIST_EXTRAS ?=
# One build dir per Python (the pyfuse3 wheel is CPython-version specific); dist/ collects them all.
DIST_PYTAG  := $(shell $(PYTHON) -c 'import sys; print("cp%d%d" % sys.version_info[:2])' 2>/dev/null)
DIST_BUILD  := .cache/dist-build/$(DIST_PYTAG)
$(if $(filter dist pyfuse3-wheel,$(MAKECMDGOALS)),$(if $(DIST_PYTAG),,$(error make $(MAKECMDGOALS): cannot run PYTHON=$(PYTHON))))
DIST_PY     := $(DIST_BUILD)/venv/bin/python
DIST_PYFUSE3 := $(DIST_BUILD)/.pyfuse3-$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)
DIST_VSITE  := $(DIST_BUILD)/.vsite
DIST_DEPS   := $(DIST_BUILD)/.deps$(if $(DIST_EXTRAS),-$(DIST_EXTRAS))
DIST_CONSTRAINTS := $(DIST_BUILD)/constraints.txt
# pip with no config file or PIP_* index settings: dist/ alone (this machine may add find-links).
DIST_PIP_ALONE := env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL -u PIP_CONSTRAINT PIP_CONFIG_FILE=/dev/null
VSITE_FILES := pyproject.toml README.md $(shell find vsite -type f ! -name '*.pyc' ! -path '*/__pycache__/*' 2>/dev/null)

$(DIST_PY): | system
	rm -rf $(DIST_BUILD)/venv
	$(PYTHON) -m venv $(DIST_BUILD)/venv
	$(DIST_PY) -m pip install -q --upgrade pip

$(DIST_PYFUSE3): $(PYFUSE3_SDIST) tools/patch_pyfuse3.py | $(DIST_PY)
	$(call pyfuse3_wheel,$(DIST_PY),$(DIST_PYTAG))
	mkdir -p $(DIST)/src
	rm -f $(DIST)/pyfuse3-*-$(DIST_PYTAG)-*.whl
	cp $(PYFUSE3_WHEELS)/pyfuse3-$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)-$(DIST_PYTAG)-*.whl $(DIST)/
	cp $(PYFUSE3_SDIST) tools/patch_pyfuse3.py $(DIST)/src/
	@touch $@

# From a clean copy of the package: setuptools' in-tree build/ could carry deleted modules.
# dist/mount/: the worker scripts (mount/: vsite-worker.sh, Slurm prolog/epilog, systemd unit), not in the wheel.
$(DIST_VSITE): Makefile $(VSITE_FILES) $(shell find mount -type f 2>/dev/null) | $(DIST_PY)
	rm -rf $(DIST_BUILD)/vsite-src && mkdir -p $(DIST_BUILD)/vsite-src
	tar -cf - --exclude=__pycache__ --exclude='*.pyc' pyproject.toml README.md vsite | tar -xf - -C $(DIST_BUILD)/vsite-src
	rm -f $(DIST)/vsite-*.whl
	$(DIST_PY) -m pip wheel -q --no-deps -w $(DIST) ./$(DIST_BUILD)/vsite-src
	rm -rf $(DIST)/mount && cp -R mount $(DIST)/mount
	@touch $@

# Every dependency as a wheel (--only-binary: nothing here may need a compiler on a
# node), resolved with pyfuse3 pinned to the patched build in dist/; then a dry-run
# install from dist/ alone proves the directory is complete.
$(DIST_DEPS): $(DIST_VSITE) $(DIST_PYFUSE3) | $(DIST_PY)
	echo "pyfuse3==$(PYFUSE3_VERSION)+$(PYFUSE3_LABEL)" > $(DIST_CONSTRAINTS)
	$(DIST_PY) -m pip download -q --only-binary :all: --find-links $(DIST) -c $(DIST_CONSTRAINTS) -d $(DIST) \
	    "vsite$(if $(DIST_EXTRAS),[$(DIST_EXTRAS)])"
	$(DIST_PIP_ALONE) $(DIST_PY) -m pip install -q --dry-run --ignore-installed --no-index --only-binary :all: --find-links $(DIST) \
	    -c $(DIST_CONSTRAINTS) "vsite$(if $(DIST_EXTRAS),[$(DIST_EXTRAS)])"
	@touch $@
	@echo "$(DIST)/: $$(ls $(DIST)/*.whl | wc -l) wheels; install with: pip install --no-index --find-links $(DIST) vsite"

dist: $(DIST_DEPS)

# Only the patched pyfuse3 wheel for $(PYTHON) (what `make dist` compiles): builds for several
# Pythons may run at once (each its own dirs and wheel name), as the wheelhouse test does.
pyfuse3-wheel: $(PYFUSE3_SDIST) tools/patch_pyfuse3.py | $(DIST_PY)
	$(call pyfuse3_wheel,$(DIST_PY),$(DIST_PYTAG))

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis $(DIST)
