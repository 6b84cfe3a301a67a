# blindspot: two commands on a fresh clone, `make run` and `make test`; both install what is missing.
#
# libtorch comes from PyPI's torch wheel (tch 0.26 needs libtorch 2.13.0). It lives in a virtual
# environment in a shared cache directory keyed by the torch version, so every clone on the machine
# reuses one 4-5 GB install. Bring your own libtorch instead with `make LIBTORCH=/path/to/libtorch`.
# The one place the torch version is written: python/requirements.txt's `torch==` pin.
TORCH_VERSION  := $(shell sed -n 's/^torch==//p' python/requirements.txt)
BLINDSPOT_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/blindspot
VENV           ?= $(BLINDSPOT_CACHE)/torch-$(TORCH_VERSION)
REQS           := python/requirements.txt
REQS_HASH      := $(shell sha256sum $(REQS) | cut -c1-16)
STAMP          := $(VENV)/.blindspot-$(REQS_HASH)
PYTHON         := $(VENV)/bin/python
CARGO          ?= cargo
BIN            := target/release/blindspot
ARGS           ?=

export VIRTUAL_ENV := $(VENV)
export PATH := $(VENV)/bin:$(PATH)
export BLINDSPOT_PYTHON := $(PYTHON)
ifeq ($(strip $(LIBTORCH)),)
export LIBTORCH_USE_PYTORCH := 1
endif

.PHONY: all venv build wheel publish-check publish-crate run lint test test-fast fixtures bench bench-suite \
  clean distclean

all: build

# The venv is ready when the stamp for the current requirements exists; flock serialises two clones
# installing at once, and a half-finished install leaves no stamp, so the next call resumes it.
$(STAMP): $(REQS)
	@mkdir -p $(BLINDSPOT_CACHE)
	@flock $(BLINDSPOT_CACHE)/.install.lock sh -c '\
	  if [ -f "$(STAMP)" ]; then exit 0; fi; \
	  echo "blindspot: installing $$(grep -v "^#" $(REQS) | tr "\n" " ")into $(VENV) (once per machine)"; \
	  [ -x "$(PYTHON)" ] || python3 -m venv "$(VENV)" || exit 1; \
	  "$(PYTHON)" -m pip install --quiet --disable-pip-version-check -r $(REQS) || exit 1; \
	  "$(PYTHON)" -c "import torch, sys; v = torch.__version__.split(\"+\")[0]; sys.exit(0 if v == \"$(TORCH_VERSION)\" else \"torch \" + v + \" in the venv, expected $(TORCH_VERSION)\")" || exit 1; \
	  touch "$(STAMP)"'

venv: $(STAMP)

build: $(STAMP)
	$(CARGO) build --release --bin blindspot

run: build
	$(BIN) run $(ARGS)

# The Python distribution (docs/python.md, "Releasing"): exactly what a release uploads, in
# target/wheels. The wheel: the `blindspot` command and `import blindspot`, built by maturin from
# python/wheel (a crate outside the workspace) against the venv's torch, whose libtorch it uses
# when installed, one abi3 wheel for CPython 3.10 and later; auditwheel gives it the manylinux tag
# its symbols allow, torch's libraries excluded (python/wheel/audit.py). The sdist, which builds
# it from source. twine checks both as the package index would. The build shares the target
# folder, so the dependencies it does not change (all but libtorch's bindings and blindspot
# itself) are not built twice.
wheel: $(STAMP)
	rm -rf target/wheels target/wheels-raw
	cd python/wheel && CARGO_TARGET_DIR=$(CURDIR)/target \
	  $(VENV)/bin/maturin build --release --quiet -i $(PYTHON) --out $(CURDIR)/target/wheels-raw
	$(PYTHON) python/wheel/audit.py target/wheels-raw/*.whl target/wheels
	cd python/wheel && $(VENV)/bin/maturin sdist --out $(CURDIR)/target/wheels
	$(VENV)/bin/twine check --strict target/wheels/*

# The crate as crates.io would take it: packaged by Cargo.toml's `include` list and built from the
# package, against the venv's libtorch; and its documentation as docs.rs builds it, with no
# libtorch in sight (the `doc-only` feature; docs/python.md, "Releasing").
publish-check: $(STAMP)
	$(CARGO) publish --dry-run --allow-dirty
	env -u LIBTORCH_USE_PYTORCH -u LIBTORCH -u VIRTUAL_ENV DOCS_RS=1 RUSTDOCFLAGS="-D warnings" \
	  $(CARGO) doc --no-deps --features doc-only --target-dir target/docsrs

# The upload itself (the release workflow's, with crates.io's token in CARGO_REGISTRY_TOKEN).
publish-crate: $(STAMP)
	$(CARGO) publish

# The code's contract (docs/architecture.md, "Contract"), every step refusing on any warning: the
# format, clippy on every target of both crates (the library, harness, benchmark, example crate
# and the wheel), and rustdoc over the public API and over the private items too, so no doc link
# is broken anywhere.
lint: $(STAMP)
	$(CARGO) fmt --all --check
	cd python/wheel && $(CARGO) fmt --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings
	cd python/wheel && CARGO_TARGET_DIR=$(CURDIR)/target PYO3_PYTHON=$(PYTHON) \
	  $(CARGO) clippy --release --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release --workspace --no-deps
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --release --workspace --no-deps --document-private-items

# The benchmark target is compiled (not run) so that it cannot rot unnoticed. After the cargo
# tests (cargo holds the target folder while they run): the README's Rust gate crate, built from the
# README alone; the distribution `make wheel` made, checked as the index and the release workflow
# see it; the wheel, installed into a fresh venv that sees only torch, with its pytest tests;
# examples/python-library's CI workflow, its commands run as written on that wheel; the example
# notebook, executed headless on it; and the crate's `cargo publish --dry-run`.
test: lint
	$(CARGO) build --release --benches
	$(CARGO) test --release --workspace $(ARGS)
	$(PYTHON) tests/readme_crate.py
	$(MAKE) wheel
	$(PYTHON) tests/python_release.py
	$(PYTHON) tests/python_wheel.py
	$(PYTHON) tests/python_library_workflow.py
	$(PYTHON) tests/python_notebook.py
	$(MAKE) publish-check

# The everyday tier (README, "Tests"): every trial of the harness but the `slow::` ones (training,
# calibration, the full default suite, the browser, Slurm, Python, runs of several seconds).
test-fast: $(STAMP)
	$(CARGO) test --release --test suite -- --skip slow:: $(ARGS)

# Side-by-side with pytorch-grad-cam (docs/performance.md); reports, never fails on speed.
bench: build
	$(CARGO) bench --bench compare -- $(ARGS)

# Where the main job's time goes: `blindspot run` three times, the median seconds per check and
# per (check, method) from report.json's `timing` (docs/performance.md). Reports, never fails on
# speed.
bench-suite: build
	$(PYTHON) python/suite_times.py $(BIN) 3 -- $(ARGS)

# The methods to compare come from the registry (`blindspot methods --json`), hence the build.
fixtures: build
	$(PYTHON) fixtures/generate.py

clean:
	$(CARGO) clean

# Also removes the shared venv (every clone on this machine uses it).
distclean: clean
	rm -rf $(VENV)
