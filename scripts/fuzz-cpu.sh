#!/bin/sh
# make fuzz-cpu SECONDS=N: build the libFuzzer target of the processor
# (tests/fuzz/fuzz_cpu.c) with ASan+UBSan in build-fuzz/ and run it for N
# seconds. New inputs go to build-fuzz/corpus (the committed seeds in
# tests/fuzz/corpus are read too), crashes, leaks and hangs to
# build-fuzz/crashes/. Reproduce one with:
#   build-fuzz/fuzz_cpu build-fuzz/crashes/crash-...
# Environment: CC (default clang-14, else clang), FUZZ_ARGS (extra libFuzzer
# flags, e.g. "-jobs=2 -workers=2"), FUZZ_BUILD_ONLY=1.
set -eu
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build-fuzz
cd "$root"

if [ -z "${CC:-}" ]; then
	if command -v clang-14 >/dev/null 2>&1; then CC=clang-14; else CC=clang; fi
fi
mkdir -p "$out/obj" "$out/crashes" "$out/corpus"

# the processor's sources, as the Meson build lists them
srcs=$(sed -n '/^cpu_src = files(/,/)/p' meson.build | grep -o "'cpu/[a-z0-9_/]*\.c'" | tr -d "'")
[ -n "$srcs" ] || { echo "fuzz-cpu: cannot find cpu_src in meson.build" >&2; exit 1; }

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cflags="-std=gnu11 -g -O1 -D_GNU_SOURCE -fno-strict-aliasing -Icpu -Wall -Wno-unused-parameter $san"
stamp=$out/obj/.flags
echo "$CC $cflags" | cmp -s - "$stamp" 2>/dev/null || { rm -f "$out"/obj/*.o; echo "$CC $cflags" >"$stamp"; }

# rebuild an object when its source or any cpu/ header is newer
newest_h=$(ls -t cpu/*.h cpu/jit/*.h | head -1)
objs=""
for s in $srcs tests/fuzz/fuzz_cpu.c tests/fuzz/watchdog.c; do
	o=$out/obj/$(basename "$s" .c).o
	objs="$objs $o"
	if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then
		echo "fuzz-cpu: CC $s"
		# shellcheck disable=SC2086
		$CC $cflags -fsanitize=fuzzer-no-link -c "$s" -o "$o"
	fi
done
# shellcheck disable=SC2086
$CC $san -fsanitize=fuzzer -o "$out/fuzz_cpu" $objs -lZydis -lZycore -lrt -pthread 2>/dev/null ||
	$CC $san -fsanitize=fuzzer -o "$out/fuzz_cpu" $objs -lZydis -lrt -pthread
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

echo "fuzz-cpu: running for $secs s; crashes go to $out/crashes/"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# shellcheck disable=SC2086
exec "$out/fuzz_cpu" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
	-artifact_prefix="$out/crashes/" -print_final_stats=1 ${FUZZ_ARGS:-} \
	"$out/corpus" tests/fuzz/corpus
