/* SPDX-License-Identifier: MIT */
/*
 * The software x86-64 processor: the interface that kvm/ (and tests) use.
 *
 * cpu/ knows nothing of KVM. It reaches the outside world through
 * struct cpu_ops (MMIO, port I/O, MSRs it does not own, CPUID, interrupt
 * acknowledge) and through struct cpu_mem, the guest-physical memory map.
 * An access that needs the outside world to answer later (user-space MMIO,
 * port I/O, a user-space MSR exit) makes cpu_run() return; the instruction
 * is re-executed on the next cpu_run() after cpu_complete() supplied the
 * result (see "Suspended instructions" in cpu/README.md).
 */
#ifndef SOFTKVM_CPU_H
#define SOFTKVM_CPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cpu;
struct cpu_mem;

/* Return codes of the cpu_ops callbacks. */
enum {
	CPU_OPS_OK = 0,	  /* handled, data valid */
	CPU_OPS_EXIT = 1, /* needs the caller of cpu_run(): suspend the instruction */
	CPU_OPS_GP = 2,	  /* raise #GP(0) in the guest (MSR access) */
	/*
	 * mmio_write only: handled, and cpu_run() must return CPU_EXIT_REQUEST
	 * right after this instruction (before the next one starts), e.g. for
	 * an exit the write itself caused. The instruction is finished on the
	 * next cpu_run() without calling mmio_write again.
	 */
	CPU_OPS_STOP = 3,
};

struct cpu_ops {
	/* Guest-physical accesses that hit no RAM (MMIO). len is 1, 2, 4 or 8. */
	int (*mmio_read)(void *opaque, uint64_t gpa, void *data, unsigned len);
	int (*mmio_write)(void *opaque, uint64_t gpa, const void *data, unsigned len);
	/* Port I/O after the I/O permission checks passed. len is 1, 2 or 4. */
	int (*pio_in)(void *opaque, uint16_t port, void *data, unsigned len);
	int (*pio_out)(void *opaque, uint16_t port, const void *data, unsigned len);
	/*
	 * RDMSR/WRMSR as executed by the guest. The callee normally calls
	 * cpu_msr_get()/cpu_msr_set() for the architectural MSRs cpu/ owns.
	 */
	int (*rdmsr)(void *opaque, uint32_t index, uint64_t *value);
	int (*wrmsr)(void *opaque, uint32_t index, uint64_t value);
	/* CPUID: out[0..3] = EAX, EBX, ECX, EDX. */
	void (*cpuid)(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);
	/*
	 * Acknowledge the highest-priority pending external interrupt;
	 * returns its vector or -1 if there is none any more.
	 */
	int (*intr_ack)(void *opaque);
#define CPU_INTR_NONE	-1
#define CPU_INTR_WINDOW -2 /* no vector: make cpu_run() return CPU_EXIT_IRQ_WINDOW */
	/* Guest TSC (before TSC offset/adjust applied by the CPU's MSRs). */
	uint64_t (*read_tsc)(void *opaque);
	/* MOV to/from CR8: the task-priority register (optional; else cpu->cr8). */
	void (*cr8_write)(void *opaque, uint64_t tpr);
	uint64_t (*cr8_read)(void *opaque);
	/* a store hit this vCPU's armed address-range monitor (any thread) */
	void (*monitor_hit)(void *opaque);
	/*
	 * VMCALL/VMMCALL (optional; without it they raise #UD as outside VMX):
	 * nr = RAX, a = RBX, RCX, RDX, RSI, all truncated to 32 bits outside
	 * 64-bit mode; returns the value for RAX (truncated likewise).
	 */
	uint64_t (*hypercall)(void *opaque, uint64_t nr, const uint64_t a[4], int cpl, bool mode64);
	/* state that CPUID bits follow changed (guest or host writes; optional) */
	void (*cr4_changed)(void *opaque, uint64_t old, uint64_t cr4);
	void (*xcr0_changed)(void *opaque, uint64_t xcr0);
};

/* Why cpu_run() returned. */
enum cpu_exit {
	CPU_EXIT_NONE = 0,
	CPU_EXIT_IO,	     /* port I/O: see cpu->exit.io */
	CPU_EXIT_MMIO,	     /* MMIO: see cpu->exit.mmio */
	CPU_EXIT_RDMSR,	     /* MSR read needs the caller: cpu->exit.msr */
	CPU_EXIT_WRMSR,	     /* MSR write needs the caller: cpu->exit.msr */
	CPU_EXIT_HLT,	     /* HLT executed with no interrupt to take */
	CPU_EXIT_SHUTDOWN,   /* triple fault */
	CPU_EXIT_REQUEST,    /* cpu_kick() / exit request */
	CPU_EXIT_INTERNAL,   /* unimplemented or impossible: cpu->exit.internal */
	CPU_EXIT_DEBUG,	     /* single-step/breakpoint while guest debugging */
	CPU_EXIT_BUDGET,     /* instruction budget used up (tests, fuzzing) */
	CPU_EXIT_MWAIT,	     /* MWAIT/UMWAIT/TPAUSE wait: cpu->exit.wait */
	CPU_EXIT_INIT,	     /* INIT received while running (SMP) */
	CPU_EXIT_IRQ_WINDOW, /* intr_ack() returned CPU_INTR_WINDOW: interrupts are open */
};

/* Segment register cache, in the layout of struct kvm_segment's fields. */
struct cpu_seg {
	uint64_t base;
	uint32_t limit; /* byte granular (already scaled by G) */
	uint16_t sel;
	uint8_t type; /* 4 bits */
	uint8_t s, dpl, present, avl, l, db, g, unusable;
};

enum { SEG_ES, SEG_CS, SEG_SS, SEG_DS, SEG_FS, SEG_GS, SEG_LDTR, SEG_TR, SEG_COUNT };

enum {
	GPR_RAX,
	GPR_RCX,
	GPR_RDX,
	GPR_RBX,
	GPR_RSP,
	GPR_RBP,
	GPR_RSI,
	GPR_RDI,
	GPR_R8,
	GPR_R9,
	GPR_R10,
	GPR_R11,
	GPR_R12,
	GPR_R13,
	GPR_R14,
	GPR_R15,
};
/* short names; <signal.h> with _GNU_SOURCE has its own REG_* (ucontext), so
 * code that includes it defines SOFTKVM_NO_REG_NAMES and uses GPR_* */
#ifndef SOFTKVM_NO_REG_NAMES
enum {
	REG_RAX = GPR_RAX,
	REG_RCX = GPR_RCX,
	REG_RDX = GPR_RDX,
	REG_RBX = GPR_RBX,
	REG_RSP = GPR_RSP,
	REG_RBP = GPR_RBP,
	REG_RSI = GPR_RSI,
	REG_RDI = GPR_RDI,
	REG_R8 = GPR_R8,
	REG_R9 = GPR_R9,
	REG_R10 = GPR_R10,
	REG_R11 = GPR_R11,
	REG_R12 = GPR_R12,
	REG_R13 = GPR_R13,
	REG_R14 = GPR_R14,
	REG_R15 = GPR_R15,
};
#endif

/* RFLAGS bits */
#define FL_CF	 (1u << 0)
#define FL_1	 (1u << 1)
#define FL_PF	 (1u << 2)
#define FL_AF	 (1u << 4)
#define FL_ZF	 (1u << 6)
#define FL_SF	 (1u << 7)
#define FL_TF	 (1u << 8)
#define FL_IF	 (1u << 9)
#define FL_DF	 (1u << 10)
#define FL_OF	 (1u << 11)
#define FL_IOPL	 (3u << 12)
#define FL_NT	 (1u << 14)
#define FL_RF	 (1u << 16)
#define FL_VM	 (1u << 17)
#define FL_AC	 (1u << 18)
#define FL_VIF	 (1u << 19)
#define FL_VIP	 (1u << 20)
#define FL_ID	 (1u << 21)
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* Control register bits */
#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_ET (1ull << 4)
#define CR0_NE (1ull << 5)
#define CR0_WP (1ull << 16)
#define CR0_AM (1ull << 18)
#define CR0_NW (1ull << 29)
#define CR0_CD (1ull << 30)
#define CR0_PG (1ull << 31)

#define CR4_VME	       (1ull << 0)
#define CR4_PVI	       (1ull << 1)
#define CR4_TSD	       (1ull << 2)
#define CR4_DE	       (1ull << 3)
#define CR4_PSE	       (1ull << 4)
#define CR4_PAE	       (1ull << 5)
#define CR4_MCE	       (1ull << 6)
#define CR4_PGE	       (1ull << 7)
#define CR4_PCE	       (1ull << 8)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define CR4_UMIP       (1ull << 11)
#define CR4_LA57       (1ull << 12)
#define CR4_VMXE       (1ull << 13)
#define CR4_SMXE       (1ull << 14)
#define CR4_FSGSBASE   (1ull << 16)
#define CR4_PCIDE      (1ull << 17)
#define CR4_OSXSAVE    (1ull << 18)
#define CR4_SMEP       (1ull << 20)
#define CR4_SMAP       (1ull << 21)
#define CR4_PKE	       (1ull << 22)

#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

/* Exception vectors */
enum {
	EXC_DE = 0,
	EXC_DB = 1,
	EXC_NMI = 2,
	EXC_BP = 3,
	EXC_OF = 4,
	EXC_BR = 5,
	EXC_UD = 6,
	EXC_NM = 7,
	EXC_DF = 8,
	EXC_TS = 10,
	EXC_NP = 11,
	EXC_SS = 12,
	EXC_GP = 13,
	EXC_PF = 14,
	EXC_MF = 16,
	EXC_AC = 17,
	EXC_MC = 18,
	EXC_XM = 19,
	EXC_VE = 20,
};

/* MSRs that cpu/ owns (cpu_msr_get/cpu_msr_set). */
#define MSR_IA32_TSC	      0x00000010
#define MSR_IA32_APICBASE     0x0000001b
#define MSR_IA32_TSC_ADJUST   0x0000003b
#define MSR_IA32_SYSENTER_CS  0x00000174
#define MSR_IA32_SYSENTER_ESP 0x00000175
#define MSR_IA32_SYSENTER_EIP 0x00000176
#define MSR_IA32_DEBUGCTL     0x000001d9
#define MSR_IA32_CR_PAT	      0x00000277
#define MSR_IA32_MISC_ENABLE  0x000001a0
#define MSR_EFER	      0xc0000080
#define MSR_STAR	      0xc0000081
#define MSR_LSTAR	      0xc0000082
#define MSR_CSTAR	      0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_FS_BASE	      0xc0000100
#define MSR_GS_BASE	      0xc0000101
#define MSR_KERNEL_GS_BASE    0xc0000102
#define MSR_TSC_AUX	      0xc0000103

/* Suspended-instruction information, valid after the matching exit. */
struct cpu_exit_info {
	struct {
		uint16_t port;
		uint8_t size; /* 1, 2, 4 */
		uint8_t in;   /* 1 = IN/INS */
		uint32_t count;
		uint8_t data[8];
	} io;
	struct {
		uint64_t gpa;
		uint8_t len;
		uint8_t is_write;
		uint8_t data[8];
	} mmio;
	struct {
		uint32_t index;
		uint64_t data; /* WRMSR value */
	} msr;
	struct {
		uint32_t suberror; /* KVM_INTERNAL_ERROR_* meaning, see kvm/ */
		uint64_t rip;
		uint8_t insn[16];
		uint8_t insn_len;
		const char *what;
	} internal;
	struct {
		uint32_t exception; /* EXC_DB or EXC_BP */
		uint64_t pc;
		uint64_t dr6, dr7;
	} debug;
	struct {
		uint64_t deadline; /* guest TSC at which the wait ends, 0 = none */
		uint8_t kind;	   /* CPU_WAIT_* */
		uint32_t hint;	   /* ECX: bit 0 selects C0.1 (UMWAIT/TPAUSE) */
		uint64_t line;	   /* UMWAIT: the monitored guest-physical line */
	} wait;
};

enum { CPU_WAIT_MWAIT = 1, CPU_WAIT_UMWAIT, CPU_WAIT_TPAUSE };

/* --- memory map (shared by all vCPUs of one machine) --- */

#define CPU_MEM_READONLY       (1u << 0)
#define CPU_MEM_LOG_DIRTY      (1u << 1)
#define CPU_MEM_DIRTY_INIT_SET (1u << 2) /* start with every page marked dirty */

struct cpu_mem *cpu_mem_create(void);
void cpu_mem_destroy(struct cpu_mem *mem);
/*
 * Replace or add the RAM range of slot id (size 0 deletes it); the caller
 * guarantees that ranges do not overlap. Safe while vCPUs run: it returns
 * once no thread can use the old range any more (cpu/mem.c), so the caller
 * may unmap it then. It waits for the vCPUs: the caller must hold no lock
 * that code running inside cpu_run() (cpu_ops) may take.
 */
int cpu_mem_set_slot(struct cpu_mem *mem, uint32_t id, uint64_t gpa, uint64_t size, void *hva,
		     uint32_t flags);
/*
 * Host address of guest-physical gpa if it is RAM (NULL for MMIO), with the
 * bytes left in its slot in *avail. Only inside a read-side section: the
 * pointer may be used until the matching cpu_mem_end().
 */
/* Guest RAM may have been written outside the processors (a device, another
 * thread of the VMM); called before the interrupt that announces it, so the
 * vCPU that takes the interrupt compares its translations with memory. */
void cpu_mem_note_external_write(struct cpu_mem *mem);
void *cpu_mem_gpa_to_hva(struct cpu_mem *mem, uint64_t gpa, uint64_t *avail, uint32_t *flags);
/*
 * The hypervisor side wrote [gpa, gpa+len) through cpu_mem_gpa_to_hva()
 * (kvmclock, VAPIC page): mark it dirty, drop decoded code, trigger
 * monitors, as a guest store would. Inside a section of c.
 */
void cpu_mem_note_write(struct cpu *c, uint64_t gpa, uint64_t len);
/* Copy out (and clear) the dirty bitmap of slot id (bit per 4 KiB page); waits as set_slot. */
int cpu_mem_get_dirty(struct cpu_mem *mem, uint32_t id, uint64_t *bitmap, bool clear);
/* Clear dirty bits [first, first+n) of slot id where mask has them set; waits as set_slot. */
int cpu_mem_clear_dirty(struct cpu_mem *mem, uint32_t id, uint64_t first, uint64_t n,
			const uint64_t *mask);
/* Wait until every vCPU inside cpu_run() has passed a block boundary (an RCU grace period). */
void cpu_mem_synchronize(struct cpu_mem *mem);

/* --- the vCPU --- */

struct cpu *cpu_create(struct cpu_mem *mem, const struct cpu_ops *ops, void *opaque);
void cpu_destroy(struct cpu *c);
/* Architectural reset (power-on: real mode at F000:FFF0). */
void cpu_reset(struct cpu *c);
/* INIT: like reset but keeps some MSRs, as SDM vol. 3, 10.1.1. */
void cpu_init_signal(struct cpu *c);
/* INIT is blocked (VMX operation, SDM vol. 3C 24.8): leave it pending */
bool cpu_init_blocked(const struct cpu *c);

/*
 * A read-side section of the memory map on the thread that owns c (they
 * nest): host pointers from cpu_mem_gpa_to_hva() and the page walk of
 * cpu_translate() are valid only inside one. cpu_run() is a section of its
 * own and a quiescent point: keep no host pointer across it.
 */
void cpu_mem_begin(struct cpu *c);
void cpu_mem_end(struct cpu *c);

/* Run until an exit. */
enum cpu_exit cpu_run(struct cpu *c);
/*
 * Supply the result of a suspended IN, MMIO read or user-space RDMSR
 * (data, may be NULL for writes); error=true makes an MSR access #GP.
 * For an IN, data holds exit.io.count elements of exit.io.size bytes
 * (count > 1 for a batched REP INS, at most 1 KiB in all).
 */
void cpu_complete(struct cpu *c, const void *data, bool error);
/*
 * Finish only the suspended instruction (after cpu_complete()) and return:
 * CPU_EXIT_NONE when it completed, or the exit it caused.
 */
enum cpu_exit cpu_finish_suspended(struct cpu *c);
/* Is an instruction suspended waiting for cpu_complete()? */
bool cpu_has_suspended(const struct cpu *c);
/* IF=1 and no interrupt shadow: an interrupt could be taken now */
bool cpu_interrupts_open(struct cpu *c);
/* Make cpu_run() return CPU_EXIT_REQUEST soon (any thread, signal safe). */
void cpu_kick(struct cpu *c);
void cpu_clear_kick(struct cpu *c);
/* External interrupt line state changed (any thread). */
void cpu_set_irq_pending(struct cpu *c, bool pending);
void cpu_inject_nmi(struct cpu *c);
/* Limit the next cpu_run() to about n instructions and event deliveries (0 = unlimited). */
void cpu_set_budget(struct cpu *c, uint64_t n);
/* Instructions retired so far (approximate at block granularity). */
uint64_t cpu_insn_count(const struct cpu *c);
/* Guest memory was written behind the processor's back (DMA, the VMM). */
void cpu_note_external_write(struct cpu *c);
const struct cpu_exit_info *cpu_exit_info(const struct cpu *c);

/* State access for kvm/ (KVM_GET/SET_REGS, SREGS, ...). */
struct cpu_regs {
	uint64_t gpr[16];
	uint64_t rip, rflags;
};
struct cpu_sregs {
	struct cpu_seg seg[SEG_COUNT];
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};
void cpu_get_regs(const struct cpu *c, struct cpu_regs *r);
void cpu_set_regs(struct cpu *c, const struct cpu_regs *r);
void cpu_get_sregs(const struct cpu *c, struct cpu_sregs *s);
void cpu_set_sregs(struct cpu *c, const struct cpu_sregs *s);
uint64_t cpu_get_dr(const struct cpu *c, int n);
void cpu_set_dr(struct cpu *c, int n, uint64_t v);
uint64_t cpu_get_xcr0(const struct cpu *c);
/* XSETBV's rules (SDM vol. 1, 13.3) against cpu_set_xcr0_allowed(): 0 or -1 */
int cpu_set_xcr0(struct cpu *c, uint64_t v);

/*
 * x87/SSE/AVX/PKRU state (fpu_state.c) for KVM_GET/SET_FPU, XSAVE(2) and XCRS.
 * XCR0 covers x87 | SSE | PKRU, and YMM (bit 2) when the host can run AVX,
 * AVX2, FMA and F16C (cpu_avx_supported()). x87 and SSE live in the 512-byte
 * legacy region; YMM_Hi128 follows the 64-byte header at offset 576 (256
 * bytes) in the standard format, and in the compacted one (the first
 * extended component), so that contiguous part of the XSAVE image is at
 * most CPU_XSAVE_SIZE bytes. PKRU lies apart (CPU_XSAVE_PKRU_OFFSET).
 */
#define CPU_XCR0_SUPPORTED cpu_xcr0_supported()
#define CPU_XSAVE_SIZE	   832u
#define CPU_XSAVE_YMM_OFF  576u
/* XSAVE component 9, PKRU (ops_fpu.c, ops_pku.c): 8 bytes at this offset of
 * the standard format, outside the CPU_XSAVE_SIZE bytes above (in the
 * compacted format after the others) */
#define CPU_XCR0_PKRU	      (1ull << 9)
#define CPU_XSAVE_PKRU_OFFSET 0xa80u
#define CPU_XSAVE_SIZE_PKRU   (CPU_XSAVE_PKRU_OFFSET + 8)
uint32_t cpu_get_pkru(const struct cpu *c);
/* KVM_SET_XSAVE: a new PKRU (the TLB follows) */
void cpu_set_pkru(struct cpu *c, uint32_t v);
/* x87 | SSE, | YMM when cpu_avx_supported(), | PKRU when cpu_pku_offered() */
uint64_t cpu_xcr0_supported(void);
/* PKU is offered (KVM_GET_SUPPORTED_CPUID, XCR0 bit 9) only with SOFTKVM_PKU=1 */
bool cpu_pku_offered(void);
/* The host has AVX, AVX2, FMA and F16C with the OS saving YMM: softkvm runs
 * the VEX instructions on it and may advertise x86-64-v3 */
bool cpu_avx_supported(void);
/* standard-format size of the contiguous x87/SSE/YMM part of xcr0's
 * components (576 or 832; PKRU, bit 9, lies apart) */
static inline uint32_t cpu_xsave_size(uint64_t xcr0)
{
	return (xcr0 & 4) ? 832u : 576u;
}
#define CPU_MXCSR_MASK 0xffffu /* MXCSR_MASK, DAZ included (SDM vol. 1, 11.6.6) */
/* CPUID.1:ECX bits of SSE3/SSSE3/SSE4.1/SSE4.2 this processor can run: the
 * host executes them, so an older host has fewer */
uint32_t cpu_simd_cpuid1_ecx(void);
/* XCR0 bits the guest may enable (its CPUID leaf 0xD); bit 0 is always allowed */
void cpu_set_xcr0_allowed(struct cpu *c, uint64_t mask);
/* The FXSAVE64 image (512 bytes; MXCSR_MASK filled in, bytes 416-511 zero). */
void cpu_get_fxsave(const struct cpu *c, void *buf);
/* Load an FXSAVE64 image; MXCSR bits outside CPU_MXCSR_MASK are dropped. */
void cpu_set_fxsave(struct cpu *c, const void *buf);
/* Standard-format XSAVE image (CPU_XSAVE_SIZE bytes); XSTATE_BV has the
 * components of mask that are not in their initial configuration. */
void cpu_get_xsave(const struct cpu *c, void *buf, uint64_t mask);
/* Load as XRSTOR (standard form) with RFBM = x87 | SSE | YMM: components clear in
 * XSTATE_BV are initialised. The caller validated header and MXCSR. */
void cpu_set_xsave(struct cpu *c, const void *buf);

/* Architectural MSRs held by cpu/: 0 ok, -1 not an MSR cpu/ owns, -2 bad value */
int cpu_msr_get(struct cpu *c, uint32_t index, uint64_t *value);
int cpu_msr_set(struct cpu *c, uint32_t index, uint64_t value, bool host_initiated);

/* Event state (KVM_GET/SET_VCPU_EVENTS). */
struct cpu_events {
	bool exc_pending;
	uint8_t exc_vector;
	bool exc_has_error;
	uint32_t exc_error;
	bool nmi_pending;
	bool nmi_masked;
	uint8_t intr_shadow; /* 1 = STI, 2 = MOV SS */
	bool halted;
};
void cpu_get_events(const struct cpu *c, struct cpu_events *e);
void cpu_set_events(struct cpu *c, const struct cpu_events *e);
void cpu_set_halted(struct cpu *c, bool halted);
/* Queue an exception for delivery at the next cpu_run() (KVM_SET_VCPU_EVENTS, #GP on MSR exit). */
void cpu_queue_exception(struct cpu *c, int vector, bool has_error, uint32_t error);

/*
 * Optional instructions the guest's CPUID enables (a VMX execution control
 * on hardware). CPU_FEAT_WAITPKG: UMONITOR/UMWAIT/TPAUSE, else #UD.
 * A wait makes cpu_run() return CPU_EXIT_MWAIT; complete it with
 * cpu_complete(c, &cf, false), cf = 1 if the OS time limit ended the wait.
 */
#define CPU_FEAT_WAITPKG (1u << 0)
/* MONITOR/MWAIT at CPL 0: a NOP by default (Linux 6.1 KVM's exit handling);
 * CPU_FEAT_MWAIT_UD: #UD instead; CPU_FEAT_MWAIT: executed, MWAIT waits
 * (CPU_EXIT_MWAIT with CPU_WAIT_MWAIT, complete it with cpu_complete()) */
#define CPU_FEAT_MWAIT_UD (1u << 1)
#define CPU_FEAT_MWAIT	  (1u << 2)
/* VMX operation (cpu/vmx/README.md): VMXON and the rest, IA32_FEATURE_CONTROL
 * and the IA32_VMX_* MSRs; without it they #UD/#GP as on a processor
 * without VMX. kvm/ enables it only on explicit opt-in (SOFTKVM_NESTED=1). */
#define CPU_FEAT_VMX (1u << 3)
void cpu_set_features(struct cpu *c, uint32_t features);
/* the armed monitor was written (since arming) */
bool cpu_monitor_triggered(struct cpu *c);
/* the monitored line's guest-physical address, or 0 if none is armed */
uint64_t cpu_monitor_line(struct cpu *c);

/*
 * Where Intel and AMD processors differ, the processor behaves as the
 * vendor the guest's CPUID names; some of those behaviours also follow
 * CPUID bits. cpu/README.md lists each one. kvm/ fills this from the
 * guest's CPUID (KVM_SET_CPUID2), the differential tests from the host's.
 * The default (cpu_create) is Intel with every bit clear.
 */
enum cpu_vendor { CPU_VENDOR_INTEL = 0, CPU_VENDOR_AMD = 1 };
struct cpu_vendor_info {
	enum cpu_vendor vendor; /* leaf 0: AuthenticAMD/HygonGenuine = AMD, else Intel */
	bool fdp_excptn_only;	/* CPUID.7.0:EBX[6]: FDP/FDS only on unmasked exceptions */
	bool zero_fcs_fds;	/* CPUID.7.0:EBX[13]: FCS and FDS deprecated (saved as 0) */
	bool xsave_err_ptr;	/* CPUID.80000008:EBX[2] (AMD): FXSAVE/XSAVE always store
				 * FIP/FDP/FOP, not only with FSW.ES set */
	bool null_sel_clr_base; /* CPUID.80000021:EAX[6] (AMD): a null selector load
				 * clears the segment base */
};
/* Read the vendor and the bits above through a CPUID function (the guest's
 * table or the host's instruction); leaves above the maximum count as 0. */
void cpu_vendor_from_cpuid(struct cpu_vendor_info *v,
			   void (*cpuid)(void *opaque, uint32_t leaf, uint32_t subleaf,
					 uint32_t out[4]),
			   void *opaque);
void cpu_set_vendor(struct cpu *c, const struct cpu_vendor_info *v);
void cpu_get_vendor(const struct cpu *c, struct cpu_vendor_info *v);

/* Physical-address width for reserved-bit checks (guest CPUID 0x80000008). */
void cpu_set_maxphyaddr(struct cpu *c, unsigned bits);

/* Translate a linear address as the guest would (KVM_TRANSLATE). */
int cpu_translate(struct cpu *c, uint64_t la, uint64_t *gpa, bool *writeable, bool *user);

/* Debugging controls (KVM_SET_GUEST_DEBUG). */
#define CPU_DEBUG_SINGLESTEP (1u << 0)
#define CPU_DEBUG_HW_BP	     (1u << 1)
#define CPU_DEBUG_SW_BP	     (1u << 2)
void cpu_set_guest_debug(struct cpu *c, uint32_t flags, const uint64_t dr[8]);

#endif
