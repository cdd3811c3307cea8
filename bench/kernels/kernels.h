/* SPDX-License-Identifier: MIT */
/*
 * Shared by the freestanding benchmark kernels (linked at KIMG_BASE, run
 * natively and on cpu/) and by the bench program that loads them.
 *
 * Every kernel has the signature
 *	uint64_t k(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed)
 * (SysV: RDI, RSI, RDX, RCX -> RAX). work is a scratch area of KWORK_SIZE
 * bytes that the kernel initialises itself; the result depends only on the
 * arguments, so native and guest runs must return the same value.
 *
 * KERNEL_BASIC selects code that needs only the instructions cpu/ has today
 * (ALU, MOV, LEA, Jcc, CALL/RET, PUSH/POP, INC/DEC, CMP/TEST, MOVZX/MOVSX,
 * SETcc/CMOVcc): no shifts, multiplies, divides or string instructions.
 * Without it ("full") the kernels are written the natural way.
 */
#ifndef SOFTKVM_BENCH_KERNELS_H
#define SOFTKVM_BENCH_KERNELS_H

#define KIMG_BASE  0x1000000ull /* where the image is linked (16 MiB) */
#define KIMG_MAX   0x100000ull	/* image size limit */
#define KWORK_BASE 0x2000000ull /* scratch area (32 MiB) */
#define KWORK_SIZE 0x2000000ull /* 32 MiB */

#define KTAB_MAGIC 0x4b4e524bu /* "KRNK" */

enum { K_CRC32, K_SIEVE, K_MEMCPY, K_INTERP, K_COUNT };

#ifndef __ASSEMBLER__
#include <stdint.h>

/* At the very start of the image. */
struct ktab {
	uint32_t magic;
	uint32_t count;
	uint32_t basic; /* built with KERNEL_BASIC */
	uint32_t pad;
	uint64_t entry[K_COUNT]; /* absolute addresses */
};

typedef uint64_t (*kernel_fn)(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
#endif

#endif
