/* SPDX-License-Identifier: MIT */
/*
 * Integer instructions the differential test cannot check on every host
 * (they need 32-bit or 16-bit code): the BCD adjustments against the
 * examples of the SDM and, exhaustively, against the SDM pseudocode; AAM 0
 * (#DE); PUSHA/POPA; and 16-bit address-size wrap-around of REP MOVS/STOS.
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

#define CODE 0x1000

static struct hx *h;

/* run code at CODE in flat 32-bit protected mode (CPL 0) from the given state; ends at HLT */
static void run32(const uint8_t *code, size_t len, struct cpu_regs *r)
{
	struct cpu_events ev;
	hx_load(h, CODE, code, len);
	r->rip = CODE;
	cpu_set_regs(h->cpu, r);
	cpu_get_events(h->cpu, &ev);
	ev.halted = false;
	cpu_set_events(h->cpu, &ev);
	CHECK_EQ(hx_run(h, 1000), CPU_EXIT_HLT);
	cpu_get_regs(h->cpu, r);
}

/* ---- the SDM pseudocode (vol. 2A, DAA/DAS/AAA/AAS/AAM/AAD) ---- */

struct bcd {
	uint8_t al, ah;
	bool cf, af;
};

static void ref_daa(struct bcd *s)
{
	uint8_t old_al = s->al;
	bool old_cf = s->cf;
	s->cf = false;
	if ((s->al & 0x0f) > 9 || s->af) {
		s->cf = old_cf || (s->al + 6 > 0xff);
		s->al = (uint8_t)(s->al + 6);
		s->af = true;
	} else {
		s->af = false;
	}
	if (old_al > 0x99 || old_cf) {
		s->al = (uint8_t)(s->al + 0x60);
		s->cf = true;
	} else {
		s->cf = false;
	}
}

static void ref_das(struct bcd *s)
{
	uint8_t old_al = s->al;
	bool old_cf = s->cf;
	s->cf = false;
	if ((s->al & 0x0f) > 9 || s->af) {
		s->cf = old_cf || s->al < 6;
		s->al = (uint8_t)(s->al - 6);
		s->af = true;
	} else {
		s->af = false;
	}
	if (old_al > 0x99 || old_cf) {
		s->al = (uint8_t)(s->al - 0x60);
		s->cf = true;
	}
}

static void ref_aaa(struct bcd *s)
{
	if ((s->al & 0x0f) > 9 || s->af) {
		uint16_t ax = (uint16_t)((s->ah << 8 | s->al) + 0x106);
		s->al = (uint8_t)ax;
		s->ah = (uint8_t)(ax >> 8);
		s->af = s->cf = true;
	} else {
		s->af = s->cf = false;
	}
	s->al &= 0x0f;
}

static void ref_aas(struct bcd *s)
{
	if ((s->al & 0x0f) > 9 || s->af) {
		uint16_t ax = (uint16_t)((s->ah << 8 | s->al) - 6);
		s->al = (uint8_t)ax;
		s->ah = (uint8_t)((ax >> 8) - 1);
		s->af = s->cf = true;
	} else {
		s->af = s->cf = false;
	}
	s->al &= 0x0f;
}

static bool parity_even(uint8_t v)
{
	int n = 0;
	for (int k = 0; k < 8; k++)
		n += (v >> k) & 1;
	return !(n & 1);
}

static void test_bcd_exhaustive(void)
{
	static const struct {
		uint8_t op;
		void (*ref)(struct bcd *);
		bool szp; /* SF ZF PF defined */
	} ops[] = {{0x27, ref_daa, true},
		   {0x2f, ref_das, true},
		   {0x37, ref_aaa, false},
		   {0x3f, ref_aas, false}};
	unsigned bad = 0;

	for (unsigned k = 0; k < 4; k++) {
		uint8_t code[] = {ops[k].op, 0xf4};
		for (unsigned al = 0; al < 256; al++) {
			for (unsigned fl = 0; fl < 4; fl++) {
				struct cpu_regs r;
				struct bcd s = {(uint8_t)al, (uint8_t)(al * 7 + fl), fl & 1,
						fl & 2};
				memset(&r, 0, sizeof(r));
				r.gpr[REG_RAX] = 0x12340000u | (unsigned)s.ah << 8 | al;
				r.gpr[REG_RSP] = 0x8000;
				r.rflags = 2 | (s.cf ? FL_CF : 0) | (s.af ? FL_AF : 0);
				run32(code, sizeof(code), &r);
				ops[k].ref(&s);
				bool ok = (r.gpr[REG_RAX] & 0xff) == s.al &&
					  ((r.gpr[REG_RAX] >> 8) & 0xff) == s.ah &&
					  (r.gpr[REG_RAX] >> 16) == 0x1234 &&
					  !!(r.rflags & FL_CF) == s.cf &&
					  !!(r.rflags & FL_AF) == s.af;
				if (ops[k].szp)
					ok = ok && !!(r.rflags & FL_ZF) == (s.al == 0) &&
					     !!(r.rflags & FL_SF) == (s.al >> 7) &&
					     !!(r.rflags & FL_PF) == parity_even(s.al);
				if (!ok && bad++ < 5)
					fprintf(stderr,
						"op %02x al %02x flags %u: got ax %04x fl %#x\n",
						ops[k].op, al, fl,
						(unsigned)r.gpr[REG_RAX] & 0xffff,
						(unsigned)r.rflags);
			}
		}
	}
	CHECK_EQ(bad, 0);
}

static void test_aam_aad(void)
{
	static const uint8_t bases[] = {10, 16, 7, 255, 1};
	unsigned bad = 0;

	for (unsigned b = 0; b < sizeof(bases); b++) {
		uint8_t aam[] = {0xd4, bases[b], 0xf4}, aad[] = {0xd5, bases[b], 0xf4};
		for (unsigned ax = 0; ax < 0x10000; ax += 37) {
			struct cpu_regs r;
			uint8_t al = (uint8_t)ax, ah = (uint8_t)(ax >> 8), res;
			memset(&r, 0, sizeof(r));
			r.gpr[REG_RAX] = 0xabcd0000u | ax;
			r.gpr[REG_RSP] = 0x8000;
			r.rflags = 2;
			run32(aam, sizeof(aam), &r);
			res = (uint8_t)(al % bases[b]);
			if ((r.gpr[REG_RAX] & 0xffff) != (unsigned)((al / bases[b]) << 8 | res) ||
			    (r.gpr[REG_RAX] >> 16) != 0xabcd ||
			    !!(r.rflags & FL_ZF) != (res == 0) ||
			    !!(r.rflags & FL_SF) != (res >> 7) ||
			    !!(r.rflags & FL_PF) != parity_even(res))
				bad++;
			memset(&r, 0, sizeof(r));
			r.gpr[REG_RAX] = 0xabcd0000u | ax;
			r.gpr[REG_RSP] = 0x8000;
			r.rflags = 2;
			run32(aad, sizeof(aad), &r);
			res = (uint8_t)(al + ah * bases[b]);
			if ((r.gpr[REG_RAX] & 0xffff) != res || (r.gpr[REG_RAX] >> 16) != 0xabcd ||
			    !!(r.rflags & FL_ZF) != (res == 0) ||
			    !!(r.rflags & FL_SF) != (res >> 7) ||
			    !!(r.rflags & FL_PF) != parity_even(res))
				bad++;
		}
	}
	CHECK_EQ(bad, 0);
}

/* the worked examples of the SDM */
static void test_bcd_examples(void)
{
	struct cpu_regs r;
	/* add al, bl; daa: 79h + 35h = AEh -> 14h, CF = AF = 1 */
	static const uint8_t daa[] = {0x00, 0xd8, 0x27, 0xf4};
	/* sub al, bl; das: 35h - 47h = EEh -> 88h, CF = AF = 1 */
	static const uint8_t das[] = {0x28, 0xd8, 0x2f, 0xf4};
	/* add al, bl; aaa: '9' + '6' -> AH + 1, AL = 5 */
	static const uint8_t aaa[] = {0x00, 0xd8, 0x37, 0xf4};
	/* sub al, bl; aas: '3' - '9' -> AH - 1, AL = 4 */
	static const uint8_t aas[] = {0x28, 0xd8, 0x3f, 0xf4};

	memset(&r, 0, sizeof(r));
	r.gpr[REG_RAX] = 0x79;
	r.gpr[REG_RBX] = 0x35;
	r.gpr[REG_RSP] = 0x8000;
	r.rflags = 2;
	run32(daa, sizeof(daa), &r);
	CHECK_EQ(r.gpr[REG_RAX] & 0xff, 0x14);
	CHECK(r.rflags & FL_CF);
	CHECK(r.rflags & FL_AF);

	memset(&r, 0, sizeof(r));
	r.gpr[REG_RAX] = 0x35;
	r.gpr[REG_RBX] = 0x47;
	r.gpr[REG_RSP] = 0x8000;
	r.rflags = 2;
	run32(das, sizeof(das), &r);
	CHECK_EQ(r.gpr[REG_RAX] & 0xff, 0x88);
	CHECK(r.rflags & FL_CF);
	CHECK(r.rflags & FL_AF);

	memset(&r, 0, sizeof(r));
	r.gpr[REG_RAX] = 0x0139;
	r.gpr[REG_RBX] = 0x36;
	r.gpr[REG_RSP] = 0x8000;
	r.rflags = 2;
	run32(aaa, sizeof(aaa), &r);
	CHECK_EQ(r.gpr[REG_RAX] & 0xffff, 0x0205);
	CHECK(r.rflags & FL_CF);

	memset(&r, 0, sizeof(r));
	r.gpr[REG_RAX] = 0x0133;
	r.gpr[REG_RBX] = 0x39;
	r.gpr[REG_RSP] = 0x8000;
	r.rflags = 2;
	run32(aas, sizeof(aas), &r);
	CHECK_EQ(r.gpr[REG_RAX] & 0xffff, 0x0004);
	CHECK(r.rflags & FL_CF);
}

/* AAM 0 raises #DE before changing anything: the handler sees the old AX */
static void test_aam_zero(void)
{
	struct cpu_regs r;
	static const uint8_t code[] = {0xd4, 0x00, 0xf4};
	/* IDT entry 0: a 32-bit interrupt gate to a HLT at 0x2000 */
	uint32_t gate[2] = {0x2000 | (HX_SEL_CODE32 << 16), 0x8e00};
	uint8_t hlt = 0xf4;

	hx_load(h, h->idt, gate, sizeof(gate));
	hx_load(h, 0x2000, &hlt, 1);
	memset(&r, 0, sizeof(r));
	r.gpr[REG_RAX] = 0x1234;
	r.gpr[REG_RSP] = 0x8000;
	r.rflags = 2;
	run32(code, sizeof(code), &r);
	CHECK_EQ(r.rip, 0x2001);
	CHECK_EQ(r.gpr[REG_RAX], 0x1234);
	/* the pushed EIP is the AAM itself */
	uint32_t eip;
	memcpy(&eip, h->ram + r.gpr[REG_RSP], 4);
	CHECK_EQ(eip, CODE);
}

/* BOUND: in range continues, out of range raises #BR (a fault: EIP of the BOUND) */
static void test_bound(void)
{
	struct cpu_regs r;
	/* bound eax, [ebx]; bound cx, [ebx + 0x10]; hlt */
	static const uint8_t code[] = {0x62, 0x03, 0x66, 0x62, 0x4b, 0x10, 0xf4};
	uint32_t gate[2] = {0x2000 | (HX_SEL_CODE32 << 16), 0x8e00};
	int32_t b32[2] = {-5, 100};
	int16_t b16[2] = {-3, 7};
	uint32_t eip;
	int64_t cases[][3] = {
	    /* eax, cx, expect #BR */
	    {-5, 0, 0},	    {100, 7, 0},    {101, 0, 1}, {-6, 0, 1},
	    {0, 0xfffd, 0}, {0, 0xfffc, 1}, {0, 8, 1},	 {0, 0x12340007, 0},
	};

	hx_load(h, h->idt + 8 * EXC_BR, gate, sizeof(gate));
	hx_load(h, 0x3000, b32, sizeof(b32));
	hx_load(h, 0x3010, b16, sizeof(b16));
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		memset(&r, 0, sizeof(r));
		r.gpr[REG_RAX] = (uint32_t)cases[k][0];
		r.gpr[REG_RCX] = (uint64_t)cases[k][1];
		r.gpr[REG_RBX] = 0x3000;
		r.gpr[REG_RSP] = 0x8000;
		r.rflags = 2;
		run32(code, sizeof(code), &r);
		if (cases[k][2]) {
			CHECK_EQ(r.rip, 0x2001);
			memcpy(&eip, h->ram + r.gpr[REG_RSP], 4);
			CHECK_EQ(eip, cases[k][1] == 0 || cases[k][0] ? CODE : CODE + 2);
		} else {
			CHECK_EQ(r.rip, CODE + sizeof(code));
		}
	}
}

static void test_pusha_popa(void)
{
	struct cpu_regs r;
	/* pushad; mov eax, 0; mov ebx, 0; popad; pushaw; popaw; hlt */
	static const uint8_t code[] = {0x60, 0xb8, 0,	 0,    0,    0,	   0xbb, 0,   0,
				       0,    0,	   0x61, 0x66, 0x60, 0x66, 0x61, 0xf4};
	uint32_t slot[8];

	memset(&r, 0, sizeof(r));
	for (int k = 0; k < 8; k++)
		r.gpr[k] = 0x11111111u * (unsigned)(k + 1);
	r.gpr[REG_RSP] = 0x8000;
	r.rflags = 2;
	run32(code, sizeof(code), &r);
	for (int k = 0; k < 8; k++)
		CHECK_EQ(r.gpr[k], k == REG_RSP ? 0x8000 : 0x11111111u * (unsigned)(k + 1));
	/* PUSHAD pushes EAX ECX EDX EBX (original) ESP EBP ESI EDI; PUSHAW then
	 * overwrote the upper 16 bytes with AX CX DX BX SP BP SI DI */
	memcpy(slot, h->ram + 0x8000 - 32, sizeof(slot));
	CHECK_EQ(slot[0], 0x88888888);
	CHECK_EQ(slot[1], 0x77777777);
	CHECK_EQ(slot[3], 0x8000);
	CHECK_EQ(slot[7], 0x11112222);
	CHECK_EQ(slot[5], 0x80006666);
}

/* 16-bit address size: SI/DI wrap at 64 KiB; the upper halves stay */
static void test_string_wrap16(void)
{
	struct cpu_regs r;
	/* real mode at 0:0x7c00: rep movsb; std; rep stosb; hlt */
	static const uint8_t code[] = {0xf3, 0xa4, 0xfd, 0xf3, 0xaa, 0xf4};
	struct cpu_events ev;

	hx_setup_real(h, 0x7c00, 0x7000);
	hx_load(h, 0x7c00, code, sizeof(code));
	h->ram[0xfffe] = 0xa1;
	h->ram[0xffff] = 0xa2;
	h->ram[0x0000] = 0xa3;
	h->ram[0x0001] = 0xa4;
	cpu_get_regs(h->cpu, &r);
	r.gpr[REG_RSI] = 0x5555fffe;
	r.gpr[REG_RDI] = 0x20000; /* DI = 0 */
	r.gpr[REG_RCX] = 0x70004; /* CX = 4 */
	r.gpr[REG_RAX] = 0x5a;
	cpu_set_regs(h->cpu, &r);
	cpu_get_events(h->cpu, &ev);
	ev.halted = false;
	cpu_set_events(h->cpu, &ev);
	/* ES = 0x1000: the copy goes to 0x10000 */
	{
		struct cpu_sregs s;
		cpu_get_sregs(h->cpu, &s);
		s.seg[SEG_ES].sel = 0x1000;
		s.seg[SEG_ES].base = 0x10000;
		cpu_set_sregs(h->cpu, &s);
	}
	/* the second REP (after STD) stores CX = 0 times: CX is 0 after the first */
	CHECK_EQ(hx_run(h, 1000), CPU_EXIT_HLT);
	cpu_get_regs(h->cpu, &r);
	CHECK_EQ(h->ram[0x10000], 0xa1);
	CHECK_EQ(h->ram[0x10001], 0xa2);
	CHECK_EQ(h->ram[0x10002], 0xa3);
	CHECK_EQ(h->ram[0x10003], 0xa4);
	CHECK_EQ(r.gpr[REG_RSI], 0x55550002);
	CHECK_EQ(r.gpr[REG_RDI], 0x20004);
	CHECK_EQ(r.gpr[REG_RCX], 0x70000);
}

/* PUSHF/POPF in virtual-8086 mode with IOPL 0 and CR4.VME: VIF stands in for IF */
static void test_vme_flags(void)
{
	/* pushf; pop ax; push bx; popf; pushf; pop cx; push dx; popf; jmp $ */
	static const uint8_t code[] = {0x9c, 0x58, 0x53, 0x9d, 0x9c, 0x59, 0x52, 0x9d, 0xeb, 0xfe};
	struct cpu_sregs s;
	struct cpu_regs r;

	hx_setup_prot32(h, CODE, 0x8000, false);
	hx_load(h, 0x1000, code, sizeof(code));
	cpu_get_sregs(h->cpu, &s);
	for (int k = SEG_ES; k <= SEG_GS; k++) {
		struct cpu_seg *g = &s.seg[k];
		memset(g, 0, sizeof(*g));
		g->sel = k == SEG_CS ? 0x100 : 0;
		g->base = (uint64_t)g->sel << 4;
		g->limit = 0xffff;
		g->type = k == SEG_CS ? 0xb : 3;
		g->s = 1;
		g->dpl = 3;
		g->present = 1;
	}
	s.cr4 |= CR4_VME;
	cpu_set_sregs(h->cpu, &s);
	memset(&r, 0, sizeof(r));
	r.rip = 0;
	r.gpr[REG_RSP] = 0x7000;
	r.gpr[REG_RBX] = 0x0200; /* popped IF = 1 -> VIF = 1 */
	r.gpr[REG_RDX] = 0x0000; /* popped IF = 0 -> VIF = 0 */
	r.rflags = 2 | FL_VM | FL_IF;
	cpu_set_regs(h->cpu, &r);
	CHECK_EQ(hx_run(h, 200), CPU_EXIT_BUDGET);
	cpu_get_regs(h->cpu, &r);
	CHECK_EQ(r.rip, 8);
	CHECK_EQ(r.gpr[REG_RAX] & 0xffff, 0x3002); /* VIF = 0 seen as IF, IOPL as 3 */
	CHECK_EQ(r.gpr[REG_RCX] & 0xffff, 0x3202); /* after POPF of IF = 1 */
	CHECK(r.rflags & FL_IF);		   /* the real IF is untouched */
	CHECK(!(r.rflags & FL_VIF));		   /* the last POPF cleared VIF */
	CHECK_EQ(r.rflags & FL_IOPL, 0);
}

int main(void)
{
	h = hx_create(16ull << 20);
	hx_setup_prot32(h, CODE, 0x8000, false);
	test_bcd_examples();
	test_bcd_exhaustive();
	test_aam_aad();
	test_aam_zero();
	test_bound();
	test_pusha_popa();
	test_vme_flags();
	test_string_wrap16();
	hx_destroy(h);
	return unit_done("test_int_legacy");
}
