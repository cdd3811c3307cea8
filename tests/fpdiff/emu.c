/* SPDX-License-Identifier: MIT */
/*
 * The emulated side of the x87/SSE differential test: the harness machine
 * in 64-bit mode at CPL 3 with the layout of fpdiff.h, CR4.OSFXSR,
 * OSXMMEXCPT and OSXSAVE set and XCR0 = x87 | SSE (as Linux runs user
 * space), an IDT whose handlers record the vector and halt, and guard
 * pages around the data.
 */
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "harness.h"

struct emu {
	struct hx *h;
	struct cpu_sregs sregs;
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

struct emu *fd_emu_create(void)
{
	struct emu *em = calloc(1, sizeof(*em));
	struct hx *h = hx_create(FD_RAM_SIZE);
	uint64_t pd;

	if (!em || !h) {
		free(em);
		hx_destroy(h);
		return NULL;
	}
	em->h = h;
	hx_setup_long64(h, FD_CODE_VA, FD_DATA_VA + 0x1000, true);
	{
		struct cpu_vendor_info vi;
		cpu_vendor_from_cpuid(&vi, host_cpuid, NULL);
		cpu_set_vendor(h->cpu, &vi);
	}
	/* 4 KiB pages for the 2 MiB region holding code and data, with guard pages */
	for (unsigned e = 0; e < 512; e++) {
		uint64_t pa = FD_CODE_VA + (uint64_t)e * 4096;
		put64(h->ram + FD_PT_GPA + 8 * e,
		      (pa == FD_GUARD_LO || pa == FD_GUARD_HI) ? 0 : (pa | 7));
	}
	pd = h->pml4 + 0x2000;
	put64(h->ram + pd + 8 * (FD_CODE_VA >> 21), FD_PT_GPA | 7);
	/* IDT: every vector pushes its number and halts (ring 0) */
	for (unsigned v = 0; v < 256; v++) {
		uint64_t stub = FD_STUB_VA + 16 * v, lo, hi;
		uint8_t *s = h->ram + stub;
		s[0] = 0x68;
		memcpy(s + 1, &v, 4);
		s[5] = 0xf4; /* hlt */
		s[6] = 0xeb; /* jmp back to the hlt */
		s[7] = 0xfd;
		lo = (stub & 0xffff) | ((uint64_t)HX_SEL_CODE64 << 16) | (0xeull << 40) |
		     (1ull << 47) | ((stub >> 16 & 0xffff) << 48);
		hi = stub >> 32;
		put64(h->ram + h->idt + 16 * v, lo);
		put64(h->ram + h->idt + 16 * v + 8, hi);
	}
	put64(h->ram + h->tss + 4, FD_KSTACK_TOP); /* RSP0 */
	h->ram[h->tss + 0x66] = 0xff;
	h->ram[h->tss + 0x67] = 0xff;
	h->ram[FD_EXIT_VA] = 0xf4; /* HLT at CPL 3: #GP */
	cpu_note_external_write(h->cpu);
	cpu_get_sregs(h->cpu, &em->sregs);
	em->sregs.cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE;
	return em;
}

void fd_emu_run(struct emu *em, const struct fd_case *tc, struct fd_emu_result *out)
{
	struct hx *h = em->h;
	struct cpu *c = h->cpu;
	struct cpu_regs r;
	struct cpu_events ev;
	struct cpu_sregs s;
	uint64_t sp, frame;
	enum cpu_exit e;

	memcpy(h->ram + FD_CODE_VA, tc->code, tc->len);
	fd_fill_data(h->ram + FD_DATA_VA, tc->data_seed);
	cpu_note_external_write(c);
	cpu_set_sregs(c, &em->sregs);
	cpu_set_xcr0(c, 3);
	cpu_get_events(c, &ev);
	ev.halted = false;
	ev.exc_pending = false;
	ev.intr_shadow = 0;
	cpu_set_events(c, &ev);
	memset(&r, 0, sizeof(r));
	memcpy(r.gpr, tc->in.gpr, sizeof(r.gpr));
	r.rip = FD_CODE_VA;
	r.rflags = tc->in.rflags;
	cpu_set_regs(c, &r);
	cpu_set_fxsave(c, tc->in.fx);

	memset(out, 0, sizeof(*out));
	e = hx_run(h, 100000);
	out->halted = e == CPU_EXIT_HLT;
	out->exit = (int)e;
	cpu_get_regs(c, &r);
	memcpy(out->r.out.gpr, r.gpr, sizeof(r.gpr));
	out->r.out.rflags = r.rflags;
	cpu_get_fxsave(c, out->r.out.fx);
	out->r.vector = -2;
	if (!out->halted)
		return;
	sp = r.gpr[4];
	if (sp < FD_KSTACK_TOP - 0x100 || sp >= FD_KSTACK_TOP)
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
	if (out->r.vector == 13 && out->r.rip == FD_EXIT_VA && out->r.err == 0) {
		out->r.vector = -1;
		out->r.cr2 = 0;
		out->r.env_valid = true;
		out->r.fip = (uint32_t)get64(out->r.out.fx + 8);
		out->r.fdp = (uint32_t)get64(out->r.out.fx + 16);
		memcpy(&out->r.fop, out->r.out.fx + 6, 2);
	}
}

void fd_emu_data(struct emu *em, uint8_t *out)
{
	memcpy(out, em->h->ram + FD_DATA_VA, FD_DATA_SIZE);
}

void fd_emu_destroy(struct emu *em)
{
	hx_destroy(em->h);
	free(em);
}

const char *fd_emu_exit_name(int e)
{
	return hx_exit_name((enum cpu_exit)e);
}

/* one line naming the vendor mode the processor runs in */
void fd_emu_vendor_desc(char *buf, size_t n)
{
	struct cpu_vendor_info vi;
	cpu_vendor_from_cpuid(&vi, host_cpuid, NULL);
	snprintf(buf, n,
		 "vendor mode: %s (FDP_EXCPTN_ONLY %d, ZERO_FCS_FDS %d, XSaveErPtr %d, "
		 "NullSelClrBase %d)",
		 vi.vendor == CPU_VENDOR_AMD ? "AMD" : "Intel", vi.fdp_excptn_only, vi.zero_fcs_fds,
		 vi.xsave_err_ptr, vi.null_sel_clr_base);
}
