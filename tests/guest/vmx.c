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
#include "apic.h"
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

/* ---- step 3: VM entry, L2, VM exits ---- */

/* more field encodings */
#define F_HOST_ES_SEL	   0x0c00
#define F_HOST_CS_SEL	   0x0c02
#define F_HOST_SS_SEL	   0x0c04
#define F_HOST_DS_SEL	   0x0c06
#define F_HOST_FS_SEL	   0x0c08
#define F_HOST_GS_SEL	   0x0c0a
#define F_HOST_TR_SEL	   0x0c0c
#define F_IO_BITMAP_B	   0x2002
#define F_MSR_BITMAP	   0x2004
#define F_LINK_PTR	   0x2800
#define F_GUEST_EFER	   0x2806
#define F_HOST_EFER	   0x2c02
#define F_PIN		   0x4000
#define F_PROC		   0x4002
#define F_EXC_BITMAP	   0x4004
#define F_EXIT_CTLS	   0x400c
#define F_ENTRY_CTLS	   0x4012
#define F_ENTRY_INTR_INFO  0x4016
#define F_ENTRY_ERRCODE	   0x4018
#define F_ENTRY_INSN_LEN   0x401a
#define F_EXIT_INTR_INFO   0x4404
#define F_EXIT_INTR_ERR	   0x4406
#define F_EXIT_INSN_LEN	   0x440c
#define F_EXIT_INSN_INFO   0x440e
#define F_GUEST_LIMIT(s)   (0x4800 + 2 * (s))
#define F_GUEST_AR(s)	   (0x4814 + 2 * (s))
#define F_GUEST_SEL(s)	   (0x0800 + 2 * (s))
#define F_GUEST_BASE(s)	   (0x6806 + 2 * (s))
#define F_GUEST_GDTR_LIMIT 0x4810
#define F_GUEST_IDTR_LIMIT 0x4812
#define F_GUEST_INTR	   0x4824
#define F_GUEST_ACTIVITY   0x4826
#define F_TIMER		   0x482e
#define F_CR0_MASK	   0x6000
#define F_CR0_SHADOW	   0x6004
#define F_QUAL		   0x6400
#define F_GUEST_CR0	   0x6800
#define F_GUEST_CR3	   0x6802
#define F_GUEST_CR4	   0x6804
#define F_GUEST_GDTR_BASE  0x6816
#define F_GUEST_IDTR_BASE  0x6818
#define F_GUEST_DR7	   0x681a
#define F_GUEST_RSP	   0x681c
#define F_GUEST_RFLAGS	   0x6820
#define F_HOST_CR0	   0x6c00
#define F_HOST_CR3	   0x6c02
#define F_HOST_CR4	   0x6c04
#define F_HOST_FS_BASE	   0x6c06
#define F_HOST_GS_BASE	   0x6c08
#define F_HOST_TR_BASE	   0x6c0a
#define F_HOST_GDTR_BASE   0x6c0c
#define F_HOST_IDTR_BASE   0x6c0e
#define F_HOST_RIP	   0x6c16

/* segments in VMCS order */
enum { S_ES, S_CS, S_SS, S_DS, S_FS, S_GS, S_LDTR, S_TR };

static u8 vmcs3[4096] aligned(4096);
static u8 io_a[4096] aligned(4096), io_b[4096] aligned(4096), msr_bm[4096] aligned(4096);
static u8 l2_stack[4096] aligned(16);

/*
 * vmx_enter(launch): VMLAUNCH (1) or VMRESUME (0) with HOST_RSP = the
 * frame of the callee-saved registers; returns 0 after a VM exit (HOST_RIP
 * = vmx_exit_stub pops the frame), or RFLAGS | 1 << 63 if the instruction
 * failed.
 */
u64 vmx_enter(u64 launch);
void vmx_exit_stub(void);
asm(".text\n"
    ".globl vmx_enter\n"
    "vmx_enter:\n\t"
    "push %rbp\n\tpush %rbx\n\tpush %r12\n\tpush %r13\n\tpush %r14\n\tpush %r15\n\t"
    "mov $0x6c14, %eax\n\t" /* HOST_RSP */
    "vmwrite %rsp, %rax\n\t"
    "test %rdi, %rdi\n\t"
    "jz 1f\n\t"
    "vmlaunch\n\t"
    "jmp 2f\n"
    "1: vmresume\n"
    "2: pushfq\n\tpop %rax\n\tbts $63, %rax\n\t"
    "pop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %rbx\n\tpop %rbp\n\tret\n"
    ".globl vmx_exit_stub\n"
    "vmx_exit_stub:\n\t"
    "xor %eax, %eax\n\t"
    "pop %r15\n\tpop %r14\n\tpop %r13\n\tpop %r12\n\tpop %rbx\n\tpop %rbp\n\tret\n");

/* the L2 program: each step is an instruction L1 checks the exit of */
volatile u64 l2_msr_value, l2_marker;
void l2_main(void);
void l2_after_ud(void);
void l2_spin(void);
void l2_int3(void);
void l2_outs(void);
void l2_vmread(void);
void l2_cr(void);
asm(".text\n"
    ".globl l2_main\n"
    "l2_main:\n\t"
    "mov $0x12, %eax\n\tcpuid\n\t"	    /* exit 10 */
    "hlt\n\t"				    /* exit 12 */
    "mov $0xab, %al\n\toutb %al, $0x80\n\t" /* exit 30: imm port 0x80 in bitmap A */
    "mov $0x9234, %dx\n\tinw %dx, %ax\n\t"  /* exit 30: DX port 0x9234 in bitmap B */
    "mov $0x3ff, %dx\n\toutb %al, %dx\n\t"  /* no exit: not in the bitmap */
    "vmcall\n\t"			    /* exit 18 */
    "mov $0x10, %ecx\n\trdmsr\n\t"	    /* exit 31: TSC read intercepted */
    "mov $0x1b, %ecx\n\trdmsr\n\t"	    /* APIC base: not intercepted */
    "mov %eax, l2_msr_value(%rip)\n\t"
    "wrmsr\n\t" /* exit 32: writes of 0x1b intercepted */
    "ud2\n"	/* exit 0: #UD in the exception bitmap */
    "l2_after_ud:\n\t"
    "movq $1, l2_marker(%rip)\n\t"
    "vmcall\n\t"
    "jmp l2_after_ud\n"
    ".globl l2_int3\n"
    "l2_int3:\n\t"
    "int3\n\t"
    "vmcall\n\t"
    "jmp l2_int3\n"
    ".globl l2_outs\n"
    "l2_outs:\n\t"
    "mov $0x3ff, %dx\n\t"
    "lea l2_msr_value(%rip), %rsi\n\t"
    "mov $1, %ecx\n\t"
    "rep outsb\n\t" /* exit 30: unconditional I/O exiting, string, REP */
    "vmcall\n\t"
    "jmp l2_outs\n"
    ".globl l2_spin\n"
    "l2_spin:\n\t"
    "pause\n\tjmp l2_spin\n"
    ".globl l2_vmread\n"
    "l2_vmread:\n\t"
    "mov $0x681e, %rbx\n\tvmread %rbx, %rcx\n\t" /* exit 23 */
    "vmptrst 8(%rsp)\n\t"			 /* exit 22 */
    "jmp l2_vmread\n"
    ".globl l2_cr\n"
    "l2_cr:\n\t"
    "mov %cr3, %rsi\n\t" /* exit 28: CR3-store exiting */
    "mov %cr0, %rdx\n\t" /* no exit: TS from the read shadow */
    "mov %rdx, l2_marker(%rip)\n\t"
    "or $8, %rdx\n\tmov %rdx, %cr0\n\t" /* exit 28: TS is L1's, shadow 0 */
    "jmp l2_cr\n");

static u64 rdmsr_efer(void)
{
	return rdmsr(MSR_EFER);
}

static void vmcs_setup(void (*rip)(void), u32 pin, u32 proc)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) gdtr, idtr;
	asm volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(idtr));
	u16 tr;
	asm volatile("str %0" : "=r"(tr));

	u32 exit = (u32)rdmsr(MSR_VMX_EXIT) | (1u << 9);   /* host address-space size */
	u32 entry = (u32)rdmsr(MSR_VMX_ENTRY) | (1u << 9); /* IA-32e mode guest */
	vmwrite(F_PIN, pin | (u32)rdmsr(MSR_VMX_PINBASED));
	vmwrite(F_PROC, proc | (u32)rdmsr(MSR_VMX_PROCBASED));
	vmwrite(F_EXIT_CTLS, exit);
	vmwrite(F_ENTRY_CTLS, entry);
	vmwrite(F_EXC_BITMAP, 0);
	vmwrite(F_ENTRY_INTR_INFO, 0);
	vmwrite(F_LINK_PTR, ~0ull);
	vmwrite(F_IO_BITMAP_A, (ulong)io_a);
	vmwrite(F_IO_BITMAP_B, (ulong)io_b);
	vmwrite(F_MSR_BITMAP, (ulong)msr_bm);
	vmwrite(F_CR0_MASK, 0);
	vmwrite(F_CR0_SHADOW, 0);

	vmwrite(F_HOST_CR0, read_cr0());
	vmwrite(F_HOST_CR3, read_cr3());
	vmwrite(F_HOST_CR4, read_cr4());
	vmwrite(F_HOST_ES_SEL, KERNEL_DS);
	vmwrite(F_HOST_CS_SEL, KERNEL_CS);
	vmwrite(F_HOST_SS_SEL, KERNEL_DS);
	vmwrite(F_HOST_DS_SEL, KERNEL_DS);
	vmwrite(F_HOST_FS_SEL, 0);
	vmwrite(F_HOST_GS_SEL, 0);
	vmwrite(F_HOST_TR_SEL, tr);
	vmwrite(F_HOST_FS_BASE, 0);
	vmwrite(F_HOST_GS_BASE, 0);
	vmwrite(F_HOST_TR_BASE, (gdt[tr >> 3] >> 16 & 0xffffff) | (gdt[tr >> 3] >> 56) << 24 |
				    gdt[(tr >> 3) + 1] << 32);
	vmwrite(F_HOST_GDTR_BASE, gdtr.base);
	vmwrite(F_HOST_IDTR_BASE, idtr.base);
	vmwrite(F_HOST_RIP, (ulong)vmx_exit_stub);
	vmwrite(F_HOST_EFER, rdmsr_efer());

	vmwrite(F_GUEST_CR0, read_cr0());
	vmwrite(F_GUEST_CR3, read_cr3());
	vmwrite(F_GUEST_CR4, read_cr4());
	vmwrite(F_GUEST_DR7, 0x400);
	vmwrite(F_GUEST_EFER, rdmsr_efer());
	for (int s = S_ES; s <= S_GS; s++) {
		vmwrite(F_GUEST_SEL(s), s == S_CS ? KERNEL_CS : KERNEL_DS);
		vmwrite(F_GUEST_BASE(s), 0);
		vmwrite(F_GUEST_LIMIT(s), 0xffffffff);
		vmwrite(F_GUEST_AR(s), s == S_CS ? 0xa09b : 0xc093);
	}
	vmwrite(F_GUEST_SEL(S_LDTR), 0);
	vmwrite(F_GUEST_AR(S_LDTR), 0x10000);
	vmwrite(F_GUEST_SEL(S_TR), tr);
	vmwrite(F_GUEST_BASE(S_TR), vmread1(F_HOST_TR_BASE));
	vmwrite(F_GUEST_LIMIT(S_TR), 0x67);
	vmwrite(F_GUEST_AR(S_TR), 0x8b);
	vmwrite(F_GUEST_GDTR_BASE, gdtr.base);
	vmwrite(F_GUEST_GDTR_LIMIT, gdtr.limit);
	vmwrite(F_GUEST_IDTR_BASE, idtr.base);
	vmwrite(F_GUEST_IDTR_LIMIT, idtr.limit);
	vmwrite(F_GUEST_RIP, (ulong)rip);
	vmwrite(F_GUEST_RSP, (ulong)l2_stack + sizeof(l2_stack) - 64);
	vmwrite(F_GUEST_RFLAGS, 2);
	vmwrite(F_GUEST_INTR, 0);
	vmwrite(F_GUEST_ACTIVITY, 0);
}

static u32 exit_reason(void)
{
	return (u32)vmread1(F_EXIT_REASON);
}

/* resume L2 after the instruction that exited */
static u64 skip_and_resume(void)
{
	vmwrite(F_GUEST_RIP, vmread1(F_GUEST_RIP) + vmread1(F_EXIT_INSN_LEN));
	return vmx_enter(0);
}

static void check_exit(const char *what, u64 r, u32 reason, u64 qual)
{
	u32 got = exit_reason();
	u64 q = vmread1(F_QUAL);
	if (r || got != reason || q != qual)
		info("%s: enter %#lx reason %u qual %#lx", what, (ulong)r, got, (ulong)q);
	reportf(!r && got == reason && q == qual, "%s: exit reason %u, qualification %#lx", what,
		reason, (ulong)qual);
}

#define PROC_HLT	(1u << 7)
#define PROC_INTR_WIN	(1u << 2)
#define PROC_CR3_STORE	(1u << 16)
#define PROC_IO_BITMAPS (1u << 25)
#define PROC_MSR_BITMAP (1u << 28)
#define PIN_EXT_INTR	(1u << 0)
#define PIN_TIMER	(1u << 6)
#define EXIT_ACK_INTR	(1u << 15)

static void test_entry_checks(void)
{
	u64 r;
	*(u32 *)vmcs3 = revision;
	vmclear((ulong)vmcs3);
	vmptrld((ulong)vmcs3);
	vmcs_setup(l2_main, 0, 0);
	r = vmx_enter(0);
	report("VMRESUME of a clear VMCS: VMfailValid(5)",
	       (r & FLAGS_CF_ZF) == X86_EFLAGS_ZF && vmread1(F_VM_INSN_ERROR) == 5);
	vmwrite(F_PIN, 0);
	r = vmx_enter(1);
	report("VMLAUNCH with a default1 pin-based control clear: VMfailValid(7)",
	       (r & FLAGS_CF_ZF) == X86_EFLAGS_ZF && vmread1(F_VM_INSN_ERROR) == 7);
	vmwrite(F_PIN, (u32)rdmsr(MSR_VMX_PINBASED));
	vmwrite(F_HOST_CS_SEL, 0);
	r = vmx_enter(1);
	report("VMLAUNCH with HOST_CS_SELECTOR = 0: VMfailValid(8)",
	       (r & FLAGS_CF_ZF) == X86_EFLAGS_ZF && vmread1(F_VM_INSN_ERROR) == 8);
	vmwrite(F_HOST_CS_SEL, KERNEL_CS);
	vmwrite(F_GUEST_RFLAGS, 0); /* bit 1 must be 1 */
	r = vmx_enter(1);
	report("VMLAUNCH with guest RFLAGS bit 1 clear: VM-entry failure, reason 33 | 1 << 31",
	       r == 0 && exit_reason() == (33u | 1u << 31) && vmread1(F_QUAL) == 0);
	vmwrite(F_GUEST_RFLAGS, 2);
	vmwrite(F_LINK_PTR, 0x1000 | 1);
	r = vmx_enter(1);
	report("VMLAUNCH with a bad VMCS link pointer: reason 33 | 1 << 31, qualification 4",
	       r == 0 && exit_reason() == (33u | 1u << 31) && vmread1(F_QUAL) == 4);
	vmwrite(F_LINK_PTR, ~0ull);
	vmwrite(F_GUEST_AR(S_CS), 0xa093); /* a data segment in CS */
	r = vmx_enter(1);
	report("VMLAUNCH with a data segment in guest CS: reason 33 | 1 << 31",
	       r == 0 && exit_reason() == (33u | 1u << 31));
	report("after a VM-entry failure L1 runs on (host state loaded)",
	       read_cr4() & X86_CR4_VMXE);
	vmwrite(F_GUEST_AR(S_CS), 0xa099); /* execute-only code: valid in CS */
	r = vmx_enter(1);
	check_exit("an execute-only code segment in guest CS enters (CPUID exit)", r, 10, 0);
}

static void test_l2_exits(void)
{
	u64 r;
	memset(io_a, 0, 4096);
	memset(io_b, 0, 4096);
	memset(msr_bm, 0, 4096);
	io_a[0x80 / 8] |= 1 << (0x80 % 8);
	io_b[(0x9234 - 0x8000) / 8] |= 1 << (0x9234 % 8);
	msr_bm[0x10 / 8] |= 1 << (0x10 % 8);	    /* RDMSR 0x10 */
	msr_bm[2048 + 0x1b / 8] |= 1 << (0x1b % 8); /* WRMSR 0x1b */
	*(u32 *)vmcs3 = revision;
	vmclear((ulong)vmcs3);
	vmptrld((ulong)vmcs3);
	vmcs_setup(l2_main, 0, PROC_HLT | PROC_IO_BITMAPS | PROC_MSR_BITMAP);
	vmwrite(F_EXC_BITMAP, 1u << UD_VECTOR);
	l2_marker = 0;
	r = vmx_enter(1);
	check_exit("L2 CPUID", r, 10, 0);
	report("CPUID exit: instruction length 2", vmread1(F_EXIT_INSN_LEN) == 2);
	r = vmx_enter(1);
	report("VMLAUNCH of a launched VMCS: VMfailValid(4)",
	       (r & FLAGS_CF_ZF) == X86_EFLAGS_ZF && vmread1(F_VM_INSN_ERROR) == 4);
	r = skip_and_resume();
	check_exit("L2 HLT with HLT exiting", r, 12, 0);
	r = skip_and_resume();
	check_exit("L2 OUT imm8 to port 0x80 (I/O bitmap A)", r, 30, 0x80ull << 16 | 1 << 6);
	r = skip_and_resume();
	check_exit("L2 IN word from DX = 0x9234 (I/O bitmap B)", r, 30,
		   0x9234ull << 16 | 1 << 3 | 1);
	r = skip_and_resume();
	check_exit("L2 OUT to a port outside the bitmaps does not exit; VMCALL", r, 18, 0);
	r = skip_and_resume();
	check_exit("L2 RDMSR 0x10 (MSR bitmap read low)", r, 31, 0);
	r = skip_and_resume();
	check_exit("L2 RDMSR 0x1b not intercepted; WRMSR 0x1b (write bitmap)", r, 32, 0);
	report("L2 read the APIC base MSR itself", (l2_msr_value & 0xfffff000u) == 0xfee00000u);
	r = skip_and_resume();
	check_exit("L2 #UD in the exception bitmap", r, 0, 0);
	report("#UD exit: interruption information vector 6, hardware exception, valid",
	       vmread1(F_EXIT_INTR_INFO) == (6u | 3u << 8 | 1u << 31));
	/* inject the #UD back into L2: it goes through L2's IDT (the library's
	 * handler, which resumes at ex_fixup) */
	ex_reset();
	ex_fixup = (ulong)l2_after_ud;
	vmwrite(F_EXC_BITMAP, 0);
	vmwrite(F_ENTRY_INTR_INFO, 6u | 3u << 8 | 1u << 31);
	r = vmx_enter(0);
	check_exit("injected #UD delivered in L2, then VMCALL", r, 18, 0);
	report("the injected #UD ran L2's handler", ex_last.vector == UD_VECTOR && l2_marker == 1);
	report("the injection field's valid bit is cleared after the entry",
	       !(vmread1(F_ENTRY_INTR_INFO) >> 31));
	ex_reset();

	/* INT3 is a software exception: the exception bitmap applies, with
	 * the instruction length */
	vmwrite(F_GUEST_RIP, (ulong)l2_int3);
	vmwrite(F_EXC_BITMAP, 1u << BP_VECTOR);
	r = vmx_enter(0);
	check_exit("L2 INT3 in the exception bitmap", r, 0, 0);
	report("INT3 exit: vector 3, software exception, valid; length 1, RIP at the INT3",
	       vmread1(F_EXIT_INTR_INFO) == (3u | 6u << 8 | 1u << 31) &&
		   vmread1(F_EXIT_INSN_LEN) == 1 && vmread1(F_GUEST_RIP) == (ulong)l2_int3);
}

static void test_l2_io_nmi(void)
{
	u64 r;
	vmclear((ulong)vmcs3);
	vmptrld((ulong)vmcs3);
	vmcs_setup(l2_outs, 0, 1u << 24 /* unconditional I/O exiting */);
	r = vmx_enter(1);
	check_exit("REP OUTSB with unconditional I/O exiting", r, 30,
		   0x3ffull << 16 | 1 << 5 | 1 << 4);
	/* 64-bit address size, DS */
	report("OUTS exit: instruction information (address size, segment)",
	       vmread1(F_EXIT_INSN_INFO) == (2u << 7 | 3u << 15));
	report("OUTS exit: guest-linear address of the source",
	       vmread1(0x640a) == (ulong)&l2_msr_value);

	/* NMI window: virtual NMIs, no blocking by NMI -> exits at once */
	vmclear((ulong)vmcs3);
	vmptrld((ulong)vmcs3);
	vmcs_setup(l2_main, (1u << 3) | (1u << 5), 1u << 22);
	r = vmx_enter(1);
	check_exit("NMI window with no virtual-NMI blocking", r, 8, 0);
	vmwrite(F_GUEST_INTR, 8); /* blocking by NMI: no window */
	r = vmx_enter(0);
	check_exit("NMI window closed by virtual-NMI blocking (L2 runs to CPUID)", r, 10, 0);
	report("the NMI blocking is saved on exit", vmread1(F_GUEST_INTR) == 8);
	vmwrite(F_PIN, (u32)rdmsr(MSR_VMX_PINBASED) | (1u << 5));
	r = vmx_enter(0);
	report("virtual NMIs without NMI exiting: VMfailValid(7)",
	       (r & FLAGS_CF_ZF) == X86_EFLAGS_ZF && vmread1(F_VM_INSN_ERROR) == 7);
}

static void test_l2_events(void)
{
	u64 r;
	/* the preemption timer: value 0 exits before L2's first instruction */
	vmcs_setup(l2_spin, PIN_TIMER, 0);
	vmclear((ulong)vmcs3);
	vmptrld((ulong)vmcs3);
	vmcs_setup(l2_spin, PIN_TIMER, 0);
	vmwrite(F_TIMER, 0);
	r = vmx_enter(1);
	check_exit("preemption timer 0", r, 52, 0);
	report("preemption timer 0: L2 did not run", vmread1(F_GUEST_RIP) == (ulong)l2_spin);
	vmwrite(F_TIMER, 2000);
	r = vmx_enter(0);
	check_exit("preemption timer 2000 while L2 spins", r, 52, 0);

	/* interrupt window with IF = 1 in L2 */
	vmwrite(F_PIN, (u32)rdmsr(MSR_VMX_PINBASED));
	vmwrite(F_PROC, PROC_INTR_WIN | (u32)rdmsr(MSR_VMX_PROCBASED));
	vmwrite(F_GUEST_RFLAGS, 0x202);
	r = vmx_enter(0);
	check_exit("interrupt window, L2 RFLAGS.IF = 1", r, 7, 0);

	/* an external interrupt with acknowledge on exit: a self-IPI sent
	 * with L1's IF = 0 waits in the LAPIC until L2 runs */
	vmwrite(F_PROC, (u32)rdmsr(MSR_VMX_PROCBASED));
	vmwrite(F_PIN, PIN_EXT_INTR | (u32)rdmsr(MSR_VMX_PINBASED));
	vmwrite(F_EXIT_CTLS, vmread1(F_EXIT_CTLS) | EXIT_ACK_INTR);
	vmwrite(F_GUEST_RFLAGS, 2); /* IF = 0 in L2: still exits */
	irq_platform_init();
	asm volatile("cli");
	apic_write(APIC_ICR, ICR_SELF | ICR_ASSERT | 0x61);
	r = vmx_enter(0);
	check_exit("external interrupt (L2 IF = 0)", r, 1, 0);
	report("acknowledged on exit: interruption information vector 0x61, valid",
	       vmread1(F_EXIT_INTR_INFO) == (0x61u | 1u << 31));
	report("acknowledged: the vector is in service, not requested",
	       (apic_read(APIC_ISR + 0x30) & 2) && !(apic_read(APIC_IRR + 0x30) & 2));
	apic_eoi();

	/* activity state HLT (IA32_VMX_MISC[6], seed 004): L2 enters halted
	 * and an external interrupt wakes it into a VM exit; the saved
	 * activity state is still HLT */
	vmwrite(F_GUEST_ACTIVITY, 1);
	apic_write(APIC_ICR, ICR_SELF | ICR_ASSERT | 0x62);
	r = vmx_enter(0);
	check_exit("L2 entered in the HLT activity state, then an external interrupt", r, 1, 0);
	report("HLT activity state: saved as HLT, L2 did not run",
	       vmread1(F_GUEST_ACTIVITY) == 1 && vmread1(F_EXIT_INTR_INFO) == (0x62u | 1u << 31));
	apic_eoi();
	vmwrite(F_GUEST_ACTIVITY, 0);

	/* a triple fault in L2: #UD with an IDT limit of 0 */
	vmwrite(F_PIN, (u32)rdmsr(MSR_VMX_PINBASED));
	vmwrite(F_GUEST_IDTR_LIMIT, 0);
	vmwrite(F_GUEST_RIP, (ulong)l2_main + 0); /* its CPUID is not intercepted... */
	vmwrite(F_EXC_BITMAP, 0);
	vmwrite(F_ENTRY_INTR_INFO, 6u | 3u << 8 | 1u << 31);
	r = vmx_enter(0);
	check_exit("triple fault in L2", r, 2, 0);
}

static void test_l2_vmx_cr(void)
{
	u64 r;
	vmclear((ulong)vmcs3);
	vmptrld((ulong)vmcs3);
	vmcs_setup(l2_vmread, 0, 0);
	r = vmx_enter(1);
	check_exit("VMREAD in L2", r, 23, 0);
	/* instruction information: reg1 = RCX (1), register form, reg2 = RBX (3) */
	report("VMREAD exit: instruction information",
	       vmread1(F_EXIT_INSN_INFO) == (1u << 3 | 1u << 10 | 3u << 28));
	r = skip_and_resume();
	check_exit("VMPTRST in L2: displacement as qualification", r, 22, 8);
	/* 64-bit address size, SS segment, no index, base RSP (4) */
	report("VMPTRST exit: instruction information",
	       vmread1(F_EXIT_INSN_INFO) == (2u << 7 | 2u << 15 | 1u << 22 | 4u << 23));

	vmclear((ulong)vmcs3);
	vmptrld((ulong)vmcs3);
	vmcs_setup(l2_cr, 0, PROC_CR3_STORE);
	vmwrite(F_CR0_MASK, 8);	  /* TS belongs to L1 */
	vmwrite(F_CR0_SHADOW, 0); /* and L2 reads it as 0 */
	vmwrite(F_GUEST_CR0, read_cr0() | 8);
	l2_marker = 0;
	r = vmx_enter(1);
	check_exit("MOV from CR3 in L2 (CR3-store exiting)", r, 28, 3 | 1 << 4 | 6 << 8);
	r = skip_and_resume();
	check_exit("MOV to CR0 setting TS against the read shadow", r, 28, 0 | 0 << 4 | 2 << 8);
	report("MOV from CR0 in L2 reads TS from the shadow", l2_marker && !(l2_marker & 8));
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
	test_entry_checks();
	test_l2_exits();
	test_l2_events();
	test_l2_io_nmi();
	test_l2_vmx_cr();
	test_vmxoff();
	report_summary();
}
