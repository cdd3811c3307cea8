#!/bin/bash
# The Linux 6.1 KVM selftests (tools/testing/selftests/kvm of Debian's
# linux-source-6.1) built once and run under `softkvm exec`.
#
#   scripts/selftests.sh [--quick] [--build-only] [TEST...]
#
#   --quick       only the quick list (what `make check` runs); without the
#                 packages and not root: a note, exit status 0
#   --build-only  build, do not run
#   TEST...       run these tests (names as in the table) instead of the list
#
# Environment:
#   SOFTKVM            the softkvm binary (default build/softkvm)
#   SELFTESTS_DIR      cache directory (default build-selftests/)
#   SELFTESTS_VARIANT  stock | nosse (default: stock when softkvm's
#                      KVM_GET_SUPPORTED_CPUID has SSE2, else nosse)
#   SELFTESTS_TIMEOUT  default per-test timeout in seconds (60)
#   SELFTESTS_STRICT=1 every failure fails the script, not only the
#                      required tests'
#   SELFTESTS_SLOW=1   also run the tests marked slow (minutes on a small host)
#   JOBS               parallel make jobs (default: nproc)
#
# Layout of the cache: src/ holds the part of the kernel tree the build
# needs (tools/, scripts/subarch.include, and usr/include when the uapi
# headers must be generated), out-VARIANT/ the objects and test programs,
# logs-VARIANT/ one log per test. A rerun only runs make, which finds
# nothing to do.
#
# Variants: every selftest guest runs C compiled for x86-64, whose ABI
# assumes SSE2; the library's ucall() alone uses PXOR/MOVUPS. While the
# CPU model softkvm advertises has no SSE2, the tests are built with
# -mgeneral-regs-only ("nosse"), i.e. for the processor softkvm reports;
# as soon as KVM_GET_SUPPORTED_CPUID reports SSE2 the stock build is used.
#
# Exit status: 0 when every required test passed (the quick list and the
# tests known to pass: a regression gate; SELFTESTS_STRICT=1 makes every
# failure count), 1 otherwise, 2 on a setup error. Result codes of a test:
# 0 pass, 4 skip (KSFT_SKIP), anything else or a timeout fail.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${SELFTESTS_DIR:-$root/build-selftests}
softkvm=$(realpath -m "${SOFTKVM:-$root/build/softkvm}")
tmo_default=${SELFTESTS_TIMEOUT:-60}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
tarball=/usr/src/linux-source-6.1.tar.xz
top=linux-source-6.1
quick=0
build_only=0
only=()

for a in "$@"; do
	case "$a" in
	--quick) quick=1 ;;
	--build-only) build_only=1 ;;
	-h | --help)
		sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//; /^set -u/d'
		exit 0
		;;
	-*)
		echo "selftests: unknown option $a" >&2
		exit 2
		;;
	*) only+=("$a") ;;
	esac
done

say() { echo "selftests: $*" >&2; }
die() {
	say "$*"
	exit 2
}

# ---- the test list ----
#
# name|timeout|args|note|flags. The name is the path below the kvm/ directory;
# "softkvm/NAME" are this project's own selftests (tests/selftests/NAME.c).
# The note is printed next to a failure: what the test needs that softkvm
# does not have yet; "slow" in flags: only with SELFTESTS_SLOW=1. Tests whose capabilities softkvm does not advertise
# skip by themselves (KSFT_SKIP).
tests=(
	"softkvm/guest_sync_test|30||"
	"x86_64/cpuid_test|30||"
	"x86_64/cr4_cpuid_sync_test|30||"
	"x86_64/get_msr_index_features|30||"
	"x86_64/evmcs_test|30||"
	"x86_64/emulator_error_test|30||"
	"x86_64/fix_hypercall_test|30||"
	"x86_64/hyperv_clock|30||Hyper-V emulation (KVM_GET_SUPPORTED_HV_CPUID)"
	"x86_64/hyperv_cpuid|30||"
	"x86_64/hyperv_features|30||Hyper-V emulation (KVM_CAP_HYPERV_ENFORCE_CPUID)"
	"x86_64/hyperv_svm_test|30||"
	"x86_64/kvm_clock_test|30||needs the host's clocksource to be tsc"
	"x86_64/kvm_pv_test|30||"
	"x86_64/mmio_warning_test|30||"
	"x86_64/monitor_mwait_test|30||"
	"x86_64/nested_exceptions_test|30||"
	"x86_64/platform_info_test|30||"
	"x86_64/pmu_event_filter_test|30||"
	"x86_64/set_boot_cpu_id|30||"
	"x86_64/set_sregs_test|30||"
	"x86_64/smm_test|30||SMM (KVM_CAP_X86_SMM, address space 1)"
	"x86_64/state_test|30||"
	"x86_64/vmx_preemption_timer_test|30||"
	"x86_64/svm_vmcall_test|30||"
	"x86_64/svm_int_ctl_test|30||"
	"x86_64/svm_nested_shutdown_test|30||"
	"x86_64/svm_nested_soft_inject_test|30||"
	"x86_64/tsc_scaling_sync|60||"
	"x86_64/sync_regs_test|30||"
	"x86_64/ucna_injection_test|30||KVM_X86_GET_MCE_CAP_SUPPORTED, KVM_X86_SET_MCE (MCE injection)"
	"x86_64/userspace_io_test|30||batched REP INS/OUTS exits (io.count > 1), as KVM's emulator does"
	"x86_64/userspace_msr_exit_test|30||"
	"x86_64/vmx_apic_access_test|30||"
	"x86_64/vmx_close_while_nested_test|30||"
	"x86_64/vmx_dirty_log_test|30||"
	"x86_64/vmx_exception_with_invalid_guest_state|30||"
	"x86_64/vmx_msrs_test|30||"
	"x86_64/vmx_invalid_nested_guest_state|30||"
	"x86_64/vmx_set_nested_state_test|30||"
	"x86_64/vmx_tsc_adjust_test|30||"
	"x86_64/vmx_nested_tsc_scaling_test|30||"
	"x86_64/xapic_ipi_test|60|-s 5|"
	"x86_64/xapic_state_test|30||"
	"x86_64/xss_msr_test|30||"
	"x86_64/debug_regs|30||KVM_GUESTDBG_USE_HW_BP data breakpoints and DR7.GD in cpu/"
	"x86_64/tsc_msrs_test|30||"
	"x86_64/vmx_pmu_caps_test|30||"
	"x86_64/xen_shinfo_test|30||"
	"x86_64/xen_vmcall_test|30||"
	"x86_64/sev_migrate_tests|30||"
	"x86_64/amx_test|30||"
	"x86_64/max_vcpuid_cap_test|30||"
	"x86_64/triple_fault_event_test|30||"
	"access_tracking_perf_test|60|-b 16M|"
	"demand_paging_test|60|-b 16M|"
	"dirty_log_test|120|-i 3|"
	"dirty_log_perf_test|120|-b 16M -i 2|"
	"hardware_disable_test|900||512 forks, each a VM with 4 busy vCPU threads and 64 busy host threads: about 1 s per fork on a 2-CPU host|slow"
	"kvm_create_max_vcpus|60||"
	"kvm_page_table_test|60|-b 16M|"
	"max_guest_memory_test|120|-m 2 -s 1|"
	"memslot_modification_stress_test|60|-b 16M -i 100|"
	"memslot_perf_test|120|-l 1|"
	"rseq_test|120||"
	"set_memory_region_test|60||"
	"steal_time|30||"
	"kvm_binary_stats_test|30||"
	"system_counter_offset_test|30||"
)

# What `make check` runs: the tests issue 3 requires, and a few fast ones
# that cover the ABI paths the selftest library uses.
quick_list=(softkvm/guest_sync_test x86_64/set_sregs_test x86_64/state_test kvm_create_max_vcpus
	x86_64/cpuid_test x86_64/get_msr_index_features x86_64/userspace_msr_exit_test
	x86_64/max_vcpuid_cap_test x86_64/userspace_io_test steal_time)

# Required to pass (the exit status): the quick list and every test known
# to pass with the current softkvm. A test that starts passing belongs here.
required=("${quick_list[@]}" x86_64/cr4_cpuid_sync_test x86_64/tsc_scaling_sync
	x86_64/xapic_ipi_test x86_64/xapic_state_test x86_64/tsc_msrs_test demand_paging_test
	dirty_log_test dirty_log_perf_test kvm_page_table_test max_guest_memory_test
	memslot_modification_stress_test memslot_perf_test rseq_test set_memory_region_test)

in_list() {
	local x=$1
	shift
	for y in "$@"; do [ "$x" = "$y" ] && return 0; done
	return 1
}

# ---- packages ----

is_root() { [ "$(id -u)" = 0 ]; }

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# linux-source-6.1 and what building the selftests needs: a C compiler,
# make, the libc and uapi headers, xz for the tarball.
ensure_packages() {
	local want="linux-source-6.1 gcc make libc6-dev linux-libc-dev xz-utils binutils"
	local missing="" p
	for p in $want; do pkg_installed "$p" || missing="$missing $p"; done
	[ -z "$missing" ] && return 0
	if ! is_root; then
		say "missing Debian packages:$missing (run as root to install them)"
		return 1
	fi
	say "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 &&
			apt-get install -y -qq --no-install-recommends $missing >/dev/null; } ||
		{
			say "apt-get install$missing failed"
			return 1
		}
}

# ---- the source tree ----

src=$cache/src
kdir=$src/tools/testing/selftests/kvm

extract() {
	local ver stamp=$src/.softkvm-extracted
	ver=$(pkg_version linux-source-6.1)
	[ -f "$tarball" ] || die "$tarball is missing"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ]; then
		return 0
	fi
	say "extracting the selftests of linux-source-6.1 $ver"
	rm -rf "$src" "$cache"/out-*
	mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1 \
		"$top/tools/testing/selftests/kvm" "$top/tools/testing/selftests/rseq" \
		"$top/tools/testing/selftests/lib.mk" "$top/tools/testing/selftests/kselftest.h" \
		"$top/tools/testing/selftests/kselftest_harness.h" \
		"$top/tools/include" "$top/tools/arch/x86" "$top/tools/lib" "$top/tools/build" \
		"$top/scripts/subarch.include" || die "extracting $tarball failed"
	# The uapi headers: Debian builds linux-libc-dev from the same source
	# package, so when the versions match /usr/include is the tree's own
	# "make headers" output (checked once: identical). Otherwise generate
	# them from the tree (slow: about two minutes, once).
	if [ "$(pkg_version linux-libc-dev)" != "$ver" ]; then
		say "linux-libc-dev $(pkg_version linux-libc-dev) != $ver: generating the uapi headers"
		tar -xJf "$tarball" -C "$src" --strip-components=1 \
			"$top/Makefile" "$top/Kbuild" "$top/scripts" "$top/include/uapi" \
			"$top/include/asm-generic/Kbuild" "$top/include/linux/compiler-version.h" \
			"$top/include/linux/kconfig.h" "$top/arch/x86/Makefile" \
			"$top/arch/x86/Makefile_32.cpu" "$top/arch/x86/include/uapi" \
			"$top/arch/x86/include/asm/Kbuild" "$top/arch/x86/entry/syscalls" \
			"$top/arch/x86/tools" "$top/usr" || die "extracting the header sources failed"
		make -C "$src" -j"$jobs" ARCH=x86_64 headers >"$cache/headers.log" 2>&1 ||
			die "make headers failed (see $cache/headers.log)"
	fi
	echo "$ver" >"$stamp"
}

# ---- the variant: what the guest code may use ----

choose_variant() {
	if [ -n "${SELFTESTS_VARIANT:-}" ]; then
		echo "$SELFTESTS_VARIANT"
		return
	fi
	local probe=$cache/probe-sse2
	if [ ! -x "$probe" ] || [ "$root/scripts/selftests.sh" -nt "$probe" ]; then
		mkdir -p "$cache"
		# KVM_GET_SUPPORTED_CPUID leaf 1 EDX bit 26: SSE2
		cat >"$cache/probe-sse2.c" <<-'EOF'
			#include <fcntl.h>
			#include <linux/kvm.h>
			#include <stdio.h>
			#include <sys/ioctl.h>
			int main(void)
			{
				static struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } b;
				int kvm = open("/dev/kvm", O_RDWR);
				b.c.nent = 256;
				if (kvm < 0 || ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &b) < 0)
					return 2;
				for (unsigned i = 0; i < b.c.nent; i++)
					if (b.e[i].function == 1)
						return puts((b.e[i].edx >> 26) & 1 ? "stock" : "nosse") < 0;
				return puts("nosse") < 0;
			}
		EOF
		gcc -O1 -o "$probe" "$cache/probe-sse2.c" || die "cannot build the SSE2 probe"
	fi
	"$softkvm" exec -- "$probe" || die "the SSE2 probe failed under $softkvm exec"
}

# ---- build ----

build() {
	local variant=$1
	shift
	local out=$cache/out-$variant
	local cflags="-include $root/tests/selftests/compat.h"
	[ "$variant" = nosse ] && cflags="$cflags -mgeneral-regs-only"
	[ "$variant" = stock ] || [ "$variant" = nosse ] || die "unknown variant $variant"
	if [ "$(cat "$out/.flags" 2>/dev/null)" != "$cflags" ]; then
		rm -rf "$out"
		mkdir -p "$out"
		echo "$cflags" >"$out/.flags"
	fi
	# the library (LIBKVM in the kvm Makefile), then the kernel's own tests;
	# -k: the ones that build
	local targets=() t
	for t in $(sed -n 's/^LIBKVM\(_x86_64\|_STRING\)\{0,1\} += \(lib\/[a-z0-9_/]*\)\.[cS]$/\2.o/p' \
		"$kdir/Makefile"); do
		targets+=("$out/$t")
	done
	for t in "$@"; do
		case "$t" in
		softkvm/*) ;;
		*) targets+=("$out/$t") ;;
		esac
	done
	if [ "${#targets[@]}" -gt 0 ]; then
		make -C "$kdir" -k -j"$jobs" OUTPUT="$out" EXTRA_CFLAGS="$cflags" \
			"${targets[@]}" >"$out/build.log" 2>&1 ||
			say "some selftests did not build (see $out/build.log)"
	fi
	mkdir -p "$out/softkvm"
	for t in "$@"; do
		case "$t" in
		softkvm/*)
			# ours, with the library the kernel's build made
			local c=$root/tests/selftests/${t#softkvm/}.c
			[ -f "$c" ] || continue
			[ -x "$out/$t" ] && [ "$out/$t" -nt "$c" ] &&
				[ "$out/$t" -nt "$out/lib/kvm_util.o" ] && continue
			link_one "$out" "$c" "$out/$t" "$cflags" ||
				say "$t did not build (see $out/build.log)"
			;;
		*)
			# A test whose host code passes floating point (demand_paging_test's
			# pr_info of a double) cannot be built without SSE; build its own
			# file the stock way, with the library (and so all ucall and
			# guest library code) still built for the processor softkvm reports.
			[ -x "$out/$t" ] || [ "$variant" != nosse ] ||
				link_one "$out" "$kdir/$t.c" "$out/$t" "${cflags% -mgeneral-regs-only}" ||
				say "$t did not build (see $out/build.log)"
			;;
		esac
	done
}

# link_one OUT SOURCE BINARY CFLAGS: one test program with OUT's library, as lib.mk does
link_one() {
	local out=$1 c=$2 bin=$3 cflags=$4
	local lib=("$out"/lib/*.o "$out"/lib/x86_64/*.o)
	[ -f "$c" ] || return 1
	# shellcheck disable=SC2086
	(cd "$kdir" && gcc -Wall -Wstrict-prototypes -Wuninitialized -O2 -g -std=gnu99 \
		-U_FORTIFY_SOURCE -fno-stack-protector -fno-PIE -no-pie $cflags \
		-I"$src/tools/include" -I"$src/tools/arch/x86/include" -Iinclude -I"$(dirname "$c")" \
		-Iinclude/x86_64 -I../rseq -I.. "$c" "${lib[@]}" -ldl -pthread -o "$bin") \
		>>"$out/build.log" 2>&1
}

# ---- run ----

run_one() {
	local variant=$1 name=$2 tmo=$3 args=$4
	local out=$cache/out-$variant logs=$cache/logs-$variant
	local log=$logs/${name//\//_}.log
	mkdir -p "$logs"
	if [ ! -x "$out/$name" ]; then
		echo "nobuild" >"$log"
		return 200
	fi
	# shellcheck disable=SC2086
	(cd "$out" && timeout -k 5 "$tmo" "$softkvm" exec -- "$out/$name" $args) >"$log" 2>&1
	return $?
}

# the line that says why a test failed
why() {
	local log=$1
	local l
	l=$(grep -m1 -A3 "Test Assertion Failure" "$log" | grep -v "Test Assertion\|pid=\|^ *[0-9][0-9]*[[:space:]]*0x" |
		sed -n '$p')
	[ -n "$l" ] || l=$(grep -v "^\s*$" "$log" | tail -1)
	echo "$l" | sed 's/^[[:space:]]*//' | cut -c1-110
}

main() {
	[ -x "$softkvm" ] || die "$softkvm is missing (build it first: make)"
	if ! ensure_packages; then
		[ "$quick" = 1 ] && {
			say "SKIP: the KVM selftests are not available here"
			exit 0
		}
		exit 2
	fi
	extract
	local variant
	variant=$(choose_variant) || exit 2

	local list=() names=() e
	for e in "${tests[@]}"; do names+=("${e%%|*}"); done
	if [ "${#only[@]}" -gt 0 ]; then
		list=("${only[@]}")
	elif [ "$quick" = 1 ]; then
		list=("${quick_list[@]}")
	else
		list=("${names[@]}")
	fi
	local t0=$SECONDS
	build "$variant" "${list[@]}"
	say "built ($variant) in $((SECONDS - t0)) s"
	[ "$build_only" = 1 ] && exit 0

	local pass=0 fail=0 skip=0 notrun=0 bad_required=0 name tmo args note flags rc res
	echo "KVM selftests (Linux 6.1, variant $variant) under $(basename "$softkvm") exec:"
	for name in "${list[@]}"; do
		tmo=$tmo_default args="" note="" flags=""
		for e in "${tests[@]}"; do
			if [ "${e%%|*}" = "$name" ]; then
				IFS='|' read -r _ tmo args note flags <<<"$e"
				break
			fi
		done
		if [ "$flags" = slow ] && [ "${SELFTESTS_SLOW:-}" != 1 ] && [ "${#only[@]}" = 0 ]; then
			printf "  %-48s %-4s %4s   %s\n" "$name:" "-" "" "not run: slow, SELFTESTS_SLOW=1 runs it ($note)"
			notrun=$((notrun + 1))
			continue
		fi
		local s=$SECONDS
		run_one "$variant" "$name" "${tmo:-$tmo_default}" "$args"
		rc=$?
		case $rc in
		0) res=pass pass=$((pass + 1)) ;;
		4) res=skip skip=$((skip + 1)) ;;
		*) res=fail fail=$((fail + 1)) ;;
		esac
		local log=$cache/logs-$variant/${name//\//_}.log
		local extra=""
		case $res in
		skip) extra=$(grep -m1 -o "SKIP.*\|skipping.*" "$log" | cut -c1-100) ;;
		fail)
			if [ "$rc" = 200 ]; then
				extra="did not build"
			elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
				extra="timeout after ${tmo}s"
			else
				extra=$(why "$log")
			fi
			[ -n "$note" ] && extra="$extra [needs: $note]"
			if [ "${SELFTESTS_STRICT:-}" = 1 ] || in_list "$name" "${required[@]}"; then
				bad_required=$((bad_required + 1))
				extra="$extra (REQUIRED)"
			fi
			;;
		esac
		printf "  %-48s %-4s %4ds  %s\n" "$name:" "$res" $((SECONDS - s)) "$extra"
	done
	echo "pass: $pass  fail: $fail  skip: $skip  not run: $notrun  (total ${#list[@]}, $((SECONDS - t0)) s;" \
		"logs in ${cache#"$root"/}/logs-$variant/)"
	[ "$bad_required" = 0 ]
}

main
