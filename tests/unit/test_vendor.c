/* SPDX-License-Identifier: MIT */
/*
 * Vendor behaviour (cpu/vendor.c, cpu/README.md "Vendor behaviour"): each
 * behaviour where Intel and AMD differ, run in both modes, with the values
 * the SDM, the APM, Linux or the hardware give.
 */
#include <string.h>

#include "harness.h"
#include "unit.h"

#define CODE	0x100000ull
#define STACK	0x300000ull
#define RSP0	0x3f0000ull
#define STUBS	0x80000ull
#define DATA	0x200000ull
#define EXIT_OK 0x55 /* value written to port 0xf4 by the test code when no fault */

static struct hx *h;

static void vendor(int v, bool fdp6, bool fcs13, bool erptr, bool nullclr)
{
	struct cpu_vendor_info vi = {
	    .vendor = (enum cpu_vendor)v,
	    .fdp_excptn_only = fdp6,
	    .zero_fcs_fds = fcs13,
	    .xsave_err_ptr = erptr,
	    .null_sel_clr_base = nullclr,
	};
	cpu_set_vendor(h->cpu, &vi);
}

static void put64(uint64_t gpa, uint64_t v)
{
	memcpy(h->ram + gpa, &v, 8);
}

static uint64_t get64(uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, h->ram + gpa, 8);
	return v;
}

static uint16_t get16(uint64_t gpa)
{
	uint16_t v;
	memcpy(&v, h->ram + gpa, 2);
	return v;
}

/* every vector: "mov al, vector; out 0xf4, al; hlt" at ring 0 */
static void install_idt(void)
{
	for (unsigned v = 0; v < 32; v++) {
		uint64_t stub = STUBS + 8 * v, lo;
		uint8_t *s = h->ram + stub;
		s[0] = 0xb0;
		s[1] = (uint8_t)v;
		s[2] = 0xe6;
		s[3] = 0xf4;
		s[4] = 0xf4;
		lo = (stub & 0xffff) | ((uint64_t)HX_SEL_CODE64 << 16) | (0xeull << 40) |
		     (1ull << 47) | ((stub >> 16 & 0xffff) << 48);
		put64(h->idt + 16 * v, lo);
		put64(h->idt + 16 * v + 8, stub >> 32);
	}
	put64(h->tss + 4, RSP0);
}

/* run code in 64-bit mode at CPL 0; returns the value written to port 0xf4 */
static int run64(const uint8_t *code, size_t len, const struct cpu_regs *in)
{
	struct cpu_regs r;

	hx_load(h, CODE, code, len);
	hx_setup_long64(h, CODE, STACK, false);
	install_idt();
	cpu_note_external_write(h->cpu);
	cpu_get_regs(h->cpu, &r);
	if (in) {
		memcpy(r.gpr, in->gpr, sizeof(r.gpr));
		r.gpr[REG_RSP] = STACK;
	}
	cpu_set_regs(h->cpu, &r);
	h->exited = false;
	h->exit_code = -1;
	hx_run(h, 100000);
	return h->exit_code;
}

static uint64_t reg(int n)
{
	struct cpu_regs r;
	cpu_get_regs(h->cpu, &r);
	return r.gpr[n];
}

/* REP with 67h and ECX = 0: Intel clears RCX[63:32] (observed on Intel
 * hardware by the differential test), AMD keeps it */
static void test_rep_a32_zero_count(void)
{
	/* mov rcx, 0xcf2cf07300000000; a32 repne lodsw; a32 rep movsb; mov al, EXIT_OK; out */
	static const uint8_t code[] = {0x48, 0xb9,    0,    0,	  0,	0,    0x73,
				       0xf0, 0x2c,    0xcf, 0x67, 0x66, 0xf2, 0xad,
				       0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	static const uint8_t movs[] = {0x48, 0xb9, 0,	 0,    0,    0,	      0x73, 0xf0, 0x2c,
				       0xcf, 0x67, 0xf3, 0xa4, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	struct cpu_regs in = {0};

	in.gpr[REG_RSI] = DATA;
	in.gpr[REG_RDI] = DATA + 0x100;
	vendor(CPU_VENDOR_INTEL, false, false, false, false);
	CHECK_EQ(run64(code, sizeof(code), &in), EXIT_OK);
	CHECK_EQ(reg(REG_RCX), 0);
	CHECK_EQ(run64(movs, sizeof(movs), &in), EXIT_OK);
	CHECK_EQ(reg(REG_RCX), 0);
	CHECK_EQ(reg(REG_RSI), DATA);
	vendor(CPU_VENDOR_AMD, false, false, false, false);
	CHECK_EQ(run64(code, sizeof(code), &in), EXIT_OK);
	CHECK_EQ(reg(REG_RCX), 0xcf2cf07300000000ull);
	CHECK_EQ(run64(movs, sizeof(movs), &in), EXIT_OK);
	CHECK_EQ(reg(REG_RCX), 0xcf2cf07300000000ull);
}

/* 66h near branches in 64-bit mode: Intel ignores it; AMD truncates the
 * target to 16 bits, CALL pushes and RET pops 2 bytes, rel16 forms are
 * shorter (checked on an AMD EPYC host). The targets below 64 KiB hold
 * "mov al, 0xAA; out 0xf4, al; hlt". */
static void plant_low(uint64_t at)
{
	static const uint8_t s[] = {0xb0, 0xaa, 0xe6, 0xf4, 0xf4};
	hx_load(h, at, s, sizeof(s));
}

static void test_branch_o16(void)
{
	/* 66 jmp short +5: Intel lands on CODE+8, AMD on 0x0008 */
	static const uint8_t jmp8[] = {0x66, 0xeb, 0x05,    0xf4, 0xf4, 0xf4, 0xf4,
				       0xf4, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	/* 66 call rel: Intel rel32 (6 bytes, to CODE+0x16), AMD rel16 (4 bytes,
	 * to 0x0014), pushing 8 or 2 bytes */
	static const uint8_t call[] = {0x66, 0xe8, 0x10, 0x00, 0x00, 0x00,    0xf4, 0xf4, 0xf4,
				       0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4,    0xf4, 0xf4, 0xf4,
				       0xf4, 0xf4, 0xf4, 0xf4, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	/* push CODE+0xc; push word 0x0020; o16 ret: AMD pops 2 bytes (to 0x0020),
	 * Intel 8 (to 0x10000c0020: #PF) */
	static const uint8_t ret[] = {0x68, 0x0c, 0x00, 0x10, 0x00,    0x66, 0x6a, 0x20, 0x66,
				      0xc3, 0xf4, 0xf4, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	/* push CODE+0xf; 66 REX.W ret: 64-bit on both */
	static const uint8_t retw[] = {0x68, 0x0f, 0x00,    0x10, 0x00, 0x66, 0x48,
				       0xc3, 0xf4, 0xf4,    0xf4, 0xf4, 0xf4, 0xf4,
				       0xf4, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};

	plant_low(0x0008);
	plant_low(0x0014);
	plant_low(0x0020);
	vendor(CPU_VENDOR_INTEL, false, false, false, false);
	CHECK_EQ(run64(jmp8, sizeof(jmp8), NULL), EXIT_OK);
	CHECK_EQ(run64(call, sizeof(call), NULL), EXIT_OK);
	CHECK_EQ(reg(REG_RSP), STACK - 8);
	CHECK_EQ(get64(STACK - 8), CODE + 6);
	CHECK_EQ(run64(ret, sizeof(ret), NULL), 14);
	CHECK_EQ(run64(retw, sizeof(retw), NULL), EXIT_OK);
	vendor(CPU_VENDOR_AMD, false, false, false, false);
	CHECK_EQ(run64(jmp8, sizeof(jmp8), NULL), 0xaa);
	CHECK_EQ(run64(call, sizeof(call), NULL), 0xaa);
	CHECK_EQ(reg(REG_RSP), STACK - 2);
	CHECK_EQ(get16(STACK - 2), 4);
	CHECK_EQ(run64(ret, sizeof(ret), NULL), 0xaa);
	CHECK_EQ(reg(REG_RSP), STACK - 8);
	CHECK_EQ(run64(retw, sizeof(retw), NULL), EXIT_OK);
}

/* SYSENTER in 64-bit mode: Intel enters SYSENTER_EIP; AMD #UD (APM vol. 3:
 * legacy mode only; #UD on an AMD EPYC host) */
static void test_sysenter_long_mode(void)
{
	static const uint8_t code[] = {0x0f, 0x34};
	static const uint8_t target[] = {0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};

	hx_load(h, CODE + 0x800, target, sizeof(target));
	for (int v = 0; v < 2; v++) {
		vendor(v, false, false, false, false);
		hx_setup_long64(h, CODE, STACK, false);
		cpu_msr_set(h->cpu, MSR_IA32_SYSENTER_CS, HX_SEL_CODE64, true);
		cpu_msr_set(h->cpu, MSR_IA32_SYSENTER_EIP, CODE + 0x800, true);
		cpu_msr_set(h->cpu, MSR_IA32_SYSENTER_ESP, STACK, true);
		hx_load(h, CODE, code, sizeof(code));
		install_idt();
		cpu_note_external_write(h->cpu);
		h->exit_code = -1;
		hx_run(h, 10000);
		CHECK_EQ(h->exit_code, v == CPU_VENDOR_INTEL ? EXIT_OK : 6);
	}
}

/* SYSENTER_ESP/EIP: AMD keeps 32 bits (Linux svm_set_msr()) */
static void test_sysenter_msrs(void)
{
	uint64_t v;

	vendor(CPU_VENDOR_INTEL, false, false, false, false);
	CHECK_EQ(cpu_msr_set(h->cpu, MSR_IA32_SYSENTER_ESP, 0xffffffff81234567ull, false), 0);
	cpu_msr_get(h->cpu, MSR_IA32_SYSENTER_ESP, &v);
	CHECK_EQ(v, 0xffffffff81234567ull);
	vendor(CPU_VENDOR_AMD, false, false, false, false);
	CHECK_EQ(cpu_msr_set(h->cpu, MSR_IA32_SYSENTER_EIP, 0xffffffff81234567ull, false), 0);
	cpu_msr_get(h->cpu, MSR_IA32_SYSENTER_EIP, &v);
	CHECK_EQ(v, 0x81234567ull);
}

/* SYSCALL in compatibility mode: Intel #UD; AMD enters CSTAR (Linux's
 * emulator, em_syscall()) */
static void test_syscall_compat(void)
{
	static const uint8_t code[] = {0x0f, 0x05};
	static const uint8_t target[] = {0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	struct cpu_sregs s;

	hx_load(h, CODE + 0x800, target, sizeof(target));
	for (int v = 0; v < 2; v++) {
		vendor(v, false, false, false, false);
		hx_setup_long64(h, CODE, STACK, false);
		cpu_get_sregs(h->cpu, &s);
		s.seg[SEG_CS].sel = HX_SEL_CODE32;
		s.seg[SEG_CS].l = 0;
		s.seg[SEG_CS].db = 1;
		cpu_set_sregs(h->cpu, &s);
		cpu_msr_set(h->cpu, MSR_EFER, s.efer | EFER_SCE, true);
		cpu_msr_set(h->cpu, MSR_STAR, (uint64_t)HX_SEL_CODE64 << 32, true);
		cpu_msr_set(h->cpu, MSR_CSTAR, CODE + 0x800, true);
		hx_load(h, CODE, code, sizeof(code));
		install_idt();
		cpu_note_external_write(h->cpu);
		h->exit_code = -1;
		hx_run(h, 10000);
		CHECK_EQ(h->exit_code, v == CPU_VENDOR_INTEL ? 6 : EXIT_OK);
		if (v == CPU_VENDOR_AMD)
			CHECK_EQ(reg(REG_RCX), CODE + 2);
	}
}

/* SYSRET to a non-canonical RCX: Intel #GP(0) at CPL 0 on the SYSRET;
 * AMD returns and faults at CPL 3 (Linux, entry_64.S) */
static void test_sysret_noncanonical(void)
{
	static const uint8_t code[] = {0x48, 0x0f, 0x07};
	struct cpu_regs in = {0};
	struct cpu_sregs s;
	uint64_t sp;

	in.gpr[REG_RCX] = 0x0000800000000000ull;
	in.gpr[REG_R11] = 0x2;
	for (int v = 0; v < 2; v++) {
		struct cpu_regs r;
		vendor(v, false, false, false, false);
		hx_load(h, CODE, code, sizeof(code));
		hx_setup_long64(h, CODE, STACK, false);
		install_idt();
		cpu_get_sregs(h->cpu, &s);
		cpu_msr_set(h->cpu, MSR_EFER, s.efer | EFER_SCE, true);
		/* SYSRET CS = 0x30 + 16 = 0x40 (64-bit user code), SS = 0x38 */
		cpu_msr_set(h->cpu, MSR_STAR, (uint64_t)HX_SEL_UCODE32 << 48, true);
		cpu_get_regs(h->cpu, &r);
		r.gpr[REG_RCX] = in.gpr[REG_RCX];
		r.gpr[REG_R11] = in.gpr[REG_R11];
		cpu_set_regs(h->cpu, &r);
		cpu_note_external_write(h->cpu);
		h->exit_code = -1;
		hx_run(h, 10000);
		CHECK_EQ(h->exit_code, 13);
		sp = reg(REG_RSP); /* error code, RIP, CS, RFLAGS, RSP, SS */
		if (v == CPU_VENDOR_INTEL) {
			CHECK_EQ(get64(sp + 8), CODE);
			CHECK_EQ(get64(sp + 16), HX_SEL_CODE64);
		} else {
			CHECK_EQ(sp, RSP0 - 48);
			CHECK_EQ(get64(sp + 8), 0x0000800000000000ull);
			CHECK_EQ(get64(sp + 16), HX_SEL_UCODE64 | 3);
		}
	}
}

/* After SYSRET, KVM_GET_SREGS's SS.DPL is the CPL on both vendors: AMD keeps
 * SS's cached attributes (DPL 0 from SYSCALL), and Linux's svm_get_segment()
 * reports the VMCB's CPL as SS.DPL, which QEMU takes as the CPL when it
 * restores the state (a guest saved in user mode after a SYSRET resumed at
 * CPL 0 and double-faulted) */
static void test_sysret_ss_dpl(void)
{
	/* sysretq; jmp $ (at CPL 3) */
	static const uint8_t code[] = {0x48, 0x0f, 0x07, 0xeb, 0xfe};
	struct cpu_sregs s;

	for (int v = 0; v < 2; v++) {
		struct cpu_regs r;
		vendor(v, false, false, false, false);
		hx_load(h, CODE, code, sizeof(code));
		hx_setup_long64(h, CODE, STACK, false);
		install_idt();
		cpu_get_sregs(h->cpu, &s);
		cpu_msr_set(h->cpu, MSR_EFER, s.efer | EFER_SCE, true);
		cpu_msr_set(h->cpu, MSR_STAR, (uint64_t)HX_SEL_UCODE32 << 48, true);
		cpu_get_regs(h->cpu, &r);
		r.gpr[REG_RCX] = CODE + 3;
		r.gpr[REG_R11] = 0x2;
		cpu_set_regs(h->cpu, &r);
		cpu_note_external_write(h->cpu);
		h->exit_code = -1;
		hx_run(h, 1000);
		cpu_get_regs(h->cpu, &r);
		CHECK_EQ(r.rip, CODE + 3);
		cpu_get_sregs(h->cpu, &s);
		CHECK_EQ(s.seg[SEG_CS].sel & 3, 3);
		CHECK_EQ(s.seg[SEG_SS].dpl, 3);
		/* and a restore of that state keeps CPL 3 */
		cpu_set_sregs(h->cpu, &s);
		cpu_get_sregs(h->cpu, &s);
		CHECK_EQ(s.seg[SEG_SS].dpl, 3);
	}
}

/* MOV FS, null in 64-bit mode: Intel clears the base (Linux,
 * detect_null_seg_behavior()); AMD keeps it unless NULL_SEL_CLR_BASE */
static void test_null_selector_base(void)
{
	/* xor eax, eax; mov fs, ax; mov al, EXIT_OK; out 0xf4, al */
	static const uint8_t code[] = {0x31, 0xc0, 0x8e, 0xe0, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	static const int vend[3] = {CPU_VENDOR_INTEL, CPU_VENDOR_AMD, CPU_VENDOR_AMD};
	static const uint64_t want[3] = {0, 0x12345000, 0};
	struct cpu_sregs s;

	for (int k = 0; k < 3; k++) {
		vendor(vend[k], false, false, false, k == 2);
		hx_load(h, CODE, code, sizeof(code));
		hx_setup_long64(h, CODE, STACK, false);
		install_idt();
		cpu_msr_set(h->cpu, MSR_FS_BASE, 0x12345000, true);
		cpu_note_external_write(h->cpu);
		h->exit_code = -1;
		hx_run(h, 10000);
		CHECK_EQ(h->exit_code, EXIT_OK);
		cpu_get_sregs(h->cpu, &s);
		CHECK_EQ(s.seg[SEG_FS].base, want[k]);
	}
}

/*
 * ARPL m16, r16 in compatibility mode with the destination in a segment that
 * is not writable: through CS: (a code segment) and through ES: loaded with a
 * read-only data segment. Intel #GP(0) whether ARPL would change it or not
 * (SDM vol. 2, ARPL); AMD only when it changes it (an EPYC Zen 3: the
 * difftest --mode32 and a 32-bit program with a read-only LDT segment).
 */
static void test_arpl_nonwritable(void)
{
	/* mov ax, 0x58; mov es, ax; [2e|26] arpl [DATA], dx; mov al, EXIT_OK; out 0xf4, al */
	uint8_t code[] = {0x66, 0xb8, 0x58, 0x00, 0x8e, 0xc0,	 0x2e, 0x63, 0x15,
			  0x00, 0x00, 0x20, 0x00, 0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	struct cpu_sregs s;
	struct cpu_regs r;

	for (int k = 0; k < 8; k++) {
		int v = k & 1;
		bool es = k & 2, changes = k & 4;
		uint16_t val = changes ? 0x1230 : 0x1233;
		code[6] = es ? 0x26 : 0x2e;
		vendor(v, false, false, false, false);
		hx_setup_long64(h, CODE, STACK, false);
		/* GDT 0x58: read-only data, base 0, limit 4 GiB, DPL 0 */
		put64(h->gdt + 0x58, 0x00cf91000000ffffull);
		cpu_get_sregs(h->cpu, &s);
		s.seg[SEG_CS].sel = HX_SEL_CODE32;
		s.seg[SEG_CS].l = 0;
		s.seg[SEG_CS].db = 1;
		cpu_set_sregs(h->cpu, &s);
		cpu_get_regs(h->cpu, &r);
		r.gpr[REG_RDX] = 3;
		r.rflags = 2 | FL_ZF;
		cpu_set_regs(h->cpu, &r);
		hx_load(h, CODE, code, sizeof(code));
		memcpy(h->ram + DATA, &val, 2);
		install_idt();
		cpu_note_external_write(h->cpu);
		h->exit_code = -1;
		hx_run(h, 10000);
		CHECK_EQ(h->exit_code, v == CPU_VENDOR_AMD && !changes ? EXIT_OK : 13);
		CHECK_EQ(get16(DATA), val);
		if (h->exit_code == EXIT_OK) {
			cpu_get_regs(h->cpu, &r);
			CHECK_EQ(r.rflags & FL_ZF, 0);
		}
	}
}

/*
 * x87 pointers. fld qword [DATA] (no exception), then fnstenv [DATA+0x100]
 * (32-bit format: FIP 12, FCS 16, FOP 18, FDP 20, FDS 24) and fxsave
 * [DATA+0x200] (FOP 6, FIP 8, FCS 12, FDP 16, FDS 20).
 */
static void x87_run(bool unmasked_exc)
{
	/* fninit; [fldcw [DATA+0x300]]; fld qword [DATA]; fnstenv; fxsave */
	static const uint8_t ok[] = {
	    0xdb, 0xe3,					       /* fninit */
	    0xdd, 0x04,	   0x25, 0x00, 0x00, 0x20, 0x00,       /* fld qword [0x200000] */
	    0xd9, 0x34,	   0x25, 0x00, 0x01, 0x20, 0x00,       /* fnstenv [0x200100] */
	    0x0f, 0xae,	   0x04, 0x25, 0x00, 0x02, 0x20, 0x00, /* fxsave [0x200200] */
	    0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	/* fninit; fldcw [DATA+0x300] (ZE unmasked); fldz; fdiv qword [DATA]
	 * (1.0 / 0 would be ZE: here 0/x ... use fdivr) */
	static const uint8_t exc[] = {
	    0xdb, 0xe3,					       /* fninit */
	    0xd9, 0x2c,	   0x25, 0x00, 0x03, 0x20, 0x00,       /* fldcw [0x200300] */
	    0xd9, 0xe8,					       /* fld1 */
	    0xdc, 0x34,	   0x25, 0x08, 0x00, 0x20, 0x00,       /* fdiv qword [0x200008] (0.0) */
	    0xd9, 0x34,	   0x25, 0x00, 0x01, 0x20, 0x00,       /* fnstenv [0x200100] */
	    0x0f, 0xae,	   0x04, 0x25, 0x00, 0x02, 0x20, 0x00, /* fxsave [0x200200] */
	    0xb0, EXIT_OK, 0xe6, 0xf4, 0xf4};
	double one = 1.0, zero = 0.0;
	uint16_t cw = 0x037b; /* ZM clear */
	struct cpu_sregs s;

	memcpy(h->ram + DATA, &one, 8);
	memcpy(h->ram + DATA + 8, &zero, 8);
	memcpy(h->ram + DATA + 0x300, &cw, 2);
	memset(h->ram + DATA + 0x100, 0xcc, 0x200);
	hx_setup_long64(h, CODE, STACK, false);
	cpu_get_sregs(h->cpu, &s);
	s.cr0 |= CR0_NE;
	s.cr4 |= CR4_OSFXSR;
	cpu_set_sregs(h->cpu, &s);
	if (unmasked_exc)
		CHECK_EQ(run64(exc, sizeof(exc), NULL), EXIT_OK);
	else
		CHECK_EQ(run64(ok, sizeof(ok), NULL), EXIT_OK);
}

static void test_x87_pointers(void)
{
	uint64_t env = DATA + 0x100, fx = DATA + 0x200;

	/* AMD: FOP and FDP follow every instruction */
	vendor(CPU_VENDOR_AMD, false, false, true, false);
	x87_run(false);
	CHECK_EQ(get16(env + 18), 0x504); /* FOP: DD /0, ModRM 04 */
	CHECK_EQ(get64(env + 20) & 0xffffffff, DATA);
	CHECK_EQ(get16(env + 16), HX_SEL_CODE64);
	CHECK_EQ(get16(fx + 6), 0x504); /* XSaveErPtr: FXSAVE stores them */
	CHECK_EQ(get64(fx + 16) & 0xffffffff, DATA);
	/* AMD without XSaveErPtr: FXSAVE stores no pointers without FSW.ES */
	vendor(CPU_VENDOR_AMD, false, false, false, false);
	x87_run(false);
	CHECK_EQ(get16(env + 18), 0x504);
	CHECK_EQ(get16(fx + 6), 0);
	CHECK_EQ(get64(fx + 8), 0);
	CHECK_EQ(get64(fx + 16), 0);
	/* Intel: FOP only for unmasked exceptions; FDP too with EBX[6] */
	vendor(CPU_VENDOR_INTEL, false, false, false, false);
	x87_run(false);
	CHECK_EQ(get16(env + 18), 0);
	CHECK_EQ(get64(env + 20) & 0xffffffff, DATA);
	CHECK_EQ(get16(env + 12), (CODE + 2) & 0xffff); /* FIP always */
	CHECK_EQ(get16(env + 16), HX_SEL_CODE64);
	vendor(CPU_VENDOR_INTEL, true, true, false, false);
	x87_run(false);
	CHECK_EQ(get16(env + 18), 0);
	CHECK_EQ(get64(env + 20) & 0xffffffff, 0);
	CHECK_EQ(get16(env + 12), (CODE + 2) & 0xffff);
	CHECK_EQ(get16(env + 16), 0); /* EBX[13]: FCS saved as 0 */
	CHECK_EQ(get16(fx + 12), 0);
	/* an unmasked exception (1.0 / 0.0 with ZM clear) updates FOP and FDP */
	x87_run(true);
	CHECK(get16(env + 4) & 0x80);	  /* FSW.ES */
	CHECK_EQ(get16(env + 18), 0x434); /* FOP: DC /6, ModRM 34 */
	CHECK_EQ(get64(env + 20) & 0xffffffff, DATA + 8);
	CHECK_EQ(get16(env + 24), 0); /* FDS saved as 0 */
	CHECK_EQ(get16(fx + 6), 0x434);
}

int main(void)
{
	h = hx_create(64ull << 20);
	test_rep_a32_zero_count();
	test_branch_o16();
	test_sysenter_long_mode();
	test_sysenter_msrs();
	test_syscall_compat();
	test_sysret_noncanonical();
	test_sysret_ss_dpl();
	test_null_selector_base();
	test_arpl_nonwritable();
	test_x87_pointers();
	hx_destroy(h);
	return unit_done("test_vendor");
}
