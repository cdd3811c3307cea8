/* SPDX-License-Identifier: MIT */
/*
 * x87, MMX and SSE inside cpu/: the state in c->fx, the checks every group
 * makes, and the host execution unit.
 *
 * The state is the FXSAVE64 image (SDM vol. 1, 10.5.1): FCW FSW FTW(abridged)
 * FOP FIP FDP MXCSR, ST(0..7) in stack order (slot k holds ST(k), that is
 * physical register (TOP + k) & 7) and XMM0-15. FCS/FDS are kept apart.
 *
 * The execution unit (fpu_host.c) is the only code that knows the
 * arithmetic is done by the host processor. Its interface is two kinds of
 * operation, built once at decode time from the instruction encoding:
 *  - a SIMD operation (SSE, MMX) on operands passed in a struct simd_frame;
 *  - an x87 operation on the whole FXSAVE64 image plus a memory operand.
 * A soft-float implementation can replace fpu_host.c behind the same calls.
 */
#ifndef SOFTKVM_CPU_FPU_H
#define SOFTKVM_CPU_FPU_H

#include "internal.h"

/* offsets in the FXSAVE64 image */
#define FX_FCW	 0
#define FX_FSW	 2
#define FX_FTW	 4
#define FX_FOP	 6
#define FX_FIP	 8
#define FX_FDP	 16
#define FX_MXCSR 24
#define FX_MXMSK 28
#define FX_ST	 32
#define FX_XMM	 160

/* FSW bits (SDM vol. 1, 8.1.3) */
#define FSW_IE	0x0001u
#define FSW_SF	0x0040u
#define FSW_ES	0x0080u
#define FSW_C0	0x0100u
#define FSW_C1	0x0200u
#define FSW_C2	0x0400u
#define FSW_TOP 0x3800u
#define FSW_C3	0x4000u
#define FSW_B	0x8000u

/* MXCSR (SDM vol. 1, 10.2.3) */
#define MXCSR_FLAGS   0x003fu
#define MXCSR_DAZ     0x0040u
#define MXCSR_MASKS   0x1f80u
#define MXCSR_RC      0x6000u
#define MXCSR_FZ      0x8000u
#define MXCSR_DEFAULT 0x1f80u

static inline uint16_t fx_get16(const struct cpu *c, unsigned off)
{
	uint16_t v;
	memcpy(&v, c->fx + off, 2);
	return v;
}

static inline void fx_put16(struct cpu *c, unsigned off, uint16_t v)
{
	memcpy(c->fx + off, &v, 2);
}

static inline uint32_t fx_mxcsr(const struct cpu *c)
{
	uint32_t v;
	memcpy(&v, c->fx + FX_MXCSR, 4);
	return v;
}

static inline void fx_set_mxcsr(struct cpu *c, uint32_t v)
{
	memcpy(c->fx + FX_MXCSR, &v, 4);
}

static inline uint8_t *fx_xmm(struct cpu *c, unsigned n)
{
	return c->fx + FX_XMM + 16 * n;
}

/* ---- fpu_state.c ---- */

void fpu_reset(struct cpu *c);
/* Load FSW; a new TOP leaves the physical registers where they are (the
 * image holds ST(i), so the slots rotate) */
void fpu_set_fsw(struct cpu *c, uint16_t fsw);
/* FNINIT's state (SDM vol. 1, 8.1.x; FINIT/FNINIT) */
void fpu_x87_init(struct cpu *c);
/* FSW.ES and FSW.B follow the unmasked exception flags after a load of FCW or
 * FSW (FLDCW, FLDENV, FRSTOR, FXRSTOR, XRSTOR: what the processor does) */
void fpu_x87_update_es(struct cpu *c);
/* Full tag word (2 bits per physical register) from the abridged one and
 * the register contents (SDM vol. 1, 8.1.7; FXSAVE "Operation") */
uint16_t fpu_full_tag(const struct cpu *c);
uint8_t fpu_abridged_tag(uint16_t full);
/* Initial-configuration tests for XINUSE (SDM vol. 1, 13.6) */
bool fpu_x87_is_init(const struct cpu *c);
bool fpu_sse_is_init(const struct cpu *c);
bool fpu_ymm_is_init(const struct cpu *c);

/* ---- checks (ops_fpu.c); they raise the exception ---- */

/* x87: #NM (CR0.EM or TS), then #MF for a pending unmasked exception when
 * wait is true (all but the FN* no-wait forms) */
void fpu_x87_check(struct cpu *c, bool wait);
/* MMX: #UD (EM), #NM (TS), #MF (pending x87 exception) */
void fpu_mmx_check(struct cpu *c);
/* SSE: #UD (EM, !OSFXSR), #NM (TS) */
static inline void fpu_sse_check(struct cpu *c)
{
	if (unlikely((c->cr0 & (CR0_EM | CR0_TS)) || !(c->cr4 & CR4_OSFXSR))) {
		if ((c->cr0 & CR0_EM) || !(c->cr4 & CR4_OSFXSR))
			cpu_raise_noerr(c, EXC_UD);
		cpu_raise_noerr(c, EXC_NM);
	}
}
/* An unmasked SIMD floating-point exception: #XM with CR4.OSXMMEXCPT, else #UD */
NORETURN void fpu_simd_fault(struct cpu *c);
/* Put the MMX state in place for an MMX instruction: TOP = 0 with the
 * register file rotated to physical order, every tag valid (SDM vol. 1, 9.5) */
void fpu_mmx_enter(struct cpu *c);

/* Memory operands of any size (1..4096 bytes) through the TLB. */
void fpu_mem_read(struct cpu *c, uint64_t la, void *buf, unsigned n);
/* Check that n bytes at la are writable (faults before anything is written). */
void fpu_mem_probe_write(struct cpu *c, uint64_t la, unsigned n);
void fpu_mem_write(struct cpu *c, uint64_t la, const void *buf, unsigned n);

/* Host pointer to n bytes at la (one page, read TLB hit) or NULL. */
static inline const void *fpu_mem_rptr(struct cpu *c, uint64_t la, unsigned n)
{
	const struct tlb_entry *e = &c->tlb->r[TLB_INDEX(la)];
	return tlb_hit(e, la, n) ? (const void *)(e->addend + la) : NULL;
}

static inline void *fpu_mem_wptr(struct cpu *c, uint64_t la, unsigned n)
{
	const struct tlb_entry *e = &c->tlb->w[TLB_INDEX(la)];
	return tlb_hit(e, la, n) ? (void *)(e->addend + la) : NULL;
}

/* ---- the host execution unit (fpu_host.c) ---- */

/*
 * Operands of a SIMD operation. The operation reads and writes through the
 * pointers (16 bytes for XMM, 8 for MM, the operand size for memory) and
 * the GPR slots; mxcsr is the guest MXCSR on entry (flags clear, every
 * exception masked) and holds the flags raised on return. Layout is ABI
 * with the generated code.
 */
struct simd_frame {
	void *reg;	     /*  0: the ModRM.reg operand */
	void *rm;	     /*  8: the ModRM.rm operand (register or memory) */
	void *xmm0;	     /* 16: implicit XMM0 (BLENDV*, PCMPxSTRM) */
	uint64_t rax;	     /* 24: ModRM.reg GPR operand; implicit EAX/RAX */
	uint64_t rcx;	     /* 32: ModRM.rm GPR operand; implicit ECX */
	uint64_t rdx;	     /* 40: implicit EDX/RDX */
	uint64_t rflags;     /* 48: arithmetic flags out */
	uint32_t mxcsr;	     /* 56 */
	uint32_t host_mxcsr; /* 60: scratch */
};

/* how a SIMD instruction's operands map (struct simd_enc.kind_*) */
enum { SK_NONE, SK_XMM, SK_MM, SK_GPR, SK_MEM };

/* what fpu_host_simd() needs to know about the instruction */
struct simd_enc {
	uint8_t prefix[2]; /* mandatory (and operand-size) prefixes, in order */
	uint8_t nprefix;
	bool rex_w;
	uint8_t map; /* 1: 0F, 2: 0F38, 3: 0F3A */
	uint8_t opcode;
	uint8_t modrm_reg; /* /digit when reg_kind is SK_NONE */
	uint8_t reg_kind, rm_kind;
	bool reg_read, reg_write, rm_read, rm_write;
	bool has_imm;
	uint8_t imm;
	bool xmm0_read, xmm0_write; /* implicit XMM0 */
	bool gpr_in, gpr_out;	    /* implicit EAX/EDX in (frame rax/rdx), ECX out (rcx) */
	bool mxcsr;		    /* uses MXCSR: run with the guest's */
	bool rflags;		    /* writes the arithmetic flags */
};

typedef void (*simd_fn)(struct simd_frame *f);
/* Build (or find) the operation; NULL when the arena is exhausted. */
simd_fn fpu_host_simd(struct cpu *c, const struct simd_enc *e);
/* The encoding a stub of fpu_host_simd() runs (for the JIT); false if unknown */
bool fpu_host_simd_enc(struct cpu *c, simd_fn fn, struct simd_enc *out);

/*
 * Operands of a VEX operation (ops_avx.c): every vector operand is a
 * 32-byte buffer (YMM; the host's VEX.128 forms zero bits 255:128, which
 * the handler writes back as they are). reg is ModRM.reg (ymm1 in the stub),
 * rm ModRM.rm (ymm2, or [r9] for memory), vvvv VEX.vvvv (ymm3), is4 the
 * register in imm8[7:4] (ymm4), xmm0 implicit YMM0. The first 64 bytes
 * are laid out as struct simd_frame. Layout is ABI with the stub.
 */
struct avx_frame {
	void *reg;	     /*  0 */
	void *rm;	     /*  8 */
	void *xmm0;	     /* 16 */
	uint64_t rax;	     /* 24: ModRM.reg GPR; implicit EAX/RAX */
	uint64_t rcx;	     /* 32: ModRM.rm GPR; implicit ECX out */
	uint64_t rdx;	     /* 40: implicit EDX/RDX */
	uint64_t rflags;     /* 48 */
	uint32_t mxcsr;	     /* 56 */
	uint32_t host_mxcsr; /* 60 */
	void *vvvv;	     /* 64 */
	void *is4;	     /* 72 */
};

struct vex_enc {
	uint8_t map; /* 1: 0F, 2: 0F38, 3: 0F3A */
	uint8_t opcode, pp, L, W;
	uint8_t modrm_reg; /* /digit when reg_kind is SK_NONE */
	uint8_t reg_kind, rm_kind;
	bool vvvv, is4;
	bool reg_write, rm_write, vvvv_write;
	bool xmm0_read, xmm0_write;
	bool gpr_in, gpr_out, rflags;
	bool has_imm;
	uint8_t imm;
	/* an integer, logic or move instruction: MXCSR neither used nor
	 * changed (the stub leaves the host's; the JIT may run it inline) */
	bool nomxcsr;
};
typedef void (*avx_fn)(struct avx_frame *f);
/* The encoding fpu_host_vex() built stub fn from (for the JIT); false if unknown. */
bool fpu_host_vex_enc(struct cpu *c, avx_fn fn, struct vex_enc *out);
/* op_avx's i->aux2 (ops_avx.c; the JIT reads it too): the kinds of ModRM.reg
 * and ModRM.rm (SK_*), then */
#define AF_REGK(f) ((f)&7)
#define AF_RMK(f)  (((f) >> 3) & 7)
#define AF_REG_W   (1u << 6)
#define AF_RM_W	   (1u << 7)
#define AF_VVVV	   (1u << 8)
#define AF_IS4	   (1u << 9)
#define AF_RFLAGS  (1u << 10)
#define AF_ALIGN   (1u << 11)
#define AF_XMM0	   (1u << 12)
#define AF_XMM0_W  (1u << 13)
#define AF_GPR_IN  (1u << 14)
#define AF_RCX_OUT (1u << 15)
#define AF_VVVV_W  (1u << 16)
/* i->aux: vvvv | is4 << 4 | reg GPR size << 8 | rm GPR size << 12 */
/* Build (or find) the stub of a VEX instruction; NULL when the arena is full. */
avx_fn fpu_host_vex(struct cpu *c, const struct vex_enc *e);
/* the VEX group (ops_avx.c): generic decoder and the special forms */
bool decode_avx(struct dctx *d, struct insn *i);
void ops_avx_register(void);

/*
 * An x87 operation: runs the instruction on the FXSAVE64 image c->fx
 * (loaded into the host unit and saved back), with a memory operand in
 * mem. The frame carries RFLAGS for FCMOVcc/FCOMI; the host's own FCW and
 * MXCSR are saved in it and put back before the operation returns.
 */
struct x87_frame {
	uint16_t host_fcw; /* 0: scratch */
	uint16_t pad;
	uint32_t host_mxcsr; /* 4: scratch */
	uint64_t rflags;     /* 8: arithmetic flags in (FCMOVcc) and out (FCOMI) */
};
typedef void (*x87_fn)(void *fx, void *mem, struct x87_frame *f);
/* op: the opcode bytes (D8-DF, or 0F 77 for EMMS), then ModRM if modrm >= 0;
 * mem: the ModRM names memory */
x87_fn fpu_host_x87(struct cpu *c, const uint8_t *op, unsigned oplen, int modrm, bool mem,
		    bool flags_in, bool flags_out);
void fpu_host_destroy(struct cpu *c);

/* ---- decoders of the groups (ops_sse.c, ops_x87.c) ---- */
void ops_sse_register(void);
void ops_x87_register(void);
/* an x87 instruction run on the host unit (ops_x87.c); false: not one */
bool fpu_decode_x87(struct dctx *d, struct insn *i);

#endif
