/* SPDX-License-Identifier: MIT */
/*
 * PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, 3.2.2.3.2)
 * and type-0 configuration headers with BARs.
 *
 * 0xcf8 latches a 32-bit address (enable bit 31, bus 23:16, device 15:11,
 * function 10:8, register 7:2) on 32-bit accesses only; 0xcfc-0xcff access
 * the addressed dword. With the enable bit clear, or for a function that is
 * not there, reads return all ones and writes are dropped. BARs take the
 * sizing protocol: the address bits below the size are read-only zero, so
 * writing all ones and reading back yields ~(size - 1) plus the type bits.
 * A BAR decodes when its address is set and the command register enables
 * its space (I/O or memory).
 */
#include <errno.h>
#include <string.h>

#include "dev_pci.h"

#define PCI_CONFIG_ENABLE 0x80000000u

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
		     uint8_t revision, uint32_t class_code)
{
	memset(d, 0, sizeof(*d));
	d->name = name;
	put16(d->cfg + PCI_VENDOR_ID, vendor);
	put16(d->cfg + PCI_DEVICE_ID, device);
	d->cfg[PCI_REVISION_ID] = revision;
	d->cfg[PCI_CLASS_PROG] = (uint8_t)class_code;
	put16(d->cfg + PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	/* QEMU's subsystem IDs for its devices (Red Hat/Qumranet 1af4:1100) */
	put16(d->cfg + PCI_SUBSYSTEM_VENDOR_ID, 0x1af4);
	put16(d->cfg + PCI_SUBSYSTEM_ID, 0x1100);
	/* command: I/O, memory, bus master, parity, SERR#, INTx disable */
	put16(d->wmask + PCI_COMMAND, 0x0547);
	d->wmask[0x0c] = 0xff; /* cache line size */
	d->wmask[0x0d] = 0xff; /* latency timer */
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	for (unsigned k = 0; k < PCI_NBARS; k++)
		d->bar_region[k] = -1;
}

void pci_device_add_bar(struct pci_device *d, unsigned bar, bool io, uint32_t size, void *dev,
			iobus_access_fn *access)
{
	uint32_t mask = ~(size - 1);

	d->bar_size[bar] = size;
	d->bar_io[bar] = io;
	d->bar_dev[bar] = dev;
	d->bar_access[bar] = access;
	/* type bits are read-only: memory BARs are 32-bit non-prefetchable */
	put32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * bar, io ? PCI_BAR_IO : 0);
	put32(d->wmask + PCI_BASE_ADDRESS_0 + 4 * bar, io ? mask & ~3u : mask & ~15u);
}

static uint64_t bar_addr(const struct pci_device *d, unsigned bar)
{
	uint32_t v = get32(d->cfg + PCI_BASE_ADDRESS_0 + 4 * bar);
	return d->bar_io[bar] ? v & ~3u : v & ~15u;
}

/* Re-map every BAR after a BAR or command register change. */
static void pci_update_mappings(struct pci_bus *bus, struct pci_device *d)
{
	uint16_t cmd = get16(d->cfg + PCI_COMMAND);

	for (unsigned k = 0; k < PCI_NBARS; k++) {
		uint64_t a, size = d->bar_size[k];
		bool on;

		if (!size || d->bar_region[k] < 0)
			continue;
		a = bar_addr(d, k);
		if (d->bar_io[k]) {
			/* x86 has 64 KiB of port space; a BAR above it does not decode */
			on = (cmd & PCI_COMMAND_IO) && a && a + size <= 0x10000;
			iobus_move(bus->pio, d->bar_region[k], a, on);
		} else {
			on = (cmd & PCI_COMMAND_MEMORY) && a && a + size <= 0x100000000ull;
			iobus_move(bus->mmio, d->bar_region[k], a, on);
		}
		if (d->bar_moved)
			d->bar_moved(d, k, a, on);
	}
}

void pci_bus_restored(struct pci_bus *bus)
{
	for (unsigned k = 0; k < PCI_NSLOTS; k++)
		if (bus->slot[k])
			pci_update_mappings(bus, bus->slot[k]);
}

void pci_bus_init(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio)
{
	memset(bus, 0, sizeof(*bus));
	bus->pio = pio;
	bus->mmio = mmio;
	/* Intel 82441FX (i440FX) PCI and memory controller, host bridge class 0600 */
	pci_device_init(&bus->host_bridge, "i440FX", 0x8086, 0x1237, 0x02, 0x060000);
	bus->slot[0] = &bus->host_bridge;
}

int pci_bus_plug(struct pci_bus *bus, unsigned slot, struct pci_device *d)
{
	if (slot >= PCI_NSLOTS)
		return -EINVAL;
	if (bus->slot[slot])
		return -EEXIST;
	for (unsigned k = 0; k < PCI_NBARS; k++) {
		int h;

		if (!d->bar_size[k])
			continue;
		h = iobus_add(d->bar_io[k] ? bus->pio : bus->mmio, 0, d->bar_size[k], d->name,
			      d->bar_dev[k], d->bar_access[k], false);
		if (h < 0)
			return h;
		d->bar_region[k] = h;
	}
	bus->slot[slot] = d;
	return 0;
}

void pci_assign_bar(struct pci_bus *bus, struct pci_device *d, unsigned bar, uint32_t addr)
{
	uint8_t *p = d->cfg + PCI_BASE_ADDRESS_0 + 4 * bar;
	uint32_t wm = get32(d->wmask + PCI_BASE_ADDRESS_0 + 4 * bar);

	put32(p, (get32(p) & ~wm) | (addr & wm));
	pci_update_mappings(bus, d);
}

void pci_enable(struct pci_bus *bus, struct pci_device *d, uint16_t command)
{
	put16(d->cfg + PCI_COMMAND, get16(d->cfg + PCI_COMMAND) | command);
	pci_update_mappings(bus, d);
}

static struct pci_device *pci_addressed(struct pci_bus *bus, unsigned *reg)
{
	uint32_t a = bus->config_addr;
	unsigned busno = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f, fn = (a >> 8) & 7;

	if (!(a & PCI_CONFIG_ENABLE) || busno != 0 || fn != 0)
		return NULL;
	*reg = a & 0xfc;
	return bus->slot[dev];
}

void pci_config_addr_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct pci_bus *bus = dev;

	/* only dword accesses reach the address latch (others go to the ISA bus) */
	if (off != 0 || len != 4)
		return;
	if (write)
		bus->config_addr = (uint32_t)*val;
	else
		*val = bus->config_addr;
}

void pci_config_data_access(void *dev, uint64_t off, uint64_t *val, unsigned len, bool write)
{
	struct pci_bus *bus = dev;
	struct pci_device *d;
	unsigned reg = 0;
	bool remap = false;

	d = pci_addressed(bus, &reg);
	if (!d)
		return; /* reads stay all ones (master abort) */
	reg += (unsigned)off;
	for (unsigned k = 0; k < len && reg + k < 256; k++) {
		unsigned r = reg + k;

		if (write) {
			uint8_t v = (uint8_t)(*val >> (8 * k)), wm = d->wmask[r];
			d->cfg[r] = (uint8_t)((d->cfg[r] & ~wm) | (v & wm));
			if ((r >= PCI_COMMAND && r < PCI_COMMAND + 2) ||
			    (r >= PCI_BASE_ADDRESS_0 && r < PCI_BASE_ADDRESS_0 + 4 * PCI_NBARS))
				remap = true;
		} else {
			*val &= ~(0xffull << (8 * k));
			*val |= (uint64_t)d->cfg[r] << (8 * k);
		}
	}
	if (remap)
		pci_update_mappings(bus, d);
	if (write && d->config_written && reg < 256)
		d->config_written(d, reg, reg + len <= 256 ? len : 256 - reg);
}
