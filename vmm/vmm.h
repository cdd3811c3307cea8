/* SPDX-License-Identifier: MIT */
/*
 * The VMM: one VM with its memory, vCPUs and the QEMU-compatible test
 * platform (DESIGN.md, "The guest-facing platform"). It talks to /dev/kvm
 * only through kvmdev and <linux/kvm.h>.
 */
#ifndef SOFTKVM_VMM_VMM_H
#define SOFTKVM_VMM_VMM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_acpi.h"
#include "dev_debugexit.h"
#include "dev_fwcfg.h"
#include "dev_i8042.h"
#include "dev_pci.h"
#include "dev_pcitestdev.h"
#include "dev_pctestdev.h"
#include "dev_reset.h"
#include "dev_rtc.h"
#include "dev_serial.h"
#include "iobus.h"
#include "kvmdev.h"
#include "multiboot.h"
#include "virtio/virtio.h"

#define VMM_MAX_CPUS 255 /* xAPIC IDs */
#define VMM_MAX_E820 8
#define VMM_LOW_MAX  0xc0000000ull /* RAM below 4 GiB ends here at most (PCI hole above) */
#define VMM_MEM_MIN  (2ull << 20)
#define VMM_MEM_MAX  (1ull << 40)

#define VMM_SERIAL_GSI 4 /* COM1's ISA IRQ */

/* the boot GDT (as QEMU's multiboot option ROM): 0x08 code32, 0x10 data32 */
#define VMM_BOOT_GDT 0xe0000u
#define VMM_BOOT_CS  0x08
#define VMM_BOOT_DS  0x10

/* process exit statuses for what the guest did (isa-debug-exit gives odd ones) */
#define VMM_EXIT_STOPPED  0 /* powered off, or halted without an irqchip (nothing can wake it) */
#define VMM_EXIT_USAGE	  2 /* bad command line, kernel or set-up failure */
#define VMM_EXIT_SHUTDOWN 4 /* triple fault */
#define VMM_EXIT_FAILED	  6 /* internal error, failed entry, unexpected exit or ioctl error */
/* not a process status: the guest reset the machine (i8042, 0xcf9, 0x92, KVM_SYSTEM_EVENT_RESET) */
#define VMM_EXIT_RESET 0x100

/* which interrupt controllers the VM has (--irqchip) */
enum vmm_irqchip {
	VMM_IRQCHIP_KERNEL, /* KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2 (default) */
	VMM_IRQCHIP_OFF,    /* none: only the BSP runs, HLT ends the guest */
};

struct vmm;

struct vmm_vcpu {
	int fd;
	unsigned id;
	struct kvm_run *run;
	struct vmm *vm;
	pthread_t thread;
	bool thread_started;
	int tid; /* the thread's id (gettid), once it runs */
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

	enum vmm_irqchip irqchip;

	/*
	 * Devices are called from every vCPU thread: io_lock serializes them
	 * (and anything else that touches device state, e.g. host input).
	 */
	pthread_mutex_t io_lock;
	/* the first vCPU to stop the guest sets status and wakes vmm_run() */
	pthread_mutex_t stop_lock;
	pthread_cond_t stop_cond;
	bool stopped;
	int status;
	/*
	 * vmm_pause(): the vCPU threads park outside KVM_RUN while paused (all
	 * under stop_lock; pause_cond signals both ways). nthreads is how many
	 * vmm_run() starts, parked/exited how many wait or have ended.
	 */
	bool paused;
	unsigned nthreads, parked, exited;
	pthread_cond_t pause_cond;
	/*
	 * The guest's clock (KVM_GET_CLOCK) when vmm_pause() stopped it; vmm_resume()
	 * sets it back, so kvmclock does not move while the VM is stopped (QEMU's
	 * kvmclock_vm_state_change). A snapshot load while paused replaces it.
	 */
	struct kvm_clock_data pause_clock;
	bool pause_clock_valid;

	struct iobus pio, mmio;
	struct serial serial;
	struct debugexit debugexit;
	struct fwcfg fwcfg;
	struct pctestdev pctestdev;
	struct pci_bus pci;
	struct pcitestdev pcitestdev;
	struct acpi_pm pm;
	struct rtc rtc;
	struct i8042 i8042;
	struct reset_ctl resetctl;
	struct virtio_devices *virtio; /* --drive, --rng (virtio/) */
	struct vmm_config *config;     /* what it was built from (a snapshot names it) */
};

/* what a guest reset does (--reboot) */
enum vmm_reboot {
	VMM_REBOOT_RESTART, /* boot the machine again (default, as QEMU) */
	VMM_REBOOT_EXIT,    /* end the run with status 0 (QEMU -no-reboot) */
};

struct vmm_config {
	uint64_t mem;
	unsigned cpus;
	enum kvmdev_accel accel;
	enum vmm_irqchip irqchip;
	uint64_t quirks; /* SOFTKVM_QUIRK_* for KVM_CAP_SOFTKVM_QUIRKS */
	bool cpu_pm;	 /* --overcommit cpu-pm=on: MONITOR/MWAIT in the guest */
	enum vmm_reboot reboot;
	const char *kernel, *append, *initrd;
	const char *qmp;	/* --qmp SPEC (vmm/qmp/) */
	const char *restore;	/* --restore FILE (vmm/migration/) */
	const char *incoming;	/* --incoming URI (vmm/migration/) */
	bool mem_set, cpus_set; /* --mem, --cpus were given */
	struct virtio_opts virtio;
};

/* Memory and the platform, before any KVM object exists; 0 or -errno (+ message). */
int vmm_init(struct vmm *vm, const struct vmm_config *c, char *err, size_t errlen);
/* Open /dev/kvm and create the VM and its vCPUs; 0 or -errno (+ message). */
int vmm_create_vm(struct vmm *vm, const struct vmm_config *c, char *err, size_t errlen);
/*
 * KVM_SET_GSI_ROUTING: the platform's routes (QEMU's pc table) plus `extra`
 * (the virtio devices' MSI routes); 0 or -errno.
 */
int vmm_set_routing(struct vmm *vm, const struct kvm_irq_routing_entry *extra, unsigned nextra);
/* Put the BSP at the multiboot entry state. */
int vmm_setup_multiboot_entry(struct vmm *vm, const struct multiboot_boot *b, char *err,
			      size_t errlen);
/*
 * Run every vCPU on its own thread until the guest stops; returns the
 * process exit status.
 */
int vmm_run(struct vmm *vm);
/*
 * Stop the guest with a process exit status (first caller wins; true for
 * it). Any thread may call it; vmm_run() then kicks and joins the vCPUs.
 */
bool vmm_stop(struct vmm *vm, int status);
void vmm_destroy(struct vmm *vm);
/*
 * Pause the vCPUs (QMP stop): every vCPU thread leaves KVM_RUN and waits;
 * returns once all of them do (or the guest stopped). False if it was
 * paused already. May be called before vmm_run(): the vCPUs then never
 * start until vmm_resume().
 */
bool vmm_pause(struct vmm *vm);
/* Let paused vCPUs run again (QMP cont); false if they were not paused. */
bool vmm_resume(struct vmm *vm);
bool vmm_paused(struct vmm *vm);

#endif
