/* SPDX-License-Identifier: MIT */
/*
 * String instructions: MOVS CMPS SCAS LODS STOS INS OUTS with REP/REPE/REPNE,
 * SDM vol. 2B "REP/REPE/REPZ/REPNE/REPNZ" and vol. 1, 7.3.9.
 *
 * rSI/rDI/rCX are used and written with the address size; the source
 * segment may be overridden, the destination is always ES. A REP loop
 * commits rCX/rSI/rDI after every iteration (or bulk chunk), so a fault
 * leaves the state of the faulting iteration, and returns to the run loop
 * with RIP still on the instruction every REP_CHUNK iterations, so events
 * are seen; with TF set or data breakpoints armed it does one iteration per
 * step so the #DB trap follows each iteration (SDM vol. 3B, 17.3.1.2).
 * MOVS and STOS copy/fill whole pages at once when both sides hit the TLB,
 * with the element-by-element semantics kept for overlapping MOVS.
 */
#include "decode.h"
#include "ops_int.h"

#define REP_CHUNK 8192u

static ALWAYS_INLINE unsigned abytes(const struct insn *i)
{
	return i->ashift == 0 ? 8 : i->ashift == 32 ? 4 : 2;
}

static ALWAYS_INLINE uint64_t amask(const struct insn *i)
{
	return ~0ull >> i->ashift;
}

static ALWAYS_INLINE bool is_rep(const struct insn *i)
{
	return (i->flags & (INSN_REP | INSN_REPNE)) != 0;
}

static ALWAYS_INLINE uint64_t rep_budget(const struct cpu *c)
{
	return ((c->rflags & FL_TF) || c->dr7_data_bp) ? 1 : REP_CHUNK;
}

/*
 * The count of a REP string instruction. In 64-bit mode with a 32-bit
 * address size (67h) and ECX = 0, Intel writes ECX anyway, clearing
 * RCX[63:32] (observed on Intel hardware); AMD leaves RCX as it is.
 */
static ALWAYS_INLINE uint64_t rep_count(struct cpu *c, const struct insn *i)
{
	uint64_t cnt = c->gpr[REG_RCX] & amask(i);

	if (unlikely(!cnt) && i->ashift == 32 && !(c->vflags & VB_REP_KEEP_RCX_HI) &&
	    in_64bit_mode(c))
		c->gpr[REG_RCX] = 0;
	return cnt;
}

static ALWAYS_INLINE int64_t str_delta(const struct cpu *c, unsigned size)
{
	return (c->rflags & FL_DF) ? -(int64_t)size : (int64_t)size;
}

/* Elements of size at offset off that fit before the page end (forward) or
 * page start (backward) of la, and before the address-size wrap. 0 if the
 * first element straddles a page. */
static ALWAYS_INLINE uint64_t run_len(uint64_t la, uint64_t off, unsigned size, bool back,
				      uint64_t am)
{
	uint64_t po = la & 0xfff, n;

	if (po + size > 4096)
		return 0;
	if (!back) {
		n = (4096 - po) / size;
		if (am != ~0ull && (am - off + 1) / size < n)
			n = (am - off + 1) / size;
	} else {
		n = po / size + 1;
		if (am != ~0ull && off / size + 1 < n)
			n = off / size + 1;
	}
	return n;
}

static ALWAYS_INLINE uint8_t *tlb_host(const struct tlb_entry *tab, uint64_t la)
{
	const struct tlb_entry *e = &tab[TLB_INDEX(la)];
	if (e->tag != (la & PAGE_MASK_4K))
		return NULL;
	return (uint8_t *)(e->addend + la);
}

static ALWAYS_INLINE bool bulk_ok(const struct cpu *c, unsigned seg)
{
	return !(c->segchk & ((1u << seg) | (1u << SEG_ES)));
}

/* ---- MOVS ---- */

static ALWAYS_INLINE void movs_one(struct cpu *c, const struct insn *i, unsigned size,
				   int64_t delta)
{
	uint64_t am = amask(i), si = c->gpr[REG_RSI] & am, di = c->gpr[REG_RDI] & am;
	uint64_t v = mem_read(c, seg_la(c, i->seg, si, size, ACC_R), size);

	mem_write(c, seg_la(c, SEG_ES, di, size, ACC_W), size, v);
	reg_set(c, REG_RSI, abytes(i), si + (uint64_t)delta);
	reg_set(c, REG_RDI, abytes(i), di + (uint64_t)delta);
}

/* copy up to max elements within the current source and destination pages; 0: not possible */
static uint64_t movs_bulk(struct cpu *c, const struct insn *i, unsigned size, int64_t delta,
			  uint64_t max)
{
	uint64_t am = amask(i), si = c->gpr[REG_RSI] & am, di = c->gpr[REG_RDI] & am;
	uint64_t sla, dla, n, m, bytes;
	bool back = delta < 0;
	uint8_t *sp, *dp;

	if (!bulk_ok(c, i->seg))
		return 0;
	sla = seg_la(c, i->seg, si, size, ACC_R);
	dla = seg_la(c, SEG_ES, di, size, ACC_W);
	n = run_len(sla, si, size, back, am);
	m = run_len(dla, di, size, back, am);
	if (m < n)
		n = m;
	if (max < n)
		n = max;
	if (n < 2)
		return 0;
	sp = tlb_host(c->tlb->r, sla);
	dp = tlb_host(c->tlb->w, dla);
	if (!sp || !dp)
		return 0;
	bytes = n * size;
	if (!back) {
		if (dp >= sp + bytes || sp >= dp + bytes) {
			memcpy(dp, sp, bytes);
		} else {
			/* overlapping: iteration by iteration, as the SDM defines it */
			for (uint64_t k = 0; k < bytes; k += size)
				st_n(dp + k, size, ld_n(sp + k, size));
		}
	} else {
		uint8_t *slo = sp - bytes + size, *dlo = dp - bytes + size;
		if (dlo >= slo + bytes || slo >= dlo + bytes) {
			memcpy(dlo, slo, bytes);
		} else {
			for (uint64_t k = 0; k < bytes; k += size)
				st_n(dp - k, size, ld_n(sp - k, size));
		}
	}
	reg_set(c, REG_RSI, abytes(i), si + (uint64_t)delta * n);
	reg_set(c, REG_RDI, abytes(i), di + (uint64_t)delta * n);
	return n;
}

static const struct insn *op_movs(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	int64_t delta = str_delta(c, size);
	uint64_t cnt, budget;

	if (!is_rep(i)) {
		movs_one(c, i, size, delta);
		NEXT(c, i);
	}
	cnt = rep_count(c, i);
	budget = rep_budget(c);
	while (cnt) {
		uint64_t n;
		if (!budget)
			return NULL; /* come back: events are checked first */
		n = movs_bulk(c, i, size, delta, cnt < budget ? cnt : budget);
		if (!n) {
			movs_one(c, i, size, delta);
			n = 1;
		}
		cnt -= n;
		budget -= n;
		reg_set(c, REG_RCX, abytes(i), cnt);
		xlog_iteration_done(c);
	}
	NEXT(c, i);
}

/* ---- STOS ---- */

static ALWAYS_INLINE void stos_one(struct cpu *c, const struct insn *i, unsigned size,
				   int64_t delta)
{
	uint64_t am = amask(i), di = c->gpr[REG_RDI] & am;

	mem_write(c, seg_la(c, SEG_ES, di, size, ACC_W), size, reg_get(c, REG_RAX, size));
	reg_set(c, REG_RDI, abytes(i), di + (uint64_t)delta);
}

static uint64_t stos_bulk(struct cpu *c, const struct insn *i, unsigned size, int64_t delta,
			  uint64_t max)
{
	uint64_t am = amask(i), di = c->gpr[REG_RDI] & am, v = reg_get(c, REG_RAX, size);
	uint64_t dla, n, bytes;
	bool back = delta < 0;
	uint8_t *dp;

	if (!bulk_ok(c, SEG_ES))
		return 0;
	dla = seg_la(c, SEG_ES, di, size, ACC_W);
	n = run_len(dla, di, size, back, am);
	if (max < n)
		n = max;
	if (n < 2)
		return 0;
	dp = tlb_host(c->tlb->w, dla);
	if (!dp)
		return 0;
	bytes = n * size;
	if (back)
		dp = dp - bytes + size;
	if (size == 1) {
		memset(dp, (int)v, bytes);
	} else {
		for (uint64_t k = 0; k < bytes; k += size)
			st_n(dp + k, size, v);
	}
	reg_set(c, REG_RDI, abytes(i), di + (uint64_t)delta * n);
	return n;
}

static const struct insn *op_stos(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	int64_t delta = str_delta(c, size);
	uint64_t cnt, budget;

	if (!is_rep(i)) {
		stos_one(c, i, size, delta);
		NEXT(c, i);
	}
	cnt = rep_count(c, i);
	budget = rep_budget(c);
	while (cnt) {
		uint64_t n;
		if (!budget)
			return NULL;
		n = stos_bulk(c, i, size, delta, cnt < budget ? cnt : budget);
		if (!n) {
			stos_one(c, i, size, delta);
			n = 1;
		}
		cnt -= n;
		budget -= n;
		reg_set(c, REG_RCX, abytes(i), cnt);
		xlog_iteration_done(c);
	}
	NEXT(c, i);
}

/* ---- LODS ---- */

static ALWAYS_INLINE void lods_one(struct cpu *c, const struct insn *i, unsigned size,
				   int64_t delta)
{
	uint64_t am = amask(i), si = c->gpr[REG_RSI] & am;
	uint64_t v = mem_read(c, seg_la(c, i->seg, si, size, ACC_R), size);

	reg_set(c, size == 1 ? 0 : REG_RAX, size, v);
	reg_set(c, REG_RSI, abytes(i), si + (uint64_t)delta);
}

static const struct insn *op_lods(struct cpu *c, const struct insn *i)
{
	unsigned size = i->osz;
	int64_t delta = str_delta(c, size);
	uint64_t cnt, budget;

	if (!is_rep(i)) {
		lods_one(c, i, size, delta);
		NEXT(c, i);
	}
	cnt = rep_count(c, i);
	budget = rep_budget(c);
	while (cnt) {
		if (!budget--)
			return NULL;
		lods_one(c, i, size, delta);
		reg_set(c, REG_RCX, abytes(i), --cnt);
		xlog_iteration_done(c);
	}
	NEXT(c, i);
}

/* ---- CMPS / SCAS: flags of CMP src, dst; REPE stops on ZF = 0, REPNE on ZF = 1 ---- */

static ALWAYS_INLINE bool cmp_flags(struct cpu *c, unsigned size, uint64_t a, uint64_t b)
{
	c->cc_op = CC_OP(CC_SUB, szlog(size));
	c->cc_res = a - b;
	c->cc_aux = a;
	c->cc_src = b;
	return a == b;
}

static ALWAYS_INLINE bool cmps_one(struct cpu *c, const struct insn *i, unsigned size,
				   int64_t delta)
{
	uint64_t am = amask(i), si = c->gpr[REG_RSI] & am, di = c->gpr[REG_RDI] & am;
	uint64_t a = mem_read(c, seg_la(c, i->seg, si, size, ACC_R), size);
	uint64_t b = mem_read(c, seg_la(c, SEG_ES, di, size, ACC_R), size);

	reg_set(c, REG_RSI, abytes(i), si + (uint64_t)delta);
	reg_set(c, REG_RDI, abytes(i), di + (uint64_t)delta);
	return cmp_flags(c, size, a, b);
}

static ALWAYS_INLINE bool scas_one(struct cpu *c, const struct insn *i, unsigned size,
				   int64_t delta)
{
	uint64_t am = amask(i), di = c->gpr[REG_RDI] & am;
	uint64_t b = mem_read(c, seg_la(c, SEG_ES, di, size, ACC_R), size);

	reg_set(c, REG_RDI, abytes(i), di + (uint64_t)delta);
	return cmp_flags(c, size, reg_get(c, size == 1 ? 0 : REG_RAX, size), b);
}

static ALWAYS_INLINE const struct insn *cmp_string(struct cpu *c, const struct insn *i, bool scas)
{
	unsigned size = i->osz;
	int64_t delta = str_delta(c, size);
	uint64_t cnt, budget;
	bool stop_eq = (i->flags & INSN_REPNE) != 0;

	if (!is_rep(i)) {
		if (scas)
			scas_one(c, i, size, delta);
		else
			cmps_one(c, i, size, delta);
		NEXT(c, i);
	}
	cnt = rep_count(c, i);
	budget = rep_budget(c);
	while (cnt) {
		bool eq;
		if (!budget--)
			return NULL;
		eq = scas ? scas_one(c, i, size, delta) : cmps_one(c, i, size, delta);
		reg_set(c, REG_RCX, abytes(i), --cnt);
		xlog_iteration_done(c);
		if (eq == stop_eq)
			break;
	}
	NEXT(c, i);
}

static const struct insn *op_cmps(struct cpu *c, const struct insn *i)
{
	return cmp_string(c, i, false);
}

static const struct insn *op_scas(struct cpu *c, const struct insn *i)
{
	return cmp_string(c, i, true);
}

/* ---- INS / OUTS: port DX, permission checked first (SDM vol. 1, 19.5) ---- */

static ALWAYS_INLINE void ins_one(struct cpu *c, const struct insn *i, unsigned size, int64_t delta,
				  uint16_t port)
{
	uint64_t am = amask(i), di = c->gpr[REG_RDI] & am;
	uint64_t la = seg_la(c, SEG_ES, di, size, ACC_W);

	mem_probe_write(c, la, size); /* fault before the port is read */
	mem_write(c, la, size, io_in(c, port, size));
	reg_set(c, REG_RDI, abytes(i), di + (uint64_t)delta);
}

static ALWAYS_INLINE void outs_one(struct cpu *c, const struct insn *i, unsigned size,
				   int64_t delta, uint16_t port)
{
	uint64_t am = amask(i), si = c->gpr[REG_RSI] & am;
	uint64_t v = mem_read(c, seg_la(c, i->seg, si, size, ACC_R), size);

	io_out(c, port, size, v);
	reg_set(c, REG_RSI, abytes(i), si + (uint64_t)delta);
}

static ALWAYS_INLINE const struct insn *io_string(struct cpu *c, const struct insn *i, bool in)
{
	unsigned size = i->osz;
	int64_t delta = str_delta(c, size);
	uint16_t port = (uint16_t)c->gpr[REG_RDX];
	uint64_t cnt, budget;

	io_check_perm(c, port, size);
	if (unlikely(c->vmx_nonroot))
		vmx_exit_io(c, i, port, size, in, true, is_rep(i), false);
	if (!is_rep(i)) {
		if (in)
			ins_one(c, i, size, delta, port);
		else
			outs_one(c, i, size, delta, port);
		NEXT(c, i);
	}
	cnt = c->gpr[REG_RCX] & amask(i);
	budget = rep_budget(c);
	while (cnt) {
		if (!budget--)
			return NULL;
		if (in) {
			/*
			 * An exit to the caller may ask for several elements at once,
			 * as Linux's emulator does (pio_in_emulated): at most 1 KiB,
			 * the count left, and the bytes left in RDI's page (Linux
			 * compares bytes with elements there; so does this).
			 */
			uint64_t off = c->gpr[REG_RDI] & 0xfff;
			uint64_t n = delta < 0 ? off : 4096 - off;
			if (n > 1024 / size)
				n = 1024 / size;
			if (n > cnt)
				n = cnt;
			c->io_batch = n ? (unsigned)n : 1;
			ins_one(c, i, size, delta, port);
		} else {
			outs_one(c, i, size, delta, port);
		}
		reg_set(c, REG_RCX, abytes(i), --cnt);
		xlog_iteration_done(c);
	}
	c->inb.active = false; /* what was read ahead and not used is dropped */
	NEXT(c, i);
}

static const struct insn *op_ins(struct cpu *c, const struct insn *i)
{
	return io_string(c, i, true);
}

static const struct insn *op_outs(struct cpu *c, const struct insn *i)
{
	return io_string(c, i, false);
}

/* ---- decode ---- */

static bool decode_string(struct dctx *d, struct insn *i, insn_fn fn)
{
	/* MOVSD and CMPSD are also SSE2 mnemonics: only the one-byte-map forms are strings */
	if (d->zi->opcode_map != ZYDIS_OPCODE_MAP_DEFAULT)
		return false;
	i->seg = SEG_DS;
	for (unsigned k = 0; k < d->zi->operand_count; k++) {
		const ZydisDecodedOperand *o = &d->op[k];
		if (!dop_is_mem(o))
			continue;
		if (o->mem.base == ZYDIS_REGISTER_RSI || o->mem.base == ZYDIS_REGISTER_ESI ||
		    o->mem.base == ZYDIS_REGISTER_SI) {
			int s = dsreg(o->mem.segment);
			if (s >= 0)
				i->seg = (uint8_t)s;
		}
	}
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
	i->osz = (uint8_t)(d->zi->operand_width / 8);
	i->flags |= INSN_MEM;
	i->fn = fn;
	return true;
}

#define DECSTR(name)                                                                               \
	static bool decode_##name(struct dctx *d, struct insn *i)                                  \
	{                                                                                          \
		return decode_string(d, i, op_##name);                                             \
	}
DECSTR(movs)
DECSTR(stos)
DECSTR(lods)
DECSTR(cmps)
DECSTR(scas)
DECSTR(ins)
DECSTR(outs)

bool decode_string_movsd_cmpsd(struct dctx *d, struct insn *i)
{
	if (d->zi->mnemonic == ZYDIS_MNEMONIC_MOVSD)
		return decode_movs(d, i);
	if (d->zi->mnemonic == ZYDIS_MNEMONIC_CMPSD)
		return decode_cmps(d, i);
	return false;
}

void ops_string_register(void)
{
	static const struct {
		ZydisMnemonic m;
		decode_fn fn;
	} tab[] = {
	    {ZYDIS_MNEMONIC_MOVSB, decode_movs}, {ZYDIS_MNEMONIC_MOVSW, decode_movs},
	    {ZYDIS_MNEMONIC_MOVSD, decode_movs}, {ZYDIS_MNEMONIC_MOVSQ, decode_movs},
	    {ZYDIS_MNEMONIC_STOSB, decode_stos}, {ZYDIS_MNEMONIC_STOSW, decode_stos},
	    {ZYDIS_MNEMONIC_STOSD, decode_stos}, {ZYDIS_MNEMONIC_STOSQ, decode_stos},
	    {ZYDIS_MNEMONIC_LODSB, decode_lods}, {ZYDIS_MNEMONIC_LODSW, decode_lods},
	    {ZYDIS_MNEMONIC_LODSD, decode_lods}, {ZYDIS_MNEMONIC_LODSQ, decode_lods},
	    {ZYDIS_MNEMONIC_CMPSB, decode_cmps}, {ZYDIS_MNEMONIC_CMPSW, decode_cmps},
	    {ZYDIS_MNEMONIC_CMPSD, decode_cmps}, {ZYDIS_MNEMONIC_CMPSQ, decode_cmps},
	    {ZYDIS_MNEMONIC_SCASB, decode_scas}, {ZYDIS_MNEMONIC_SCASW, decode_scas},
	    {ZYDIS_MNEMONIC_SCASD, decode_scas}, {ZYDIS_MNEMONIC_SCASQ, decode_scas},
	    {ZYDIS_MNEMONIC_INSB, decode_ins},	 {ZYDIS_MNEMONIC_INSW, decode_ins},
	    {ZYDIS_MNEMONIC_INSD, decode_ins},	 {ZYDIS_MNEMONIC_OUTSB, decode_outs},
	    {ZYDIS_MNEMONIC_OUTSW, decode_outs}, {ZYDIS_MNEMONIC_OUTSD, decode_outs},
	};
	for (unsigned k = 0; k < sizeof(tab) / sizeof(tab[0]); k++)
		decode_register(tab[k].m, tab[k].fn);
}
