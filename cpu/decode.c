/* SPDX-License-Identifier: MIT */
/* Zydis -> struct insn. */
#include <pthread.h>
#include <stdlib.h>

#include "decode.h"

static decode_fn decode_table[ZYDIS_MNEMONIC_MAX_VALUE + 1];
static pthread_once_t decode_once = PTHREAD_ONCE_INIT;

void decode_register(ZydisMnemonic m, decode_fn fn)
{
	decode_table[m] = fn;
}

decode_fn decode_lookup(ZydisMnemonic m)
{
	return decode_table[m];
}

static void decode_table_init(void)
{
	ops_alu_register();
	ops_mov_register();
	ops_branch_register();
	ops_stack_register();
	ops_shift_register();
	ops_muldiv_register();
	ops_bit_register();
	ops_string_register();
	ops_misc_register();
	ops_system_register();
	ops_fpu_register();
	ops_far_register();
	ops_wait_register();
	ops_atomic_register();
	ops_bcd_register();
	ops_pku_register();
	vmx_register();
}

struct decoders {
	ZydisDecoder dec[ZYDIS_MACHINE_MODE_MAX_VALUE + 1];
};

void decode_init(struct cpu *c)
{
	static const ZydisStackWidth sw[] = {
	    [ZYDIS_MACHINE_MODE_LONG_64] = ZYDIS_STACK_WIDTH_64,
	    [ZYDIS_MACHINE_MODE_LONG_COMPAT_32] = ZYDIS_STACK_WIDTH_32,
	    [ZYDIS_MACHINE_MODE_LONG_COMPAT_16] = ZYDIS_STACK_WIDTH_16,
	    [ZYDIS_MACHINE_MODE_LEGACY_32] = ZYDIS_STACK_WIDTH_32,
	    [ZYDIS_MACHINE_MODE_LEGACY_16] = ZYDIS_STACK_WIDTH_16,
	    [ZYDIS_MACHINE_MODE_REAL_16] = ZYDIS_STACK_WIDTH_16,
	};
	struct decoders *d;

	pthread_once(&decode_once, decode_table_init);
	d = calloc(1, sizeof(*d));
	if (!d)
		abort(); /* allocation failure at vCPU creation is fatal */
	for (int m = 0; m <= ZYDIS_MACHINE_MODE_MAX_VALUE; m++) {
		ZydisDecoderInit(&d->dec[m], (ZydisMachineMode)m, sw[m]);
		/* Intel semantics for near branches in 64-bit mode (66h ignored)
		 * until decode_set_vendor() says AMD */
		ZydisDecoderEnableMode(&d->dec[m], ZYDIS_DECODER_MODE_LZCNT, ZYAN_TRUE);
		ZydisDecoderEnableMode(&d->dec[m], ZYDIS_DECODER_MODE_TZCNT, ZYAN_TRUE);
	}
	c->decoder_state = d;
}

void decode_set_vendor(struct cpu *c, bool amd)
{
	struct decoders *d = c->decoder_state;

	for (int m = 0; m <= ZYDIS_MACHINE_MODE_MAX_VALUE; m++) {
		/* 66h rel16 near branches in 64-bit mode (ops_branch.c) */
		ZydisDecoderEnableMode(&d->dec[m], ZYDIS_DECODER_MODE_AMD_BRANCHES, amd);
	}
}

void decode_fini(struct cpu *c)
{
	free(c->decoder_state);
	c->decoder_state = NULL;
}

int dreg(ZydisRegister r, unsigned *size)
{
	if (r >= ZYDIS_REGISTER_AL && r <= ZYDIS_REGISTER_R15B) {
		*size = 1;
		if (r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH)
			return (r - ZYDIS_REGISTER_AH) * 8 + 1;
		/* ids: AL..BL 0-3, AH..BH 4-7, SPL..R15B 8-19 (registers 4-15) */
		int id = ZydisRegisterGetId(r);
		return (id >= 8 ? id - 4 : id) * 8;
	}
	if (r >= ZYDIS_REGISTER_AX && r <= ZYDIS_REGISTER_R15W) {
		*size = 2;
		return r - ZYDIS_REGISTER_AX;
	}
	if (r >= ZYDIS_REGISTER_EAX && r <= ZYDIS_REGISTER_R15D) {
		*size = 4;
		return r - ZYDIS_REGISTER_EAX;
	}
	if (r >= ZYDIS_REGISTER_RAX && r <= ZYDIS_REGISTER_R15) {
		*size = 8;
		return r - ZYDIS_REGISTER_RAX;
	}
	return -1;
}

int dsreg(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES:
		return SEG_ES;
	case ZYDIS_REGISTER_CS:
		return SEG_CS;
	case ZYDIS_REGISTER_SS:
		return SEG_SS;
	case ZYDIS_REGISTER_DS:
		return SEG_DS;
	case ZYDIS_REGISTER_FS:
		return SEG_FS;
	case ZYDIS_REGISTER_GS:
		return SEG_GS;
	default:
		return -1;
	}
}

static int dreg_any(ZydisRegister r)
{
	unsigned sz;
	if (r == ZYDIS_REGISTER_NONE)
		return GPR_ZERO;
	if (r == ZYDIS_REGISTER_RIP || r == ZYDIS_REGISTER_EIP || r == ZYDIS_REGISTER_IP)
		return GPR_RIP;
	int g = dreg(r, &sz);
	if (g < 0 || sz == 1)
		return -1;
	return g;
}

bool dmem(struct dctx *d, const ZydisDecodedOperand *op, struct insn *i)
{
	const ZydisDecodedOperandMem *m = &op->mem;
	int b = dreg_any(m->base), x = dreg_any(m->index), s = dsreg(m->segment);

	if (b < 0 || x < 0)
		return false;
	if (m->type == ZYDIS_MEMOP_TYPE_MIB || m->type == ZYDIS_MEMOP_TYPE_VSIB)
		return false;
	i->base = (uint8_t)b;
	i->index = (uint8_t)x;
	i->scale = m->scale == 8 ? 3 : m->scale == 4 ? 2 : m->scale == 2 ? 1 : 0;
	/* a 64-bit absolute offset (MOV moffs64) does not fit: see dmem_abs64() */
	if ((int64_t)(int32_t)m->disp.value != m->disp.value && b == GPR_ZERO && x == GPR_ZERO &&
	    d->zi->address_width == 64)
		return false;
	i->disp = (int32_t)m->disp.value;
	if (b == GPR_RIP) {
		/* RIP-relative is from the next instruction; a sum past INT32_MAX
		 * borrows 2^31 from a constant slot (RIP-relative has no index) */
		int64_t v = (int64_t)i->disp + d->zi->length;
		if (v > INT32_MAX) {
			i->index = GPR_2G;
			i->scale = 0;
			v -= 1ll << 31;
		}
		i->disp = (int32_t)v;
	}
	i->seg = s < 0 ? SEG_DS : (uint8_t)s;
	switch (d->zi->address_width) {
	case 64:
		i->ashift = 0;
		break;
	case 32:
		i->ashift = 32;
		break;
	default:
		i->ashift = 48;
		break;
	}
	i->flags |= INSN_MEM;
	return true;
}

bool dmem_abs64(struct dctx *d, const ZydisDecodedOperand *op, struct insn *i)
{
	const ZydisDecodedOperandMem *m = &op->mem;
	if (op->type != ZYDIS_OPERAND_TYPE_MEMORY || m->base != ZYDIS_REGISTER_NONE ||
	    m->index != ZYDIS_REGISTER_NONE || d->zi->address_width != 64 ||
	    (int64_t)(int32_t)m->disp.value == m->disp.value)
		return false;
	int s = dsreg(m->segment);
	i->seg = s < 0 ? SEG_DS : (uint8_t)s;
	i->imm = (uint64_t)m->disp.value;
	i->flags |= INSN_MEM;
	return true;
}

bool dprefixes(struct dctx *d, struct insn *i)
{
	ZydisInstructionAttributes a = d->zi->attributes;
	if (a & ZYDIS_ATTRIB_HAS_LOCK)
		i->flags |= INSN_LOCK;
	if (a & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE))
		i->flags |= INSN_REP;
	if (a & ZYDIS_ATTRIB_HAS_REPNE)
		i->flags |= INSN_REPNE;
	if (a & ZYDIS_ATTRIB_HAS_OPERANDSIZE)
		i->flags |= INSN_O16;
	return true;
}

/* x87/MMX and SSE/AVX instructions before their implementation: #NM or #UD by CR0/CR4. */
static const struct insn *op_fpu_unavail(struct cpu *c, const struct insn *i)
{
	(void)i;
	if (c->cr0 & (CR0_EM | CR0_TS))
		cpu_raise_noerr(c, EXC_NM);
	cpu_raise_noerr(c, EXC_UD);
}

static const struct insn *op_simd_unavail(struct cpu *c, const struct insn *i)
{
	(void)i;
	if ((c->cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR))
		cpu_raise_noerr(c, EXC_UD);
	if (c->cr0 & CR0_TS)
		cpu_raise_noerr(c, EXC_NM);
	cpu_raise_noerr(c, EXC_UD);
}

static const struct insn *op_gp0(struct cpu *c, const struct insn *i)
{
	(void)i;
	cpu_raise(c, EXC_GP, 0);
}

static bool is_x87_or_mmx(const ZydisDecodedInstruction *zi)
{
	switch (zi->meta.isa_set) {
	case ZYDIS_ISA_SET_X87:
	case ZYDIS_ISA_SET_FCMOV:
	case ZYDIS_ISA_SET_FAT_NOP:
	case ZYDIS_ISA_SET_PENTIUMMMX:
	case ZYDIS_ISA_SET_SSE2MMX:
	case ZYDIS_ISA_SET_SSSE3MMX:
	case ZYDIS_ISA_SET_AMD3DNOW:
		return zi->meta.isa_set != ZYDIS_ISA_SET_FAT_NOP;
	default:
		return zi->meta.category == ZYDIS_CATEGORY_X87_ALU ||
		       zi->meta.category == ZYDIS_CATEGORY_MMX;
	}
}

int decode_one(struct cpu *c, const uint8_t *bytes, unsigned avail, uint32_t mode, struct insn *out,
	       bool *ends_block)
{
	struct decoders *ds = c->decoder_state;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	ZyanStatus st;
	struct dctx d;
	decode_fn fn;

	memset(out, 0, sizeof(*out));
	out->base = out->index = GPR_ZERO;
	out->seg = SEG_DS;
	*ends_block = false;

	st = ZydisDecoderDecodeFull(&ds->dec[mode], bytes, avail, &zi, ops);
	if (st == ZYDIS_STATUS_NO_MORE_DATA && avail < ZYDIS_MAX_INSTRUCTION_LENGTH)
		return -1;
	if (st == ZYDIS_STATUS_INSTRUCTION_TOO_LONG) {
		out->fn = op_gp0;
		out->len = ZYDIS_MAX_INSTRUCTION_LENGTH;
		*ends_block = true;
		return out->len;
	}
	if (!ZYAN_SUCCESS(st)) {
		/* #UD does not advance RIP; the length only makes the block cover
		 * every byte the decoder looked at, so a change to them is seen */
		out->fn = op_ud;
		out->len =
		    (uint8_t)(avail < ZYDIS_MAX_INSTRUCTION_LENGTH ? avail
								   : ZYDIS_MAX_INSTRUCTION_LENGTH);
		*ends_block = true;
		return out->len;
	}

	out->len = zi.length;
	out->osz = (uint8_t)(zi.operand_width / 8);
	if (zi.cpu_flags && !((zi.cpu_flags->modified | zi.cpu_flags->set_0 | zi.cpu_flags->set_1 |
			       zi.cpu_flags->undefined) &
			      FL_ARITH))
		out->flags |= INSN_FLAGNEUTRAL;
	d.c = c;
	d.zi = &zi;
	d.op = ops;
	d.mode = mode;
	d.ends_block = false;
	dprefixes(&d, out);

	fn = decode_table[zi.mnemonic];
	if (fn && fn(&d, out)) {
		*ends_block = d.ends_block;
		/* near branches keep CS, mode and translation: their blocks may chain */
		switch (zi.meta.category) {
		case ZYDIS_CATEGORY_COND_BR:
		case ZYDIS_CATEGORY_UNCOND_BR:
		case ZYDIS_CATEGORY_CALL:
		case ZYDIS_CATEGORY_RET:
			if (zi.meta.branch_type != ZYDIS_BRANCH_TYPE_FAR &&
			    zi.mnemonic != ZYDIS_MNEMONIC_IRET &&
			    zi.mnemonic != ZYDIS_MNEMONIC_IRETD &&
			    zi.mnemonic != ZYDIS_MNEMONIC_IRETQ)
				out->flags |= INSN_CHAIN;
			break;
		default:
			break;
		}
		return out->len;
	}
	/* not implemented (or refused by its decode function) */
	{
		uint8_t len = out->len;
		memset(out, 0, sizeof(*out));
		out->len = len;
	}
	if (is_x87_or_mmx(&zi))
		out->fn = op_fpu_unavail;
	else if (zi.encoding == ZYDIS_INSTRUCTION_ENCODING_VEX ||
		 zi.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX)
		out->fn = op_ud; /* a VEX/EVEX feature this processor lacks, or a form it refuses */
	else if (zi.meta.category == ZYDIS_CATEGORY_SSE || zi.meta.category == ZYDIS_CATEGORY_AVX ||
		 zi.meta.category == ZYDIS_CATEGORY_AVX2 ||
		 zi.meta.category == ZYDIS_CATEGORY_AVX512 ||
		 zi.encoding == ZYDIS_INSTRUCTION_ENCODING_VEX ||
		 zi.encoding == ZYDIS_INSTRUCTION_ENCODING_EVEX)
		out->fn = op_simd_unavail;
	else
		out->fn = op_ud;
	*ends_block = true;
	return out->len;
}
