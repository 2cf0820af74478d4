# Benchmarks: `make bench` runs every bench/*_bench.py side by side with its
# peers and regenerates the tables of BENCHMARKS.md (bench/report.py).
# ember-bench is the host-built driver that times operations in a loop.
BENCH_DRIVER_SRCS := $(wildcard bench/driver/*.c)
BENCH_DRIVER_OBJS := $(call host_objs,$(BENCH_DRIVER_SRCS))
BENCH_DRIVER := $(OUT)/bench/ember-bench
BENCH_SCRIPTS := init exec copy freeze rootfs

$(OBJ)/host/bench/driver/%.o: HOST_EXTRA_CFLAGS += -Ihost/libember

$(BENCH_DRIVER): $(BENCH_DRIVER_OBJS) $(LIBEMBER_A) $(LIB_HOST_A)
	@mkdir -p $(dir $@)
	$(HOST_CC) -o $@ $^ -lprotobuf-c

ifeq ($(BUILD_HOST_TOOLS),yes)
ALL_TARGETS += $(BENCH_DRIVER)
endif

# BENCH narrows the run, e.g. `make bench BENCH="init exec"`.
BENCH ?= $(BENCH_SCRIPTS)
bench: all
	EMBER_BUILD=$(OUT) /usr/bin/python3 bench/run_all.py $(BENCH)
