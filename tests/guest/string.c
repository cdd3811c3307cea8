/* SPDX-License-Identifier: MIT */
/*
 * String instructions (string32, string64): MOVS/STOS/LODS/CMPS/SCAS in each
 * width, REP/REPE/REPNE termination and the final counter, pointer and flag
 * values, DF = 1, zero counts, overlapping copies, address-size overrides,
 * segment overrides, INS/OUTS through pc-testdev's register, MOVS to MMIO,
 * and (64-bit) a REP MOVS that faults part-way: the fault is precise, with
 * RCX/RSI/RDI describing the iterations that completed (SDM Vol. 2B, "REP").
 */
#include "libtest.h"

static u8 src[256] aligned(16), dst[256] aligned(16);

static void fill(void)
{
	for (int k = 0; k < 256; k++) {
		src[k] = (u8)(k * 7 + 1);
		dst[k] = 0xee;
	}
}

static void test_movs_stos(void)
{
	ulong c, s, d;

	fill();
	asm volatile("cld; rep movsb"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(100), "1"(src), "2"(dst)
		     : "memory");
	report("rep movsb: copies, rcx = 0, pointers advance",
	       !memcmp(dst, src, 100) && dst[100] == 0xee && c == 0 && s == (ulong)src + 100 &&
		   d == (ulong)dst + 100);
	fill();
	asm volatile("cld; rep movsw"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(10), "1"(src), "2"(dst)
		     : "memory");
	report("rep movsw", !memcmp(dst, src, 20) && dst[20] == 0xee && d == (ulong)dst + 20);
	fill();
	asm volatile("cld; rep movsl"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(10), "1"(src), "2"(dst)
		     : "memory");
	report("rep movsl", !memcmp(dst, src, 40) && dst[40] == 0xee && s == (ulong)src + 40);
#ifdef __x86_64__
	fill();
	asm volatile("cld; rep movsq"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(10), "1"(src), "2"(dst)
		     : "memory");
	report("rep movsq", !memcmp(dst, src, 80) && dst[80] == 0xee && s == (ulong)src + 80);
#endif
	fill();
	asm volatile("std; rep movsb; cld"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(16), "1"(src + 15), "2"(dst + 15)
		     : "memory");
	report("rep movsb with DF = 1 copies downwards",
	       !memcmp(dst, src, 16) && s == (ulong)src - 1 && d == (ulong)dst - 1);
	fill();
	asm volatile("std; rep movsl; cld"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(4), "1"(src + 12), "2"(dst + 12)
		     : "memory");
	report("rep movsl with DF = 1 steps by 4", !memcmp(dst, src, 16) && d == (ulong)dst - 4);
	fill();
	asm volatile("cld; rep movsb"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(0), "1"(src), "2"(dst)
		     : "memory");
	report("rep with count 0 does nothing",
	       dst[0] == 0xee && s == (ulong)src && d == (ulong)dst);
	/* overlapping forward copy replicates the pattern byte by byte */
	fill();
	asm volatile("cld; rep movsb"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(32), "1"(src), "2"(src + 1)
		     : "memory");
	bool rep_ok = true;
	for (int k = 0; k <= 32; k++)
		rep_ok &= src[k] == 1;
	report("overlapping rep movsb propagates the first byte", rep_ok);

	fill();
	asm volatile("cld; rep stosb" : "=c"(c), "=D"(d) : "0"(50), "1"(dst), "a"(0x5a) : "memory");
	bool st = dst[50] == 0xee && c == 0;
	for (int k = 0; k < 50; k++)
		st &= dst[k] == 0x5a;
	report("rep stosb", st);
	fill();
	asm volatile("cld; rep stosl"
		     : "=c"(c), "=D"(d)
		     : "0"(8), "1"(dst), "a"(0x11223344)
		     : "memory");
	report("rep stosl",
	       ((u32 *)dst)[0] == 0x11223344 && ((u32 *)dst)[7] == 0x11223344 && dst[32] == 0xee);
	u32 v;
	asm volatile("cld; lodsl" : "=a"(v), "=S"(s) : "1"(src) : "memory");
	report("lodsl loads and advances", v == *(u32 *)src && s == (ulong)src + 4);
	fill();
	u8 last;
	asm volatile("cld; rep lodsb" : "=a"(last), "=c"(c), "=S"(s) : "1"(5), "2"(src) : "memory");
	report("rep lodsb leaves the last element", last == src[4] && c == 0);
}

static void test_cmps_scas(void)
{
	ulong c, s, d, f;
	static const char a[] = "softkvm string test", b[] = "softkvm strong test";

	asm volatile("cld; repe cmpsb; pushf; pop %3"
		     : "=c"(c), "=S"(s), "=D"(d), "=r"(f)
		     : "0"(sizeof(a)), "1"(a), "2"(b)
		     : "memory", "cc");
	report("repe cmpsb stops after the first difference",
	       s == (ulong)a + 12 && d == (ulong)b + 12 && c == sizeof(a) - 12 &&
		   !(f & X86_EFLAGS_ZF) && (f & X86_EFLAGS_CF));
	asm volatile("cld; repe cmpsb; pushf; pop %3"
		     : "=c"(c), "=S"(s), "=D"(d), "=r"(f)
		     : "0"(8), "1"(a), "2"(b)
		     : "memory", "cc");
	report("repe cmpsb over equal bytes ends with rcx = 0, ZF", c == 0 && (f & X86_EFLAGS_ZF));
	asm volatile("cld; repne scasb; pushf; pop %2"
		     : "=c"(c), "=D"(d), "=r"(f)
		     : "0"(100), "1"(a), "a"(0)
		     : "memory", "cc");
	report("repne scasb finds the terminator (strlen)",
	       d == (ulong)a + sizeof(a) && c == 100 - sizeof(a) && (f & X86_EFLAGS_ZF));
	asm volatile("cld; repne scasb; pushf; pop %2"
		     : "=c"(c), "=D"(d), "=r"(f)
		     : "0"(5), "1"(a), "a"('z')
		     : "memory", "cc");
	report("repne scasb without a match runs out, ZF clear", c == 0 && !(f & X86_EFLAGS_ZF));
	static const u32 w[4] = {5, 6, 7, 8};
	asm volatile("cld; repne scasl; pushf; pop %2"
		     : "=c"(c), "=D"(d), "=r"(f)
		     : "0"(4), "1"(w), "a"(7)
		     : "memory", "cc");
	report("repne scasl", d == (ulong)&w[3] && c == 1 && (f & X86_EFLAGS_ZF));
	u8 x = 0x30, y = 0x40;
	asm volatile("cld; cmpsb; pushf; pop %2"
		     : "=S"(s), "=D"(d), "=r"(f)
		     : "0"(&x), "1"(&y)
		     : "memory", "cc");
	report("cmpsb sets flags of [rsi] - [rdi]", (f & X86_EFLAGS_CF) && (f & X86_EFLAGS_SF));
}

static void test_address_size(void)
{
	ulong c, s, d;

	fill();
#ifdef __x86_64__
	/* 0x67: ECX/ESI/EDI; the upper halves of the 64-bit registers are not used */
	asm volatile("cld; mov %3, %%rcx; mov %4, %%rsi; mov %5, %%rdi; addr32 rep movsb"
		     : "=&c"(c), "=&S"(s), "=&D"(d)
		     : "r"(0xffffffff00000010ull), "r"((ulong)src | 0xabcd000000000000ull),
		       "r"((ulong)dst)
		     : "memory");
	report("addr32 rep movsb uses ecx/esi/edi",
	       !memcmp(dst, src, 16) && dst[16] == 0xee && (u32)c == 0 &&
		   (u32)s == (u32)((ulong)src + 16) && (u32)d == (u32)((ulong)dst + 16));
#else
	/* 0x67 in 32-bit mode: CX/SI/DI within the first 64 KiB; copy inside a low buffer */
	u8 *lo_src = (u8 *)0x7000, *lo_dst = (u8 *)0x7800;
	for (int k = 0; k < 32; k++) {
		lo_src[k] = (u8)(k + 3);
		lo_dst[k] = 0;
	}
	asm volatile("cld; mov %3, %%ecx; mov %4, %%esi; mov %5, %%edi; addr16 rep movsb"
		     : "=&c"(c), "=&S"(s), "=&D"(d)
		     : "r"(0xabcd0008u), "r"(0x12347000u), "r"(0x56787800u)
		     : "memory");
	report("addr16 rep movsb uses cx/si/di", !memcmp(lo_dst, lo_src, 8) && lo_dst[8] == 0 &&
						     c == 0xabcd0000u && s == 0x12347008u &&
						     d == 0x56787808u);
	/* segment override on the source: fs with base 0x100 */
	gdt[GDT_FREE >> 3] = 0x00cf93000100ffffull;
	fill();
	asm volatile("mov %w4, %%fs; cld; rep movsb %%fs:(%%esi), %%es:(%%edi); mov %w5, %%fs"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(8), "r"(GDT_FREE), "r"(KERNEL_DS), "1"((ulong)src - 0x100), "2"(dst)
		     : "memory");
	report("rep movsb with an fs: source (segment base applied)",
	       !memcmp(dst, src, 8) && dst[8] == 0xee);
#endif
}

static void test_io(void)
{
	static const u8 out[4] = {0x11, 0x22, 0x33, 0x44};
	u8 in[4] = {0};
	ulong c, s, d;

	/* pc-testdev 0xe0: outsb to 0xe0 replaces byte 0 of its register each time */
	outl(0xe0, 0);
	asm volatile("cld; rep outsb" : "=c"(c), "=S"(s) : "0"(4), "1"(out), "d"(0xe0) : "memory");
	report("rep outsb: each byte reaches the port",
	       inl(0xe0) == 0x44 && c == 0 && s == (ulong)out + 4);
	asm volatile("cld; outsl" : "=S"(s) : "0"(out), "d"(0xe0) : "memory");
	report("outsl", inl(0xe0) == 0x44332211);
	asm volatile("cld; rep insb" : "=c"(c), "=D"(d) : "0"(4), "1"(in), "d"(0xe1) : "memory");
	report("rep insb", in[0] == 0x22 && in[3] == 0x22 && c == 0 && d == (ulong)in + 4);
	u32 l = 0;
	asm volatile("cld; insl" : "=D"(d) : "0"(&l), "d"(0xe0) : "memory");
	report("insl", l == 0x44332211);
	u8 rin[4] = {0};
	asm volatile("std; rep insb; cld"
		     : "=c"(c), "=D"(d)
		     : "0"(2), "1"(rin + 3), "d"(0xe2)
		     : "memory");
	report("rep insb with DF = 1", rin[3] == 0x33 && rin[2] == 0x33 && rin[1] == 0);
}

static void test_mmio(void)
{
	ulong iomem = 0xff000000, c, s, d;
	u8 back[64];

	fill();
	asm volatile("cld; rep movsb"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(64), "1"(src), "2"(iomem)
		     : "memory");
	asm volatile("cld; rep movsb"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(64), "1"(iomem), "2"(back)
		     : "memory");
	report("rep movsb to and from MMIO (pc-testdev iomem)", !memcmp(back, src, 64));
	asm volatile("cld; rep stosl"
		     : "=c"(c), "=D"(d)
		     : "0"(4), "1"(iomem + 0x100), "a"(0xcafef00d)
		     : "memory");
	report("rep stosl to MMIO",
	       readl(iomem + 0x10c) == 0xcafef00d && readl(iomem + 0x110) != 0xcafef00d);
	u32 f;
	ulong fl;
	writel(iomem + 0x200, 0x12345678);
	asm volatile("cld; cmpsl; pushf; pop %3"
		     : "=S"(s), "=D"(d), "=a"(f), "=r"(fl)
		     : "0"(iomem + 0x200), "1"(&src[0])
		     : "memory", "cc");
	report("cmpsl with an MMIO operand", !(fl & X86_EFLAGS_ZF) == (0x12345678 != *(u32 *)src));
}

#ifdef __x86_64__
static void test_precise_fault(void)
{
	/* dst runs from 64 bytes below VA 0x40200000 into the not-present 2 MiB page after it */
	u64 saved0 = pd[1][0], saved1 = pd[1][1];
	ulong va = 0x40200000ul - 64, c, s, d;

	pd[1][0] = 0x400000 | PTE_P | PTE_W | PTE_PS;
	pd[1][1] = 0;
	write_cr3(read_cr3());
	fill();
	ex_reset();
	asm volatile("cld\n\t" ASM_FIXUP("1f") "rep movsb\n1:"
		     : "=c"(c), "=S"(s), "=D"(d)
		     : "0"(100), "1"(src), "2"(va)
		     : FIXUP_CLOBBERS);
	int v = ex_vector();
	report("rep movsb into a not-present page: #PF at the first byte of the page",
	       v == PF_VECTOR && ex_last.cr2 == 0x40200000ul && ex_last.error_code == 2);
	report("after the fault: rcx/rsi/rdi count the 64 completed bytes",
	       c == 36 && s == (ulong)src + 64 && d == 0x40200000ul);
	report("the completed bytes were written", !memcmp((void *)va, src, 64));
	/* map the page and resume the same instruction: it finishes the copy */
	pd[1][1] = 0x600000 | PTE_P | PTE_W | PTE_PS;
	invlpg(0x40200000ul);
	asm volatile("rep movsb" : "+c"(c), "+S"(s), "+D"(d) : : "memory");
	report("resuming completes the copy", !memcmp((void *)va, src, 100) && c == 0);
	pd[1][0] = saved0;
	pd[1][1] = saved1;
	write_cr3(read_cr3());
}
#endif

int main(void)
{
	test_movs_stos();
	test_cmps_scas();
	test_address_size();
	test_io();
	test_mmio();
#ifdef __x86_64__
	test_precise_fault();
#endif
	report_summary();
}
