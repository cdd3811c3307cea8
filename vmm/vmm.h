/* SPDX-License-Identifier: MIT */
/*
 * The VMM: one VM with its memory, vCPUs and the QEMU-compatible test
 * platform (DESIGN.md, "The guest-facing platform"). It talks to /dev/kvm
 * only through kvmdev and <linux/kvm.h>.
 */
#ifndef SOFTKVM_VMM_VMM_H
#define SOFTKVM_VMM_VMM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_acpi.h"
#include "dev_debugexit.h"
#include "dev_fwcfg.h"
#include "dev_pci.h"
#include "dev_pcitestdev.h"
#include "dev_pctestdev.h"
#include "dev_serial.h"
#include "iobus.h"
#include "kvmdev.h"
#include "multiboot.h"

#define VMM_MAX_CPUS 255 /* xAPIC IDs */
#define VMM_MAX_E820 8
#define VMM_LOW_MAX  0xc0000000ull /* RAM below 4 GiB ends here at most (PCI hole above) */
#define VMM_MEM_MIN  (2ull << 20)
#define VMM_MEM_MAX  (1ull << 40)

/* the boot GDT (as QEMU's multiboot option ROM): 0x08 code32, 0x10 data32 */
#define VMM_BOOT_GDT 0xe0000u
#define VMM_BOOT_CS  0x08
#define VMM_BOOT_DS  0x10

/* process exit statuses for what the guest did (isa-debug-exit gives odd ones) */
#define VMM_EXIT_STOPPED  0 /* powered off, or halted with nothing to wake it */
#define VMM_EXIT_USAGE	  2 /* bad command line, kernel or set-up failure */
#define VMM_EXIT_SHUTDOWN 4 /* triple fault */
#define VMM_EXIT_FAILED	  6 /* internal error, failed entry, unexpected exit or ioctl error */

struct vmm_vcpu {
	int fd;
	struct kvm_run *run;
};

struct vmm {
	struct kvmdev kvm;
	int sys_fd, vm_fd;
	size_t run_size;
	unsigned ncpus;
	struct vmm_vcpu vcpu[VMM_MAX_CPUS];

	uint8_t *ram; /* host mapping: [0, low_size) then [4 GiB, 4 GiB + high_size) */
	uint64_t ram_size, low_size, high_size;
	struct e820_entry e820[VMM_MAX_E820];
	unsigned ne820;

	struct iobus pio, mmio;
	struct serial serial;
	struct debugexit debugexit;
	struct fwcfg fwcfg;
	struct pctestdev pctestdev;
	struct pci_bus pci;
	struct pcitestdev pcitestdev;
	struct acpi_pm pm;
};

struct vmm_config {
	uint64_t mem;
	unsigned cpus;
	enum kvmdev_accel accel;
	const char *kernel, *append, *initrd;
};

/* Memory and the platform, before any KVM object exists; 0 or -errno (+ message). */
int vmm_init(struct vmm *vm, const struct vmm_config *c, char *err, size_t errlen);
/* Open /dev/kvm and create the VM and its vCPUs; 0 or -errno (+ message). */
int vmm_create_vm(struct vmm *vm, const struct vmm_config *c, char *err, size_t errlen);
/* Put the BSP at the multiboot entry state. */
int vmm_setup_multiboot_entry(struct vmm *vm, const struct multiboot_boot *b, char *err,
			      size_t errlen);
/* Run until the guest stops; returns the process exit status. */
int vmm_run(struct vmm *vm);
void vmm_destroy(struct vmm *vm);

#endif
