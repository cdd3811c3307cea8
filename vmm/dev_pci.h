/* SPDX-License-Identifier: MIT */
/*
 * PCI bus 0 behind configuration mechanism #1 (0xcf8 address, 0xcfc data),
 * with an i440FX host bridge at 00:00.0 (8086:1237, as QEMU's -machine pc).
 */
#ifndef SOFTKVM_VMM_DEV_PCI_H
#define SOFTKVM_VMM_DEV_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"

#define PCI_CONFIG_ADDR 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_NSLOTS	32
#define PCI_NBARS	6

/* configuration space offsets (PCI Local Bus Specification 3.0, 6.1) */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CLASS_DEVICE	0x0a
#define PCI_HEADER_TYPE		0x0e
#define PCI_BASE_ADDRESS_0	0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d

#define PCI_COMMAND_IO	   0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_BAR_IO	   0x1

#define PCI_STATUS_CAP_LIST 0x10 /* a capability list at PCI_CAPABILITY_LIST */

struct pci_device {
	uint8_t cfg[256];
	uint8_t wmask[256];	      /* writable bits */
	uint32_t bar_size[PCI_NBARS]; /* 0: not implemented */
	bool bar_io[PCI_NBARS];
	int bar_region[PCI_NBARS]; /* iobus handle */
	void *bar_dev[PCI_NBARS];
	iobus_access_fn *bar_access[PCI_NBARS];
	const char *name;
	/*
	 * Optional hooks, called with the bus's caller's lock held (io_lock):
	 * a BAR was (re)mapped or unmapped, e.g. to move ioeventfds with it;
	 * configuration bytes [reg, reg + len) were written by the guest.
	 */
	void (*bar_moved)(struct pci_device *d, unsigned bar, uint64_t addr, bool enabled);
	void (*config_written)(struct pci_device *d, unsigned reg, unsigned len);
};

struct pci_bus {
	uint32_t config_addr;
	struct iobus *pio, *mmio;
	struct pci_device *slot[PCI_NSLOTS];
	struct pci_device host_bridge;
};

/* configuration spaces were loaded from a snapshot: map every BAR as they say */
void pci_bus_restored(struct pci_bus *bus);
void pci_bus_init(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio);
/* A type-0 function: identification and the generic writable fields. */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint8_t revision, uint32_t class_code);
/* Declare a BAR (size a power of two); it decodes once assigned and enabled. */
void pci_device_add_bar(struct pci_device *d, unsigned bar, bool io, uint32_t size, void *dev,
			iobus_access_fn *access);
/* Plug in at 00:slot.0, registering the BAR regions; 0 or -errno. */
int pci_bus_plug(struct pci_bus *bus, unsigned slot, struct pci_device *d);
/* Firmware's job: program a BAR and enable decoding. */
void pci_assign_bar(struct pci_bus *bus, struct pci_device *d, unsigned bar, uint32_t addr);
void pci_enable(struct pci_bus *bus, struct pci_device *d, uint16_t command);

void pci_config_addr_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);
void pci_config_data_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write);

#endif
