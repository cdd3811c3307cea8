/* SPDX-License-Identifier: MIT */
/* VMX internals shared by the files of cpu/vmx. */
#ifndef SOFTKVM_CPU_VMX_INTERNAL_H
#define SOFTKVM_CPU_VMX_INTERNAL_H

#include "../internal.h"
#include "vmx.h"

/* VMCS fields: slots of the cached VMCS, in vmcs_fields.h order */
enum vmcs_slot {
#define X(name, enc) VF_##name,
#include "vmcs_fields.h"
#undef X
	VF_COUNT
};

/* the encodings, by name */
enum vmcs_enc {
#define X(name, enc) VE_##name = enc,
#include "vmcs_fields.h"
#undef X
};

/*
 * Our VMCS revision identifier and the layout of a VMCS region in guest
 * memory (the region is opaque to software, SDM 24.2): the revision at 0,
 * the VMX-abort indicator at 4, the launch state at 8, then each field's
 * 64-bit slot at VMCS_FIELDS_OFF + 8 * slot.
 */
#define VMX_REVISION	     0x534b5631u
#define VMCS_SIZE	     4096u
#define VMCS_LAUNCH_OFF	     8
#define VMCS_FIELDS_OFF	     16
#define VMCS_LAUNCH_CLEAR    0
#define VMCS_LAUNCH_LAUNCHED 1
#define VMPTR_INVALID	     (~0ull)

/* VM-instruction error numbers (SDM 31.4) */
enum {
	VMXERR_VMCALL_IN_ROOT = 1,
	VMXERR_VMCLEAR_INVALID_ADDRESS = 2,
	VMXERR_VMCLEAR_VMXON_POINTER = 3,
	VMXERR_VMLAUNCH_NONCLEAR_VMCS = 4,
	VMXERR_VMRESUME_NONLAUNCHED_VMCS = 5,
	VMXERR_VMRESUME_AFTER_VMXOFF = 6,
	VMXERR_ENTRY_INVALID_CONTROL_FIELD = 7,
	VMXERR_ENTRY_INVALID_HOST_STATE_FIELD = 8,
	VMXERR_VMPTRLD_INVALID_ADDRESS = 9,
	VMXERR_VMPTRLD_VMXON_POINTER = 10,
	VMXERR_VMPTRLD_INCORRECT_REVISION = 11,
	VMXERR_UNSUPPORTED_VMCS_COMPONENT = 12,
	VMXERR_VMWRITE_READ_ONLY_COMPONENT = 13,
	VMXERR_VMXON_IN_ROOT = 15,
	VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS = 26,
	VMXERR_INVALID_OPERAND_INVEPT_INVVPID = 28,
};

/* IA32_FEATURE_CONTROL (MSR 3AH) bits (SDM 23.7) */
#define MSR_IA32_FEATURE_CONTROL 0x3a
#define FEAT_CTL_LOCKED		 (1ull << 0)
#define FEAT_CTL_VMX_IN_SMX	 (1ull << 1)
#define FEAT_CTL_VMX_OUT_SMX	 (1ull << 2)

/* capability MSRs (SDM appendix A) */
#define MSR_VMX_BASIC		0x480
#define MSR_VMX_PINBASED_CTLS	0x481
#define MSR_VMX_PROCBASED_CTLS	0x482
#define MSR_VMX_EXIT_CTLS	0x483
#define MSR_VMX_ENTRY_CTLS	0x484
#define MSR_VMX_MISC		0x485
#define MSR_VMX_CR0_FIXED0	0x486
#define MSR_VMX_CR0_FIXED1	0x487
#define MSR_VMX_CR4_FIXED0	0x488
#define MSR_VMX_CR4_FIXED1	0x489
#define MSR_VMX_VMCS_ENUM	0x48a
#define MSR_VMX_PROCBASED_CTLS2 0x48b
#define MSR_VMX_EPT_VPID_CAP	0x48c
#define MSR_VMX_TRUE_PINBASED	0x48d
#define MSR_VMX_TRUE_PROCBASED	0x48e
#define MSR_VMX_TRUE_EXIT	0x48f
#define MSR_VMX_TRUE_ENTRY	0x490
#define MSR_VMX_VMFUNC		0x491

/* VM-execution, exit and entry controls (SDM 24.6-24.8) */
#define PIN_EXT_INTR	  (1u << 0)
#define PIN_NMI_EXITING	  (1u << 3)
#define PIN_VIRTUAL_NMIS  (1u << 5)
#define PIN_PREEMPT_TIMER (1u << 6)
#define PIN_DEFAULT1	  0x00000016u

#define PROC_INTR_WINDOW (1u << 2)
#define PROC_TSC_OFFSET	 (1u << 3)
#define PROC_HLT	 (1u << 7)
#define PROC_INVLPG	 (1u << 9)
#define PROC_MWAIT	 (1u << 10)
#define PROC_RDPMC	 (1u << 11)
#define PROC_RDTSC	 (1u << 12)
#define PROC_CR3_LOAD	 (1u << 15)
#define PROC_CR3_STORE	 (1u << 16)
#define PROC_CR8_LOAD	 (1u << 19)
#define PROC_CR8_STORE	 (1u << 20)
#define PROC_TPR_SHADOW	 (1u << 21)
#define PROC_NMI_WINDOW	 (1u << 22)
#define PROC_MOV_DR	 (1u << 23)
#define PROC_UNCOND_IO	 (1u << 24)
#define PROC_IO_BITMAPS	 (1u << 25)
#define PROC_MTF	 (1u << 27)
#define PROC_MSR_BITMAPS (1u << 28)
#define PROC_MONITOR	 (1u << 29)
#define PROC_PAUSE	 (1u << 30)
#define PROC_SECONDARY	 (1u << 31)
#define PROC_DEFAULT1	 0x0401e172u

#define EXIT_SAVE_DEBUG	  (1u << 2)
#define EXIT_HOST_64	  (1u << 9)
#define EXIT_ACK_INTR	  (1u << 15)
#define EXIT_SAVE_PAT	  (1u << 18)
#define EXIT_LOAD_PAT	  (1u << 19)
#define EXIT_SAVE_EFER	  (1u << 20)
#define EXIT_LOAD_EFER	  (1u << 21)
#define EXIT_SAVE_PREEMPT (1u << 22)
#define EXIT_DEFAULT1	  0x00036dffu

#define ENTRY_LOAD_DEBUG   (1u << 2)
#define ENTRY_IA32E	   (1u << 9)
#define ENTRY_SMM	   (1u << 10)
#define ENTRY_DUAL_MONITOR (1u << 11)
#define ENTRY_LOAD_PAT	   (1u << 14)
#define ENTRY_LOAD_EFER	   (1u << 15)
#define ENTRY_DEFAULT1	   0x000011ffu

/* what this processor implements (allowed-1 settings, and the bits it
 * lets software clear among the default1 ones: TRUE_* MSRs) */
#define PIN_ALLOWED1                                                                               \
	(PIN_DEFAULT1 | PIN_EXT_INTR | PIN_NMI_EXITING | PIN_VIRTUAL_NMIS | PIN_PREEMPT_TIMER)
#define PROC_ALLOWED1                                                                              \
	(PROC_DEFAULT1 | PROC_INTR_WINDOW | PROC_TSC_OFFSET | PROC_HLT | PROC_CR3_LOAD |           \
	 PROC_CR3_STORE | PROC_CR8_LOAD | PROC_CR8_STORE | PROC_NMI_WINDOW | PROC_UNCOND_IO |      \
	 PROC_IO_BITMAPS | PROC_MSR_BITMAPS | PROC_SECONDARY)
#define PROC_TRUE_DEFAULT1 (PROC_DEFAULT1 & ~(PROC_CR3_LOAD | PROC_CR3_STORE))
#define PROC2_ALLOWED1	   0u
#define EXIT_ALLOWED1                                                                              \
	(EXIT_DEFAULT1 | EXIT_HOST_64 | EXIT_ACK_INTR | EXIT_SAVE_PAT | EXIT_LOAD_PAT |            \
	 EXIT_SAVE_EFER | EXIT_LOAD_EFER | EXIT_SAVE_PREEMPT)
#define EXIT_TRUE_DEFAULT1  (EXIT_DEFAULT1 & ~EXIT_SAVE_DEBUG)
#define ENTRY_ALLOWED1	    (ENTRY_DEFAULT1 | ENTRY_IA32E | ENTRY_LOAD_PAT | ENTRY_LOAD_EFER)
#define ENTRY_TRUE_DEFAULT1 (ENTRY_DEFAULT1 & ~ENTRY_LOAD_DEBUG)
/* IA32_VMX_MISC: preemption timer rate (TSC >> 5), EFER.LMA saved into
 * "IA-32e mode guest", activity state HLT (seed 004: always reported) */
#define VMX_MISC_TIMER_RATE 5u
#define VMX_MISC_SAVE_LMA   (1u << 5)
#define VMX_MISC_ACT_HLT    (1u << 6)

struct vmx {
	uint64_t feature_control;
	bool on;	      /* in VMX operation */
	bool guest;	      /* VMX non-root operation: L2 runs */
	uint64_t vmxon_ptr;   /* VMXON region */
	uint64_t cur;	      /* current-VMCS pointer or VMPTR_INVALID */
	uint32_t launch;      /* launch state of the current VMCS */
	uint64_t timer_start; /* TSC >> rate at VM entry (preemption timer) */
	uint64_t f[VF_COUNT]; /* the current VMCS, cached (written back by VMCLEAR,
			       * VMPTRLD of another VMCS, VMXOFF) */
};

/* basic exit reasons (SDM appendix C) */
enum {
	EXIT_EXCEPTION_NMI = 0,
	EXIT_EXTERNAL_INTR = 1,
	EXIT_TRIPLE_FAULT = 2,
	EXIT_INTR_WINDOW = 7,
	EXIT_NMI_WINDOW = 8,
	EXIT_CPUID = 10,
	EXIT_HLT = 12,
	EXIT_VMCALL = 18,
	EXIT_VMCLEAR = 19,
	EXIT_VMLAUNCH = 20,
	EXIT_VMPTRLD = 21,
	EXIT_VMPTRST = 22,
	EXIT_VMREAD = 23,
	EXIT_VMRESUME = 24,
	EXIT_VMWRITE = 25,
	EXIT_VMXOFF = 26,
	EXIT_VMXON = 27,
	EXIT_CR_ACCESS = 28,
	EXIT_IO = 30,
	EXIT_RDMSR = 31,
	EXIT_WRMSR = 32,
	EXIT_INVALID_GUEST_STATE = 33,
	EXIT_MSR_LOAD_FAIL = 34,
	EXIT_PREEMPT_TIMER = 52,
};
#define EXIT_REASON_ENTRY_FAIL (1u << 31)

/* interruption-information format (SDM 24.8.3, 24.9.2) */
#define INTR_INFO_VALID	   (1u << 31)
#define INTR_INFO_ERRCODE  (1u << 11)
#define INTR_TYPE_EXT	   0u
#define INTR_TYPE_NMI	   2u
#define INTR_TYPE_HW_EXC   3u
#define INTR_TYPE_SOFT_INT 4u
#define INTR_TYPE_PRIV_SW  5u
#define INTR_TYPE_SOFT_EXC 6u
#define INTR_TYPE_OTHER	   7u

/* exit.c */
/*
 * A VM exit (SDM 27): record reason and qualification, save the guest
 * state, load the host state, and unwind to cpu_run() (L1 continues at
 * HOST_RIP). i: the instruction that caused it (its length is recorded;
 * RIP still points at it), or NULL.
 */
NORETURN void vmx_vmexit(struct cpu *c, uint32_t reason, uint64_t qual, const struct insn *i);
/* the same for an instruction with VMX instruction information */
NORETURN void vmx_vmexit_info(struct cpu *c, uint32_t reason, uint64_t qual, const struct insn *i,
			      uint32_t info);
/* load the host-state area (VM exit and failed VM entry after the checks) */
void vmx_load_host(struct cpu *c);

/* entry.c */
const struct insn *vmx_op_vmlaunch(struct cpu *c, const struct insn *i);
const struct insn *vmx_op_vmresume(struct cpu *c, const struct insn *i);
/* the VMX instruction information of a memory operand (SDM table 28-9..) */
uint32_t vmx_mem_insn_info(struct cpu *c, const struct insn *i);

/* caps.c */
uint64_t vmx_cap(struct cpu *c, uint32_t index); /* value of a capability MSR */

/* vmcs.c */
/* slot of a field encoding, -1 if unsupported */
int vmcs_slot_of(uint64_t enc);
uint64_t vmcs_read_enc(const struct vmx *v, uint64_t enc, int slot);
void vmcs_write_enc(struct vmx *v, uint64_t enc, int slot, uint64_t val);
/* VMPTRLD: read the VMCS at gpa into the cache; false if gpa is not RAM */
bool vmcs_load(struct cpu *c, uint64_t gpa);
/* write the cache back to guest memory */
void vmcs_flush(struct cpu *c);
/* set a region's launch state in memory (VMCLEAR of a VMCS not current) */
void vmcs_mem_set_launch(struct cpu *c, uint64_t gpa, uint32_t state);
/* read 4 bytes of guest-physical memory; false if not RAM */
bool vmx_read_phys32(struct cpu *c, uint64_t gpa, uint32_t *v);

static inline uint64_t vmcs_get(const struct vmx *v, enum vmcs_slot s)
{
	return v->f[s];
}
static inline void vmcs_set(struct vmx *v, enum vmcs_slot s, uint64_t val)
{
	v->f[s] = val;
}

/* insn.c */
void vmx_succeed(struct cpu *c);
void vmx_fail_invalid(struct cpu *c);
void vmx_fail_valid(struct cpu *c, uint32_t err);
void vmx_fail(struct cpu *c, uint32_t err);

#endif
