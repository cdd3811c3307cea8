/* SPDX-License-Identifier: MIT */
/*
 * A branchy interpreter-like loop: a small stack-machine bytecode VM with a
 * switch dispatch (a jump table, an indirect JMP per bytecode), running a
 * program that loops size times with a data-dependent branch. Run reps
 * times; returns the combined results.
 *
 * Full build: the program's "even" path multiplies and shifts (OP_MUL,
 * OP_SHR). KERNEL_BASIC: those opcodes are not used and not compiled in.
 */
#include "kernels.h"

enum {
	OP_HALT,
	OP_PUSH,  /* imm32 (sign extended) */
	OP_LOAD,  /* local index */
	OP_STORE, /* local index */
	OP_ADD,
	OP_SUB,
	OP_XOR,
	OP_AND,
	OP_OR,
	OP_DUP,
	OP_DROP,
	OP_SWAP,
	OP_DEC,
	OP_LT,
	OP_JMP, /* rel8 from the next instruction */
	OP_JZ,
	OP_JNZ,
	OP_MUL,
	OP_SHR, /* imm8 */
};

#define I32(v)                                                                                     \
	(uint8_t)(v), (uint8_t)((v) >> 8), (uint8_t)((v) >> 16), (uint8_t)((uint32_t)(v) >> 24)

/*
 * locals: 0 = i (counts down), 1 = acc, 2 = odd count
 *   do {
 *           if (acc & 1) { acc += i; odd++; }
 *           else acc = f(acc ^ i);
 *           if (acc < 0x1000) acc ^= 0x5a5a5;
 *   } while (--i);
 *   return acc ^ odd;
 * basic: f(x) = (x + 0x5bd1e995) * 2 (as x + x)
 * full:  f(x) = y ^ (y >> 13) & 0x7fffffff, y = x * 0x5bd1e995
 * Byte offsets in the comments; branch offsets are from the next opcode.
 */
/* clang-format off */
#ifdef KERNEL_BASIC
#define EVEN_LEN 15 /* bytes from "even" to "next" */
#else
#define EVEN_LEN 23
#endif
static const uint8_t program[] = {
	/*  0 loop: */ OP_LOAD, 1, OP_PUSH, I32(1), OP_AND, OP_JZ, 19,
	/* 10 odd:  */ OP_LOAD, 1, OP_LOAD, 0, OP_ADD, OP_STORE, 1,
	/* 17 */       OP_LOAD, 2, OP_PUSH, I32(1), OP_ADD, OP_STORE, 2,
	/* 27 */       OP_JMP, EVEN_LEN,
	/* 29 even: */ OP_LOAD, 1, OP_LOAD, 0, OP_XOR,
#ifdef KERNEL_BASIC
	/* 34 */       OP_PUSH, I32(0x5bd1e995), OP_ADD, OP_DUP, OP_ADD,
#else
	/* 34 */       OP_PUSH, I32(0x5bd1e995), OP_MUL, OP_DUP, OP_SHR, 13, OP_XOR,
	/* 44 */       OP_PUSH, I32(0x7fffffff), OP_AND,
#endif
	/*    */       OP_STORE, 1,
	/* next: */    OP_LOAD, 1, OP_PUSH, I32(0x1000), OP_LT, OP_JZ, 10,
	/*    */       OP_LOAD, 1, OP_PUSH, I32(0x5a5a5), OP_XOR, OP_STORE, 1,
	/* dec: */     OP_LOAD, 0, OP_DEC, OP_DUP, OP_STORE, 0, OP_JNZ, 0 /* patched: loop */,
	/*    */       OP_LOAD, 1, OP_LOAD, 2, OP_XOR, OP_HALT,
};
/* clang-format on */

static uint64_t run(const uint8_t *code, uint64_t *loc)
{
	uint64_t stack[16], *sp = stack;
	const uint8_t *pc = code;

	for (;;) {
		uint8_t op = *pc++;
		switch (op) {
		case OP_HALT:
			return *sp;
		case OP_PUSH: {
			int32_t v;
			__builtin_memcpy(&v, pc, 4); /* one unaligned load, no shifts */
			*++sp = (uint64_t)(int64_t)v;
			pc += 4;
			break;
		}
		case OP_LOAD:
			*++sp = loc[*pc++ & 3];
			break;
		case OP_STORE:
			loc[*pc++ & 3] = *sp--;
			break;
		case OP_ADD:
			sp[-1] += sp[0];
			sp--;
			break;
		case OP_SUB:
			sp[-1] -= sp[0];
			sp--;
			break;
		case OP_XOR:
			sp[-1] ^= sp[0];
			sp--;
			break;
		case OP_AND:
			sp[-1] &= sp[0];
			sp--;
			break;
		case OP_OR:
			sp[-1] |= sp[0];
			sp--;
			break;
		case OP_DUP:
			sp[1] = sp[0];
			sp++;
			break;
		case OP_DROP:
			sp--;
			break;
		case OP_SWAP: {
			uint64_t t = sp[0];
			sp[0] = sp[-1];
			sp[-1] = t;
			break;
		}
		case OP_DEC:
			sp[0]--;
			break;
		case OP_LT:
			sp[-1] = sp[-1] < sp[0];
			sp--;
			break;
		case OP_JMP:
			pc += 1 + (int8_t)pc[0];
			break;
		case OP_JZ:
			pc += 1 + (*sp-- == 0 ? (int8_t)pc[0] : 0);
			break;
		case OP_JNZ:
			pc += 1 + (*sp-- != 0 ? (int8_t)pc[0] : 0);
			break;
#ifndef KERNEL_BASIC
		case OP_MUL:
			sp[-1] *= sp[0];
			sp--;
			break;
		case OP_SHR:
			sp[0] >>= *pc++ & 63;
			break;
#endif
		default:
			return ~0ull; /* bad opcode */
		}
	}
}

uint64_t k_interp(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed);
uint64_t k_interp(uint64_t work, uint64_t size, uint64_t reps, uint64_t seed)
{
	uint8_t *code = (uint8_t *)work;
	uint64_t n = sizeof(program), res = 0;

	if (!size)
		return 0;
	/* copy the program and patch the loop's backward branch */
	for (uint64_t k = 0; k < n; k++)
		code[k] = program[k];
	code[n - 7] = (uint8_t)(0 - (n - 6));
	for (uint64_t r = 0; r < reps; r++) {
		uint64_t loc[4] = {size, seed + r, 0, 0};
		res += run(code, loc);
	}
	return res;
}
