/* SPDX-License-Identifier: MIT */
/*
 * System instructions and MSRs in 64-bit mode: EFER, FS/GS base MSRs and
 * SWAPGS, the TSC MSR, PAT, APIC base, TSC_AUX with RDTSCP, SYSCALL/SYSRET
 * to ring 3 and back, SGDT/SIDT/STR/SLDT, LAR/LSL/VERR/VERW, CR8, debug
 * registers, and the cache-control instructions.
 */
#include "libtest.h"

#define MSR_IA32_TSC	   0x10
#define MSR_IA32_APICBASE  0x1b
#define MSR_IA32_PAT	   0x277
#define MSR_STAR	   0xc0000081
#define MSR_LSTAR	   0xc0000082
#define MSR_SFMASK	   0xc0000084
#define MSR_FS_BASE	   0xc0000100
#define MSR_GS_BASE	   0xc0000101
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_TSC_AUX	   0xc0000103

static u64 fs_area[4] = {0x1111, 0x2222, 0x3333, 0x4444};
static u64 gs_area[4] = {0xaaaa, 0xbbbb, 0xcccc, 0xdddd};

/* SYSCALL lands here: save what the processor put in RCX/R11, go back by jump */
volatile u64 sc_rcx, sc_r11, sc_rflags, sc_cs, sc_ss, sc_count;
volatile u64 sys_kernel_rsp;
void syscall_entry(void);
void syscall_from_user_entry(void);
void sysret_to_user(u64 rip, u64 rsp);
asm(".text\n"
    "syscall_entry:\n\t"
    "movq %rcx, sc_rcx(%rip)\n\t"
    "movq %r11, sc_r11(%rip)\n\t"
    "pushfq\n\t"
    "popq sc_rflags(%rip)\n\t"
    "movq %cs, %rax\n\t"
    "movq %rax, sc_cs(%rip)\n\t"
    "movq %ss, %rax\n\t"
    "movq %rax, sc_ss(%rip)\n\t"
    "incq sc_count(%rip)\n\t"
    "jmp *%rcx\n"
    /* from ring 3: record, then return to the kernel stack and caller of sysret_to_user */
    "syscall_from_user_entry:\n\t"
    "movq %rcx, sc_rcx(%rip)\n\t"
    "movq %r11, sc_r11(%rip)\n\t"
    "movq %cs, %rax\n\t"
    "movq %rax, sc_cs(%rip)\n\t"
    "movq %ss, %rax\n\t"
    "movq %rax, sc_ss(%rip)\n\t"
    "incq sc_count(%rip)\n\t"
    "movq sys_kernel_rsp(%rip), %rsp\n\t"
    "popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n\t"
    "ret\n"
    /* sysret_to_user(rip, rsp): saves callee-saved registers, SYSRETQ to ring 3 */
    "sysret_to_user:\n\t"
    "pushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n\t"
    "movq %rsp, sys_kernel_rsp(%rip)\n\t"
    "movq %rdi, %rcx\n\t"
    "movq %rsi, %rsp\n\t"
    "movq $0xc3, %r11\n\t" /* SF ZF CF, IF clear: no timer interrupts in ring 3 */
    "sysretq\n");

volatile u64 user_cs_seen, user_flags_seen;
void user_sys(void);
asm(".text\n"
    "user_sys:\n\t"
    "movq %cs, %rax\n\t"
    "movq %rax, user_cs_seen(%rip)\n\t"
    "pushfq\n\t"
    "popq user_flags_seen(%rip)\n\t"
    "syscall\n\t"
    "ud2\n");

static u8 user_stack2[4096] aligned(16);

static void test_msrs(void)
{
	u64 efer = rdmsr(MSR_EFER);
	report("EFER: LME and LMA set in long mode",
	       (efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA));
	wrmsr(MSR_EFER, efer | EFER_SCE);
	report("EFER.SCE writable", rdmsr(MSR_EFER) & EFER_SCE);

	wrmsr(MSR_FS_BASE, (ulong)fs_area);
	wrmsr(MSR_GS_BASE, (ulong)gs_area);
	u64 f, g;
	asm volatile("movq %%fs:8, %0; movq %%gs:16, %1" : "=r"(f), "=r"(g));
	report("FS_BASE/GS_BASE MSRs set the segment bases", f == 0x2222 && g == 0xcccc);
	wrmsr(MSR_KERNEL_GS_BASE, (ulong)fs_area);
	asm volatile("swapgs; movq %%gs:0, %0; swapgs" : "=r"(g));
	report("swapgs exchanges GS base and KERNEL_GS_BASE",
	       g == 0x1111 && rdmsr(MSR_GS_BASE) == (ulong)gs_area &&
		   rdmsr(MSR_KERNEL_GS_BASE) == (ulong)fs_area);
	u16 sel = KERNEL_DS;
	asm volatile("movw %0, %%fs" : : "r"(sel));
	/* loading FS with a selector in 64-bit mode loads its (zero) base */
	report("loading FS resets its base from the descriptor", rdmsr(MSR_FS_BASE) == 0);

	u32 c[4];
	cpuid2(7, 0, c);
	if (c[1] & 1) { /* FSGSBASE */
		write_cr4(read_cr4() | (1ul << 16));
		u64 v;
		asm volatile("wrfsbase %1; rdfsbase %0" : "=r"(v) : "r"((ulong)gs_area));
		asm volatile("movq %%fs:24, %0" : "=r"(f));
		report("wrfsbase/rdfsbase", v == (ulong)gs_area && f == 0xdddd);
		write_cr4(read_cr4() & ~(1ul << 16));
	} else {
		report_skip("wrfsbase/rdfsbase");
	}

	wrmsr(MSR_IA32_TSC, 1ull << 40);
	u64 t = rdtsc();
	report("writing the TSC MSR moves the TSC",
	       t >= (1ull << 40) && t < (1ull << 40) + (1ull << 36));
	report("PAT has its power-on value", rdmsr(MSR_IA32_PAT) == 0x0007040600070406ull);
	wrmsr(MSR_IA32_PAT, 0x0007010600070106ull);
	report("PAT is writable", rdmsr(MSR_IA32_PAT) == 0x0007010600070106ull);
	wrmsr(MSR_IA32_PAT, 0x0007040600070406ull);
	u64 apic = rdmsr(MSR_IA32_APICBASE);
	report("APIC base: 0xfee00000, enabled, BSP",
	       (apic & ~0xfffull) == 0xfee00000ull && (apic & (1u << 11)) && (apic & (1u << 8)));
	cpuid2(0x80000001, 0, c);
	if (c[3] & (1u << 27)) {
		wrmsr(MSR_TSC_AUX, 0x1234);
		u32 lo, hi, aux;
		asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
		report("rdtscp returns TSC_AUX in ecx", aux == 0x1234);
	} else {
		report_skip("rdtscp returns TSC_AUX in ecx");
	}
}

static void test_syscall(void)
{
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	/* STAR: SYSCALL CS = 0x08 (SS 0x10); SYSRET base 0x18: SS = 0x23, CS = 0x2b */
	wrmsr(MSR_STAR, ((u64)0x18 << 48) | ((u64)KERNEL_CS << 32));
	wrmsr(MSR_LSTAR, (ulong)syscall_entry);
	wrmsr(MSR_SFMASK, X86_EFLAGS_IF | X86_EFLAGS_DF | X86_EFLAGS_TF | X86_EFLAGS_AC);
	ulong ret;
	sc_count = 0;
	asm volatile("std\n\t" ASM_LEA("1f", "%0") "syscall\n1:\n\tcld"
		     : "=&r"(ret)
		     :
		     : "rax", "rcx", "r11", "memory");
	report("syscall from ring 0 reaches LSTAR", sc_count == 1);
	report("syscall: RCX = return address, R11 = RFLAGS",
	       sc_rcx == ret && (sc_r11 & X86_EFLAGS_DF));
	report("syscall: SFMASK clears DF; CS/SS from STAR",
	       !(sc_rflags & X86_EFLAGS_DF) && sc_cs == KERNEL_CS && sc_ss == KERNEL_DS);

	/* SYSRET to ring 3, SYSCALL back */
	paging_allow_user();
	wrmsr(MSR_LSTAR, (ulong)syscall_from_user_entry);
	sc_count = 0;
	sysret_to_user((ulong)user_sys, (ulong)user_stack2 + sizeof(user_stack2));
	asm volatile("movl %0, %%ds; movl %0, %%es; movl %0, %%ss" : : "r"(KERNEL_DS));
	report("sysretq enters ring 3 with CS = STAR[63:48] + 16 | 3", user_cs_seen == 0x2b);
	report("sysretq loads RFLAGS from R11", (user_flags_seen & 0xfff) == 0xc3);
	report("syscall from ring 3 back to ring 0",
	       sc_count == 1 && sc_cs == KERNEL_CS && sc_ss == KERNEL_DS);
	report("syscall from ring 3: R11 holds the user RFLAGS", (sc_r11 & 0xfff) == 0xc3);
}

static void test_descriptors(void)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) g, i;
	u16 tr, ldtr;

	asm volatile("sgdt %0; sidt %1; str %2; sldt %3" : "=m"(g), "=m"(i), "=r"(tr), "=r"(ldtr));
	report("sgdt: our GDT", g.base == (ulong)gdt && g.limit == sizeof(u64) * GDT_ENTRIES - 1);
	report("sidt: 256 16-byte gates", i.limit == 256 * 16 - 1);
	report("str: the TSS selector", tr == TSS_SEL);
	report("sldt: no LDT", ldtr == 0);

	u32 ar, lim;
	ulong f;
	asm volatile("lar %2, %0; pushf; pop %1" : "=r"(ar), "=r"(f) : "r"((u32)KERNEL_CS) : "cc");
	report("lar of the kernel code segment",
	       (f & X86_EFLAGS_ZF) && (ar & 0x00f0ff00) == 0x00a09b00);
	asm volatile("lsl %2, %0; pushf; pop %1" : "=r"(lim), "=r"(f) : "r"((u32)KERNEL_DS) : "cc");
	report("lsl of a 4 GiB data segment", (f & X86_EFLAGS_ZF) && lim == 0xffffffff);
	asm volatile("lar %2, %0; pushf; pop %1" : "=r"(ar), "=r"(f) : "r"((u32)0x1f8) : "cc");
	report("lar beyond the GDT limit clears ZF", !(f & X86_EFLAGS_ZF));
	asm volatile("verr %1; pushf; pop %0" : "=r"(f) : "r"((u16)KERNEL_CS) : "cc");
	report("verr: readable code segment", f & X86_EFLAGS_ZF);
	asm volatile("verw %1; pushf; pop %0" : "=r"(f) : "r"((u16)KERNEL_CS) : "cc");
	report("verw: code segments are not writable", !(f & X86_EFLAGS_ZF));
	asm volatile("verw %1; pushf; pop %0" : "=r"(f) : "r"((u16)KERNEL_DS) : "cc");
	report("verw: writable data segment", f & X86_EFLAGS_ZF);
}

static void test_cr_dr(void)
{
	ulong v;

	asm volatile("mov %0, %%cr8" : : "r"(5ul));
	outb(0x80, 0); /* an exit to the VMM in between */
	asm volatile("mov %%cr8, %0" : "=r"(v));
	report("CR8 (TPR) keeps its value across an exit", v == 5);
	asm volatile("mov %0, %%cr8" : : "r"(0ul));
	report("CR0: PE, PG, ET set", (read_cr0() & 0x80000011) == 0x80000011);
	report("CR4: PAE set", read_cr4() & X86_CR4_PAE);
	asm volatile("mov %0, %%dr0; mov %%dr0, %1" : : "r"(0x12345678ul), "r"(0ul));
	asm volatile("mov %%dr0, %0" : "=r"(v));
	report("DR0 holds an address", v == 0x12345678);
	asm volatile("mov %0, %%dr0" : : "r"(0ul));
	asm volatile("mov %%dr7, %0" : "=r"(v));
	report("DR7 reads 0x400 with no breakpoints", v == 0x400);
	static u8 line[64] aligned(64);
	asm volatile("wbinvd; clflush %0; mfence; lfence; sfence" : "+m"(line));
	report("wbinvd / clflush / fences execute", true);
}

int main(void)
{
	test_msrs();
	test_syscall();
	test_descriptors();
	test_cr_dr();
	report_summary();
}
