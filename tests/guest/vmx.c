/* SPDX-License-Identifier: MIT */
/*
 * VMX as an L1 hypervisor sees it (Intel SDM vol. 3C, chapters 23-31):
 * with nested=1 (softkvm run with SOFTKVM_NESTED=1) the capability MSRs,
 * IA32_FEATURE_CONTROL, CR4.VMXE, VMXON/VMXOFF and their faults, VMCS
 * pointer instructions, VMREAD/VMWRITE with every VMfail case; with
 * nested=0 (the default) that VMX is not there: CPUID.1:ECX.VMX = 0,
 * CR4.VMXE and the VMX MSRs #GP, VMXON #UD. softkvm only: QEMU TCG has no
 * VMX.
 */
#include "libtest.h"

#define X86_CR0_NE   (1ul << 5)
#define X86_CR4_VMXE (1ul << 13)

#define MSR_FEATURE_CONTROL 0x3a
#define MSR_VMX_BASIC	    0x480
#define MSR_VMX_PINBASED    0x481
#define MSR_VMX_PROCBASED   0x482
#define MSR_VMX_EXIT	    0x483
#define MSR_VMX_ENTRY	    0x484
#define MSR_VMX_MISC	    0x485
#define MSR_VMX_CR0_FIXED0  0x486
#define MSR_VMX_CR0_FIXED1  0x487
#define MSR_VMX_CR4_FIXED0  0x488
#define MSR_VMX_CR4_FIXED1  0x489
#define MSR_VMX_VMCS_ENUM   0x48a
#define MSR_VMX_PROCBASED2  0x48b
#define MSR_VMX_TRUE_PIN    0x48d
#define MSR_VMX_TRUE_PROC   0x48e
#define MSR_VMX_TRUE_EXIT   0x48f
#define MSR_VMX_TRUE_ENTRY  0x490

/* VMCS field encodings (SDM appendix B) */
#define F_GUEST_ES_SELECTOR 0x0800
#define F_IO_BITMAP_A	    0x2000
#define F_IO_BITMAP_A_HIGH  0x2001
#define F_VM_INSN_ERROR	    0x4400
#define F_EXIT_REASON	    0x4402
#define F_GUEST_ES_AR	    0x4814
#define F_GUEST_RIP	    0x681e

static u8 vmxon_region[4096] aligned(4096);
static u8 vmcs1[4096] aligned(4096);
static u8 vmcs2[4096] aligned(4096);
static u32 revision;

/* ---- instruction wrappers: RFLAGS after the instruction ---- */

#define FLAGS_CF_ZF (X86_EFLAGS_CF | X86_EFLAGS_ZF)

static ulong vmxon(u64 pa)
{
	ulong f;
	asm volatile("vmxon %1; pushfq; popq %0" : "=r"(f) : "m"(pa) : "cc", "memory");
	return f & X86_EFLAGS_ARITH;
}
static ulong vmxoff(void)
{
	ulong f;
	asm volatile("vmxoff; pushfq; popq %0" : "=r"(f) : : "cc", "memory");
	return f & X86_EFLAGS_ARITH;
}
static ulong vmclear(u64 pa)
{
	ulong f;
	asm volatile("vmclear %1; pushfq; popq %0" : "=r"(f) : "m"(pa) : "cc", "memory");
	return f & X86_EFLAGS_ARITH;
}
static ulong vmptrld(u64 pa)
{
	ulong f;
	asm volatile("vmptrld %1; pushfq; popq %0" : "=r"(f) : "m"(pa) : "cc", "memory");
	return f & X86_EFLAGS_ARITH;
}
static u64 vmptrst(void)
{
	u64 pa = 0x1234;
	asm volatile("vmptrst %0" : "=m"(pa) : : "cc", "memory");
	return pa;
}
static ulong vmread(u64 field, u64 *val)
{
	ulong f;
	u64 v = 0xdeadbeef;
	asm volatile("vmread %2, %1; pushfq; popq %0"
		     : "=r"(f), "+r"(v)
		     : "r"(field)
		     : "cc", "memory");
	*val = v;
	return f & X86_EFLAGS_ARITH;
}
static ulong vmwrite(u64 field, u64 val)
{
	ulong f;
	asm volatile("vmwrite %2, %1; pushfq; popq %0"
		     : "=r"(f)
		     : "r"(field), "r"(val)
		     : "cc", "memory");
	return f & X86_EFLAGS_ARITH;
}
static u64 vmread1(u64 field)
{
	u64 v;
	vmread(field, &v);
	return v;
}

/* an instruction that may fault: the vector (-1 if none) */
static int try_rdmsr(u32 idx, u64 *v)
{
	u32 lo = 0, hi = 0;
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "rdmsr\n1:" : "+a"(lo), "+d"(hi) : "c"(idx) : FIXUP_CLOBBERS);
	*v = (u64)hi << 32 | lo;
	return ex_vector();
}
static int try_wrmsr(u32 idx, u64 v)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "wrmsr\n1:"
		     :
		     : "c"(idx), "a"((u32)v), "d"((u32)(v >> 32))
		     : FIXUP_CLOBBERS);
	return ex_vector();
}
static int try_write_cr4(ulong v)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "mov %0, %%cr4\n1:" : : "r"(v) : FIXUP_CLOBBERS);
	return ex_vector();
}
static int try_write_cr0(ulong v)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "mov %0, %%cr0\n1:" : : "r"(v) : FIXUP_CLOBBERS);
	return ex_vector();
}
static int try_vmxon(u64 pa)
{
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "vmxon %0\n1:" : : "m"(pa) : FIXUP_CLOBBERS, "cc");
	return ex_vector();
}
static int try_vmread(u64 field)
{
	u64 v = 0;
	ex_reset();
	asm volatile(ASM_FIXUP("1f") "vmread %1, %0\n1:"
		     : "+r"(v)
		     : "r"(field)
		     : FIXUP_CLOBBERS, "cc");
	return ex_vector();
}

static void check_fail_valid(const char *what, ulong f, u32 err)
{
	u64 e = vmread1(F_VM_INSN_ERROR);
	if (f != X86_EFLAGS_ZF || e != err)
		info("%s: flags %#lx error %lu", what, f, (ulong)e);
	reportf(f == X86_EFLAGS_ZF && e == err, "%s: VMfailValid(%u)", what, err);
}

/* ---- nested=0: no VMX ---- */

static void test_no_vmx(void)
{
	u32 r[4];
	u64 v;
	cpuid2(1, 0, r);
	report("nested off: CPUID.1:ECX.VMX = 0", !(r[2] & (1u << 5)));
	report("nested off: MOV to CR4 with VMXE -> #GP",
	       try_write_cr4(read_cr4() | X86_CR4_VMXE) == GP_VECTOR);
	report("nested off: RDMSR IA32_VMX_BASIC -> #GP",
	       try_rdmsr(MSR_VMX_BASIC, &v) == GP_VECTOR);
	report("nested off: VMXON -> #UD", try_vmxon((ulong)vmxon_region) == UD_VECTOR);
	report("nested off: VMREAD -> #UD", try_vmread(F_GUEST_RIP) == UD_VECTOR);
}

/* ---- step 1: capabilities ---- */

static bool ctl_ok(u64 msr, u32 must1)
{
	u32 lo = (u32)msr, hi = (u32)(msr >> 32);
	return (lo & must1) == must1 && (hi & lo) == lo;
}

static void test_caps(void)
{
	u32 r[4];
	u64 basic, v;
	cpuid2(1, 0, r);
	report("CPUID.1:ECX.VMX = 1", r[2] & (1u << 5));
	report("RDMSR IA32_VMX_BASIC", try_rdmsr(MSR_VMX_BASIC, &basic) < 0);
	revision = (u32)basic;
	report("VMX_BASIC: revision identifier, bit 31 clear", revision && !(revision >> 31));
	report("VMX_BASIC: region size 4096 (bits 44:32)", ((basic >> 32) & 0x1fff) == 4096);
	report("VMX_BASIC: write-back memory type, TRUE_* controls",
	       ((basic >> 50) & 15) == 6 && (basic >> 55 & 1) && !(basic >> 48 & 1));
	report("PINBASED_CTLS: default1 bits 1, 2, 4", ctl_ok(rdmsr(MSR_VMX_PINBASED), 0x16));
	report("PROCBASED_CTLS: default1 bits", ctl_ok(rdmsr(MSR_VMX_PROCBASED), 0x0401e172));
	report("TRUE_PROCBASED_CTLS: CR3-load/store exiting may be 0",
	       ctl_ok(rdmsr(MSR_VMX_TRUE_PROC), 0x04006172) &&
		   !((u32)rdmsr(MSR_VMX_TRUE_PROC) & (3u << 15)));
	report("PROCBASED_CTLS: HLT, I/O, MSR bitmaps and secondary controls allowed",
	       (rdmsr(MSR_VMX_PROCBASED) >> 32 & 0x92000080u) == 0x92000080u);
	report("EXIT_CTLS: default1 bits", ctl_ok(rdmsr(MSR_VMX_EXIT), 0x36dff));
	report("TRUE_EXIT_CTLS: save debug controls may be 0",
	       ctl_ok(rdmsr(MSR_VMX_TRUE_EXIT), 0x36dfb) && !((u32)rdmsr(MSR_VMX_TRUE_EXIT) & 4));
	report("EXIT_CTLS: host address-space size, acknowledge interrupt allowed",
	       (rdmsr(MSR_VMX_EXIT) >> 32 & 0x8200) == 0x8200);
	report("ENTRY_CTLS: default1 bits, IA-32e mode guest allowed",
	       ctl_ok(rdmsr(MSR_VMX_ENTRY), 0x11ff) && (rdmsr(MSR_VMX_ENTRY) >> 32 & 0x200));
	report("TRUE_ENTRY_CTLS: load debug controls may be 0",
	       ctl_ok(rdmsr(MSR_VMX_TRUE_ENTRY), 0x11fb) && !((u32)rdmsr(MSR_VMX_TRUE_ENTRY) & 4));
	report("TRUE_PINBASED_CTLS", ctl_ok(rdmsr(MSR_VMX_TRUE_PIN), 0x16));
	report("PROCBASED_CTLS2 readable", try_rdmsr(MSR_VMX_PROCBASED2, &v) < 0);
	/* seed 004: HLT activity state always reported */
	report("VMX_MISC: activity state HLT (bit 6)", rdmsr(MSR_VMX_MISC) & (1u << 6));
	report("VMX_MISC: VMWRITE to read-only fields not offered (bit 29 = 0)",
	       !(rdmsr(MSR_VMX_MISC) & (1u << 29)));
	report("CR0_FIXED0 = PE | NE | PG", rdmsr(MSR_VMX_CR0_FIXED0) == 0x80000021);
	report("CR0_FIXED1 allows everything", (u32)rdmsr(MSR_VMX_CR0_FIXED1) == 0xffffffffu);
	report("CR4_FIXED0 = VMXE", rdmsr(MSR_VMX_CR4_FIXED0) == X86_CR4_VMXE);
	report("CR4_FIXED1 has VMXE and PAE",
	       (rdmsr(MSR_VMX_CR4_FIXED1) & (X86_CR4_VMXE | X86_CR4_PAE)) ==
		   (X86_CR4_VMXE | X86_CR4_PAE));
	v = rdmsr(MSR_VMX_VMCS_ENUM);
	report("VMCS_ENUM: highest index in bits 9:1", v && !(v & ~0x3feull));
	report("WRMSR IA32_VMX_BASIC -> #GP (read-only)",
	       try_wrmsr(MSR_VMX_BASIC, basic) == GP_VECTOR);
	report("IA32_FEATURE_CONTROL reads 0 after reset",
	       try_rdmsr(MSR_FEATURE_CONTROL, &v) < 0 && v == 0);
	report("IA32_FEATURE_CONTROL: reserved bit -> #GP",
	       try_wrmsr(MSR_FEATURE_CONTROL, 1ull << 3) == GP_VECTOR);
}

/* ---- step 2: VMXON, VMCS instructions ---- */

static void test_vmxon(void)
{
	u64 pa = (ulong)vmxon_region;
	ulong cr4 = read_cr4(), cr0 = read_cr0();

	*(u32 *)vmxon_region = revision;
	report("VMXON with CR4.VMXE = 0 -> #UD", try_vmxon(pa) == UD_VECTOR);
	report("MOV to CR4 sets VMXE", try_write_cr4(cr4 | X86_CR4_VMXE) < 0);
	report("VMXON with IA32_FEATURE_CONTROL unlocked -> #GP(0)",
	       try_vmxon(pa) == GP_VECTOR && ex_last.error_code == 0);
	report("IA32_FEATURE_CONTROL = lock | VMX outside SMX",
	       try_wrmsr(MSR_FEATURE_CONTROL, 5) < 0 && rdmsr(MSR_FEATURE_CONTROL) == 5);
	report("IA32_FEATURE_CONTROL locked: WRMSR -> #GP",
	       try_wrmsr(MSR_FEATURE_CONTROL, 5) == GP_VECTOR);
	report("VMREAD outside VMX operation -> #UD", try_vmread(F_GUEST_RIP) == UD_VECTOR);
	report("VMXON with CR0.NE = 0 -> #GP",
	       try_write_cr0(cr0 & ~X86_CR0_NE) < 0 && try_vmxon(pa) == GP_VECTOR);
	/* the boot code leaves CR0.NE clear; VMX operation needs it */
	cr0 |= X86_CR0_NE;
	write_cr0(cr0);
	*(u32 *)vmxon_region = revision ^ 1;
	report("VMXON with a bad revision identifier: VMfailInvalid", vmxon(pa) == X86_EFLAGS_CF);
	*(u32 *)vmxon_region = revision | 0x80000000u;
	report("VMXON with revision bit 31 set: VMfailInvalid", vmxon(pa) == X86_EFLAGS_CF);
	*(u32 *)vmxon_region = revision;
	report("VMXON with an unaligned pointer: VMfailInvalid", vmxon(pa + 8) == X86_EFLAGS_CF);
	report("VMXON beyond MAXPHYADDR: VMfailInvalid", vmxon(pa | 1ull << 52) == X86_EFLAGS_CF);
	report("VMXON: VMsucceed", vmxon(pa) == 0);
	report("VMXON in VMX root operation, no current VMCS: VMfailInvalid",
	       vmxon(pa) == X86_EFLAGS_CF);
	report("in VMX operation: clearing CR4.VMXE -> #GP", try_write_cr4(cr4) == GP_VECTOR);
	report("in VMX operation: clearing CR0.NE -> #GP",
	       try_write_cr0(cr0 & ~X86_CR0_NE) == GP_VECTOR);
	report("VMPTRST with no current VMCS stores all ones", vmptrst() == ~0ull);
	u64 v;
	report("VMREAD with no current VMCS: VMfailInvalid",
	       vmread(F_GUEST_RIP, &v) == X86_EFLAGS_CF);
	report("VMWRITE with no current VMCS: VMfailInvalid",
	       vmwrite(F_GUEST_RIP, 1) == X86_EFLAGS_CF);
}

static u64 user_field;
static int user_vec;
static void user_vmread(void)
{
	user_vec = try_vmread(user_field);
}

static void test_vmcs(void)
{
	u64 pa1 = (ulong)vmcs1, pa2 = (ulong)vmcs2, pon = (ulong)vmxon_region, v;

	report("VMCLEAR of the VMXON region, no current VMCS: VMfailInvalid",
	       vmclear(pon) == X86_EFLAGS_CF);
	report("VMPTRLD with a bad revision, no current VMCS: VMfailInvalid",
	       vmptrld(pa1) == X86_EFLAGS_CF);
	*(u32 *)vmcs1 = revision;
	*(u32 *)vmcs2 = revision ^ 0x10;
	report("VMCLEAR: VMsucceed", vmclear(pa1) == 0);
	report("VMPTRLD: VMsucceed", vmptrld(pa1) == 0);
	report("VMPTRST stores the current-VMCS pointer", vmptrst() == pa1);

	report("VMWRITE/VMREAD natural-width field (GUEST_RIP)",
	       vmwrite(F_GUEST_RIP, 0x123456789abcull) == 0 && vmread(F_GUEST_RIP, &v) == 0 &&
		   v == 0x123456789abcull);
	report("VMWRITE of a 16-bit field keeps 16 bits",
	       vmwrite(F_GUEST_ES_SELECTOR, 0x12345) == 0 &&
		   vmread1(F_GUEST_ES_SELECTOR) == 0x2345);
	report("64-bit field: the high access reads bits 63:32",
	       vmwrite(F_IO_BITMAP_A, 0x1122334455667788ull) == 0 &&
		   vmread1(F_IO_BITMAP_A_HIGH) == 0x11223344);
	report("64-bit field: the high access writes bits 63:32 only",
	       vmwrite(F_IO_BITMAP_A_HIGH, 0xaabbccdd) == 0 &&
		   vmread1(F_IO_BITMAP_A) == 0xaabbccdd55667788ull);
	report("access-rights field: reserved bits dropped",
	       vmwrite(F_GUEST_ES_AR, 0xffffffff) == 0 && vmread1(F_GUEST_ES_AR) == 0x1f0ff);
	u64 m = 0;
	asm volatile("vmread %1, %0" : "=m"(m) : "r"((u64)F_GUEST_RIP) : "cc");
	report("VMREAD to memory", m == 0x123456789abcull);
	m = 0x4242;
	asm volatile("vmwrite %0, %1" : : "m"(m), "r"((u64)F_GUEST_RIP) : "cc");
	report("VMWRITE from memory", vmread1(F_GUEST_RIP) == 0x4242);

	check_fail_valid("VMWRITE to a read-only field (exit reason)", vmwrite(F_EXIT_REASON, 1),
			 13);
	check_fail_valid("VMREAD of an unsupported field", vmread(0x6c80, &v), 12);
	check_fail_valid("VMREAD with encoding bits 63:32 set",
			 vmread(F_GUEST_RIP | 1ull << 32, &v), 12);
	check_fail_valid("VMREAD high access of a natural-width field", vmread(F_GUEST_RIP | 1, &v),
			 12);
	check_fail_valid("VMWRITE of an unsupported field", vmwrite(0x6c80, 0), 12);
	check_fail_valid("VMPTRLD of a VMCS with a bad revision", vmptrld(pa2), 11);
	check_fail_valid("VMPTRLD of the VMXON pointer", vmptrld(pon), 10);
	check_fail_valid("VMPTRLD of an unaligned address", vmptrld(pa2 + 0x10), 9);
	check_fail_valid("VMCLEAR of the VMXON pointer", vmclear(pon), 3);
	check_fail_valid("VMCLEAR of an unaligned address", vmclear(pa2 + 0x10), 2);
	check_fail_valid("VMXON in VMX root operation", vmxon(pon), 15);
	report("a failed VMPTRLD keeps the current VMCS", vmptrst() == pa1);

	user_field = F_GUEST_RIP;
	paging_allow_user();
	run_user(user_vmread);
	report("VMREAD at CPL 3 -> #GP", user_vec == GP_VECTOR);

	/* VMCLEAR of the current VMCS: written back, no current VMCS */
	report("VMCLEAR of the current VMCS", vmclear(pa1) == 0 && vmptrst() == ~0ull);
	report("after VMCLEAR: VMREAD is VMfailInvalid", vmread(F_GUEST_RIP, &v) == X86_EFLAGS_CF);
	*(u32 *)vmcs2 = revision;
	report("VMPTRLD of a second VMCS", vmclear(pa2) == 0 && vmptrld(pa2) == 0);
	report("the second VMCS has its own fields",
	       vmwrite(F_GUEST_RIP, 0x2222) == 0 && vmread1(F_GUEST_RIP) == 0x2222);
	report("back to the first VMCS: its fields were kept",
	       vmptrld(pa1) == 0 && vmread1(F_GUEST_RIP) == 0x4242);
	report("VMPTRLD of the other VMCS again: its fields too",
	       vmptrld(pa2) == 0 && vmread1(F_GUEST_RIP) == 0x2222);
}

static void test_vmxoff(void)
{
	ulong cr4 = read_cr4();
	report("VMXOFF: VMsucceed", vmxoff() == 0);
	report("after VMXOFF: VMREAD -> #UD", try_vmread(F_GUEST_RIP) == UD_VECTOR);
	report("after VMXOFF: CR4.VMXE can be cleared", try_write_cr4(cr4 & ~X86_CR4_VMXE) < 0);
	write_cr4(cr4);
	report("VMXON again", vmxon((ulong)vmxon_region) == 0 && vmptrst() == ~0ull);
	report("VMXOFF again", vmxoff() == 0);
}

int main(void)
{
	if (!cmdline_ulong("nested", 0)) {
		test_no_vmx();
		report_summary();
	}
	test_caps();
	test_vmxon();
	test_vmcs();
	test_vmxoff();
	report_summary();
}
