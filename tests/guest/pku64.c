/* SPDX-License-Identifier: MIT */
/*
 * Protection keys for user-mode pages (SDM vol. 3A, 4.6.2; vol. 2 RDPKRU,
 * WRPKRU; vol. 1, 13.5.7 for XSAVE component 9): CR4.PKE, the instructions'
 * #UD/#GP rules, CPUID.7.0:ECX.OSPKE, access-disable and write-disable for
 * user-mode and supervisor-mode data accesses to a user page (#PF with PK,
 * bit 5), WP's part in supervisor writes, no check on fetches or supervisor
 * pages or key 0 while only other keys are restricted, WRPKRU and XRSTOR
 * taking effect on a translation used just before (a software TLB must not
 * keep the old rights), XSAVE/XRSTOR of PKRU.
 */
#include "libtest.h"

#define VA		0x40000000ul /* PD[1][0] points at pt below: 4 KiB pages */
#define BUF_PA		0x500000ul
#define KEY		5
#define X86_CR4_PKE	(1ul << 22)
#define X86_CR4_OSXSAVE (1ul << 18)
#define PF_PK		0x20

static volatile u64 pt[512] aligned(4096);
static u8 xbuf[4096] aligned(64);

static void map4k(ulong va, u64 pa, u64 flags, unsigned key)
{
	pt[(va >> 12) & 511] = pa | flags | ((u64)key << 59);
	invlpg(va);
}

static u32 rdpkru(void)
{
	u32 a, d;
	asm volatile("rdpkru" : "=a"(a), "=d"(d) : "c"(0));
	return a;
}

static void wrpkru(u32 v)
{
	asm volatile("wrpkru" : : "a"(v), "c"(0), "d"(0) : "memory");
}

/* one load or store (the same instruction each time: warmed translations) */
static __attribute__((noinline)) int load(ulong va, ulong *err)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "movl (%0), %%eax\n1:" : : "r"(va) : FIXUP_CLOBBERS, "eax");
	int v = ex_vector();
	*err = ex_last.error_code;
	return v;
}

static __attribute__((noinline)) int store(ulong va, ulong *err)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "movl $0x77, (%0)\n1:" : : "r"(va) : FIXUP_CLOBBERS);
	int v = ex_vector();
	*err = ex_last.error_code;
	return v;
}

static volatile int u_rv, u_wv;
static volatile ulong u_re, u_we;

static void user_access(void)
{
	ulong e;
	u_rv = load(VA, &e);
	u_re = e;
	u_wv = store(VA, &e);
	u_we = e;
}

static bool pf(int v, ulong err, ulong want)
{
	return v == PF_VECTOR && err == want && ex_last.cr2 == VA;
}

int main(void)
{
	u64 saved_pde = pd[1][0];
	u32 c[4];
	ulong err;
	int v;

	cpuid2(7, 0, c);
	if (!(c[2] & (1u << 3))) {
		/* softkvm offers it: there its absence is a failure */
		if (cmdline_ulong("softkvm", 0))
			report("PKU advertised", false);
		else
			report_skip("PKU advertised");
		report_summary();
	}
	report("OSPKE clear while CR4.PKE = 0", !(c[2] & (1u << 4)));
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "rdpkru\n1:" : : "c"(0) : FIXUP_CLOBBERS, "eax", "edx");
	report("RDPKRU with CR4.PKE = 0: #UD", ex_vector() == UD_VECTOR);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "wrpkru\n1:" : : "a"(0), "c"(0), "d"(0) : FIXUP_CLOBBERS);
	report("WRPKRU with CR4.PKE = 0: #UD", ex_vector() == UD_VECTOR);

	write_cr4(read_cr4() | X86_CR4_PKE);
	cpuid2(7, 0, c);
	report("OSPKE set with CR4.PKE = 1", (c[2] & (1u << 4)) != 0);
	report("PKRU is 0 after reset", rdpkru() == 0);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "wrpkru\n1:" : : "a"(4), "c"(1), "d"(0) : FIXUP_CLOBBERS);
	report("WRPKRU with ECX != 0: #GP(0)", ex_vector() == GP_VECTOR && ex_last.error_code == 0);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "wrpkru\n1:" : : "a"(4), "c"(0), "d"(1) : FIXUP_CLOBBERS);
	report("WRPKRU with EDX != 0: #GP(0)", ex_vector() == GP_VECTOR && rdpkru() == 0);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "rdpkru\n1:" : : "c"(2) : FIXUP_CLOBBERS, "eax", "edx");
	report("RDPKRU with ECX != 0: #GP(0)", ex_vector() == GP_VECTOR);
	ex_reset();
	{
		u64 a = 0xdead000012345678ull, d = 0xbeef00000000ull, r, rd;
		asm volatile("wrpkru\n\tmov $0xffffffffffffffff, %%rdx\n\trdpkru"
			     : "=a"(r), "=d"(rd)
			     : "a"(a), "c"(0), "d"(d)
			     : "memory");
		report("WRPKRU ignores RAX/RDX[63:32]; RDPKRU: EAX = PKRU, RDX = 0",
		       ex_vector() == -1 && r == 0x12345678 && rd == 0);
	}
	wrpkru(0);

	for (int k = 0; k < 4; k++)
		memset((void *)(BUF_PA + 0x1000 * k), 0x10 + k, 4096);
	pd[1][0] = (ulong)pt | PTE_P | PTE_W | PTE_U;
	pml4[0] |= PTE_U;
	pdpt[1] |= PTE_U;
	map4k(VA, BUF_PA, PTE_P | PTE_W | PTE_U, KEY);
	map4k(VA + 0x1000, BUF_PA + 0x1000, PTE_P | PTE_W, KEY);       /* supervisor page */
	map4k(VA + 0x2000, BUF_PA + 0x2000, PTE_P | PTE_W | PTE_U, 0); /* key 0 */
	write_cr3(read_cr3());
	ulong cr0 = read_cr0();
	write_cr0(cr0 | X86_CR0_WP);

	/* supervisor accesses to a user page with a key */
	v = load(VA, &err);
	report("PKRU = 0: supervisor read of a key-5 user page", v == -1);
	v = store(VA, &err);
	report("PKRU = 0: supervisor write of a key-5 user page", v == -1);
	wrpkru(1u << (2 * KEY)); /* AD */
	v = load(VA, &err);
	report("AD: supervisor read (translation used just before) #PF(0x21)", pf(v, err, 0x21));
	v = store(VA, &err);
	report("AD: supervisor write #PF(0x23)", pf(v, err, 0x23));
	v = load(VA + 0x1000, &err);
	report("AD: a supervisor page with the same key is not checked", v == -1);
	v = load(VA + 0x2000, &err);
	report("AD on key 5: a key-0 user page is not checked", v == -1);
	*(volatile u8 *)(BUF_PA + 0x40) = 0xc3;
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "call *%0\n1:" : : "r"(VA + 0x40) : FIXUP_CLOBBERS);
	report("AD: instruction fetches are not checked", ex_vector() == -1);
	wrpkru(0);
	v = load(VA, &err);
	report("PKRU = 0 again: the read works", v == -1);

	wrpkru(2u << (2 * KEY)); /* WD */
	v = load(VA, &err);
	report("WD: supervisor read allowed", v == -1);
	v = store(VA, &err);
	report("WD with CR0.WP = 1: supervisor write #PF(0x23)", pf(v, err, 0x23));
	write_cr0(cr0 & ~X86_CR0_WP);
	v = store(VA, &err);
	report("WD with CR0.WP = 0: supervisor write allowed", v == -1);
	write_cr0(cr0 | X86_CR0_WP);

	/* user-mode accesses */
	paging_allow_user();
	wrpkru(0);
	run_user(user_access);
	report("PKRU = 0: user read and write", u_rv == -1 && u_wv == -1);
	wrpkru(1u << (2 * KEY));
	run_user(user_access);
	report("AD: user read #PF(0x25)", u_rv == PF_VECTOR && u_re == 0x25);
	report("AD: user write #PF(0x27)", u_wv == PF_VECTOR && u_we == 0x27);
	wrpkru(2u << (2 * KEY));
	write_cr0(cr0 & ~X86_CR0_WP);
	run_user(user_access);
	report("WD: user read allowed", u_rv == -1);
	report("WD (CR0.WP = 0 too): user write #PF(0x27)", u_wv == PF_VECTOR && u_we == 0x27);
	write_cr0(cr0 | X86_CR0_WP);
	map4k(VA, BUF_PA, PTE_P | PTE_U, KEY);
	wrpkru(1u << (2 * KEY));
	run_user(user_access);
	report("AD and a read-only page: user write #PF(0x27)", u_wv == PF_VECTOR && u_we == 0x27);
	map4k(VA, BUF_PA, PTE_P | PTE_W | PTE_U, KEY);

	/* XSAVE component 9 */
	cpuid2(0xd, 0, c);
	if (c[0] & (1u << 9)) {
		u32 s[4];
		cpuid2(0xd, 9, s);
		report("CPUID.0xD.9: 8 bytes at 0xa80", s[0] == 8 && s[1] == 0xa80);
		write_cr4(read_cr4() | X86_CR4_OSXSAVE);
		asm volatile("xsetbv" : : "a"(0x203), "d"(0), "c"(0));
		cpuid2(0xd, 0, s);
		report("CPUID.0xD.0:EBX with XCR0[9]: 0xa88", s[1] == 0xa88);
		memset(xbuf, 0, sizeof(xbuf));
		wrpkru(0x5555555c);
		asm volatile("xsave (%0)" : : "r"(xbuf), "a"(0x200), "d"(0) : "memory");
		u64 bv = *(u64 *)(xbuf + 512);
		report("XSAVE stores PKRU at 0xa80, XSTATE_BV[9] = 1",
		       *(u32 *)(xbuf + 0xa80) == 0x5555555c && (bv & 0x200));
		wrpkru(0);
		v = load(VA, &err);
		*(u32 *)(xbuf + 0xa80) = 1u << (2 * KEY);
		asm volatile("xrstor (%0)" : : "r"(xbuf), "a"(0x200), "d"(0) : "memory");
		report("XRSTOR loads PKRU", rdpkru() == 1u << (2 * KEY));
		v = load(VA, &err);
		report("XRSTOR of PKRU: a translation used before faults #PF(0x21)",
		       pf(v, err, 0x21));
		*(u64 *)(xbuf + 512) = 0;
		asm volatile("xrstor (%0)" : : "r"(xbuf), "a"(0x200), "d"(0) : "memory");
		report("XRSTOR with XSTATE_BV[9] = 0: PKRU = 0", rdpkru() == 0);
		v = load(VA, &err);
		report("and the read works again", v == -1);
		asm volatile("xsetbv" : : "a"(3), "d"(0), "c"(0));
	} else {
		report_skip("CPUID.0xD.9: 8 bytes at 0xa80");
		report_skip("CPUID.0xD.0:EBX with XCR0[9]: 0xa88");
		report_skip("XSAVE stores PKRU at 0xa80, XSTATE_BV[9] = 1");
		report_skip("XRSTOR loads PKRU");
		report_skip("XRSTOR of PKRU: a translation used before faults #PF(0x21)");
		report_skip("XRSTOR with XSTATE_BV[9] = 0: PKRU = 0");
		report_skip("and the read works again");
	}

	/* CR4.PKE = 0: keys are ignored */
	wrpkru(3u << (2 * KEY));
	v = load(VA, &err);
	write_cr4(read_cr4() & ~X86_CR4_PKE);
	v = load(VA, &err);
	report("CR4.PKE = 0: the keys are not checked", v == -1);

	write_cr0(cr0);
	pml4[0] &= ~PTE_U;
	pdpt[1] &= ~PTE_U;
	pd[1][0] = saved_pde;
	write_cr3(read_cr3());
	report_summary();
}
