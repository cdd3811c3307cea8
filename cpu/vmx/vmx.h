/* SPDX-License-Identifier: MIT */
/*
 * VMX (Intel SDM vol. 3C, chapters 23-33) inside the processor: the one
 * interface the rest of cpu/ uses. Everything is behind c->vmx, which is
 * NULL unless CPU_FEAT_VMX was enabled (cpu_set_features): a processor
 * without it pays one pointer test on the slow paths that call in here
 * (MSR access, MOV to CR0/CR4) and nothing on the fast paths.
 */
#ifndef SOFTKVM_CPU_VMX_H
#define SOFTKVM_CPU_VMX_H

#include <stdbool.h>
#include <stdint.h>

struct cpu;
struct vmx;
struct insn;

/* register the VMX instructions with the decoder (decode.c, once) */
void vmx_register(void);
/* CPU_FEAT_VMX turned on/off: allocate/free c->vmx (leaves VMX operation) */
void vmx_enable(struct cpu *c, bool on);
/* RESET: leave VMX operation, IA32_FEATURE_CONTROL = 0 (SDM 23.7) */
void vmx_reset(struct cpu *c);
/* IA32_FEATURE_CONTROL and IA32_VMX_*: 0 ok, -1 not such an MSR, -2 #GP */
int vmx_msr_get(struct cpu *c, uint32_t index, uint64_t *value);
int vmx_msr_set(struct cpu *c, uint32_t index, uint64_t value, bool host);
/* MOV to CR0/CR4 in VMX operation: false if the value violates the
 * IA32_VMX_CR0/CR4_FIXED* bits (SDM 23.8: #GP) */
bool vmx_cr0_allowed(struct cpu *c, uint64_t cr0);
bool vmx_cr4_allowed(struct cpu *c, uint64_t cr4);
/* in VMX operation (root or non-root) */
bool vmx_in_operation(const struct cpu *c);

/*
 * VMX non-root operation: c->vmx_nonroot is set while L2 runs, and the
 * instructions and events that may exit to L1 test it (one predictable
 * branch) before calling in here. The calls that return did not exit;
 * the others unwind to cpu_run() with L1's host state loaded.
 */
#define VMX_EXIT_CPUID	10
#define VMX_EXIT_VMCALL 18
__attribute__((noreturn)) void vmx_exit_insn(struct cpu *c, const struct insn *i, uint32_t reason);
/* HLT: exits with HLT exiting, else returns false (L2 halts) */
bool vmx_exit_hlt(struct cpu *c, const struct insn *i);
/* IN/OUT/INS/OUTS after the I/O permission checks */
void vmx_exit_io(struct cpu *c, const struct insn *i, uint16_t port, unsigned size, bool in,
		 bool string, bool rep, bool imm);
/* RDMSR/WRMSR after the CPL check */
void vmx_exit_msr(struct cpu *c, const struct insn *i, uint32_t index, bool write);
/* an exception about to be delivered (exception bitmap); i: the INT3/INTO
 * that raises it as a software exception, NULL for other exceptions */
void vmx_exit_exception(struct cpu *c, int vector, bool has_error, uint32_t error,
			const struct insn *i);
__attribute__((noreturn)) void vmx_exit_triple_fault(struct cpu *c);
/* external interrupts exit from L2 whatever its RFLAGS.IF */
bool vmx_ext_intr_exits(const struct cpu *c);
/* at an instruction boundary: timer, windows, external interrupts */
void vmx_boundary(struct cpu *c);
/* MOV to/from CR0/3/4/8 and CLTS in L2 (SDM 26.1.3): exit, or return
 * the value to write (bits L1 owns keep theirs) / to read (the read
 * shadows for the bits L1 owns) */
uint64_t vmx_cr_write(struct cpu *c, const struct insn *i, unsigned cr, uint64_t val, unsigned gpr);
/* CLTS: exits, or returns whether it clears CR0.TS */
bool vmx_clts(struct cpu *c, const struct insn *i);
uint64_t vmx_cr_read(struct cpu *c, const struct insn *i, unsigned cr, uint64_t val, unsigned gpr);

#endif
