/* SPDX-License-Identifier: MIT */
/*
 * The guest test library: freestanding, for multiboot test kernels that run
 * on softkvm and on QEMU (see ../README.md). Output goes to COM1; a kernel
 * reports named checks with report() and ends with report_summary(), which
 * prints "SUMMARY: N tests, M failures" and exits through isa-debug-exit
 * (status 1 when everything passed, 3 otherwise).
 */
#ifndef GUEST_LIBTEST_H
#define GUEST_LIBTEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef unsigned long ulong;

#define barrier()     asm volatile("" : : : "memory")
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define noreturn      __attribute__((noreturn))
#define aligned(n)    __attribute__((aligned(n)))

/* ---- libc subset ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *h, const char *n);
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void puts(const char *s);

/* ---- reporting ---- */
void report(const char *name, bool pass);
void reportf(bool pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a check the CPU model cannot run (feature not in CPUID): same name as the check */
void report_skip(const char *name);
/* an "INFO:" line: diagnostics that may differ between platforms, never compared */
void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
noreturn void report_summary(void);
void report_summary_print(void); /* the SUMMARY line without exiting */
noreturn void exit(int code);
int report_failures(void);

/* ---- boot ---- */
extern u32 mb_magic, mb_info;		  /* EAX and EBX at entry */
extern u32 mb_entry_eflags, mb_entry_cr0; /* EFLAGS and CR0 at entry */
extern char _start[], _end[], __bss_start[];
int main(void);

/* ---- port and memory-mapped I/O ---- */
static inline void outb(u16 port, u8 v)
{
	asm volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(u16 port, u16 v)
{
	asm volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	asm volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline u8 inb(u16 port)
{
	u8 v;
	asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u16 inw(u16 port)
{
	u16 v;
	asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u32 inl(u16 port)
{
	u32 v;
	asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline u8 readb(ulong a)
{
	return *(volatile u8 *)a;
}
static inline u16 readw(ulong a)
{
	return *(volatile u16 *)a;
}
static inline u32 readl(ulong a)
{
	return *(volatile u32 *)a;
}
static inline void writeb(ulong a, u8 v)
{
	*(volatile u8 *)a = v;
}
static inline void writew(ulong a, u16 v)
{
	*(volatile u16 *)a = v;
}
static inline void writel(ulong a, u32 v)
{
	*(volatile u32 *)a = v;
}
#ifdef __x86_64__
static inline u64 readq(ulong a)
{
	return *(volatile u64 *)a;
}
static inline void writeq(ulong a, u64 v)
{
	*(volatile u64 *)a = v;
}
#endif

/* ---- processor ---- */
static inline void cpuid2(u32 leaf, u32 sub, u32 r[4])
{
	asm volatile("cpuid"
		     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
		     : "a"(leaf), "c"(sub));
}
static inline u64 rdmsr(u32 idx)
{
	u32 lo, hi;
	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(idx));
	return (u64)hi << 32 | lo;
}
static inline void wrmsr(u32 idx, u64 v)
{
	asm volatile("wrmsr" : : "c"(idx), "a"((u32)v), "d"((u32)(v >> 32)) : "memory");
}
static inline u64 rdtsc(void)
{
	u32 lo, hi;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (u64)hi << 32 | lo;
}
static inline ulong read_cr0(void)
{
	ulong v;
	asm volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}
static inline ulong read_cr2(void)
{
	ulong v;
	asm volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}
static inline ulong read_cr3(void)
{
	ulong v;
	asm volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}
static inline ulong read_cr4(void)
{
	ulong v;
	asm volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}
static inline void write_cr0(ulong v)
{
	asm volatile("mov %0, %%cr0" : : "r"(v) : "memory");
}
static inline void write_cr3(ulong v)
{
	asm volatile("mov %0, %%cr3" : : "r"(v) : "memory");
}
static inline void write_cr4(ulong v)
{
	asm volatile("mov %0, %%cr4" : : "r"(v) : "memory");
}
static inline void invlpg(ulong a)
{
	asm volatile("invlpg (%0)" : : "r"(a) : "memory");
}
static inline ulong read_flags(void)
{
	ulong f;
	asm volatile("pushf; pop %0" : "=r"(f));
	return f;
}

#define X86_CR0_PE    (1ul << 0)
#define X86_CR0_TS    (1ul << 3)
#define X86_CR0_ET    (1ul << 4)
#define X86_CR0_WP    (1ul << 16)
#define X86_CR0_AM    (1ul << 18)
#define X86_CR0_PG    (1ul << 31)
#define X86_CR4_PSE   (1ul << 4)
#define X86_CR4_PAE   (1ul << 5)
#define X86_CR4_PGE   (1ul << 7)
#define X86_CR4_SMEP  (1ul << 20)
#define X86_CR4_SMAP  (1ul << 21)
#define MSR_EFER      0xc0000080
#define EFER_SCE      (1ull << 0)
#define EFER_LME      (1ull << 8)
#define EFER_LMA      (1ull << 10)
#define EFER_NXE      (1ull << 11)
#define X86_EFLAGS_CF 0x0001ul
#define X86_EFLAGS_PF 0x0004ul
#define X86_EFLAGS_AF 0x0010ul
#define X86_EFLAGS_ZF 0x0040ul
#define X86_EFLAGS_SF 0x0080ul
#define X86_EFLAGS_TF 0x0100ul
#define X86_EFLAGS_IF 0x0200ul
#define X86_EFLAGS_DF 0x0400ul
#define X86_EFLAGS_OF 0x0800ul
#define X86_EFLAGS_AC 0x40000ul
#define X86_EFLAGS_ID 0x200000ul
#define X86_EFLAGS_ARITH                                                                           \
	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | X86_EFLAGS_ZF | X86_EFLAGS_SF |           \
	 X86_EFLAGS_OF)

/* ---- descriptors and exceptions ---- */
#define KERNEL_CS   0x08
#define KERNEL_DS   0x10
#define KERNEL_CS32 0x18 /* 64-bit kernels: a 32-bit code segment */
#define USER_DS	    0x23
#define USER_CS	    0x2b
#define USER_CS32   0x33
#define TSS_SEL	    0x38
#define GDT_FREE    0x48 /* first selector free for tests */
#define GDT_ENTRIES 16

extern u64 gdt[GDT_ENTRIES];

/* the frame an exception stub saves */
#ifdef __x86_64__
struct ex_regs {
	u64 rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
	u64 vector, error_code;
	u64 ip, cs, flags, sp, ss;
};
#else
struct ex_regs {
	u32 edi, esi, ebp, esp_unused, ebx, edx, ecx, eax;
	u32 vector, error_code;
	u32 ip, cs, flags;
	u32 sp, ss; /* only when the exception came from ring 3 */
};
#endif

typedef void ex_handler_fn(struct ex_regs *r);
void set_ex_handler(int vector, ex_handler_fn *fn);
/* gate attributes: DPL, and interrupt (0xe) or trap (0xf) type */
void set_idt_gate(int vector, void *handler, int dpl, int type);
void set_idt_dpl(int vector, int dpl);
void *isr_entry(int vector);
void load_idt_limit(u16 limit); /* shrink/restore the IDT limit (restore: 0xffff) */

/*
 * Expected exceptions: an asm block sets ex_fixup to a label with
 * ASM_FIXUP("1f") before the instruction that may fault and puts the label
 * after it. If anything faults in between, the handler records the event in
 * ex_last and resumes at the label.
 */
struct ex_info {
	int vector; /* -1: none */
	ulong error_code, ip, cr2;
	int count;
	ulong frame; /* where the handler's frame was (which stack) */
};
extern volatile ulong ex_fixup;
extern volatile struct ex_info ex_last;
void ex_reset(void);
/* the vector recorded since ex_reset() (-1 for none), clearing a leftover fixup */
int ex_vector(void);

#ifdef __x86_64__
#define ASM_FIXUP(label) "leaq " label "(%%rip), %%r11\n\tmovq %%r11, ex_fixup(%%rip)\n\t"
#define FIXUP_CLOBBERS	 "r11", "memory"
#else
#define ASM_FIXUP(label) "movl $" label ", ex_fixup\n\t"
#define FIXUP_CLOBBERS	 "memory"
#endif

#ifdef __x86_64__
#define ASM_LEA(label, reg) "leaq " label "(%%rip), " reg "\n\t"
#else
#define ASM_LEA(label, reg) "leal " label ", " reg "\n\t"
#endif

/*
 * Ring 3: run fn at CPL 3 on its own stack (64-bit kernels also set the U
 * bit throughout the page tables first). fn returns normally; the trampoline
 * then comes back through a DPL-3 gate (USER_RETURN_VECTOR).
 */
#define USER_RETURN_VECTOR 0x81
void run_user(void (*fn)(void));
extern u8 ring0_stack[8192];
extern volatile ulong user_return_cs, user_return_ss, user_return_sp, user_return_frame;
void set_idt_ist(int vector, int ist); /* 64-bit kernels: IST 1 is a spare stack */
extern u8 ist1_stack[4096];
void set_idt_present(int vector, bool present);

#define DE_VECTOR  0
#define DB_VECTOR  1
#define NMI_VECTOR 2
#define BP_VECTOR  3
#define OF_VECTOR  4
#define BR_VECTOR  5
#define UD_VECTOR  6
#define NM_VECTOR  7
#define DF_VECTOR  8
#define TS_VECTOR  10
#define NP_VECTOR  11
#define SS_VECTOR  12
#define GP_VECTOR  13
#define PF_VECTOR  14
#define MF_VECTOR  16
#define AC_VECTOR  17

/* ---- paging (64-bit kernels: identity map of 0-4 GiB with 2 MiB pages) ---- */
#define PTE_P	(1ull << 0)
#define PTE_W	(1ull << 1)
#define PTE_U	(1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A	(1ull << 5)
#define PTE_D	(1ull << 6)
#define PTE_PS	(1ull << 7)
#define PTE_G	(1ull << 8)
#define PTE_NX	(1ull << 63)

#ifdef __x86_64__
extern u64 pml4[512], pdpt[512], pd[4][512];
void paging_allow_user(void);
#endif

/* ---- platform ---- */
#define COM1		0x3f8
#define DEBUG_EXIT_PORT 0xf4

/* ---- multiboot information ---- */
struct mb_info {
	u32 flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr, drives_length, drives_addr, config_table;
	u32 boot_loader_name, apm_table;
} __attribute__((packed));

struct mb_module {
	u32 mod_start, mod_end, string, reserved;
} __attribute__((packed));

struct mb_mmap {
	u32 size;
	u64 addr, len;
	u32 type;
} __attribute__((packed));

/* The command line argument "key=value": value, or NULL. */
const char *cmdline_arg(const char *key, char *buf, size_t n);
ulong cmdline_ulong(const char *key, ulong def);

#endif
