/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"

static void out_byte(struct hx *h, uint8_t b)
{
	if (h->console) {
		fputc(b, h->console);
		if (b == '\n')
			fflush(h->console);
	}
	if (h->out_len + 1 >= h->out_cap) {
		size_t n = h->out_cap ? h->out_cap * 2 : 4096;
		char *p = realloc(h->out, n);
		if (!p)
			return;
		h->out = p;
		h->out_cap = n;
	}
	h->out[h->out_len++] = (char)b;
	h->out[h->out_len] = 0;
}

static int hx_pio_in(void *o, uint16_t port, void *data, unsigned len)
{
	(void)o, (void)port;
	memset(data, 0xff, len);
	return CPU_OPS_OK;
}

static int hx_pio_out(void *o, uint16_t port, const void *data, unsigned len)
{
	struct hx *h = o;
	if (port == 0xe9) {
		out_byte(h, *(const uint8_t *)data);
		return CPU_OPS_OK;
	}
	if (port == 0xf4) {
		uint32_t v = 0;
		memcpy(&v, data, len > 4 ? 4 : len);
		h->exit_code = (int)v;
		h->exited = true;
		return CPU_OPS_EXIT;
	}
	return CPU_OPS_OK;
}

static int hx_mmio_read(void *o, uint64_t gpa, void *data, unsigned len)
{
	(void)o, (void)gpa;
	memset(data, 0xff, len);
	return CPU_OPS_OK;
}

static int hx_mmio_write(void *o, uint64_t gpa, const void *data, unsigned len)
{
	(void)o, (void)gpa, (void)data, (void)len;
	return CPU_OPS_OK;
}

static int hx_rdmsr(void *o, uint32_t index, uint64_t *v)
{
	struct hx *h = o;
	return cpu_msr_get(h->cpu, index, v) == 0 ? CPU_OPS_OK : CPU_OPS_GP;
}

static int hx_wrmsr(void *o, uint32_t index, uint64_t v)
{
	struct hx *h = o;
	return cpu_msr_set(h->cpu, index, v, false) == 0 ? CPU_OPS_OK : CPU_OPS_GP;
}

/* A small, fixed CPU model: what cpu/ implements so far. */
static void hx_cpuid(void *o, uint32_t leaf, uint32_t sub, uint32_t out[4])
{
	(void)o, (void)sub;
	memset(out, 0, 16);
	switch (leaf) {
	case 0:
		out[0] = 7;
		memcpy(&out[1], "Genu", 4);
		memcpy(&out[3], "ineI", 4);
		memcpy(&out[2], "ntel", 4);
		break;
	case 1:
		out[0] = 0x000606a6; /* family 6 */
		/* EDX: FPU? no. TSC, MSR, PAE, CX8, SEP, PGE, CMOV, PSE, PAT, PSE36, CLFLUSH */
		out[3] = (1u << 4) | (1u << 5) | (1u << 6) | (1u << 8) | (1u << 11) | (1u << 13) |
			 (1u << 15) | (1u << 3) | (1u << 16) | (1u << 17) | (1u << 19);
		/* ECX: PCID, CX16, MOVBE, POPCNT */
		out[2] = (1u << 13) | (1u << 17) | (1u << 22) | (1u << 23);
		break;
	case 7:
		if (sub == 0) {
			/* FSGSBASE BMI1 SMEP BMI2 INVPCID SMAP; ECX: UMIP */
			out[1] =
			    (1u << 0) | (1u << 3) | (1u << 7) | (1u << 8) | (1u << 10) | (1u << 20);
			out[2] = 1u << 2;
		}
		break;
	case 0x80000000:
		out[0] = 0x80000008;
		break;
	case 0x80000001:
		out[2] = (1u << 0) | (1u << 5); /* LAHF, LZCNT */
		out[3] = (1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29);
		break;
	case 0x80000008:
		out[0] = 0x3028; /* 40-bit physical (harness), 48-bit linear */
		break;
	}
}

static int hx_intr_ack(void *o)
{
	(void)o;
	return -1;
}

static const struct cpu_ops hx_ops = {
    .mmio_read = hx_mmio_read,
    .mmio_write = hx_mmio_write,
    .pio_in = hx_pio_in,
    .pio_out = hx_pio_out,
    .rdmsr = hx_rdmsr,
    .wrmsr = hx_wrmsr,
    .cpuid = hx_cpuid,
    .intr_ack = hx_intr_ack,
    .read_tsc = NULL,
};

struct hx *hx_create(uint64_t ram_size)
{
	struct hx *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	ram_size = (ram_size + 0xfff) & ~0xfffull;
	h->ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (h->ram == MAP_FAILED) {
		free(h);
		return NULL;
	}
	h->ram_size = ram_size;
	h->mem = cpu_mem_create();
	cpu_mem_set_slot(h->mem, 0, 0, ram_size, h->ram, 0);
	h->cpu = cpu_create(h->mem, &hx_ops, h);
	h->exit_code = -1;
	h->sys_base = ram_size - HX_SYS_SIZE;
	h->gdt = h->sys_base;
	h->tss = h->sys_base + 0x1000;
	h->idt = h->sys_base + 0x2000;
	h->pml4 = h->sys_base + 0x4000;
	return h;
}

void hx_destroy(struct hx *h)
{
	if (!h)
		return;
	cpu_destroy(h->cpu);
	cpu_mem_destroy(h->mem);
	munmap(h->ram, h->ram_size);
	free(h->out);
	free(h);
}

void hx_load(struct hx *h, uint64_t gpa, const void *data, size_t len)
{
	if (gpa < h->ram_size && len <= h->ram_size - gpa)
		memcpy(h->ram + gpa, data, len);
	cpu_note_external_write(h->cpu);
}

static void put64(struct hx *h, uint64_t gpa, uint64_t v)
{
	memcpy(h->ram + gpa, &v, 8);
}

static uint64_t desc(uint32_t base, uint32_t limit, unsigned type, unsigned s, unsigned dpl,
		     unsigned l, unsigned db, unsigned g)
{
	uint64_t d = (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
		     ((uint64_t)type << 40) | ((uint64_t)s << 44) | ((uint64_t)dpl << 45) |
		     (1ull << 47) | ((uint64_t)((limit >> 16) & 0xf) << 48) | ((uint64_t)l << 53) |
		     ((uint64_t)db << 54) | ((uint64_t)g << 55) | ((uint64_t)(base >> 24) << 56);
	return d;
}

static void build_gdt(struct hx *h)
{
	uint64_t g = h->gdt;
	memset(h->ram + g, 0, 0x1000);
	put64(h, g + 0x08, desc(0, 0xfffff, 0xb, 1, 0, 1, 0, 1));
	put64(h, g + 0x10, desc(0, 0xfffff, 0x3, 1, 0, 0, 1, 1));
	put64(h, g + 0x18, desc(0, 0xfffff, 0xb, 1, 0, 0, 1, 1));
	put64(h, g + 0x20, desc(0, 0xffff, 0xb, 1, 0, 0, 0, 0));
	put64(h, g + 0x28, desc(0, 0xffff, 0x3, 1, 0, 0, 0, 0));
	put64(h, g + 0x30, desc(0, 0xfffff, 0xb, 1, 3, 0, 1, 1));
	put64(h, g + 0x38, desc(0, 0xfffff, 0x3, 1, 3, 0, 1, 1));
	put64(h, g + 0x40, desc(0, 0xfffff, 0xb, 1, 3, 1, 0, 1));
	/* limit 0x67: no I/O permission bitmap, every port #GPs at CPL > IOPL */
	put64(h, g + 0x48, desc((uint32_t)h->tss, 0x67, 0x9, 0, 0, 0, 0, 0));
	put64(h, g + 0x50, h->tss >> 32);
	memset(h->ram + h->tss, 0, 0x1000);
	/* I/O bitmap offset beyond the limit: no ports for CPL > IOPL */
	uint16_t iomap = 0x68;
	memcpy(h->ram + h->tss + 0x66, &iomap, 2);
}

static void seg_set(struct cpu_seg *s, uint16_t sel, uint64_t base, uint32_t limit, uint8_t type,
		    uint8_t dpl, uint8_t l, uint8_t db, uint8_t g)
{
	memset(s, 0, sizeof(*s));
	s->sel = sel;
	s->base = base;
	s->limit = limit;
	s->type = type;
	s->s = 1;
	s->dpl = dpl;
	s->present = 1;
	s->l = l;
	s->db = db;
	s->g = g;
}

static void common_sregs(struct hx *h, struct cpu_sregs *s)
{
	cpu_get_sregs(h->cpu, s);
	s->gdt_base = h->gdt;
	s->gdt_limit = 0xfff;
	s->idt_base = h->idt;
	s->idt_limit = 0xfff;
	memset(&s->seg[SEG_LDTR], 0, sizeof(s->seg[SEG_LDTR]));
	s->seg[SEG_LDTR].unusable = 1;
	memset(&s->seg[SEG_TR], 0, sizeof(s->seg[SEG_TR]));
	s->seg[SEG_TR].sel = HX_SEL_TSS;
	s->seg[SEG_TR].base = h->tss;
	s->seg[SEG_TR].limit = 0x67;
	s->seg[SEG_TR].type = 0xb;
	s->seg[SEG_TR].present = 1;
}

void hx_setup_real(struct hx *h, uint16_t ip, uint16_t sp)
{
	struct cpu_regs r;
	struct cpu_sregs s;

	cpu_reset(h->cpu);
	cpu_get_sregs(h->cpu, &s);
	s.seg[SEG_CS].sel = 0;
	s.seg[SEG_CS].base = 0;
	s.idt_base = 0;
	s.idt_limit = 0x3ff;
	s.cr0 = CR0_ET;
	cpu_set_sregs(h->cpu, &s);
	memset(&r, 0, sizeof(r));
	r.rip = ip;
	r.gpr[REG_RSP] = sp;
	r.rflags = 2;
	cpu_set_regs(h->cpu, &r);
}

void hx_setup_prot32(struct hx *h, uint32_t eip, uint32_t esp, bool user)
{
	struct cpu_regs r;
	struct cpu_sregs s;
	uint8_t dpl = user ? 3 : 0;

	cpu_reset(h->cpu);
	build_gdt(h);
	common_sregs(h, &s);
	s.seg[SEG_TR].type = 0xb;
	seg_set(&s.seg[SEG_CS], user ? HX_SEL_UCODE32 | 3 : HX_SEL_CODE32, 0, 0xffffffff, 0xb, dpl,
		0, 1, 1);
	for (int k = SEG_ES; k <= SEG_GS; k++)
		if (k != SEG_CS)
			seg_set(&s.seg[k], user ? HX_SEL_UDATA | 3 : HX_SEL_DATA, 0, 0xffffffff, 3,
				dpl, 0, 1, 1);
	s.cr0 = CR0_PE | CR0_ET | CR0_NE;
	s.cr4 = 0;
	s.efer = 0;
	cpu_set_sregs(h->cpu, &s);
	memset(&r, 0, sizeof(r));
	r.rip = eip;
	r.gpr[REG_RSP] = esp;
	r.rflags = 2;
	cpu_set_regs(h->cpu, &r);
}

void hx_setup_long64(struct hx *h, uint64_t rip, uint64_t rsp, bool user)
{
	struct cpu_regs r;
	struct cpu_sregs s;
	uint8_t dpl = user ? 3 : 0;
	uint64_t pdpt = h->pml4 + 0x1000, pd = h->pml4 + 0x2000;

	cpu_reset(h->cpu);
	build_gdt(h);
	/* identity map 4 GiB with 2 MiB pages, user accessible */
	memset(h->ram + h->pml4, 0, 0x6000);
	put64(h, h->pml4, pdpt | 7);
	for (int k = 0; k < 4; k++) {
		put64(h, pdpt + 8 * k, (pd + 0x1000 * k) | 7);
		for (int e = 0; e < 512; e++)
			put64(h, pd + 0x1000 * k + 8 * e,
			      ((uint64_t)k << 30) + ((uint64_t)e << 21) + 0x87);
	}
	common_sregs(h, &s);
	seg_set(&s.seg[SEG_CS], user ? HX_SEL_UCODE64 | 3 : HX_SEL_CODE64, 0, 0xffffffff, 0xb, dpl,
		1, 0, 1);
	for (int k = SEG_ES; k <= SEG_GS; k++)
		if (k != SEG_CS)
			seg_set(&s.seg[k], user ? HX_SEL_UDATA | 3 : HX_SEL_DATA, 0, 0xffffffff, 3,
				dpl, 0, 1, 1);
	s.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG | CR0_WP;
	s.cr3 = h->pml4;
	s.cr4 = CR4_PAE;
	s.efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
	cpu_set_sregs(h->cpu, &s);
	memset(&r, 0, sizeof(r));
	r.rip = rip;
	r.gpr[REG_RSP] = rsp;
	r.rflags = 2;
	cpu_set_regs(h->cpu, &r);
	cpu_note_external_write(h->cpu);
}

enum cpu_exit hx_run(struct hx *h, uint64_t budget)
{
	enum cpu_exit e;

	cpu_set_budget(h->cpu, budget);
	for (;;) {
		e = cpu_run(h->cpu);
		if (e == CPU_EXIT_IO && !h->exited) {
			const struct cpu_exit_info *x = cpu_exit_info(h->cpu);
			/* io.count elements: a batched REP INS */
			static const uint8_t ff[1024] = {[0 ... 1023] = 0xff};
			cpu_complete(h->cpu, x->io.in ? ff : NULL, false);
			continue;
		}
		if (e == CPU_EXIT_IO && h->exited) {
			cpu_complete(h->cpu, NULL, false);
			/* let the OUT to 0xf4 complete (RIP past it) */
			cpu_set_budget(h->cpu, 0);
		}
		return e;
	}
}

const char *hx_exit_name(enum cpu_exit e)
{
	static const char *const names[] = {
	    [CPU_EXIT_NONE] = "none",	      [CPU_EXIT_IO] = "io",
	    [CPU_EXIT_MMIO] = "mmio",	      [CPU_EXIT_RDMSR] = "rdmsr",
	    [CPU_EXIT_WRMSR] = "wrmsr",	      [CPU_EXIT_HLT] = "hlt",
	    [CPU_EXIT_SHUTDOWN] = "shutdown", [CPU_EXIT_REQUEST] = "request",
	    [CPU_EXIT_INTERNAL] = "internal", [CPU_EXIT_DEBUG] = "debug",
	    [CPU_EXIT_BUDGET] = "budget",     [CPU_EXIT_MWAIT] = "mwait",
	    [CPU_EXIT_INIT] = "init",	      [CPU_EXIT_IRQ_WINDOW] = "irq-window",
	};
	return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "?";
}
