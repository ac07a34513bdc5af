# Two commands do everything on a fresh Debian 12 or 13 x86_64 machine with Swift 6.1+ (as root):
#   make run   - install the missing build packages, build, start `defend run` with the default policy.
#                Only ECS NDJSON goes to stdout (build output goes to stderr), so `make run | jq` works.
#   make test  - install the missing build and test packages, build, run the whole test suite
#                (host tests, QEMU kernel tests, and the guest instruction-count cost guard)
SWIFT ?= swift
CONFIG ?= release
# `make run` evaluates host processes too, so a machine without containers shows events at once;
# `make run ARGS=` gives the D4C behaviour (containers only).
ARGS ?= --scope all

.PHONY: setup setup-test build run test test-host test-vm test-guard bench clean

# Packages to build and run.
setup:
	@bash scripts/setup.sh run

# ...plus those of the tests and benchmarks (QEMU, busybox-static, containerd, runc, auditd, ...).
setup-test:
	@bash scripts/setup.sh test

# Recipes are silent (@) and the build writes to stderr: stdout carries the agent's documents only.
build: setup
	@$(SWIFT) build -c $(CONFIG) >&2

run: build
	@"$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/defend" run $(ARGS)

test-host: setup-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	bash tests/make-run-stdout.sh
	DEFEND_BIN=$$($(SWIFT) build --show-bin-path)/defend bash tests/deploy/run

test-vm: setup-test
	bash tools/vm-test

# Guest instructions per file operation and per exec must not grow >10 % over the committed baseline.
test-guard: setup-test
	bash tools/vm-guard

test: test-host test-vm test-guard

bench: setup-test
	bash tools/bench

clean:
	rm -rf .build .build-* vm-out
