#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Extract the uncompressed vmlinux (ELF64) from a bzImage.

The setup header's payload_offset and payload_length (boot protocol 2.08+)
locate the compressed kernel inside the protected-mode part; its format is
told by its magic bytes. gzip, xz, lzma and bzip2 are decompressed here; lz4
(legacy frames) and zstd by the lz4 and zstd commands. Exit status 77 when
the needed decompressor is missing, 2 for a file that is not a bzImage.

  extract-vmlinux.py BZIMAGE OUT
"""
import bz2
import gzip
import lzma
import shutil
import struct
import subprocess
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    b = open(src, "rb").read()
    if len(b) < 0x250 or b[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", b, 0x206)[0] < 0x208:
        print("extract-vmlinux: %s: not a bzImage with protocol 2.08+" % src, file=sys.stderr)
        return 2
    setup = ((b[0x1f1] or 4) + 1) * 512
    off, length = struct.unpack_from("<II", b, 0x248)
    payload = b[setup + off:setup + off + length]
    tools = {b"\x02\x21\x4c\x18": ["lz4", "-dc"], b"\x28\xb5\x2f\xfd": ["zstd", "-dc"]}
    if payload[:2] == b"\x1f\x8b":
        elf = gzip.decompress(payload)
    elif payload[:6] == b"\xfd7zXZ\x00" or payload[:3] == b"\x5d\x00\x00":
        elf = lzma.decompress(payload)
    elif payload[:3] == b"BZh":
        elf = bz2.decompress(payload)
    elif payload[:4] in tools:
        cmd = tools[payload[:4]]
        if not shutil.which(cmd[0]):
            print("extract-vmlinux: the kernel is %s-compressed and '%s' is not installed"
                  % (cmd[0], cmd[0]), file=sys.stderr)
            return 77
        # the kernel appends its size (le32) after the stream; lz4 stops at the frame end
        p = subprocess.run(cmd, input=payload, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        elf = p.stdout
    else:
        print("extract-vmlinux: unknown compression %s" % payload[:6].hex(), file=sys.stderr)
        return 2
    if elf[:4] != b"\x7fELF":
        print("extract-vmlinux: the payload did not decompress to an ELF", file=sys.stderr)
        return 2
    with open(out, "wb") as f:
        f.write(elf)
    return 0


sys.exit(main())
