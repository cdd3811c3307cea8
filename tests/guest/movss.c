/* SPDX-License-Identifier: MIT */
/*
 * Debug exceptions around MOV SS and POP SS (SDM Vol. 3A, 6.8.3; Vol. 3B,
 * 17.3.1): the instruction that loads SS inhibits debug traps until the
 * instruction after it has run. A single-step trap on the MOV SS itself is
 * not delivered (the next #DB comes after the following instruction); a data
 * breakpoint hit by the SS load is delivered after the following instruction,
 * merged into the same #DB as that instruction's own breakpoint hits and
 * single-step trap; after INT3, INT n and INTO it is delivered once the
 * software interrupt has transferred control, and after SYSCALL at its entry
 * point (CVE-2018-8897). Softkvm only
 * (QEMU 7.2 TCG has no ICEBP #DB): ICEBP after MOV SS delivers a single #DB,
 * with the pending data breakpoint in DR6 and no BS for a single-step.
 * kvm-unit-tests' x86/debug.c checks the same on hardware.
 */
#include "libtest.h"

#define DR6_FIXED 0xffff0ff0ul
#define DR6_BS	  (1ul << 14)

static volatile int ndb, nbp, nof;
static volatile ulong db_ip[8], db_dr6[8], bp_ip, of_ip;
static volatile u32 watched, watched2;
static bool on_softkvm;

static void db_handler(struct ex_regs *r)
{
	ulong dr6;
	asm volatile("mov %%dr6, %0" : "=r"(dr6));
	if (ndb < 8) {
		db_ip[ndb] = r->ip;
		db_dr6[ndb] = dr6;
	}
	ndb++;
	asm volatile("mov %0, %%dr6" : : "r"(DR6_FIXED));
	if (ndb >= 8)
		r->flags &= ~X86_EFLAGS_TF;
}

static void bp_handler(struct ex_regs *r)
{
	bp_ip = r->ip;
	nbp++;
}

#ifndef __x86_64__
static void of_handler(struct ex_regs *r)
{
	of_ip = r->ip;
	nof++;
}
#endif

static void reset(void)
{
	ndb = nbp = nof = 0;
	bp_ip = of_ip = 0;
	for (int k = 0; k < 8; k++)
		db_ip[k] = db_dr6[k] = 0;
	asm volatile("mov %0, %%dr6" : : "r"(DR6_FIXED));
}

/* DR1 (and DR0 when a0 != 0) on 4 bytes, read or write */
static void watch(const volatile void *a1, const volatile void *a0)
{
	ulong dr7 = (1ul << 2) | (3ul << 20) | (3ul << 22) | 0x400;
	if (a0)
		dr7 |= 1ul | (3ul << 16) | (3ul << 18);
	asm volatile("mov %0, %%dr1" : : "r"((ulong)a1));
	asm volatile("mov %0, %%dr0" : : "r"((ulong)a0));
	asm volatile("mov %0, %%dr7" : : "r"(dr7));
}

static void unwatch(void)
{
	asm volatile("mov %0, %%dr7" : : "r"(0x400ul));
}

#ifdef __x86_64__
#define XAX   "%%rax"
#define XCLOB "rax"
#define PUSHF "pushfq\n\t"
#define POPF  "popfq\n\t"
#else
#define XAX   "%%eax"
#define XCLOB "eax"
#define PUSHF "pushfl\n\t"
#define POPF  "popfl\n\t"
#endif

static void test_single_step(void)
{
	ulong start;

	/* TF set by POPF, then MOV SS: the first #DB comes after the
	 * instruction following MOV SS (kvm-unit-tests singlestep_with_movss_blocking) */
	reset();
	asm volatile(PUSHF "pop " XAX "\n\t"
			   "or $0x100, " XAX "\n\t"
			   "push " XAX "\n\t"
			   "mov %%ss, %%ax\n\t" POPF "mov %%ax, %%ss\n\t"
			   "and $~0x100, " XAX "\n"
			   "1:\tpush " XAX "\n\t" POPF ASM_LEA("1b", "%0")
		     : "=r"(start)
		     :
		     : XCLOB, "memory");
	reportf(ndb == 3 && db_ip[0] == start && db_dr6[0] == (DR6_FIXED | DR6_BS) &&
		    db_ip[1] == start + 1 && db_ip[2] == start + 2,
		"single-step over MOV SS: the first #DB follows the next instruction");
	if (ndb != 3 || db_ip[0] != start)
		info("single-step: %d #DBs, first at %#lx dr6 %#lx (start %#lx)", ndb, db_ip[0],
		     db_dr6[0], start);
}

static void test_watched_ss(void)
{
	ulong after;
	u16 ss;

	asm volatile("mov %%ss, %0" : "=r"(ss));
	watched = ss;

	/* MOV SS from a watched location, then a NOP */
	reset();
	watch(&watched, 0);
	asm volatile("mov %1, %%ss\n\t"
		     "nop\n"
		     "1:\t" ASM_LEA("1b", "%0")
		     : "=r"(after)
		     : "m"(watched)
		     : "memory");
	unwatch();
	reportf(ndb == 1 && db_ip[0] == after && (db_dr6[0] & 0xf) == 2,
		"MOV SS hits a data breakpoint: #DB after the next instruction, DR6.B1");
	if (ndb != 1 || db_ip[0] != after)
		info("MOV SS watch: %d #DBs, at %#lx dr6 %#lx (after %#lx)", ndb, db_ip[0],
		     db_dr6[0], after);

	/* the next instruction hits DR0: one #DB with B0 and B1 */
	reset();
	watch(&watched, &watched2);
	asm volatile("mov %1, %%ss\n\t"
		     "movl $1, %2\n"
		     "1:\t" ASM_LEA("1b", "%0")
		     : "=r"(after)
		     : "m"(watched), "m"(watched2)
		     : "memory");
	unwatch();
	reportf(ndb == 1 && db_ip[0] == after && (db_dr6[0] & 0xf) == 3,
		"MOV SS and the next instruction hit breakpoints: one #DB with B0 and B1");

	/* with TF: one #DB with B1 and BS after the next instruction */
	reset();
	watch(&watched, 0);
	asm volatile(PUSHF "pop " XAX "\n\t"
			   "or $0x100, " XAX "\n\t"
			   "push " XAX "\n\t"
			   "and $~0x100, " XAX "\n\t" POPF "mov %1, %%ss\n\t"
			   "nop\n"
			   "1:\tpush " XAX "\n\t" POPF ASM_LEA("1b", "%0")
		     : "=r"(after)
		     : "m"(watched)
		     : XCLOB, "memory");
	unwatch();
	reportf(ndb == 3 && db_ip[0] == after && (db_dr6[0] & 0xf) == 2 && (db_dr6[0] & DR6_BS),
		"MOV SS hits a data breakpoint with TF: one #DB with B1 and BS");

#ifndef __x86_64__
	/* POP SS from a watched stack slot */
	static volatile u32 slot;
	reset();
	slot = ss;
	watch(&slot, 0);
	asm volatile("mov %%esp, %%ecx\n\t"
		     "lea %1, %%esp\n\t"
		     "pop %%ss\n\t"
		     "mov %%ecx, %%esp\n"
		     "1:\t" ASM_LEA("1b", "%0")
		     : "=r"(after)
		     : "m"(slot)
		     : "ecx", "memory");
	unwatch();
	reportf(ndb == 1 && db_ip[0] == after && (db_dr6[0] & 0xf) == 2,
		"POP SS hits a data breakpoint: #DB after the next instruction, DR6.B1");
	if (ndb != 1 || db_ip[0] != after)
		info("POP SS watch: %d #DBs, at %#lx dr6 %#lx (after %#lx)", ndb, db_ip[0],
		     db_dr6[0], after);
#endif
}

static void test_soft_interrupts(void)
{
	ulong after;

	/* INT3: #BP, then the pending #DB once it has been delivered */
	reset();
	watch(&watched, 0);
	asm volatile("mov %1, %%ss\n\t"
		     "int3\n"
		     "1:\t" ASM_LEA("1b", "%0")
		     : "=r"(after)
		     : "m"(watched)
		     : "memory");
	unwatch();
	reportf(ndb == 1 && nbp == 1 && bp_ip == after && (db_dr6[0] & 0xf) == 2,
		"MOV SS with a data breakpoint, then INT3: #BP and one #DB");
	reportf(ndb == 1 && db_ip[0] == (ulong)isr_entry(BP_VECTOR),
		"the #DB comes after the #BP transfer, at the handler's first instruction");

	/* INT $1: the software interrupt and the pending #DB, two calls of vector 1 */
	reset();
	watch(&watched, 0);
	asm volatile("mov %0, %%ss\n\t"
		     "int $1"
		     :
		     : "m"(watched)
		     : "memory");
	unwatch();
	reportf(ndb == 2, "MOV SS with a data breakpoint, then INT $1: vector 1 twice");

#ifndef __x86_64__
	/* INTO with OF set */
	reset();
	watch(&watched, 0);
	asm volatile("movl $0x7fffffff, %%eax\n\t"
		     "addl $1, %%eax\n\t"
		     "mov %1, %%ss\n\t"
		     "into\n"
		     "1:\t" ASM_LEA("1b", "%0")
		     : "=r"(after)
		     : "m"(watched)
		     : "eax", "memory", "cc");
	unwatch();
	reportf(nof == 1 && of_ip == after && ndb == 1,
		"MOV SS with a data breakpoint, then INTO: #OF and one #DB");
#endif
}

#ifdef __x86_64__
/* SYSCALL from ring 0 lands here and goes back to RCX (flags as SFMASK left them) */
void movss_syscall_entry(void);
asm(".text\nmovss_syscall_entry:\n\tjmp *%rcx\n");

static void test_syscall(void)
{
	ulong efer = rdmsr(MSR_EFER), after;

	wrmsr(MSR_EFER, efer | EFER_SCE);
	wrmsr(0xc0000081, (u64)KERNEL_CS << 32);       /* STAR */
	wrmsr(0xc0000082, (ulong)movss_syscall_entry); /* LSTAR */
	wrmsr(0xc0000084, 0);			       /* SFMASK */
	reset();
	watch(&watched, 0);
	asm volatile("mov %1, %%ss\n\t"
		     "syscall\n"
		     "1:\t" ASM_LEA("1b", "%0")
		     : "=r"(after)
		     : "m"(watched)
		     : "rcx", "r11", "memory");
	unwatch();
	wrmsr(MSR_EFER, efer);
	reportf(ndb == 1 && db_ip[0] == (ulong)movss_syscall_entry && (db_dr6[0] & 0xf) == 2,
		"MOV SS with a data breakpoint, then SYSCALL: the #DB arrives at the entry point");
}
#endif

static void test_icebp(void)
{
	static const char *const names[] = {
	    "MOV SS with a data breakpoint, then ICEBP: a single #DB with DR6.B1",
	    "single-step, MOV SS, ICEBP: #DB without BS, then the next steps",
	};
	ulong start;

	if (!on_softkvm) { /* QEMU 7.2 TCG does not deliver #DB for ICEBP */
		report_skip(names[0]);
		report_skip(names[1]);
		return;
	}
	reset();
	watch(&watched, 0);
	asm volatile("mov %1, %%ss\n\t"
		     ".byte 0xf1\n"
		     "1:\t" ASM_LEA("1b", "%0")
		     : "=r"(start)
		     : "m"(watched)
		     : "memory");
	unwatch();
	reportf(ndb == 1 && db_ip[0] == start && (db_dr6[0] & 0xf) == 2, "%s", names[0]);

	/* kvm-unit-tests singlestep_with_movss_blocking_and_icebp */
	reset();
	asm volatile(PUSHF "pop " XAX "\n\t"
			   "or $0x100, " XAX "\n\t"
			   "push " XAX "\n\t"
			   "mov %%ss, %%ax\n\t" POPF "mov %%ax, %%ss\n\t"
			   ".byte 0xf1\n"
			   "1:\t.byte 0xf1\n\t"
			   "and $~0x100, " XAX "\n\t"
			   "push " XAX "\n\t" POPF ASM_LEA("1b", "%0")
		     : "=r"(start)
		     :
		     : XCLOB, "memory");
	reportf(ndb == 5 && db_ip[0] == start && db_dr6[0] == DR6_FIXED && db_ip[1] == start + 1 &&
		    db_dr6[1] == DR6_FIXED && (db_dr6[2] & DR6_BS) && (db_dr6[3] & DR6_BS) &&
		    (db_dr6[4] & DR6_BS),
		"%s", names[1]);
}

int main(void)
{
	on_softkvm = cmdline_ulong("softkvm", 0) != 0;
	set_ex_handler(DB_VECTOR, db_handler);
	set_ex_handler(BP_VECTOR, bp_handler);
#ifndef __x86_64__
	set_ex_handler(OF_VECTOR, of_handler);
#endif
	test_single_step();
	test_watched_ss();
	test_soft_interrupts();
#ifdef __x86_64__
	test_syscall();
#endif
	test_icebp();
	report_summary();
}
