/* SPDX-License-Identifier: MIT */
#include "decode.h"
#include "ops.h"

bool decode_far_jmp(struct dctx *d, struct insn *i)
{
	(void)d, (void)i;
	return false;
}

bool decode_far_call(struct dctx *d, struct insn *i)
{
	(void)d, (void)i;
	return false;
}

void ops_far_register(void)
{
}
