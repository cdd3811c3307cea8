/* SPDX-License-Identifier: MIT */
/*
 * Exceptions through a real IDT, in 32-bit protected mode (exc32) and 64-bit
 * mode (exc64): vectors, error codes, the saved instruction pointer (faults
 * point at the instruction, traps after it), CR2, DR6, IDT limit and gate
 * checks, a double fault, IST, and faults raised in ring 3 (SDM Vol. 3A,
 * 6.4-6.15).
 */
#include "libtest.h"

#define GDT_NP_DATA 0x48 /* not-present data segment */
#define GDT_NP_CODE 0x50 /* not-present code segment */

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

static void test_de_ud_bp(void)
{
	ulong ip;

	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: divl %1\n1:"
		     : "=&r"(ip)
		     : "r"(0), "a"(1), "d"(0)
		     : FIXUP_CLOBBERS);
	check("#DE: div by 0 faults at the div", DE_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: idivl %1\n1:"
		     : "=&r"(ip)
		     : "r"(-1), "a"(0x80000000u), "d"(0xffffffffu)
		     : FIXUP_CLOBBERS);
	check("#DE: idiv overflow (INT_MIN / -1)", DE_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: divb %1\n1:"
		     : "=&r"(ip)
		     : "q"((u8)0x10), "a"(0x1000)
		     : FIXUP_CLOBBERS);
	check("#DE: 8-bit quotient overflow", DE_VECTOR, 0, ip);

	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: ud2\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("#UD: ud2", UD_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: .byte 0x0f, 0xb9, 0xc0\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("#UD: ud1", UD_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: .byte 0xf0, 0x01, 0xc0\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS, "eax");
	check("#UD: lock prefix on a register destination", UD_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: .byte 0xf0, 0x90\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("#UD: lock nop", UD_VECTOR, 0, ip);
#ifdef __x86_64__
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: .byte 0x06\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("#UD: push es is invalid in 64-bit mode", UD_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: .byte 0xce\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("#UD: into is invalid in 64-bit mode", UD_VECTOR, 0, ip);
#endif

	ex_reset();
	asm volatile(ASM_FIXUP("1f") "int3\n2:\n1:" ASM_LEA("2b", "%0")
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("#BP: int3 is a trap (ip after it)", BP_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") ".byte 0xcd, 0x03\n2:\n1:" ASM_LEA("2b", "%0")
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("int $3 (two-byte form)", BP_VECTOR, 0, ip);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "int $0x40\n2:\n1:" ASM_LEA("2b", "%0")
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("int $0x40: software interrupt, no error code", 0x40, 0, ip);
	/* not tested: int1/icebp (0xf1), which QEMU 7.2 TCG turns into #UD */
#ifndef __x86_64__
	ex_reset();
	asm volatile("movl $0x7fffffff, %%eax; addl $1, %%eax\n\t" ASM_FIXUP(
			 "1f") "into\n2:\n1:" ASM_LEA("2b", "%0")
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS, "eax", "cc");
	check("#OF: into with OF set", OF_VECTOR, 0, ip);
	ex_reset();
	asm volatile("xorl %%eax, %%eax; into" : : : "eax", "cc");
	report("into with OF clear does nothing", ex_vector() == -1);
	static const int bounds[2] = {10, 20};
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: boundl %1, %2\n1:"
		     : "=&r"(ip)
		     : "r"(21), "m"(bounds)
		     : FIXUP_CLOBBERS);
	check("#BR: bound out of range", BR_VECTOR, 0, ip);
	ex_reset();
	asm volatile("boundl %0, %1" : : "r"(15), "m"(bounds));
	report("bound in range does nothing", ex_vector() == -1);
#endif
}

static void load_ds(u16 sel, ulong *ip)
{
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movw %1, %%ds\n1:\n\t"
							 "movw %2, %%ds"
		     : "=&r"(*ip)
		     : "r"(sel), "r"((u16)KERNEL_DS)
		     : FIXUP_CLOBBERS);
}

static void test_gp_np_ss(void)
{
	ulong ip;

	/* not tested: MOV to CR4 with a reserved bit (#GP(0)), which hangs QEMU 7.2 TCG */
	ex_reset();
	load_ds(0x1f8, &ip);
	check("#GP(sel): selector beyond the GDT limit", GP_VECTOR, 0x1f8, ip);
	ex_reset();
	load_ds(TSS_SEL, &ip);
	check("#GP(sel): system descriptor into DS", GP_VECTOR, TSS_SEL, ip);
	ex_reset();
	load_ds(GDT_NP_DATA, &ip);
	check("#NP(sel): not-present data segment", NP_VECTOR, GDT_NP_DATA, ip);
	ex_reset();
	load_ds(GDT_NP_DATA | 4, &ip);
	check("#GP(sel): LDT selector with a null LDT", GP_VECTOR, GDT_NP_DATA | 4, ip);
	ex_reset();
	load_ds(KERNEL_DS, &ip);
	report("valid data selector loads", ex_vector() == -1);

	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movw %1, %%ss\n1:"
		     : "=&r"(ip)
		     : "r"((u16)KERNEL_CS)
		     : FIXUP_CLOBBERS);
	check("#GP(sel): code segment into SS", GP_VECTOR, KERNEL_CS, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movw %1, %%ss\n1:"
		     : "=&r"(ip)
		     : "r"((u16)USER_DS)
		     : FIXUP_CLOBBERS);
	check("#GP(sel): SS with RPL/DPL != CPL", GP_VECTOR, USER_DS & ~3, ip);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movw %1, %%ss\n1:"
		     : "=&r"(ip)
		     : "r"((u16)GDT_NP_DATA)
		     : FIXUP_CLOBBERS);
	check("#SS(sel): not-present stack segment", SS_VECTOR, GDT_NP_DATA, ip);
#ifdef __x86_64__
	u16 ss;
	ex_reset();
	asm volatile("movw %%ss, %0; movw %1, %%ss; movw %0, %%ss" : "=&r"(ss) : "r"((u16)0));
	report("64-bit mode: a null SS loads at CPL 0", ex_vector() == -1);

	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movq (%1), %%rax\n1:"
		     : "=&r"(ip)
		     : "r"(0x8000000000000000ull)
		     : FIXUP_CLOBBERS, "rax");
	check("#GP(0): non-canonical data address", GP_VECTOR, 0, ip);

	/*
	 * IST: #UD with a non-canonical RSP is delivered on the IST 1 stack. (Not tested: a
	 * push to a non-canonical RSP, #SS(0) on hardware; QEMU 7.2 TCG raises #GP there.)
	 */
	set_idt_ist(UD_VECTOR, 1);
	ex_reset();
	asm volatile("mov %%rsp, %%rbx\n\t" ASM_LEA("2f", "%0")
			 ASM_FIXUP("1f") "mov %1, %%rsp\n2: ud2\n1:\n\tmov %%rbx, %%rsp"
		     : "=&r"(ip)
		     : "r"(0x8000000000001000ull)
		     : FIXUP_CLOBBERS, "rbx");
	set_idt_ist(UD_VECTOR, 0);
	check("IST: #UD with a non-canonical RSP", UD_VECTOR, 0, ip);
	report("IST: the frame is on the IST 1 stack",
	       ex_last.frame >= (ulong)ist1_stack && ex_last.frame < (ulong)ist1_stack + 4096);
#else
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movw %1, %%ss\n1:"
		     : "=&r"(ip)
		     : "r"((u16)0)
		     : FIXUP_CLOBBERS);
	check("#GP(0): null SS", GP_VECTOR, 0, ip);
#endif

	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: ltr %w1\n1:"
		     : "=&r"(ip)
		     : "r"(KERNEL_DS)
		     : FIXUP_CLOBBERS);
	check("#GP(sel): ltr of a data segment", GP_VECTOR, KERNEL_DS, ip);

	/* far jump to a not-present code segment */
	static struct {
		u32 off;
		u16 sel;
	} __attribute__((packed)) far = {0, GDT_NP_CODE};
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: ljmpl *%1\n1:"
		     : "=&r"(ip)
		     : "m"(far)
		     : FIXUP_CLOBBERS);
	check("#NP(sel): far jump to a not-present code segment", NP_VECTOR, GDT_NP_CODE, ip);
}

static void test_idt(void)
{
	ulong ip;
#ifdef __x86_64__
	const u16 limit_32_vectors = 32 * 16 - 1;
#else
	const u16 limit_32_vectors = 32 * 8 - 1;
#endif

	load_idt_limit(limit_32_vectors);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: int $0x40\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	load_idt_limit(0xffff);
	check("#GP(vector, IDT): int beyond the IDT limit", GP_VECTOR, 0x40 * 8 + 2, ip);

	set_idt_present(0x41, false);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: int $0x41\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	set_idt_present(0x41, true);
	check("#NP(vector, IDT): not-present gate", NP_VECTOR, 0x41 * 8 + 2, ip);

	/* #GP whose gate is not present: #NP while delivering #GP is a double fault */
	set_idt_present(GP_VECTOR, false);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "movw %0, %%ds\n1:\n\tmovw %1, %%ds"
		     :
		     : "r"((u16)0x1f8), "r"((u16)KERNEL_DS)
		     : FIXUP_CLOBBERS);
	set_idt_present(GP_VECTOR, true);
	int v = ex_vector();
	report("#DF: contributory fault while delivering #GP",
	       v == DF_VECTOR && ex_last.error_code == 0);
}

static volatile u32 watched;

static void test_debug(void)
{
	ulong ip, dr6;

	/* single-step: the trap comes after the instruction that follows popf */
	ex_reset();
	asm volatile("pushf\n\t"
#ifdef __x86_64__
		     "orq $0x100, (%%rsp)\n\t"
#else
		     "orl $0x100, (%%esp)\n\t"
#endif
		     ASM_FIXUP("1f") "popf\n\tnop\n2:\n\tnop\n\tnop\n1:" ASM_LEA("2b", "%0")
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	check("#DB single-step: trap after the next instruction", DB_VECTOR, 0, ip);
	asm volatile("mov %%dr6, %0" : "=r"(dr6));
	report("DR6.BS after single-step", dr6 & 0x4000);
	asm volatile("mov %0, %%dr6" : : "r"(0xffff0ff0ul));

	/* instruction breakpoint: a fault before the instruction runs */
	u32 n = 0;
	ex_reset();
	asm volatile(
	    ASM_LEA("2f", "%0") "mov %0, %%dr0\n\t"
				"mov %2, %%dr7\n\t" ASM_FIXUP("1f") "nop\n2: incl %1\n1:\n\t"
								    "mov %3, %%dr7"
	    : "=&r"(ip), "+r"(n)
	    : "r"(0x1ul), "r"(0x0ul)
	    : FIXUP_CLOBBERS);
	check("#DB: instruction breakpoint (DR0) faults before it", DB_VECTOR, 0, ip);
	asm volatile("mov %%dr6, %0" : "=r"(dr6));
	report("DR6.B0 after the breakpoint; the instruction did not run", (dr6 & 1) && n == 0);
	asm volatile("mov %0, %%dr6" : : "r"(0xffff0ff0ul));

	/* data breakpoint: write, 4 bytes, on DR1: a trap after the write */
	ex_reset();
	ulong dr7 = (1ul << 2) | (1ul << 20) | (3ul << 22); /* L1, R/W1 = write, LEN1 = 4 */
	asm volatile("mov %2, %%dr1\n\tmov %3, %%dr7\n\t" ASM_FIXUP(
			 "1f") "movl $0x55, %1\n2:\n\tnop\n1:" ASM_LEA("2b", "%0") "mov %4, %%dr7"
		     : "=&r"(ip), "=m"(watched)
		     : "r"(&watched), "r"(dr7), "r"(0ul)
		     : FIXUP_CLOBBERS);
	check("#DB: data write breakpoint (DR1) traps after the write", DB_VECTOR, 0, ip);
	asm volatile("mov %%dr6, %0" : "=r"(dr6));
	report("DR6.B1 after the data breakpoint; the write happened",
	       (dr6 & 2) && watched == 0x55);
	asm volatile("mov %0, %%dr6" : : "r"(0xffff0ff0ul));
}

static void test_fpu_nm(void)
{
	ulong cr0 = read_cr0(), ip;

	write_cr0(cr0 | (1ul << 2)); /* EM */
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: fninit\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	write_cr0(cr0);
	check("#NM: x87 instruction with CR0.EM", NM_VECTOR, 0, ip);
	write_cr0(cr0 | (1ul << 1) | X86_CR0_TS); /* MP, TS */
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: fwait\n1:"
		     : "=&r"(ip)
		     :
		     : FIXUP_CLOBBERS);
	asm volatile("clts");
	write_cr0(cr0);
	check("#NM: wait with CR0.MP and CR0.TS", NM_VECTOR, 0, ip);
	report("clts clears CR0.TS", !(read_cr0() & X86_CR0_TS));
}

#ifdef __x86_64__
#define PF_VA 0x40000000ul /* PD[1][0]: a 2 MiB page the tests remap */
#define PF_PA 0x400000ul

static void set_pf_page(u64 pte)
{
	pd[1][0] = pte;
	invlpg(PF_VA);
}

static void test_pf(void)
{
	ulong ip;
	u64 saved = pd[1][0];
	ulong cr0 = read_cr0();

	set_pf_page(0);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movl (%1), %%eax\n1:"
		     : "=&r"(ip)
		     : "r"(PF_VA + 0x123)
		     : FIXUP_CLOBBERS, "eax");
	check("#PF: read of a not-present page, error code 0", PF_VECTOR, 0, ip);
	report("#PF: CR2 holds the faulting address", ex_last.cr2 == PF_VA + 0x123);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movl $1, (%1)\n1:"
		     : "=&r"(ip)
		     : "r"(PF_VA + 0x1000)
		     : FIXUP_CLOBBERS);
	check("#PF: write to a not-present page, error code 2", PF_VECTOR, 2, ip);
	report("#PF: CR2 for the write", ex_last.cr2 == PF_VA + 0x1000);

	set_pf_page(PF_PA | PTE_P | PTE_PS);
	write_cr0(cr0 | X86_CR0_WP);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movl $1, (%1)\n1:"
		     : "=&r"(ip)
		     : "r"(PF_VA + 8)
		     : FIXUP_CLOBBERS);
	check("#PF: write to a read-only page with CR0.WP, error code 3", PF_VECTOR, 3, ip);
	write_cr0(cr0 & ~X86_CR0_WP);
	ex_reset();
	writel(PF_VA + 8, 0xabcd);
	report("CR0.WP clear: ring 0 writes a read-only page",
	       ex_vector() == -1 && readl(PF_PA + 8) == 0xabcd);
	write_cr0(cr0);

	/* reserved bit: the NX bit with EFER.NXE clear */
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NXE);
	set_pf_page(PF_PA | PTE_P | PTE_W | PTE_PS | PTE_NX);
	ex_reset();
	asm volatile(ASM_LEA("2f", "%0") ASM_FIXUP("1f") "2: movl (%1), %%eax\n1:"
		     : "=&r"(ip)
		     : "r"(PF_VA)
		     : FIXUP_CLOBBERS, "eax");
	check("#PF: reserved bit (XD without EFER.NXE), error code 9", PF_VECTOR, 9, ip);

	/* NX: an instruction fetch from a no-execute page */
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
	*(volatile u8 *)(PF_PA + 0x40) = 0xc3; /* ret */
	set_pf_page(PF_PA | PTE_P | PTE_W | PTE_PS | PTE_NX);
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "jmp *%0\n1:" : : "r"(PF_VA + 0x40) : FIXUP_CLOBBERS);
	int v = ex_vector();
	report("#PF: fetch from an NX page, error code 0x11, ip = CR2 = target",
	       v == PF_VECTOR && ex_last.error_code == 0x11 && ex_last.ip == PF_VA + 0x40 &&
		   ex_last.cr2 == PF_VA + 0x40);
	set_pf_page(PF_PA | PTE_P | PTE_W | PTE_PS);
	ulong r;
	asm volatile("call *%1; mov $7, %0" : "=r"(r) : "r"(PF_VA + 0x40) : "memory");
	report("the same page without NX executes", r == 7);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NXE);
	pd[1][0] = saved;
	invlpg(PF_VA);
}
#endif

/* ---- ring 3 ---- */

static volatile int user_vec[8];
static volatile ulong user_err[8];
static volatile ulong user_cs;

static void user_code(void)
{
	ulong cs;

	asm volatile("mov %%cs, %0" : "=r"(cs));
	user_cs = cs;
#define USER_TRY(k, insn)                                                                          \
	do {                                                                                       \
		ex_reset();                                                                        \
		asm volatile(ASM_FIXUP("1f") insn "\n1:" : : : FIXUP_CLOBBERS);                    \
		user_vec[k] = ex_vector();                                                         \
		user_err[k] = ex_last.error_code;                                                  \
	} while (0)
	USER_TRY(0, "hlt");
	USER_TRY(1, "cli");
	USER_TRY(2, "inb $0x80, %%al");
	USER_TRY(3, "int $0x40");
#ifdef __x86_64__
	USER_TRY(4, "mov %%cr0, %%rax");
#else
	USER_TRY(4, "mov %%cr0, %%eax");
#endif
#ifdef __x86_64__
	USER_TRY(5, "movl 0x40000000, %%eax");
	USER_TRY(6, "movl $1, 0x40000000");
#endif
	USER_TRY(7, "int3");
#undef USER_TRY
}

static void test_user(void)
{
	ulong frame_lo = (ulong)ring0_stack, frame_hi = frame_lo + sizeof(ring0_stack);

#ifdef __x86_64__
	u64 saved = pd[1][0];
	paging_allow_user();
	/* a supervisor-only page for the user-mode #PF checks */
	pd[1][0] = PF_PA | PTE_P | PTE_W | PTE_PS;
	invlpg(PF_VA);
#endif
	set_idt_dpl(BP_VECTOR, 3);
	for (int k = 0; k < 8; k++)
		user_vec[k] = -2;
	run_user(user_code);
	set_idt_dpl(BP_VECTOR, 0);
	report("ring 3: entered through iret, back through a DPL-3 gate",
	       (user_cs & 3) == 3 && (user_return_cs & 3) == 3);
	report("interrupt from ring 3: SS:SP pushed, handler on the TSS stack",
	       (user_return_ss & 3) == 3 && user_return_frame > frame_lo &&
		   user_return_frame < frame_hi);
	reportf(user_vec[0] == GP_VECTOR && user_err[0] == 0, "ring 3: hlt -> #GP(0)");
	reportf(user_vec[1] == GP_VECTOR && user_err[1] == 0, "ring 3: cli with IOPL 0 -> #GP(0)");
	reportf(user_vec[2] == GP_VECTOR && user_err[2] == 0,
		"ring 3: in with IOPL 0 and no I/O bitmap -> #GP(0)");
	reportf(user_vec[3] == GP_VECTOR && user_err[3] == 0x40 * 8 + 2,
		"ring 3: int to a DPL-0 gate -> #GP(vector, IDT)");
	reportf(user_vec[4] == GP_VECTOR && user_err[4] == 0, "ring 3: mov from CR0 -> #GP(0)");
#ifdef __x86_64__
	reportf(user_vec[5] == PF_VECTOR && user_err[5] == 5,
		"ring 3: read of a supervisor page -> #PF(5)");
	reportf(user_vec[6] == PF_VECTOR && user_err[6] == 7,
		"ring 3: write of a supervisor page -> #PF(7)");
	pd[1][0] = saved;
	invlpg(PF_VA);
#endif
	reportf(user_vec[7] == BP_VECTOR, "ring 3: int3 through a DPL-3 gate");
}

int main(void)
{
	/* descriptors for the segment checks */
	gdt[GDT_NP_DATA >> 3] = 0x00cf13000000ffffull; /* data, writable, P = 0 */
	gdt[GDT_NP_CODE >> 3] = 0x00cf1b000000ffffull; /* code, P = 0 */
#ifdef __x86_64__
	gdt[GDT_NP_CODE >> 3] = 0x00af1b000000ffffull;
#endif
	test_de_ud_bp();
	test_gp_np_ss();
	test_idt();
	test_debug();
	test_fpu_nm();
#ifdef __x86_64__
	test_pf();
#endif
	test_user();
	report_summary();
}
