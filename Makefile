# softkvm: a thin wrapper around Meson + Ninja.
#   make            build build/softkvm
#   make check      every test (also under ASan+UBSan), a quick subset of the KVM selftests
#   make check-selftests  the Linux 6.1 KVM selftests under softkvm exec
#   make run        boot the default guest
#   make bench-latency  interrupt latencies and idle cost, softkvm beside QEMU TCG
BUILD    ?= build
ASAN     ?= build-asan
JOBS     ?= 2
CASES    ?= 100000
SEED     ?= 1
SECONDS  ?= 60

.PHONY: all deps configure check check-asan check-selftests run difftest fpdifftest bench-cpu bench-latency fuzz-cpu clean format

all: configure
	ninja -C $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) --buildtype=release

$(ASAN)/build.ninja:
	meson setup $(ASAN) --buildtype=debug -Doptimization=1 -Db_sanitize=address,undefined -Db_lundef=false

check: all
	meson test -C $(BUILD) --print-errorlogs --num-processes $(JOBS) --suite fast --suite slow
	SOFTKVM=$(BUILD)/softkvm JOBS=$(JOBS) scripts/selftests.sh --quick
	$(MAKE) check-asan

check-selftests: all
	SOFTKVM=$(BUILD)/softkvm JOBS=$(JOBS) scripts/selftests.sh

check-asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN) --print-errorlogs --num-processes $(JOBS) --suite fast

run: all
	$(BUILD)/softkvm cpu-demo

difftest: all
	$(BUILD)/tests/diff/difftest --cases $(CASES) --seed $(SEED)

# x87/MMX/SSE against the host processor; prints "cases: N, mismatches: M" last
fpdifftest: all
	$(BUILD)/tests/fpdiff/fpdiff --cases $(CASES) --seed $(SEED)

bench-cpu: all
	$(BUILD)/bench/bench-cpu

# interrupt latencies and idle host CPU of a 4-vCPU guest, softkvm beside QEMU TCG
bench-latency: all
	python3 bench/latency/run-latency.py --softkvm $(BUILD)/softkvm \
		--kernel $(BUILD)/bench/latency/latency.elf

fuzz-cpu: deps
	@scripts/fuzz-cpu.sh $(SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN) build-fuzz
