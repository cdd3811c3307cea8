/* SPDX-License-Identifier: MIT */
/*
 * Differential testing of cpu/ against the host processor: shared layout.
 *
 * The same virtual addresses are used natively (in a forked child) and in
 * the guest (64-bit mode, CPL 3, identity mapped by the harness):
 *   CODE  the generated case, ending with a jump to EXIT
 *   EXIT  natively: a stub that saves the state; in the guest: HLT (#GP at CPL 3)
 *   DATA  the memory the case may touch, with a not-present page on each side
 */
#ifndef SOFTKVM_DIFFTEST_H
#define SOFTKVM_DIFFTEST_H

#include <stdbool.h>
#include <stdint.h>

#define DT_CODE_VA    0x10000000ull
#define DT_CODE_MAX   0x1000u /* from code_va; code_va + DT_CODE_MAX < DT_EXIT_VA */
#define DT_EXIT_VA    0x10008000ull
#define DT_EXIT32_VA  0x10008100ull /* the end of 32-bit cases (compatibility mode) */
#define DT_CTL_VA     0x10010000ull /* native control block (child only) */
#define DT_STUB_VA    0x10020000ull /* guest IDT stubs */
#define DT_KSTACK_TOP 0x10030000ull /* guest ring-0 stack */
#define DT_DATA_VA    0x10100000ull
#define DT_DATA_SIZE  0x4000u
#define DT_GUARD_LO   (DT_DATA_VA - 0x1000)
#define DT_GUARD_HI   (DT_DATA_VA + DT_DATA_SIZE)
#define DT_PT_GPA     0x10200000ull /* guest page table for the 2 MiB region at CODE */
#define DT_RAM_SIZE   (512ull << 20)

#define DT_MAX_INSNS 96

struct dt_regs {
	uint64_t gpr[16];
	uint64_t rflags;
};

/* what the native child reports */
struct dt_result {
	struct dt_regs out;
	int32_t vector; /* -1: reached EXIT */
	uint32_t err;
	uint64_t rip, cr2;
	uint32_t mxcsr; /* at a #XM: the flags the fault left (compared then) */
};

/* one generated case */
struct dt_case {
	uint8_t code[DT_CODE_MAX];
	uint32_t len;
	struct dt_regs in;
	uint64_t data_seed;
	uint32_t data_mode;
	uint32_t mode32;  /* 32-bit code (compatibility mode): compare the low halves of EAX..EDI */
	uint64_t code_va; /* where the code starts: DT_CODE_VA or up to one page above */
	/* per instruction: offset and the arithmetic flags undefined before it */
	uint32_t ninsns;
	uint16_t off[DT_MAX_INSNS + 1];
	uint8_t undef[DT_MAX_INSNS + 1]; /* [ninsns] = at the end */
	uint16_t undef_regs;		 /* GPRs whose final value is undefined */
	/* generator self-checks, reported as mismatches by the harness:
	 * read_undef: 1 + the first instruction that tests an arithmetic flag which is undefined
	 *   before it (by Zydis' table), 0 if none: its result would be compared meaninglessly;
	 * must_fault: the last instruction was emitted to fault for certain (it ends the case) */
	uint16_t read_undef;
	uint8_t must_fault;
};

/* RFLAGS arithmetic bits as an 8-bit mask: CF PF AF ZF SF OF in their bit positions (OF -> bit 7?)
 */
#define DTF_CF	0x01
#define DTF_PF	0x04
#define DTF_AF	0x10
#define DTF_ZF	0x40
#define DTF_SF	0x80
#define DTF_OF	0x08 /* RFLAGS bit 11 folded into bit 3 */
#define DTF_ALL (DTF_CF | DTF_PF | DTF_AF | DTF_ZF | DTF_SF | DTF_OF)

static inline uint64_t dtf_to_rflags(unsigned m)
{
	return (m & (DTF_CF | DTF_PF | DTF_AF | DTF_ZF | DTF_SF)) | ((m & DTF_OF) ? 0x800 : 0);
}

void dt_fill_data(uint8_t *buf, uint64_t seed, uint32_t mode);
/* allow32: also generate 32-bit code (compatibility mode), if the host runs it */
void dt_generate(struct dt_case *tc, uint64_t seed, bool allow32);
/* the difftest's options for the generator (difftest.c, gen.c) */
extern bool dt_host_amd;  /* the host is AMD: compare the undefined flags known for it */
extern bool dt_focus_bmi; /* --focus bmi: mostly BMI1/BMI2/ADX instructions */
extern bool dt_host_bmi;  /* the host has BMI1, BMI2 and ADX (else none are generated) */
extern bool dt_focus_avx; /* --focus avx: VEX instructions between a YMM prologue and epilogue */

#endif
