#!/bin/sh
# make fuzz-abi SECONDS=N: build the libFuzzer target of the ioctl layer
# (tests/fuzz/fuzz_abi.c, linked with the processor, kvm/ and abi/) with
# ASan+UBSan in build-fuzz-abi/ and run it for N seconds.
# make fuzz-abi-tsan SECONDS=N (FUZZ_TSAN=1): ThreadSanitizer in
# build-fuzz-abi-tsan/, without libFuzzer (its coverage counters are racy
# by design and TSan reports them): the replay driver (tests/fuzz/replay.c)
# runs the committed corpus, the corpus the ASan run found
# (build-fuzz-abi/corpus) and random programs, again and again for N
# seconds. tests/fuzz/tsan.supp lists the races that are benign by design,
# each with its reason.
#
# New inputs go to build-fuzz-abi*/corpus (the committed tests/fuzz/corpus-abi
# is read too), crashes, leaks and hangs to build-fuzz-abi*/crashes/.
# Reproduce one with:  build-fuzz-abi/fuzz_abi build-fuzz-abi/crashes/crash-...
# A fixed one becomes a regression case: copy it to tests/fuzz/corpus-abi/
# (fuzz_abi_replay in make check replays that directory).
# Environment: CC (default clang-14, else clang), FUZZ_ARGS (extra libFuzzer
# flags, e.g. "-jobs=2 -workers=2"), FUZZ_BUILD_ONLY=1, FUZZ_TSAN=1.
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [ -z "${CC:-}" ]; then
	if command -v clang-14 >/dev/null 2>&1; then CC=clang-14; else CC=clang; fi
fi
if [ "${FUZZ_TSAN:-0}" = 1 ]; then
	out=$root/build-fuzz-abi-tsan
	san="-fsanitize=thread -fno-omit-frame-pointer"
	cov=""
	driver=tests/fuzz/replay.c
	link=""
else
	out=$root/build-fuzz-abi
	san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
	cov="-fsanitize=fuzzer-no-link"
	driver=""
	link="-fsanitize=fuzzer"
fi
mkdir -p "$out/obj" "$out/crashes" "$out/corpus"

# the sources of libsoftkvm, as the Meson build lists them
srcs=$(sed -n '/^\(cpu\|kvm\|abi\)_src = files(/,/)/p' meson.build |
	grep -o "'\(cpu\|kvm\|abi\)/[a-z0-9_/]*\.c'" | tr -d "'")
[ -n "$srcs" ] || { echo "fuzz-abi: cannot find the sources in meson.build" >&2; exit 1; }

cflags="-std=gnu11 -g -O1 -D_GNU_SOURCE -fno-strict-aliasing -Iinclude -Itests/fuzz -Wall -Wno-unused-parameter $san"
stamp=$out/obj/.flags
echo "$CC $cflags $cov" | cmp -s - "$stamp" 2>/dev/null || { rm -f "$out"/obj/*.o; echo "$CC $cflags $cov" >"$stamp"; }

# rebuild an object when its source or any header is newer
newest_h=$(ls -t cpu/*.h cpu/jit/*.h kvm/*.h abi/*.h include/softkvm/*.h tests/fuzz/*.h | head -1)
objs=""
for s in $srcs tests/fuzz/fuzz_abi.c tests/fuzz/watchdog.c $driver; do
	o=$out/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')
	objs="$objs $o"
	if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then
		echo "fuzz-abi: CC $s"
		# shellcheck disable=SC2086
		nice $CC $cflags $cov -c "$s" -o "$o"
	fi
done
# shellcheck disable=SC2086
$CC $san $link -o "$out/fuzz_abi" $objs -lZydis -lZycore -lrt -latomic -pthread 2>/dev/null ||
	$CC $san $link -o "$out/fuzz_abi" $objs -lZydis -lrt -latomic -pthread
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

echo "fuzz-abi: running for $secs s; crashes go to $out/crashes/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/fuzz/tsan.supp}
export FUZZ_STATS=${FUZZ_STATS:-1}
if [ "${FUZZ_TSAN:-0}" = 1 ]; then
	corpora=tests/fuzz/corpus-abi
	[ -d "$root/build-fuzz-abi/corpus" ] && corpora="$corpora $root/build-fuzz-abi/corpus"
	# a failing input is saved here (libFuzzer is not there to do it)
	export FUZZ_ABI_SAVE="$out/crashes/failure-$(date +%Y%m%d-%H%M%S)"
	seed=$(date +%s)
	echo "fuzz-abi: TSan replay of $corpora and random programs from seed $seed"
	# shellcheck disable=SC2086
	exec nice "$out/fuzz_abi" --seconds "$secs" --seed "$seed" $corpora
fi
# -timeout: the target's own watchdog reports a hang after 8 s first
# shellcheck disable=SC2086
exec nice "$out/fuzz_abi" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -max_len=4096 -len_control=0 \
	-artifact_prefix="$out/crashes/" -print_final_stats=1 ${FUZZ_ARGS:-} \
	"$out/corpus" tests/fuzz/corpus-abi
