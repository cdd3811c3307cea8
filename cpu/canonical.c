/* SPDX-License-Identifier: MIT */
/*
 * Which exception a non-canonical data address raises. SDM vol. 3A, 6.15
 * (#SS) and vol. 1, 3.3.7.1: in 64-bit mode a memory reference through SS
 * (explicitly, or by default with RSP or RBP as the base) that is not
 * canonical raises #SS(0); any other one #GP(0). The memory fast paths do
 * not know the segment, and this is rare, so the faulting instruction is
 * decoded again here.
 */
#include <Zydis/Zydis.h>

#include "internal.h"
#include "mem.h"

static int zgpr(ZydisRegister r)
{
	ZydisRegister l = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, r);
	if (l >= ZYDIS_REGISTER_RAX && l <= ZYDIS_REGISTER_R15)
		return l - ZYDIS_REGISTER_RAX;
	return -1;
}

static bool canonical(const struct cpu *c, uint64_t la)
{
	unsigned bits = (c->cr4 & CR4_LA57) ? 57 : 48;
	return (uint64_t)((int64_t)(la << (64 - bits)) >> (64 - bits)) == la;
}

bool mem_noncanonical_is_ss(struct cpu *c)
{
	uint8_t buf[16] = {0};
	uint64_t la;
	const uint8_t *hp;
	ZydisDecoder dec;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

	if (!in_64bit_mode(c))
		return false;
	/*
	 * The instruction's bytes, looked at without faulting: this runs while
	 * a fault is being raised, so a fetch here must not raise another (the
	 * bytes after an instruction that ends at the top of the lower half are
	 * non-canonical themselves, and a second page may be absent).
	 */
	la = (c->segbase[SEG_CS] + RIP(c)) & c->la_mask;
	for (unsigned k = 0; k < 15;) {
		unsigned n = 4096 - (unsigned)((la + k) & 0xfff);
		if (n > 15 - k)
			n = 15 - k;
		hp = mem_fetch_probe(c, (la + k) & c->la_mask);
		if (!hp) {
			if (!k)
				return false;
			break; /* the rest stays 0: the instruction ends before */
		}
		memcpy(buf + k, hp, n);
		k += n;
	}
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	ZydisDecoderEnableMode(&dec, ZYDIS_DECODER_MODE_LZCNT, ZYAN_TRUE);
	ZydisDecoderEnableMode(&dec, ZYDIS_DECODER_MODE_TZCNT, ZYAN_TRUE);
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, buf, 15, &zi, ops)))
		return false;
	for (unsigned k = 0; k < zi.operand_count; k++) {
		const ZydisDecodedOperand *o = &ops[k];
		uint64_t ea;
		if (o->type != ZYDIS_OPERAND_TYPE_MEMORY || o->mem.type != ZYDIS_MEMOP_TYPE_MEM ||
		    o->mem.segment != ZYDIS_REGISTER_SS)
			continue;
		ea = (uint64_t)o->mem.disp.value;
		if (o->mem.base == ZYDIS_REGISTER_RIP || o->mem.base == ZYDIS_REGISTER_EIP) {
			ea += RIP(c) + zi.length;
		} else if (o->mem.base != ZYDIS_REGISTER_NONE) {
			int b = zgpr(o->mem.base);
			if (b < 0)
				continue;
			ea += c->gpr[b];
		}
		if (o->mem.index != ZYDIS_REGISTER_NONE) {
			int x = zgpr(o->mem.index);
			if (x < 0)
				continue;
			ea += c->gpr[x] * o->mem.scale;
		}
		if (zi.address_width == 32)
			ea &= 0xffffffffull;
		if (!canonical(c, ea + o->size / 8 - 1) || !canonical(c, ea))
			return true;
	}
	return false;
}
