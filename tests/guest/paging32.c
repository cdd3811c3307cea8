/* SPDX-License-Identifier: MIT */
/*
 * Paging from 32-bit protected mode (SDM Vol. 3A, 4.3 and 4.4): 32-bit
 * paging with 4 KiB pages and 4 MiB pages (CR4.PSE), then PAE paging with
 * 2 MiB pages and NX (EFER.NXE); turning paging on and off.
 */
#include "libtest.h"

static volatile u32 pgdir[1024] aligned(4096);
static volatile u32 pgtab[1024] aligned(4096);
static u64 pae_pdpt[4] aligned(32);
static u64 pae_pd[4][512] aligned(4096);

#define VA     0x40000000u
#define BUF_PA 0x500000u

static int fault(ulong va, bool write, ulong *err)
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
	ulong err;
	int v;
	u32 c[4];

	memset((void *)BUF_PA, 0x44, 0x2000);
	memset((void *)(BUF_PA + 0x1000), 0x55, 0x1000);
	/* identity-map 0-4 GiB with 4 MiB pages; VA's 4 MiB region through a page table */
	for (u32 k = 0; k < 1024; k++)
		pgdir[k] = (k << 22) | 0x83; /* P, W, PS */
	pgdir[VA >> 22] = (u32)(ulong)pgtab | 0x3;
	pgtab[0] = BUF_PA | 0x3;
	pgtab[1] = (BUF_PA + 0x1000) | 0x1; /* read-only */
	write_cr4(read_cr4() | X86_CR4_PSE);
	write_cr3((ulong)pgdir);
	write_cr0(read_cr0() | X86_CR0_PG | X86_CR0_WP);
	report("32-bit paging on: identity-mapped code keeps running", read_cr0() & X86_CR0_PG);
	report("4 MiB page", readl(BUF_PA) == 0x44444444);
	report("4 KiB page through a page table",
	       readl(VA) == 0x44444444 && readl(VA + 0x1000) == 0x55555555);
	writel(VA + 4, 0x12345678);
	barrier(); /* the processor wrote the page tables */
	report("write through the 4 KiB mapping", readl(BUF_PA + 4) == 0x12345678);
	report("A and D set in the PTE, A in the PDE",
	       (pgtab[0] & 0x60) == 0x60 && (pgdir[VA >> 22] & 0x20));
	v = fault(VA + 0x1000, true, &err);
	report("read-only PTE with WP: write #PF(3), CR2",
	       v == PF_VECTOR && err == 3 && ex_last.cr2 == VA + 0x1000);
	v = fault(VA + 0x2000, false, &err);
	report("not-present PTE: #PF(0)", v == PF_VECTOR && err == 0);
	pgtab[2] = BUF_PA | 0x3;
	invlpg(VA + 0x2000);
	report("invlpg after mapping it", readl(VA + 0x2000) == readl(BUF_PA));
	pgdir[0x3ff] = 0; /* the top 4 MiB: not present */
	write_cr3((ulong)pgdir);
	v = fault(0xffc00000u, false, &err);
	report("not-present PDE: #PF(0)", v == PF_VECTOR && err == 0 && ex_last.cr2 == 0xffc00000u);
	pgdir[0x3ff] = 0xffc00083u;
	write_cr0(read_cr0() & ~X86_CR0_PG);
	report("paging off again", !(read_cr0() & X86_CR0_PG) && readl(BUF_PA + 4) == 0x12345678);

	/* PAE: 4 PDPTEs, 2 MiB pages, NX */
	for (int k = 0; k < 4; k++) {
		pae_pdpt[k] = (ulong)pae_pd[k] | 1;
		for (int i = 0; i < 512; i++)
			pae_pd[k][i] = ((u64)k << 30) | ((u64)i << 21) | 0x83;
	}
	pae_pd[1][0] = 0x400000 | 0x83; /* VA 1 GiB -> 4 MiB, a 2 MiB page */
	cpuid2(0x80000001, 0, c);
	bool nx = c[3] & (1u << 20);
	if (nx)
		wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	*(volatile u8 *)(0x400000 + 0x100) = 0xc3;
	pae_pd[1][0] |= nx ? PTE_NX : 0;
	write_cr4(read_cr4() | X86_CR4_PAE);
	write_cr3((ulong)pae_pdpt);
	write_cr0(read_cr0() | X86_CR0_PG);
	report("PAE paging on", (read_cr0() & X86_CR0_PG) && (read_cr4() & X86_CR4_PAE));
	report("PAE 2 MiB page", readl(VA + 0x100000 + 4) == readl(0x500000 + 4));
	if (nx) {
		ex_reset();
		asm volatile(ASM_FIXUP("1f") "call *%0\n1:" : : "r"(VA + 0x100) : FIXUP_CLOBBERS);
		v = ex_vector();
		report("PAE NX: fetch #PF(0x11)", v == PF_VECTOR && ex_last.error_code == 0x11);
	} else {
		report_skip("PAE NX: fetch #PF(0x11)");
	}
	pae_pd[1][0] &= ~PTE_NX;
	invlpg(VA);
	asm volatile("call *%0" : : "r"(VA + 0x100) : "memory");
	report("PAE: executable without NX", true);
	pae_pd[2][0] = 0x200000ull | (1ull << 51) | 0x83; /* reserved address bit */
	invlpg(0x80000000u);
	v = fault(0x80000000u, false, &err);
	report("PAE reserved bit: #PF with RSVD", v == PF_VECTOR && (err & 8));
	write_cr0(read_cr0() & ~X86_CR0_PG);
	write_cr4(read_cr4() & ~X86_CR4_PAE);
	report("PAE paging off", !(read_cr0() & X86_CR0_PG));
	report_summary();
}
