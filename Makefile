# ember: `make` builds every binary into build/ (build/arm64/ for ARCH=arm64).
# Targets: all, deps, test, test-unit, demo, bench, install, clean. See README.md.

ARCH ?= amd64
VERSION := 0.1.0

ifeq ($(ARCH),amd64)
OUT ?= build
GUEST_CC ?= musl-gcc
STRIP ?= strip
UNIT_RUNNER ?=
else ifeq ($(ARCH),arm64)
OUT ?= build/arm64
GUEST_CC ?= aarch64-linux-gnu-gcc -specs=/usr/lib/aarch64-linux-musl/musl-gcc.specs
STRIP := aarch64-linux-gnu-strip
UNIT_RUNNER ?= qemu-aarch64-static
else
$(error unsupported ARCH '$(ARCH)': use amd64 or arm64)
endif

HOST_CC ?= cc
# Host-only tools (libember for installation, ember-rootfs, benchmarks) are
# built only for the machine's own architecture.
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
BUILD_HOST_TOOLS := $(if $(filter $(ARCH),$(HOST_ARCH)),yes,)
DEPS := $(OUT)/deps
GEN := $(OUT)/gen
OBJ := $(OUT)/obj
BIN := $(OUT)/bin
PREFIX ?= /usr/local
DESTDIR ?=

WARNINGS := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wno-unused-parameter
COMMON_CFLAGS := -std=gnu11 -O2 -g -D_GNU_SOURCE -DEMBER_VERSION='"$(VERSION)"' -MMD -MP \
	-Ilib -Iproto -isystem $(GEN)
GUEST_CFLAGS := $(COMMON_CFLAGS) $(WARNINGS) -Wcast-qual -isystem $(DEPS)/include \
	-isystem $(DEPS)/include/libnl3 -fno-common
GUEST_LDFLAGS := -static -L$(DEPS)/lib
HOST_CFLAGS := $(COMMON_CFLAGS) $(WARNINGS) -Wcast-qual
# Generated protobuf-c code does not build cleanly with -Wcast-qual.
GEN_CFLAGS := $(COMMON_CFLAGS) -Wall -isystem $(DEPS)/include

.PHONY: all deps test test-unit demo demo-shell demo-stop bench install clean
all:

# The pinned static dependencies (protobuf-c, jansson, libnl), built once.
DEPS_STAMP := $(DEPS)/.complete
deps: $(DEPS_STAMP)
$(DEPS_STAMP): deps/build.sh deps/SHA256SUMS
	+deps/build.sh $(DEPS) $(ARCH)

# Generated protocol code.
$(GEN)/agent.pb-c.c $(GEN)/agent.pb-c.h: proto/agent.proto
	@mkdir -p $(GEN)
	protoc-c --proto_path=proto --c_out=$(GEN) proto/agent.proto

# Guest objects: static musl. Host objects: the machine's compiler.
$(OBJ)/guest/gen/%.o: $(GEN)/%.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GEN_CFLAGS) -c $< -o $@
$(OBJ)/guest/%.o: %.c $(GEN)/agent.pb-c.h | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@
$(OBJ)/host/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	$(HOST_CC) $(GEN_CFLAGS) -c $< -o $@
$(OBJ)/host/%.o: %.c $(GEN)/agent.pb-c.h
	@mkdir -p $(dir $@)
	$(HOST_CC) $(HOST_CFLAGS) $(HOST_EXTRA_CFLAGS) -c $< -o $@

guest_objs = $(patsubst %.c,$(OBJ)/guest/%.o,$(1))
host_objs = $(patsubst %.c,$(OBJ)/host/%.o,$(1))

LIB_SRCS := $(wildcard lib/*.c)
PROTO_SRCS := $(wildcard proto/*.c)
PROTO_GUEST_OBJS := $(call guest_objs,$(PROTO_SRCS)) $(OBJ)/guest/gen/agent.pb-c.o
PROTO_HOST_OBJS := $(call host_objs,$(PROTO_SRCS)) $(OBJ)/host/gen/agent.pb-c.o

# lib/ as archives, so a program links only the helpers it uses.
LIB_GUEST_A := $(OUT)/lib/libcommon-guest.a
LIB_HOST_A := $(OUT)/lib/libcommon-host.a
$(LIB_GUEST_A): $(call guest_objs,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIB_HOST_A): $(call host_objs,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

include init/init.mk
include agent/agent.mk
include host/host.mk
include rootfs-builder/rootfs.mk
include tests/tests.mk
-include tests/arm64.mk
-include bench/bench.mk
-include tests/e2e/e2e.mk

all: $(ALL_TARGETS)

# Release sizes: stripped copies next to the debug binaries.
$(BIN)/%.stripped: $(BIN)/%
	$(STRIP) -o $@ $<

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(PREFIX)/include/ember $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/share/ember/$(ARCH)
	install -m 0755 -s $(GUEST_BINS) $(DESTDIR)$(PREFIX)/share/ember/$(ARCH)/
	install -m 0755 $(HOST_BINS) $(DESTDIR)$(PREFIX)/bin/
	$(INSTALL_EXTRA)

clean:
	rm -rf $(OUT)/obj $(OUT)/bin $(OUT)/gen $(OUT)/lib $(OUT)/tests

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)
