/* SPDX-License-Identifier: MIT */
/*
 * pc-testdev (QEMU hw/misc/pc-testdev.c): the 32-bit register at 0xe0 with
 * byte/word sub-accesses, its byte-wise alias at 0xe8, the flush port 0xe4,
 * IRQ lines at 0x2000 and 64 KiB of device memory at 0xff000000 (MMIO of
 * every width, aligned and not).
 */
#include "libtest.h"

#define IOMEM 0xff000000ul

int main(void)
{
	outl(0xe0, 0x12345678);
	report("0xe0: dword write/read", inl(0xe0) == 0x12345678);
	outb(0xe1, 0xab);
	report("0xe1: a byte write replaces byte 1", inl(0xe0) == 0x1234ab78);
	report("0xe2: word read of the upper half", inw(0xe2) == 0x1234);
	outw(0xe2, 0xbeef);
	report("0xe2: word write", inl(0xe0) == 0xbeefab78 && inb(0xe3) == 0xbe);
	report("0xe8: the same register byte by byte", inb(0xe8) == 0x78 && inb(0xeb) == 0xbe);
	report("0xe8: dword read through the byte-wise alias", inl(0xe8) == 0xbeefab78);
	outl(0xe8, 0x0badcafe);
	report("0xe8: dword write through the alias", inl(0xe0) == 0x0badcafe);
	outl(0xe4, 0x200000); /* flush-page of guest address 2 MiB */
	report("0xe4 flush: register unchanged, memory intact",
	       inl(0xe0) == 0x0badcafe && readl(0x200000) == readl(0x200000));
	/* lower the ISA IRQ lines (QEMU asserts on lines 16-23, which the ISA bus lacks) */
	for (int k = 0; k < 16; k++)
		outb(0x2000 + k, 0);
	report("IRQ line writes accepted", inl(0xe0) == 0x0badcafe);

	writeb(IOMEM, 0x11);
	writew(IOMEM + 2, 0x2233);
	writel(IOMEM + 4, 0x44556677);
	report("iomem: byte/word/dword writes read back as a dword",
	       readl(IOMEM) == 0x22330011 && readl(IOMEM + 4) == 0x44556677);
	report("iomem: byte and word reads",
	       readb(IOMEM + 7) == 0x44 && readw(IOMEM + 5) == 0x5566);
	writel(IOMEM + 0x1001, 0xa1b2c3d4);
	report("iomem: unaligned dword",
	       readl(IOMEM + 0x1001) == 0xa1b2c3d4 && readb(IOMEM + 0x1004) == 0xa1);
	writel(IOMEM + 0xfffc, 0xfeedface);
	report("iomem: last dword of the 64 KiB", readl(IOMEM + 0xfffc) == 0xfeedface);
#ifdef __x86_64__
	writeq(IOMEM + 0x100, 0x0123456789abcdefull);
	report("iomem: qword",
	       readq(IOMEM + 0x100) == 0x0123456789abcdefull && readl(IOMEM + 0x104) == 0x01234567);
#endif
	u32 v = 0x100;
	asm volatile("addl %1, %0" : "+m"(*(volatile u32 *)(IOMEM + 0x20)) : "r"(v));
	asm volatile("lock addl %1, %0" : "+m"(*(volatile u32 *)(IOMEM + 0x20)) : "r"(v));
	report("iomem: read-modify-write instructions", readl(IOMEM + 0x20) == 0x200);
	u32 x = 0x5555;
	asm volatile("xchgl %0, %1" : "+r"(x), "+m"(*(volatile u32 *)(IOMEM + 0x20)));
	report("iomem: xchg", x == 0x200 && readl(IOMEM + 0x20) == 0x5555);
	report_summary();
}
