# mxscreen - top-level wrapper around Meson + ninja.
#
#   make            release build: build/mxscreen
#   make run        build and run the MX on its embedded defaults (./var, 127.0.0.1:2525)
#   make check      ASan+UBSan build, unit tests, fuzz corpus replay, integration tests
#   make fuzz       libFuzzer (clang) on every target for FUZZ_SECONDS each
#   make bench      benchmarks in bench/ (ratios against a peer in the same run)
#   make docs       regenerate docs/configuration.md, docs/reasons.md and docs/symbols.md

BUILD        ?= build
CHECK_BUILD  ?= build-check
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
PYTHON       ?= /usr/bin/python3
PYTEST_ARGS  ?=
RUN_ARGS     ?=

.PHONY: all run check unit integration fuzz bench docs clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

run: all
	./$(BUILD)/mxscreen serve $(RUN_ARGS)

$(CHECK_BUILD)/build.ninja:
	meson setup $(CHECK_BUILD) --buildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=all

check: unit integration

unit: $(CHECK_BUILD)/build.ninja
	ninja -C $(CHECK_BUILD)
	meson test -C $(CHECK_BUILD) --print-errorlogs

integration: $(CHECK_BUILD)/build.ninja
	ninja -C $(CHECK_BUILD)
	MXSCREEN=$(CURDIR)/$(CHECK_BUILD)/mxscreen $(PYTHON) -m pytest -q -p no:cacheprovider \
		tests/integration $(PYTEST_ARGS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) --buildtype=debugoptimized -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false

fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/run-fuzzers $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: all
	bench/run-all $(BUILD)

docs: all
	./$(BUILD)/mxscreen config doc > docs/configuration.md
	./$(BUILD)/mxscreen reasons > docs/reasons.md
	./$(BUILD)/mxscreen symbols > docs/symbols.md

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) $(FUZZ_BUILD)
