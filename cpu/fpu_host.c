/* SPDX-License-Identifier: MIT */
/*
 * The host execution unit: x87, MMX and SSE arithmetic runs on the host
 * processor, which gives results, flags, MXCSR and FSW bit for bit.
 *
 * At decode time each instruction gets a small host function ("stub")
 * that contains the instruction itself with its operands remapped:
 *  - SIMD: XMM/MM operands to xmm1/mm1 (ModRM.reg) and xmm2/mm2 (ModRM.rm),
 *    loaded from and stored to the pointers in struct simd_frame; a GPR
 *    operand to RAX (reg) or RCX (rm); a memory operand to [r9], which
 *    points at guest RAM (TLB hit) or at a bounce buffer; implicit XMM0 to
 *    xmm0. Instructions that use MXCSR run with the guest's (every
 *    exception masked, so nothing traps on the host) and return the flags.
 *  - x87: FXRSTOR64 of the guest image, the instruction (ST(i) operands as
 *    they are, a memory operand redirected to [rsi]), FXSAVE64, then the
 *    host's FNINIT state, FCW and MXCSR are put back. Callers make sure no
 *    unmasked exception is pending, so the instruction cannot trap.
 *
 * Stubs depend only on the encoding, never on guest register numbers, so
 * they are deduplicated by content and their number is bounded by the
 * instruction forms (opcode x prefix x REX.W x imm8 x register/memory): the
 * arena is sized for all of them and never needs flushing. Pages are
 * writable only while a stub is written and executable otherwise (W^X).
 */
#include <cpuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fpu.h"

/* reserved, not committed: SSE stubs take under 1 MiB; VEX ones, with their
 * L, W and imm8 variants, up to some 10 MiB for a guest that uses them all */
#define ARENA_SIZE (32u << 20)
#define STUB_MAX   192

/* SSE3, SSSE3, SSE4.1, SSE4.2: the extensions beyond x86-64's baseline */
#define SIMD_ECX1 ((1u << 0) | (1u << 9) | (1u << 19) | (1u << 20))

static pthread_once_t host_once = PTHREAD_ONCE_INIT;
static uint32_t host_ecx1; /* written once, by host_probe() */
static bool host_avx;	   /* AVX AVX2 FMA F16C usable: the x86-64-v3 vector set */

static void host_probe(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	host_ecx1 = c & SIMD_ECX1;
	/* AVX (28), FMA (12), F16C (29) and OSXSAVE (27), then XCR0 with SSE|YMM
	 * (SDM vol. 1, 14.3), then AVX2 (CPUID.7.0:EBX[5]) */
	if ((c & (1u << 28)) && (c & (1u << 12)) && (c & (1u << 29)) && (c & (1u << 27))) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		if ((lo & 6) == 6 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5)))
			host_avx = !getenv("SOFTKVM_NO_AVX");
	}
}

bool cpu_avx_supported(void)
{
	pthread_once(&host_once, host_probe);
	return host_avx;
}

/* PKU is opt-in (SOFTKVM_PKU=1): a Debian guest under QEMU -accel kvm with
 * two vCPUs and PKU in its CPUID had init's saved registers overwritten with
 * its PKRU value in about one boot in six under load, not yet explained */
static pthread_once_t pku_once = PTHREAD_ONCE_INIT;
static bool pku_on;

static void pku_probe(void)
{
	const char *v = getenv("SOFTKVM_PKU");
	pku_on = v && !strcmp(v, "1");
}

bool cpu_pku_offered(void)
{
	pthread_once(&pku_once, pku_probe);
	return pku_on;
}

uint64_t cpu_xcr0_supported(void)
{
	return (cpu_avx_supported() ? 7 : 3) | (cpu_pku_offered() ? CPU_XCR0_PKRU : 0);
}

uint32_t cpu_simd_cpuid1_ecx(void)
{
	pthread_once(&host_once, host_probe);
	return host_ecx1;
}

struct stub_ent {
	uint32_t off;
	uint16_t len;
	uint32_t hash;
};

#define ENC_TAB 1024 /* SIMD stubs whose encoding the JIT may ask for */

struct fpu_host {
	uint8_t *code;
	size_t size, used;
	struct stub_ent *tab; /* open addressing, power of two */
	size_t tab_size, tab_used;
	/* stub -> the instruction it runs, for the JIT (cpu/jit/emit.c) */
	struct {
		const void *stub;
		struct simd_enc enc;
	} enc[ENC_TAB];
	struct {
		const void *stub;
		struct vex_enc enc;
	} venc[ENC_TAB];
};

static struct fpu_host *host_get(struct cpu *c)
{
	struct fpu_host *h = c->fpu_host;

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->code =
	    mmap(NULL, ARENA_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	h->tab_size = 1024;
	h->tab = calloc(h->tab_size, sizeof(*h->tab));
	if (h->code == MAP_FAILED || !h->tab) {
		if (h->code != MAP_FAILED)
			munmap(h->code, ARENA_SIZE);
		free(h->tab);
		free(h);
		return NULL;
	}
	h->size = ARENA_SIZE;
	c->fpu_host = h;
	return h;
}

void fpu_host_destroy(struct cpu *c)
{
	struct fpu_host *h = c->fpu_host;

	if (!h)
		return;
	munmap(h->code, h->size);
	free(h->tab);
	free(h);
	c->fpu_host = NULL;
}

static uint32_t hash_bytes(const uint8_t *b, size_t n)
{
	uint32_t x = 2166136261u;
	for (size_t k = 0; k < n; k++)
		x = (x ^ b[k]) * 16777619u;
	return x | 1; /* 0 marks a free slot */
}

static bool tab_grow(struct fpu_host *h)
{
	size_t ns = h->tab_size * 2;
	struct stub_ent *nt = calloc(ns, sizeof(*nt));

	if (!nt)
		return false;
	for (size_t k = 0; k < h->tab_size; k++) {
		struct stub_ent *e = &h->tab[k];
		if (!e->hash)
			continue;
		size_t j = e->hash & (ns - 1);
		while (nt[j].hash)
			j = (j + 1) & (ns - 1);
		nt[j] = *e;
	}
	free(h->tab);
	h->tab = nt;
	h->tab_size = ns;
	return true;
}

/* Copy code into the arena (writable only meanwhile); NULL when full. */
static void *arena_put(struct fpu_host *h, const uint8_t *buf, size_t n)
{
	size_t off = (h->used + 15) & ~(size_t)15;
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t p0, p1;
	uint8_t *p;

	if (pg <= 0)
		pg = 4096;
	if (off + n > h->size)
		return NULL;
	p = h->code + off;
	p0 = (uintptr_t)p & ~(uintptr_t)(pg - 1);
	p1 = ((uintptr_t)p + n + pg - 1) & ~(uintptr_t)(pg - 1);
	if (mprotect((void *)p0, p1 - p0, PROT_READ | PROT_WRITE))
		return NULL;
	memcpy(p, buf, n);
	if (mprotect((void *)p0, p1 - p0, PROT_READ | PROT_EXEC))
		return NULL;
	__builtin___clear_cache((char *)p, (char *)p + n);
	h->used = off + n;
	return p;
}

/* Find the stub with these bytes or add it. */
static void *stub_intern(struct cpu *c, const uint8_t *buf, size_t n)
{
	struct fpu_host *h = host_get(c);
	uint32_t hv = hash_bytes(buf, n);
	size_t j;
	void *p;

	if (!h)
		return NULL;
	for (j = hv & (h->tab_size - 1); h->tab[j].hash; j = (j + 1) & (h->tab_size - 1)) {
		struct stub_ent *e = &h->tab[j];
		if (e->hash == hv && e->len == n && !memcmp(h->code + e->off, buf, n))
			return h->code + e->off;
	}
	p = arena_put(h, buf, n);
	if (!p)
		return NULL;
	h->tab[j].hash = hv;
	h->tab[j].off = (uint32_t)((uint8_t *)p - h->code);
	h->tab[j].len = (uint16_t)n;
	if (++h->tab_used * 2 > h->tab_size && !tab_grow(h))
		return NULL;
	return p;
}

/* ---- code emission ---- */

struct emit {
	uint8_t b[STUB_MAX];
	size_t n;
};

static void put(struct emit *o, const uint8_t *b, size_t n)
{
	memcpy(o->b + o->n, b, n);
	o->n += n;
}

#define EMIT(o, ...)                                                                               \
	do {                                                                                       \
		static const uint8_t b_[] = {__VA_ARGS__};                                         \
		put(o, b_, sizeof(b_));                                                            \
	} while (0)

/* SIMD operand loads and stores between the frame and xmm1/xmm2/mm1/mm2/RAX/RCX */
static void emit_load(struct emit *o, uint8_t kind, bool is_reg_field)
{
	switch (kind) {
	case SK_XMM:
		if (is_reg_field)
			EMIT(o, 0xf3, 0x41, 0x0f, 0x6f, 0x08); /* movdqu xmm1, [r8] */
		else
			EMIT(o, 0xf3, 0x41, 0x0f, 0x6f, 0x11); /* movdqu xmm2, [r9] */
		break;
	case SK_MM:
		if (is_reg_field)
			EMIT(o, 0x41, 0x0f, 0x6f, 0x08); /* movq mm1, [r8] */
		else
			EMIT(o, 0x41, 0x0f, 0x6f, 0x11); /* movq mm2, [r9] */
		break;
	case SK_GPR:
		if (is_reg_field)
			EMIT(o, 0x48, 0x8b, 0x47, 0x18); /* mov rax, [rdi+24] */
		else
			EMIT(o, 0x48, 0x8b, 0x4f, 0x20); /* mov rcx, [rdi+32] */
		break;
	default:
		break;
	}
}

static void emit_store(struct emit *o, uint8_t kind, bool is_reg_field)
{
	switch (kind) {
	case SK_XMM:
		if (is_reg_field)
			EMIT(o, 0xf3, 0x41, 0x0f, 0x7f, 0x08); /* movdqu [r8], xmm1 */
		else
			EMIT(o, 0xf3, 0x41, 0x0f, 0x7f, 0x11); /* movdqu [r9], xmm2 */
		break;
	case SK_MM:
		if (is_reg_field)
			EMIT(o, 0x41, 0x0f, 0x7f, 0x08); /* movq [r8], mm1 */
		else
			EMIT(o, 0x41, 0x0f, 0x7f, 0x11); /* movq [r9], mm2 */
		break;
	case SK_GPR:
		if (is_reg_field)
			EMIT(o, 0x48, 0x89, 0x47, 0x18); /* mov [rdi+24], rax */
		else
			EMIT(o, 0x48, 0x89, 0x4f, 0x20); /* mov [rdi+32], rcx */
		break;
	default:
		break;
	}
}

static uint8_t field_reg(uint8_t kind)
{
	return kind == SK_GPR ? 0 : 1; /* rax / xmm1 / mm1 */
}

simd_fn fpu_host_simd(struct cpu *c, const struct simd_enc *e)
{
	struct emit o = {.n = 0};
	uint8_t rex = 0x40, modrm, reg;
	bool mem = e->rm_kind == SK_MEM;

	EMIT(&o, 0x4c, 0x8b, 0x07);	  /* mov r8, [rdi] */
	EMIT(&o, 0x4c, 0x8b, 0x4f, 0x08); /* mov r9, [rdi+8] */
	if (e->xmm0_read || e->xmm0_write)
		EMIT(&o, 0x4c, 0x8b, 0x57, 0x10); /* mov r10, [rdi+16] */
	if (e->reg_read)
		emit_load(&o, e->reg_kind, true);
	if (e->rm_read && !mem)
		emit_load(&o, e->rm_kind, false);
	if (e->xmm0_read)
		EMIT(&o, 0xf3, 0x41, 0x0f, 0x6f, 0x02); /* movdqu xmm0, [r10] */
	if (e->gpr_in) {
		EMIT(&o, 0x48, 0x8b, 0x47, 0x18); /* mov rax, [rdi+24] */
		EMIT(&o, 0x48, 0x8b, 0x57, 0x28); /* mov rdx, [rdi+40] */
	}
	if (e->mxcsr) {
		EMIT(&o, 0x0f, 0xae, 0x5f, 0x3c); /* stmxcsr [rdi+60] */
		EMIT(&o, 0x0f, 0xae, 0x57, 0x38); /* ldmxcsr [rdi+56] */
	}

	/* the instruction */
	put(&o, e->prefix, e->nprefix);
	if (e->rex_w)
		rex |= 0x08;
	if (mem)
		rex |= 0x01; /* REX.B: [r9] */
	if (rex != 0x40)
		put(&o, &rex, 1);
	EMIT(&o, 0x0f);
	if (e->map == 2)
		EMIT(&o, 0x38);
	else if (e->map == 3)
		EMIT(&o, 0x3a);
	put(&o, &e->opcode, 1);
	reg = e->reg_kind == SK_NONE ? (e->modrm_reg & 7) : field_reg(e->reg_kind);
	if (mem)
		modrm = (uint8_t)((reg << 3) | 1); /* mod 00, rm 001: [r9] */
	else
		modrm = (uint8_t)(0xc0 | (reg << 3) | (e->rm_kind == SK_GPR ? 1 : 2));
	put(&o, &modrm, 1);
	if (e->has_imm)
		put(&o, &e->imm, 1);

	if (e->rflags) {
		EMIT(&o, 0x9c);		    /* pushfq */
		EMIT(&o, 0x8f, 0x47, 0x30); /* pop qword [rdi+48] */
	}
	if (e->mxcsr) {
		EMIT(&o, 0x0f, 0xae, 0x5f, 0x38); /* stmxcsr [rdi+56] */
		EMIT(&o, 0x0f, 0xae, 0x57, 0x3c); /* ldmxcsr [rdi+60] */
	}
	if (e->reg_write)
		emit_store(&o, e->reg_kind, true);
	if (e->rm_write && !mem)
		emit_store(&o, e->rm_kind, false);
	if (e->xmm0_write)
		EMIT(&o, 0xf3, 0x41, 0x0f, 0x7f, 0x02); /* movdqu [r10], xmm0 */
	if (e->gpr_out)
		EMIT(&o, 0x48, 0x89, 0x4f, 0x20); /* mov [rdi+32], rcx */
	if (e->reg_kind == SK_MM || e->rm_kind == SK_MM)
		EMIT(&o, 0x0f, 0x77); /* emms: the host's x87 stack is empty again */
	EMIT(&o, 0xc3);
	void *stub = stub_intern(c, o.b, o.n);
	struct fpu_host *h = c->fpu_host;
	if (stub && h) {
		unsigned k = (unsigned)(((uintptr_t)stub >> 3) & (ENC_TAB - 1));
		for (unsigned n = 0; n < 8; n++, k = (k + 1) & (ENC_TAB - 1)) {
			if (!h->enc[k].stub || h->enc[k].stub == stub) {
				h->enc[k].stub = stub;
				h->enc[k].enc = *e;
				break;
			}
		}
	}
	return (simd_fn)stub;
}

bool fpu_host_simd_enc(struct cpu *c, simd_fn fn, struct simd_enc *out)
{
	struct fpu_host *h = c->fpu_host;
	if (!h || !fn)
		return false;
	unsigned k = (unsigned)(((uintptr_t)fn >> 3) & (ENC_TAB - 1));
	for (unsigned n = 0; n < 8; n++, k = (k + 1) & (ENC_TAB - 1)) {
		if (h->enc[k].stub == (const void *)fn) {
			*out = h->enc[k].enc;
			return true;
		}
		if (!h->enc[k].stub)
			return false;
	}
	return false;
}

/*
 * A VEX instruction: its operands in ymm1 (reg), ymm2 or [r9] (rm), ymm3
 * (vvvv), ymm4 (is4), ymm0 (implicit), RAX/RCX (GPR operands), loaded from
 * the 32-byte buffers of struct avx_frame and stored back whole; always
 * the 3-byte VEX form with the guest's map, pp, L and W; VZEROUPPER at the
 * end keeps the host's SSE code free of transition penalties.
 */
avx_fn fpu_host_vex(struct cpu *c, const struct vex_enc *e)
{
	struct emit o = {.n = 0};
	bool mem = e->rm_kind == SK_MEM;
	uint8_t b[3], modrm, reg;

	EMIT(&o, 0x4c, 0x8b, 0x07);	  /* mov r8, [rdi] */
	EMIT(&o, 0x4c, 0x8b, 0x4f, 0x08); /* mov r9, [rdi+8] */
	if (e->xmm0_read || e->xmm0_write)
		EMIT(&o, 0x4c, 0x8b, 0x57, 0x10); /* mov r10, [rdi+16] */
	if (e->vvvv)
		EMIT(&o, 0x4c, 0x8b, 0x5f, 0x40); /* mov r11, [rdi+64] */
	if (e->is4)
		EMIT(&o, 0x48, 0x8b, 0x77, 0x48); /* mov rsi, [rdi+72] */
	if (e->reg_kind == SK_XMM)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x6f, 0x08); /* vmovdqu ymm1, [r8] */
	else if (e->reg_kind == SK_GPR)
		EMIT(&o, 0x48, 0x8b, 0x47, 0x18); /* mov rax, [rdi+24] */
	if (e->rm_kind == SK_XMM)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x6f, 0x11); /* vmovdqu ymm2, [r9] */
	else if (e->rm_kind == SK_GPR)
		EMIT(&o, 0x48, 0x8b, 0x4f, 0x20); /* mov rcx, [rdi+32] */
	if (e->vvvv)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x6f, 0x1b); /* vmovdqu ymm3, [r11] */
	if (e->is4)
		EMIT(&o, 0xc5, 0xfe, 0x6f, 0x26); /* vmovdqu ymm4, [rsi] */
	if (e->xmm0_read || e->xmm0_write)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x6f, 0x02); /* vmovdqu ymm0, [r10] */
	if (e->gpr_in) {
		EMIT(&o, 0x48, 0x8b, 0x47, 0x18); /* mov rax, [rdi+24] */
		EMIT(&o, 0x48, 0x8b, 0x57, 0x28); /* mov rdx, [rdi+40] */
	}
	if (!e->nomxcsr) {
		EMIT(&o, 0x0f, 0xae, 0x5f, 0x3c); /* stmxcsr [rdi+60] */
		EMIT(&o, 0x0f, 0xae, 0x57, 0x38); /* ldmxcsr [rdi+56] */
	}

	/* the instruction: C4 RXB.mmmmm W.vvvv.L.pp opcode ModRM [imm8] */
	b[0] = 0xc4;
	b[1] = (uint8_t)(0xc0 | (mem ? 0 : 0x20) | e->map); /* R X not; B for [r9] */
	b[2] = (uint8_t)((e->W ? 0x80 : 0) | ((e->vvvv ? (~3u & 15) : 15) << 3) | (e->L ? 4 : 0) |
			 (e->pp & 3));
	put(&o, b, 3);
	put(&o, &e->opcode, 1);
	reg = e->reg_kind == SK_NONE ? (e->modrm_reg & 7) : e->reg_kind == SK_GPR ? 0 : 1;
	if (mem)
		modrm = (uint8_t)((reg << 3) | 1); /* mod 00, rm 001: [r9] */
	else
		modrm = (uint8_t)(0xc0 | (reg << 3) | (e->rm_kind == SK_GPR ? 1 : 2));
	put(&o, &modrm, 1);
	if (e->is4) {
		uint8_t v = (uint8_t)(0x40 | (e->imm & 15));
		put(&o, &v, 1);
	} else if (e->has_imm) {
		put(&o, &e->imm, 1);
	}

	if (e->rflags) {
		EMIT(&o, 0x9c);		    /* pushfq */
		EMIT(&o, 0x8f, 0x47, 0x30); /* pop qword [rdi+48] */
	}
	if (!e->nomxcsr) {
		EMIT(&o, 0x0f, 0xae, 0x5f, 0x38); /* stmxcsr [rdi+56] */
		EMIT(&o, 0x0f, 0xae, 0x57, 0x3c); /* ldmxcsr [rdi+60] */
	}
	if (e->reg_write && e->reg_kind == SK_XMM)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x7f, 0x08); /* vmovdqu [r8], ymm1 */
	else if (e->reg_write && e->reg_kind == SK_GPR)
		EMIT(&o, 0x48, 0x89, 0x47, 0x18); /* mov [rdi+24], rax */
	if (e->rm_write && e->rm_kind == SK_XMM)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x7f, 0x11); /* vmovdqu [r9], ymm2 */
	else if (e->rm_write && e->rm_kind == SK_GPR)
		EMIT(&o, 0x48, 0x89, 0x4f, 0x20); /* mov [rdi+32], rcx */
	if (e->vvvv_write)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x7f, 0x1b); /* vmovdqu [r11], ymm3 (VEX NDD forms) */
	if (e->xmm0_write)
		EMIT(&o, 0xc4, 0xc1, 0x7e, 0x7f, 0x02); /* vmovdqu [r10], ymm0 */
	if (e->gpr_out)
		EMIT(&o, 0x48, 0x89, 0x4f, 0x20); /* mov [rdi+32], rcx */
	EMIT(&o, 0xc5, 0xf8, 0x77);		  /* vzeroupper */
	EMIT(&o, 0xc3);
	void *stub = stub_intern(c, o.b, o.n);
	struct fpu_host *h = c->fpu_host;
	if (stub && h) {
		unsigned k = (unsigned)(((uintptr_t)stub >> 3) & (ENC_TAB - 1));
		for (unsigned n = 0; n < 8; n++, k = (k + 1) & (ENC_TAB - 1)) {
			if (!h->venc[k].stub || h->venc[k].stub == stub) {
				h->venc[k].stub = stub;
				h->venc[k].enc = *e;
				break;
			}
		}
	}
	return (avx_fn)stub;
}

bool fpu_host_vex_enc(struct cpu *c, avx_fn fn, struct vex_enc *out)
{
	struct fpu_host *h = c->fpu_host;
	if (!h || !fn)
		return false;
	unsigned k = (unsigned)(((uintptr_t)fn >> 3) & (ENC_TAB - 1));
	for (unsigned n = 0; n < 8; n++, k = (k + 1) & (ENC_TAB - 1)) {
		if (h->venc[k].stub == (const void *)fn) {
			*out = h->venc[k].enc;
			return true;
		}
		if (!h->venc[k].stub)
			return false;
	}
	return false;
}

x87_fn fpu_host_x87(struct cpu *c, const uint8_t *op, unsigned oplen, int modrm, bool mem,
		    bool flags_in, bool flags_out)
{
	struct emit o = {.n = 0};

	EMIT(&o, 0xd9, 0x3a);		  /* fnstcw [rdx] */
	EMIT(&o, 0x0f, 0xae, 0x5a, 0x04); /* stmxcsr [rdx+4] */
	EMIT(&o, 0x48, 0x0f, 0xae, 0x0f); /* fxrstor64 [rdi] */
	if (flags_in) {
		/* the guest's arithmetic flags into the host's RFLAGS */
		EMIT(&o, 0x9c, 0x58);			      /* pushfq; pop rax */
		EMIT(&o, 0x48, 0x25, 0x2a, 0xf7, 0xff, 0xff); /* and rax, ~0x8d5 */
		EMIT(&o, 0x48, 0x0b, 0x42, 0x08);	      /* or rax, [rdx+8] */
		EMIT(&o, 0x50, 0x9d);			      /* push rax; popfq */
	}
	put(&o, op, oplen);
	if (modrm >= 0) {
		uint8_t m = (uint8_t)modrm;
		if (mem)
			m = (uint8_t)((m & 0x38) | 6); /* mod 00, rm 110: [rsi] */
		put(&o, &m, 1);
	}
	if (flags_out) {
		EMIT(&o, 0x9c);		    /* pushfq */
		EMIT(&o, 0x8f, 0x42, 0x08); /* pop qword [rdx+8] */
	}
	EMIT(&o, 0x48, 0x0f, 0xae, 0x07); /* fxsave64 [rdi] */
	EMIT(&o, 0xdb, 0xe3);		  /* fninit */
	EMIT(&o, 0xd9, 0x2a);		  /* fldcw [rdx] */
	EMIT(&o, 0x0f, 0xae, 0x52, 0x04); /* ldmxcsr [rdx+4] */
	EMIT(&o, 0xc3);
	return (x87_fn)stub_intern(c, o.b, o.n);
}
