/* SPDX-License-Identifier: MIT */
/*
 * VM construction: guest memory and its map, the platform devices on the
 * trap registry, the KVM objects (VM, softkvm quirks, the in-kernel irqchip
 * and PIT with QEMU's GSI routing, memory slots, vCPUs with CPUID) and the
 * multiboot entry state.
 *
 * Memory follows QEMU's pc machine: RAM from 0; with 3.5 GiB or more, RAM
 * below 4 GiB stops at 3 GiB and the rest starts at 4 GiB. The map the guest
 * sees (multiboot mmap) reserves the EBDA (0x9fc00) and the BIOS area
 * (0xe0000-0xfffff, holding the boot GDT and the ACPI tables).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "softkvm/softkvm.h"
#include "mptable.h"
#include "vmm.h"

#define TSS_ADDR 0xfffbd000ul /* as QEMU: three pages below the BIOS ROM */

static int fail(char *err, size_t n, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, n, fmt, ap);
	va_end(ap);
	return -e;
}

static void e820_add(struct vmm *vm, uint64_t addr, uint64_t len, uint32_t type)
{
	if (vm->ne820 < VMM_MAX_E820 && len)
		vm->e820[vm->ne820++] = (struct e820_entry){addr, len, type};
}

/* The flat 4 GiB descriptors QEMU's multiboot option ROM uses (SDM Vol. 3A, 3.4.5). */
static void write_boot_gdt(uint8_t *p)
{
	static const uint8_t gdt[5][8] = {
	    {0},
	    {0xff, 0xff, 0, 0, 0, 0x9a, 0xcf, 0}, /* 0x08: code, 32-bit, 4 GiB */
	    {0xff, 0xff, 0, 0, 0, 0x92, 0xcf, 0}, /* 0x10: data, 32-bit, 4 GiB */
	    {0xff, 0xff, 0, 0, 0, 0x9e, 0x00, 0}, /* 0x18: code, 16-bit, 64 KiB */
	    {0xff, 0xff, 0, 0, 0, 0x92, 0x00, 0}, /* 0x20: data, 16-bit, 64 KiB */
	};
	memcpy(p, gdt, sizeof(gdt));
}

/* A device's interrupt line: GSI `gsi` at `level` through KVM_IRQ_LINE (io_lock held). */
static void set_gsi(struct vmm *vm, unsigned gsi, bool level)
{
	struct kvm_irq_level l = {.irq = gsi, .level = level};

	if (vm->irqchip == VMM_IRQCHIP_OFF || vm->vm_fd < 0)
		return;
	kvmdev_ioctl(&vm->kvm, vm->vm_fd, KVM_IRQ_LINE, &l);
}

static void pctestdev_set_irq(void *opaque, unsigned line, bool level)
{
	set_gsi(opaque, line, level);
}

static void serial_set_irq(void *opaque, bool level)
{
	set_gsi(opaque, VMM_SERIAL_GSI, level);
}

static void rtc_set_irq(void *opaque, bool level)
{
	set_gsi(opaque, RTC_IRQ, level);
}

static void acpi_set_irq(void *opaque, bool level)
{
	set_gsi(opaque, ACPI_SCI_IRQ, level);
}

static void i8042_set_irq(void *opaque, bool level)
{
	set_gsi(opaque, I8042_IRQ, level);
}

/* i8042, 0xcf9, 0x92: the machine resets (the run loop's KVM_SYSTEM_EVENT_RESET) */
static void platform_reset(void *opaque)
{
	vmm_stop(opaque, VMM_EXIT_RESET);
}

static int platform_init(struct vmm *vm, const struct vmm_config *c)
{
	uint8_t e820[2 * 20];
	unsigned ne = 0;
	int r = 0;

	serial_init(&vm->serial, STDOUT_FILENO);
	vm->serial.set_irq = serial_set_irq;
	vm->serial.irq_opaque = vm;
	pctestdev_init(&vm->pctestdev);
	vm->pctestdev.set_irq = pctestdev_set_irq;
	vm->pctestdev.irq_opaque = vm;
	pci_bus_init(&vm->pci, &vm->pio, &vm->mmio);
	pcitestdev_init(&vm->pcitestdev);
	acpi_pm_init(&vm->pm);
	vm->pm.set_irq = acpi_set_irq;
	vm->pm.irq_opaque = vm;
	rtc_init(&vm->rtc, &vm->io_lock);
	vm->rtc.set_irq = rtc_set_irq;
	vm->rtc.irq_opaque = vm;
	i8042_init(&vm->i8042);
	vm->i8042.set_irq = i8042_set_irq;
	vm->i8042.irq_opaque = vm;
	vm->i8042.reset = platform_reset;
	vm->i8042.reset_opaque = vm;
	reset_ctl_init(&vm->resetctl);
	vm->resetctl.reset = platform_reset;
	vm->resetctl.opaque = vm;
	fwcfg_init(&vm->fwcfg);

	const struct {
		uint64_t port, len;
		const char *name;
		void *dev;
		iobus_access_fn *fn;
	} pio[] = {
	    {SERIAL_COM1_BASE, SERIAL_NREGS, "serial", &vm->serial, serial_access},
	    {DEBUGEXIT_PORT, DEBUGEXIT_SIZE, "isa-debug-exit", &vm->debugexit, debugexit_access},
	    {FWCFG_PORT, 2, "fw_cfg", &vm->fwcfg, fwcfg_access},
	    {PCTESTDEV_IOPORT, 4, "pc-testdev", &vm->pctestdev, pctestdev_ioport_access},
	    {PCTESTDEV_FLUSH, 4, "pc-testdev-flush", &vm->pctestdev, pctestdev_flush_access},
	    {PCTESTDEV_IOPORT_BYTE, 4, "pc-testdev-byte", &vm->pctestdev, pctestdev_ioport_access},
	    {PCTESTDEV_IRQ, PCTESTDEV_NIRQ, "pc-testdev-irq", &vm->pctestdev, pctestdev_irq_access},
	    /* before pci-config-addr: byte accesses to 0xcf9 are the reset control register */
	    {RESET_CF9_PORT, 1, "reset-control", &vm->resetctl, reset_cf9_access},
	    {PCI_CONFIG_ADDR, 4, "pci-config-addr", &vm->pci, pci_config_addr_access},
	    {PCI_CONFIG_DATA, 4, "pci-config-data", &vm->pci, pci_config_data_access},
	    {ACPI_PM1_EVT_BLK, 4, "acpi-pm1-evt", &vm->pm, acpi_pm_evt_access},
	    {ACPI_PM1_CNT_BLK, 2, "acpi-pm1-cnt", &vm->pm, acpi_pm_cnt_access},
	    {ACPI_PM_TMR_BLK, 4, "acpi-pm-timer", &vm->pm, acpi_pm_tmr_access},
	    {RTC_PORT, RTC_NPORTS, "rtc-cmos", &vm->rtc, rtc_access},
	    {I8042_DATA_PORT, 1, "i8042-data", &vm->i8042, i8042_data_access},
	    {I8042_COMMAND_PORT, 1, "i8042-command", &vm->i8042, i8042_command_access},
	    {RESET_92_PORT, 1, "port92", &vm->resetctl, reset_92_access},
	};
	for (size_t k = 0; k < sizeof(pio) / sizeof(pio[0]); k++) {
		r = iobus_add(&vm->pio, pio[k].port, pio[k].len, pio[k].name, pio[k].dev, pio[k].fn,
			      true);
		if (r < 0)
			return r;
	}
	r = iobus_add(&vm->mmio, PCTESTDEV_IOMEM, PCTESTDEV_IOMEM_LEN, "pc-testdev-iomem",
		      &vm->pctestdev, pctestdev_iomem_access, true);
	if (r < 0)
		return r;

	/* pci-testdev at 00:01.0 with its BARs assigned and decoding, as firmware leaves it */
	r = pci_bus_plug(&vm->pci, 1, &vm->pcitestdev.pci);
	if (r)
		return r;
	pci_assign_bar(&vm->pci, &vm->pcitestdev.pci, 0, 0xfe000000u);
	pci_assign_bar(&vm->pci, &vm->pcitestdev.pci, 1, 0xc000u);
	pci_enable(&vm->pci, &vm->pcitestdev.pci, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);

	/* fw_cfg: what QEMU's pc machine offers that a test kernel may look at */
	static const uint8_t uuid[16];
	r = fwcfg_add(&vm->fwcfg, FW_CFG_SIGNATURE, "QEMU", 4);
	r |= fwcfg_add_u32(&vm->fwcfg, FW_CFG_ID, 1); /* traditional interface, no DMA */
	r |= fwcfg_add(&vm->fwcfg, FW_CFG_UUID, uuid, sizeof(uuid));
	r |= fwcfg_add_u64(&vm->fwcfg, FW_CFG_RAM_SIZE, vm->ram_size);
	r |= fwcfg_add_u16(&vm->fwcfg, FW_CFG_NOGRAPHIC, 1);
	r |= fwcfg_add_u16(&vm->fwcfg, FW_CFG_NB_CPUS, (uint16_t)c->cpus);
	r |= fwcfg_add_u16(&vm->fwcfg, FW_CFG_MAX_CPUS, (uint16_t)c->cpus);
	r |= fwcfg_add_u16(&vm->fwcfg, FW_CFG_BOOT_MENU, 0);
	/* etc/e820 lists the RAM (QEMU's e820_table): { le64 addr, le64 len, le32 type } */
	for (uint64_t a = 0; a < 2; a++) {
		uint64_t base = a ? 0x100000000ull : 0, len = a ? vm->high_size : vm->low_size;
		if (!len)
			continue;
		uint8_t *p = e820 + 20 * ne++;
		for (int k = 0; k < 8; k++) {
			p[k] = (uint8_t)(base >> (8 * k));
			p[8 + k] = (uint8_t)(len >> (8 * k));
		}
		p[16] = E820_RAM;
		p[17] = p[18] = p[19] = 0;
	}
	r |= fwcfg_add_file(&vm->fwcfg, "etc/e820", e820, 20 * ne);
	return r < 0 ? -ENOMEM : 0;
}
/*
 * Guest RAM: anonymous, 2 MiB aligned and marked for transparent huge pages
 * (as QEMU does): the software TLB's host addresses then land in 2 MiB host
 * pages, which cuts the host's own TLB misses on guests that touch much
 * memory (a page-table walk, a hash table). Without THP it is plain memory.
 */
static void *map_guest_ram(uint64_t size)
{
	const size_t align = 2u << 20;
	uint8_t *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	if ((uintptr_t)p + align > a)
		munmap((void *)(a + size), (uintptr_t)p + align - a);
#ifdef MADV_HUGEPAGE
	madvise((void *)a, size, MADV_HUGEPAGE);
#endif
	return (void *)a;
}

int vmm_init(struct vmm *vm, const struct vmm_config *c, char *err, size_t errlen)
{
	void *p;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->sys_fd = vm->vm_fd = -1;
	for (unsigned k = 0; k < VMM_MAX_CPUS; k++) {
		vm->vcpu[k].fd = -1;
		vm->vcpu[k].id = k;
		vm->vcpu[k].vm = vm;
	}
	vm->irqchip = c->irqchip;
	vm->config = (struct vmm_config *)c;
	pthread_mutex_init(&vm->io_lock, NULL);
	pthread_mutex_init(&vm->stop_lock, NULL);
	pthread_cond_init(&vm->stop_cond, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->ram_size = c->mem;
	if (c->mem >= 0xe0000000ull) {
		vm->low_size = VMM_LOW_MAX;
		vm->high_size = c->mem - VMM_LOW_MAX;
	} else {
		vm->low_size = c->mem;
	}
	p = map_guest_ram(c->mem);
	if (p == MAP_FAILED)
		return fail(err, errlen, errno,
			    "--mem: cannot allocate %llu MiB of guest memory: %s",
			    (unsigned long long)(c->mem >> 20), strerror(errno));
	vm->ram = p;

	e820_add(vm, 0, 0x9fc00, E820_RAM);
	e820_add(vm, 0x9fc00, 0x400, E820_RESERVED);
	e820_add(vm, 0xe0000, 0x20000, E820_RESERVED);
	e820_add(vm, 0x100000, vm->low_size - 0x100000, E820_RAM);
	e820_add(vm, 0x100000000ull, vm->high_size, E820_RAM);

	write_boot_gdt(vm->ram + VMM_BOOT_GDT);
	/* the MADT describes the APICs, which exist with an irqchip */
	acpi_build_tables(vm->ram, c->irqchip == VMM_IRQCHIP_OFF ? 0 : c->cpus,
			  (uint32_t)vm->low_size);
	if (c->irqchip != VMM_IRQCHIP_OFF)
		mptable_build(vm->ram, c->cpus);
	r = platform_init(vm, c);
	if (r)
		return fail(err, errlen, -r, "cannot set up the platform devices: %s",
			    strerror(-r));
	return 0;
}

static int kvm_ioctl(struct vmm *vm, int fd, unsigned long req, void *arg)
{
	return kvmdev_ioctl(&vm->kvm, fd, req, arg);
}

/*
 * QEMU's routing for the pc machine (kvm_pc_setup_irq_routing): ISA IRQs
 * 0-15 go to the PIC pair and the IOAPIC, except that IRQ0 (the PIT) is
 * IOAPIC pin 2 and nothing drives GSI 2 (the cascade); GSIs 16-23 are
 * IOAPIC pins only. The MADT's override IRQ0 -> GSI 2 says the same.
 */
int vmm_set_routing(struct vmm *vm, const struct kvm_irq_routing_entry *extra, unsigned nextra)
{
	struct kvm_irq_routing *rt;
	unsigned n = 0;
	int r;

	rt = calloc(1, sizeof(*rt) + (48 + nextra) * sizeof(rt->entries[0]));
	if (!rt)
		return -ENOMEM;
	for (unsigned gsi = 0; gsi < 24; gsi++) {
		if (gsi == 2)
			continue;
		if (gsi < 16) {
			struct kvm_irq_routing_entry *e = &rt->entries[n++];
			e->gsi = gsi;
			e->type = KVM_IRQ_ROUTING_IRQCHIP;
			e->u.irqchip.irqchip =
			    gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
			e->u.irqchip.pin = gsi & 7;
		}
		struct kvm_irq_routing_entry *e = &rt->entries[n++];
		e->gsi = gsi;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e->u.irqchip.pin = gsi == 0 ? 2 : gsi;
	}
	for (unsigned k = 0; k < nextra; k++)
		rt->entries[n++] = extra[k];
	rt->nr = n;
	r = kvm_ioctl(vm, vm->vm_fd, KVM_SET_GSI_ROUTING, rt);
	free(rt);
	return r;
}

/* KVM_CAP_SOFTKVM_QUIRKS (include/softkvm/softkvm.h), before any vCPU exists */
static int enable_quirks(struct vmm *vm, uint64_t quirks, char *err, size_t errlen)
{
	struct kvm_enable_cap cap = {.cap = KVM_CAP_SOFTKVM_QUIRKS, .args = {quirks}};
	int have, r;

	if (!quirks)
		return 0;
	have = kvm_ioctl(vm, vm->vm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_SOFTKVM_QUIRKS);
	if (have < 0 || ((uint64_t)have & quirks) != quirks)
		return fail(err, errlen, EINVAL,
			    "--quirk: %s does not offer it (no KVM_CAP_SOFTKVM_QUIRKS %#llx)",
			    kvmdev_name(&vm->kvm), (unsigned long long)quirks);
	r = kvm_ioctl(vm, vm->vm_fd, KVM_ENABLE_CAP, &cap);
	if (r < 0)
		return fail(err, errlen, -r, "--quirk: KVM_ENABLE_CAP(KVM_CAP_SOFTKVM_QUIRKS): %s",
			    strerror(-r));
	return 0;
}

/* --overcommit cpu-pm=on (QEMU's): MONITOR/MWAIT run in the guest
 * (KVM_CAP_X86_DISABLE_EXITS), before any vCPU exists */
static int enable_cpu_pm(struct vmm *vm, char *err, size_t errlen)
{
	int have =
	    kvm_ioctl(vm, vm->vm_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_X86_DISABLE_EXITS);
	if (have < 0 || !(have & KVM_X86_DISABLE_EXITS_MWAIT))
		return fail(err, errlen, EINVAL,
			    "--overcommit cpu-pm=on: %s does not offer KVM_X86_DISABLE_EXITS_MWAIT",
			    kvmdev_name(&vm->kvm));
	struct kvm_enable_cap cap = {
	    .cap = KVM_CAP_X86_DISABLE_EXITS,
	    .args = {(uint64_t)have & (KVM_X86_DISABLE_EXITS_MWAIT | KVM_X86_DISABLE_EXITS_PAUSE)}};
	int r = kvm_ioctl(vm, vm->vm_fd, KVM_ENABLE_CAP, &cap);
	if (r < 0)
		return fail(err, errlen, -r,
			    "--overcommit cpu-pm=on: KVM_ENABLE_CAP(KVM_CAP_X86_DISABLE_EXITS): %s",
			    strerror(-r));
	return 0;
}

/* with cpu-pm=on the guest is told about MONITOR/MWAIT, which KVM does not
 * advertise: CPUID.1:ECX[3]; leaf 5: 64-byte monitor lines, the MWAIT
 * extensions (EMX) with interrupts as break events (IBE); no C-state
 * sub-states are described (EDX = 0) */
static void cpuid_cpu_pm(struct kvm_cpuid2 *c)
{
	for (unsigned k = 0; k < c->nent; k++) {
		struct kvm_cpuid_entry2 *e = &c->entries[k];
		if (e->function == 1)
			e->ecx |= 1u << 3;
		else if (e->function == 5)
			*e = (struct kvm_cpuid_entry2){
			    .function = 5, .eax = 64, .ebx = 64, .ecx = 3, .edx = 0};
	}
}

/* The in-kernel LAPICs, IOAPIC, PIC pair and PIT, routed as on QEMU's pc machine. */
static int create_irqchip(struct vmm *vm, char *err, size_t errlen)
{
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	int r;

	if (vm->irqchip == VMM_IRQCHIP_OFF)
		return 0;
	r = kvm_ioctl(vm, vm->vm_fd, KVM_CREATE_IRQCHIP, NULL);
	if (r < 0)
		return fail(err, errlen, -r, "--irqchip kernel: KVM_CREATE_IRQCHIP: %s",
			    strerror(-r));
	r = kvm_ioctl(vm, vm->vm_fd, KVM_CREATE_PIT2, &pit);
	if (r < 0)
		return fail(err, errlen, -r, "--irqchip kernel: KVM_CREATE_PIT2: %s", strerror(-r));
	r = vmm_set_routing(vm, NULL, 0);
	if (r < 0)
		return fail(err, errlen, -r, "--irqchip kernel: KVM_SET_GSI_ROUTING: %s",
			    strerror(-r));
	return 0;
}

/* KVM_GET_SUPPORTED_CPUID, growing the buffer until it fits. */
static struct kvm_cpuid2 *get_supported_cpuid(struct vmm *vm, int *res)
{
	for (unsigned n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c) {
			*res = -ENOMEM;
			return NULL;
		}
		c->nent = n;
		*res = kvm_ioctl(vm, vm->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (*res == 0)
			return c;
		free(c);
		if (*res != -E2BIG)
			return NULL;
	}
	*res = -E2BIG;
	return NULL;
}

/*
 * Give vCPU `id` its APIC ID and the topology: one package of ncpus threads.
 * KVM_GET_SUPPORTED_CPUID reports leaf 0xB as "no topology" (sub-leaf 0
 * zero, Linux 6.1 __do_cpuid_func); the VMM that has one describes it (SDM
 * Vol. 2A, CPUID leaf 0BH): sub-leaf 0 the SMT level (one thread per core),
 * sub-leaf 1 the core level with every vCPU in it, each with the x2APIC ID
 * in EDX. `c` has room for one more entry than c->nent.
 */
static void cpuid_for_vcpu(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus)
{
	unsigned shift = 0;
	struct kvm_cpuid_entry2 *b0 = NULL, *b1 = NULL;

	while ((1u << shift) < ncpus)
		shift++;
	for (unsigned k = 0; k < c->nent; k++) {
		struct kvm_cpuid_entry2 *e = &c->entries[k];

		if (e->function == 1) {
			e->ebx = (e->ebx & 0xffff) | (id << 24) | ((ncpus > 1 ? ncpus : 0) << 16);
			if (ncpus > 1)
				e->edx |= 1u << 28; /* HTT: the logical count field is valid */
		} else if (e->function == 0xb && e->index == 0) {
			b0 = e;
		} else if (e->function == 0xb && e->index == 1) {
			b1 = e;
		}
	}
	if (!b0)
		return; /* no leaf 0xB: CPUID.0:EAX < 0xB */
	if (!b1) {
		b1 = &c->entries[c->nent++];
		memset(b1, 0, sizeof(*b1));
	}
	*b0 = (struct kvm_cpuid_entry2){.function = 0xb,
					.index = 0,
					.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					.eax = 0,
					.ebx = 1,
					.ecx = 0x100,
					.edx = id};
	*b1 = (struct kvm_cpuid_entry2){.function = 0xb,
					.index = 1,
					.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
					.eax = shift,
					.ebx = ncpus,
					.ecx = 0x201,
					.edx = id};
}

int vmm_create_vm(struct vmm *vm, const struct vmm_config *c, char *err, size_t errlen)
{
	struct kvm_cpuid2 *cpuid = NULL;
	int r, max;

	r = kvmdev_open(&vm->kvm, c->accel);
	if (r < 0)
		return fail(err, errlen, -r, "cannot open /dev/kvm: %s", strerror(-r));
	vm->sys_fd = r;
	r = kvm_ioctl(vm, vm->sys_fd, KVM_GET_API_VERSION, NULL);
	if (r != KVM_API_VERSION)
		return fail(err, errlen, EINVAL, "%s: KVM API version %d, need %d",
			    kvmdev_name(&vm->kvm), r, KVM_API_VERSION);
	max = kvm_ioctl(vm, vm->sys_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max =
		    kvm_ioctl(vm, vm->sys_fd, KVM_CHECK_EXTENSION, (void *)(long)KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 4; /* Linux: KVM_SOFT_MAX_VCPUS when the capability is missing */
	if (c->cpus > (unsigned)max)
		return fail(err, errlen, EINVAL, "--cpus %u: %s supports at most %d vCPUs", c->cpus,
			    kvmdev_name(&vm->kvm), max);
	r = kvm_ioctl(vm, vm->sys_fd, KVM_CREATE_VM, NULL);
	if (r < 0)
		return fail(err, errlen, -r, "KVM_CREATE_VM: %s", strerror(-r));
	vm->vm_fd = r;
	/* needed by VMX for real-mode emulation; harmless elsewhere */
	r = kvm_ioctl(vm, vm->vm_fd, KVM_SET_TSS_ADDR, (void *)TSS_ADDR);
	if (r < 0 && !vm->kvm.soft)
		return fail(err, errlen, -r, "KVM_SET_TSS_ADDR: %s", strerror(-r));
	r = enable_quirks(vm, c->quirks, err, errlen);
	if (r)
		return r;
	if (c->cpu_pm && (r = enable_cpu_pm(vm, err, errlen)))
		return r;
	r = create_irqchip(vm, err, errlen);
	if (r)
		return r;

	struct kvm_userspace_memory_region slot = {
	    .slot = 0,
	    .guest_phys_addr = 0,
	    .memory_size = vm->low_size,
	    .userspace_addr = (uintptr_t)vm->ram,
	};
	r = kvm_ioctl(vm, vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
	if (r < 0)
		return fail(err, errlen, -r, "KVM_SET_USER_MEMORY_REGION (%llu MiB): %s",
			    (unsigned long long)(vm->low_size >> 20), strerror(-r));
	if (vm->high_size) {
		slot.slot = 1;
		slot.guest_phys_addr = 0x100000000ull;
		slot.memory_size = vm->high_size;
		slot.userspace_addr = (uintptr_t)(vm->ram + vm->low_size);
		r = kvm_ioctl(vm, vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
		if (r < 0)
			return fail(err, errlen, -r, "KVM_SET_USER_MEMORY_REGION (high memory): %s",
				    strerror(-r));
	}
	r = kvm_ioctl(vm, vm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (r < (int)sizeof(struct kvm_run))
		return fail(err, errlen, r < 0 ? -r : EINVAL, "KVM_GET_VCPU_MMAP_SIZE: %d", r);
	vm->run_size = (size_t)r;
	cpuid = get_supported_cpuid(vm, &r);
	if (!cpuid)
		return fail(err, errlen, -r, "KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
	if (c->cpu_pm)
		cpuid_cpu_pm(cpuid);

	for (unsigned k = 0; k < c->cpus; k++) {
		struct vmm_vcpu *v = &vm->vcpu[k];

		r = kvm_ioctl(vm, vm->vm_fd, KVM_CREATE_VCPU, (void *)(long)k);
		if (r < 0) {
			fail(err, errlen, -r, "KVM_CREATE_VCPU %u: %s", k, strerror(-r));
			goto out;
		}
		v->fd = r;
		vm->ncpus = k + 1;
		v->run = kvmdev_mmap_run(&vm->kvm, v->fd, vm->run_size);
		if (!v->run) {
			r = -errno;
			fail(err, errlen, -r, "mmap of vCPU %u: %s", k, strerror(-r));
			goto out;
		}
		struct kvm_cpuid2 *mine =
		    malloc(sizeof(*cpuid) + (cpuid->nent + 1) * sizeof(cpuid->entries[0]));
		if (!mine) {
			r = -ENOMEM;
			fail(err, errlen, ENOMEM, "out of memory");
			goto out;
		}
		memcpy(mine, cpuid, sizeof(*cpuid) + cpuid->nent * sizeof(cpuid->entries[0]));
		cpuid_for_vcpu(mine, k, c->cpus);
		r = kvm_ioctl(vm, v->fd, KVM_SET_CPUID2, mine);
		free(mine);
		if (r < 0) {
			fail(err, errlen, -r, "KVM_SET_CPUID2 on vCPU %u: %s", k, strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	free(cpuid);
	return r;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

/*
 * Multiboot 0.6.96, 3.2 "Machine state": EAX magic, EBX the information
 * structure, CS and the data segments flat 4 GiB 32-bit, CR0.PE set and
 * CR0.PG clear, EFLAGS.IF and VM clear. GDTR holds the boot GDT (the guest
 * must not rely on it), IDTR the real-mode IVT as after the BIOS.
 */
int vmm_setup_multiboot_entry(struct vmm *vm, const struct multiboot_boot *b, char *err,
			      size_t errlen)
{
	struct vmm_vcpu *v = &vm->vcpu[0];
	struct kvm_sregs s;
	struct kvm_regs regs;
	int r;

	r = kvm_ioctl(vm, v->fd, KVM_GET_SREGS, &s);
	if (r < 0)
		return fail(err, errlen, -r, "KVM_GET_SREGS: %s", strerror(-r));
	flat_segment(&s.cs, VMM_BOOT_CS, 0xb); /* execute/read, accessed */
	flat_segment(&s.ds, VMM_BOOT_DS, 0x3); /* read/write, accessed */
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.gdt.base = VMM_BOOT_GDT;
	s.gdt.limit = 5 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0x3ff;
	s.cr0 = 0x11; /* PE, ET */
	s.cr3 = 0;
	s.cr4 = 0;
	s.efer = 0;
	r = kvm_ioctl(vm, v->fd, KVM_SET_SREGS, &s);
	if (r < 0)
		return fail(err, errlen, -r, "KVM_SET_SREGS: %s", strerror(-r));
	memset(&regs, 0, sizeof(regs));
	regs.rip = b->entry;
	regs.rax = MULTIBOOT_BOOTLOADER_MAGIC;
	regs.rbx = b->mbi;
	regs.rflags = 0x2;
	r = kvm_ioctl(vm, v->fd, KVM_SET_REGS, &regs);
	if (r < 0)
		return fail(err, errlen, -r, "KVM_SET_REGS: %s", strerror(-r));
	return 0;
}

void vmm_destroy(struct vmm *vm)
{
	virtio_destroy(vm); /* its workers first: they use the VM's descriptors */
	rtc_destroy(&vm->rtc);
	serial_flush(&vm->serial);
	for (unsigned k = 0; k < vm->ncpus; k++) {
		if (vm->vcpu[k].run)
			munmap(vm->vcpu[k].run, vm->run_size);
		kvmdev_close(&vm->kvm, vm->vcpu[k].fd);
	}
	kvmdev_close(&vm->kvm, vm->vm_fd);
	kvmdev_close(&vm->kvm, vm->sys_fd);
	fwcfg_destroy(&vm->fwcfg);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	pthread_cond_destroy(&vm->stop_cond);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->stop_lock);
	pthread_mutex_destroy(&vm->io_lock);
}
