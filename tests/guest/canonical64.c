/* SPDX-License-Identifier: MIT */
/*
 * Canonical addresses in 64-bit mode (SDM Vol. 1, 3.3.7.1; Vol. 3A, 6.15):
 * instruction fetch running off the top of the lower canonical half (the
 * instruction before completes, the fetch at 0x800000000000 raises #GP(0)
 * with RIP there, as kvm-unit-tests' hypercall test checks with VMCALL),
 * an instruction straddling into the non-canonical range, data accesses by
 * an instruction that ends there; and every way to load a non-canonical base
 * or target, which faults and changes nothing: LGDT/LIDT (#GP(0)), LTR/LLDT
 * of a 16-byte descriptor (#GP(selector), the TSS not marked busy), WRMSR of
 * the base and entry-point MSRs, WRFSBASE/WRGSBASE (#GP(0)), far JMP/CALL
 * m16:64, far RET, IRET, a 64-bit call gate and an interrupt gate with a
 * non-canonical target (#GP(0)). Finally, the GDT and IDT at addresses above
 * 4 GiB serve compatibility mode, whose own addresses wrap at 4 GiB (system
 * structures have 64-bit bases in all of IA-32e mode, SDM Vol. 3A, 2.1.1.1),
 * and compatibility-mode code at the top of 4 GiB: EIP wraps to 0 after an
 * instruction that ends there; one that straddles it exceeds the CS limit.
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

#define BAD 0x8000000000001000ul /* bit 47 clear, bits 63:48 not all equal */

struct dtr {
	u16 limit;
	u64 base;
} __attribute__((packed));

static void test_lgdt_lidt(void)
{
	struct dtr cur, bad, after;
	ulong ip;

	asm volatile("sgdt %0" : "=m"(cur));
	bad = cur;
	bad.base = BAD;
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: lgdt %1\n1:"
		     : "=&r"(ip)
		     : "m"(bad)
		     : FIXUP_CLOBBERS);
	asm volatile("sgdt %0" : "=m"(after));
	asm volatile("lgdt %0" : : "m"(cur));
	check("LGDT with a non-canonical base: #GP(0)", GP_VECTOR, 0, ip);
	report("LGDT with a non-canonical base: GDTR unchanged", after.base == cur.base);

	asm volatile("sidt %0" : "=m"(cur));
	bad = cur;
	bad.base = BAD;
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: lidt %1\n1:"
		     : "=&r"(ip)
		     : "m"(bad)
		     : FIXUP_CLOBBERS);
	asm volatile("sidt %0" : "=m"(after));
	asm volatile("lidt %0" : : "m"(cur));
	check("LIDT with a non-canonical base: #GP(0)", GP_VECTOR, 0, ip);
	report("LIDT with a non-canonical base: IDTR unchanged", after.base == cur.base);
}

/* a 16-byte system descriptor at sel with base bits 63:32 = 0x00008000 */
static u8 sysseg[256] aligned(16);
static void set_sys_desc(u16 sel, unsigned type, u32 high)
{
	ulong base = (ulong)sysseg, limit = sizeof(sysseg) - 1;
	gdt[sel >> 3] = (limit & 0xffff) | ((base & 0xffffff) << 16) | ((u64)(0x80 | type) << 40) |
			(((base >> 24) & 0xff) << 56);
	gdt[(sel >> 3) + 1] = high;
}

static void test_ltr_lldt(void)
{
	const u16 sel = GDT_FREE;
	u16 tr, ldtr;
	ulong ip;

	set_sys_desc(sel, 9, 0x8000); /* available 64-bit TSS */
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: ltr %w1\n1:"
		     : "=&r"(ip)
		     : "r"(sel)
		     : FIXUP_CLOBBERS);
	asm volatile("str %0" : "=r"(tr));
	if (tr != TSS_SEL) { /* it was loaded: go back to ours */
		gdt[TSS_SEL >> 3] &= ~(2ull << 40);
		asm volatile("ltr %w0" : : "r"((u16)TSS_SEL));
	}
	check("LTR of a TSS with a non-canonical base: #GP(selector)", GP_VECTOR, sel, ip);
	report("LTR of a TSS with a non-canonical base: TR unchanged, TSS not made busy",
	       tr == TSS_SEL && ((gdt[sel >> 3] >> 40) & 0xf) == 9);

	set_sys_desc(sel, 9, 0);      /* the same TSS with a canonical base loads */
	set_sys_desc(sel, 2, 0x8000); /* LDT */
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: lldt %w1\n1:"
		     : "=&r"(ip)
		     : "r"(sel)
		     : FIXUP_CLOBBERS);
	asm volatile("sldt %0" : "=r"(ldtr));
	if (ldtr)
		asm volatile("lldt %w0" : : "r"((u16)0));
	check("LLDT of an LDT with a non-canonical base: #GP(selector)", GP_VECTOR, sel, ip);
	report("LLDT of an LDT with a non-canonical base: LDTR unchanged", ldtr == 0);
	gdt[sel >> 3] = gdt[(sel >> 3) + 1] = 0;
}

static void test_msrs(void)
{
	static const struct {
		u32 index;
		const char *name;
	} msrs[] = {
	    {0xc0000100, "WRMSR FS_BASE non-canonical: #GP(0), unchanged"},
	    {0xc0000101, "WRMSR GS_BASE non-canonical: #GP(0), unchanged"},
	    {0xc0000102, "WRMSR KERNEL_GS_BASE non-canonical: #GP(0), unchanged"},
	    {0xc0000082, "WRMSR LSTAR non-canonical: #GP(0), unchanged"},
	    {0xc0000083, "WRMSR CSTAR non-canonical: #GP(0), unchanged"},
	    {0x175, "WRMSR SYSENTER_ESP non-canonical: #GP(0), unchanged"},
	    {0x176, "WRMSR SYSENTER_EIP non-canonical: #GP(0), unchanged"},
	};
	for (unsigned k = 0; k < ARRAY_SIZE(msrs); k++) {
		u64 old = rdmsr(msrs[k].index);
		ex_reset();
		asm volatile(ASM_FIXUP("1f") "wrmsr\n1:"
			     :
			     : "c"(msrs[k].index), "a"((u32)BAD), "d"((u32)(BAD >> 32))
			     : FIXUP_CLOBBERS);
		int v = ex_vector();
		u64 now = rdmsr(msrs[k].index);
		if (now != old)
			wrmsr(msrs[k].index, old);
		report(msrs[k].name, v == GP_VECTOR && ex_last.error_code == 0 && now == old);
	}
}

static void test_fsgsbase(void)
{
	u32 c[4];
	ulong ip, fs, gs;

	cpuid2(7, 0, c);
	if (!(c[1] & 1)) {
		report_skip("WRFSBASE non-canonical: #GP(0), unchanged");
		report_skip("WRGSBASE non-canonical: #GP(0), unchanged");
		return;
	}
	write_cr4(read_cr4() | (1ul << 16));
	fs = rdmsr(0xc0000100);
	gs = rdmsr(0xc0000101);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: wrfsbase %1\n1:"
		     : "=&r"(ip)
		     : "r"(BAD)
		     : FIXUP_CLOBBERS);
	check("WRFSBASE non-canonical: #GP(0)", GP_VECTOR, 0, ip);
	report("WRFSBASE non-canonical: #GP(0), unchanged", rdmsr(0xc0000100) == fs);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: wrgsbase %1\n1:"
		     : "=&r"(ip)
		     : "r"(BAD)
		     : FIXUP_CLOBBERS);
	check("WRGSBASE non-canonical: #GP(0)", GP_VECTOR, 0, ip);
	report("WRGSBASE non-canonical: #GP(0), unchanged", rdmsr(0xc0000101) == gs);
	wrmsr(0xc0000100, fs);
	wrmsr(0xc0000101, gs);
	write_cr4(read_cr4() & ~(1ul << 16));
}

static void test_far_targets(void)
{
	static struct {
		u64 off;
		u16 sel;
	} __attribute__((packed)) far;
	ulong ip;

	far.off = BAD;
	far.sel = KERNEL_CS;
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: rex64 ljmp *%1\n1:"
		     : "=&r"(ip)
		     : "m"(far)
		     : FIXUP_CLOBBERS);
	check("far JMP m16:64 to a non-canonical offset: #GP(0)", GP_VECTOR, 0, ip);
	ex_reset();
	asm volatile("mov %%rsp, %%rbx\n\t" ASM_LEA("2f", "%0")
			 ASM_FIXUP("1f") "2: rex64 lcall *%1\n1:\n\t"
					 "mov %%rbx, %%rsp"
		     : "=&r"(ip)
		     : "m"(far)
		     : FIXUP_CLOBBERS, "rbx");
	check("far CALL m16:64 to a non-canonical offset: #GP(0)", GP_VECTOR, 0, ip);

	ex_reset();
	asm volatile("mov %%rsp, %%rbx\n\t"
		     "pushq %2\n\t"
		     "pushq %3\n\t" ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: lretq\n1:\n\t"
									"mov %%rbx, %%rsp"
		     : "=&r"(ip)
		     : "i"(KERNEL_CS), "i"(KERNEL_CS), "r"(BAD)
		     : FIXUP_CLOBBERS, "rbx");
	check("far RET to a non-canonical RIP: #GP(0)", GP_VECTOR, 0, ip);

	ex_reset();
	asm volatile("mov %%rsp, %%rbx\n\t"
		     "mov %%ss, %%eax\n\t"
		     "pushq %%rax\n\t"
		     "pushq %%rbx\n\t"
		     "pushfq\n\t"
		     "pushq %2\n\t"
		     "pushq %3\n\t" ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: iretq\n1:\n\t"
									"mov %%rbx, %%rsp"
		     : "=&r"(ip)
		     : "i"(KERNEL_CS), "i"(KERNEL_CS), "r"(BAD)
		     : FIXUP_CLOBBERS, "rbx", "rax");
	check("IRET to a non-canonical RIP: #GP(0)", GP_VECTOR, 0, ip);

	/* a 64-bit call gate whose target is non-canonical */
	const u16 gsel = GDT_FREE + 16;
	gdt[gsel >> 3] = ((u64)KERNEL_CS << 16) | (0x8cull << 40);
	gdt[(gsel >> 3) + 1] = 0x8000;
	far.off = 0;
	far.sel = gsel;
	ex_reset();
	asm volatile("mov %%rsp, %%rbx\n\t" ASM_LEA("2f", "%0")
			 ASM_FIXUP("1f") "2: lcall *%1\n1:\n\t"
					 "mov %%rbx, %%rsp"
		     : "=&r"(ip)
		     : "m"(far)
		     : FIXUP_CLOBBERS, "rbx");
	gdt[gsel >> 3] = gdt[(gsel >> 3) + 1] = 0;
	check("far CALL through a call gate with a non-canonical target: #GP(0)", GP_VECTOR, 0, ip);
}

static void test_idt_gate(void)
{
	struct dtr idtr;
	ulong ip;

	asm volatile("sidt %0" : "=m"(idtr));
	volatile u32 *gate = (volatile u32 *)(idtr.base + 0x90 * 16);
	u32 saved = gate[2];
	gate[2] = 0x8000; /* offset bits 63:32 */
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: int $0x90\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	gate[2] = saved;
	check("INT n through a gate with a non-canonical offset: #GP(0)", GP_VECTOR, 0, ip);
}

/* the first 8 MiB again at HIGH (PML4[511], PDPT[1]): its low 32 bits differ
 * from the physical addresses, so a truncated address reads elsewhere */
#define HIGH 0xffffff8040000000ul
static u64 pdpt_k[512] aligned(4096), pd_k[512] aligned(4096);

static void test_compat_high_tables(void)
{
	struct dtr gdtr, idtr, hg, hi;

	pml4[511] = (ulong)pdpt_k | PTE_P | PTE_W;
	pdpt_k[1] = (ulong)pd_k | PTE_P | PTE_W;
	for (int k = 0; k < 4; k++)
		pd_k[k] = ((ulong)k << 21) | PTE_P | PTE_W | PTE_PS;
	write_cr3(read_cr3());
	asm volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(idtr));
	hg = gdtr;
	hg.base = HIGH + gdtr.base;
	hi = idtr;
	hi.base = HIGH + idtr.base;
	asm volatile("lgdt %0; lidt %1" : : "m"(hg), "m"(hi));

	/* compatibility mode: load DS (a GDT read), then #UD (an IDT read) */
	ex_reset();
	asm volatile("leaq 2f(%%rip), %%r11\n\t"
		     "movq %%r11, ex_fixup(%%rip)\n\t"
		     "pushq %0\n\t"
		     "leaq 1f(%%rip), %%rax\n\t"
		     "pushq %%rax\n\t"
		     "lretq\n\t"
		     ".code32\n"
		     "1:\tmovl %1, %%eax\n\t"
		     "movl %%eax, %%ds\n\t"
		     "ud2\n"
		     "2:\tljmp %2, $3f\n\t"
		     ".code64\n"
		     "3:"
		     :
		     : "i"(KERNEL_CS32), "i"(KERNEL_DS), "i"(KERNEL_CS)
		     : "rax", "r11", "memory");
	int v = ex_vector();
	asm volatile("lgdt %0; lidt %1" : : "m"(gdtr), "m"(idtr));
	pml4[511] = 0;
	write_cr3(read_cr3());
	report("compatibility mode: GDT and IDT above 4 GiB serve a segment load and #UD",
	       v == UD_VECTOR && ex_last.count == 1);
}

/*
 * Compatibility mode at the top of the 4 GiB: after an instruction that ends
 * at 0xffffffff, EIP wraps and execution goes on at 0; an instruction that
 * straddles 4 GiB exceeds the CS limit: #GP(0) at it (SDM Vol. 3A, 5.3; the
 * host's own KVM on an AMD processor behaves so).
 */
static u64 pt_x[512] aligned(4096);
static u8 last_page[4096] aligned(4096);

/* run compatibility-mode code at eip; the exception it raises in ex_last */
static int run_compat_at(ulong eip)
{
	ex_reset();
	asm volatile("leaq 2f(%%rip), %%r11\n\t"
		     "movq %%r11, ex_fixup(%%rip)\n\t"
		     "pushq %1\n\t"
		     "pushq %0\n\t"
		     "lretq\n\t"
		     ".code32\n"
		     "2:\tljmp %2, $3f\n\t"
		     ".code64\n"
		     "3:"
		     :
		     : "r"(eip), "i"(KERNEL_CS32), "i"(KERNEL_CS)
		     : "r11", "memory");
	return ex_vector();
}

static void test_compat_wrap(void)
{
	u64 saved = pd[3][511];
	volatile u8 *low;
	u8 save0[4];
	int v;

	asm("xor %k0, %k0" : "=r"(low)); /* address 0, out of the compiler's sight */
	for (int k = 0; k < 512; k++)
		pt_x[k] = (0xffe00000ul + ((ulong)k << 12)) | PTE_P | PTE_W;
	pt_x[511] = (ulong)last_page | PTE_P | PTE_W;
	pd[3][511] = (ulong)pt_x | PTE_P | PTE_W;
	write_cr3(read_cr3());
	for (int k = 0; k < 4; k++)
		save0[k] = low[k];

	memset(last_page, 0xcc, sizeof(last_page));
	last_page[4095] = 0x90; /* nop at 0xffffffff, ud2 at 0 */
	low[0] = 0x0f;
	low[1] = 0x0b;
	v = run_compat_at(0xffffffff);
	reportf(v == UD_VECTOR && ex_last.ip == 0,
		"compatibility mode: after an instruction ending at 4 GiB, EIP wraps to 0");
	if (v != UD_VECTOR || ex_last.ip != 0)
		info("EIP wrap: vector %d at %#lx", v, (ulong)ex_last.ip);

	last_page[4094] = 0x0f; /* nopl (%eax): 0f 1f below 4 GiB, 00 at 0 */
	last_page[4095] = 0x1f;
	low[0] = 0x00;
	v = run_compat_at(0xfffffffe);
	reportf(v == GP_VECTOR && ex_last.ip == 0xfffffffe && ex_last.error_code == 0,
		"compatibility mode: an instruction straddling 4 GiB: #GP(0) at it");
	if (v != GP_VECTOR || ex_last.ip != 0xfffffffe)
		info("straddling 4 GiB: vector %d at %#lx, error %#lx", v, (ulong)ex_last.ip,
		     (ulong)ex_last.error_code);

	for (int k = 0; k < 4; k++)
		low[k] = save0[k];
	pd[3][511] = saved;
	write_cr3(read_cr3());
}

int main(void)
{
	on_softkvm = cmdline_ulong("softkvm", 0) != 0;
	map_top();
	test_fetch_edge();
	test_lgdt_lidt();
	test_ltr_lldt();
	test_msrs();
	test_fsgsbase();
	test_far_targets();
	test_idt_gate();
	test_compat_high_tables();
	test_compat_wrap();
	report_summary();
}
