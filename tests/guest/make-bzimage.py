#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Wrap a test kernel (ELF64, linked at its load address) into a bzImage.

The output is a boot sector and one setup sector holding the setup header of
Documentation/x86/boot.rst, then the kernel's loadable segments as one flat
image (the protected-mode kernel); init_size covers its BSS too.

  make-bzimage.py IN.elf OUT [--version 0x20f] [--xloadflags 1] [--relocatable 1]
                  [--align 0x200000] [--initrd-max 0x7fffffff] [--cmdline-size 2047]
"""
import argparse
import struct


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("elf")
    ap.add_argument("out")
    num = lambda s: int(s, 0)
    ap.add_argument("--version", type=num, default=0x20f)
    ap.add_argument("--xloadflags", type=num, default=1)
    ap.add_argument("--relocatable", type=num, default=1)
    ap.add_argument("--align", type=num, default=0x200000)
    ap.add_argument("--initrd-max", type=num, default=0x7fffffff)
    ap.add_argument("--cmdline-size", type=num, default=2047)
    a = ap.parse_args()

    elf = open(a.elf, "rb").read()
    assert elf[:4] == b"\x7fELF" and elf[4] == 2, "not an ELF64 file"
    phoff, = struct.unpack_from("<Q", elf, 32)
    phentsize, phnum = struct.unpack_from("<HH", elf, 54)
    segs = []
    for k in range(phnum):
        p_type, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", elf, phoff + k * phentsize)
        if p_type == 1 and memsz:
            segs.append((paddr, elf[off:off + filesz], memsz))
    lo = min(s[0] for s in segs)
    end = max(s[0] + len(s[1]) for s in segs)
    top = max(s[0] + s[2] for s in segs)
    image = bytearray(end - lo)
    for paddr, data, _ in segs:
        image[paddr - lo:paddr - lo + len(data)] = data
    image += bytes(-len(image) % 16)
    init_size = (top - lo + 0xfff) & ~0xfff

    setup = bytearray(1024)
    hdr_end = 0x26c
    struct.pack_into("<B", setup, 0x1f1, 1)                  # setup_sects
    struct.pack_into("<I", setup, 0x1f4, len(image) // 16)   # syssize
    struct.pack_into("<H", setup, 0x1fa, 0xffff)             # vid_mode
    struct.pack_into("<H", setup, 0x1fe, 0xaa55)             # boot_flag
    struct.pack_into("<BB", setup, 0x200, 0xeb, hdr_end - 0x202)  # jump
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, a.version)
    struct.pack_into("<B", setup, 0x211, 0x01)               # loadflags: LOADED_HIGH
    struct.pack_into("<I", setup, 0x214, lo)                 # code32_start
    struct.pack_into("<I", setup, 0x22c, a.initrd_max)
    struct.pack_into("<I", setup, 0x230, a.align)
    struct.pack_into("<B", setup, 0x234, a.relocatable)
    struct.pack_into("<B", setup, 0x235, a.align.bit_length() - 1)
    struct.pack_into("<H", setup, 0x236, a.xloadflags)
    struct.pack_into("<I", setup, 0x238, a.cmdline_size)
    struct.pack_into("<Q", setup, 0x258, lo)                 # pref_address
    struct.pack_into("<I", setup, 0x260, init_size)
    with open(a.out, "wb") as f:
        f.write(setup + image)


main()
