#!/usr/bin/env python3
"""Where the JIT's time goes, by guest block.

    SOFTKVM_JIT_PERFMAP=1 SOFTKVM_JIT_DUMP=DIR softkvm run ... &
    perf record -p PID -o perf.data      (while the workload runs)
    scripts/jit-blocks.py perf.data /tmp/perf-PID.map [N]

perf 6.1 does not read perf-PID.map for the JIT's memfd mapping, so this
script does: it weights each sample by its period, attributes the samples in
the code buffer to the translation (guest-physical address of the block) that
occupied that address last (a "softkvm_jit_buffer" line marks each flush of
the buffer: older translations are dropped), and prints the N hottest blocks
with the offsets of their hottest host instructions. The translation itself is
DIR/GPA-ADDRESS.bin (objdump -D -b binary -mi386:x86-64). One vCPU: with
several, the buffers are told apart by their base.
"""
import bisect
import collections
import subprocess
import sys

if len(sys.argv) < 3:
    sys.exit(__doc__)
perf, mapfile = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 25

bufs = {}    # base -> size
blocks = {}  # address -> (size, name), the latest translation there
for line in open(mapfile):
    a, sz, name = line.split()
    a, sz = int(a, 16), int(sz, 16)
    if name == "softkvm_jit_buffer":
        bufs[a] = sz
        blocks = {k: v for k, v in blocks.items() if not a <= k < a + sz}
    else:
        blocks[a] = (sz, name)
starts = sorted(blocks)

out = subprocess.run(["perf", "script", "-i", perf, "-G", "-F", "period,ip,dso"],
                     capture_output=True, text=True).stdout
total = 0
per_block = collections.Counter()
per_off = collections.defaultdict(collections.Counter)
other = collections.Counter()
for line in out.splitlines():
    p = line.split(None, 2)
    if len(p) < 3:
        continue
    w, ip, dso = int(p[0]), int(p[1], 16), p[2]
    total += w
    if "softkvm-jit" not in dso:
        other[dso] += w
        continue
    if ip < 1 << 40:  # perf gave an offset into the memfd: the (first) buffer
        ip += min(bufs) if bufs else 0
    i = bisect.bisect_right(starts, ip) - 1
    if i >= 0 and ip < starts[i] + blocks[starts[i]][0]:
        k = starts[i]
        per_block[k] += w
        per_off[k][ip - k] += w
    else:
        other["JIT code outside any block (stubs, older translations)"] += w
if not total:
    sys.exit("no samples")
print("samples outside translated blocks:")
for d, c in other.most_common(6):
    print("  %5.1f%%  %s" % (100.0 * c / total, d))
print("hottest blocks (%% of all samples; hot offsets as %% of the block):")
acc = 0
for k, c in per_block.most_common(n):
    acc += c
    hot = " ".join("+%x:%.0f%%" % (o, 100.0 * v / c) for o, v in per_off[k].most_common(5))
    print("  %5.1f%% (cum %5.1f%%)  %s  at %x  %s" % (100.0 * c / total, 100.0 * acc / total,
                                                    blocks[k][1], k, hot))
