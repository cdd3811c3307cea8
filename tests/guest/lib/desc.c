/* SPDX-License-Identifier: MIT */
/*
 * GDT, TSS and IDT for the test kernels, and the exception dispatcher behind
 * the isr stubs (isr32.S / isr64.S).
 */
#include "libtest.h"

#define SEG(flags_hi, access)                                                                      \
	(0x000000000000ffffull | ((u64)(access) << 40) | (0xfull << 48) | ((u64)(flags_hi) << 52))

u64 gdt[GDT_ENTRIES] aligned(16) = {
    [0] = 0,
#ifdef __x86_64__
    [KERNEL_CS >> 3] = SEG(0xa, 0x9b), /* 64-bit code, DPL 0 */
#else
    [KERNEL_CS >> 3] = SEG(0xc, 0x9b), /* 32-bit code, DPL 0 */
#endif
    [KERNEL_DS >> 3] = SEG(0xc, 0x93),	 /* data, DPL 0 */
    [KERNEL_CS32 >> 3] = SEG(0xc, 0x9b), /* 32-bit code, DPL 0 */
    [USER_DS >> 3] = SEG(0xc, 0xf3),	 /* data, DPL 3 */
#ifdef __x86_64__
    [USER_CS >> 3] = SEG(0xa, 0xfb), /* 64-bit code, DPL 3 */
#else
    [USER_CS >> 3] = SEG(0xc, 0xfb),   /* 32-bit code, DPL 3 */
#endif
    [USER_CS32 >> 3] = SEG(0xc, 0xfb), /* 32-bit code, DPL 3 */
};

static struct {
	u16 limit;
	ulong base;
} __attribute__((packed)) gdt_desc = {sizeof(gdt) - 1, (ulong)gdt};

#ifdef __x86_64__
struct idt_gate {
	u16 off0, sel;
	u8 ist, attr;
	u16 off1;
	u32 off2, reserved;
} __attribute__((packed));

static struct {
	u32 reserved0;
	u64 rsp0, rsp1, rsp2, reserved1, ist[7], reserved2;
	u16 reserved3, iomap;
} __attribute__((packed)) tss aligned(16);
#else
struct idt_gate {
	u16 off0, sel;
	u8 zero, attr;
	u16 off1;
} __attribute__((packed));

static struct {
	u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
	u32 eax, ecx, edx, ebx, esp, ebp, esi, edi, es, cs, ss, ds, fs, gs, ldt;
	u16 trap, iomap;
} __attribute__((packed)) tss aligned(16);
#endif

static struct idt_gate idt[256] aligned(16);
static struct {
	u16 limit;
	ulong base;
} __attribute__((packed)) idt_desc = {sizeof(idt) - 1, (ulong)idt};

u8 ring0_stack[8192] aligned(16);
#ifdef __x86_64__
u8 ist1_stack[4096] aligned(16);
#endif
u8 guest_user_stack[8192] aligned(16);

extern char isr_stubs[];
static ex_handler_fn *handlers[256];

volatile ulong ex_fixup;
volatile struct ex_info ex_last = {.vector = -1};

void *isr_entry(int vector)
{
	return isr_stubs + 16 * vector;
}

void set_idt_gate(int vector, void *handler, int dpl, int type)
{
	struct idt_gate *g = &idt[vector];
	ulong a = (ulong)handler;

	memset(g, 0, sizeof(*g));
	g->off0 = (u16)a;
	g->sel = KERNEL_CS;
	g->attr = (u8)(0x80 | (dpl << 5) | type);
	g->off1 = (u16)(a >> 16);
#ifdef __x86_64__
	g->off2 = (u32)(a >> 32);
#endif
}

void set_idt_ist(int vector, int ist)
{
#ifdef __x86_64__
	idt[vector].ist = (u8)ist;
#else
	(void)vector, (void)ist;
#endif
}

void set_idt_present(int vector, bool present)
{
	idt[vector].attr = (u8)((idt[vector].attr & 0x7f) | (present ? 0x80 : 0));
}

void set_idt_dpl(int vector, int dpl)
{
	idt[vector].attr = (u8)((idt[vector].attr & ~0x60) | (dpl << 5));
}

void load_idt_limit(u16 limit)
{
	idt_desc.limit = limit == 0xffff ? sizeof(idt) - 1 : limit;
	asm volatile("lidt %0" : : "m"(idt_desc));
}

void set_ex_handler(int vector, ex_handler_fn *fn)
{
	handlers[vector] = fn;
}

void ex_reset(void)
{
	ex_fixup = 0;
	ex_last.vector = -1;
	ex_last.error_code = 0;
	ex_last.ip = 0;
	ex_last.cr2 = 0;
	ex_last.count = 0;
	ex_last.frame = 0;
}

int ex_vector(void)
{
	ex_fixup = 0;
	return ex_last.vector;
}

static const char *const ex_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

void handle_exception(struct ex_regs *r);
void handle_exception(struct ex_regs *r)
{
	int v = (int)r->vector;

	if (handlers[v]) {
		handlers[v](r);
		return;
	}
	if (ex_fixup) {
		ex_last.vector = v;
		ex_last.error_code = r->error_code;
		ex_last.ip = r->ip;
		ex_last.cr2 = v == PF_VECTOR ? read_cr2() : 0;
		ex_last.count++;
		ex_last.frame = (ulong)r;
		r->ip = ex_fixup;
		r->flags &= ~X86_EFLAGS_TF; /* resuming elsewhere ends a single-step */
		ex_fixup = 0;
		return;
	}
	printf("FAIL: unexpected exception %d (%s) at ip %#lx, error code %#lx, cr2 %#lx\n", v,
	       v < 32 && ex_names[v] ? ex_names[v] : "irq", (ulong)r->ip, (ulong)r->error_code,
	       read_cr2());
	report("no unexpected exceptions", false);
	report_summary();
}

static void setup_user_return(void);
void setup_descriptors(void);
void setup_descriptors(void)
{
	u64 tss_base = (ulong)&tss, tss_limit = sizeof(tss) - 1;

	/* available TSS (type 9 for both widths), DPL 0 */
	gdt[TSS_SEL >> 3] = (tss_limit & 0xffff) | ((tss_base & 0xffffff) << 16) | (0x89ull << 40) |
			    (((tss_limit >> 16) & 0xf) << 48) | (((tss_base >> 24) & 0xff) << 56);
#ifdef __x86_64__
	gdt[(TSS_SEL >> 3) + 1] = tss_base >> 32;
	tss.rsp0 = (ulong)ring0_stack + sizeof(ring0_stack);
	tss.ist[0] = (ulong)ist1_stack + sizeof(ist1_stack);
	tss.iomap = sizeof(tss);
#else
	tss.esp0 = (ulong)ring0_stack + sizeof(ring0_stack);
	tss.ss0 = KERNEL_DS;
	tss.iomap = sizeof(tss);
#endif
	asm volatile("lgdt %0" : : "m"(gdt_desc));
#ifdef __x86_64__
	asm volatile("pushq %0; leaq 1f(%%rip), %%rax; pushq %%rax; lretq; 1:"
		     :
		     : "i"(KERNEL_CS)
		     : "rax", "memory");
#else
	asm volatile("ljmp %0, $1f; 1:" : : "i"(KERNEL_CS) : "memory");
#endif
	asm volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss; mov %0, %%fs; mov %0, %%gs"
		     :
		     : "r"(KERNEL_DS)
		     : "memory");
	asm volatile("ltr %w0" : : "r"(TSS_SEL));
	for (int v = 0; v < 256; v++)
		set_idt_gate(v, isr_entry(v), 0, 0xe);
	setup_user_return();
	asm volatile("lidt %0" : : "m"(idt_desc));
}

/* An AP: the BSP's GDT and IDT (no TSS: the BSP's is busy), see trampoline.S. */
void setup_ap_descriptors(void);
void setup_ap_descriptors(void)
{
	asm volatile("lgdt %0" : : "m"(gdt_desc));
#ifdef __x86_64__
	asm volatile("pushq %0; leaq 1f(%%rip), %%rax; pushq %%rax; lretq; 1:"
		     :
		     : "i"(KERNEL_CS)
		     : "rax", "memory");
#else
	asm volatile("ljmp %0, $1f; 1:" : : "i"(KERNEL_CS) : "memory");
#endif
	asm volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss; mov %0, %%fs; mov %0, %%gs"
		     :
		     : "r"(KERNEL_DS)
		     : "memory");
	asm volatile("lidt %0" : : "m"(idt_desc));
}

/* ---- ring 3 ---- */

volatile ulong user_return_cs, user_return_ss, user_return_sp, user_return_frame;
volatile ulong guest_kernel_sp_saved;
void user_trampoline(void);
void run_user_resume(void);

#ifdef __x86_64__
asm(".text\n"
    "user_trampoline:\n\t"
    "call *%rdi\n\t"
    "int $0x81\n\t"
    "ud2\n\t"
    ".globl run_user\n"
    "run_user:\n\t"
    "push %rbp\n\tpush %rbx\n\tpush %r12\n\tpush %r13\n\tpush %r14\n\tpush %r15\n\t"
    "mov %rsp, guest_kernel_sp_saved(%rip)\n\t"
    "pushq $0x23\n\t"
    "pushq $guest_user_stack + 8192\n\t"
    "pushq $0x2\n\t"
    "pushq $0x2b\n\t"
    "pushq $user_trampoline\n\t"
    "iretq\n"
    "run_user_resume:\n\t"
    "mov $0x10, %eax\n\tmov %eax, %ds\n\tmov %eax, %es\n\t"
    "pop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %rbx\n\tpop %rbp\n\t"
    "ret\n");

void paging_allow_user(void)
{
	pml4[0] |= PTE_U;
	for (int k = 0; k < 4; k++) {
		pdpt[k] |= PTE_U;
		for (int i = 0; i < 512; i++)
			pd[k][i] |= PTE_U;
	}
	write_cr3(read_cr3());
}
#else
asm(".text\n"
    "user_trampoline:\n\t"
    "movl $0x23, %eax\n\t"
    "movl %eax, %ds\n\t"
    "movl %eax, %es\n\t"
    "call *%edi\n\t"
    "int $0x81\n\t"
    "ud2\n\t"
    ".globl run_user\n"
    "run_user:\n\t"
    "push %ebp\n\tpush %ebx\n\tpush %esi\n\tpush %edi\n\t"
    "mov 20(%esp), %edi\n\t"
    "mov %esp, guest_kernel_sp_saved\n\t"
    "pushl $0x23\n\t"
    "pushl $guest_user_stack + 8192\n\t"
    "pushl $0x2\n\t"
    "pushl $0x2b\n\t"
    "pushl $user_trampoline\n\t"
    "iretl\n"
    "run_user_resume:\n\t"
    "mov guest_kernel_sp_saved, %esp\n\t"
    "mov $0x10, %eax\n\tmov %eax, %ds\n\tmov %eax, %es\n\t"
    "pop %edi\n\tpop %esi\n\tpop %ebx\n\tpop %ebp\n\t"
    "ret\n");
#endif

static void user_return(struct ex_regs *r)
{
	user_return_cs = r->cs;
	user_return_frame = (ulong)r;
#ifdef __x86_64__
	user_return_ss = r->ss;
	user_return_sp = r->sp;
	r->ss = KERNEL_DS;
	r->sp = guest_kernel_sp_saved;
#else
	user_return_ss = r->ss;
	user_return_sp = r->sp;
#endif
	r->cs = KERNEL_CS;
	r->ip = (ulong)run_user_resume;
	r->flags = 0x2;
}

/* registered by setup_descriptors: the DPL-3 gate run_user returns through */
static void setup_user_return(void)
{
	set_idt_gate(USER_RETURN_VECTOR, isr_entry(USER_RETURN_VECTOR), 3, 0xe);
	set_ex_handler(USER_RETURN_VECTOR, user_return);
}
