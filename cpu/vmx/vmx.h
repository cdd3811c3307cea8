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

#endif
