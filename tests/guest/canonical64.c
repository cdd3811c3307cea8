/* SPDX-License-Identifier: MIT */
/*
 * Canonical addresses in 64-bit mode (SDM Vol. 1, 3.3.7.1; Vol. 3A, 6.15):
 * instruction fetch running off the top of the lower canonical half (the
 * instruction before completes, the fetch at 0x800000000000 raises #GP(0)
 * with RIP there, as kvm-unit-tests' hypercall test checks with VMCALL),
 * an instruction straddling into the non-canonical range, data accesses by
 * an instruction that ends there.
 */
#include "libtest.h"

#define TOP_PAGE 0x7ffffffff000ul /* the last page of the lower half */
#define NONCANON 0x800000000000ul

static u64 pdpt_hi[512] aligned(4096), pd_hi[512] aligned(4096), pt_hi[512] aligned(4096);
static u8 top[4096] aligned(4096); /* mapped at TOP_PAGE */
static bool on_softkvm;

static void check(const char *name, int vector, ulong err, ulong ip)
{
	int v = ex_vector();
	bool ok =
	    v == vector && ex_last.error_code == err && ex_last.ip == ip && ex_last.count == 1;

	if (!ok)
		info("%s: vector %d error %#lx ip %#lx count %d; expected %d %#lx %#lx", name, v,
		     (ulong)ex_last.error_code, (ulong)ex_last.ip, ex_last.count, vector, err, ip);
	report(name, ok);
}

static void map_top(void)
{
	pml4[255] = (ulong)pdpt_hi | PTE_P | PTE_W;
	pdpt_hi[511] = (ulong)pd_hi | PTE_P | PTE_W;
	pd_hi[511] = (ulong)pt_hi | PTE_P | PTE_W;
	pt_hi[511] = (ulong)top | PTE_P | PTE_W;
	write_cr3(read_cr3());
}

/* put code at the end of the top page (through its identity-mapped alias) */
static ulong code_at_end(const u8 *bytes, unsigned n)
{
	memset(top, 0xcc, sizeof(top));
	memcpy(top + 4096 - n, bytes, n);
	return TOP_PAGE + 4096 - n;
}

static void test_fetch_edge(void)
{
	static const u8 nop3[] = {0x0f, 0x1f, 0x00};	       /* nopl (%rax) */
	static const u8 load3[] = {0x48, 0x8b, 0x00};	       /* mov (%rax), %rax */
	static const u8 load_rbp[] = {0x48, 0x8b, 0x45, 0x00}; /* mov 0(%rbp), %rax */
	static const u8 vmcall[] = {0x0f, 0x01, 0xc1};
	ulong a, rax;

	a = code_at_end(nop3, 3);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "jmp *%0\n1:" : : "r"(a) : FIXUP_CLOBBERS);
	check("a NOP ending at the top of the lower half runs, the next fetch #GP(0) there",
	      GP_VECTOR, 0, NONCANON);

	/* the same three bytes one byte later: the last one is non-canonical */
	memset(top, 0xcc, sizeof(top));
	memcpy(top + 4094, nop3, 2);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "jmp *%0\n1:" : : "r"(TOP_PAGE + 4094) : FIXUP_CLOBBERS);
	check("an instruction straddling into the non-canonical range: #GP(0) at it", GP_VECTOR, 0,
	      TOP_PAGE + 4094);

	/* a non-canonical data address from an instruction that ends at the top */
	a = code_at_end(load3, 3);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "jmp *%1\n1:"
		     : "=a"(rax)
		     : "r"(a), "a"(0x8000000000000000ul)
		     : FIXUP_CLOBBERS);
	check("a non-canonical load by an instruction ending at the top: #GP(0)", GP_VECTOR, 0, a);

	/* the same through RBP: a stack reference, #SS(0) */
	a = code_at_end(load_rbp, 4);
	ex_reset();
	asm volatile("mov %%rbp, %%rbx\n\t"
		     "mov %2, %%rbp\n\t" ASM_FIXUP("1f") "jmp *%1\n1:\n\t"
							 "mov %%rbx, %%rbp"
		     : "=a"(rax)
		     : "r"(a), "r"(0x8000000000000000ul)
		     : FIXUP_CLOBBERS, "rbx");
	check("a non-canonical RBP-based load ending at the top: #SS(0)", SS_VECTOR, 0, a);

	/* softkvm only (QEMU TCG has no KVM hypercalls: VMCALL is #UD there) */
	if (!on_softkvm) {
		report_skip("VMCALL at the top of the lower half: -KVM_ENOSYS, then #GP(0) there");
		report_skip("VMCALL at the top: RAX = -KVM_ENOSYS (-1000)");
		return;
	}
	a = code_at_end(vmcall, 3);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "jmp *%1\n1:"
		     : "=a"(rax)
		     : "r"(a), "a"(-1ul), "b"(0ul), "c"(0ul), "d"(0ul)
		     : FIXUP_CLOBBERS, "rsi");
	check("VMCALL at the top of the lower half: -KVM_ENOSYS, then #GP(0) there", GP_VECTOR, 0,
	      NONCANON);
	report("VMCALL at the top: RAX = -KVM_ENOSYS (-1000)", rax == (ulong)-1000);
}

int main(void)
{
	on_softkvm = cmdline_ulong("softkvm", 0) != 0;
	map_top();
	test_fetch_edge();
	report_summary();
}
