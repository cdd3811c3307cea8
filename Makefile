# softkvm: a thin wrapper around Meson + Ninja.
#   make            build build/softkvm
#   make check      every test on both engines (also under ASan+UBSan), a quick subset of the KVM selftests
#   make check-selftests  the Linux 6.1 KVM selftests under softkvm exec
#   make run        boot Debian's kernel with a busybox initramfs to a shell (C-a x quits)
#   make bench-linux  Linux boot and workloads natively, on QEMU TCG and on softkvm
#   make bench-latency  interrupt latencies and idle cost, softkvm beside QEMU TCG
#   make bench-virtio  virtio-blk IOPS and virtio-net pps: mapped rings, copied rings, QEMU TCG
BUILD    ?= build
ASAN     ?= build-asan
JOBS     ?= 2
CASES    ?= 100000
SEED     ?= 1
SECONDS  ?= 60
# make run: the guest's vCPUs, memory, extra kernel arguments
CPUS     ?= 2
MEM      ?= 512M
APPEND   ?=

.PHONY: all deps configure check check-asan check-selftests run cpu-demo bench-linux difftest fpdifftest bench-cpu bench-cpuid bench-latency bench-virtio fuzz-cpu fuzz-abi fuzz-abi-tsan clean format

all: configure
	ninja -C $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

configure: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) --buildtype=release

$(ASAN)/build.ninja:
	meson setup $(ASAN) --buildtype=debug -Doptimization=1 -Db_sanitize=address,undefined -Db_lundef=false

# every suite on the JIT (the default engine); the processor, ABI, guest and
# selftest suites again on the interpreter (SOFTKVM_ENGINE=interp), the
# reference the JIT is compared with; the system suite boots Linux on the
# JIT only (minutes each)
check: all
	meson test -C $(BUILD) --print-errorlogs --num-processes $(JOBS) --suite fast --suite slow --suite system
	SOFTKVM=$(BUILD)/softkvm JOBS=$(JOBS) scripts/selftests.sh --quick
	SOFTKVM_ENGINE=interp meson test -C $(BUILD) --print-errorlogs --num-processes $(JOBS) --suite fast --suite slow
	SOFTKVM_ENGINE=interp SOFTKVM=$(BUILD)/softkvm JOBS=$(JOBS) scripts/selftests.sh --quick
	$(MAKE) check-asan

check-selftests: all
	SOFTKVM=$(BUILD)/softkvm JOBS=$(JOBS) scripts/selftests.sh

check-asan: deps $(ASAN)/build.ninja
	ninja -C $(ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN) --print-errorlogs --num-processes $(JOBS) --suite fast

# Debian's cloud kernel and a busybox initramfs (installed and built by
# scripts/linux-guest.sh), booted on softkvm to a shell on this terminal
run: all
	@eval "$$(scripts/linux-guest.sh --install $(BUILD)/linux-guest)" && \
	echo "softkvm: booting $$KERNEL with $(CPUS) vCPUs and $(MEM) (C-a x quits, C-a h helps)" >&2 && \
	exec $(BUILD)/softkvm run --accel soft --kernel "$$KERNEL" --initrd "$$INITRD" \
		--append "console=ttyS0 $(APPEND)" --cpus $(CPUS) --mem $(MEM)

cpu-demo: all
	$(BUILD)/softkvm cpu-demo

# the workloads of bench/README.md natively, on QEMU TCG and on softkvm (1 vCPU,
# 512 MiB; 10-15 minutes); e.g. BENCH_ARGS="--runs 3" or "--only loop,gzip --no-native"
bench-linux: all
	python3 bench/linux/bench-linux.py --softkvm $(BUILD)/softkvm --builddir $(BUILD) $(BENCH_ARGS)

difftest: all
	$(BUILD)/tests/diff/difftest --cases $(CASES) --seed $(SEED)

# x87/MMX/SSE against the host processor; prints "cases: N, mismatches: M" last
fpdifftest: all
	$(BUILD)/tests/fpdiff/fpdiff --cases $(CASES) --seed $(SEED)

bench-cpu: all
	$(BUILD)/bench/bench-cpu

bench-cpuid: all
	$(BUILD)/bench/bench-cpuid $(BUILD)/tests/abi/guest_cpuid.bin

# interrupt latencies and idle host CPU of a 4-vCPU guest, softkvm beside QEMU TCG
bench-virtio: all
	python3 bench/virtio/run-bench-virtio.py --softkvm $(BUILD)/softkvm --builddir $(BUILD) $(BENCH_ARGS)

bench-latency: all
	python3 bench/latency/run-latency.py --softkvm $(BUILD)/softkvm \
		--kernel $(BUILD)/bench/latency/latency.elf

fuzz-cpu: deps
	@scripts/fuzz-cpu.sh $(SECONDS)

# libFuzzer on the ioctl layer (ASan+UBSan; -tsan: ThreadSanitizer), see scripts/fuzz-abi.sh
fuzz-abi: deps
	@scripts/fuzz-abi.sh $(SECONDS)

fuzz-abi-tsan: deps
	@FUZZ_TSAN=1 scripts/fuzz-abi.sh $(SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN) build-fuzz build-fuzz-abi build-fuzz-abi-tsan
