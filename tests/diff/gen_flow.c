/* SPDX-License-Identifier: MIT */
/*
 * Differential-test generator: stack, string and control-flow instructions,
 * deliberate faults, and the instructions of 32-bit code.
 */
#include "gen.h"

#define STACK_LO (DT_DATA_VA + 0x100)
#define STACK_HI (DT_DATA_VA + DT_DATA_SIZE - 0x100)

static bool stack_room(struct gen *g, int64_t delta)
{
	uint64_t sp = g->val[R_SP] + (uint64_t)delta;
	return sp >= STACK_LO && sp <= STACK_HI;
}

void g_stack(struct gen *g)
{
	struct enc e;
	struct eff f = {.stackop = true};
	int64_t d = 0;
	unsigned psz = g->m32 ? 4 : 8, size = chance(g, 15) ? 2 : psz;

	if (g->in_cond)
		return;
	enc_init(&e);
	if (size == 2)
		e.pfx[e.npfx++] = 0x66;
	switch (rndn(g, 9)) {
	case 0: /* PUSH r */
		e.op = 0x50;
		e.opreg = (int)rndn(g, g->m32 ? 8 : 16);
		d = -(int64_t)size;
		break;
	case 1: { /* POP r (not RSP) */
		e.op = 0x58;
		e.opreg = pick_reg(g, 8, true);
		d = size;
		break;
	}
	case 2: /* PUSH imm8 / imm */
		if (chance(g, 50)) {
			e.op = 0x6a;
			set_imm(&e, rval(g), 1);
		} else {
			e.op = 0x68;
			set_imm(&e, rval(g), size == 2 ? 2 : 4);
		}
		d = -(int64_t)size;
		break;
	case 3: /* PUSH m */
		e.op = 0xff;
		e.reg = 6;
		pick_mem(g, &e, size);
		d = -(int64_t)size;
		break;
	case 4: { /* POP m: the address is computed after RSP is incremented */
		uint64_t t = pick_target(g, size);
		e.op = 0x8f;
		e.reg = 0;
		e.modrm = true;
		e.rm_mem = true;
		if (chance(g, 30)) {
			int64_t disp = (int64_t)(t - (g->val[R_SP] + size));
			if (fits32(disp) || g->m32) {
				e.m.base = R_SP;
				e.m.index = -1;
				e.m.disp = (int32_t)disp;
			} else {
				return;
			}
		} else {
			pick_mem_at(g, &e.m, t, true);
			if (e.m.base == R_SP || e.m.index == R_SP)
				return;
		}
		f.no_memcheck = true;
		d = size;
		break;
	}
	case 5: { /* PUSHF, or POPF of a controlled value */
		if (chance(g, 50)) {
			f.reads = DTF_ALL;
			e.op = 0x9c;
			d = -(int64_t)size;
		} else {
			/* PUSH imm32; POPF: arithmetic flags, DF, ID, and IF/IOPL which CPL 3
			 * may not change. Not NT: this host (a PVM guest kernel) now and then
			 * clears a user NT behind the program's back (seen once in 10M cases). */
			uint64_t v = (rnd(g) & 0x8d5) | (rnd(g) & (0x3000 | 0x200 | 0x200000));
			struct enc p;
			if (!stack_room(g, -(int64_t)psz))
				return;
			enc_init(&p);
			p.op = 0x68;
			set_imm(&p, v, 4);
			if (!emit(g, &p, &f))
				return;
			g->val[R_SP] -= psz;
			e.op = 0x9d;
			d = size;
			f.def = DTF_ALL;
			if (size == 2) {
				/* POPF with 66h pops 16 bits: an extra word below */
				if (!stack_room(g, 2))
					return;
			}
			if (!emit(g, &e, &f))
				return;
			g->val[R_SP] += (uint64_t)d;
			g->df = (v >> 10) & 1;
			return;
		}
		break;
	}
	case 6: { /* ENTER imm16, level */
		unsigned lvl = chance(g, 60) ? 0 : rndn(g, 4), alloc = rndn(g, 64);
		int64_t need = -(int64_t)(size * (lvl + 1) + alloc);
		if (lvl > 0) {
			/* the old frame pointer chain is read: RBP must point into the data */
			uint64_t bp = DT_DATA_VA + 0x200 + rndn(g, DT_DATA_SIZE - 0x400);
			if (!set_reg(g, 5, bp))
				return;
		}
		if (!stack_room(g, need))
			return;
		e.op = 0xc8;
		set_imm(&e, alloc, 2);
		e.imm2 = lvl;
		e.imm2sz = 1;
		{
			uint64_t frame = g->val[R_SP] - size;
			if (!emit(g, &e, &f))
				return;
			g->val[R_SP] += (uint64_t)need;
			g->known[5] = size == 8;
			g->val[5] = frame;
		}
		return;
	}
	case 7: /* LEAVE: RSP = RBP, pop RBP */
		if (!g->known[5] || g->val[5] < STACK_LO || g->val[5] > STACK_HI)
			return;
		e.op = 0xc9;
		if (!emit(g, &e, &f))
			return;
		g->val[R_SP] = g->val[5] + size;
		g->known[5] = false;
		if (!stack_room(g, 0))
			g->stop = true; /* cannot happen: checked above */
		return;
	default: { /* CALL / RET: call L1; jmp L2; L1: [ret imm16] ; L2: */
		uint16_t rimm = chance(g, 30) ? (uint16_t)(rndn(g, 4) * 8) : 0;
		uint8_t c[16];
		int k = 0;
		if (!stack_room(g, -(int64_t)psz) || !stack_room(g, (int64_t)rimm))
			return;
		c[k++] = 0xe8;
		c[k++] = 2;
		c[k++] = 0;
		c[k++] = 0;
		c[k++] = 0; /* call +2 */
		if (!emit_raw(g, c, k, &f))
			return;
		k = 0;
		c[k++] = 0xeb;
		c[k++] = rimm ? 3 : 1; /* jmp over the ret */
		if (!emit_raw(g, c, k, &NOFLAGS))
			return;
		k = 0;
		if (rimm) {
			c[k++] = 0xc2;
			c[k++] = (uint8_t)rimm;
			c[k++] = 0;
		} else {
			c[k++] = 0xc3;
		}
		if (!emit_raw(g, c, k, &f))
			return;
		g->val[R_SP] += rimm;
		return;
	}
	}
	if (!stack_room(g, d))
		return;
	shuffle_pfx(g, &e);
	if (!emit(g, &e, &f))
		return;
	if (e.op == 0x58 && size == 2)
		g->known[e.opreg] = false;
	g->val[R_SP] += (uint64_t)d;
}

void g_string(struct gen *g)
{
	static const uint8_t ops[] = {0xa4, 0xa6, 0xaa, 0xac, 0xae};
	unsigned k = rndn(g, 5), size = pick_size(g, ALLSZ), a = chance(g, 20) ? 4 : 8;
	int rep = chance(g, 75) ? (chance(g, 50) ? 0xf3 : 0xf2) : 0;
	uint64_t cnt, span, si, di;
	bool src = k == 0 || k == 1 || k == 3, dst = k != 3;
	uint8_t b[8];
	int n = 0;
	struct eff f = {0};

	if (g->in_cond)
		return;
	cnt = rep ? (chance(g, 10) ? rndn(g, 3000) : rndn(g, 40)) : 1;
	if (rep && size == 1 && chance(g, 4))
		cnt = 8000 + rndn(g, 4000); /* more than one REP chunk */
	if (rep && chance(g, 5))
		cnt = 0;
	span = cnt * size;
	if (span > DT_DATA_SIZE - 64)
		cnt = (DT_DATA_SIZE - 64) / size, span = cnt * size;
	/* both pointers: the whole run must stay inside the data */
	{
		uint64_t room = DT_DATA_SIZE - 32 - span - size;
		uint64_t lo = g->df ? DT_DATA_VA + 16 + span : DT_DATA_VA + 16;
		si = lo + rndn(g, (unsigned)room + 1);
		di = lo + rndn(g, (unsigned)room + 1);
		if (chance(g, 20)) /* overlapping */
			di = si + (uint64_t)(int64_t)(int)(rndn(g, 17) - 8);
		if (di < lo || di > lo + room)
			di = si;
	}
	if (src && !set_reg(g, 6, si))
		return;
	if (dst && !set_reg(g, 7, di))
		return;
	if (rep) {
		uint64_t rcx = cnt;
		if (a == 4 && chance(g, 30))
			rcx |= rnd(g) << 32; /* upper half ignored */
		if (!set_reg(g, 1, rcx))
			return;
	}
	if (chance(g, 15) && src)
		b[n++] = segpfx[rndn(g, sizeof(segpfx))];
	if (a == 4 && !g->m32)
		b[n++] = 0x67;
	if (size == 2)
		b[n++] = 0x66;
	if (rep)
		b[n++] = (uint8_t)rep;
	if (size == 8)
		b[n++] = 0x48;
	b[n++] = (uint8_t)(ops[k] + (size == 1 ? 0 : 1));
	if ((k == 1 || k == 4) && cnt)
		f.def = DTF_ALL;
	if (emit_raw(g, b, n, &f)) {
		/* Zydis does not list every implicit register of the string forms */
		g->known[0] = g->known[1] = g->known[6] = g->known[7] = false;
	}
}

/* a forward conditional branch or LOOP/JrCXZ over a block of simple instructions */
void g_branch(struct gen *g)
{
	bool known0[16];
	uint64_t val0[16];
	unsigned undef0, kind = rndn(g, 5), cc = rndn(g, 16);
	uint32_t at;
	uint8_t b[8];
	int n = 0, disp_at;
	struct eff f = {0};

	if (g->in_cond > 1)
		return;
	if (kind == 4) { /* JMP over garbage */
		unsigned skip = 1 + rndn(g, 12);
		bool near = chance(g, 30);
		if (code_full(g))
			return;
		if (near) {
			b[n++] = 0xe9;
			b[n++] = (uint8_t)skip;
			b[n++] = 0;
			b[n++] = 0;
			b[n++] = 0;
		} else {
			b[n++] = 0xeb;
			b[n++] = (uint8_t)skip;
		}
		if (!emit_raw(g, b, n, &NOFLAGS))
			return;
		for (unsigned k = 0; k < skip; k++)
			g->tc->code[g->tc->len++] = (uint8_t)rnd(g);
		return;
	}
	if (kind <= 1) {
		f.reads = cond_reads(cc);
		if (g->undef & f.reads)
			normalize(g);
		if (kind == 0) {
			b[n++] = (uint8_t)(0x70 + cc);
			disp_at = n;
			b[n++] = 0;
		} else {
			b[n++] = 0x0f;
			b[n++] = (uint8_t)(0x80 + cc);
			disp_at = n;
			b[n++] = 0;
			b[n++] = 0;
			b[n++] = 0;
			b[n++] = 0;
		}
	} else if (kind == 2) { /* LOOP LOOPE LOOPNE */
		unsigned l = rndn(g, 3);
		if (l < 2)
			f.reads = DTF_ZF;
		if (g->undef & f.reads)
			normalize(g);
		if (chance(g, 20))
			b[n++] = 0x67;
		b[n++] = (uint8_t)(0xe0 + l);
		disp_at = n;
		b[n++] = 0;
	} else { /* JRCXZ / JECXZ */
		if (chance(g, 30))
			b[n++] = 0x67;
		if (chance(g, 30) &&
		    !set_reg(g, 1, chance(g, 50) ? 0 : (rnd(g) & 0xffffffff00000000ull)))
			return;
		b[n++] = 0xe3;
		disp_at = n;
		b[n++] = 0;
	}
	at = g->tc->len;
	if (!emit_raw(g, b, n, &NOFLAGS))
		return;
	if (kind == 2)
		g->known[1] = false;
	memcpy(known0, g->known, sizeof(known0));
	memcpy(val0, g->val, sizeof(val0));
	undef0 = g->undef;
	g->in_cond++;
	for (unsigned k = 1 + rndn(g, 3); k > 0; k--)
		gen_one(g, true);
	g->in_cond--;
	{
		uint32_t dist = g->tc->len - (at + (uint32_t)n);
		if (n - disp_at == 1) {
			if (dist > 127) {
				g->stop = true; /* cannot happen with simple blocks; be safe */
				dist = 0;
			}
			g->tc->code[at + disp_at] = (uint8_t)dist;
		} else {
			memcpy(g->tc->code + at + disp_at, &dist, 4);
		}
	}
	for (int r = 0; r < 16; r++)
		if (!known0[r] || !g->known[r] || val0[r] != g->val[r])
			g->known[r] = false;
	g->known[R_SP] = true;
	g->undef |= undef0;
}

/* indirect JMP/CALL through a register or memory to a forward target */
void g_indirect(struct gen *g)
{
	int r;
	uint8_t b[16];
	int n = 0;
	bool call = chance(g, 40);
	struct eff f = {.stackop = call};

	if (g->in_cond || (call && !stack_room(g, g->m32 ? -4 : -8)))
		return;
	do
		r = (int)rndn(g, g->m32 ? 8 : 16);
	while (r == R_SP);
	if (g->m32) {
		/* mov r, X; jmp/call r; X: */
		uint32_t x = (uint32_t)(g->tc->code_va + g->tc->len + 5 + 2);
		b[n++] = (uint8_t)(0xb8 + r);
		memcpy(b + n, &x, 4);
		n += 4;
	} else {
		/* lea r, [rip + X]; jmp/call r ; X: (call target pops the return address) */
		int32_t d = r >= 8 ? 3 : 2; /* length of the jmp/call that follows */
		b[n++] = (uint8_t)(0x48 | (r >= 8 ? 4 : 0));
		b[n++] = 0x8d;
		b[n++] = (uint8_t)(0x05 | ((r & 7) << 3));
		memcpy(b + n, &d, 4);
		n += 4;
	}
	if (!emit_raw(g, b, n, &NOFLAGS))
		return;
	n = 0;
	if (r >= 8)
		b[n++] = 0x41;
	b[n++] = 0xff;
	b[n++] = (uint8_t)(0xc0 | ((call ? 2 : 4) << 3) | (r & 7));
	if (!emit_raw(g, b, n, &f))
		return;
	if (call) {
		/* the return address is now on the stack: pop it into a register */
		int p;
		do
			p = (int)rndn(g, g->m32 ? 8 : 16);
		while (p == R_SP);
		n = 0;
		if (p >= 8)
			b[n++] = 0x41;
		b[n++] = (uint8_t)(0x58 + (p & 7));
		if (!emit_raw(g, b, n, &f))
			return;
	}
}

void g_fault(struct gen *g)
{
	struct eff f = {.fault_ok = true, .stackop = true, .no_memcheck = true};
	uint8_t b[16];
	int n = 0;
	struct enc e;
	bool certain = true; /* the instruction faults whatever the state */

	if (g->in_cond)
		return;
	switch (rndn(g, 14)) {
	case 0: { /* UD2, UD1, UD0, CMPXCHG8B/16B with a register operand: #UD */
		static const uint8_t ud[][5] = {{2, 0x0f, 0x0b},
						{3, 0x0f, 0xb9, 0xc0},
						{3, 0x0f, 0xff, 0xc8},
						{3, 0x0f, 0xc7, 0xc8},
						{4, 0x48, 0x0f, 0xc7, 0xc9}};
		unsigned k = rndn(g, g->m32 ? 4 : 5);
		memcpy(b, &ud[k][1], ud[k][0]);
		n = ud[k][0];
		break;
	}
	case 1:
		b[n++] = 0xcc;
		break; /* INT3 */
	case 2: {      /* INT n: #GP(n * 8 + 2) */
		/* vectors 0x20-0xff: present DPL 0 gates on Linux (0-0x1f vary) */
		unsigned v = 0x20 + rndn(g, 0xe0);
		if (v == 0x80)
			v = 0x81;
		b[n++] = 0xcd;
		b[n++] = (uint8_t)v;
		break;
	}
	case 3: /* INTO: #UD in 64-bit mode, #OF if OF = 1 otherwise */
		if (g->m32 && (g->undef & DTF_OF))
			normalize(g);
		certain = !g->m32;
		b[n++] = 0xce;
		break;
	case 4: /* DAA: #UD in 64-bit mode */
		if (g->m32)
			return;
		b[n++] = 0x27;
		break;
	case 5: /* 82h: #UD in 64-bit mode */
		if (g->m32)
			return;
		b[n++] = 0x82;
		b[n++] = 0xc0;
		b[n++] = 1;
		break;
	case 6:
		b[n++] = 0xf4;
		break; /* HLT: #GP */
	case 7:
		b[n++] = chance(g, 50) ? 0xfa : 0xfb;
		break; /* CLI/STI: #GP */
	case 8: {      /* I/O: #GP */
		static const uint8_t io[] = {0xe4, 0xe5, 0xe6, 0xe7, 0xec, 0xed,
					     0xee, 0xef, 0x6c, 0x6d, 0x6e, 0x6f};
		unsigned k = rndn(g, sizeof(io));
		if (chance(g, 30))
			b[n++] = 0xf3;
		b[n++] = io[k];
		if (io[k] < 0xe8)
			b[n++] = (uint8_t)rnd(g);
		break;
	}
	case 9: { /* LOCK on something not lockable: #UD */
		static const uint8_t bad[][4] = {{2, 0x89, 0xc0},
						 {2, 0x01, 0xc0},
						 {1, 0x90},
						 {2, 0x8b, 0x00},
						 {3, 0x0f, 0xa3, 0x00}};
		unsigned k = rndn(g, 5);
		b[n++] = 0xf0;
		memcpy(b + n, &bad[k][1], bad[k][0]);
		n += bad[k][0];
		break;
	}
	case 10: { /* division by zero */
		unsigned size = pick_size(g, ALLSZ);
		int d;
		do
			d = (int)rndn(g, g->m32 ? 8 : 16);
		while (d == R_SP || d == 0 || d == 2);
		if (!set_reg(g, d, 0))
			return;
		enc_init(&e);
		opsize(g, &e, size);
		e.op = size == 1 ? 0xf6 : 0xf7;
		e.reg = 6 + (int)rndn(g, 2);
		e.modrm = true;
		e.rm_reg = d;
		e.m32 = g->m32;
		n = encode(&e, g->tc->code_va + g->tc->len, b);
		if (n < 0)
			return;
		break;
	}
	case 11: { /* access a guard page: #PF with the right error code and CR2 */
		uint64_t t = chance(g, 50) ? DT_GUARD_HI + rndn(g, 0x1000 - 8)
					   : DT_GUARD_LO + rndn(g, 0x1000);
		unsigned size = pick_size(g, ALLSZ);
		if (chance(g, 30)) {
			/* across an edge of the data: the first byte or the last in a guard page */
			uint64_t edge = chance(g, 50) ? DT_GUARD_HI : DT_DATA_VA;
			t = edge - 1 - rndn(g, size > 1 ? size - 1 : 1);
			/* a byte cannot straddle: DT_GUARD_HI - 1 is still data */
			if (size == 1 && edge == DT_GUARD_HI)
				t = DT_GUARD_HI;
		}
		enc_init(&e);
		opsize(g, &e, size);
		switch (rndn(g, 4)) {
		case 0:
			e.op = size == 1 ? 0x8a : 0x8b;
			e.reg_is_reg = true;
			e.reg = pick_reg(g, size, true);
			break;
		case 1:
			e.op = size == 1 ? 0x88 : 0x89;
			e.reg_is_reg = true;
			e.reg = pick_reg(g, size, false);
			break;
		case 2:
			if (size == 1) {
				e.op = 0x8a;
				e.reg_is_reg = true;
				e.reg = pick_reg(g, size, true);
				break;
			}
			/* CMOVcc reads its source whatever the condition */
			e.map = 1;
			e.op = (uint8_t)(0x40 + rndn(g, 16));
			e.reg_is_reg = true;
			e.reg = pick_reg(g, size, true);
			break;
		default:
			e.op = size == 1 ? 0x80 : 0x81;
			e.reg = (int)rndn(g, 8);
			set_imm(&e, rval(g), size == 1 ? 1 : size == 2 ? 2 : 4);
			if (chance(g, 30) && e.reg != 7)
				e.pfx[e.npfx++] = 0xf0;
			break;
		}
		/* ADC/SBB and CMOVcc read flags: the access faults, but keep the rule that
		 * nothing reads an undefined flag (emit_raw() checks it) */
		if (e.map == 1)
			f.reads = cond_reads(e.op - 0x40u);
		else if (e.op == 0x80 || e.op == 0x81)
			f.reads = e.reg == 2 || e.reg == 3 ? DTF_CF : 0;
		if (f.reads & g->undef)
			normalize(g);
		e.modrm = true;
		e.rm_mem = true;
		pick_mem_at(g, &e.m, t, true);
		e.m32 = g->m32;
		n = encode(&e, g->tc->code_va + g->tc->len, b);
		if (n < 0)
			return;
		break;
	}
	case 12: { /* a REP string running into the guard page: precise rCX/rSI/rDI */
		unsigned size = pick_size(g, ALLSZ), k = rndn(g, 3);
		uint64_t start;
		if (g->df) {
			start = DT_DATA_VA + rndn(g, 256);
		} else {
			start = DT_GUARD_HI - 1 - rndn(g, 256);
		}
		if (!set_reg(g, 7, start) ||
		    !set_reg(g, 6, g->df ? DT_DATA_VA + 0x2000 : DT_DATA_VA + 0x1000) ||
		    !set_reg(g, 1, 300 + rndn(g, 300)))
			return;
		b[n++] = 0xf3;
		if (size == 2)
			b[n++] = 0x66;
		if (size == 8)
			b[n++] = 0x48;
		b[n++] = (uint8_t)((k == 0 ? 0xa4 : k == 1 ? 0xaa : 0xae) + (size == 1 ? 0 : 1));
		certain = k != 2; /* REPE SCAS stops at the first difference */
		break;
	}
	default: { /* non-canonical address: #GP(0) */
		int r;
		if (g->m32)
			return;
		do
			r = (int)rndn(g, 16);
		while (r == R_SP);
		if (!set_reg(g, r, 0x8000000000000000ull + (rnd(g) & 0xffffffffffull)))
			return;
		enc_init(&e);
		e.w = true;
		e.op = chance(g, 50) ? 0x8b : 0x89;
		e.reg_is_reg = true;
		e.reg = 0;
		e.modrm = true;
		e.rm_mem = true;
		e.m.base = r;
		e.m.index = -1;
		e.m32 = g->m32;
		n = encode(&e, g->tc->code_va + g->tc->len, b);
		if (n < 0)
			return;
		break;
	}
	}
	if (emit_raw(g, b, n, &f)) {
		g->stop = true;
		g->tc->must_fault = certain;
	}
}

void g_legacy32(struct gen *g)
{
	uint8_t b[16];
	int n = 0;
	struct eff f = {0};

	switch (rndn(g, 8)) {
	case 0: /* DAA DAS */
		f = (struct eff){.def = DTF_CF | DTF_AF | DTF_SF | DTF_ZF | DTF_PF,
				 .undef = DTF_OF,
				 .reads = DTF_AF | DTF_CF};
		b[n++] = chance(g, 50) ? 0x27 : 0x2f;
		break;
	case 1: /* AAA AAS */
		f = (struct eff){.def = DTF_AF | DTF_CF,
				 .undef = DTF_OF | DTF_SF | DTF_ZF | DTF_PF,
				 .reads = DTF_AF};
		b[n++] = chance(g, 50) ? 0x37 : 0x3f;
		break;
	case 2: /* AAM imm8 (0: #DE) / AAD imm8 */
		f = (struct eff){.def = DTF_SF | DTF_ZF | DTF_PF,
				 .undef = DTF_OF | DTF_AF | DTF_CF};
		b[n++] = chance(g, 50) ? 0xd4 : 0xd5;
		b[n++] = chance(g, 70) ? 10 : (uint8_t)rnd(g);
		if (b[0] == 0xd4 && b[1] == 0)
			f.fault_ok = true;
		break;
	case 3: { /* PUSHA / POPA */
		unsigned size = chance(g, 20) ? 2 : 4;
		bool push = chance(g, 50);
		int64_t d = push ? -8 * (int64_t)size : 8 * (int64_t)size;
		if (g->in_cond || !stack_room(g, d))
			return;
		if (size == 2)
			b[n++] = 0x66;
		b[n++] = push ? 0x60 : 0x61;
		f.stackop = true;
		if (!emit_raw(g, b, n, &f))
			return;
		g->val[R_SP] += (uint64_t)d;
		if (!push)
			for (int r = 0; r < 8; r++)
				g->known[r] = r == R_SP;
		return;
	}
	case 4: { /* INC/DEC r: the one-byte forms 40h-4Fh */
		int r = pick_reg(g, 4, true);
		f.def = DTF_ALL & ~DTF_CF;
		if (chance(g, 20))
			b[n++] = 0x66;
		b[n++] = (uint8_t)((chance(g, 50) ? 0x40 : 0x48) + r);
		break;
	}
	case 5: { /* BOUND r, m32&32 / m16&16: #BR when out of bounds */
		unsigned size = chance(g, 20) ? 2 : 4;
		struct enc e;
		enc_init(&e);
		if (size == 2)
			e.pfx[e.npfx++] = 0x66;
		e.op = 0x62;
		e.reg_is_reg = true;
		e.reg = (int)rndn(g, 8);
		pick_mem(g, &e, 2 * size);
		emit(g, &e, &f);
		return;
	}
	case 6: { /* ARPL r/m16, r16: ZF only */
		struct enc e;
		enc_init(&e);
		e.op = 0x63;
		e.reg_is_reg = true;
		e.reg = (int)rndn(g, 8);
		pick_rm(g, &e, 2, true, 40);
		f.def = DTF_ZF;
		emit(g, &e, &f);
		return;
	}
	default: /* INTO: #OF when OF = 1 */
		if (g->in_cond)
			return;
		f.reads = DTF_OF;
		f.fault_ok = true;
		b[n++] = 0xce;
		break;
	}
	if (f.reads & g->undef)
		normalize(g);
	emit_raw(g, b, n, &f);
}
