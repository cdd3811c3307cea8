/* SPDX-License-Identifier: MIT */
/*
 * Booting Linux on the VMM: the loaders' arguments from the platform, and
 * the entry state of the Linux boot protocol (Documentation/x86/boot.rst,
 * "64-bit Boot Protocol" and "32-bit Boot Protocol"): a flat GDT at 0x500
 * with __BOOT_CS = 0x10 and __BOOT_DS = 0x18, DS = ES = SS = __BOOT_DS,
 * interrupts disabled, RSI = boot_params. In 64-bit mode paging is on with
 * the identity map the loader wrote at 0x9000 (CR4.PAE, EFER.LME|LMA);
 * in 32-bit mode paging is off. The IDT is empty: a fault before the kernel
 * loads its own is a triple fault, reported as such.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "loader_linux.h"
#include "vmm.h"

#define CR0_PE	 0x1ull
#define CR0_ET	 0x10ull
#define CR0_PG	 0x80000000ull
#define CR4_PAE	 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

#define MSR_MTRR_DEF_TYPE 0x2ff
#define MTRR_DEF_TYPE_E	  0x800 /* MTRRs enabled */
#define MTRR_TYPE_WRBACK  6

static void boot_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

int linux_load(struct vmm *vm, const struct vmm_config *c, enum kernel_format fmt,
	       struct linux_boot *out, char *err, size_t errlen)
{
	struct linux_args a = {
	    .kernel = c->kernel,
	    .append = c->append,
	    .initrd = c->initrd,
	    .ram = vm->ram,
	    .ram_size = vm->low_size,
	    .map = vm->e820,
	    .nmap = vm->ne820,
	    .rsdp = ACPI_RSDP_ADDR,
	};

	if (fmt == KERNEL_VMLINUX)
		return linux_load_vmlinux(&a, out, err, errlen);
	return linux_load_bzimage(&a, out, err, errlen);
}

/*
 * What firmware leaves in the MTRRs: enabled, write-back by default, as
 * Firecracker sets them for a direct kernel boot (SeaBIOS writes ranges to
 * the same effect). Without it Linux finds the MTRRs disabled and leaves PAT
 * at its power-on layout.
 */
static int set_boot_msrs(struct vmm *vm, char *err, size_t errlen)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e[0].index = MSR_MTRR_DEF_TYPE;
	m.e[0].data = MTRR_DEF_TYPE_E | MTRR_TYPE_WRBACK;
	for (unsigned k = 0; k < vm->ncpus; k++) {
		r = kvmdev_ioctl(&vm->kvm, vm->vcpu[k].fd, KVM_SET_MSRS, &m);
		if (r != 1) {
			snprintf(err, errlen, "KVM_SET_MSRS (MTRRdefType) on vCPU %u: %s", k,
				 r < 0 ? strerror(-r) : "not accepted");
			return r < 0 ? r : -EINVAL;
		}
	}
	return 0;
}

int linux_setup_entry(struct vmm *vm, const struct linux_boot *b, char *err, size_t errlen)
{
	struct vmm_vcpu *v = &vm->vcpu[0];
	struct kvm_sregs s;
	struct kvm_regs regs;
	int r;

	r = set_boot_msrs(vm, err, errlen);
	if (r)
		return r;
	r = kvmdev_ioctl(&vm->kvm, v->fd, KVM_GET_SREGS, &s);
	if (r < 0)
		goto fail_sregs;
	boot_segment(&s.cs, LINUX_BOOT_CS, 0xb, b->long_mode); /* execute/read, accessed */
	boot_segment(&s.ds, LINUX_BOOT_DS, 0x3, false);	       /* read/write, accessed */
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.gdt.base = LINUX_GDT_ADDR;
	s.gdt.limit = 4 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;
	if (b->long_mode) {
		s.cr0 = CR0_PE | CR0_ET | CR0_PG;
		s.cr3 = LINUX_PML4_ADDR;
		s.cr4 = CR4_PAE;
		s.efer = EFER_LME | EFER_LMA;
	} else {
		s.cr0 = CR0_PE | CR0_ET;
		s.cr3 = 0;
		s.cr4 = 0;
		s.efer = 0;
	}
	r = kvmdev_ioctl(&vm->kvm, v->fd, KVM_SET_SREGS, &s);
	if (r < 0)
		goto fail_sregs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = b->entry;
	regs.rsi = b->boot_params;
	regs.rsp = LINUX_STACK_TOP;
	regs.rflags = 0x2;
	r = kvmdev_ioctl(&vm->kvm, v->fd, KVM_SET_REGS, &regs);
	if (r < 0) {
		snprintf(err, errlen, "KVM_SET_REGS: %s", strerror(-r));
		return r;
	}
	return 0;
fail_sregs:
	snprintf(err, errlen, "KVM_GET/SET_SREGS for the Linux entry state: %s", strerror(-r));
	return r;
}
