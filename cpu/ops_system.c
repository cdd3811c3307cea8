/* SPDX-License-Identifier: MIT */
/* System instructions. Port I/O: IN, OUT (INS/OUTS are in ops_string.c). */
#include "decode.h"
#include "ops.h"

/* i->aux: port from DX (0xffff marker) or the immediate; i->osz: size */
static uint16_t io_port(struct cpu *c, const struct insn *i)
{
	return i->aux2 ? (uint16_t)c->gpr[REG_RDX] : (uint16_t)i->aux;
}

static const struct insn *op_in(struct cpu *c, const struct insn *i)
{
	uint16_t port = io_port(c, i);
	io_check_perm(c, port, i->osz);
	reg_set(c, REG_RAX, i->osz == 1 ? 1 : i->osz, io_in(c, port, i->osz));
	if (i->osz == 1)
		reg_set(c, 0, 1, c->gpr[REG_RAX] & 0xff);
	NEXT(c, i);
}

static const struct insn *op_out(struct cpu *c, const struct insn *i)
{
	uint16_t port = io_port(c, i);
	io_check_perm(c, port, i->osz);
	io_out(c, port, i->osz, reg_get(c, REG_RAX, i->osz));
	NEXT(c, i);
}

static bool decode_io(struct dctx *d, struct insn *i, bool in)
{
	/* IN: op0 = AL/AX/EAX, op1 = imm8 or DX; OUT: op0 = imm8 or DX, op1 = AL/AX/EAX */
	const ZydisDecodedOperand *port = in ? &d->op[1] : &d->op[0];
	const ZydisDecodedOperand *acc = in ? &d->op[0] : &d->op[1];
	unsigned size;

	if (dreg(acc->reg.value, &size) < 0)
		return false;
	i->osz = (uint8_t)size;
	if (dop_is_imm(port)) {
		i->aux = (uint16_t)(port->imm.value.u & 0xff);
		i->aux2 = 0;
	} else {
		i->aux2 = 1;
	}
	i->fn = in ? op_in : op_out;
	return true;
}

static bool decode_in(struct dctx *d, struct insn *i)
{
	return decode_io(d, i, true);
}

static bool decode_out(struct dctx *d, struct insn *i)
{
	return decode_io(d, i, false);
}

bool decode_mov_sys(struct dctx *d, struct insn *i)
{
	(void)d, (void)i;
	return false;
}

void ops_system_register(void)
{
	decode_register(ZYDIS_MNEMONIC_IN, decode_in);
	decode_register(ZYDIS_MNEMONIC_OUT, decode_out);
}
