/* SPDX-License-Identifier: MIT */
/*
 * The emulated side of the differential test: the harness machine in 64-bit
 * mode at CPL 3 with the layout of difftest.h, an IDT whose handlers record
 * the vector and halt, and guard pages around the data.
 */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "harness.h"

struct emu {
	struct hx *h;
	struct cpu_sregs sregs, sregs32;
};

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static bool has_errcode(int v)
{
	return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

/* the processor runs in the host's vendor mode, with the host's CPUID bits
 * (cpu/README.md, "Vendor behaviour") */
static void host_cpuid(void *opaque, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	(void)opaque;
	__cpuid_count(leaf, sub, out[0], out[1], out[2], out[3]);
}

/* a segment register after a null selector is loaded in 64-bit mode */
static void null_seg(struct cpu_seg *s)
{
	memset(s, 0, sizeof(*s));
	s->unusable = 1;
}

struct emu *emu_create(int vendor)
{
	struct emu *em = calloc(1, sizeof(*em));
	struct hx *h = hx_create(DT_RAM_SIZE);
	uint64_t pd;

	if (!em || !h) {
		free(em);
		hx_destroy(h);
		return NULL;
	}
	em->h = h;
	hx_setup_long64(h, DT_CODE_VA, DT_DATA_VA + 0x2000, true);
	{
		struct cpu_vendor_info vi;
		cpu_vendor_from_cpuid(&vi, host_cpuid, NULL);
		if (vendor >= 0) /* --vendor: to see the other vendor's differences */
			vi.vendor = (enum cpu_vendor)vendor;
		cpu_set_vendor(h->cpu, &vi);
	}
	/* 4 KiB pages for the 2 MiB region holding code and data, with guard pages */
	for (unsigned e = 0; e < 512; e++) {
		uint64_t pa = DT_CODE_VA + (uint64_t)e * 4096;
		put64(h->ram + DT_PT_GPA + 8 * e,
		      (pa == DT_GUARD_LO || pa == DT_GUARD_HI) ? 0 : (pa | 7));
	}
	pd = h->pml4 + 0x2000;
	put64(h->ram + pd + 8 * (DT_CODE_VA >> 21), DT_PT_GPA | 7);
	/* IDT: every vector pushes its number and halts (ring 0) */
	for (unsigned v = 0; v < 256; v++) {
		uint64_t stub = DT_STUB_VA + 16 * v, lo, hi;
		uint8_t *s = h->ram + stub;
		unsigned dpl = (v == 3 || v == 4) ? 3 : 0; /* as Linux: INT3 and INTO from user */
		s[0] = 0x68;
		memcpy(s + 1, &v, 4);
		s[5] = 0xf4; /* hlt */
		s[6] = 0xeb; /* jmp back to the hlt */
		s[7] = 0xfd;
		lo = (stub & 0xffff) | ((uint64_t)HX_SEL_CODE64 << 16) | (0xeull << 40) |
		     ((uint64_t)dpl << 45) | (1ull << 47) | ((stub >> 16 & 0xffff) << 48);
		hi = stub >> 32;
		put64(h->ram + h->idt + 16 * v, lo);
		put64(h->ram + h->idt + 16 * v + 8, hi);
	}
	put64(h->ram + h->tss + 4, DT_KSTACK_TOP); /* RSP0 */
	h->ram[h->tss + 0x66] = 0xff; /* I/O bitmap beyond the TSS limit: no ports at CPL 3 */
	h->ram[h->tss + 0x67] = 0xff;
	h->ram[DT_EXIT_VA] = 0xf4; /* HLT at CPL 3: #GP */
	cpu_note_external_write(h->cpu);
	h->ram[DT_EXIT32_VA] = 0xf4;
	cpu_get_sregs(h->cpu, &em->sregs);
	/*
	 * The segment registers of the native child (native.c): a Linux x86-64
	 * process runs with null DS, ES, FS and GS (and SS = __USER_DS). Its
	 * 32-bit cases load DS and ES with __USER_DS before they jump to
	 * __USER32_CS, and keep FS and GS null: a memory access through either
	 * in compatibility mode is #GP(0) (SDM vol. 3A 3.4.4, 5.4.1; AMD APM
	 * vol. 2 4.5.1), on Intel and AMD hosts alike. A null selector loaded
	 * in 64-bit mode leaves the register unusable (KVM's view of it).
	 */
	if (dt_focus_avx) {
		/* as Linux runs user space: SSE and AVX state enabled */
		em->sregs.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
		cpu_set_xcr0_allowed(h->cpu, 7);
		cpu_set_xcr0(h->cpu, 7);
	}
	null_seg(&em->sregs.seg[SEG_DS]);
	null_seg(&em->sregs.seg[SEG_ES]);
	null_seg(&em->sregs.seg[SEG_FS]);
	null_seg(&em->sregs.seg[SEG_GS]);
	/* 32-bit cases run in compatibility mode, CPL 3 */
	em->sregs32 = em->sregs;
	em->sregs32.seg[SEG_CS].sel = HX_SEL_UCODE32 | 3;
	em->sregs32.seg[SEG_CS].l = 0;
	em->sregs32.seg[SEG_CS].db = 1;
	em->sregs32.seg[SEG_DS] = em->sregs32.seg[SEG_SS];
	em->sregs32.seg[SEG_ES] = em->sregs32.seg[SEG_SS];
	return em;
}

void emu_run(struct emu *em, const struct dt_case *tc, struct emu_result *out)
{
	struct hx *h = em->h;
	struct cpu *c = h->cpu;
	struct cpu_regs r;
	struct cpu_events ev;
	struct cpu_sregs s;
	uint64_t sp, frame;
	enum cpu_exit e;

	memcpy(h->ram + tc->code_va, tc->code, tc->len);
	dt_fill_data(h->ram + DT_DATA_VA, tc->data_seed, tc->data_mode);
	cpu_note_external_write(c);
	cpu_set_sregs(c, tc->mode32 ? &em->sregs32 : &em->sregs);
	cpu_get_events(c, &ev);
	ev.halted = false;
	ev.exc_pending = false;
	ev.intr_shadow = 0;
	cpu_set_events(c, &ev);
	memset(&r, 0, sizeof(r));
	memcpy(r.gpr, tc->in.gpr, sizeof(r.gpr));
	r.rip = tc->code_va;
	r.rflags = tc->in.rflags;
	cpu_set_regs(c, &r);

	memset(out, 0, sizeof(*out));
	e = hx_run(h, 2000000);
	out->halted = e == CPU_EXIT_HLT;
	out->exit = (int)e;
	cpu_get_regs(c, &r);
	memcpy(out->r.out.gpr, r.gpr, sizeof(r.gpr));
	out->r.out.rflags = r.rflags;
	out->r.vector = -2;
	if (!out->halted)
		return;
	sp = r.gpr[4];
	if (sp < DT_KSTACK_TOP - 0x100 || sp >= DT_KSTACK_TOP)
		return;
	out->r.vector = (int32_t)get64(h->ram + sp);
	frame = sp + 8;
	if (has_errcode(out->r.vector)) {
		out->r.err = (uint32_t)get64(h->ram + sp + 8);
		frame += 8;
	}
	out->r.rip = get64(h->ram + frame);
	out->r.out.rflags = get64(h->ram + frame + 16);
	out->r.out.gpr[4] = get64(h->ram + frame + 24);
	cpu_get_sregs(c, &s);
	out->r.cr2 = s.cr2;
	{
		uint8_t fx[512] __attribute__((aligned(16)));
		cpu_get_fxsave(c, fx);
		memcpy(&out->r.mxcsr, fx + 24, 4);
	}
	if (out->r.vector == 13 && out->r.rip == (tc->mode32 ? DT_EXIT32_VA : DT_EXIT_VA) &&
	    out->r.err == 0) {
		out->r.vector = -1;
		out->r.cr2 = 0;
	}
}

void emu_data(struct emu *em, uint8_t *out)
{
	memcpy(out, em->h->ram + DT_DATA_VA, DT_DATA_SIZE);
}

void emu_destroy(struct emu *em)
{
	hx_destroy(em->h);
	free(em);
}

const char *emu_exit_name(int e)
{
	return hx_exit_name((enum cpu_exit)e);
}

/* one line naming the vendor mode the processor runs in */
void emu_vendor_desc(char *buf, size_t n, int vendor)
{
	struct cpu_vendor_info vi;
	cpu_vendor_from_cpuid(&vi, host_cpuid, NULL);
	if (vendor >= 0)
		vi.vendor = (enum cpu_vendor)vendor;
	snprintf(buf, n,
		 "vendor mode: %s (FDP_EXCPTN_ONLY %d, ZERO_FCS_FDS %d, XSaveErPtr %d, "
		 "NullSelClrBase %d)",
		 vi.vendor == CPU_VENDOR_AMD ? "AMD" : "Intel", vi.fdp_excptn_only, vi.zero_fcs_fds,
		 vi.xsave_err_ptr, vi.null_sel_clr_base);
}
