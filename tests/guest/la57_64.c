/* SPDX-License-Identifier: MIT */
/*
 * 5-level paging (SDM vol. 3A, 4.5 with CR4.LA57): CR4.LA57 cannot change in
 * IA-32e mode (#GP(0)); set with paging off (from compatibility mode) it
 * makes CR3 point at a PML5 table. Then 57-bit addresses (canonical at 57
 * bits, not at 48) translate through all five levels, for loads, stores,
 * fetches, INVLPG, an FS base from WRMSR and the accessed flag of the PML5E;
 * addresses that are not canonical at 57 bits raise #GP(0) (loads, branch
 * targets, WRMSR of FS_BASE), and one that is canonical but unmapped raises
 * #PF with it in CR2. Back to 4-level paging at the end.
 */
#include "libtest.h"

#define X86_CR4_LA57 (1ul << 12)
#define MSR_FS_BASE  0xc0000100
#define BUF_PA	     0x500000ul
#define VA_LO	     0x0080000000001000ul /* PML5 index 128: canonical at 57 bits only */
#define VA_HI	     0xff80000000002000ul /* PML5 index 384 */
#define NC_LO	     0x0100000000000000ul /* not canonical at 57 bits */
#define NC_HI	     0xfe00000000000000ul

static u64 pml5[512] aligned(4096);
static u64 pml4_b[512] aligned(4096), pdpt_b[512] aligned(4096), pd_b[512] aligned(4096),
    pt_b[512] aligned(4096);

/* leave IA-32e mode through compatibility mode, load CR4 and CR3, enter it again */
static __attribute__((noinline)) void switch_paging(ulong cr4, ulong cr3)
{
	asm volatile("pushfq\n\t"
		     "cli\n\t"
		     "pushq %[cs32]\n\t"
		     "leaq 1f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "lretq\n\t"
		     ".code32\n"
		     "1:\tmovl %%cr0, %%eax\n\t"
		     "andl $0x7fffffff, %%eax\n\t"
		     "movl %%eax, %%cr0\n\t" /* paging off: IA-32e mode ends */
		     "movl %%esi, %%cr4\n\t"
		     "movl %%edi, %%cr3\n\t"
		     "orl $0x80000000, %%eax\n\t"
		     "movl %%eax, %%cr0\n\t" /* EFER.LME is still set */
		     "ljmp %[cs64], $2f\n\t"
		     ".code64\n"
		     "2:\tpopfq"
		     :
		     : "S"(cr4), "D"(cr3), [cs32] "i"(KERNEL_CS32), [cs64] "i"(KERNEL_CS)
		     : "rax", "memory");
}

static int load_fault(ulong va, ulong *err)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "movl (%0), %%eax\n1:" : : "r"(va) : FIXUP_CLOBBERS, "eax");
	*err = ex_last.error_code;
	return ex_vector();
}

int main(void)
{
	u32 c[4];
	ulong err, cr3 = read_cr3(), cr4 = read_cr4();
	int v;

	cpuid2(7, 0, c);
	if (!(c[2] & (1u << 16))) {
		/* softkvm offers it: there its absence is a failure */
		if (cmdline_ulong("softkvm", 0))
			report("LA57 advertised", false);
		else
			report_skip("LA57 advertised");
		report_summary();
	}
	cpuid2(0x80000008, 0, c);
	report("CPUID.80000008:EAX[15:8] = 57", ((c[0] >> 8) & 0xff) == 57);

	ex_reset();
	asm volatile(ASM_FIXUP("1f") "mov %0, %%cr4\n1:"
		     :
		     : "r"(cr4 | X86_CR4_LA57)
		     : FIXUP_CLOBBERS);
	report("MOV CR4 setting LA57 in IA-32e mode: #GP(0)",
	       ex_vector() == GP_VECTOR && ex_last.error_code == 0 && read_cr4() == cr4);

	for (int k = 0; k < 3; k++)
		memset((void *)(BUF_PA + 0x1000 * k), 0x30 + k, 4096);
	*(volatile u8 *)(BUF_PA + 0x2000) = 0xc3; /* ret */
	pml5[0] = (cr3 & ~0xfffull) | PTE_P | PTE_W;
	pml5[(VA_LO >> 48) & 511] = (ulong)pml4_b | PTE_P | PTE_W;
	pml5[(VA_HI >> 48) & 511] = (ulong)pml4_b | PTE_P | PTE_W;
	pml4_b[0] = (ulong)pdpt_b | PTE_P | PTE_W;
	pdpt_b[0] = (ulong)pd_b | PTE_P | PTE_W;
	pd_b[0] = (ulong)pt_b | PTE_P | PTE_W;
	pt_b[1] = BUF_PA | PTE_P | PTE_W;
	pt_b[2] = (BUF_PA + 0x2000) | PTE_P | PTE_W;

	switch_paging(cr4 | X86_CR4_LA57, (ulong)pml5);
	report("CR4.LA57 set outside IA-32e mode, and back in it",
	       (read_cr4() & X86_CR4_LA57) && (rdmsr(MSR_EFER) & EFER_LMA));
	report("the low 4 GiB through PML5E 0", readl(BUF_PA) == 0x30303030);
	report("a 57-bit address translates through five levels", readb(VA_LO) == 0x30);
	report("the PML5E's accessed flag is set", (pml5[(VA_LO >> 48) & 511] & PTE_A) != 0);
	writel(VA_LO + 8, 0xabcd1234);
	report("a store through a 57-bit address", readl(BUF_PA + 8) == 0xabcd1234);
	report("a negative 57-bit address", readb(VA_HI + 1) == 0x32);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "call *%0\n1:" : : "r"(VA_HI) : FIXUP_CLOBBERS);
	report("code at a 57-bit address runs", ex_vector() == -1);
	pt_b[1] = (BUF_PA + 0x1000) | PTE_P | PTE_W;
	invlpg(VA_LO);
	report("INVLPG of a 57-bit address", readb(VA_LO) == 0x31);

	v = load_fault(VA_LO + 0x10000, &err);
	report("unmapped 57-bit address: #PF(0), CR2",
	       v == PF_VECTOR && err == 0 && ex_last.cr2 == VA_LO + 0x10000);
	v = load_fault(NC_LO, &err);
	report("not canonical at 57 bits (bit 56 set): #GP(0)", v == GP_VECTOR && err == 0);
	v = load_fault(NC_HI, &err);
	report("not canonical at 57 bits (bits 63:57 set, 56 clear): #GP(0)",
	       v == GP_VECTOR && err == 0);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "jmp *%0\n1:" : : "r"(NC_LO) : FIXUP_CLOBBERS);
	report("JMP to a target not canonical at 57 bits: #GP(0) at the JMP",
	       ex_vector() == GP_VECTOR && ex_last.ip != NC_LO);

	u64 fs = rdmsr(MSR_FS_BASE);
	wrmsr(MSR_FS_BASE, VA_LO);
	u8 b;
	asm volatile("movb %%fs:0, %0" : "=r"(b));
	report("FS base at a 57-bit address (WRMSR)", rdmsr(MSR_FS_BASE) == VA_LO && b == 0x31);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "wrmsr\n1:"
		     :
		     : "c"(MSR_FS_BASE), "a"((u32)NC_LO), "d"((u32)(NC_LO >> 32))
		     : FIXUP_CLOBBERS);
	report("WRMSR FS_BASE not canonical at 57 bits: #GP(0)",
	       ex_vector() == GP_VECTOR && rdmsr(MSR_FS_BASE) == VA_LO);
	wrmsr(MSR_FS_BASE, fs);

	ex_reset();
	asm volatile(ASM_FIXUP("1f") "mov %0, %%cr4\n1:" : : "r"(cr4) : FIXUP_CLOBBERS);
	report("MOV CR4 clearing LA57 in IA-32e mode: #GP(0)",
	       ex_vector() == GP_VECTOR && (read_cr4() & X86_CR4_LA57));

	switch_paging(cr4, cr3);
	report("back to 4-level paging",
	       !(read_cr4() & X86_CR4_LA57) && readl(BUF_PA) == 0x30303030);
	v = load_fault(VA_LO, &err);
	report("4-level paging: the 57-bit address is not canonical: #GP(0)", v == GP_VECTOR);
	report_summary();
}
