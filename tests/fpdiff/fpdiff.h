/* SPDX-License-Identifier: MIT */
/*
 * Differential testing of the x87/MMX/SSE implementation against the host
 * processor: the shared layout.
 *
 * The same virtual addresses are used natively (a forked child) and in the
 * guest (64-bit mode, CPL 3, identity mapped by the harness):
 *   CODE  the generated case, ending with a jump to EXIT
 *   EXIT  natively: a stub that saves the state; in the guest: HLT (#GP at CPL 3)
 *   DATA  the memory the case may touch, with a not-present page on each side
 * The input state is GPRs, RFLAGS and an FXSAVE64 image (x87, MXCSR, XMM).
 */
#ifndef SOFTKVM_FPDIFF_H
#define SOFTKVM_FPDIFF_H

#include <stdbool.h>
#include <stdint.h>

#define FD_CODE_VA    0x10000000ull
#define FD_CODE_MAX   512u
#define FD_EXIT_VA    0x10008000ull
#define FD_CTL_VA     0x10010000ull /* native control block (child only) */
#define FD_STUB_VA    0x10020000ull /* guest IDT stubs */
#define FD_KSTACK_TOP 0x10030000ull /* guest ring-0 stack */
#define FD_DATA_VA    0x10100000ull
#define FD_DATA_SIZE  0x2000u
#define FD_GUARD_LO   (FD_DATA_VA - 0x1000)
#define FD_GUARD_HI   (FD_DATA_VA + FD_DATA_SIZE)
#define FD_PT_GPA     0x10200000ull /* guest page table for the 2 MiB region at CODE */
#define FD_RAM_SIZE   (512ull << 20)

#define FD_MAX_INSNS 24
#define FD_MAX_MASKS 16

/* registers the generator keeps as pointers into DATA (never written) */
#define FD_BASE_REG 15 /* r15: base of every generated memory operand */
#define FD_DI_REG   7  /* rdi: MASKMOVQ/MASKMOVDQU target */
#define FD_BASE_OFF 0x800u

struct fd_state {
	uint64_t gpr[16]; /* RAX RCX RDX RBX RSP RBP RSI RDI R8-R15 */
	uint64_t rflags;
	uint8_t fx[512] __attribute__((aligned(16))); /* FXSAVE64 image */
};

/* a byte range of DATA whose contents are not compared (x87 pointer fields
 * of saved images: AMD's FXSAVE stores them only with an exception pending) */
struct fd_mask {
	uint16_t off, len;
};

struct fd_case {
	uint8_t code[FD_CODE_MAX];
	uint32_t len;
	struct fd_state in;
	uint64_t data_seed;
	uint32_t ninsns;
	uint16_t off[FD_MAX_INSNS + 1];
	int16_t tmpl[FD_MAX_INSNS]; /* generator template of each instruction, -1: glue */
	/* FXRSTOR/XRSTOR load x87 pointers from an image AMD's FXSAVE/XSAVE left
	 * zero (no exception pending), and AMD's FCMOVcc updates them only when
	 * it moves: FIP/FOP/FDP are then not comparable */
	bool no_ptrs;
	uint32_t nmasks;
	struct fd_mask mask[FD_MAX_MASKS];
};

struct fd_result {
	struct fd_state out;
	int32_t vector; /* -1: reached EXIT */
	uint32_t err;
	uint64_t rip, cr2;
	/* FNSTENV at EXIT (32-bit protected format) for FIP, FOP, FDP */
	bool env_valid;
	uint32_t fip, fdp;
	uint16_t fop;
};

void fd_fill_data(uint8_t *buf, uint64_t seed);
/* Build the instruction templates (once) and generate case number seed. */
void fd_gen_init(void);
void fd_generate(struct fd_case *tc, uint64_t seed);
/* how many distinct instruction forms the generator knows, and their names */
unsigned fd_template_count(void);
const char *fd_template_name(unsigned k);

#endif
