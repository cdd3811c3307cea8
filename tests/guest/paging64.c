/* SPDX-License-Identifier: MIT */
/*
 * 4-level paging (SDM Vol. 3A, 4.5): 4 KiB, 2 MiB and 1 GiB mappings,
 * aliases, INVLPG and CR3 reloads making changes visible, accessed and
 * dirty bits, permissions combined across levels, WP, NX, reserved bits,
 * non-canonical addresses, SMEP and SMAP.
 */
#include "libtest.h"

#define VA     0x40000000ul /* PD[1][0] points at pt below: 4 KiB pages */
#define BUF_PA 0x500000ul   /* four spare pages of RAM */

static volatile u64 pt[512] aligned(4096);

static void map4k(ulong va, u64 pa, u64 flags)
{
	pt[(va >> 12) & 511] = pa | flags;
	invlpg(va);
}

static int access_fault(ulong va, bool write, ulong *err)
{
	ex_reset();
	if (write)
		asm volatile(ASM_FIXUP("1f") "movl $0x77, (%0)\n1:" : : "r"(va) : FIXUP_CLOBBERS);
	else
		asm volatile(ASM_FIXUP("1f") "movl (%0), %%eax\n1:"
			     :
			     : "r"(va)
			     : FIXUP_CLOBBERS, "eax");
	int v = ex_vector();
	*err = ex_last.error_code;
	return v;
}

int main(void)
{
	u64 saved_pde = pd[1][0];
	ulong err;
	u32 c[4];

	for (int k = 0; k < 4; k++)
		memset((void *)(BUF_PA + 0x1000 * k), 0x10 + k, 4096);
	pd[1][0] = (ulong)pt | PTE_P | PTE_W;
	write_cr3(read_cr3());

	map4k(VA, BUF_PA, PTE_P | PTE_W);
	map4k(VA + 0x1000, BUF_PA, PTE_P | PTE_W);
	report("4 KiB mapping reads the physical page", readb(VA + 5) == 0x10);
	writel(VA + 0x1008, 0xa5a5a5a5);
	report("two aliases of one page see each other's writes",
	       readl(VA + 8) == 0xa5a5a5a5 && readl(BUF_PA + 8) == 0xa5a5a5a5);
	pt[0] = (BUF_PA + 0x1000) | PTE_P | PTE_W;
	invlpg(VA);
	report("invlpg: the new translation is used", readb(VA) == 0x11);
	pt[0] = (BUF_PA + 0x2000) | PTE_P | PTE_W;
	write_cr3(read_cr3());
	report("CR3 reload: the new translation is used", readb(VA) == 0x12);

	/* accessed and dirty */
	map4k(VA + 0x2000, BUF_PA + 0x3000, PTE_P | PTE_W);
	pd[1][0] &= ~PTE_A;
	write_cr3(read_cr3());
	(void)readb(VA + 0x2000);
	barrier(); /* the processor wrote the page tables */
	report("a read sets A in the PTE and the PDE, not D",
	       (pt[2] & PTE_A) && !(pt[2] & PTE_D) && (pd[1][0] & PTE_A));
	pt[2] &= ~PTE_A;
	invlpg(VA + 0x2000);
	writeb(VA + 0x2000, 1);
	report("a write sets A and D", (pt[2] & PTE_A) && (pt[2] & PTE_D));

	/* faults */
	map4k(VA + 0x3000, 0, 0);
	int v = access_fault(VA + 0x3010, false, &err);
	report("not-present 4 KiB page: #PF(0), CR2",
	       v == PF_VECTOR && err == 0 && ex_last.cr2 == VA + 0x3010);
	map4k(VA + 0x3000, BUF_PA, PTE_P);
	ulong cr0 = read_cr0();
	write_cr0(cr0 | X86_CR0_WP);
	v = access_fault(VA + 0x3000, true, &err);
	report("read-only PTE with WP: write #PF(3)", v == PF_VECTOR && err == 3);
	map4k(VA + 0x3000, BUF_PA, PTE_P | PTE_W);
	pd[1][0] &= ~PTE_W;
	write_cr3(read_cr3());
	v = access_fault(VA + 0x3000, true, &err);
	report("read-only PDE over a writable PTE: write #PF(3)", v == PF_VECTOR && err == 3);
	pd[1][0] |= PTE_W;
	write_cr3(read_cr3());
	v = access_fault(VA + 0x3000, true, &err);
	report("writable again after the PDE change", v == -1);
	write_cr0(cr0);

	/* reserved bits: above MAXPHYADDR (bit 51) in a PTE */
	map4k(VA + 0x3000, BUF_PA | (1ull << 51), PTE_P | PTE_W);
	v = access_fault(VA + 0x3000, false, &err);
	report("reserved address bit in a PTE: #PF with RSVD", v == PF_VECTOR && (err & 8));
	map4k(VA + 0x3000, BUF_PA, PTE_P | PTE_W | (1ull << 7)); /* PAT bit in a PTE is not PS */
	v = access_fault(VA + 0x3000, false, &err);
	report("PTE bit 7 (PAT) is not reserved", v == -1);

	/* NX */
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	*(volatile u8 *)(BUF_PA + 0x40) = 0xc3;
	map4k(VA + 0x3000, BUF_PA, PTE_P | PTE_W | PTE_NX);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "call *%0\n1:" : : "r"(VA + 0x3040) : FIXUP_CLOBBERS);
	v = ex_vector();
	report("NX 4 KiB page: fetch #PF(0x11)", v == PF_VECTOR && ex_last.error_code == 0x11);
	report("NX page is still readable", readb(VA + 0x3040) == 0xc3);
	map4k(VA + 0x3000, BUF_PA, PTE_P | PTE_W);
	asm volatile("call *%0" : : "r"(VA + 0x3040) : "memory");
	report("without NX the page executes", true);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NXE);

	/* 2 MiB page elsewhere */
	u64 saved2 = pd[1][1];
	pd[1][1] = 0x400000 | PTE_P | PTE_W | PTE_PS;
	invlpg(VA + 0x200000);
	writel(0x400000 + 0x1234, 0xfeed);
	report("2 MiB page maps 2 MiB-aligned physical memory",
	       readl(VA + 0x200000 + 0x1234) == 0xfeed);
	pd[1][1] =
	    0x400000 | (1ull << 13) | PTE_P | PTE_W | PTE_PS; /* bit 13: reserved in a 2 MiB PDE */
	invlpg(VA + 0x200000);
	v = access_fault(VA + 0x200000, false, &err);
	report("2 MiB PDE with a reserved address bit: #PF with RSVD", v == PF_VECTOR && (err & 8));
	pd[1][1] = saved2;
	invlpg(VA + 0x200000);

	/* 1 GiB page: PDPT[4] maps 4-5 GiB onto physical 0 */
	cpuid2(0x80000001, 0, c);
	if (c[3] & (1u << 26)) {
		pdpt[4] = 0 | PTE_P | PTE_W | PTE_PS;
		write_cr3(read_cr3());
		report("1 GiB page", readl(0x100000000ull + BUF_PA + 8) == readl(BUF_PA + 8));
		pdpt[4] = 0;
		write_cr3(read_cr3());
	} else {
		report_skip("1 GiB page");
	}

	/* a not-present PML4 entry, and non-canonical addresses */
	v = access_fault(0x8000000000ull, false, &err);
	report("not-present PML4 entry: #PF(0)",
	       v == PF_VECTOR && err == 0 && ex_last.cr2 == 0x8000000000ull);
	v = access_fault(0x0000800000000000ull, false, &err);
	report("non-canonical address: #GP(0), not #PF", v == GP_VECTOR && err == 0);

	/* SMEP and SMAP: supervisor access to user pages */
	cpuid2(7, 0, c);
	bool smep = c[1] & (1u << 7), smap = c[1] & (1u << 20);
	map4k(VA + 0x3000, BUF_PA, PTE_P | PTE_W | PTE_U);
	pd[1][0] |= PTE_U;
	pml4[0] |= PTE_U;
	pdpt[1] |= PTE_U;
	write_cr3(read_cr3());
	if (smep) {
		write_cr4(read_cr4() | X86_CR4_SMEP);
		ex_reset();
		asm volatile(ASM_FIXUP("1f") "call *%0\n1:" : : "r"(VA + 0x3040) : FIXUP_CLOBBERS);
		v = ex_vector();
		write_cr4(read_cr4() & ~X86_CR4_SMEP);
		report("SMEP: supervisor fetch from a user page #PF(0x11)",
		       v == PF_VECTOR && ex_last.error_code == 0x11);
	} else {
		report_skip("SMEP: supervisor fetch from a user page #PF(0x11)");
	}
	if (smap) {
		write_cr4(read_cr4() | X86_CR4_SMAP);
		v = access_fault(VA + 0x3000, false, &err);
		report("SMAP: supervisor read of a user page #PF(1)", v == PF_VECTOR && err == 1);
		ex_reset();
		u32 val;
		asm volatile("stac; movl (%1), %0; clac" : "=r"(val) : "r"(VA + 0x3000));
		report("SMAP: allowed with EFLAGS.AC (stac)",
		       ex_vector() == -1 && val == readl(BUF_PA));
		/* what an access with AC = 1 allowed is refused again once AC is clear
		 * (a processor that caches translations must key them by AC) */
		v = access_fault(VA + 0x3000, false, &err);
		report("SMAP: read #PF(1) again after clac", v == PF_VECTOR && err == 1);
		ex_reset();
		asm volatile("stac; movl $0x5a5a1234, (%0); clac" : : "r"(VA + 0x3004) : "memory");
		report("SMAP: write allowed with EFLAGS.AC",
		       ex_vector() == -1 && readl(BUF_PA + 4) == 0x5a5a1234);
		v = access_fault(VA + 0x3004, true, &err);
		report("SMAP: write #PF(3) again after clac", v == PF_VECTOR && err == 3);
		/* AC set by POPF, then set by STAC and cleared by POPF */
		ex_reset();
		asm volatile("pushfq; orq $0x40000, (%%rsp); popfq; movl (%1), %0; clac"
			     : "=r"(val)
			     : "r"(VA + 0x3000)
			     : "cc");
		report("SMAP: allowed with AC set by popf",
		       ex_vector() == -1 && val == readl(BUF_PA));
		asm volatile("stac; movl (%1), %0; pushfq; andq $~0x40000, (%%rsp); popfq"
			     : "=r"(val)
			     : "r"(VA + 0x3000)
			     : "cc");
		v = access_fault(VA + 0x3000, false, &err);
		report("SMAP: read #PF(1) after popf clears AC", v == PF_VECTOR && err == 1);
		write_cr4(read_cr4() & ~X86_CR4_SMAP);
	} else {
		report_skip("SMAP: supervisor read of a user page #PF(1)");
		report_skip("SMAP: allowed with EFLAGS.AC (stac)");
		report_skip("SMAP: read #PF(1) again after clac");
		report_skip("SMAP: write allowed with EFLAGS.AC");
		report_skip("SMAP: write #PF(3) again after clac");
		report_skip("SMAP: allowed with AC set by popf");
		report_skip("SMAP: read #PF(1) after popf clears AC");
	}
	pml4[0] &= ~PTE_U;
	pdpt[1] &= ~PTE_U;

	pd[1][0] = saved_pde;
	write_cr3(read_cr3());
	report_summary();
}
