# Two commands do everything on a fresh Debian 12 machine (as root):
#   make run   - install missing packages, build, start `defend run` with the default policy (ECS NDJSON on stdout)
#   make test  - install missing packages, build, run the whole test suite (host tests and QEMU kernel tests)
SWIFT ?= swift
CONFIG ?= release
# `make run` evaluates host processes too, so a machine without containers shows events at once;
# `make run ARGS=` gives the D4C behaviour (containers only).
ARGS ?= --scope all

.PHONY: setup build run test test-host test-vm bench clean

setup:
	@bash scripts/setup.sh

build: setup
	$(SWIFT) build -c $(CONFIG)

run: build
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/defend run $(ARGS)

test-host: setup
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	DEFEND_BIN=$$($(SWIFT) build --show-bin-path)/defend bash tests/deploy/run

test-vm: setup
	bash tools/vm-test

test: test-host test-vm

bench: setup
	bash tools/bench

clean:
	rm -rf .build .build-* vm-out
