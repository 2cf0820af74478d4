# arm64 guest binaries tested on this machine: the aarch64 build (build/arm64)
# runs under qemu-aarch64-static while emberctl and pytest stay native.
# `make test-arm64` runs the aarch64 unit tests and tests/arm64 (a chosen
# subset of the agent suite); `make test` builds the aarch64 binaries first so
# that its pytest run includes tests/arm64 and tests/e2e/test_arm64.py.
ARM64_RUNNER ?= qemu-aarch64-static

.PHONY: test-arm64 arm64-guest arm64-unit-bins

# Only the native build drives the aarch64 one: `make ARCH=arm64 test` runs the
# unit tests under the runner already (UNIT_RUNNER) and has no native emberctl.
ifeq ($(ARCH),$(HOST_ARCH))
arm64-guest:
	$(MAKE) ARCH=arm64 all arm64-unit-bins

test: arm64-guest

test-arm64: all arm64-guest
	UNIT_RUNNER='$(ARM64_RUNNER)' /usr/bin/python3 tests/run.py --unit-only \
		$$(find build/arm64/tests/unit -type f -name 'test_*' ! -name '*.d' | sort)
	EMBER_BUILD=$(OUT) ARM64_RUNNER='$(ARM64_RUNNER)' /usr/bin/python3 tests/run.py -- tests/arm64
endif

arm64-unit-bins: $(UNIT_BINS)
